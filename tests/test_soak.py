"""Soak: hundreds of random jobs back to back on one accelerator, without reset in between.

Excluded from the default run (marker ``soak``). Run it with::

    pytest -m soak                       # 300 jobs, seed 2026, on both engines
    ZEROTILE_SOAK_JOBS=1000 ZEROTILE_SOAK_SEED=7 pytest -m soak -s

Shapes, densities, modes and B widths (including B wider than one job, so descriptor chains)
are drawn from the seed; a quarter of the simulations' AXI cycles are paused at random.
Every job's C is compared exactly with golden, with the counter checks of every other test.
"""
import os

import numpy as np
import pytest

from zerotile import firmware
from zerotile.verif import simulate

from conftest import ENGINES
from jobs import CFG, random_csr, random_b, check_result

pytestmark = pytest.mark.soak


@pytest.mark.parametrize("target", ENGINES)
def test_soak_random_jobs_back_to_back(target):
    n_jobs = int(os.environ.get("ZEROTILE_SOAK_JOBS", "300"))
    seed = int(os.environ.get("ZEROTILE_SOAK_SEED", "2026"))
    print(f"soak: {n_jobs} jobs, seed {seed}, {target[0]} engine")
    rng = np.random.default_rng(seed)
    jobs = []
    for j in range(n_jobs):
        m, k = (int(x) for x in rng.integers(1, 64, 2))
        n = int(rng.choice([int(rng.integers(1, 33)), int(rng.integers(33, 2 * CFG.max_n + 9))]))
        density = float(rng.choice([0.0, 0.02, 0.1, 0.3, 0.7, 1.0]))
        mode = str(rng.choice(["csr", "dense", "auto"]))
        a = random_csr(m, k, density, seed * 100_003 + j)
        b = random_b(k, n, seed * 100_003 + j)
        jobs.append((f"job {j}: {mode} {m}x{k}x{n} density {density}", a, b, mode))
    plans = [firmware.plan(a, b, mode=mode) for _, a, b, mode in jobs]
    results = simulate(plans, engine=target[0], seed=seed, pause_probability=0.25,
                       label=f"soak seed {seed}")
    assert len(results) == len(plans), f"stopped after {len(results)} of {len(plans)} jobs"
    for (name, a, b, _), res in zip(jobs, results):
        check_result(f"{name} (soak seed {seed})", res, a, b)
    cycles = sum(r.sim_cycles for r in results)
    print(f"soak: {len(results)} jobs correct, {cycles:,} cycles simulated")
