"""Helpers shared by the top-level tests: seeded random operands, tampering with a plan's
descriptors (bypassing the firmware's checks), and the one result check every job gets."""
import math

import numpy as np

from zerotile import golden
from zerotile.rtl.config import TileConfig
from zerotile.rtl.regmap import FLAG_EPILOGUE
from zerotile.regress.faults import tamper  # noqa: F401  (one way to break a descriptor)
from zerotile.workload import random_csr  # noqa: F401  (the tests draw A the product way)
from zerotile.workload import golden_result as workload_golden, random_requant  # noqa: F401

from conftest import describe_mismatch

CFG = TileConfig()


def random_b(k, n, seed):
    return np.random.default_rng(seed + 1000).integers(-128, 128, (k, n)).astype(np.int8)


def random_c(m, n, seed):
    """An old C to accumulate into: seeded int32 over the whole range (so sums wrap)."""
    return np.random.default_rng(seed + 2000).integers(-2**31, 2**31, (m, n), dtype=np.int64)


def golden_result(plan, a, b, c=None):
    """What the plan's result must be: A.B (+ c), finished by the epilogue when it has one."""
    return workload_golden(a, b, c, plan.epilogue)


def check_result(name, res, a, b, cfg=CFG, c=None):
    """The one check every job gets: C (= A.B, or c + A.B when accumulating; requantised to
    int8 with the epilogue) equal to golden, the counters consistent, the roofline floor not
    beaten."""
    assert res.error is None, f"{name}: {res.error}"
    assert (c is not None) == res.plan.accumulate, f"{name}: accumulate mismatch in the test"
    ref = golden_result(res.plan, a, b, c)
    assert res.c.dtype == ref.dtype, f"{name}: result is {res.c.dtype}, expected {ref.dtype}"
    assert np.array_equal(res.c, ref), describe_mismatch(name, res.c, ref)
    cnt = res.counters
    int8_out = res.plan.epilogue is not None
    bd = golden.bounds(a, b, mode=res.plan.mode, peak_macs_per_cycle=cfg.peak_macs_per_cycle,
                       bus_bytes_per_cycle=cfg.bus_bytes, accumulate=res.plan.accumulate,
                       int8_out=int8_out)
    assert cnt["effectual_macs"] == bd.effectual_macs, f"{name}: effectual MAC counter"
    pe_cycles = cnt["lane_slots"] // cfg.lanes + cnt["stall_memory"] + \
        cnt["stall_imbalance"] + cnt["stall_drain"]
    assert pe_cycles == cfg.pes * cnt["cycles_busy"], f"{name}: PE-cycle accounting"
    m, _, n = res.plan.shape
    written = sum(j.fields["M"] * math.ceil(j.fields["N"] / cfg.lanes) * cfg.lanes *
                  (1 if j.fields["FLAGS"] & FLAG_EPILOGUE else 4) for j in res.plan.jobs)
    assert cnt["dram_bytes_written"] == written, f"{name}: bytes written"
    assert cnt["dram_bytes_read"] >= bd.min_dram_bytes_read, f"{name}: bytes read"
    assert bd.bound_cycles <= cnt["cycles_busy"], (
        f"{name}: {cnt['cycles_busy']} cycles beat the roofline floor of {bd.bound_cycles} "
        f"(roofline efficiency {bd.bound_cycles / cnt['cycles_busy']:.3f} > 1)")
    return bd, cnt
