"""The EpilogueStage on Amaranth's simulator: every lane equals golden.requantize."""
import random

import numpy as np
import pytest
from amaranth.sim import Simulator

import golden
from rtl.epilogue_stage import EpilogueStage, PIPELINE_STAGES

I32_MIN, I32_MAX = -2**31, 2**31 - 1
EDGES = [I32_MIN, I32_MIN + 1, -1, 0, 1, I32_MAX, 1 << 30, -(1 << 30), 5, -5, 3, -3]


def _params(rng, rows):
    mult = [rng.choice([0, 1 << 30, I32_MAX, rng.randrange(1 << 30, 1 << 31)]) for _ in range(rows)]
    shift = [rng.choice([-31, 0, 30, -1, 1, rng.randrange(-31, 31)]) for _ in range(rows)]
    bias = [rng.choice([0, I32_MAX, I32_MIN, rng.randrange(I32_MIN, I32_MAX + 1)])
            for _ in range(rows)]
    return bias, mult, shift


@pytest.mark.parametrize("seed", [1, 2])
def test_epilogue_lanes_equal_golden(seed):
    print("seed", seed)
    rng = random.Random(seed)
    lanes, rows, n_req = 4, 16, 80
    dut = EpilogueStage(lanes=lanes, rows=rows)
    bias, mult, shift = _params(rng, rows)
    zp, lo, hi = rng.randrange(-128, 128), -128, 127
    if seed == 2:
        lo, hi = zp, 127            # ReLU
    c_base, q_base = 0x1000, 0x8000
    reqs = []
    for i in range(n_req):
        row = rng.randrange(rows)
        vals = [rng.choice(EDGES + [rng.randrange(I32_MIN, I32_MAX + 1)] * 4)
                for _ in range(lanes)]
        reqs.append((c_base + 16 * lanes * i, row, vals))
    got = []

    async def bench(ctx):
        ctx.set(dut.enable, 1)
        ctx.set(dut.c_base, c_base)
        ctx.set(dut.q_base, q_base)
        ctx.set(dut.zero_point, zp)
        ctx.set(dut.act_min, lo)
        ctx.set(dut.act_max, hi)
        for r in range(rows):               # parameters, rows becoming loaded one by one
            for w, v in enumerate((bias[r], mult[r], shift[r])):
                ctx.set(dut.param_wr_en, 1)
                ctx.set(dut.param_wr_row, r)
                ctx.set(dut.param_wr_word, w)
                ctx.set(dut.param_wr_data, v & 0xFFFF_FFFF)
                await ctx.tick()
            ctx.set(dut.rows_loaded, r + 1)
        ctx.set(dut.param_wr_en, 0)
        pending = list(reqs)
        for _ in range(n_req * 6 + 100):
            if pending:
                addr, row, vals = pending[0]
                ctx.set(dut.requests.payload.addr, addr)
                ctx.set(dut.requests.payload.row, row)
                ctx.set(dut.requests.payload.data,
                        sum((v & 0xFFFF_FFFF) << (32 * j) for j, v in enumerate(vals)))
                ctx.set(dut.requests.valid, rng.random() < 0.8)
            else:
                ctx.set(dut.requests.valid, 0)
            ready = rng.random() < 0.6 if seed == 1 else 1
            ctx.set(dut.out.ready, ready)
            await ctx.delay(1e-9)
            if ctx.get(dut.requests.valid) and ctx.get(dut.requests.ready):
                pending.pop(0)
            if ctx.get(dut.out.valid) and ready:
                got.append((ctx.get(dut.out.payload.addr), ctx.get(dut.out.payload.data)))
            await ctx.tick()
        assert not pending and ctx.get(dut.idle)

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    assert len(got) == n_req
    for i, ((addr, row, vals), (q_addr, word)) in enumerate(zip(reqs, got)):
        assert q_addr == q_base + (addr - c_base) // 4, f"request {i}: address {q_addr:#x}"
        want = golden.requantize(np.array([vals]), bias[row], mult[row], shift[row],
                                 out_zero_point=zp, act_min=lo, act_max=hi)[0]
        for j in range(lanes):
            out = (word >> (8 * j)) & 0xFF
            out = out - 256 if out > 127 else out
            assert out == want[j], (f"request {i} (row {row}) lane {j}: acc {vals[j]}, bias "
                                    f"{bias[row]}, M {mult[row]}, shift {shift[row]}: expected "
                                    f"{want[j]}, got {out}")
        assert word >> (8 * lanes) == 0


def test_epilogue_disabled_passes_int32_through():
    dut = EpilogueStage(lanes=2, rows=4)

    async def bench(ctx):
        ctx.set(dut.enable, 0)
        ctx.set(dut.requests.payload.addr, 0x40)
        ctx.set(dut.requests.payload.data, 0x1234_5678_9ABC_DEF0)
        ctx.set(dut.requests.valid, 1)
        ctx.set(dut.out.ready, 1)
        await ctx.delay(1e-9)
        assert ctx.get(dut.out.valid) and ctx.get(dut.requests.ready)
        assert ctx.get(dut.out.payload.data) == 0x1234_5678_9ABC_DEF0
        assert ctx.get(dut.out.payload.addr) == 0x40

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()


@pytest.mark.filterwarnings("ignore::amaranth.hdl.UnusedElaboratable")
def test_epilogue_parameter_validation():
    with pytest.raises(ValueError, match="lanes"):
        EpilogueStage(lanes=3, rows=4)
    with pytest.raises(ValueError, match="rows"):
        EpilogueStage(lanes=4, rows=5)
    with pytest.raises(ValueError, match="fifo_depth"):
        EpilogueStage(lanes=4, rows=4, fifo_depth=PIPELINE_STAGES)
