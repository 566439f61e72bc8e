import os
import shutil

# NumPy's OpenBLAS spins a thread per core; nothing here uses BLAS, and the simulations need
# the cores (set before NumPy is imported).
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np
import pytest

# One build cache per checkout keeps CI and local runs from sharing stale builds.
os.environ.setdefault("ZEROTILE_BUILD_DIR",
                      os.path.join(os.path.dirname(os.path.dirname(__file__)), ".sim_build"))

HAVE_ICARUS = shutil.which("iverilog") is not None
_NO_ICARUS = pytest.mark.skipif(not HAVE_ICARUS,
                                reason="iverilog not installed (apt-get install iverilog)")
SIMULATORS = ["verilator", pytest.param("icarus", marks=_NO_ICARUS)]
# (engine, simulator) pairs: the native engine, and the cocotb VIP engine on both simulators.
TARGETS = [pytest.param(("native", "verilator"), id="native"),
           pytest.param(("vip", "verilator"), id="vip-verilator"),
           pytest.param(("vip", "icarus"), id="vip-icarus", marks=_NO_ICARUS)]
ENGINES = [pytest.param(("native", "verilator"), id="native"),
           pytest.param(("vip", "verilator"), id="vip-verilator")]


def describe_mismatch(label, got, expected, limit=5):
    """A failure message naming what differed: row, column, expected, got."""
    if got is None:
        return f"{label}: no result"
    if got.shape != expected.shape:
        return f"{label}: C has shape {got.shape}, expected {expected.shape}"
    diff = np.argwhere(got != expected)
    lines = [f"{label}: {len(diff)} mismatching elements"]
    for i, j in diff[:limit]:
        lines.append(f"  row {i} col {j}: expected {expected[i, j]}, got {got[i, j]}")
    return "\n".join(lines)


# The longest modules first, so pytest-xdist (one module per worker) does not end on them.
_LONGEST_FIRST = ("test_regress.py", "test_cli.py", "test_accelerator.py", "test_first_hour.py",
                  "test_readme.py", "test_reliability.py", "test_spgemm.py")


def pytest_collection_modifyitems(config, items):
    rank = {name: i for i, name in enumerate(_LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))
