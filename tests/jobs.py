"""Helpers shared by the top-level tests: seeded random operands, tampering with a plan's
descriptors (bypassing the firmware's checks), the one result check every job gets, and the
block tests' simulator run."""
import math

import numpy as np

from amaranth.sim import Simulator

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


def run_block(dut, bench, *, cycles):
    """Run the async testbench ``bench`` against ``dut`` on Amaranth's simulator, a 100 MHz
    clock, for at most ``cycles`` cycles (the bench raises what it finds)."""
    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run_until(cycles * 1e-8)


def scanner_deals(a, width):
    """A's rows (a SciPy CSR matrix) as the operand scanner deals them: lists of up to
    ``width`` entries of one row (``entry_layout`` dicts); an empty row is one zero entry
    marked first and last."""
    deals = []
    for i in range(a.shape[0]):
        lo, hi = a.indptr[i], a.indptr[i + 1]
        entries = [{"row": i, "col": int(a.indices[p]), "value": int(a.data[p]),
                    "first": int(p == lo), "last": int(p == hi - 1)} for p in range(lo, hi)]
        entries = entries or [{"row": i, "col": 0, "value": 0, "first": 1, "last": 1}]
        deals += [entries[p:p + width] for p in range(0, len(entries), width)]
    return deals


def offer_deal(ctx, port, deals, width, rng, probability=0.7):
    """Drive the next of ``deals`` on the deal stream ``port`` with ``probability`` (else
    valid low); True when offered (it is taken if ``port.ready`` is high this cycle)."""
    offer = bool(deals) and rng.random() < probability
    ctx.set(port.valid, offer)
    if offer:
        padded = deals[0] + [deals[0][0]] * (width - len(deals[0]))
        ctx.set(port.payload, {"count": len(deals[0]), "entries": padded})
    return offer
