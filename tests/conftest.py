import os
import shutil

import numpy as np
import pytest

# One build cache per checkout keeps CI and local runs from sharing stale builds.
os.environ.setdefault("ZEROTILE_BUILD_DIR",
                      os.path.join(os.path.dirname(os.path.dirname(__file__)), ".sim_build"))

HAVE_ICARUS = shutil.which("iverilog") is not None
SIMULATORS = ["verilator",
              pytest.param("icarus", marks=pytest.mark.skipif(
                  not HAVE_ICARUS, reason="iverilog not installed (apt-get install iverilog)"))]


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
