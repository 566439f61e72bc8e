"""SpGEMM reference (C = A.B with both operands sparse, C as CSR) and its bound model.

Semantics: int8 x int8 products summed in int32 with two's-complement wrap; C keeps only the
entries whose sum is not 0 (entries that cancel are dropped, as ``scipy.sparse`` does), with
column indices sorted and unique within each row.

Work and traffic of Gustavson's row-wise dataflow:

* ``partial_products``: ``sum_k nnz(A[:,k]) * nnz(B[k,:])`` over A's nonzero entries and B's
  stored entries (the products formed);
* ``effectual``: those with both factors nonzero;
* ``merges``: products added to a column of C's row that an earlier product of the row
  already touched (``partial_products`` minus the structural nonzeros of A.B);
* ``min_dram_bytes_read``: A and B in the most compact CSR (int32 row pointers, uint16 column
  indices, int8 values), once; ``min_dram_bytes_written``: C once (int32 row pointers, int32
  column indices and values of its nonzeros);
* ``bound_cycles = max(ceil(effectual / peak_products_per_cycle), ceil(max(read, written) /
  bus_bytes_per_cycle))``.
"""
from dataclasses import dataclass, asdict
import math

import numpy as np
import scipy.sparse as sp

from .reference import wrap_int32, _check_int8

__all__ = ["spgemm", "SpgemmWork", "spgemm_work", "spgemm_bounds"]

ROW_POINTER_BYTES = 4
COLUMN_INDEX_BYTES = 2      # the most compact column index the tile reads
C_INDEX_BYTES = 4           # C's column indices are int32
VALUE_BYTES = 1
ACC_BYTES = 4


def _csr(name, x):
    x = sp.csr_matrix(x)
    _check_int8(name, x.data)
    return x


def spgemm(a, b):
    """C = A @ B (both int8, scipy.sparse or dense) as a canonical int32 CSR matrix: sorted,
    duplicate-free column indices, no stored zeros."""
    a, b = _csr("A", a), _csr("B", b)
    if a.shape[1] != b.shape[0]:
        raise ValueError(f"A is {a.shape[0]}x{a.shape[1]}, B is {b.shape[0]}x{b.shape[1]}")
    c = (a.astype(np.int64) @ b.astype(np.int64)).tocsr()
    c.sum_duplicates()
    c.data = wrap_int32(c.data).astype(np.int32)
    c.eliminate_zeros()
    c.sort_indices()
    return sp.csr_matrix((c.data.astype(np.int32), c.indices.astype(np.int32),
                          c.indptr.astype(np.int32)), shape=c.shape)


@dataclass(frozen=True)
class SpgemmWork:
    partial_products: int
    effectual: int
    merges: int
    nnz_c: int
    min_dram_bytes_read: int
    min_dram_bytes_written: int
    peak_products_per_cycle: int
    ideal_compute_cycles: int
    ideal_memory_cycles: int
    bound_cycles: int

    @property
    def min_dram_bytes(self):
        return self.min_dram_bytes_read + self.min_dram_bytes_written

    def as_dict(self):
        return dict(asdict(self), min_dram_bytes=self.min_dram_bytes)


def _pattern(x):
    p = x.copy()
    p.data = np.ones_like(p.data, dtype=np.float64)
    return p


def spgemm_work(a, b):
    """(partial products, effectual, structural nonzeros of A.B) of the row-wise dataflow."""
    a, b = _csr("A", a), _csr("B", b)
    a_nz = a.copy()
    a_nz.eliminate_zeros()
    stored = np.diff(b.indptr).astype(np.int64)
    nonzero = np.diff(_nonzero(b).indptr).astype(np.int64)
    pp = int(stored[a_nz.indices].sum())
    eff = int(nonzero[a_nz.indices].sum())
    touched = int((_pattern(a_nz) @ _pattern(b)).nnz)
    return pp, eff, touched


def _nonzero(x):
    y = x.copy()
    y.eliminate_zeros()
    return y


def spgemm_bounds(a, b, *, peak_products_per_cycle, bus_bytes_per_cycle, c=None):
    """The work counts and roofline floor of ``A @ B`` (``c``: the product, if known)."""
    a, b = _csr("A", a), _csr("B", b)
    c = spgemm(a, b) if c is None else c
    pp, eff, touched = spgemm_work(a, b)
    m, k = a.shape
    read = ((m + 1 + k + 1) * ROW_POINTER_BYTES +
            (a.nnz + b.nnz) * (COLUMN_INDEX_BYTES + VALUE_BYTES))
    written = (m + 1) * ROW_POINTER_BYTES + c.nnz * (C_INDEX_BYTES + ACC_BYTES)
    compute = math.ceil(eff / peak_products_per_cycle)
    memory = max(math.ceil(read / bus_bytes_per_cycle), math.ceil(written / bus_bytes_per_cycle))
    return SpgemmWork(pp, eff, pp - touched, int(c.nnz), read, written,
                      peak_products_per_cycle, compute, memory, max(compute, memory))
