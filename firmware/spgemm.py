"""The SpGEMM planner: ``C = A @ B`` with A and B both CSR, C written by the tile as CSR.

Memory layout, from ``base`` upwards, every array on a 64-byte boundary: the descriptors;
per job A's rows (int32 row pointers, uint16 or int32 column indices, int8 values) and the B
it reads (the same three arrays; its column indices uint16 when A's are); then every job's C
region (row pointers padded to ``config.spgemm_pad`` entries, column indices, values), the
result.

Cuts, when one job cannot hold the product:

* column tiles: C (and B) wider than ``config.spgemm_cols`` columns, the engine's row
  accumulator, is cut into column tiles; each tile's jobs take only the rows of A with a
  product in the tile (gathered into their own arrays; a tile without one is skipped), so
  a wide, local product (a road network squared) reads each row of A about once. Tiles are
  halved while a row of A uses B rows holding more entries than a job takes;
* row blocks: when B (its tile) has more rows or stored entries than the scratchpad holds,
  each job takes consecutive rows of A whose B rows fit together, with its own copy of
  just those rows of B and A's column indices renumbered to match (also at 65,535 rows or
  2^22 - 1 stored entries of A).

A row of A using more rows of B than a job holds cannot run (``TooLargeError`` says which). Each job's
C capacity is the planner's bound ``sum_i min(products of row i, N)``, so the hardware's
OUTPUT_OVERFLOW check never fires for a plan made here.
"""
from dataclasses import dataclass, field
import math

import numpy as np
import scipy.sparse as sp

from zerotile.rtl.config import TileConfig
from zerotile.rtl.regmap import (DESCRIPTOR_BYTES, DESCRIPTOR_ALIGN, MODE_SPGEMM, MAX_M, MAX_NNZ,
                        FLAG_COLIDX16, SPGEMM_FIELDS)

from .errors import FormatError, TooLargeError
from .operands import as_csr_int8, column_index_dtype
from .planner import Job, pack_descriptor, POISON, _align

__all__ = ["SpgemmPlan", "SpgemmJob", "plan_spgemm", "spgemm_estimate_cycles"]


@dataclass
class SpgemmJob(Job):
    rows: object = None         # the rows of C its rows are (ascending)
    cols: tuple = (0, 0)        # columns c0 .. c1 - 1 of C
    c_region: int = 0           # address of its C region
    capacity: int = 0


@dataclass
class SpgemmPlan:
    config: TileConfig
    shape: tuple                # (M, K, N)
    nnz: int                    # stored entries of A
    b_nnz: int                  # stored entries of B
    base: int
    image: bytearray
    jobs: list = field(default_factory=list)
    c_start: int = 0            # the C regions, one after the other, to ``limit``
    mode: str = "spgemm"
    accumulate: bool = False
    epilogue: object = None
    estimate: int = 0           # cycles, for timeouts

    @property
    def limit(self):
        return self.base + len(self.image)

    @property
    def first_descriptor(self):
        return self.jobs[0].desc_addr

    @property
    def write_regions(self):
        return [(self.c_start, self.limit)]

    @property
    def result_region(self):
        return self.c_start, self.limit - self.c_start

    def unpack_result(self, raw):
        """C (``scipy.sparse.csr_array``, int32) from the C regions read back. Each job's
        rows are checked as the hardware's CSR must be: row pointers from 0, never
        decreasing, within the capacity; column indices strictly increasing in each row and
        inside the job's columns (``ValueError`` otherwise)."""
        raw = bytes(raw)
        m, _, n = self.shape
        rows, cols, vals = [], [], []
        pad = self.config.spgemm_pad
        for job in self.jobs:
            c0, c1 = job.cols
            off = job.c_region - self.c_start
            mj = len(job.rows)
            ptr = np.frombuffer(raw, "<i4", mj + 1, off).astype(np.int64)
            cap = job.capacity
            col_off = off + _pad(mj + 1, pad) * 4
            if ptr[0] != 0 or np.any(np.diff(ptr) < 0) or ptr[-1] > cap:
                raise ValueError(f"job at 0x{job.desc_addr:x}: C's row pointers are not "
                                 f"a CSR's (first {ptr[0]}, last {ptr[-1]}, capacity {cap})")
            nz = int(ptr[-1])
            idx = np.frombuffer(raw, "<i4", nz, col_off).astype(np.int64)
            val = np.frombuffer(raw, "<i4", nz, col_off + cap * 4)
            row_of = np.repeat(np.arange(mj), np.diff(ptr))
            same_row = row_of[1:] == row_of[:-1]
            if np.any(same_row & (np.diff(idx) <= 0)):
                i = int(np.argmax(same_row & (np.diff(idx) <= 0)))
                raise ValueError(f"job at 0x{job.desc_addr:x}: row {job.rows[row_of[i]]} of C has "
                                 f"column {idx[i + 1]} after {idx[i]} (not sorted, or twice)")
            if nz and (idx.min() < 0 or idx.max() >= c1 - c0):
                raise ValueError(f"job at 0x{job.desc_addr:x}: a column index of C is outside "
                                 f"0..{c1 - c0 - 1}")
            rows.append(np.asarray(job.rows)[row_of])
            cols.append(idx + c0)
            vals.append(val)
        coo = sp.coo_array((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
                           shape=(m, n))
        c = coo.tocsr()
        c.sort_indices()
        return sp.csr_array((c.data.astype(np.int32), c.indices.astype(np.int32),
                             c.indptr.astype(np.int32)), shape=(m, n))


def _pad(x, unit):
    return (x + unit - 1) // unit * unit


def spgemm_estimate_cycles(a_rows, b_rows_nnz, config):
    """Rough cycles of one job (for timeouts): its products, its B load, two per row."""
    pp = int(b_rows_nnz[a_rows.indices].sum()) if a_rows.nnz else 0
    return pp * 2 + 3 * int(b_rows_nnz.sum()) + len(b_rows_nnz) + 4 * a_rows.shape[0] + 200


def distinct_ratio(a, b, rows=512):
    """Nonzeros of the structure of ``A @ B`` per partial product, measured on up to ``rows``
    evenly spaced rows of A (1.0 when nothing merges; far less for banded matrices)."""
    pick = np.unique(np.linspace(0, a.shape[0] - 1, min(rows, a.shape[0])).astype(np.int64))
    a_s = sp.csr_array(a[pick])
    a_s.data = np.ones_like(a_s.data, dtype=np.int64)
    b_pat = sp.csr_array(b, copy=True)
    b_pat.data = np.ones_like(b_pat.data, dtype=np.int64)
    products = int((a_s @ np.diff(b_pat.indptr).astype(np.int64)).sum())
    return (a_s @ b_pat).nnz / products if products else 1.0


def spgemm_job_cost(a_blk, b_blk, config, ratio=1.0, index_bytes=2):
    """Cycles one SpGEMM job is expected to take, to compare plans: loading B's CSR
    (``index_bytes`` a column index, int8 values, int32 row pointers, at the bus's rate) and
    reading A's, then the longer of the walk (a B row of n entries spans about (n + L/2 - 1) / (L/2) words, at
    least one cycle) and the write-out (``ratio`` entries of C per product, a cycle each, and
    a few cycles plus one per 32-column group a row)."""
    bus = config.bus_bytes
    b_rows_nnz = np.diff(b_blk.indptr).astype(np.int64)
    load = (b_blk.nnz * (1 + index_bytes) + (b_blk.shape[0] + 1) * 4) / bus
    read_a = (a_blk.nnz * (1 + index_bytes) + (a_blk.shape[0] + 1) * 4) / bus
    per_word = config.spgemm_products_per_cycle
    ranges = b_rows_nnz[a_blk.indices]
    walk = np.maximum((ranges + per_word - 1) / per_word, 1).sum() + a_blk.shape[0]
    out = ratio * ranges.sum() + a_blk.shape[0] * (3 + -(-b_blk.shape[1] // 32))
    return load + read_a + max(walk, out) + 100


def _row_blocks(a, b_tile, config, row_ids):
    """[(r0, r1, B rows used in first-use order)]: consecutive rows of A whose B rows fit
    (``row_ids``: the rows of the product A's rows are, for messages)."""
    m = a.shape[0]
    b_tile_cols = f"0..{b_tile.shape[1] - 1} of the tile"
    b_nnz = np.diff(b_tile.indptr)
    max_rows, max_nnz = config.spgemm_max_b_rows, config.spgemm_max_b_nnz
    if b_tile.shape[0] <= max_rows and b_tile.nnz <= max_nnz and m <= MAX_M and \
            a.nnz <= MAX_NNZ:
        return [(0, m, None)]
    blocks = []
    r0 = 0
    while r0 < m:
        seen = {}
        entries = 0
        r = r0
        while r < m:
            new = [int(k) for k in dict.fromkeys(a.indices[a.indptr[r]:a.indptr[r + 1]])
                   if int(k) not in seen]
            add = int(b_nnz[new].sum()) if new else 0
            if (len(seen) + len(new) > max_rows or entries + add > max_nnz or
                    r - r0 >= MAX_M or a.indptr[r + 1] - a.indptr[r0] > MAX_NNZ):
                break
            for k in new:
                seen[k] = len(seen)
            entries += add
            r += 1
        if r == r0:
            row = np.unique(a.indices[a.indptr[r]:a.indptr[r + 1]])
            raise _RowTooBig(
                f"row {row_ids[r]} of A uses {len(row)} rows of B holding "
                f"{int(b_nnz[row].sum())} entries (in columns {b_tile_cols}); one SpGEMM job "
                f"holds at most {max_rows} rows and {max_nnz} entries of B", len(row))
        blocks.append((r0, r, np.fromiter(seen, dtype=np.int64, count=len(seen))))
        r0 = r
    return blocks


class _RowTooBig(Exception):
    def __init__(self, message, rows):
        super().__init__(message)
        self.rows = rows


def _jobs(a, b, width, config):
    """[(rows of C, c0, c1, A block, B block)]: the jobs of ``A @ B`` in column tiles of
    ``width`` (``_RowTooBig`` when a row of A does not fit one job)."""
    m, k = a.shape
    n = b.shape[1]
    specs = []
    a_pattern = a.copy()
    a_pattern.data = np.ones_like(a_pattern.data, dtype=np.int64)
    for c0 in range(0, n, width):
        c1 = min(n, c0 + width)
        b_tile = b[:, c0:c1].tocsr() if (c0, c1) != (0, n) else b
        # with several tiles, only the rows of A with a product in this tile (the others have
        # no entry here); a tile without any is skipped (a product of zeros still gets a job)
        live = np.flatnonzero(a_pattern @ (np.diff(b_tile.indptr) > 0).astype(np.int64)) \
            if width < n else np.arange(m)
        if len(live) == 0:
            if specs or c1 < n:
                continue
            live = np.arange(m)
        a_rows = sp.csr_array(a[live]) if len(live) < m else a
        for r0, r1, used in _row_blocks(a_rows, b_tile, config, live):
            a_blk = a_rows[r0:r1] if (r0, r1) != (0, len(live)) else a_rows
            if used is None:
                b_blk = b_tile
            else:
                renumber = np.full(k, -1, dtype=np.int64)
                renumber[used] = np.arange(len(used))
                a_blk = sp.csr_array((a_blk.data, renumber[a_blk.indices].astype(np.int32),
                                      a_blk.indptr), shape=(r1 - r0, max(len(used), 1)))
                b_blk = b_tile[used] if len(used) else sp.csr_array((1, c1 - c0), dtype=np.int8)
            specs.append((live[r0:r1], c0, c1, sp.csr_array(a_blk), sp.csr_array(b_blk)))
    return specs


def plan_spgemm(a, b, *, config=None, base=0x1000, column_index_bytes=2, capacity=None):
    """Validate A (M x K) and B (K x N), int8, scipy.sparse or dense, and lay out the SpGEMM
    jobs of ``C = A @ B``. ``capacity`` overrides each job's C capacity (entries; tests of the
    overflow check)."""
    config = config or TileConfig()
    if not config.has_spgemm:
        raise TooLargeError(f"this tile has no SpGEMM engine (it needs spgemm_cols > 0, "
                            f"pes >= 4 and lanes >= 4; it has {config.spgemm_cols}, "
                            f"{config.pes}, {config.lanes})")
    column_index_dtype(column_index_bytes)           # validates it
    if base % DESCRIPTOR_ALIGN:
        raise FormatError(f"base 0x{base:x} is not {DESCRIPTOR_ALIGN}-byte aligned")
    a = sp.csr_array(as_csr_int8("A", a))
    b = sp.csr_array(as_csr_int8("B", b))
    m, k = a.shape
    if b.shape[0] != k:
        raise FormatError(f"A is {m}x{k} but B is {b.shape[0]}x{b.shape[1]}: inner "
                          f"dimensions differ ({k} != {b.shape[0]})")
    n = b.shape[1]
    if min(m, k, n) == 0:
        raise FormatError(f"empty product: A is {m}x{k}, B is {k}x{n}")
    # a job's A column indices are below its K (B's rows it holds, renumbered in row blocks)
    if column_index_bytes == 2 and min(k, config.spgemm_max_b_rows) > 65536:
        column_index_bytes = 4
    pad = config.spgemm_pad
    width = min(config.spgemm_cols, n)
    while True:
        try:
            specs = _jobs(a, b, width, config)
            break
        except _RowTooBig as e:
            # a row of A whose B rows hold too many entries: narrower column tiles hold fewer
            if e.rows > config.spgemm_max_b_rows or width == 1:
                raise TooLargeError(str(e)) from None
            width = (width + 1) // 2
    # Row blocks load B once each (the rows they use): when B is cut into many, narrower
    # column tiles (each with fewer of B's entries, so fewer or no row blocks) can cost
    # less, at the price of reading A's live rows once per tile. Keep the cheapest by
    # ``spgemm_job_cost`` until a width needs no row blocks.
    # A narrower plan must win clearly (by a tenth): the model is rough (measured against it
    # on the shared matrices' multi-job products: 0.65-1.21 of its estimate, but the ranking
    # of plans held wherever the estimates differed by more than a tenth).
    if len(specs) > len({blk[1] for blk in specs}):
        ratio = distinct_ratio(a, b)

        def plan_cost(jobs):
            return sum(spgemm_job_cost(blk[3], blk[4], config, ratio, column_index_bytes)
                       for blk in jobs)
        cost = plan_cost(specs)
        while width > 16 and len(specs) > len({blk[1] for blk in specs}):
            width = (width + 1) // 2
            try:
                narrower = _jobs(a, b, width, config)
            except _RowTooBig:
                continue
            narrower_cost = plan_cost(narrower)
            if narrower_cost < 0.9 * cost:
                specs, cost = narrower, narrower_cost


    layout = {}
    cursor = base

    def alloc(name, nbytes):
        nonlocal cursor
        layout[name] = cursor
        cursor = _align(cursor + max(nbytes, 1))

    alloc("descriptors", len(specs) * DESCRIPTOR_BYTES)
    caps = []
    estimate = 0
    for i, (rows, c0, c1, a_blk, b_blk) in enumerate(specs):
        mj = len(rows)
        alloc(f"a_rowptr{i}", (mj + 1) * 4)
        alloc(f"a_colidx{i}", a_blk.nnz * column_index_bytes)
        alloc(f"a_values{i}", a_blk.nnz)
        alloc(f"b_rowptr{i}", (b_blk.shape[0] + 1) * 4)
        alloc(f"b_colidx{i}", b_blk.nnz * column_index_bytes)
        alloc(f"b_values{i}", b_blk.nnz)
        b_rows_nnz = np.diff(b_blk.indptr).astype(np.int64)
        # the bound: each row has at most min(its products, N) entries
        row_of = np.repeat(np.arange(mj), np.diff(a_blk.indptr))
        per_row = np.bincount(row_of, weights=b_rows_nnz[a_blk.indices],
                              minlength=mj).astype(np.int64)
        bound = int(np.minimum(per_row, c1 - c0).sum())
        caps.append(_pad(bound, pad) if capacity is None else capacity)
        estimate += spgemm_estimate_cycles(a_blk, b_rows_nnz, config)
    c_start = cursor
    for i, (rows, *_rest) in enumerate(specs):
        alloc(f"c{i}", _pad(len(rows) + 1, pad) * 4 + 8 * caps[i])
    image = bytearray(cursor - base)
    image[c_start - base:] = bytes([POISON]) * (cursor - c_start)

    def put(addr, arr):
        raw = np.ascontiguousarray(arr).tobytes()
        image[addr - base:addr - base + len(raw)] = raw

    index_dtype = column_index_dtype(column_index_bytes)     # A's and B's
    p = SpgemmPlan(config=config, shape=(m, k, n), nnz=int(a.nnz), b_nnz=int(b.nnz),
                   base=base, image=image, c_start=c_start, estimate=estimate)
    for i, (rows, c0, c1, a_blk, b_blk) in enumerate(specs):
        put(layout[f"a_rowptr{i}"], a_blk.indptr.astype("<i4"))
        put(layout[f"a_colidx{i}"], a_blk.indices.astype(index_dtype))
        put(layout[f"a_values{i}"], a_blk.data.astype(np.int8))
        put(layout[f"b_rowptr{i}"], b_blk.indptr.astype("<i4"))
        put(layout[f"b_colidx{i}"], b_blk.indices.astype(index_dtype))
        put(layout[f"b_values{i}"], b_blk.data.astype(np.int8))
        desc_addr = layout["descriptors"] + i * DESCRIPTOR_BYTES
        fields = {
            "MODE": MODE_SPGEMM,
            "NEXT": desc_addr + DESCRIPTOR_BYTES if i + 1 < len(specs) else 0,
            "M": len(rows), "K": b_blk.shape[0], "N": c1 - c0, "NNZ": a_blk.nnz,
            "A_ROWPTR": layout[f"a_rowptr{i}"], "A_COLIDX": layout[f"a_colidx{i}"],
            "A_VALUES": layout[f"a_values{i}"],
            "B_ROWPTR": layout[f"b_rowptr{i}"], "B_COLIDX": layout[f"b_colidx{i}"],
            "B_VALUES": layout[f"b_values{i}"], "B_NNZ": b_blk.nnz,
            "C_ADDR": layout[f"c{i}"], "C_CAPACITY": caps[i],
            "FLAGS": FLAG_COLIDX16 if column_index_bytes == 2 else 0,
        }
        put(desc_addr, pack_descriptor(fields))
        p.jobs.append(SpgemmJob(desc_addr, fields, rows=rows, cols=(c0, c1),
                                c_region=layout[f"c{i}"], capacity=caps[i]))
    return p
