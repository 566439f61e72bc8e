"""Validation and normalisation of operands: NumPy arrays and scipy.sparse matrices.

Every check raises ``FormatError`` with a message naming the operand and the problem.
"""
import numpy as np
import scipy.sparse as sp

from .errors import FormatError

__all__ = ["as_dense_int8", "as_csr_int8", "check_csr", "column_index_dtype"]

INT8_MIN, INT8_MAX = -128, 127


def column_index_dtype(column_index_bytes):
    """The little-endian NumPy dtype of CSR column indices in DRAM: uint16 for 2 bytes
    (FLAGS.COLIDX16), int32 for 4; anything else is a ``FormatError``."""
    if column_index_bytes not in (2, 4):
        raise FormatError(f"column_index_bytes must be 2 or 4, not {column_index_bytes!r}")
    return "<u2" if column_index_bytes == 2 else "<i4"


def _check_int8_values(name, values):
    values = np.asarray(values)
    if values.dtype.kind not in "iub":
        if values.dtype.kind == "f" and np.all(np.isfinite(values)) and \
                np.all(values == np.round(values)):
            values = values.astype(np.int64)
        else:
            raise FormatError(f"{name} must hold integers, not {values.dtype}")
    if values.size:
        lo, hi = int(values.min()), int(values.max())
        if lo < INT8_MIN or hi > INT8_MAX:
            bad = lo if lo < INT8_MIN else hi
            raise FormatError(f"{name} holds {bad}, outside int8 [{INT8_MIN}, {INT8_MAX}]")
    return values.astype(np.int8)


def as_dense_int8(name, x):
    """A 2-D int8 ndarray from an array-like or a sparse matrix."""
    if sp.issparse(x):
        x = x.toarray()
    x = np.asarray(x)
    if x.ndim != 2:
        raise FormatError(f"{name} must be 2-dimensional, not {x.ndim}-dimensional")
    return _check_int8_values(name, x)


def check_csr(name, shape, indptr, indices, data):
    """Check raw CSR arrays; returns them as (int64 indptr, int64 indices, int8 data)."""
    try:
        m, k = (int(v) for v in shape)
    except (TypeError, ValueError):
        raise FormatError(f"{name}: shape must be two integers, not {shape!r}") from None
    if m < 0 or k < 0:
        raise FormatError(f"{name}: shape {shape} has a negative dimension")
    indptr = np.asarray(indptr)
    indices = np.asarray(indices)
    if indptr.ndim != 1 or indices.ndim != 1 or np.ndim(data) != 1:
        raise FormatError(f"{name}: CSR arrays must be 1-dimensional")
    if indptr.dtype.kind not in "iu" or (indices.size and indices.dtype.kind not in "iu"):
        raise FormatError(f"{name}: row pointers and column indices must be integers")
    indptr = indptr.astype(np.int64)
    indices = indices.astype(np.int64)
    if indptr.size != m + 1:
        raise FormatError(f"{name}: {indptr.size} row pointers for {m} rows (need {m + 1})")
    if indptr[0] != 0:
        raise FormatError(f"{name}: row_ptr[0] is {indptr[0]}, must be 0")
    steps = np.diff(indptr)
    if np.any(steps < 0):
        row = int(np.argmax(steps < 0))
        raise FormatError(f"{name}: row pointers decrease at row {row} "
                          f"({indptr[row]} then {indptr[row + 1]})")
    nnz = int(indptr[-1])
    if nnz != indices.size or nnz != np.size(data):
        raise FormatError(f"{name}: row pointers end at {nnz} but there are {indices.size} "
                          f"column indices and {np.size(data)} values")
    if nnz:
        if indices.min() < 0 or indices.max() >= k:
            pos = int(np.argmax((indices < 0) | (indices >= k)))
            row = int(np.searchsorted(indptr, pos, side="right") - 1)
            raise FormatError(f"{name}: column index {indices[pos]} in row {row} is out of "
                              f"range for {k} columns")
        rows = np.repeat(np.arange(m), steps)
        same_row = rows[1:] == rows[:-1]
        not_increasing = same_row & (indices[1:] <= indices[:-1])
        if np.any(not_increasing):
            pos = int(np.argmax(not_increasing))
            kind = "duplicate" if indices[pos + 1] == indices[pos] else "unsorted"
            raise FormatError(f"{name}: {kind} column indices in row {rows[pos]} "
                              f"({indices[pos]} then {indices[pos + 1]})")
    data = _check_int8_values(f"{name} values", data)
    return indptr, indices, data


def as_csr_int8(name, a):
    """A validated ``scipy.sparse.csr_array`` with int8 data from a sparse matrix or array.

    A scipy CSR input is checked as stored (its own order, duplicates and explicit zeros are
    kept, so what the hardware sees is what the caller gave); other inputs are converted.
    """
    if sp.issparse(a) and a.format == "csr":
        indptr, indices, data = check_csr(name, a.shape, a.indptr, a.indices, a.data)
    else:
        if sp.issparse(a):
            a = sp.csr_array(a)
            a.sum_duplicates()
        else:
            dense = as_dense_int8(name, a)
            a = sp.csr_array(dense)
        indptr, indices, data = check_csr(name, a.shape, a.indptr, a.indices, a.data)
    return sp.csr_array((data, indices.astype(np.int32), indptr.astype(np.int32)),
                        shape=a.shape)
