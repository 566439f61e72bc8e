"""The planner: turns ``C = A @ B`` into a DRAM image and a chain of job descriptors.

Memory layout, from ``base`` upwards, every array starting on a 64-byte boundary:

1. the descriptors (64 bytes each, chained through NEXT);
2. A: CSR as int32 row pointers (M+1), int32 column indices (nnz), int8 values (nnz);
   dense as M*K int8, row-major;
3. one B tile per job: K rows of ``chunks * L`` int8, columns beyond N zero-padded;
4. C: M rows of ``ceil(N/L) * L`` int32 (row stride a multiple of ``4*L`` bytes), prefilled
   with a poison pattern so a row the hardware never wrote shows up as a mismatch.

B wider than one job can hold (``max_chunks * L`` columns, fewer when K is deep) is split
into column tiles; B deeper than the scratchpad (K above ``max_k``) into K slabs, whose jobs
after the first accumulate into C (descriptor FLAGS.ACCUMULATE: the hardware reads each C
chunk back and adds); A beyond one job's limits (more than 65,535 rows, more than 2^22 - 1 stored
entries, a dense stream of 256 MiB) into row blocks, each with its own arrays (row pointers
rebased to 0), and into one part per K slab. One job per (row block, column tile, K slab),
chained in that order; A is read once per column tile, and C once per K slab after the
first (the traffic the real-sizes work will cut). With ``c`` given, every job accumulates
into it.
"""
from dataclasses import dataclass, field
import math

import numpy as np
import scipy.sparse as sp

from rtl.config import TileConfig
from rtl.regmap import (DESC, DESCRIPTOR_BYTES, DESCRIPTOR_ALIGN, MODE_DENSE, MODE_CSR, MAX_M,
                        FLAG_ACCUMULATE,
                        MAX_NNZ, MAX_DENSE_A_BYTES)

from .errors import FormatError, TooLargeError
from .operands import as_csr_int8, as_dense_int8

__all__ = ["Job", "Plan", "plan", "pack_descriptor", "estimate_cycles", "choose_mode",
           "check_size", "image_bytes", "row_blocks", "first_touch_order", "POISON"]

POISON = 0xA5
MODES = ("auto", "dense", "csr")


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

    @property
    def limit(self):
        return self.base + len(self.image)

    @property
    def first_descriptor(self):
        return self.jobs[0].desc_addr

    @property
    def c_bytes(self):
        return self.shape[0] * self.c_stride

    def unpack_c(self, raw):
        """C (M x N int32) from the bytes of the C region read back from DRAM."""
        m, _, n = self.shape
        if len(raw) != self.c_bytes:
            raise ValueError(f"C region is {self.c_bytes} bytes, got {len(raw)}")
        return np.frombuffer(bytes(raw), dtype="<i4").reshape(m, self.c_stride // 4)[:, :n].copy()


def choose_mode(modes, m, k, n, nnz, config):
    """The "auto" rule: of the modes that can take the job, the one with the lower
    ``estimate_cycles``."""
    return min(modes, key=lambda md: estimate_cycles(md, m, k, n, nnz, config))


def estimate_cycles(mode, m, k, n, nnz, config):
    """A rough cycle estimate used to pick the mode (not a bound; see ``golden``)."""
    chunks = math.ceil(n / config.lanes)
    # The scanner deals one entry per cycle (plus one per row); each PE takes ``chunks``
    # cycles per entry, so the array sustains min(1, P / chunks) entries per cycle.
    entries = (m * k if mode == "dense" else nnz) + m
    compute = entries * max(1.0, chunks / config.pes)
    a_bytes = m * k if mode == "dense" else 5 * nnz + 4 * (m + 1)
    memory = (a_bytes + k * chunks * config.lanes) / config.bus_bytes
    return max(compute, memory)


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
    slabs = math.ceil(k / config.max_k)
    depth = min(k, config.max_k)
    chunks_per_job = max(1, config.chunks_fitting(depth))
    n_tiles = math.ceil(n / (chunks_per_job * L))
    # row blocks: at most this many (each adds its arrays' alignment and a row pointer)
    blocks = max(math.ceil(m / MAX_M), math.ceil(nnz / MAX_NNZ) + math.ceil(m / MAX_M)) \
        if mode == "csr" else math.ceil(m / max(1, min(MAX_M, (MAX_DENSE_A_BYTES - 1) // depth)))
    parts = blocks * slabs
    a = (4 * (m + blocks) * slabs + 5 * nnz if mode == "csr" else m * k) + \
        3 * parts * DESCRIPTOR_ALIGN
    b = k * math.ceil(n / L) * L + n_tiles * slabs * DESCRIPTOR_ALIGN
    c_row = math.ceil(math.ceil(n / L) * L * 4 / config.bus_bytes) * config.bus_bytes
    return (parts * n_tiles * DESCRIPTOR_BYTES + a + b + m * c_row
            + 4 * DESCRIPTOR_ALIGN)


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
    """[(first row of B, end row)]: B deeper than the scratchpad takes in slabs; the jobs of
    the second and later slabs accumulate into C."""
    depth = min(k, config.max_k)
    return [(k0, min(k, k0 + depth)) for k0 in range(0, k, depth)]


def plan(a, b, *, c=None, config=None, mode="auto", base=0x1000):
    """Validate ``A`` (ndarray or scipy.sparse) and ``B`` (ndarray) and lay out the jobs of
    ``C = A @ B``, or with ``c`` (M x N int32, the old C) of ``C = C + A @ B``."""
    config = config or TileConfig()
    if mode not in MODES:
        raise FormatError(f"mode must be one of {', '.join(MODES)}, not {mode!r}")
    if base % DESCRIPTOR_ALIGN:
        raise FormatError(f"base 0x{base:x} is not {DESCRIPTOR_ALIGN}-byte aligned")
    a_csr = as_csr_int8("A", a)
    b = as_dense_int8("B", b)
    m, k = a_csr.shape
    if b.shape[0] != k:
        raise FormatError(f"A is {m}x{k} but B is {b.shape[0]}x{b.shape[1]}: inner dimensions "
                          f"differ ({k} != {b.shape[0]})")
    n = b.shape[1]
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

    column_order = None
    if mode == "csr":
        # A[:, p] @ B[p, :]: the same product, B in the order the rows of A first need it
        column_order = first_touch_order(a_csr)
        new_index = np.empty(k, dtype=np.int64)
        new_index[column_order] = np.arange(k)
        a_csr = sp.csr_array((a_csr.data, new_index[a_csr.indices], a_csr.indptr),
                             shape=(m, k))
        a_csr.sort_indices()
        b = b[column_order]

    L = config.lanes
    slabs = k_slabs(k, config)
    depth = slabs[0][1]
    chunks_per_job = config.chunks_fitting(depth)
    cols_per_job = chunks_per_job * L
    n_tiles = math.ceil(n / cols_per_job)
    # a C row: whole chunks of L int32, padded to whole bus words (a chunk narrower than the
    # bus is written as one strobed beat, whose bus word must lie inside C)
    c_stride = math.ceil(math.ceil(n / L) * L * 4 / config.bus_bytes) * config.bus_bytes

    layout = {}
    cursor = base

    def alloc(name, nbytes):
        nonlocal cursor
        layout[name] = cursor
        cursor = _align(cursor + max(nbytes, 1))

    blocks = row_blocks(mode, a_csr.indptr, depth)
    n_desc = len(blocks) * n_tiles * len(slabs)
    alloc("descriptors", n_desc * DESCRIPTOR_BYTES)
    parts = {}                 # (block, slab) -> the part of A it multiplies
    for i, (r0, r1) in enumerate(blocks):
        for s, (k0, k1) in enumerate(slabs):
            part = a_csr[r0:r1, k0:k1] if (k0, k1) != (0, k) else a_csr[r0:r1]
            part = sp.csr_array(part)
            parts[i, s] = part
            if mode == "csr":
                alloc(f"rowptr{i}.{s}", (r1 - r0 + 1) * 4)
                alloc(f"colidx{i}.{s}", part.nnz * 4)
                alloc(f"values{i}.{s}", part.nnz)
            else:
                alloc(f"values{i}.{s}", (r1 - r0) * (k1 - k0))
    tiles = []
    for j in range(n_tiles):
        col0 = j * cols_per_job
        nj = min(cols_per_job, n - col0)
        tiles.append((col0, nj))
        for s, (k0, k1) in enumerate(slabs):
            alloc(f"b{j}.{s}", (k1 - k0) * math.ceil(nj / L) * L)
    alloc("c", m * c_stride)
    image = bytearray(cursor - base)

    def put(addr, arr):
        raw = np.ascontiguousarray(arr).tobytes()
        image[addr - base:addr - base + len(raw)] = raw

    for (i, s), part in parts.items():
        if mode == "csr":
            put(layout[f"rowptr{i}.{s}"], part.indptr.astype("<i4"))
            put(layout[f"colidx{i}.{s}"], part.indices.astype("<i4"))
            put(layout[f"values{i}.{s}"], part.data.astype(np.int8))
        else:
            put(layout[f"values{i}.{s}"], part.toarray().astype(np.int8))
    for j, (col0, nj) in enumerate(tiles):
        for s, (k0, k1) in enumerate(slabs):
            tile = np.zeros((k1 - k0, math.ceil(nj / L) * L), dtype=np.int8)
            tile[:, :nj] = b[k0:k1, col0:col0 + nj]
            put(layout[f"b{j}.{s}"], tile)
    c0 = layout["c"]
    if c is None:
        image[c0 - base:c0 - base + m * c_stride] = bytes([POISON]) * (m * c_stride)
    else:
        old = np.zeros((m, c_stride // 4), dtype="<i4")
        old[:, :n] = c
        put(c0, old)

    p = Plan(config=config, mode=mode, shape=(m, k, n), nnz=nnz, base=base, image=image,
             c_addr=c0, c_stride=c_stride, accumulate=c is not None, column_order=column_order)
    d = 0
    for i, (r0, r1) in enumerate(blocks):
        for j, (col0, nj) in enumerate(tiles):
            for s, (k0, k1) in enumerate(slabs):
                desc_addr = layout["descriptors"] + d * DESCRIPTOR_BYTES
                d += 1
                fields = {
                    "MODE": MODE_CSR if mode == "csr" else MODE_DENSE,
                    "NEXT": desc_addr + DESCRIPTOR_BYTES if d < n_desc else 0,
                    "M": r1 - r0, "K": k1 - k0, "N": nj,
                    "NNZ": parts[i, s].nnz if mode == "csr" else 0,
                    "A_ROWPTR": layout.get(f"rowptr{i}.{s}", 0),
                    "A_COLIDX": layout.get(f"colidx{i}.{s}", 0),
                    "A_VALUES": layout[f"values{i}.{s}"], "B_ADDR": layout[f"b{j}.{s}"],
                    "C_ADDR": c0 + r0 * c_stride + col0 * 4, "C_STRIDE": c_stride,
                    "FLAGS": FLAG_ACCUMULATE if (c is not None or s > 0) else 0,
                }
                put(desc_addr, pack_descriptor(fields))
                p.jobs.append(Job(desc_addr, fields))
    return p


def pack_descriptor(fields):
    """The 64 bytes of one descriptor (unknown names rejected, reserved words zero)."""
    words = np.zeros(DESCRIPTOR_BYTES // 4, dtype="<u4")
    for name, value in fields.items():
        if name not in DESC:
            raise FormatError(f"unknown descriptor field {name!r}")
        if not 0 <= value < (1 << 32):
            raise FormatError(f"descriptor field {name} = {value} does not fit 32 bits")
        words[DESC[name]] = value
    return words.tobytes()
