"""Top-level tests: the Accelerator's Verilog driven by the firmware driver and checked against
golden, on every engine: native (Verilator with the C++ DRAM model and host) and vip (cocotb
with cocotbext-axi's AxiRam as DRAM and AxiLiteMaster as host) on Verilator and Icarus.

Each target runs every case of a suite in one simulation (back to back, no reset between
jobs); the test functions then check one case each, so a failure names its case and seed.
"""

import numpy as np
import pytest
import scipy.sparse as sp

from zerotile import firmware
from zerotile.verif import simulate
from zerotile.workload import load_mtx, DATA_DIR

from conftest import TARGETS, ENGINES
from jobs import CFG, random_csr, random_b, random_c, check_result

SEEDS = [11, 12]


def suite_cases():
    cases = {}

    def add(name, a, b, modes=("csr", "dense")):
        for mode in modes:
            cases[f"{name}-{mode}"] = (a, b, mode)

    add("1x1", sp.csr_array(np.array([[5]], np.int8)), np.array([[-3]], np.int8))
    e = random_csr(9, 10, 0.5, 1).toarray()
    e[[0, 3, 8], :] = 0
    add("empty_rows", sp.csr_array(e), random_b(10, 5, 1))
    add("all_zero", sp.csr_array((6, 7), dtype=np.int8), random_b(7, 9, 2))
    single = np.zeros((11, 13), np.int8)
    single[7, 4] = -128
    add("single_nnz", sp.csr_array(single), random_b(13, 3, 3))
    add("odd_shapes", random_csr(13, 7, 0.4, 4), random_b(7, 11, 4))
    for density in (0.0, 0.01, 0.1, 0.5, 1.0):
        for seed in SEEDS:
            add(f"density{density}-seed{seed}", random_csr(24, 40, density, seed),
                random_b(40, 20, seed))
    add("wide_n", random_csr(10, 12, 0.3, 5), random_b(12, 2 * CFG.max_n + 22, 5))
    add("deep_k", random_csr(6, 3000, 0.01, 6), random_b(3000, 20, 6), modes=("csr",))
    add("int32_wrap", sp.csr_array(np.full((2, 3000), -128, np.int8)),
        np.full((3000, 9), -128, np.int8), modes=("csr",))
    karate, _ = load_mtx(DATA_DIR / "karate.mtx", seed=1)
    add("karate", karate, random_b(34, 16, 7))
    z = karate.copy()
    z.data[::3] = 0                               # explicit zeros the hardware must skip
    add("explicit_zeros", z, random_b(34, 16, 8), modes=("csr",))
    west, _ = load_mtx(DATA_DIR / "west0479.mtx", seed=1)
    add("west0479", west, random_b(479, 16, 9), modes=("csr",))
    return cases


CASES = suite_cases()
_RESULTS = {}


def suite_results(target):
    if target not in _RESULTS:
        engine, sim = target
        names = list(CASES)
        plans = [firmware.plan(a, b, mode=mode) for a, b, mode in CASES.values()]
        results = simulate(plans, engine=engine, sim=sim, seed=1,
                           label=f"suite on {engine}/{sim}")
        assert len(results) == len(plans), "simulation stopped early (hang?)"
        _RESULTS[target] = dict(zip(names, results))
    return _RESULTS[target]


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("name", list(CASES))
def test_suite_case(target, name):
    a, b, _ = CASES[name]
    check_result(f"{name} on {'/'.join(target)}", suite_results(target)[name], a, b)


@pytest.mark.parametrize("engine", ["native", "vip"])
@pytest.mark.parametrize("seed", [31, 32, 33])
def test_random_backpressure_on_every_axi_channel(seed, engine):
    print(f"seed {seed}, engine {engine}")
    names = ["odd_shapes-csr", "odd_shapes-dense", "karate-csr", "wide_n-dense",
             "density0.1-seed11-csr", "empty_rows-csr"]
    plans = [firmware.plan(CASES[n][0], CASES[n][1], mode=CASES[n][2]) for n in names]
    results = simulate(plans, engine=engine, seed=seed, pause_probability=0.3,
                       label=f"backpressure seed {seed}")
    for name, res in zip(names, results):
        check_result(f"{name} (pauses, seed {seed})", res, CASES[name][0], CASES[name][1])


# Tiles other than the default (P = 1 .. 8, L = 2 .. 16, buses of 32 .. 256 bits, the bus wider
# than a B word and than a C chunk, on both engines) are exercised by `zerotile regress
# --campaign configs` (zerotile.regress.configs; its last result is in docs/verification.md):
# each configuration compiles models of its own, minutes the default suite cannot spend.


def test_row_blocks_beyond_one_job(monkeypatch):
    """A with more rows than one job takes (70,000 > 65,535) in both modes, and a CSR A split
    on stored entries (the per-job limit lowered to 150 to keep the run short): chained row
    blocks on the RTL, C exact."""
    import zerotile.firmware.planner
    tall = random_csr(70_000, 12, 0.05, 901)
    b = random_b(12, 8, 901)
    plans = [firmware.plan(tall, b, mode="csr"), firmware.plan(tall, b, mode="dense")]
    assert [j.fields["M"] for j in plans[0].jobs] == [65_535, 4_465]
    monkeypatch.setattr(zerotile.firmware.planner, "MAX_NNZ", 150)
    small = random_csr(60, 40, 0.2, 902)
    b2 = random_b(40, 20, 902)
    plans.append(firmware.plan(small, b2, mode="csr"))
    assert len(plans[-1].jobs) >= 3
    results = simulate(plans, engine="native", label="row blocks")
    check_result("70,000-row CSR", results[0], tall, b)
    check_result("70,000-row dense", results[1], tall, b)
    check_result("CSR split on entries", results[2], small, b2)


def accumulate_cases():
    """(name, A, B, old C or None, mode): C += A.B, and B deeper than the scratchpad (K slabs,
    the jobs after the first accumulating)."""
    out = []
    a, b = random_csr(21, 30, 0.3, 950), random_b(30, 2 * CFG.max_n + 5, 950)
    for mode in ("csr", "dense"):
        out.append((f"accumulate {mode} (3 column tiles, int32 wrap)", a, b,
                    random_c(21, b.shape[1], 950), mode))
    deep = CFG.max_k + 300
    wide = CFG.pes * CFG.lanes + 4      # one chunk per bank at this depth: two column tiles
    a, b = random_csr(9, deep, 0.02, 951), random_b(deep, wide, 951)
    a = a.tolil()
    a[4, :] = 1                         # a row using more columns than a bank holds: K slabs
    a = sp.csr_array(a)
    for mode in ("csr", "dense"):
        out.append((f"K = {deep} in slabs, {mode}", a, b, None, mode))
    out.append((f"K = {deep}, accumulating into C, csr", a, b, random_c(9, wide, 951), "csr"))
    return out


ACCUMULATE = accumulate_cases()


@pytest.mark.parametrize("target", TARGETS)
def test_accumulate_and_deep_k(target):
    """All cases on the native engine; the vip engine (some thousand times slower) runs the
    accumulating jobs with wrap-around, and the K-slab jobs (the same RTL, 180 KB of B per
    slab) are left to the native engine and to the campaigns' vip slice."""
    engine, sim = target
    plans = [firmware.plan(a, b, c=c, mode=mode) for _, a, b, c, mode in ACCUMULATE]
    assert all(j.fields["FLAGS"] == 3 for j in plans[0].jobs)   # accumulate, uint16 columns
    assert [j.fields["FLAGS"] for j in plans[3].jobs] == [0, 0, 1, 1]   # 2 slabs x 2 tiles
    csr_deep = [j.fields["FLAGS"] & 1 for j in plans[2].jobs]
    assert csr_deep[0] == 0 and 1 in csr_deep, f"the dense row takes K slabs: {csr_deep}"
    cases = ACCUMULATE if engine == "native" else ACCUMULATE[:2]
    results = simulate(plans[:len(cases)], engine=engine, sim=sim, seed=5,
                       label=f"accumulate on {sim}",
                       pause_probability=0.2 if sim == "verilator" else 0.0)
    for (name, a, b, c, _), res in zip(cases, results):
        check_result(f"{name} on {engine}/{sim}", res, a, b, c=c)


def shuffled_grid(side, seed):
    """The 5-point pattern of a side x side grid, numbered at random (a mesh matrix as it
    often arrives: no locality in its row order), with seeded nonzero int8 values."""
    rng = np.random.default_rng(seed)
    path = sp.diags_array([np.ones(side - 1), np.ones(side - 1)], offsets=[-1, 1])
    grid = sp.kron(sp.eye_array(side), path) + sp.kron(path, sp.eye_array(side)) + \
        sp.eye_array(side * side)
    shuffle = rng.permutation(side * side)
    a = sp.csr_array(grid.tocsr()[shuffle][:, shuffle]).astype(np.int8)
    a.data[:] = rng.choice(np.r_[-128:0, 1:128], a.nnz)
    return a


# The reordering is the planner's (engine-neutral; tests/test_firmware_fuzz.py fuzzes it):
# the native engine runs the chain, the vip engine's pauses are covered by the other tests.
@pytest.mark.parametrize("target", ENGINES[:1])
def test_deep_sparse_a_in_column_windows(target):
    """K = 5,184 > one bank, no locality in the given order: the planner reorders rows so
    that each job's columns fit; C comes back in the original order, exact; B is read about
    once."""
    engine, sim = target
    a = shuffled_grid(72, 952)
    b = random_b(a.shape[1], 12, 952)
    print("seed 952")
    p = firmware.plan(a, b, mode="csr")
    assert p.row_order is not None and len(p.jobs) > 1
    res = simulate([p], engine=engine, sim=sim, seed=6, label=f"windows on {sim}",
                   pause_probability=0.2 if engine == "vip" else 0.0)[0]
    check_result(f"shuffled grid on {engine}/{sim}", res, a, b)
    b_rows = sum(j.fields["K"] for j in p.jobs)
    assert b_rows <= 1.2 * a.shape[1], f"{b_rows} B rows read for K = {a.shape[1]}"
