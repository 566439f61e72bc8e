"""``simulate``: run firmware plans on the RTL, on either engine (``native``, ``vip``), and
hand back what the hardware did. Imports run one way: toolchain and errors <- the engines <-
this module."""
import time
from pathlib import Path

from .errors import SimulationError, BusViolationError
from .native import run_native
from .plan_run import default_timeout
from .result import SimResult
from .toolchain import SIMULATORS, available_simulators, require_fst_support
from .vip import run_vip

__all__ = ["simulate", "default_engine", "ENGINES"]

ENGINES = ("native", "vip")


def default_engine(sim):
    """The engine a simulator runs on unless one is named: native on Verilator, vip on Icarus."""
    return "vip" if sim == "icarus" else "native"


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
        latency = dram.read_latency if dram is not None else 2
        timeouts = [default_timeout(p, read_latency=latency) for p in plans]
    waves_path = None
    if waves:
        if sim == "verilator":
            require_fst_support()
        waves_dir = Path(waves_dir or "zerotile_waves").resolve()
        waves_dir.mkdir(parents=True, exist_ok=True)
        waves_path = waves_dir / f"{waves_name}-{time.strftime('%Y%m%d-%H%M%S')}.fst"
    if engine == "native":
        raw = run_native(plans, timeouts=timeouts, timing=dram,
                         pause_probability=pause_probability, seed=seed, label=label,
                         faults=faults, soft_reset_after=soft_reset_after,
                         waves_path=waves_path, waves_window=waves_window or (0, 2**64 - 1),
                         exact=native_exact)
    else:
        raw = run_vip(plans, sim=sim, waves_path=waves_path,
                            pause_probability=pause_probability, seed=seed, label=label,
                            timeouts=timeouts, faults=faults, soft_reset_after=soft_reset_after)
    files = [str(waves_path)] if waves_path is not None and waves_path.exists() else []
    out = [SimResult(plan=p, engine=engine, waves=files, **r) for p, r in zip(plans, raw)]
    bad = [(i, v) for i, r in enumerate(out) for v in r.violations]
    if bad:
        raise BusViolationError(f"bus monitor: {len(bad)} forbidden transactions, first: plan "
                                f"{bad[0][0]} ({label}): {bad[0][1]}", out)
    return out
