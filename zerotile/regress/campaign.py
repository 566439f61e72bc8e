"""One run of a regression campaign: a random but reproducible configuration (mode, shape,
density, values, AXI pauses, DRAM latency, engine), simulated and compared with golden.

Run ``index`` of the campaign seeded ``seed`` is always the same run: its configuration is
drawn from ``numpy.random.default_rng([seed, index])``, so ``zerotile regress --seed S --run
K`` reproduces it anywhere.
"""
import shutil
import time
from dataclasses import dataclass, asdict

import numpy as np

__all__ = ["MODES", "RunSpec", "draw", "run_one", "reproduce_command"]

# every mode a campaign draws; "chain" is several jobs of the other SpMM modes back to back
MODES = ("dense", "csr", "accumulate", "epilogue", "spgemm", "chain")
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
    chain: int              # jobs in the run (1 unless mode == "chain")


def draw(seed, index):
    """The configuration of run ``index`` of the campaign seeded ``seed``."""
    rng = np.random.default_rng([seed, index])
    mode = MODES[int(rng.integers(len(MODES)))]
    m, k = (int(x) for x in rng.integers(1, 97, 2))
    n = int(rng.integers(1, 65 if mode != "spgemm" else 97))
    density = float(rng.choice([0.0, 0.02, 0.1, 0.3, 0.6, 1.0]))
    pauses = float(rng.choice([0.0, 0.1, 0.25, 0.5]))
    engine, sim, latency = "native", "verilator", int(rng.choice([1, 2, 20, 60, 200]))
    if index % VIP_EVERY == VIP_EVERY - 1:
        engine, latency = "vip", None
        if (index // VIP_EVERY) % 2 and shutil.which("iverilog"):
            sim = "icarus"
    chain = int(rng.integers(2, 5)) if mode == "chain" else 1
    return RunSpec(seed, index, mode, m, k, n, density, pauses, latency, engine, sim, chain)


def reproduce_command(seed, index):
    return f"zerotile regress --seed {seed} --run {index}"


def _jobs(spec, rng):
    """[(plan, a, b, c_ref, mode)] of the run, all on one tile configuration."""
    from zerotile import firmware, golden
    from zerotile.rtl.config import TileConfig
    from zerotile.workload import random_csr, random_requant, golden_result
    cfg = TileConfig().with_spgemm() if spec.mode == "spgemm" else TileConfig()
    modes = ([str(rng.choice(["dense", "csr", "accumulate", "epilogue"]))
              for _ in range(spec.chain)] if spec.mode == "chain" else [spec.mode])
    jobs = []
    for j, mode in enumerate(modes):
        m, k, n = (spec.m, spec.k, spec.n) if j == 0 else \
            (int(x) for x in rng.integers(1, 65, 3))
        job_seed = int(rng.integers(2**31))
        a = random_csr(m, k, spec.density, job_seed)
        if mode == "spgemm":
            b = random_csr(k, n, float(rng.choice([0.02, 0.1, 0.3])), job_seed + 1)
            jobs.append((firmware.plan_spgemm(a, b, config=cfg), a, b, golden.spgemm(a, b),
                         mode))
            continue
        b = np.random.default_rng(job_seed + 1).integers(-128, 128, (k, n)).astype(np.int8)
        c = (np.random.default_rng(job_seed + 2).integers(-2**31, 2**31, (m, n),
                                                          dtype=np.int64)
             if mode == "accumulate" else None)
        epilogue = random_requant(m, job_seed, relu=bool(j % 2)) if mode == "epilogue" else None
        plan = firmware.plan(a, b, c=c, config=cfg, mode="dense" if mode == "dense" else "csr",
                             epilogue=epilogue)
        jobs.append((plan, a, b, golden_result(a, b, c, epilogue), mode))
    return jobs


def run_one(spec):
    """Simulate ``spec`` and compare every job with golden: the run's table row."""
    from zerotile.verif import simulate
    from zerotile.verif.native import DramTiming
    from zerotile.workload import report, spgemm_report
    t0 = time.monotonic()
    rng = np.random.default_rng([spec.seed, spec.index, 1])
    jobs = _jobs(spec, rng)
    dram = DramTiming(read_latency=spec.dram_latency) if spec.engine == "native" else None
    results = simulate([j[0] for j in jobs], engine=spec.engine, sim=spec.sim, dram=dram,
                       pause_probability=spec.pauses, seed=spec.seed * 1_000_003 + spec.index,
                       label=f"regress {spec.index}")
    mismatches, errors, cycles, first = 0, [], 0, ""
    for (plan, a, b, c_ref, mode), res in zip(jobs, results):
        rep, details = (spgemm_report if mode == "spgemm" else report)(plan, res, a, b,
                                                                      c_ref=c_ref)
        if rep.get("error"):
            errors.append(rep["error"])
        mismatches += rep.get("mismatches") or 0
        cycles += rep.get("cycles") or 0
        if details and not first:
            row, col, exp, got = details[0]
            first = f"{mode}: row {row} col {col}: expected {exp}, got {got}"
        if not rep["correct"] and not rep.get("error") and not details and not first:
            first = f"{mode}: counters differ from golden's"
    if len(results) < len(jobs):
        errors.append(f"{len(jobs) - len(results)} jobs did not run")
    passed = not errors and not first
    return {**asdict(spec), "nnz": int(jobs[0][1].nnz), "jobs": len(jobs), "passed": passed,
            "mismatches": mismatches, "cycles": cycles, "error": "; ".join(errors),
            "first_mismatch": first, "run_seconds": round(time.monotonic() - t0, 3),
            "command": reproduce_command(spec.seed, spec.index)}
