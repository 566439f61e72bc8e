"""The planner: turns ``C = A @ B`` into a DRAM image and a chain of job descriptors.

Memory layout, from ``base`` upwards, every array starting on a 64-byte boundary:

1. the descriptors (64 bytes each, chained through NEXT);
2. A: CSR as int32 row pointers (M+1), uint16 column indices (nnz; descriptor
   FLAGS.COLIDX16: a job is at most 65,536 columns deep), int8 values (nnz);
   dense as M*K int8, row-major;
3. B tiles: K rows of ``chunks * L`` int8, columns beyond N zero-padded, one per column tile
   and distinct set of B rows a job uses;
4. C: M rows of ``ceil(N/L) * L`` int32 (row stride a multiple of ``4*L`` bytes), prefilled
   with a poison pattern so a row the hardware never wrote shows up as a mismatch.

Cuts (``csr_tiling`` for CSR, chosen to move the fewest bytes):

* column tiles: B wider than one job can hold (``max_chunks * L`` columns, fewer when K is
  deep) is split into column tiles; A is read once per tile;
* row blocks: A beyond one job's limits (more than 65,535 rows, more than 2^22 - 1 stored
  entries, a dense stream of 256 MiB) is split into blocks of rows, each with its own arrays
  (row pointers rebased to 0);
* column windows (CSR, K deeper than a scratchpad bank): each job takes the consecutive rows
  whose columns fit the scratchpad together, with its own copy of just those rows of B (in the
  order the rows first use them) and A's column indices renumbered to match. A's rows are
  reordered (reverse Cuthill-McKee) when that lets more rows share columns; C is then laid out
  in that row order (``Plan.row_order``; ``Plan.unpack_c`` puts it back). B rows shared by
  neighbouring windows are read once per window;
* K slabs (dense A deeper than a bank, or a CSR row with more entries than a bank holds): the
  jobs of the second and later slabs accumulate into C (descriptor FLAGS.ACCUMULATE: the
  hardware reads each C chunk back and adds), reading and rewriting C once more each.

One job per (part of A, column tile), chained in that order. With ``c`` given, every job
accumulates into it.
"""
from dataclasses import dataclass, field
import math

import numpy as np
import scipy.sparse as sp

from zerotile.rtl.config import TileConfig
from zerotile.rtl.regmap import (DESC, DESCRIPTOR_BYTES, DESCRIPTOR_ALIGN, MODE_DENSE, MODE_CSR, MAX_M,
                        FLAG_ACCUMULATE, FLAG_COLIDX16, FLAG_EPILOGUE, EPILOGUE_PARAM_BYTES,
                        MAX_NNZ, MAX_DENSE_A_BYTES, SPGEMM_FIELDS)

from .errors import FormatError, TooLargeError
from .operands import as_csr_int8, as_dense_int8, column_index_dtype
from .requant import Requant

__all__ = ["Job", "Plan", "plan", "pack_descriptor", "estimate_cycles", "choose_mode",
           "check_size", "image_bytes", "row_blocks", "first_touch_order", "POISON"]

POISON = 0xA5
MODES = ("auto", "dense", "csr")


def result_padding(config):
    """(C, int8 output) bytes allocated after each result region: one bus word where its
    chunks (L int32, L int8) are narrower than the bus. Such a chunk is written as one strobed
    beat whose AXI extent runs to the end of its bus word, and the hardware checks each
    row's extent against the window as the row's start plus its chunks rounded up to whole
    bus words (found by the configs campaign: P2-L2-bus256 refused int8 outputs ending at
    the window's limit)."""
    bb, L = config.bus_bytes, config.lanes
    return (bb if 4 * L < bb else 0), (bb if L < bb else 0)


def _align(x, a=DESCRIPTOR_ALIGN):
    return (x + a - 1) // a * a


@dataclass
class Job:
    """One descriptor: columns ``col0 .. col0+n-1`` of C."""
    desc_addr: int
    fields: dict


@dataclass
class Plan:
    config: TileConfig
    mode: str                 # "dense" or "csr"
    shape: tuple              # (M, K, N)
    nnz: int
    base: int
    image: bytearray          # bytes from ``base`` to ``limit``
    jobs: list = field(default_factory=list)
    c_addr: int = 0
    c_stride: int = 0
    accumulate: bool = False  # C = C + A @ B (the old C was given)
    column_order: object = None   # CSR: A's columns / B's rows as laid out (order[new] = old)
    row_order: object = None      # C's rows as laid out, when reordered (order[new] = old)
    epilogue: object = None   # Requant: the result is int8, at q_addr (q_stride = c_stride / 4)
    q_addr: int = 0
    c_used: bool = True       # the int32 C region exists (without the epilogue, or as the
                              # partial sums of K slabs / the old C it accumulates)

    @property
    def limit(self):
        return self.base + len(self.image)

    @property
    def first_descriptor(self):
        return self.jobs[0].desc_addr

    @property
    def c_bytes(self):
        return self.shape[0] * self.c_stride

    @property
    def q_stride(self):
        return self.c_stride // 4

    @property
    def q_bytes(self):
        return self.shape[0] * self.q_stride if self.epilogue is not None else 0

    @property
    def write_regions(self):
        """[(start, end)]: the only DRAM the chain may write (the bus monitors check it),
        with the padding ``result_padding`` allocates after each result."""
        c_pad, q_pad = result_padding(self.config)
        regions = [(self.c_addr, self.c_addr + self.c_bytes + c_pad)] if self.c_used else []
        if self.epilogue is not None:
            regions.append((self.q_addr, self.q_addr + self.q_bytes + q_pad))
        return regions

    @property
    def result_region(self):
        """(address, bytes) of the result: the int8 output with the epilogue, else C."""
        if self.epilogue is not None:
            return self.q_addr, self.q_bytes
        return self.c_addr, self.c_bytes

    def unpack_result(self, raw):
        """The result (M x N: int8 with the epilogue, int32 otherwise) from the bytes of
        ``result_region`` read back from DRAM."""
        return self.unpack_c(raw) if self.epilogue is None else self._unpack(raw, "i1",
                                                                            self.q_stride)

    def unpack_c(self, raw):
        """C (M x N int32) from the bytes of the C region read back from DRAM."""
        return self._unpack(raw, "<i4", self.c_stride // 4)

    def _unpack(self, raw, dtype, row_elems):
        m, _, n = self.shape
        itemsize = np.dtype(dtype).itemsize
        if len(raw) != m * row_elems * itemsize:
            raise ValueError(f"result region is {m * row_elems * itemsize} bytes, "
                             f"got {len(raw)}")
        laid = np.frombuffer(bytes(raw), dtype=dtype).reshape(m, row_elems)[:, :n]
        if self.row_order is None:
            return laid.copy()
        c = np.empty_like(laid)
        c[self.row_order] = laid
        return c


def choose_mode(modes, m, k, n, nnz, config):
    """The "auto" rule: of the modes that can take the job, the one with the lower
    ``estimate_cycles``."""
    return min(modes, key=lambda md: estimate_cycles(md, m, k, n, nnz, config))


def estimate_cycles(mode, m, k, n, nnz, config):
    """A rough cycle estimate used to pick the mode: never below ``golden``'s proven bound
    for the same product (int32 C, no accumulate), since each of its terms is at least the
    bound's: compute, reads over the read channel, C over the write channel."""
    chunks = math.ceil(n / config.lanes)
    # The scanner deals one entry per cycle (plus one per row); each PE takes ``chunks``
    # cycles per entry, so the array sustains min(1, P / chunks) entries per cycle.
    entries = (m * k if mode == "dense" else nnz) + m
    compute = entries * max(1.0, chunks / config.pes)
    a_bytes = m * k if mode == "dense" else 3 * nnz + 4 * (m + 1)
    reads = math.ceil((a_bytes + k * chunks * config.lanes) / config.bus_bytes)
    writes = math.ceil(m * chunks * config.lanes * 4 / config.bus_bytes)   # C, int32, chunks
    return max(compute, reads, writes)


def row_blocks(mode, indptr, k):
    """[(first row, end row)]: consecutive rows, each block within one job's limits (at most
    MAX_M rows; CSR: at most MAX_NNZ stored entries; dense: M x K below the 256 MiB stream)."""
    m = len(indptr) - 1
    max_rows = MAX_M if mode == "csr" else min(MAX_M, (MAX_DENSE_A_BYTES - 1) // k)
    blocks, r0 = [], 0
    while r0 < m:
        r1 = min(m, r0 + max_rows)
        if mode == "csr" and indptr[r1] - indptr[r0] > MAX_NNZ:
            # the last row whose end keeps the block within MAX_NNZ entries
            r1 = int(np.searchsorted(indptr, indptr[r0] + MAX_NNZ, side="right")) - 1
        blocks.append((r0, r1))
        r0 = r1
    return blocks


def image_bytes(mode, m, k, n, nnz, config):
    """Bytes of DRAM a plan of this shape occupies (an upper bound), computed without
    allocating anything."""
    L = config.lanes
    chunks = math.ceil(n / L)
    c_row = math.ceil(chunks * L * 4 / config.bus_bytes) * config.bus_bytes
    if mode == "csr":
        # windows: each part but a block's last closes on more than ``cap`` columns used by
        # it and the next row, so parts <= 2 nnz / cap (+ slabs of wide rows, + blocks at
        # the per-job limits); each part's B rows are columns its entries use (or one).
        cap = max(1, config.b_words // math.ceil(min(chunks, config.max_chunks) / config.pes))
        cap = min(cap, config.max_k)
        parts = 3 * math.ceil(nnz / cap) + math.ceil(m / MAX_M) + math.ceil(nnz / MAX_NNZ) + 2
        tiles = chunks
        a = 4 * (m + parts) + 3 * nnz + 3 * parts * DESCRIPTOR_ALIGN
        b = (k + nnz + parts) * chunks * L + tiles * parts * DESCRIPTOR_ALIGN
    else:
        slabs = math.ceil(k / config.max_k)
        depth = min(k, config.max_k)
        tiles = math.ceil(n / (max(1, config.chunks_fitting(depth)) * L))
        blocks = math.ceil(m / max(1, min(MAX_M, (MAX_DENSE_A_BYTES - 1) // depth)))
        parts = blocks * slabs
        a = m * k + parts * DESCRIPTOR_ALIGN
        b = k * chunks * L + tiles * slabs * DESCRIPTOR_ALIGN
    # C, and with the epilogue its int8 output and parameters (counted whether used or not)
    q = m * c_row // 4 + m * EPILOGUE_PARAM_BYTES + parts * DESCRIPTOR_ALIGN
    return parts * tiles * DESCRIPTOR_BYTES + a + b + m * c_row + q + 4 * DESCRIPTOR_ALIGN


def check_size(m, k, n, nnz, *, mode="auto", config=None, base=0x1000):
    """Reject, before anything is allocated, a product the hardware cannot run: returns the
    modes that can take it (``mode`` itself unless it is "auto"); raises ``TooLargeError``
    naming the limit otherwise."""
    config = config or TileConfig()
    if mode not in MODES:
        raise FormatError(f"mode must be one of {', '.join(MODES)}, not {mode!r}")
    modes = ["dense", "csr"] if mode == "auto" else [mode]
    need = {md: image_bytes(md, m, k, n, nnz, config) for md in modes}
    ok = [md for md in modes if base + need[md] <= 1 << config.addr_bits]
    if not ok:
        least = min(need.values())
        raise TooLargeError(f"A.B of {m}x{k} by {k}x{n} needs {least / 2**30:.1f} GiB of DRAM "
                            f"(C alone is {m}x{n} int32); the accelerator addresses "
                            f"{2 ** (config.addr_bits - 30)} GiB")
    return ok


def first_touch_order(a_csr):
    """The columns of a CSR ``A`` in the order of their first stored entry (rows in order,
    entries in stored order), then the columns no entry uses: ``order[new] = old``."""
    k = a_csr.shape[1]
    used, first = np.unique(a_csr.indices, return_index=True)
    unused = np.setdiff1d(np.arange(k), used, assume_unique=True)
    return np.concatenate([used[np.argsort(first, kind="stable")], unused]).astype(np.int64)


def k_slabs(k, config):
    """[(first row of B, end row)]: a dense B deeper than the scratchpad takes in slabs; the
    jobs of the second and later slabs accumulate into C."""
    depth = min(k, config.max_k)
    return [(k0, min(k, k0 + depth)) for k0 in range(0, k, depth)]


@dataclass
class Part:
    """The A of one job: rows ``r0 .. r1 - 1`` of A as laid out (``Plan.row_order``), and the
    columns ``cols`` of A (original numbering) that are the job's B rows, in the order they
    are laid out; ``a`` is that part of A with its columns renumbered ``0 .. len(cols) - 1``.
    ``first``: the first part of its rows (writes C; the others accumulate into it)."""
    r0: int
    r1: int
    cols: np.ndarray
    a: object
    first: bool


def _first_touch(indices):
    """The distinct values of ``indices`` in the order of their first occurrence."""
    used, first = np.unique(indices, return_index=True)
    return used[np.argsort(first, kind="stable")]


def _pattern_rcm(a_csr):
    """Reverse Cuthill-McKee order of A's rows (on the pattern of A + A^T when square, of the
    bipartite row/column graph otherwise): rows that share columns end up close together."""
    from scipy.sparse.csgraph import reverse_cuthill_mckee
    m, k = a_csr.shape
    pat = sp.csr_matrix((np.ones(a_csr.nnz, np.int8), a_csr.indices, a_csr.indptr), shape=(m, k))
    if m == k:
        graph = (pat + pat.T).tocsr()
    else:
        graph = sp.bmat([[None, pat], [pat.T, None]]).tocsr()
    order = reverse_cuthill_mckee(graph, symmetric_mode=True)
    return order[order < m].astype(np.int64)


def column_windows(indptr, indices, k, cap):
    """[(first row, end row)]: consecutive rows of a CSR A grouped so that each group uses at
    most ``cap`` distinct columns (a row using more is a group of its own), within one job's
    limits (MAX_M rows, MAX_NNZ entries)."""
    m = len(indptr) - 1
    stamp = np.full(k, -1, dtype=np.int64)
    blocks, r0, used, block = [], 0, 0, 0
    for r in range(m):
        cols = indices[indptr[r]:indptr[r + 1]]
        new = cols[stamp[cols] != block]
        if r > r0 and (used + len(new) > cap or r - r0 >= MAX_M
                       or indptr[r + 1] - indptr[r0] > MAX_NNZ):
            blocks.append((r0, r))
            block, r0, used, new = block + 1, r, 0, cols
        stamp[new] = block
        used += len(new)
    blocks.append((r0, m))
    return blocks


def _csr_parts(a_csr, blocks, cap):
    """The parts (``Part``) of a windowed CSR plan: per block its columns in first-touch order,
    in slabs of at most ``cap`` (only a row with more than ``cap`` entries needs several)."""
    parts = []
    for r0, r1 in blocks:
        rows = a_csr[r0:r1]
        cols = _first_touch(rows.indices)
        if len(cols) == 0:
            cols = np.zeros(1, dtype=np.int64)          # an all-empty block: a zero B row
        local = np.empty(a_csr.shape[1], dtype=np.int64)
        local[cols] = np.arange(len(cols))
        renum = sp.csr_array((rows.data.copy(), local[rows.indices], rows.indptr.copy()),
                             shape=(r1 - r0, len(cols)))
        for s, c0 in enumerate(range(0, len(cols), cap)):
            c1 = min(len(cols), c0 + cap)
            part = sp.csr_array(renum[:, c0:c1]) if (c0, c1) != (0, len(cols)) else renum
            if s > 0 and part.nnz == 0:
                continue                                 # adds nothing to C
            part.sort_indices()
            parts.append(Part(r0, r1, cols[c0:c1], part, s == 0))
    return parts


def _traffic(parts, tiles, m, nnz, config):
    """Bytes a CSR plan moves: A once per column tile, each part's B rows, C written once and
    read and written again by every part after a block's first."""
    L = config.lanes
    width = sum(math.ceil(nj / L) * L for _, nj in tiles)
    a = len(tiles) * (3 * nnz + 4 * (m + len(parts)))
    b = width * sum(len(p.cols) for p in parts)
    c = 4 * width * (m + 2 * sum(p.r1 - p.r0 for p in parts if not p.first))
    return a + b + c


def csr_tiling(a_csr, n, config, keep_columns=False):
    """Choose how a CSR ``A`` (M x K, K x N of B) is cut into jobs, minimising the bytes moved:
    returns ``(row_order, column_order, parts, tiles)``.

    * If K fits one bank at the widest column tile, A keeps its rows, its columns are renumbered
      in first-touch order (B loads in the order the rows need it) and the only cuts are row
      blocks at the per-job limits; ``tiles`` are the column tiles ``(first column, width)``.
    * Otherwise each job takes the rows whose columns fit the scratchpad together (its B rows
      are copied out in the order the rows first use them): rows of A are reordered (reverse
      Cuthill-McKee) when that makes neighbouring rows share more columns, and C is laid out in
      that order. Or, when rows share few columns under either order, K slabs over all rows
      (every slab after the first re-reads and rewrites C). The plan and column-tile width
      are the ones with the least traffic (wider tiles read A fewer times, narrower ones leave
      room for more columns per job)."""
    m, k = a_csr.shape
    L = config.lanes
    full = math.ceil(n / L)
    widest = min(full, config.max_chunks)

    def tiles_of(chunks):
        cols = chunks * L
        return [(c0, min(cols, n - c0)) for c0 in range(0, n, cols)]

    # A's columns (and B's rows) in first-touch order: B loads in the order rows need it
    # (``keep_columns``: in their own order, for a B already in DRAM)
    column_order = np.arange(k) if keep_columns else first_touch_order(a_csr)
    new_index = np.empty(k, dtype=np.int64)
    new_index[column_order] = np.arange(k)
    a_ft = sp.csr_array((a_csr.data.copy(), new_index[a_csr.indices], a_csr.indptr.copy()),
                        shape=(m, k))
    a_ft.sort_indices()
    if config.chunks_fitting(k) >= widest:
        parts = [Part(r0, r1, column_order, sp.csr_array(a_ft[r0:r1]), True)
                 for r0, r1 in row_blocks("csr", a_ft.indptr, k)]
        return None, column_order, parts, tiles_of(widest)
    if keep_columns:
        raise TooLargeError(f"a B already in DRAM must fit the scratchpad: K = {k} at "
                            f"{n} columns needs {widest} chunks of {config.lanes}, "
                            f"{config.chunks_fitting(k)} fit")

    # K slabs over all rows (the fallback when rows share few columns under any order)
    candidates = []
    chunk_options = sorted({min(widest, 1 << i) for i in range(widest.bit_length() + 1)})
    for chunks in chunk_options:
        cap = min(config.max_k, config.b_words // math.ceil(chunks / config.pes))
        parts = []
        for r0, r1 in row_blocks("csr", a_ft.indptr, cap):
            for k0 in range(0, k, cap):
                k1 = min(k, k0 + cap)
                part = sp.csr_array(a_ft[r0:r1, k0:k1])
                if k0 == 0 or part.nnz:
                    parts.append(Part(r0, r1, column_order[k0:k1], part, k0 == 0))
        tiles = tiles_of(chunks)
        candidates.append((_traffic(parts, tiles, m, a_csr.nnz, config), len(parts) * len(tiles),
                           None, parts, tiles))
    for row_order in (None, "rcm"):
        if row_order == "rcm":
            best = min(candidates[len(chunk_options):], key=lambda c: c[0])
            # natural order already keeps B reloads low: no reason to move C's rows
            if best[0] <= 1.02 * _traffic([Part(0, m, np.arange(k), None, True)],
                                          best[4], m, a_csr.nnz, config):
                break
            row_order = _pattern_rcm(a_csr)
            a = sp.csr_array(a_csr[row_order])
        else:
            a = a_csr
        for chunks in chunk_options:
            cap = min(config.max_k, config.b_words // math.ceil(chunks / config.pes))
            parts = _csr_parts(a, column_windows(a.indptr, a.indices, k, cap), cap)
            tiles = tiles_of(chunks)
            candidates.append((_traffic(parts, tiles, m, a_csr.nnz, config), len(parts) *
                               len(tiles), row_order, parts, tiles))
    traffic, _, row_order, parts, tiles = min(candidates, key=lambda c: (c[0], c[1]))
    return row_order, None, parts, tiles


def _split_rows(parts, max_rows):
    """Parts of at most ``max_rows`` rows (the epilogue's parameter memory)."""
    out = []
    for part in parts:
        for r0 in range(part.r0, part.r1, max_rows):
            r1 = min(part.r1, r0 + max_rows)
            if (r0, r1) == (part.r0, part.r1):
                out.append(part)
                continue
            a = part.a[r0 - part.r0:r1 - part.r0]
            out.append(Part(r0, r1, part.cols, sp.csr_array(a) if sp.issparse(part.a) else a,
                            part.first))
    return out


def plan(a, b, *, c=None, config=None, mode="auto", base=0x1000, column_index_bytes=2,
         epilogue=None, b_in_dram=None):
    """Validate ``A`` (ndarray or scipy.sparse) and ``B`` (ndarray) and lay out the jobs of
    ``C = A @ B``, or with ``c`` (M x N int32, the old C) of ``C = C + A @ B``.

    ``column_index_bytes``: CSR column indices as uint16 (2, FLAGS.COLIDX16, the default: 3
    bytes per nonzero) or int32 (4).

    ``epilogue`` (``Requant``, M rows): the result is int8, finished in hardware (FLAGS.EPILOGUE
    on each row's last job; earlier K slabs keep int32 partial sums in C), at ``Plan.q_addr``
    in C's layout with 1-byte elements: rows of ``ceil(N/L) * L`` bytes (with the default bus),
    exactly the B of a next layer.

    ``b_in_dram=(address, n)`` (with ``b=None``): B is already in DRAM at that address, K rows
    of ``ceil(n/L) * L`` int8 (a previous layer's int8 output); nothing is copied. B must then
    fit one column tile, and A's columns keep their order."""
    config = config or TileConfig()
    index_dtype = column_index_dtype(column_index_bytes)
    if mode not in MODES:
        raise FormatError(f"mode must be one of {', '.join(MODES)}, not {mode!r}")
    if base % DESCRIPTOR_ALIGN:
        raise FormatError(f"base 0x{base:x} is not {DESCRIPTOR_ALIGN}-byte aligned")
    a_csr = as_csr_int8("A", a)
    m, k = a_csr.shape
    if b_in_dram is not None:
        if b is not None:
            raise FormatError("give B or b_in_dram, not both")
        b_addr_in, n = b_in_dram
        if b_addr_in % DESCRIPTOR_ALIGN:
            raise FormatError(f"B in DRAM at 0x{b_addr_in:x} is not {DESCRIPTOR_ALIGN}-byte "
                              f"aligned")
    else:
        b = as_dense_int8("B", b)
        if b.shape[0] != k:
            raise FormatError(f"A is {m}x{k} but B is {b.shape[0]}x{b.shape[1]}: inner "
                              f"dimensions differ ({k} != {b.shape[0]})")
        n = b.shape[1]
    if epilogue is not None:
        if not isinstance(epilogue, Requant):
            raise FormatError(f"epilogue must be a Requant, not {type(epilogue).__name__}")
        if epilogue.rows != m:
            raise FormatError(f"the epilogue has parameters for {epilogue.rows} rows, A has {m}")
    if min(m, k, n) == 0:
        raise FormatError(f"empty product: A is {m}x{k}, B is {b.shape[0]}x{n}")
    if c is not None:
        c = np.asarray(c)
        if c.shape != (m, n):
            raise FormatError(f"C to accumulate into is {c.shape[0]}x{c.shape[1]}, the product "
                              f"is {m}x{n}")
        if c.dtype.kind not in "iu" or (c.size and (c.min() < -2**31 or c.max() >= 2**31)):
            raise FormatError("C to accumulate into must hold int32 integers")
    nnz = int(a_csr.nnz)
    modes = check_size(m, k, n, nnz, mode=mode, config=config, base=base)
    mode = choose_mode(modes, m, k, n, nnz, config)

    L = config.lanes
    row_order = column_order = None
    if mode == "csr":
        row_order, column_order, parts, tiles = csr_tiling(a_csr, n, config,
                                                           keep_columns=b_in_dram is not None)
    else:
        slabs = k_slabs(k, config)
        depth = slabs[0][1]
        cols = config.chunks_fitting(depth) * L
        tiles = [(c0, min(cols, n - c0)) for c0 in range(0, n, cols)]
        dense = a_csr.toarray()
        parts = [Part(r0, r1, np.arange(k0, k1), dense[r0:r1, k0:k1], s == 0)
                 for r0, r1 in row_blocks(mode, a_csr.indptr, depth)
                 for s, (k0, k1) in enumerate(slabs)]
    if epilogue is not None:
        parts = _split_rows(parts, config.epilogue_rows)
    # a C row: whole chunks of L int32, padded to whole bus words (a chunk narrower than the
    # bus is written as one strobed beat, whose bus word must lie inside C)
    c_stride = math.ceil(math.ceil(n / L) * L * 4 / config.bus_bytes) * config.bus_bytes
    # with the epilogue, each row range's last part finishes it into int8; C (int32) is kept
    # only where a range has several parts or the old C is given
    last_of_rows = {(p.r0, p.r1): i for i, p in enumerate(parts)}
    c_used = epilogue is None or c is not None or len(last_of_rows) < len(parts)
    if b_in_dram is not None:
        if len(tiles) > 1:
            raise TooLargeError(f"a B already in DRAM must fit one job's columns: N = {n}, "
                                f"at most {tiles[0][1]}")
        for part in parts:
            if np.any(np.diff(part.cols) != 1):
                raise FormatError("a B already in DRAM is read in place: A's columns must "
                                  "keep their order")

    layout = {}
    cursor = base

    def alloc(name, nbytes):
        nonlocal cursor
        layout[name] = cursor
        cursor = _align(cursor + max(nbytes, 1))

    n_desc = len(parts) * len(tiles)
    alloc("descriptors", n_desc * DESCRIPTOR_BYTES)
    for i, part in enumerate(parts):
        if mode == "csr":
            alloc(f"rowptr{i}", (part.r1 - part.r0 + 1) * 4)
            alloc(f"colidx{i}", part.a.nnz * column_index_bytes)
            alloc(f"values{i}", part.a.nnz)
        else:
            alloc(f"values{i}", part.a.size)
    # B: one copy per column tile and distinct set of B rows (parts of different row blocks
    # share it when they use the same columns)
    b_sets, part_set = {}, []
    for part in parts:
        part_set.append(b_sets.setdefault(part.cols.tobytes(), (len(b_sets), part.cols))[0])
    if b_in_dram is None:
        for j, (_, nj) in enumerate(tiles):
            for s, cols in b_sets.values():
                alloc(f"b{j}.{s}", len(cols) * math.ceil(nj / L) * L)
    c_pad, q_pad = result_padding(config)
    if c_used:
        alloc("c", m * c_stride + c_pad)
    if epilogue is not None:
        for r0, r1 in last_of_rows:
            alloc(f"params{r0}", (r1 - r0) * EPILOGUE_PARAM_BYTES)
        alloc("q", m * c_stride // 4 + q_pad)
    image = bytearray(cursor - base)

    def put(addr, arr):
        raw = np.ascontiguousarray(arr).tobytes()
        image[addr - base:addr - base + len(raw)] = raw

    for i, part in enumerate(parts):
        if mode == "csr":
            put(layout[f"rowptr{i}"], part.a.indptr.astype("<i4"))
            put(layout[f"colidx{i}"], part.a.indices.astype(index_dtype))
            put(layout[f"values{i}"], part.a.data.astype(np.int8))
        else:
            put(layout[f"values{i}"], part.a.astype(np.int8))
    for j, (col0, nj) in enumerate(tiles if b_in_dram is None else []):
        for s, cols in b_sets.values():
            tile = np.zeros((len(cols), math.ceil(nj / L) * L), dtype=np.int8)
            tile[:, :nj] = b[cols, col0:col0 + nj]
            put(layout[f"b{j}.{s}"], tile)
    # without an int32 C region, C_ADDR is only the origin the hardware places the int8
    # output from (Q_ADDR + (C address - C_ADDR) / 4): never read or written
    c0 = layout.get("c", 0)
    q0 = layout.get("q", 0)
    if epilogue is not None:
        image[q0 - base:q0 - base + m * c_stride // 4] = bytes([POISON]) * (m * c_stride // 4)
        for r0, r1 in last_of_rows:
            rows = np.arange(r0, r1) if row_order is None else row_order[r0:r1]
            put(layout[f"params{r0}"], np.frombuffer(epilogue.param_bytes(rows), np.uint8))
    if c_used and c is None:
        image[c0 - base:c0 - base + m * c_stride] = bytes([POISON]) * (m * c_stride)
    elif c_used:
        old = np.zeros((m, c_stride // 4), dtype="<i4")
        old[:, :n] = c if row_order is None else c[row_order]
        put(c0, old)

    p = Plan(config=config, mode=mode, shape=(m, k, n), nnz=nnz, base=base, image=image,
             c_addr=c0, c_stride=c_stride, accumulate=c is not None, column_order=column_order,
             row_order=row_order, epilogue=epilogue, q_addr=q0, c_used=c_used)
    d = 0
    for i, part in enumerate(parts):
        for j, (col0, nj) in enumerate(tiles):
            desc_addr = layout["descriptors"] + d * DESCRIPTOR_BYTES
            d += 1
            fields = {
                "MODE": MODE_CSR if mode == "csr" else MODE_DENSE,
                "NEXT": desc_addr + DESCRIPTOR_BYTES if d < n_desc else 0,
                "M": part.r1 - part.r0, "K": len(part.cols), "N": nj,
                "NNZ": part.a.nnz if mode == "csr" else 0,
                "A_ROWPTR": layout.get(f"rowptr{i}", 0),
                "A_COLIDX": layout.get(f"colidx{i}", 0),
                "A_VALUES": layout[f"values{i}"],
                "B_ADDR": (layout[f"b{j}.{part_set[i]}"] if b_in_dram is None else
                           b_in_dram[0] + int(part.cols[0]) * math.ceil(n / L) * L),
                "C_ADDR": c0 + part.r0 * c_stride + col0 * 4, "C_STRIDE": c_stride,
                "FLAGS": (FLAG_ACCUMULATE if (c is not None or not part.first) else 0) |
                         (FLAG_COLIDX16 if mode == "csr" and column_index_bytes == 2 else 0),
            }
            if epilogue is not None and last_of_rows[(part.r0, part.r1)] == i:
                fields.update(FLAGS=fields["FLAGS"] | FLAG_EPILOGUE,
                              EPI_PARAMS=layout[f"params{part.r0}"],
                              EPI_QUANT=epilogue.quant_word,
                              Q_ADDR=q0 + part.r0 * c_stride // 4 + col0)
            put(desc_addr, pack_descriptor(fields))
            p.jobs.append(Job(desc_addr, fields))
    return p


def pack_descriptor(fields):
    """The 64 bytes of one descriptor (unknown names rejected, reserved words zero)."""
    words = np.zeros(DESCRIPTOR_BYTES // 4, dtype="<u4")
    for name, value in fields.items():
        name = SPGEMM_FIELDS.get(name, name)
        if name not in DESC:
            raise FormatError(f"unknown descriptor field {name!r}")
        if not 0 <= value < (1 << 32):
            raise FormatError(f"descriptor field {name} = {value} does not fit 32 bits")
        words[DESC[name]] = value
    return words.tobytes()
