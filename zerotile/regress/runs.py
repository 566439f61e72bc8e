"""What every run of every campaign is made of: its specification (``RunSpec``), the engine
it lands on, its products drawn from a seed, the check against golden, and its table row."""
import shutil
import time
from dataclasses import dataclass, asdict

import numpy as np

__all__ = ["RunSpec", "engine_of", "reproduce_command", "product", "check_jobs",
           "sim_options", "row_of", "VIP_EVERY"]

# one run in VIP_EVERY goes to the vip engine (cocotb + cocotbext-axi), on Icarus every other
# time when it is installed: both engines and both simulators are covered by every campaign
VIP_EVERY = 25


@dataclass(frozen=True)
class RunSpec:
    """What one run is: enough to draw its operands again and to name it in a table."""
    seed: int
    index: int
    mode: str
    m: int
    k: int
    n: int
    density: float
    pauses: float           # probability of a ready/valid pause on every AXI channel
    dram_latency: int       # native engine: cycles to the first read beat (None on vip)
    engine: str
    sim: str
    chain: int              # jobs (random), chains (soak) in the run
    campaign: str = "random"
    fault: str = ""         # fault campaign: bus_error, soft_reset, malformed or window
    config: str = ""        # configs campaign: a name of regress.configs.CONFIGS ("": default)
    vip_every: int = 0      # one run in this many on the vip engine (0: the campaign's own)


def engine_of(index, rng, vip_every=0, default=VIP_EVERY):
    """(engine, simulator, DRAM latency) of run ``index``: the native engine with a random
    latency, or every ``vip_every``-th run (0: every ``default``-th, the campaign's share) the
    vip engine (on Icarus every other time)."""
    vip_every = vip_every or default
    engine, sim, latency = "native", "verilator", int(rng.choice([1, 2, 20, 60, 200]))
    if index % vip_every == vip_every - 1:
        engine, latency = "vip", None
        if (index // vip_every) % 2 and shutil.which("iverilog"):
            sim = "icarus"
    return engine, sim, latency


def reproduce_command(seed, index, campaign="random", vip_every=0):
    kind = "" if campaign == "random" else f"--campaign {campaign} "
    vip = f"--vip-every {vip_every} " if vip_every else ""
    return f"zerotile regress {kind}{vip}--seed {seed} --run {index}"


def product(mode, m, k, n, density, rng, cfg, *, relu=False):
    """(plan, a, b, c_ref, mode): one seeded random product of ``mode`` on ``cfg``."""
    from zerotile import firmware, golden
    from zerotile.workload import random_csr, random_requant, golden_result
    job_seed = int(rng.integers(2**31))
    a = random_csr(m, k, density, job_seed)
    if mode == "spgemm":
        b = random_csr(k, n, float(rng.choice([0.02, 0.1, 0.3])), job_seed + 1)
        return firmware.plan_spgemm(a, b, config=cfg), a, b, golden.spgemm(a, b), mode
    b = np.random.default_rng(job_seed + 1).integers(-128, 128, (k, n)).astype(np.int8)
    c = (np.random.default_rng(job_seed + 2).integers(-2**31, 2**31, (m, n), dtype=np.int64)
         if mode == "accumulate" else None)
    epilogue = random_requant(m, job_seed, relu=relu) if mode == "epilogue" else None
    plan = firmware.plan(a, b, c=c, config=cfg, mode="dense" if mode == "dense" else "csr",
                         epilogue=epilogue)
    return plan, a, b, golden_result(a, b, c, epilogue), mode


def check_jobs(jobs, results, labels=None):
    """Compare each result with golden: (mismatches, errors, cycles, first difference)."""
    from zerotile.workload import report, spgemm_report
    mismatches, errors, cycles, first = 0, [], 0, ""
    for i, ((plan, a, b, c_ref, mode), res) in enumerate(zip(jobs, results)):
        name = labels[i] if labels else mode
        rep, details = (spgemm_report if mode == "spgemm" else report)(plan, res, a, b,
                                                                      c_ref=c_ref)
        if rep.get("error"):
            errors.append(f"{name}: {rep['error']}")
        mismatches += rep.get("mismatches") or 0
        cycles += rep.get("cycles") or 0
        if details and not first:
            row, col, exp, got = details[0]
            first = f"{name}: row {row} col {col}: expected {exp}, got {got}"
        if not rep["correct"] and not rep.get("error") and not details and not first:
            first = f"{name}: counters differ from golden's"
    if len(results) < len(jobs):
        errors.append(f"{len(jobs) - len(results)} of {len(jobs)} plans did not run (hang?)")
    return mismatches, errors, cycles, first


def sim_options(spec):
    """The ``simulate`` keywords of a run: engine, DRAM latency, pauses, seed, label."""
    from zerotile.verif.native import DramTiming
    dram = DramTiming(read_latency=spec.dram_latency) if spec.engine == "native" else None
    return dict(engine=spec.engine, sim=spec.sim, dram=dram, pause_probability=spec.pauses,
                seed=spec.seed * 1_000_003 + spec.index,
                label=f"regress {spec.campaign} {spec.index}")


def row_of(spec, t0, **fields):
    """The table row of a run."""
    return {**asdict(spec), **fields, "run_seconds": round(time.monotonic() - t0, 3),
            "command": reproduce_command(spec.seed, spec.index, spec.campaign, spec.vip_every)}
