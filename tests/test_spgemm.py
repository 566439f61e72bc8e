"""SpGEMM (MODE_SPGEMM): C = A.B with A and B both CSR, C written by the tile as CSR.

Every RTL result is compared with ``golden.spgemm`` entry for entry and structure (row
pointers, sorted unique column indices, no stored zeros: entries that cancel are dropped), and
the counters with golden's work counts (partial products, effectual, merges, output nonzeros).
Random cases print their seeds. Malformed B is flagged by the hardware (firmware checks
bypassed by editing the memory image); the bus monitor runs in every simulation.
"""
import math

import numpy as np
import pytest
import scipy.sparse as sp

from zerotile import firmware
from zerotile import golden
from zerotile.firmware import FormatError, TooLargeError
from zerotile.rtl.config import TileConfig
from zerotile.rtl.regmap import FLAG_COLIDX16, SPGEMM_FIELDS, ErrorCode
from zerotile.verif import simulate

from conftest import TARGETS, HAVE_ICARUS
from jobs import CFG as DEFAULT_CFG, random_csr, tamper

# SpGEMM is a generator option: the default tile with the engine
CFG = DEFAULT_CFG.with_spgemm()


def _csr(dense):
    return sp.csr_array(np.asarray(dense, dtype=np.int8))


def check_spgemm(name, res, a, b, cfg=CFG):
    """C equal to golden's (values and structure), the counters equal to golden's counts,
    the roofline floor not beaten, the bytes written those of the chunks the jobs write."""
    assert res.error is None, f"{name}: {res.error}"
    ref = golden.spgemm(a, b)
    c = res.c
    assert c.shape == ref.shape, f"{name}: C is {c.shape}, expected {ref.shape}"
    diff = (c != ref).tocoo()
    if diff.nnz:
        lines = [f"{name}: {diff.nnz} mismatching elements"]
        for i, j in list(zip(diff.row, diff.col))[:5]:
            lines.append(f"  row {i} col {j}: expected {ref[i, j]}, got {c[i, j]}")
        raise AssertionError("\n".join(lines))
    assert np.array_equal(c.indptr, ref.indptr), f"{name}: row pointers differ from golden's"
    assert np.array_equal(c.indices, ref.indices), f"{name}: column indices differ"
    w = golden.spgemm_bounds(a, b, peak_products_per_cycle=cfg.spgemm_products_per_cycle,
                             bus_bytes_per_cycle=cfg.bus_bytes, c=ref)
    cnt = res.counters
    for key, want in (("partial_products", w.partial_products), ("effectual_macs", w.effectual),
                      ("merges", w.merges), ("output_nnz", w.nnz_c)):
        assert cnt[key] == want, f"{name}: counter {key} = {cnt[key]}, golden {want}"
    assert w.bound_cycles <= cnt["cycles_busy"], \
        f"{name}: {cnt['cycles_busy']} cycles beat the floor {w.bound_cycles}"
    L = cfg.lanes
    chunks = 0
    for job in res.plan.jobs:
        c0, c1 = job.cols
        nnz_job = ref[job.rows][:, c0:c1].nnz
        chunks += math.ceil((len(job.rows) + 1) / L) + 2 * math.ceil(nnz_job / L)
    assert cnt["dram_bytes_written"] == chunks * 4 * L, f"{name}: bytes written"
    assert cnt["lane_slots"] == 0, f"{name}: the PEs issued in a SpGEMM job"


def _cases():
    """(name, A, B) covering the shapes the engine must get right (seeds in the names)."""
    cases = []
    for seed, (m, k, n, da, db) in enumerate([(20, 30, 40, 0.1, 0.1), (64, 64, 100, 0.05, 0.2),
                                              (9, 300, 7, 0.02, 0.3), (50, 17, 200, 0.3, 0.05),
                                              (3, 5, 2048, 0.6, 0.01)]):
        s = 100 + seed
        cases.append((f"random {m}x{k}x{n} seed {s}", random_csr(m, k, da, s),
                      random_csr(k, n, db, s + 50)))
    a = random_csr(40, 30, 0.1, 140).toarray()
    a[::3] = 0                                     # empty rows of A
    b = random_csr(30, 50, 0.2, 141).toarray()
    b[::2] = 0                                     # empty rows of B
    cases.append(("empty rows of A and B (seed 140)", _csr(a), _csr(b)))
    a = np.zeros((6, 8), np.int8)
    a[:, 1::2] = 5                                 # A only uses the empty rows of B
    b = np.zeros((8, 9), np.int8)
    b[::2] = 3
    cases.append(("all-zero product", _csr(a), _csr(b)))
    a = np.zeros((4, 200), np.int8)
    a[2] = 127                                     # one dense row
    b = np.zeros((200, 300), np.int8)
    b[:, 7] = -128                                 # one dense column (sum wraps nowhere)
    b[:, 299] = 1
    cases.append(("dense row x dense column", _csr(a), _csr(b)))
    a = _csr([[1, 1, 0], [2, 0, 1], [0, 0, 0]])
    b = _csr([[5, -3, 0, 1], [-5, 3, 0, 2], [-10, 0, 0, 0]])
    cases.append(("cancelling entries are dropped", a, b))
    return cases


CASES = _cases()


INDEX_BYTES = (2, 4)     # A's and B's column indices uint16 (FLAGS.COLIDX16) or int32


@pytest.fixture(scope="module")
def native_runs():
    plans = [firmware.plan_spgemm(a, b, config=CFG, column_index_bytes=nb)
             for nb in INDEX_BYTES for _, a, b in CASES]
    return simulate(plans, engine="native", seed=3, label="spgemm cases")


@pytest.mark.parametrize("index_bytes", INDEX_BYTES)
@pytest.mark.parametrize("index", range(len(CASES)), ids=[c[0] for c in CASES])
def test_spgemm_matches_golden(native_runs, index, index_bytes):
    name, a, b = CASES[index]
    print(name, f"({index_bytes}-byte column indices)")
    run = native_runs[INDEX_BYTES.index(index_bytes) * len(CASES) + index]
    assert run.plan.jobs[0].fields["FLAGS"] == (FLAG_COLIDX16 if index_bytes == 2 else 0)
    check_spgemm(f"{name} ({index_bytes}-byte column indices)", run, a, b)


def test_cancelled_entries_are_not_stored():
    a, b = CASES[-1][1], CASES[-1][2]
    ref = golden.spgemm(a, b)
    # row 0: columns 0 (5 - 5) and 1 (-3 + 3) cancel; row 1: column 0 (10 - 10) cancels;
    # column 2 is never touched
    assert ref.indptr.tolist() == [0, 1, 3, 3] and ref.indices.tolist() == [3, 1, 3]
    assert ref.data.tolist() == [3, -6, 2]
    assert golden.spgemm_work(a, b) == (10, 10, 6)     # products, effectual, touched


def test_shared_matrix_squared():
    """A.A on the karate graph, A's values as loaded by `zerotile run`."""
    from zerotile.workload import load_mtx, resolve_matrix
    a, _ = load_mtx(resolve_matrix("karate"), 1, as_given=True)
    res = simulate([firmware.plan_spgemm(a, a, config=CFG)], engine="native", label="karate^2")[0]
    check_spgemm("karate.A", res, a, a)


def test_tiles_columns_and_row_blocks():
    """Wider than the row accumulator (column tiles), and B deeper and fuller than the
    scratchpad (row blocks with their own B rows, A's columns renumbered)."""
    a1, b1 = random_csr(30, 40, 0.2, 150), random_csr(40, 2 * CFG.spgemm_cols + 37, 0.01, 151)
    k = CFG.spgemm_max_b_rows + 600
    a2, b2 = random_csr(40, k, 0.03, 152), random_csr(k, 40, 0.05, 153)
    p1, p2 = firmware.plan_spgemm(a1, b1, config=CFG), firmware.plan_spgemm(a2, b2, config=CFG)
    assert len({j.cols for j in p1.jobs}) == 3, "expected three column tiles"
    assert len(p2.jobs) >= 2, "expected several row blocks"
    for job in p2.jobs:
        assert job.fields["K"] <= CFG.spgemm_max_b_rows
        assert job.fields["B_NNZ"] <= CFG.spgemm_max_b_nnz
    res = simulate([p1, p2], engine="native", label="spgemm tiles")
    check_spgemm("column tiles (seeds 150/151)", res[0], a1, b1)
    check_spgemm("row blocks (seeds 152/153)", res[1], a2, b2)


def _field(plan, name, job=0):
    return plan.jobs[job].fields[name]


def _poke(plan, addr, value, fmt="<i4"):
    raw = np.array([value], dtype=fmt).tobytes()
    plan.image[addr - plan.base:addr - plan.base + len(raw)] = raw


def _malformed():
    a, b = random_csr(12, 16, 0.3, 160), random_csr(16, 24, 0.3, 161)
    out = []

    def add(name, code, edit, index_bytes=2):
        p = firmware.plan_spgemm(a, b, config=CFG, column_index_bytes=index_bytes)
        edit(p)
        out.append((name, code, p))

    add("B row_ptr[0] != 0", ErrorCode.BAD_ROW_POINTERS,
        lambda p: _poke(p, _field(p, "B_ROWPTR"), 1))
    add("B row pointers decrease", ErrorCode.BAD_ROW_POINTERS,
        lambda p: _poke(p, _field(p, "B_ROWPTR") + 4 * 8, 0))
    add("B row_ptr[K] != B_NNZ", ErrorCode.BAD_ROW_POINTERS,
        lambda p: tamper(p, SPGEMM_FIELDS["B_NNZ"], _field(p, "B_NNZ") - 1))
    add("B column index >= N", ErrorCode.COLUMN_OUT_OF_RANGE,
        lambda p: _poke(p, _field(p, "B_COLIDX") + 2 * 5, 24, "<u2"))
    add("B column index 65535", ErrorCode.COLUMN_OUT_OF_RANGE,
        lambda p: _poke(p, _field(p, "B_COLIDX") + 2 * 10, 0xFFFF, "<u2"))
    add("B column index (int32) >= N", ErrorCode.COLUMN_OUT_OF_RANGE,
        lambda p: _poke(p, _field(p, "B_COLIDX") + 4 * 6, 24), index_bytes=4)
    add("B column index (int32) negative", ErrorCode.COLUMN_OUT_OF_RANGE,
        lambda p: _poke(p, _field(p, "B_COLIDX") + 4 * 9, -1), index_bytes=4)
    add("A column index >= K", ErrorCode.COLUMN_OUT_OF_RANGE,
        lambda p: _poke(p, _field(p, "A_COLIDX") + 2 * 3, 16, "<u2"))
    add("B's column indices outside the window", ErrorCode.OPERAND_OUTSIDE_WINDOW,
        lambda p: tamper(p, SPGEMM_FIELDS["B_COLIDX"], p.limit + 64))
    add("N wider than the accumulator", ErrorCode.BAD_DESCRIPTOR,
        lambda p: tamper(p, "N", CFG.spgemm_cols + 1))
    add("capacity not a multiple of 16", ErrorCode.BAD_DESCRIPTOR,
        lambda p: tamper(p, SPGEMM_FIELDS["C_CAPACITY"], 24))
    add("FLAGS.ACCUMULATE in SpGEMM", ErrorCode.BAD_DESCRIPTOR,
        lambda p: tamper(p, "FLAGS", 1))
    small = firmware.plan_spgemm(a, b, config=CFG, capacity=16)
    out.append(("C larger than its capacity", ErrorCode.OUTPUT_OVERFLOW, small))
    return a, b, out


# The SpGEMM tile's cocotb model on Verilator is the slowest build of all (~4 min on 2 cores);
# in the suite the vip engine runs SpGEMM on Icarus. Verilator under cocotb runs SpGEMM in the
# regression campaigns (``zerotile regress``: random and configs, both simulators).
SPGEMM_TARGETS = [TARGETS[0], TARGETS[2]]


@pytest.mark.parametrize("target", SPGEMM_TARGETS)
def test_malformed_b_is_flagged_by_the_hardware(target):
    """Each bad job stops the chain with its error code (the bus monitor sees no write outside
    C's region); the job after each runs clean."""
    engine, sim = target
    a, b, bad = _malformed()
    if engine == "vip":
        bad = bad[:2] + bad[3:4] + bad[-1:]         # a sample: the simulations are slower
    plans = []
    for _, _, p in bad:
        plans += [p, firmware.plan_spgemm(a, b, config=CFG)]
    res = simulate(plans, engine=engine, sim=sim, seed=5, label=f"spgemm errors {engine}",
                   pause_probability=0.2 if engine == "vip" else 0.0)
    for i, (name, code, _) in enumerate(bad):
        assert res[2 * i].error and code.name in res[2 * i].error, \
            f"{name}: expected {code.name}, got {res[2 * i].error!r}"
        check_spgemm(f"after '{name}'", res[2 * i + 1], a, b)


@pytest.mark.parametrize("target", SPGEMM_TARGETS[1:])
def test_spgemm_on_the_vip_engine_with_axi_pauses(target):
    """cocotbext-axi DRAM and host, 25 % random pauses on every AXI channel."""
    engine, sim = target
    jobs = [(name, a, b) for name, a, b in CASES if a.shape[0] * b.shape[1] <= 4000][:3]
    plans = [firmware.plan_spgemm(a, b, config=CFG) for _, a, b in jobs]
    res = simulate(plans, engine=engine, sim=sim, seed=11, pause_probability=0.25,
                   label=f"spgemm {sim}")
    for (name, a, b), r in zip(jobs, res):
        check_spgemm(f"{name} ({engine}/{sim})", r, a, b)


@pytest.mark.skipif(not HAVE_ICARUS, reason="iverilog not installed (apt-get install iverilog)")
def test_engines_agree_on_spgemm():
    """Same C and the same counters, cycles included, on both engines (AxiRam's timing; the
    vip engine on Icarus)."""
    from zerotile.verif.native import VIP_EQUIVALENT_TIMING
    for name, a, b in (CASES[0], CASES[1], CASES[6]):
        plan = firmware.plan_spgemm(a, b, config=CFG)
        vip = simulate([plan], engine="vip", sim="icarus", seed=2, label="spgemm vip")[0]
        native = simulate([plan], engine="native", dram=VIP_EQUIVALENT_TIMING, seed=2,
                          label="spgemm native")[0]
        check_spgemm(name, vip, a, b)
        check_spgemm(name, native, a, b)
        assert np.array_equal(vip.c.toarray(), native.c.toarray()), name
        assert vip.counters == native.counters, (name, vip.counters, native.counters)


def test_planner_refuses_what_cannot_run():
    a, b = random_csr(4, 5, 0.5, 170), random_csr(5, 6, 0.5, 171)
    with pytest.raises(TooLargeError, match="no SpGEMM engine"):
        firmware.plan_spgemm(a, b, config=TileConfig(pes=2).with_spgemm())
    with pytest.raises(TooLargeError, match="no SpGEMM engine"):
        firmware.plan_spgemm(a, b)          # the default tile leaves the engine out
    with pytest.raises(FormatError, match="inner dimensions differ"):
        firmware.plan_spgemm(a, random_csr(6, 6, 0.5, 172), config=CFG)
    with pytest.raises(FormatError, match="int8"):
        firmware.plan_spgemm(a, sp.csr_array(np.full((5, 6), 300)), config=CFG)
    # one row of A using more rows of B than a job holds
    k = CFG.spgemm_max_b_rows + 1
    wide = sp.csr_array(np.ones((1, k), np.int8))
    tall = sp.csr_array(np.ones((k, 1), np.int8))
    with pytest.raises(TooLargeError, match=f"row 0 of A uses {k} rows of B"):
        firmware.plan_spgemm(wide, tall, config=CFG)


def test_planner_narrows_column_tiles_for_a_heavy_row():
    """A row of A whose B rows hold more entries than a job takes: narrower column tiles."""
    a = sp.csr_array(np.ones((2, 40), np.int8))
    b = sp.csr_array(np.ones((40, 1000), np.int8))     # 40,000 entries in row 0's B rows
    p = firmware.plan_spgemm(a, b, config=CFG)
    widths = {j.cols[1] - j.cols[0] for j in p.jobs}
    assert max(widths) <= CFG.spgemm_max_b_nnz // 40 and len(p.jobs) >= 3
    res = simulate([p], engine="native", label="narrow tiles")[0]
    check_spgemm("heavy row, narrowed tiles", res, a, b)


def test_planner_prefers_column_tiles_to_reloading_b():
    """B too full for one job (20,480 entries): row blocks would each load most of B again,
    so the planner cuts N into column tiles instead, each loading its share of B once."""
    from zerotile.firmware.spgemm import _jobs, spgemm_job_cost
    a, b = random_csr(300, 64, 0.3, 185), random_csr(64, 640, 0.5, 186)
    p = firmware.plan_spgemm(a, b, config=CFG)
    full = _jobs(sp.csr_array(a), sp.csr_array(b), 640, CFG)
    assert len(full) >= 3, "the full-width plan should need row blocks"
    tiles = {j.cols for j in p.jobs}
    assert len(tiles) == len(p.jobs) >= 2, f"expected column tiles only, got {len(p.jobs)} jobs"
    assert sum(j.fields["B_NNZ"] for j in p.jobs) == b.nnz, "B must be loaded once"
    assert sum(spgemm_job_cost(x[3], x[4], CFG) for x in full) > \
        sum(spgemm_job_cost(sp.csr_array(a[j.rows]), sp.csr_array(b[:, j.cols[0]:j.cols[1]]),
                            CFG) for j in p.jobs)
    res = simulate([p], engine="native", label="column tiles over row blocks")[0]
    check_spgemm("column tiles over row blocks (seeds 185/186)", res, a, b)


def test_planner_capacity_is_a_bound():
    for seed in range(5):
        a, b = random_csr(30, 30, 0.2, 180 + seed), random_csr(30, 70, 0.2, 190 + seed)
        p = firmware.plan_spgemm(a, b, config=CFG)
        ref = golden.spgemm(a, b)
        for job in p.jobs:
            c0, c1 = job.cols
            assert ref[job.rows][:, c0:c1].nnz <= job.capacity, seed
            assert job.capacity % CFG.spgemm_pad == 0, seed


def test_golden_spgemm_against_dense_products():
    rng = np.random.default_rng(7)
    for seed in range(5):
        a, b = random_csr(17, 23, 0.3, 200 + seed), random_csr(23, 11, 0.3, 210 + seed)
        ref = golden.spgemm(a, b)
        dense = golden.gemm(a.toarray(), b.toarray())
        assert np.array_equal(ref.toarray(), dense), seed
        assert np.all(ref.data != 0) and ref.has_sorted_indices
    del rng
    # int32 wrap, as the hardware's adder
    a = sp.csr_array(np.full((1, 70000), 127, np.int8))
    b = sp.csr_array(np.full((70000, 1), 127, np.int8))
    assert golden.spgemm(a, b).data[0] == golden.wrap_int32(70000 * 127 * 127)


def test_soft_reset_mid_spgemm():
    """SOFT_RESET while B loads and while rows are written out: the chain stops quietly and
    the next one runs clean."""
    a, b = random_csr(64, 64, 0.1, 220), random_csr(64, 300, 0.1, 221)
    plans = [firmware.plan_spgemm(a, b, config=CFG) for _ in range(3)]
    res = simulate(plans, engine="native", seed=8, soft_reset_after=[200, 3000, None],
                   label="spgemm soft reset")
    assert res[0].soft_reset and res[0].busy_at_reset
    assert res[1].soft_reset and res[1].busy_at_reset
    check_spgemm("after two soft resets (seeds 220/221)", res[2], a, b)
