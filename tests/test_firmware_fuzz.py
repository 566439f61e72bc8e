"""Property-based tests (hypothesis) of the firmware's validation and packing.

* every valid (A, B) round-trips exactly: decoding the plan's memory image (descriptors, CSR
  arrays or dense A, B tiles) gives back A and B, whatever the mode and the tiling;
* every plan, executed descriptor by descriptor with golden's arithmetic on its own image
  (``execute_plan``), leaves ``A @ B`` (or ``C + A @ B``) in C, whatever cuts it makes:
  column tiles, row blocks, column windows with reordered rows, K slabs;
* every malformed input raises the project's own error type (``ZerotileError``) with a
  message naming the problem.
Failing examples are printed by hypothesis with the seed to reproduce them
(``--hypothesis-seed``); the profile is derandomized, so CI runs the same cases every time.
"""
import re

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings, strategies as st, HealthCheck

from zerotile import firmware
from zerotile.firmware import ZerotileError, FormatError, TooLargeError
from zerotile.firmware.planner import pack_descriptor, POISON
from zerotile.rtl.config import TileConfig
from zerotile.rtl.regmap import (DESC, DESCRIPTOR_BYTES, MODE_CSR, MODE_DENSE, FLAG_ACCUMULATE,
                        FLAG_COLIDX16)
from zerotile import golden

settings.register_profile("zerotile", max_examples=150, derandomize=True, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("zerotile")

CONFIGS = [TileConfig(), TileConfig(pes=1, lanes=16, bus_bits=128),
           TileConfig(pes=8, lanes=4, bus_bits=32, b_words=64, max_chunks=2)]

int8s = st.integers(-128, 127)


@st.composite
def csr_matrices(draw, max_dim=24):
    m = draw(st.integers(1, max_dim))
    k = draw(st.integers(1, max_dim))
    rows = []
    for _ in range(m):
        cols = sorted(draw(st.sets(st.integers(0, k - 1), max_size=min(k, 6))))
        rows.append(cols)
    indptr = np.cumsum([0] + [len(r) for r in rows])
    indices = np.array([c for r in rows for c in r], dtype=np.int64)
    data = np.array(draw(st.lists(int8s, min_size=len(indices), max_size=len(indices))),
                    dtype=np.int8)           # explicit zeros allowed: they are kept
    return sp.csr_array((data, indices, indptr), shape=(m, k))


def _words(image, base, addr, count, dtype):
    off = addr - base
    return np.frombuffer(bytes(image[off:off + count * np.dtype(dtype).itemsize]), dtype=dtype)


def decode(plan):
    """A (as CSR arrays or dense) and B, read back from the plan's image via its descriptors."""
    cfg, image, base = plan.config, plan.image, plan.base
    m, k, n = plan.shape
    b = np.zeros((k, n), np.int8)
    desc_addr, col0, a = plan.first_descriptor, 0, None
    while True:
        f = _words(image, base, desc_addr, DESCRIPTOR_BYTES // 4, "<u4")
        field = {name: int(f[i]) for name, i in DESC.items()}
        assert (field["M"], field["K"]) == (m, k)
        if field["MODE"] == MODE_CSR:
            nnz = field["NNZ"]
            indptr = _words(image, base, field["A_ROWPTR"], m + 1, "<i4")
            indices = _words(image, base, field["A_COLIDX"], nnz,
                             "<u2" if field["FLAGS"] & FLAG_COLIDX16 else "<i4")
            data = _words(image, base, field["A_VALUES"], nnz, "i1")
            a = ("csr", indptr, indices, data)
        else:
            assert field["MODE"] == MODE_DENSE
            a = ("dense", _words(image, base, field["A_VALUES"], m * k, "i1").reshape(m, k))
        nj = field["N"]
        chunks = -(-nj // cfg.lanes)
        tile = _words(image, base, field["B_ADDR"], k * chunks * cfg.lanes, "i1")
        tile = tile.reshape(k, chunks * cfg.lanes)
        assert not tile[:, nj:].any(), "B tile padding must be zero"
        b[:, col0:col0 + nj] = tile[:, :nj]
        assert field["C_ADDR"] == plan.c_addr + 4 * col0
        assert field["C_STRIDE"] == plan.c_stride
        col0 += nj
        if field["NEXT"] == 0:
            break
        desc_addr = field["NEXT"]
    if plan.column_order is not None:
        # CSR plans store A's columns and B's rows renumbered (order[new] = old): undo it
        order = plan.column_order
        assert sorted(order) == list(range(k)), "column order must be a permutation"
        b = b[np.argsort(order)]
        if a[0] == "csr":
            _, indptr, indices, data = a
            a = sp.csr_array((data.copy(), order[indices], indptr.copy()), shape=(m, k))
            a.sort_indices()
            a = ("csr", a.indptr, a.indices, a.data)
    assert col0 == n, "the jobs' column tiles must cover B exactly"
    return a, b


@given(a=csr_matrices(), n=st.integers(1, 70), mode=st.sampled_from(["csr", "dense", "auto"]),
       cfg=st.sampled_from(CONFIGS), seed=st.integers(0, 2**32 - 1))
def test_valid_inputs_round_trip_exactly(a, n, mode, cfg, seed):
    b = np.random.default_rng(seed).integers(-128, 128, (a.shape[1], n)).astype(np.int8)
    p = firmware.plan(a, b, config=cfg, mode=mode)
    got_a, got_b = decode(p)
    assert np.array_equal(got_b, b)
    if got_a[0] == "csr":
        _, indptr, indices, data = got_a
        assert np.array_equal(indptr, a.indptr) and np.array_equal(indices, a.indices)
        assert np.array_equal(data, a.data)
    else:
        assert np.array_equal(got_a[1], a.toarray())
    c_region = p.image[p.c_addr - p.base:p.c_addr - p.base + p.c_bytes]
    assert set(c_region) == {POISON}, "C is prefilled with the poison pattern"
    c = np.arange(p.shape[0] * p.c_stride // 4, dtype="<i4")
    assert np.array_equal(p.unpack_c(c.tobytes()),
                          c.reshape(p.shape[0], -1)[:, :n])


def execute_plan(plan):
    """C as the plan leaves it: every descriptor of the chain run with golden's arithmetic on a
    copy of the plan's image (its A arrays, its B tile, its C rows; FLAGS.ACCUMULATE adds to
    what C holds)."""
    image, base, L = bytearray(plan.image), plan.base, plan.config.lanes
    desc_addr = plan.first_descriptor
    while True:
        f = _words(image, base, desc_addr, DESCRIPTOR_BYTES // 4, "<u4")
        field = {name: int(f[i]) for name, i in DESC.items()}
        m, k, n = field["M"], field["K"], field["N"]
        if field["MODE"] == MODE_CSR:
            nnz = field["NNZ"]
            a = sp.csr_array((_words(image, base, field["A_VALUES"], nnz, "i1"),
                              _words(image, base, field["A_COLIDX"], nnz,
                                     "<u2" if field["FLAGS"] & FLAG_COLIDX16 else "<i4"),
                              _words(image, base, field["A_ROWPTR"], m + 1, "<i4")), shape=(m, k))
        else:
            a = _words(image, base, field["A_VALUES"], m * k, "i1").reshape(m, k)
        chunks = -(-n // L)
        b = _words(image, base, field["B_ADDR"], k * chunks * L, "i1").reshape(k, -1)[:, :n]
        words = np.frombuffer(image, dtype="<i4")          # a view: writes land in ``image``
        at = ((field["C_ADDR"] - base) // 4 + np.arange(m)[:, None] * (field["C_STRIDE"] // 4)
              + np.arange(n)[None, :])
        old = words[at].astype(np.int64) if field["FLAGS"] & FLAG_ACCUMULATE else None
        words[at] = golden.spmm(a, b, old) if field["MODE"] == MODE_CSR else golden.gemm(a, b, old)
        if field["NEXT"] == 0:
            break
        desc_addr = field["NEXT"]
    return plan.unpack_c(image[plan.c_addr - base:plan.c_addr - base + plan.c_bytes])


# a tile whose banks hold 16 words: K above 16 (8 when a PE owns two chunks) needs windows
SMALL = TileConfig(pes=2, lanes=2, bus_bits=32, b_words=16, max_chunks=4)


@given(a=csr_matrices(max_dim=60), n=st.integers(1, 20),
       mode=st.sampled_from(["csr", "dense", "auto"]), accumulate=st.booleans(),
       cfg=st.sampled_from([SMALL] + CONFIGS), index_bytes=st.sampled_from([2, 4]),
       seed=st.integers(0, 2**32 - 1))
def test_every_plan_computes_the_product(a, n, mode, accumulate, cfg, index_bytes, seed):
    rng = np.random.default_rng(seed)
    b = rng.integers(-128, 128, (a.shape[1], n)).astype(np.int8)
    c = rng.integers(-2**31, 2**31, (a.shape[0], n)) if accumulate else None
    ref, a_given = golden.spmm(a, b, c), a.copy()
    p = firmware.plan(a, b, c=c, config=cfg, mode=mode, column_index_bytes=index_bytes)
    assert np.array_equal(a.data, a_given.data) and np.array_equal(a.indices, a_given.indices), \
        "the planner changed its input"
    for job in p.jobs:
        f = job.fields
        assert 1 <= f["K"] <= cfg.max_k and 1 <= f["N"] <= cfg.max_n
        assert f["K"] * -(-(-(-f["N"] // cfg.lanes)) // cfg.pes) <= cfg.b_words, \
            f"job of K={f['K']} N={f['N']} does not fit the banks"
    got = execute_plan(p)
    bad = np.argwhere(got != ref)
    assert not len(bad), (f"seed {seed}: row {bad[0][0]} column {bad[0][1]}: expected "
                          f"{ref[tuple(bad[0])]}, got {got[tuple(bad[0])]}")
    assert len(p.image) <= firmware.image_bytes(p.mode, *p.shape, a.nnz, cfg)


def test_windows_cover_deep_sparse_a_with_reordered_rows():
    """A 6 x 60 grid's 5-point pattern with shuffled numbering, K = 360 > 64 words per bank:
    the planner reorders rows so each job's columns fit, reads B well under twice, and the
    product is exact."""
    rng = np.random.default_rng(3)
    print("seed 3")
    cfg = TileConfig(pes=2, lanes=2, bus_bits=32, b_words=64, max_chunks=4)
    w, h = 6, 60

    def path(n):
        return sp.diags_array([np.ones(n - 1), np.ones(n - 1)], offsets=[-1, 1])

    grid = sp.kron(sp.eye_array(h), path(w)) + sp.kron(path(h), sp.eye_array(w)) + \
        sp.eye_array(w * h)
    shuffle = rng.permutation(w * h)
    a = sp.csr_array(grid.tocsr()[shuffle][:, shuffle]).astype(np.int8)
    a.data[:] = rng.integers(1, 100, a.nnz)
    b = rng.integers(-128, 128, (w * h, 3)).astype(np.int8)
    p = firmware.plan(a, b, mode="csr", config=cfg)
    assert p.row_order is not None, "rows should be reordered"
    b_rows = sum(j.fields["K"] for j in p.jobs)
    assert b_rows <= 1.5 * w * h, f"B rows read {b_rows} for K = {w * h}"
    assert not any(j.fields["FLAGS"] & FLAG_ACCUMULATE for j in p.jobs), "no row needs a K slab"
    assert np.array_equal(execute_plan(p), golden.spmm(a, b))
    # several candidate plans are built from the same A: none may disturb it
    assert np.array_equal(execute_plan(firmware.plan(a, b, mode="csr", config=cfg,
                                                     column_index_bytes=4)), golden.spmm(a, b))
    shuffled = firmware.plan(a, b, mode="csr", config=cfg)
    assert np.array_equal(shuffled.row_order, p.row_order), "the plan is deterministic"


@given(fields=st.dictionaries(st.sampled_from(sorted(DESC)), st.integers(0, 2**32 - 1)))
def test_descriptor_packing_round_trips(fields):
    raw = pack_descriptor(fields)
    assert len(raw) == DESCRIPTOR_BYTES
    words = np.frombuffer(raw, "<u4")
    for name, i in DESC.items():
        assert words[i] == fields.get(name, 0)


@given(name=st.text(min_size=1, max_size=8).filter(lambda s: s not in DESC),
       value=st.integers(0, 10))
def test_descriptor_unknown_field_is_named(name, value):
    with pytest.raises(FormatError, match="unknown descriptor field"):
        pack_descriptor({name: value})


@given(field=st.sampled_from(sorted(DESC)),
       value=st.one_of(st.integers(max_value=-1), st.integers(min_value=2**32)))
def test_descriptor_field_out_of_range_is_named(field, value):
    with pytest.raises(FormatError, match=f"descriptor field {field} = .* does not fit 32 bits"):
        pack_descriptor({field: value})


# --- malformed CSR: one defect at a time -----------------------------------------------------

DEFECTS = ["row_ptr0", "decreasing", "column_high", "column_negative", "nnz_mismatch",
           "unsorted", "duplicate", "value_range", "value_float", "ptr_count"]
MESSAGES = {"row_ptr0": r"row_ptr\[0\] is", "decreasing": "row pointers decrease",
            "column_high": "out of range for", "column_negative": "out of range for",
            "nnz_mismatch": "row pointers end at", "unsorted": "unsorted column indices",
            "duplicate": "duplicate column indices", "value_range": "outside int8",
            "value_float": "must hold integers", "ptr_count": "row pointers for"}


@given(a=csr_matrices().filter(lambda a: a.nnz >= 2), defect=st.sampled_from(DEFECTS),
       data=st.data())
def test_malformed_csr_is_rejected_with_a_named_problem(a, defect, data):
    m, k = a.shape
    indptr = a.indptr.astype(np.int64).copy()
    indices = a.indices.astype(np.int64).copy()
    values = a.data.astype(np.int64).copy()
    i = data.draw(st.integers(0, a.nnz - 1), label="entry")
    if defect == "row_ptr0":
        indptr[0] = data.draw(st.integers(1, 5))
    elif defect == "decreasing":
        r = data.draw(st.sampled_from([r for r in range(1, m + 1) if indptr[r] >= 1]))
        indptr[r] = indptr[r - 1] - 1
    elif defect == "column_high":
        indices[i] = k + data.draw(st.integers(0, 1000))
    elif defect == "column_negative":
        indices[i] = -data.draw(st.integers(1, 1000))
    elif defect == "nnz_mismatch":
        indices = indices[:-1]
    elif defect in ("unsorted", "duplicate"):
        row = int(np.searchsorted(indptr, i, side="right") - 1)
        lo, hi = indptr[row], indptr[row + 1]
        if hi - lo < 2:
            return
        if defect == "unsorted":
            indices[lo], indices[lo + 1] = indices[lo + 1], indices[lo]
        else:
            indices[lo + 1] = indices[lo]
    elif defect == "value_range":
        values[i] = data.draw(st.one_of(st.integers(-2**63, -129), st.integers(128, 2**63 - 1)))
    elif defect == "value_float":
        values = values.astype(float)
        values[i] = 0.5
    elif defect == "ptr_count":
        indptr = indptr[:-1]
    with pytest.raises(ZerotileError) as info:
        firmware.check_csr("A", (m, k), indptr, indices, values)
    assert isinstance(info.value, FormatError)
    msg = str(info.value)
    assert msg.startswith("A"), msg
    assert re.search(MESSAGES[defect], msg), f"{defect}: {msg}"


@given(m=st.integers(1, 9), k=st.integers(1, 9), k2=st.integers(1, 9), n=st.integers(1, 9))
def test_shape_mismatch_names_both_shapes(m, k, k2, n):
    if k == k2:
        return
    with pytest.raises(FormatError, match=f"A is {m}x{k} but B is {k2}x{n}"):
        firmware.plan(np.ones((m, k), np.int8), np.ones((k2, n), np.int8))


@given(extra=st.integers(1, 1000))
def test_too_large_is_its_own_error(extra):
    """Only DRAM limits a product now: a C beyond 4 GiB is a TooLargeError, checked before
    anything is allocated."""
    cfg = TileConfig()
    with pytest.raises(TooLargeError, match="the accelerator addresses 4 GiB"):
        firmware.check_size(1 << 16, cfg.max_k + extra, 1 << 14, 1, config=cfg)
