"""The two engines agree: the native engine (C++ clock loop and DRAM model) with the DRAM
timing of the vip engine (cocotbext-axi's AxiRam: 2 cycles to the first R beat and to B)
gives the same C, the same counters and the same errors as the vip engine on the same jobs:
CSR and dense, chained descriptors, bus errors, malformed jobs and a soft reset.

Also: the native engine's one-evaluation cycle equals its two-evaluation reference, and its
DRAM latency moves cycle counts the way it should.
"""
import numpy as np
import pytest

from zerotile import firmware
from zerotile.verif import simulate
from zerotile.verif.dram import Fault, SLVERR, DECERR
from zerotile.verif.native import DramTiming, VIP_EQUIVALENT_TIMING

from jobs import CFG, random_csr, random_b, random_c, check_result, tamper

CYCLE_TOLERANCE = 0.02
TIMING_COUNTERS = ("cycles_busy", "stall_memory", "stall_imbalance", "stall_drain")


def agreement_jobs():
    """(name, plan, faults, soft reset after, A, B, old C): one simulation's worth of mixed
    jobs."""
    jobs = []

    def add(name, a, b, mode, faults=(), reset=None, plan=None, c=None):
        jobs.append((name, plan or firmware.plan(a, b, c=c, mode=mode), list(faults), reset,
                     a, b, c))

    for seed, (m, k, n, density) in enumerate([(37, 45, 20, 0.1), (64, 64, 64, 0.5),
                                               (9, 300, 7, 0.02), (120, 96, 40, 0.2)]):
        a, b = random_csr(m, k, density, 500 + seed), random_b(k, n, 500 + seed)
        add(f"csr {m}x{k}x{n}", a, b, "csr")
        add(f"dense {m}x{k}x{n}", a, b, "dense")
    a, b = random_csr(30, 40, 0.3, 520), random_b(40, 3 * CFG.max_n + 5, 520)
    add("chained csr (4 descriptors)", a, b, "csr")
    add("chained dense (4 descriptors)", a, b, "dense")
    add("accumulate csr", a, b, "csr", c=random_c(30, b.shape[1], 521))
    a, b = random_csr(7, CFG.max_k + 50, 0.05, 522), random_b(CFG.max_k + 50, 9, 522)
    add("K in two slabs, dense", a, b, "dense")
    a, b = random_csr(40, 48, 0.2, 530), random_b(48, 20, 530)
    p = firmware.plan(a, b, mode="csr")
    add("SLVERR reading B", a, b, "csr", plan=p,
        faults=[Fault(p.jobs[0].fields["B_ADDR"], p.jobs[0].fields["B_ADDR"] + 8, SLVERR, "read")])
    p = firmware.plan(a, b, mode="dense")
    mid = p.c_addr + p.c_stride * 20
    add("DECERR writing C", a, b, "dense", plan=p, faults=[Fault(mid, mid + 4, DECERR, "write")])
    add("after the errors", a, b, "csr")
    add("bad descriptor (N = 0)", a, b, "csr", plan=tamper(firmware.plan(a, b, mode="csr"), "N", 0))
    p = firmware.plan(a, b, mode="csr")
    col = p.jobs[0].fields["A_COLIDX"] - p.base
    p.image[col + 4:col + 6] = (48 + 5).to_bytes(2, "little")
    add("column index out of range", a, b, "csr", plan=p)
    add("soft reset mid-job", a, b, "csr", reset=300)
    add("after the soft reset", a, b, "dense")
    return jobs


JOBS = agreement_jobs()


def _run(engine, **kw):
    return simulate([j[1] for j in JOBS], engine=engine, seed=9, label=f"agreement {engine}",
                    faults=[j[2] for j in JOBS], soft_reset_after=[j[3] for j in JOBS], **kw)


@pytest.fixture(scope="module")
def runs():
    return {"vip": _run("vip"), "native": _run("native", dram=VIP_EQUIVALENT_TIMING)}


def test_native_and_vip_engines_agree(runs):
    vip, native = runs["vip"], runs["native"]
    assert len(vip) == len(native) == len(JOBS)
    for (name, plan, faults, reset, a, b, c), v, n in zip(JOBS, vip, native):
        assert n.error == v.error, f"{name}: native says {n.error!r}, vip says {v.error!r}"
        if faults:
            assert n.faults_hit == v.faults_hit, f"{name}: faults hit {n.faults_hit} vs {v.faults_hit}"
        if reset is not None:
            assert n.soft_reset and v.soft_reset and n.busy_at_reset == v.busy_at_reset
            continue
        if v.error:      # same code and ERROR_ADDR (compared above, in the message)
            continue
        check_result(f"{name} (native)", n, a, b, c=c)
        check_result(f"{name} (vip)", v, a, b, c=c)
        assert np.array_equal(n.c, v.c), f"{name}: C differs between the engines"
        for key, value in v.counters.items():
            got = n.counters[key]
            if key in TIMING_COUNTERS:
                # cycles within 2 %; the stall breakdown splits P x cycles PE-cycles, so
                # within 2 % of those (a few cycles moved shift P PE-cycles each)
                scale = value if key == "cycles_busy" else CFG.pes * v.counters["cycles_busy"]
                assert abs(got - value) <= CYCLE_TOLERANCE * max(scale, 1), \
                    f"{name}: {key} native {got}, vip {value} (more than 2 % apart)"
            else:
                assert got == value, f"{name}: {key} native {got}, vip {value}"


def test_cycle_counts_agree_with_vip_timing(runs):
    """Stronger than the 2 % the engines promise: with AxiRam's timing (latency and the bursts
    it accepts in flight) every job takes the same cycles on both engines."""
    for (name, plan, *_), v, n in zip(JOBS, runs["vip"], runs["native"]):
        if v.counters:
            nc, vc = n.counters["cycles_busy"], v.counters["cycles_busy"]
            assert nc == vc, f"{name}: native {nc} vs vip {vc} cycles"


def test_one_evaluation_per_cycle_equals_the_two_evaluation_reference():
    """The fast cycle relies on every m_axi_* output being a register; the exact cycle does not.
    With random pauses on every channel both must give identical results and counters."""
    plans = [j[1] for j in JOBS[:12]]
    kw = dict(engine="native", seed=4, pause_probability=0.3, label="exact vs fast")
    fast = simulate(plans, **kw)
    exact = simulate(plans, native_exact=True, **kw)
    for (name, *_), f, e in zip(JOBS, fast, exact):
        assert f.error == e.error and f.counters == e.counters, name
        assert np.array_equal(f.c, e.c), name


def test_dram_latency_is_honoured():
    """A longer read latency costs cycles on a latency-bound chain of small jobs, and never
    changes a result."""
    a, b = random_csr(16, 16, 0.3, 540), random_b(16, 8, 540)
    plans = [firmware.plan(a, b, mode="csr") for _ in range(3)]
    cycles = {}
    for latency in (1, 20, 60):
        res = simulate(plans, engine="native", dram=DramTiming(read_latency=latency),
                       label=f"latency {latency}")
        for r in res:
            check_result(f"latency {latency}", r, a, b)
        cycles[latency] = res[0].counters["cycles_busy"]
    print(f"cycles by read latency: {cycles}")
    assert cycles[1] < cycles[20] < cycles[60]
    # Each job waits at least for its descriptor, then its first B and A beats.
    assert cycles[60] - cycles[20] >= 2 * 40


def test_vip_engine_refuses_dram_timing():
    from zerotile.verif import SimulationError
    p = firmware.plan(np.ones((2, 2), np.int8), np.ones((2, 2), np.int8))
    with pytest.raises(SimulationError, match="native engine"):
        simulate([p], engine="vip", dram=DramTiming())
    with pytest.raises(SimulationError, match="vip engine"):
        simulate([p], engine="native", sim="icarus")


def test_progress_line_only_on_a_terminal():
    import io
    from zerotile.verif.progress import Progress
    pipe = io.StringIO()                        # not a terminal
    p = Progress("job", 3, stream=pipe, interval=0)
    p.update(100, 1)
    p.close()
    assert pipe.getvalue() == ""

    class Terminal(io.StringIO):
        def isatty(self):
            return True
    tty = Terminal()
    p = Progress("job", 3, stream=tty, interval=0)
    p.update(1000, 2)
    p.close()
    assert "1,000 cycles" in tty.getvalue() and "jobs 2/3" in tty.getvalue()
    assert tty.getvalue().endswith("\r\x1b[K"), "the line is erased at the end"
