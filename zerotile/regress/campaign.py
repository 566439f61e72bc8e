"""Runs of the regression campaigns: each a random but reproducible configuration, simulated
and checked against golden.

* ``random``: one product or a chain of several, of every mode (dense, CSR, accumulate, int8
  epilogue, SpGEMM, mixed chains), random shapes, densities and values, random pauses on all
  ten AXI channels and a random DRAM latency;
* ``fault``: a job with one fault (a bus error on a random beat, a soft reset at a random
  cycle, a malformed descriptor or CSR array, a window that cuts an operand), then a clean job
  on the same tile (``zerotile.regress.faults``);
* ``soak``: a chain of at least 1,000 jobs behind one doorbell, then 1,000 chains back to back,
  without a reset between them (``zerotile.regress.soak``).

Run ``index`` of campaign ``kind`` seeded ``seed`` is always the same run: its configuration is
drawn from ``numpy.random.default_rng([seed, index, ...])``, so ``zerotile regress --campaign
KIND --seed S --run K`` reproduces it anywhere.
"""
import importlib
import time

import numpy as np

from .runs import RunSpec, engine_of, product, check_jobs, sim_options, row_of

__all__ = ["MODES", "CAMPAIGNS", "draw", "run_one"]

# every mode a random campaign draws; "chain" is several jobs of the other SpMM modes
MODES = ("dense", "csr", "accumulate", "epilogue", "spgemm", "chain")
CAMPAIGNS = ("random", "fault", "soak", "configs")
_MODULES = {"fault": "faults", "soak": "soak", "configs": "configs"}   # their modules


def _draw_random(seed, index, vip_every=0):
    rng = np.random.default_rng([seed, index])
    mode = MODES[int(rng.integers(len(MODES)))]
    m, k = (int(x) for x in rng.integers(1, 97, 2))
    n = int(rng.integers(1, 65 if mode != "spgemm" else 97))
    density = float(rng.choice([0.0, 0.02, 0.1, 0.3, 0.6, 1.0]))
    pauses = float(rng.choice([0.0, 0.1, 0.25, 0.5]))
    engine, sim, latency = engine_of(index, rng, vip_every)
    chain = int(rng.integers(2, 5)) if mode == "chain" else 1
    return RunSpec(seed, index, mode, m, k, n, density, pauses, latency, engine, sim, chain,
                   vip_every=vip_every)


def _campaign(name):
    """(draw, run) of campaign ``name``: this module's random campaign, or the functions of
    the module named after it (``draw_<name>``, ``run_<name>``)."""
    if name == "random":
        return _draw_random, _run_random
    if name not in CAMPAIGNS:
        raise ValueError(f"no campaign named {name!r}; choose from {', '.join(CAMPAIGNS)}")
    module = importlib.import_module(f".{_MODULES[name]}", __package__)
    return getattr(module, f"draw_{name}"), getattr(module, f"run_{name}")


def draw(seed, index, campaign="random", vip_every=0):
    """The configuration of run ``index`` of campaign ``campaign`` seeded ``seed``; with
    ``vip_every``, one run in that many is on the vip engine instead of the campaign's own
    share (random, fault, configs; the soak's is fixed)."""
    if not vip_every:
        return _campaign(campaign)[0](seed, index)
    if campaign == "soak":
        raise ValueError("the soak campaign's vip share is fixed (every fourth run); "
                         "vip_every applies to the random, fault and configs campaigns")
    return _campaign(campaign)[0](seed, index, vip_every)


def _jobs(spec, rng):
    """[(plan, a, b, c_ref, mode)] of a random run, all on one tile configuration."""
    from zerotile.rtl.config import TileConfig
    cfg = TileConfig().with_spgemm() if spec.mode == "spgemm" else TileConfig()
    modes = ([str(rng.choice(["dense", "csr", "accumulate", "epilogue"]))
              for _ in range(spec.chain)] if spec.mode == "chain" else [spec.mode])
    jobs = []
    for j, mode in enumerate(modes):
        m, k, n = (spec.m, spec.k, spec.n) if j == 0 else \
            (int(x) for x in rng.integers(1, 65, 3))
        jobs.append(product(mode, m, k, n, spec.density, rng, cfg, relu=bool(j % 2)))
    return jobs


def run_one(spec):
    """Simulate ``spec`` and check it: the run's table row."""
    return _campaign(spec.campaign)[1](spec)


def _run_random(spec):
    from zerotile.verif import simulate
    t0 = time.monotonic()
    rng = np.random.default_rng([spec.seed, spec.index, 1])
    jobs = _jobs(spec, rng)
    results = simulate([j[0] for j in jobs], **sim_options(spec))
    mismatches, errors, cycles, first = check_jobs(jobs, results)
    return row_of(spec, t0, nnz=int(jobs[0][1].nnz), jobs=sum(len(j[0].jobs) for j in jobs),
                  passed=not errors and not first, mismatches=mismatches, cycles=cycles,
                  error="; ".join(errors), first_mismatch=first, outcome="exact"
                  if not errors and not first else "failed")
