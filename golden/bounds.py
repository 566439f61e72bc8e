"""The analytical performance model of DESIGN.md: effectual work, minimum traffic, roofline floor.

All functions take the hardware's numbers as plain arguments, so this module never imports
the RTL. Definitions:

* ``effectual_macs``: multiplications whose operands are both nonzero.
* ``min_dram_bytes_read``: A (int8 values, uint16 column indices, int32 row pointers: the
  tile's most compact CSR) and B read once (and the old C when accumulating into it; and
  the epilogue's per-row bias, multiplier and shift, 12 bytes a row, with int8 output);
  ``min_dram_bytes_written``: C written once (int32, or int8 with the epilogue);
  ``min_dram_bytes`` their sum.
* ``ideal_compute_cycles = ceil(effectual_macs / peak_macs_per_cycle)``
* ``ideal_memory_cycles = max(ceil(read / bus_bytes_per_cycle),
  ceil(written / bus_bytes_per_cycle))``: AXI4 reads and writes travel on independent
  channels, each moving at most one bus word per cycle. (Counting both on one shared bus
  would let a job that reads and writes a lot "beat" its bound.)
* ``bound_cycles = max(ideal_compute_cycles, ideal_memory_cycles)``: no job can run faster,
  so ``bound_cycles / cycles`` (roofline efficiency) never exceeds 1.
"""
from dataclasses import dataclass, asdict
import math

import numpy as np
import scipy.sparse as sp

__all__ = ["Bounds", "effectual_macs", "min_dram_bytes", "min_dram_bytes_read",
           "min_dram_bytes_written", "ideal_compute_cycles", "ideal_memory_cycles",
           "bound_cycles", "bounds"]

COLUMN_INDEX_BYTES = 2   # uint16 column indices (the tile's CSR: a job is <= 65,536 columns deep)
ROW_POINTER_BYTES = 4    # int32 row pointers
VALUE_BYTES = 1     # int8 operands
ACC_BYTES = 4       # int32 results
INT8_OUT_BYTES = 1  # int8 results of the epilogue
EPILOGUE_PARAM_BYTES = 12   # per output row: int32 bias, multiplier and shift


def effectual_macs(a, b):
    """Number of products ``A[i,k] * B[k,j]`` with both operands nonzero."""
    a_nz = sp.csr_matrix(a).copy()
    a_nz.data = (a_nz.data != 0).astype(np.int64)
    b_nz_per_row = (np.asarray(b) != 0).sum(axis=1).astype(np.int64)
    return int((a_nz @ b_nz_per_row).sum())


def min_dram_bytes_read(m, k, n, *, mode, nnz=0, accumulate=False, int8_out=False):
    """Bytes the accelerator must read at least once for one ``M x K x N`` product."""
    if mode == "dense":
        a_bytes = m * k * VALUE_BYTES
    elif mode == "csr":
        a_bytes = nnz * (VALUE_BYTES + COLUMN_INDEX_BYTES) + (m + 1) * ROW_POINTER_BYTES
    else:
        raise ValueError(f"mode must be 'dense' or 'csr', not {mode!r}")
    return (a_bytes + k * n * VALUE_BYTES + (m * n * ACC_BYTES if accumulate else 0) +
            (m * EPILOGUE_PARAM_BYTES if int8_out else 0))


def min_dram_bytes_written(m, n, *, int8_out=False):
    """Bytes the accelerator must write at least once: C, int32 (int8 with the epilogue)."""
    return m * n * (INT8_OUT_BYTES if int8_out else ACC_BYTES)


def min_dram_bytes(m, k, n, *, mode, nnz=0, accumulate=False, int8_out=False):
    """Bytes that must cross the DRAM bus at least once (read and written together)."""
    return (min_dram_bytes_read(m, k, n, mode=mode, nnz=nnz, accumulate=accumulate,
                                int8_out=int8_out)
            + min_dram_bytes_written(m, n, int8_out=int8_out))


def ideal_compute_cycles(effectual, peak_macs_per_cycle):
    """Cycles the effectual MACs need at the array's peak rate."""
    return math.ceil(effectual / peak_macs_per_cycle)


def ideal_memory_cycles(read_bytes, written_bytes, bus_bytes_per_cycle):
    """Cycles the minimum traffic needs: reads and writes on their own channels, one bus word
    per cycle each."""
    return max(math.ceil(read_bytes / bus_bytes_per_cycle),
               math.ceil(written_bytes / bus_bytes_per_cycle))


def bound_cycles(compute_cycles, memory_cycles):
    """The roofline floor."""
    return max(compute_cycles, memory_cycles)


@dataclass(frozen=True)
class Bounds:
    effectual_macs: int
    peak_macs_per_cycle: int
    ideal_compute_cycles: int
    min_dram_bytes_read: int
    min_dram_bytes_written: int
    ideal_memory_cycles: int
    bound_cycles: int

    @property
    def min_dram_bytes(self):
        return self.min_dram_bytes_read + self.min_dram_bytes_written

    def as_dict(self):
        return dict(asdict(self), min_dram_bytes=self.min_dram_bytes)


def bounds(a, b, *, mode, peak_macs_per_cycle, bus_bytes_per_cycle, accumulate=False,
           int8_out=False):
    """The roofline floor for ``A @ B`` run in ``mode`` on hardware with the given numbers
    (``int8_out``: finished by the requantisation epilogue)."""
    a = sp.csr_matrix(a)
    m, k = a.shape
    n = np.asarray(b).shape[1]
    eff = effectual_macs(a, b)
    read = min_dram_bytes_read(m, k, n, mode=mode, nnz=a.nnz, accumulate=accumulate,
                               int8_out=int8_out)
    written = min_dram_bytes_written(m, n, int8_out=int8_out)
    compute = ideal_compute_cycles(eff, peak_macs_per_cycle)
    memory = ideal_memory_cycles(read, written, bus_bytes_per_cycle)
    return Bounds(eff, peak_macs_per_cycle, compute, read, written, memory,
                  bound_cycles(compute, memory))
