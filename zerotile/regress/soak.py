"""The soak campaign: long runs on one tile without a reset.

A soak run is one simulation of, back to back and without a reset between them:

1. one product planned as a chain of at least ``LONG_CHAIN`` jobs behind a single doorbell
   (a random dense or CSR A against a B that is ``LONG_CHAIN`` accumulator widths wide, so
   every job is one column tile), then
2. ``CHAINS`` chains of random products (every SpMM mode: dense, CSR, accumulate, int8
   epilogue; shapes up to twice the accumulator width, so some are chains of several jobs).

with random pauses on all ten AXI channels and a random DRAM latency. Every product is
compared exactly with golden. Runs on the vip engine (every fourth) are a slice: a tenth of
the jobs, since cocotb runs some thousand times slower than the native engine.
"""
import time

import numpy as np

from .runs import RunSpec, product, check_jobs, sim_options, row_of

__all__ = ["draw_soak", "run_soak", "LONG_CHAIN", "CHAINS"]

LONG_CHAIN = 1000
CHAINS = 1000
VIP_SLICE = 10


def draw_soak(seed, index):
    rng = np.random.default_rng([seed, index, 11])
    engine, sim, latency = "native", "verilator", int(rng.choice([1, 2, 20, 60]))
    if index % 4 == 3:
        engine, sim, latency = "vip", ("icarus" if index % 8 == 7 else "verilator"), None
    scale = VIP_SLICE if engine == "vip" else 1
    return RunSpec(seed, index, str(rng.choice(["dense", "csr"])), int(rng.integers(1, 9)),
                   int(rng.integers(1, 33)), (LONG_CHAIN // scale) * 64, 0.3,
                   float(rng.choice([0.0, 0.1, 0.25])), latency, engine, sim, CHAINS // scale,
                   campaign="soak")


def run_soak(spec):
    from zerotile.rtl.config import TileConfig
    from zerotile.verif import simulate
    t0 = time.monotonic()
    rng = np.random.default_rng([spec.seed, spec.index, 12])
    cfg = TileConfig()
    n_long = -(-spec.n // cfg.max_n) * cfg.max_n        # whole column tiles
    products = [product(spec.mode, spec.m, spec.k, n_long, spec.density, rng, cfg)]
    for c in range(spec.chain):
        mode = str(rng.choice(["dense", "csr", "accumulate", "epilogue"]))
        m, k = (int(x) for x in rng.integers(1, 65, 2))
        n = int(rng.integers(1, 2 * cfg.max_n + 9))
        products.append(product(mode, m, k, n, float(rng.choice([0.0, 0.05, 0.3, 1.0])), rng,
                                cfg, relu=bool(c % 2)))
    long_jobs = len(products[0][0].jobs)
    labels = [f"the long chain ({long_jobs} jobs)"] + [f"chain {c} ({p[4]} {p[0].shape})"
                                                      for c, p in enumerate(products[1:])]
    results = simulate([p[0] for p in products], **sim_options(spec))
    mismatches, errors, cycles, first = check_jobs(products, results, labels)
    jobs = sum(len(p[0].jobs) for p in products)
    return row_of(spec, t0, nnz=int(products[0][1].nnz), jobs=jobs,
                  passed=not errors and not first, mismatches=mismatches, cycles=cycles,
                  error="; ".join(errors[:3]), first_mismatch=first,
                  outcome=f"{long_jobs}-job chain + {spec.chain} chains: {jobs} jobs, "
                          f"{sum(r.sim_cycles for r in results):,} cycles")
