"""The EpilogueStage on Amaranth's simulator: every lane equals golden.requantize."""
import random

import numpy as np
import pytest
from amaranth.sim import Simulator

from zerotile import golden
from zerotile.rtl.epilogue_stage import EpilogueStage, PIPELINE_STAGES

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
    lanes, rows, n_req = 4, 16, 250
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
        # parameters two words at a time (the words of consecutive rows, as from DRAM); the
        # requests wait until they are all in
        words = [(r, w, v) for r in range(rows)
                 for w, v in enumerate((bias[r], mult[r], shift[r]))]
        for i in range(0, len(words), 2):
            for j, lane in enumerate(dut.param_wr):
                if i + j < len(words):
                    r, w, v = words[i + j]
                    ctx.set(lane, {"en": 1, "row": r, "word": w, "data": v & 0xFFFF_FFFF})
                else:
                    ctx.set(lane.en, 0)
            await ctx.tick()
        for lane in dut.param_wr:
            ctx.set(lane.en, 0)
        ctx.set(dut.params_ready, 1)
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


def test_epilogue_parameter_validation():
    import gc
    import warnings
    from amaranth.hdl import UnusedElaboratable
    with warnings.catch_warnings():
        # a component whose parameters are refused is never elaborated, by design
        warnings.simplefilter("ignore", UnusedElaboratable)
        for kwargs, message in ((dict(lanes=3, rows=4), "lanes"), (dict(lanes=4, rows=5), "rows"),
                                (dict(lanes=4, rows=4, fifo_depth=PIPELINE_STAGES),
                                 "fifo_depth")):
            with pytest.raises(ValueError, match=message):
                EpilogueStage(**kwargs)
        gc.collect()


# --- the epilogue on the whole tile (firmware -> RTL -> golden) ------------------------------
from zerotile import firmware                                             # noqa: E402
from zerotile.firmware.requant import Requant                        # noqa: E402
from zerotile.rtl.regmap import ErrorCode, EPILOGUE_PARAM_BYTES      # noqa: E402
from zerotile.verif import simulate                                  # noqa: E402
from zerotile.workload import load_mtx, DATA_DIR, golden_network  # noqa: E402

from conftest import TARGETS, describe_mismatch             # noqa: E402
from jobs import (CFG, random_csr, random_b, random_c, check_result, tamper,  # noqa: E402
                  random_requant)


def epilogue_cases():
    """name -> (A, B, old C or None, mode, Requant)."""
    cases = {}
    karate, _ = load_mtx(DATA_DIR / "karate.mtx", seed=1)
    west, _ = load_mtx(DATA_DIR / "west0479.mtx", seed=1)
    for name, a in (("karate", karate), ("west0479", west)):
        m, k = a.shape
        for n in (16, 64):
            for relu in (False, True):
                seed = 40 + n + relu
                cases[f"{name}-n{n}-relu{int(relu)}"] = (a, random_b(k, n, seed), None, "csr",
                                                          random_requant(m, seed, relu=relu))
        cases[f"{name}-n16-accumulate"] = (a, random_b(k, 16, 50), random_c(m, 16, 50) >> 12,
                                           "csr", random_requant(m, 50, relu=True))
    # dense mode, K in two slabs (int32 partial sums, the last slab finishes int8)
    k = CFG.max_k + 40
    cases["dense-two-slabs"] = (random_csr(9, k, 0.05, 60), random_b(k, 12, 60), None,
                                "dense", random_requant(9, 60))
    # more rows than the parameter memory: row blocks; wider than a job: column tiles
    m = CFG.epilogue_rows + 37
    cases["row-blocks"] = (random_csr(m, 30, 0.2, 61), random_b(30, 9, 61), None, "csr",
                           random_requant(m, 61, relu=True))
    cases["column-tiles"] = (random_csr(20, 24, 0.3, 62), random_b(24, CFG.max_n + 20, 62),
                             None, "csr", random_requant(20, 62))
    # per-tensor parameters and the extremes of the shift
    cases["per-tensor-extremes"] = (random_csr(16, 40, 0.5, 63), random_b(40, 8, 63), None,
                                    "csr", Requant.for_rows(16, bias=2**31 - 1,
                                                            multiplier=2**31 - 1, shift=30))
    cases["shift-minus-31"] = (random_csr(16, 40, 0.5, 64), random_b(40, 8, 64), None,
                               "dense", Requant.for_rows(16, multiplier=1 << 30, shift=-31))
    return cases


EPI_CASES = epilogue_cases()
_EPI_RESULTS = {}


def _target_cases(target):
    """The cases a target runs: all on native; the karate ones on the vip engines, with
    random pauses on every AXI channel."""
    return [n for n in EPI_CASES if target[0] == "native" or n.startswith("karate")]


def epilogue_results(target):
    if target not in _EPI_RESULTS:
        engine, sim = target
        names = _target_cases(target)
        plans = [firmware.plan(a, b, c=c, mode=mode, epilogue=ep)
                 for a, b, c, mode, ep in (EPI_CASES[n] for n in names)]
        results = simulate(plans, engine=engine, sim=sim, seed=3,
                           pause_probability=0.0 if engine == "native" else 0.2,
                           label=f"epilogue on {engine}/{sim}")
        assert len(results) == len(plans), "simulation stopped early (hang?)"
        _EPI_RESULTS[target] = dict(zip(names, results))
    return _EPI_RESULTS[target]


@pytest.mark.parametrize("target, name", [
    pytest.param(t.values[0], n, id=f"{n}-{t.id}", marks=t.marks)
    for t in TARGETS for n in _target_cases(t.values[0])])
def test_epilogue_job_equals_golden(target, name):
    a, b, c, _, _ = EPI_CASES[name]
    check_result(f"{name} on {'/'.join(target)}", epilogue_results(target)[name], a, b, c=c)


def test_int8_output_writes_a_quarter_of_int32():
    a, b = random_csr(40, 48, 0.2, 70), random_b(48, 24, 70)
    int32 = firmware.plan(a, b, mode="csr")
    int8 = firmware.plan(a, b, mode="csr", epilogue=random_requant(40, 70, relu=True))
    r32, r8 = simulate([int32, int8], seed=1, label="int32 vs int8 output")
    check_result("int32", r32, a, b)
    check_result("int8", r8, a, b)
    w32, w8 = r32.counters["dram_bytes_written"], r8.counters["dram_bytes_written"]
    print(f"bytes written: int32 {w32}, int8 {w8}")
    assert w8 * 4 == w32, f"int8 output wrote {w8} bytes, int32 {w32}: not a quarter"


def test_epilogue_errors_are_flagged():
    a, b = random_csr(20, 30, 0.3, 80), random_b(30, 10, 80)
    ep = random_requant(20, 80)

    def fresh():
        return firmware.plan(a, b, mode="csr", epilogue=ep)
    cases = []
    # a multiplier below 2**30 in DRAM (row 3): the hardware names its address
    p = fresh()
    params = p.jobs[0].fields["EPI_PARAMS"]
    at = params + 3 * EPILOGUE_PARAM_BYTES + 4
    p.image[at - p.base:at - p.base + 4] = (12345).to_bytes(4, "little")
    cases.append(("multiplier 12345", p, ErrorCode.BAD_EPILOGUE_PARAMETER, at))
    p = fresh()
    at = params + 7 * EPILOGUE_PARAM_BYTES + 8
    p.image[at - p.base:at - p.base + 4] = (-32 & 0xFFFF_FFFF).to_bytes(4, "little")
    cases.append(("shift -32", p, ErrorCode.BAD_EPILOGUE_PARAMETER, at))
    cases.append(("act_min above act_max",
                  tamper(fresh(), "EPI_QUANT", (10 << 8) | (5 << 16)), ErrorCode.BAD_DESCRIPTOR,
                  None))
    cases.append(("Q_ADDR misaligned", tamper(fresh(), "Q_ADDR", fresh().q_addr + 1),
                  ErrorCode.BAD_DESCRIPTOR, None))
    cases.append(("Q outside the window", tamper(fresh(), "Q_ADDR", 1 << 30),
                  ErrorCode.OPERAND_OUTSIDE_WINDOW, 1 << 30))
    cases.append(("parameters outside the window", tamper(fresh(), "EPI_PARAMS", 1 << 30),
                  ErrorCode.OPERAND_OUTSIDE_WINDOW, 1 << 30))
    cases.append(("M above the parameter memory", tamper(fresh(), "M", CFG.epilogue_rows + 1),
                  ErrorCode.BAD_DESCRIPTOR, None))
    plans = [p for _, p, _, _ in cases] + [fresh()]
    results = simulate(plans, seed=2, label="epilogue errors")
    for (what, _, code, addr), res in zip(cases, results):
        assert res.error and code.name in res.error, \
            f"{what}: expected {code.name}, got {res.error or 'no error'}"
        if addr is not None:
            assert f"0x{addr:08x}" in res.error, f"{what}: expected address 0x{addr:08x} in " \
                                                 f"{res.error}"
    check_result("after the errors", results[-1], a, b)


def test_requant_parameters_are_checked_by_the_firmware():
    with pytest.raises(firmware.FormatError, match=r"multiplier\[2\]"):
        Requant.for_rows(4, multiplier=[1 << 30, 1 << 30, 5, 1 << 30], shift=0)
    with pytest.raises(firmware.FormatError, match=r"shift\[0\]"):
        Requant.for_rows(2, multiplier=1 << 30, shift=[40, 0])
    with pytest.raises(firmware.FormatError, match="rows"):
        firmware.plan(random_csr(5, 6, 0.5, 1), random_b(6, 3, 1),
                      epilogue=Requant.for_rows(4, multiplier=1 << 30, shift=0))
    with pytest.raises(firmware.FormatError, match="act_min"):
        Requant.for_rows(2, multiplier=1 << 30, shift=0, act_min=10, act_max=0)


@pytest.mark.parametrize("scale", [1.0, 0.5, 0.75, 0.1, 1e-3, 3e-7, 2.0**-40, 0.0, 1234.5,
                                   2.0**31, 0.9999999999])
def test_firmware_quantize_multiplier_equals_golden(scale):
    from zerotile.firmware.requant import quantize_multiplier
    got = tuple(int(x) for x in quantize_multiplier(scale))
    assert got == tuple(int(x) for x in golden.quantize_multiplier(scale))


def random_network(sizes, density, seed, modes=None):
    rng = np.random.default_rng(seed)
    layers = []
    for i, (k, m) in enumerate(zip(sizes, sizes[1:])):
        w = random_csr(m, k, density, seed + i)
        last = i == len(sizes) - 2
        mode = (modes or ["auto"] * len(sizes))[i]
        layers.append(firmware.Layer.from_scale(
            w, bias=rng.integers(-3000, 3000, m), scale=rng.uniform(0.002, 0.02, m),
            out_zero_point=int(rng.integers(-10, 10)), relu=not last, mode=mode))
    return layers


@pytest.mark.parametrize("target", TARGETS)
def test_network_runs_as_one_chain(target):
    """Three layers, batch 16 and 40, sparse and dense layers: one doorbell per network,
    every layer's int8 output equal to golden's."""
    engine, sim = target
    cases = []
    for seed, (sizes, batch, density, modes) in enumerate([
            ((64, 128, 64, 10), 16, 0.1, None),
            ((30, 50, 20), 40, 0.3, ["dense", "csr"])]):
        layers = random_network(sizes, density, 90 + seed, modes)
        x = np.random.default_rng(seed).integers(-128, 128, (sizes[0], batch)).astype(np.int8)
        cases.append((layers, x))
    plans = [firmware.plan_network(layers, x) for layers, x in cases]
    results = simulate(plans, engine=engine, sim=sim, seed=4,
                       pause_probability=0.0 if engine == "native" else 0.15,
                       label=f"networks on {engine}/{sim}")
    for i, ((layers, x), p, res) in enumerate(zip(cases, plans, results)):
        assert res.error is None, f"network {i}: {res.error}"
        assert res.jobs_done == len(p.jobs)
        ref = golden_network(layers, x)
        assert np.array_equal(res.c, ref), describe_mismatch(f"network {i}", res.c, ref)


def test_network_shape_errors():
    layers = random_network((10, 20, 5), 0.5, 1)
    with pytest.raises(firmware.FormatError,
                       match="layer 1 takes 10 inputs, the previous one gives 20"):
        firmware.plan_network([layers[0], layers[0]], np.zeros((10, 4), np.int8))
    with pytest.raises(firmware.FormatError, match="at least one layer"):
        firmware.plan_network([], np.zeros((10, 4), np.int8))
