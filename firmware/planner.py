"""The planner: turns ``C = A @ B`` into a DRAM image and a chain of job descriptors.

Memory layout, from ``base`` upwards, every array starting on a 64-byte boundary:

1. the descriptors (64 bytes each, chained through NEXT);
2. A: CSR as int32 row pointers (M+1), int32 column indices (nnz), int8 values (nnz);
   dense as M*K int8, row-major;
3. one B tile per job: K rows of ``chunks * L`` int8, columns beyond N zero-padded;
4. C: M rows of ``ceil(N/L) * L`` int32 (row stride a multiple of ``4*L`` bytes), prefilled
   with a poison pattern so a row the hardware never wrote shows up as a mismatch.

B wider than one job can hold (``max_chunks * L`` columns, fewer when K is deep) is split
into column tiles; A beyond one job's limits (more than 65,535 rows, more than 2^22 - 1 stored
entries, a dense stream of 256 MiB) into row blocks, each with its own arrays (row pointers
rebased to 0). One job per (row block, column tile), chained in that order; jobs write
disjoint parts of C, and A is read once per column tile.
"""
from dataclasses import dataclass, field
import math

import numpy as np

from rtl.config import TileConfig
from rtl.regmap import (DESC, DESCRIPTOR_BYTES, DESCRIPTOR_ALIGN, MODE_DENSE, MODE_CSR, MAX_M,
                        MAX_NNZ, MAX_DENSE_A_BYTES)

from .errors import FormatError, TooLargeError
from .operands import as_csr_int8, as_dense_int8

__all__ = ["Job", "Plan", "plan", "pack_descriptor", "estimate_cycles", "choose_mode",
           "check_size", "image_bytes", "row_blocks", "POISON"]

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


def _fits(mode, m, k, nnz, config):
    """Why ``mode`` cannot take this A (None when it can). Rows, stored entries and dense
    bytes beyond one job's limits are split into row blocks; K is not split (yet)."""
    if k > config.max_k:
        return (f"A has {k} columns (B has {k} rows) but the B scratchpad holds at most "
                f"{config.max_k} rows ({config.b_words} words of {config.lanes} bytes)")
    return None


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
    """Bytes of DRAM a plan of this shape occupies, computed without allocating anything."""
    L = config.lanes
    chunks_per_job = max(1, min(config.max_chunks, config.b_words // max(k, 1)))
    n_jobs = math.ceil(n / (chunks_per_job * L))
    # row blocks: at most this many (each adds its arrays' alignment and a row pointer)
    blocks = max(math.ceil(m / MAX_M), math.ceil(nnz / MAX_NNZ) + math.ceil(m / MAX_M)) \
        if mode == "csr" else math.ceil(m / max(1, min(MAX_M, (MAX_DENSE_A_BYTES - 1) // k)))
    a = (4 * (m + blocks) + 5 * nnz if mode == "csr" else m * k) + 3 * blocks * DESCRIPTOR_ALIGN
    b = k * math.ceil(n / L) * L + n_jobs * DESCRIPTOR_ALIGN
    return (blocks * n_jobs * DESCRIPTOR_BYTES + a + b + m * math.ceil(n / L) * L * 4
            + 4 * DESCRIPTOR_ALIGN)


def check_size(m, k, n, nnz, *, mode="auto", config=None, base=0x1000):
    """Reject, before anything is allocated, a product the hardware cannot run: returns the
    modes that can take it (``mode`` itself unless it is "auto"); raises ``TooLargeError``
    naming the limit otherwise."""
    config = config or TileConfig()
    if mode not in MODES:
        raise FormatError(f"mode must be one of {', '.join(MODES)}, not {mode!r}")
    modes = ("dense", "csr") if mode == "auto" else (mode,)
    why = {md: _fits(md, m, k, nnz, config) for md in modes}
    ok = [md for md in modes if why[md] is None]
    if not ok:
        raise TooLargeError(why[modes[-1]] if mode == "auto" else why[mode])
    need = min(image_bytes(md, m, k, n, nnz, config) for md in ok)
    if base + need > 1 << config.addr_bits:
        raise TooLargeError(f"A.B of {m}x{k} by {k}x{n} needs {need / 2**30:.1f} GiB of DRAM "
                            f"(C alone is {m}x{n} int32); the accelerator addresses "
                            f"{2 ** (config.addr_bits - 30)} GiB")
    return ok


def plan(a, b, *, config=None, mode="auto", base=0x1000):
    """Validate ``A`` (ndarray or scipy.sparse) and ``B`` (ndarray) and lay out the jobs."""
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
    nnz = int(a_csr.nnz)
    modes = check_size(m, k, n, nnz, mode=mode, config=config, base=base)
    mode = choose_mode(modes, m, k, n, nnz, config)

    L = config.lanes
    chunks_per_job = min(config.max_chunks, config.b_words // k)
    cols_per_job = chunks_per_job * L
    n_jobs = math.ceil(n / cols_per_job)
    c_stride = math.ceil(n / L) * L * 4

    layout = {}
    cursor = base

    def alloc(name, nbytes):
        nonlocal cursor
        layout[name] = cursor
        cursor = _align(cursor + max(nbytes, 1))

    blocks = row_blocks(mode, a_csr.indptr, k)
    alloc("descriptors", len(blocks) * n_jobs * DESCRIPTOR_BYTES)
    for i, (r0, r1) in enumerate(blocks):
        lo, hi = int(a_csr.indptr[r0]), int(a_csr.indptr[r1])
        if mode == "csr":
            alloc(f"rowptr{i}", (r1 - r0 + 1) * 4)
            alloc(f"colidx{i}", (hi - lo) * 4)
            alloc(f"values{i}", hi - lo)
        else:
            alloc(f"values{i}", (r1 - r0) * k)
    tiles = []
    for j in range(n_jobs):
        col0 = j * cols_per_job
        nj = min(cols_per_job, n - col0)
        chunks = math.ceil(nj / L)
        tile = np.zeros((k, chunks * L), dtype=np.int8)
        tile[:, :nj] = b[:, col0:col0 + nj]
        tiles.append((col0, nj, tile))
        alloc(f"b{j}", tile.nbytes)
    alloc("c", m * c_stride)
    image = bytearray(cursor - base)

    def put(addr, arr):
        raw = np.ascontiguousarray(arr).tobytes()
        image[addr - base:addr - base + len(raw)] = raw

    for i, (r0, r1) in enumerate(blocks):
        lo, hi = int(a_csr.indptr[r0]), int(a_csr.indptr[r1])
        if mode == "csr":
            put(layout[f"rowptr{i}"], (a_csr.indptr[r0:r1 + 1] - lo).astype("<i4"))
            put(layout[f"colidx{i}"], a_csr.indices[lo:hi].astype("<i4"))
            put(layout[f"values{i}"], a_csr.data[lo:hi].astype(np.int8))
        else:
            put(layout[f"values{i}"], a_csr[r0:r1].toarray().astype(np.int8))
    for j, (_, _, tile) in enumerate(tiles):
        put(layout[f"b{j}"], tile)
    c0 = layout["c"]
    image[c0 - base:c0 - base + m * c_stride] = bytes([POISON]) * (m * c_stride)

    p = Plan(config=config, mode=mode, shape=(m, k, n), nnz=nnz, base=base, image=image,
             c_addr=c0, c_stride=c_stride)
    n_desc = len(blocks) * n_jobs
    for i, (r0, r1) in enumerate(blocks):
        lo, hi = int(a_csr.indptr[r0]), int(a_csr.indptr[r1])
        for j, (col0, nj, _) in enumerate(tiles):
            d = i * n_jobs + j
            desc_addr = layout["descriptors"] + d * DESCRIPTOR_BYTES
            fields = {
                "MODE": MODE_CSR if mode == "csr" else MODE_DENSE,
                "NEXT": desc_addr + DESCRIPTOR_BYTES if d + 1 < n_desc else 0,
                "M": r1 - r0, "K": k, "N": nj, "NNZ": hi - lo if mode == "csr" else 0,
                "A_ROWPTR": layout.get(f"rowptr{i}", 0), "A_COLIDX": layout.get(f"colidx{i}", 0),
                "A_VALUES": layout[f"values{i}"], "B_ADDR": layout[f"b{j}"],
                "C_ADDR": c0 + r0 * c_stride + col0 * 4, "C_STRIDE": c_stride,
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
