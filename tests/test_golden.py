import numpy as np
import pytest
import scipy.sparse as sp

from zerotile import golden


def naive(a, b):
    m, k = a.shape
    n = b.shape[1]
    c = [[0] * n for _ in range(m)]
    for i in range(m):
        for j in range(n):
            s = 0
            for t in range(k):
                s += int(a[i, t]) * int(b[t, j])
            c[i][j] = (s + 2**31) % 2**32 - 2**31
    return np.array(c, dtype=np.int32)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_gemm_matches_naive(seed):
    print("seed", seed)
    rng = np.random.default_rng(seed)
    a = rng.integers(-128, 128, (5, 7)).astype(np.int8)
    b = rng.integers(-128, 128, (7, 3)).astype(np.int8)
    assert np.array_equal(golden.gemm(a, b), naive(a, b))


def test_wrap_is_twos_complement():
    # K large enough that the int32 sum overflows: 70000 * (-128 * -128) > 2**31.
    a = np.full((1, 140000), -128, dtype=np.int8)
    b = np.full((140000, 1), -128, dtype=np.int8)
    exact = 140000 * 16384
    assert golden.gemm(a, b)[0, 0] == (exact + 2**31) % 2**32 - 2**31


def test_spmm_equals_gemm_and_ignores_explicit_zeros():
    rng = np.random.default_rng(3)
    dense = rng.integers(-128, 128, (6, 9)) * (rng.random((6, 9)) < 0.3)
    dense[5, :] = 0
    a = sp.csr_array(dense.astype(np.int8))
    # Store an explicit zero at (5, 8) (the last row) and check it changes nothing.
    data = np.append(a.data, 0).astype(np.int8)
    indices = np.append(a.indices, 8)
    indptr = a.indptr.copy()
    indptr[-1] += 1
    a = sp.csr_array((data, indices, indptr), shape=a.shape)
    assert a.nnz == np.count_nonzero(dense) + 1
    b = rng.integers(-128, 128, (9, 4)).astype(np.int8)
    assert np.array_equal(golden.spmm(a, b), golden.gemm(dense.astype(np.int8), b))


def test_accumulate():
    a = np.array([[1, 2]], dtype=np.int8)
    b = np.array([[3], [4]], dtype=np.int8)
    c = np.array([[2**31 - 1]], dtype=np.int64)
    assert golden.gemm(a, b, c)[0, 0] == -(2**31) + 10
    assert golden.spmm(sp.csr_array(a), b, c)[0, 0] == -(2**31) + 10


def test_rejects_out_of_int8():
    with pytest.raises(ValueError, match="int8"):
        golden.gemm(np.array([[200]]), np.array([[1]]))


def test_bounds_of_a_small_case():
    a = sp.csr_array(np.array([[1, 0, 2], [0, 0, 0]], dtype=np.int8))
    b = np.array([[1, 0], [5, 5], [0, 3]], dtype=np.int8)
    # effectual: A[0,0]*B[0,0]; A[0,2]*B[2,1] -> 2
    assert golden.effectual_macs(a, b) == 2
    bd = golden.bounds(a, b, mode="csr", peak_macs_per_cycle=4, bus_bytes_per_cycle=8)
    # reads: A = 2 values + 2 uint16 indices*2 + 3 rowptr*4 = 18, B = 6; writes: C = 2*2*4 = 16
    assert bd.min_dram_bytes_read == 24 and bd.min_dram_bytes_written == 16
    assert bd.min_dram_bytes == 40
    # reads and writes on their own channels: max(ceil(24/8), ceil(16/8)), not ceil(40/8)
    assert bd.ideal_compute_cycles == 1 and bd.ideal_memory_cycles == 3
    assert bd.bound_cycles == 3
    assert golden.min_dram_bytes(2, 3, 2, mode="dense") == 6 + 6 + 16
    assert golden.min_dram_bytes_read(2, 3, 2, mode="dense", accumulate=True) == 6 + 6 + 16
    assert golden.ideal_compute_cycles(2, 4) == 1
    assert golden.ideal_memory_cycles(28, 16, 8) == 4
    assert golden.ideal_memory_cycles(8, 17, 8) == 3
    assert golden.bound_cycles(1, 6) == 6
