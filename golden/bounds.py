"""The analytical performance model of DESIGN.md: effectual work, minimum traffic, roofline floor.

All functions take the hardware's numbers as plain arguments, so this module never imports
the RTL. Definitions:

* ``effectual_macs``: multiplications whose operands are both nonzero.
* ``min_dram_bytes``: A (values, column indices, row pointers), B and C each moved once
  (C twice when accumulating into an existing C).
* ``ideal_compute_cycles = ceil(effectual_macs / peak_macs_per_cycle)``
* ``ideal_memory_cycles = ceil(min_dram_bytes / bus_bytes_per_cycle)``
* ``bound_cycles = max(ideal_compute_cycles, ideal_memory_cycles)``
"""
from dataclasses import dataclass, asdict
import math

import numpy as np
import scipy.sparse as sp

__all__ = ["Bounds", "effectual_macs", "min_dram_bytes", "ideal_compute_cycles",
           "ideal_memory_cycles", "bound_cycles", "bounds"]

INDEX_BYTES = 4     # int32 column indices and row pointers
VALUE_BYTES = 1     # int8 operands
ACC_BYTES = 4       # int32 results


def effectual_macs(a, b):
    """Number of products ``A[i,k] * B[k,j]`` with both operands nonzero."""
    a_nz = sp.csr_matrix(a).copy()
    a_nz.data = (a_nz.data != 0).astype(np.int64)
    b_nz_per_row = (np.asarray(b) != 0).sum(axis=1).astype(np.int64)
    return int((a_nz @ b_nz_per_row).sum())


def min_dram_bytes(m, k, n, *, mode, nnz=0, accumulate=False):
    """Bytes that must cross the DRAM bus at least once for one ``M x K x N`` product."""
    if mode == "dense":
        a_bytes = m * k * VALUE_BYTES
    elif mode == "csr":
        a_bytes = nnz * (VALUE_BYTES + INDEX_BYTES) + (m + 1) * INDEX_BYTES
    else:
        raise ValueError(f"mode must be 'dense' or 'csr', not {mode!r}")
    b_bytes = k * n * VALUE_BYTES
    c_bytes = m * n * ACC_BYTES * (2 if accumulate else 1)
    return a_bytes + b_bytes + c_bytes


def ideal_compute_cycles(effectual, peak_macs_per_cycle):
    """Cycles the effectual MACs need at the array's peak rate."""
    return math.ceil(effectual / peak_macs_per_cycle)


def ideal_memory_cycles(dram_bytes, bus_bytes_per_cycle):
    """Cycles the minimum traffic needs at one bus width per cycle."""
    return math.ceil(dram_bytes / bus_bytes_per_cycle)


def bound_cycles(compute_cycles, memory_cycles):
    """The roofline floor."""
    return max(compute_cycles, memory_cycles)


@dataclass(frozen=True)
class Bounds:
    effectual_macs: int
    peak_macs_per_cycle: int
    ideal_compute_cycles: int
    min_dram_bytes: int
    ideal_memory_cycles: int
    bound_cycles: int

    def as_dict(self):
        return asdict(self)


def bounds(a, b, *, mode, peak_macs_per_cycle, bus_bytes_per_cycle, accumulate=False):
    """The roofline floor for ``A @ B`` run in ``mode`` on hardware with the given numbers."""
    a = sp.csr_matrix(a)
    m, k = a.shape
    n = np.asarray(b).shape[1]
    eff = effectual_macs(a, b)
    dram = min_dram_bytes(m, k, n, mode=mode, nnz=a.nnz, accumulate=accumulate)
    compute = ideal_compute_cycles(eff, peak_macs_per_cycle)
    memory = ideal_memory_cycles(dram, bus_bytes_per_cycle)
    return Bounds(eff, peak_macs_per_cycle, compute, dram, memory, bound_cycles(compute, memory))
