"""Reference semantics (exact int8 x int8 -> int32 arithmetic) and the analytical bound model.

`golden` stands alone: it knows nothing about the RTL. The bound model takes the hardware
configuration's numbers (peak MACs per cycle, bus bytes per cycle) as arguments.
"""
from .reference import wrap_int32, gemm, spmm
from .requant import (srdhm, rounding_divide_by_pot, requantize, quantize_multiplier,
                      check_requant_params)
from .energy import EnergyTable, HOROWITZ_45NM, NOT_MODELLED, estimate_energy
from .spgemm import spgemm, SpgemmWork, spgemm_work, spgemm_bounds
from .bounds import (Bounds, effectual_macs, min_dram_bytes, min_dram_bytes_read,
                     min_dram_bytes_written, ideal_compute_cycles, ideal_memory_cycles,
                     bound_cycles, bounds)

__all__ = ["wrap_int32", "gemm", "spmm", "spgemm", "SpgemmWork", "spgemm_work", "spgemm_bounds", "Bounds", "effectual_macs", "min_dram_bytes",
           "min_dram_bytes_read", "min_dram_bytes_written", "ideal_compute_cycles",
           "ideal_memory_cycles", "bound_cycles", "bounds", "srdhm", "rounding_divide_by_pot", "requantize",
           "quantize_multiplier", "check_requant_params", "EnergyTable", "HOROWITZ_45NM",
           "NOT_MODELLED", "estimate_energy"]
