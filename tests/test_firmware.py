import asyncio

import numpy as np
import pytest
import scipy.sparse as sp

from zerotile import firmware
from zerotile.firmware import FormatError, TooLargeError, DeviceError, plan
from zerotile.rtl.config import TileConfig
from zerotile.rtl.regmap import REG, DESC, DESCRIPTOR_BYTES, ID_MAGIC, VERSION, Status, ErrorCode


def csr(m, k, indptr, indices, data):
    return sp.csr_array((np.array(data, dtype=np.int8), np.array(indices), np.array(indptr)),
                        shape=(m, k))


@pytest.mark.parametrize("args, message", [
    ((2, 3, [0, 1, 1], [5], [1]), "column index 5 in row 0 is out of range for 3 columns"),
    ((2, 3, [0, 2, 1], [0, 1], [1, 1]), "row pointers decrease at row 1"),
    ((2, 3, [1, 1, 1], [0], [1]), r"row_ptr\[0\] is 1"),
    ((2, 3, [0, 2, 2], [1, 0], [1, 1]), "unsorted column indices in row 0"),
    ((2, 3, [0, 2, 2], [1, 1], [1, 1]), "duplicate column indices in row 0"),
])
def test_check_csr_names_the_problem(args, message):
    m, k, indptr, indices, data = args
    with pytest.raises(FormatError, match=message):
        firmware.check_csr("A", (m, k), indptr, indices, data)


def test_nnz_disagreeing_with_row_pointers():
    with pytest.raises(FormatError, match="row pointers end at 2 but there are 1 column"):
        firmware.check_csr("A", (2, 3), [0, 1, 2], [0], [1])


def test_values_outside_int8():
    with pytest.raises(FormatError, match="holds 200, outside int8"):
        firmware.check_csr("A", (1, 3), [0, 1], [0], np.array([200]))
    with pytest.raises(FormatError, match="B holds -129"):
        plan(np.eye(2, dtype=np.int8), np.array([[-129, 0], [0, 1]]))


def test_shape_mismatch_and_empty():
    with pytest.raises(FormatError, match="inner dimensions differ"):
        plan(np.ones((2, 3), np.int8), np.ones((4, 2), np.int8))
    with pytest.raises(FormatError, match="empty product"):
        plan(np.ones((2, 3), np.int8), np.ones((3, 0), np.int8))
    with pytest.raises(FormatError, match="must hold integers"):
        plan(np.full((2, 2), 0.5), np.ones((2, 2), np.int8))


def test_deep_dense_b_is_split_into_k_slabs_that_accumulate():
    cfg = TileConfig()
    k = 2 * cfg.max_k + 10
    a = (np.arange(3 * k) % 7 == 0).reshape(3, k).astype(np.int8)
    p = plan(a, np.ones((k, 2), np.int8), mode="dense")
    assert [j.fields["K"] for j in p.jobs] == [cfg.max_k, cfg.max_k, 10]
    assert [j.fields["FLAGS"] for j in p.jobs] == [0, 1, 1]
    p = plan(a, np.ones((k, 2), np.int8), c=np.ones((3, 2), np.int64), mode="dense")
    assert [j.fields["FLAGS"] for j in p.jobs] == [1, 1, 1] and p.accumulate
    with pytest.raises(FormatError, match="C to accumulate into is 2x2"):
        plan(a, np.ones((k, 2), np.int8), c=np.ones((2, 2), np.int64))


def test_deep_csr_takes_only_the_columns_its_rows_use():
    """K = 2 x max_k + 10: each job's B holds the columns its rows use (3,516 here, one job);
    rows using more columns than a bank holds are cut into K slabs that accumulate."""
    cfg = TileConfig()
    k = 2 * cfg.max_k + 10
    a = sp.csr_array((np.arange(3 * k) % 7 == 0).reshape(3, k).astype(np.int8))
    p = plan(a, np.ones((k, 2), np.int8), mode="csr")
    assert [j.fields["K"] for j in p.jobs] == [a.nnz] and p.jobs[0].fields["FLAGS"] == 2
    wide = sp.csr_array(np.ones((2, k), np.int8))
    p = plan(wide, np.ones((k, 2), np.int8), mode="csr")
    # (both rows use every column: K slabs over both rows move the fewest bytes)
    assert [(j.fields["M"], j.fields["K"], j.fields["FLAGS"] & 1) for j in p.jobs] == \
        [(2, cfg.max_k, 0), (2, cfg.max_k, 1), (2, 10, 1)]
    assert sum(j.fields["NNZ"] for j in p.jobs) == wide.nnz


@pytest.mark.parametrize("mode", ["csr", "dense"])
def test_layout_alignment_and_round_trip(mode):
    rng = np.random.default_rng(5)
    print("seed 5")
    a = sp.random_array((13, 7), density=0.4, rng=rng, format="csr",
                        data_sampler=lambda size: rng.integers(1, 100, size)).astype(np.int8)
    b = rng.integers(-128, 128, (7, 11)).astype(np.int8)
    p = plan(a, b, mode=mode)
    assert p.mode == mode and p.shape == (13, 7, 11)
    f = p.jobs[0].fields
    for name in ("A_VALUES", "B_ADDR") + (("A_ROWPTR", "A_COLIDX") if mode == "csr" else ()):
        assert f[name] % 64 == 0, name
    assert f["C_STRIDE"] == 64 and f["NEXT"] == 0 and f["N"] == 11
    img = np.frombuffer(bytes(p.image), np.uint8)
    base = p.base
    if mode == "csr":
        rp = np.frombuffer(bytes(p.image[f["A_ROWPTR"] - base:][:14 * 4]), "<i4")
        assert np.array_equal(rp, a.indptr)
    else:
        vals = img[f["A_VALUES"] - base:][:13 * 7].view(np.int8).reshape(13, 7)
        assert np.array_equal(vals, a.toarray())
    btile = img[f["B_ADDR"] - base:][:7 * 16].view(np.int8).reshape(7, 16)
    order = p.column_order if mode == "csr" else np.arange(7)    # CSR: B rows renumbered
    assert np.array_equal(btile[:, :11], b[order]) and not btile[:, 11:].any()
    if mode == "csr":
        ix = np.frombuffer(bytes(p.image[f["A_COLIDX"] - base:][:a.nnz * 2]), "<u2")   # COLIDX16
        data = np.frombuffer(bytes(p.image[f["A_VALUES"] - base:][:a.nnz]), np.int8)
        stored = sp.csr_array((data, order[ix], rp), shape=a.shape)
        assert (stored != a).nnz == 0, "A's columns renumbered consistently with B's rows"
    desc = np.frombuffer(bytes(p.image[p.first_descriptor - base:][:DESCRIPTOR_BYTES]), "<u4")
    assert desc[DESC["M"]] == 13 and desc[DESC["K"]] == 7 and desc[DESC["N"]] == 11
    # Unpacking reads the C region back; the poison pattern is what an unwritten C holds.
    raw = bytes(p.image[p.c_addr - base:p.c_addr - base + p.c_bytes])
    assert (p.unpack_c(raw).view(np.uint32) == 0xA5A5A5A5).all()


def test_wide_b_is_tiled_into_chained_jobs():
    cfg = TileConfig()
    a = np.ones((3, 5), np.int8)
    b = np.ones((5, cfg.max_n * 2 + 3), np.int8)
    p = plan(a, b, mode="dense")
    assert len(p.jobs) == 3
    assert [j.fields["N"] for j in p.jobs] == [cfg.max_n, cfg.max_n, 3]
    assert p.jobs[0].fields["NEXT"] == p.jobs[1].desc_addr
    assert p.jobs[1].fields["C_ADDR"] == p.c_addr + cfg.max_n * 4


def test_deep_k_reduces_columns_per_job():
    """A dense A (every column used) deeper than half a bank: fewer chunks fit per job."""
    cfg = TileConfig()
    L, P = cfg.lanes, cfg.pes
    k = cfg.b_words // 2 + 1          # one chunk per bank: P chunks per job
    p = plan(np.ones((2, k), np.int8), np.ones((k, P * L + 4), np.int8), mode="dense")
    assert [j.fields["N"] for j in p.jobs] == [P * L, 4]
    k = cfg.b_words // 2              # two chunks per bank
    p = plan(np.ones((2, k), np.int8), np.ones((k, 2 * P * L + 4), np.int8), mode="dense")
    assert [j.fields["N"] for j in p.jobs] == [min(cfg.max_n, 2 * P * L), 4]
    # sparse: the planner may instead keep the tile wide and give each job fewer B rows
    p = plan(sp.csr_array((2, k + 1), dtype=np.int8), np.ones((k + 1, P * L + 4), np.int8),
             mode="csr")
    assert [(j.fields["K"], j.fields["N"]) for j in p.jobs] == [(1, P * L + 4)]


def test_auto_mode_picks_csr_for_sparse_and_dense_for_dense():
    rng = np.random.default_rng(0)
    dense = rng.integers(1, 100, (32, 32)).astype(np.int8)
    assert plan(dense, dense, mode="auto").mode == "dense"
    sparse = sp.random_array((64, 64), density=0.05, rng=rng, format="csr",
                             data_sampler=lambda size: rng.integers(1, 100, size)).astype(np.int8)
    assert plan(sparse, np.ones((64, 16), np.int8), mode="auto").mode == "csr"


class FakeBus:
    """A register-level stand-in for the hardware: completes or fails the chain at once."""

    def __init__(self, fail_code=0):
        self.regs = {REG["ID"]: ID_MAGIC, REG["VERSION"]: VERSION,
                     REG["CONFIG"]: 4 | 8 << 8 | 8 << 16 | 8 << 24, REG["B_WORDS"]: 4096,
                     REG["STATUS"]: 0, REG["JOBS_DONE"]: 0}
        self.mem = {}
        self.fail_code = fail_code
        self.writes = []

    async def read32(self, addr):
        return self.regs.get(addr, 0)

    async def write32(self, addr, value):
        self.writes.append((addr, value))
        if addr == REG["DOORBELL"]:
            if self.fail_code:
                self.regs.update({REG["STATUS"]: Status.ERROR, REG["ERROR_CODE"]: self.fail_code,
                                  REG["ERROR_ADDR"]: 0x1234})
            else:
                self.regs.update({REG["STATUS"]: Status.DONE, REG["JOBS_DONE"]: 1})
        elif addr == REG["STATUS"]:
            self.regs[REG["STATUS"]] &= ~value
        else:
            self.regs[addr] = value

    async def write_mem(self, addr, data):
        self.mem[addr] = bytes(data)

    async def read_mem(self, addr, length):
        image = next(iter(self.mem.items()))
        base, data = image
        return data[addr - base:addr - base + length]


def test_driver_runs_a_plan_over_an_injected_bus():
    p = plan(np.ones((2, 2), np.int8), np.ones((2, 2), np.int8), mode="dense")
    bus = FakeBus()
    result = asyncio.run(firmware.Driver(bus).run(p, timeout_cycles=100))
    assert result.jobs_done == 1
    regs_written = [a for a, _ in bus.writes]
    assert regs_written.index(REG["WINDOW_LIMIT"]) < regs_written.index(REG["DOORBELL"])
    assert (REG["DESC_ADDR"], p.first_descriptor) in bus.writes
    assert (REG["WINDOW_BASE"], p.base) in bus.writes and (REG["WINDOW_LIMIT"], p.limit) in bus.writes


def test_driver_reports_the_hardware_error():
    p = plan(np.ones((2, 2), np.int8), np.ones((2, 2), np.int8), mode="dense")
    with pytest.raises(DeviceError, match="COLUMN_OUT_OF_RANGE .* 0x00001234"):
        asyncio.run(firmware.Driver(FakeBus(ErrorCode.COLUMN_OUT_OF_RANGE)).run(
            p, timeout_cycles=100))


def test_limits_of_one_job_become_row_blocks():
    """2048 x 4096 with more stored entries than one CSR job takes: one dense job, or two CSR
    row blocks, each within the limit, with rebased row pointers and their own slice of C."""
    from zerotile.rtl.regmap import MAX_NNZ
    m, k = 2048, 4096
    nnz = MAX_NNZ + 5_697
    assert firmware.check_size(m, k, 16, nnz, mode="auto") == ["dense", "csr"]
    rng = np.random.default_rng(3)
    a = np.zeros(m * k, np.int8)
    a[rng.choice(m * k, nnz, replace=False)] = 1
    a = sp.csr_array(a.reshape(m, k))
    b = np.ones((k, 16), np.int8)
    dense = plan(a, b, mode="dense")
    assert [j.fields["M"] for j in dense.jobs] == [m]         # one row block, one column tile
    assert len(dense.image) <= firmware.image_bytes("dense", m, k, 16, nnz, dense.config)
    csr = plan(a, b, mode="csr")
    blocks = csr.jobs                                          # one column tile per block
    assert len(csr.jobs) == 2 and sum(j.fields["M"] for j in blocks) == m
    assert all(j.fields["NNZ"] <= MAX_NNZ for j in csr.jobs)
    assert sum(j.fields["NNZ"] for j in blocks) == nnz
    second = csr.jobs[1].fields
    rp = np.frombuffer(bytes(csr.image[second["A_ROWPTR"] - csr.base:][:4 * (second["M"] + 1)]),
                       "<i4")
    assert rp[0] == 0 and rp[-1] == second["NNZ"]
    assert second["C_ADDR"] == csr.c_addr + csr.jobs[0].fields["M"] * csr.c_stride
    assert len(csr.image) <= firmware.image_bytes("csr", m, k, 16, nnz, csr.config)


def test_row_blocks_split_on_rows_and_on_entries():
    from zerotile.firmware.planner import row_blocks
    from zerotile.rtl.regmap import MAX_M, MAX_NNZ
    indptr = np.arange(0, 3 * MAX_M + 2) * 2          # 2 entries per row
    blocks = row_blocks("csr", indptr, 8)
    assert blocks == [(0, MAX_M), (MAX_M, 2 * MAX_M), (2 * MAX_M, 3 * MAX_M),
                      (3 * MAX_M, 3 * MAX_M + 1)]
    heavy = np.concatenate([[0], np.cumsum(np.full(10, MAX_NNZ // 3))])
    blocks = row_blocks("csr", heavy, 4096)
    assert blocks == [(0, 3), (3, 6), (6, 9), (9, 10)]
    assert all(heavy[r1] - heavy[r0] <= MAX_NNZ for r0, r1 in blocks)
    assert row_blocks("dense", np.zeros(100_001), 4096)[0] == (0, 65_535)


@pytest.mark.parametrize("m, k, n, message", [
    (10, 10, 2**31, "the accelerator addresses 4 GiB"),
    (2, 300_000_000, 16, "the accelerator addresses 4 GiB"),
])
def test_sizes_are_checked_before_anything_is_allocated(m, k, n, message):
    with pytest.raises(TooLargeError, match=message):
        firmware.check_size(m, k, n, 1)


@pytest.mark.parametrize("mode", ["csr", "dense"])
def test_image_size_estimate_bounds_the_real_image(mode):
    rng = np.random.default_rng(5)
    for _ in range(20):
        m, k, n = (int(x) for x in rng.integers(1, 200, 3))
        a = sp.random_array((m, k), density=float(rng.uniform(0, 1)), rng=rng, format="csr",
                            data_sampler=lambda size: np.ones(size)).astype(np.int8)
        p = plan(a, np.ones((k, n), np.int8), mode=mode)
        assert len(p.image) <= firmware.image_bytes(mode, m, k, n, a.nnz, p.config)


@pytest.mark.parametrize("params", [dict(pes=2, lanes=2, bus_bits=256, scan_width=1),
                                    dict(pes=4, lanes=8, bus_bits=128), {}])
def test_results_leave_room_for_the_last_beat(params):
    """Where a chunk is narrower than the bus, a result row's extent as the hardware checks
    it (the row's start plus its chunks rounded up to whole bus words) stays inside the
    window and the regions the bus monitor allows, for the int32 C and the int8 output."""
    from zerotile.workload import random_csr, random_requant
    cfg = TileConfig(**params)
    bb, L = cfg.bus_bytes, cfg.lanes
    for m, k, n in [(24, 30, 8), (1, 5, 3), (7, 9, 2 * L + 1)]:
        a = random_csr(m, k, 0.3, m)
        b = np.ones((k, n), np.int8)
        for epilogue in (None, random_requant(m, 3)):
            plan = firmware.plan(a, b, mode="csr", config=cfg, epilogue=epilogue)
            regions = plan.write_regions
            for job in plan.jobs:
                f = job.fields
                chunks = -(-f["N"] // L)
                rows = (f["M"] - 1) * f["C_STRIDE"]
                if epilogue is None:
                    start, row = f["C_ADDR"], -(-4 * chunks * L // bb) * bb
                else:
                    start, rows, row = f["Q_ADDR"], rows // 4, -(-chunks * L // bb) * bb
                end = start + rows + row
                assert end <= plan.limit, (params, m, k, n, hex(end), hex(plan.limit))
                assert any(lo <= start and end <= hi for lo, hi in regions), \
                    (params, m, k, n, hex(start), hex(end), regions)
