"""Exact reference results: int8 operands, int32 accumulation with two's-complement wrap."""
import numpy as np
import scipy.sparse as sp

__all__ = ["wrap_int32", "gemm", "spmm"]


def wrap_int32(x):
    """Wrap an integer array to int32 with two's-complement semantics (what the hardware does)."""
    x = np.asarray(x, dtype=np.int64)
    return ((x + (1 << 31)) % (1 << 32) - (1 << 31)).astype(np.int32)


def _check_int8(name, x):
    x = np.asarray(x)
    if x.size and (x.min() < -128 or x.max() > 127):
        raise ValueError(f"{name} holds values outside int8")
    return x.astype(np.int64)


def _accumulate(product, c):
    if c is not None:
        c = np.asarray(c, dtype=np.int64)
        if c.shape != product.shape:
            raise ValueError(f"C has shape {c.shape}, the product has shape {product.shape}")
        product = product + c
    return wrap_int32(product)


def gemm(a, b, c=None):
    """Dense ``A @ B (+ C)`` for int8 ``A`` (M x K) and ``B`` (K x N); returns int32 (M x N)."""
    a = _check_int8("A", a)
    b = _check_int8("B", b)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[0]:
        raise ValueError(f"cannot multiply shapes {a.shape} and {b.shape}")
    # int64 products of int8 never overflow for K < 2**48; the final wrap is exact.
    return _accumulate(a @ b, c)


def spmm(a, b, c=None):
    """CSR ``A @ B (+ C)`` for a scipy.sparse int8 ``A`` and dense int8 ``B``.

    Explicitly stored zeros in ``A`` contribute nothing, as in the hardware.
    """
    a = sp.csr_matrix(a)
    data = _check_int8("A", a.data)
    b = _check_int8("B", b)
    if b.ndim != 2 or a.shape[1] != b.shape[0]:
        raise ValueError(f"cannot multiply shapes {a.shape} and {b.shape}")
    a64 = sp.csr_matrix((data, a.indices, a.indptr), shape=a.shape)
    return _accumulate(np.asarray(a64 @ b, dtype=np.int64), c)
