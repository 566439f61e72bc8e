"""Reliability and security of the accelerator as a bus master, on both engines (the native
C++ DRAM model and cocotbext-axi's AxiRam on Verilator; malformed jobs on Icarus too):

* backpressure: random pauses on all five AXI4 channels and the AXI4-Lite channels;
* bus errors: SLVERR/DECERR injected by the DRAM model on reads and writes;
* the DMA window as a wall: operands outside it (or wrapping past 4 GiB) are rejected before
  any operand transfer;
* malformed jobs handed to the hardware with the firmware's checks bypassed;
* soft reset in the middle of a job, then a new job.

Every simulation here (as everywhere) runs under the DRAM model's bus monitor: any burst
outside the window or the job's C region, longer than max_burst or crossing 4 KiB fails it.
After an injected error the bench also fails a job that presents a new AR/AW more than
ERROR_GRACE_CYCLES cycles after the error response.
"""
import numpy as np
import pytest

from zerotile import firmware
from zerotile.rtl.regmap import ErrorCode, MAX_M, MAX_NNZ
from zerotile.verif import simulate
from zerotile.verif.dram import Fault, SLVERR, DECERR
from zerotile.verif.plan_run import ERROR_GRACE_CYCLES

from conftest import TARGETS, ENGINES
from jobs import CFG, random_csr, random_b, check_result, tamper

BACKPRESSURE_SEEDS = list(range(101, 109))
# The vip engine (a cocotb process per run) takes three of them, pauses 0.15, 0.25 and 0.50; the
# random and fault campaigns of ``zerotile regress`` drive it with pauses on every channel too.
VIP_BACKPRESSURE_SEEDS = (103, 104, 106)
SOFT_RESET_CYCLES = (1, 40, 400, 1500, 3000)
VIP_SOFT_RESET_CYCLES = (400,)     # mid-job; the fault campaigns reset vip runs at random cycles


def _native_and_some_vip(values, vip_values):
    """(value, target) pairs: every value on the native engine, ``vip_values`` on vip too."""
    native, vip = ENGINES
    return [pytest.param(v, native.values[0], id=f"{v}-{native.id}") for v in values] + \
        [pytest.param(v, vip.values[0], id=f"{v}-{vip.id}") for v in vip_values]


def mixed_jobs(seed):
    """Two CSR and two dense jobs of seeded random shapes."""
    rng = np.random.default_rng(seed)
    jobs = []
    for mode in ("csr", "dense", "csr", "dense"):
        m, k, n = (int(x) for x in rng.integers(1, 40, 3))
        a = random_csr(m, k, float(rng.uniform(0.02, 0.6)), seed * 7 + len(jobs))
        b = random_b(k, n, seed * 7 + len(jobs))
        jobs.append((f"{mode} {m}x{k}x{n}", a, b, mode))
    return jobs


@pytest.mark.parametrize("seed, target",
                         _native_and_some_vip(BACKPRESSURE_SEEDS, VIP_BACKPRESSURE_SEEDS))
def test_backpressure_all_channels(seed, target):
    probability = 0.15 + 0.05 * (seed % 8)       # 0.15 .. 0.5 of cycles paused per channel
    print(f"seed {seed}, pause probability {probability:.2f} on all 10 AXI channels")
    jobs = mixed_jobs(seed)
    plans = [firmware.plan(a, b, mode=mode) for _, a, b, mode in jobs]
    results = simulate(plans, engine=target[0], seed=seed, pause_probability=probability,
                       label=f"backpressure seed {seed}")
    assert len(results) == len(plans), "simulation stopped early (hang?)"
    for (name, a, b, _), res in zip(jobs, results):
        check_result(f"{name} (seed {seed}, pauses {probability:.2f})", res, a, b)


# --- bus errors -------------------------------------------------------------------------------

def _region(plan, what):
    """[start, end) of one operand region of the plan's first job."""
    f = plan.jobs[0].fields
    m, k, n = plan.shape
    if what == "B":
        return f["B_ADDR"], f["B_ADDR"] + 8
    if what == "values":
        return f["A_VALUES"], f["A_VALUES"] + 8
    if what == "col_idx":
        return f["A_COLIDX"] + 64, f["A_COLIDX"] + 72
    if what == "descriptor":
        return plan.jobs[0].desc_addr, plan.jobs[0].desc_addr + 8
    if what == "C":
        return plan.c_addr + plan.c_stride * (m // 2), plan.c_addr + plan.c_stride * (m // 2) + 4
    raise ValueError(what)


FAULT_CASES = [  # (name, mode, region, kind, resp, expected error)
    ("SLVERR reading B", "csr", "B", "read", SLVERR, ErrorCode.AXI_READ_ERROR),
    ("DECERR reading A values", "dense", "values", "read", DECERR, ErrorCode.AXI_READ_ERROR),
    ("SLVERR reading column indices", "csr", "col_idx", "read", SLVERR,
     ErrorCode.AXI_READ_ERROR),
    ("DECERR reading the descriptor", "csr", "descriptor", "read", DECERR,
     ErrorCode.AXI_READ_ERROR),
    ("SLVERR writing C", "csr", "C", "write", SLVERR, ErrorCode.AXI_WRITE_ERROR),
    ("DECERR writing C", "dense", "C", "write", DECERR, ErrorCode.AXI_WRITE_ERROR),
]


@pytest.mark.parametrize("target", ENGINES)
def test_bus_errors_stop_the_job_and_the_next_job_runs(target):
    a = random_csr(40, 48, 0.2, 61)
    b = random_b(48, 20, 61)
    plans, faults = [], []
    for name, mode, region, kind, resp, _ in FAULT_CASES:
        p = firmware.plan(a, b, mode=mode)
        lo, hi = _region(p, region)
        plans += [p, firmware.plan(a, b, mode="csr")]
        faults += [[Fault(lo, hi, resp, kind)], []]
    results = simulate(plans, engine=target[0], seed=5, faults=faults, label="bus errors")
    assert len(results) == len(plans), "simulation stopped early (hang?)"
    for i, (name, _, _, kind, _, code) in enumerate(FAULT_CASES):
        bad, after = results[2 * i], results[2 * i + 1]
        lo, hi = faults[2 * i][0].start, faults[2 * i][0].end
        assert bad.faults_hit[kind] > 0, f"{name}: the fault was never hit"
        assert bad.error and ErrorCode(code).name in bad.error, \
            f"{name}: expected {ErrorCode(code).name}, got {bad.error or 'no error'}"
        # ERROR_ADDR is the address of the failing burst, which covers the faulty bytes.
        addr = int(bad.error.rsplit("0x", 1)[1].split()[0].rstrip(")"), 16)
        assert addr <= lo < addr + CFG.max_burst * CFG.bus_bytes, \
            f"{name}: ERROR_ADDR {addr:#x} does not cover the fault at {lo:#x}"
        assert not bad.violations, bad.violations     # (also raised by simulate)
        check_result(f"job after '{name}'", after, a, b)


# --- the DMA window ---------------------------------------------------------------------------

def window_cases():
    a = random_csr(8, 9, 0.4, 21)
    b = random_b(9, 10, 21)
    good = lambda mode="csr": firmware.plan(a, b, mode=mode)
    out = []
    for field in ("A_ROWPTR", "A_COLIDX", "A_VALUES", "B_ADDR", "C_ADDR"):
        p = good()
        out.append((f"{field} at the window limit", tamper(p, field, p.limit)))
        p = good()
        out.append((f"{field} below the window base", tamper(p, field, p.base - 64)))
    p = good("dense")
    out.append(("C wraps past 4 GiB", tamper(p, "C_ADDR", 0xFFFF_FFC0)))
    p = good("dense")
    out.append(("A values wrap past 4 GiB", tamper(p, "A_VALUES", 0xFFFF_FFC0)))
    p = good()
    out.append(("C rows run past the limit", tamper(p, "C_STRIDE", 1 << 20)))
    p = good()
    out.append(("column indices run past the limit", tamper(p, "NNZ", MAX_NNZ)))
    return a, b, out


@pytest.mark.parametrize("target", ENGINES)
def test_operands_outside_the_window_are_rejected_before_any_transfer(target):
    a, b, cases = window_cases()
    plans = []
    for _, p in cases:
        plans += [p, firmware.plan(a, b, mode="csr")]
    results = simulate(plans, engine=target[0], seed=3, label="window")
    assert len(results) == len(plans), "simulation stopped early (hang?)"
    desc_bursts = -(-64 // (CFG.bus_bytes * CFG.max_burst))
    for i, (what, _) in enumerate(cases):
        bad, after = results[2 * i], results[2 * i + 1]
        assert bad.error and "OPERAND_OUTSIDE_WINDOW" in bad.error, \
            f"{what}: expected OPERAND_OUTSIDE_WINDOW, got {bad.error or 'no error'}"
        assert bad.transactions == {"read": desc_bursts, "write": 0}, \
            f"{what}: transfers before the rejection: {bad.transactions}"
        check_result(f"job after '{what}'", after, a, b)


# --- malformed jobs ---------------------------------------------------------------------------

def malformed_cases():
    """(name, plan, expected ErrorCode): descriptors and CSR arrays the firmware would refuse."""
    a = random_csr(8, 9, 0.4, 21)
    b = random_b(9, 10, 21)
    good = lambda mode="csr": firmware.plan(a, b, mode=mode)
    bad_desc = ErrorCode.BAD_DESCRIPTOR
    out = [
        ("unknown mode", tamper(good(), "MODE", 7), bad_desc),
        ("unknown flag", tamper(good(), "FLAGS", 8), bad_desc),
        ("zero rows (M = 0)", tamper(good(), "M", 0), bad_desc),
        ("zero depth (K = 0)", tamper(good(), "K", 0), bad_desc),
        ("zero columns (N = 0)", tamper(good(), "N", 0), bad_desc),
        ("huge M", tamper(good(), "M", MAX_M + 1), bad_desc),
        ("huge K", tamper(good(), "K", 0xFFFF_FFFF), bad_desc),
        ("N wider than the accumulators", tamper(good(), "N", CFG.max_n + 1), bad_desc),
        ("nnz beyond the hardware limit", tamper(good(), "NNZ", MAX_NNZ + 1), bad_desc),
        # M x K within the dense stream limit: the A it names runs past the window
        ("huge dense job (65535 x 4096)",
         tamper(tamper(good("dense"), "M", 65535), "K", 4096), ErrorCode.OPERAND_OUTSIDE_WINDOW),
        # max_n columns at the deepest K: two chunks per bank, twice what a bank holds
        ("B does not fit the scratchpad",
         tamper(tamper(tamper(good(), "K", CFG.max_k), "N", CFG.max_n), "C_STRIDE",
                4 * CFG.max_n), bad_desc),
        ("C rows overlap (C_STRIDE too small)", tamper(good(), "C_STRIDE", 32), bad_desc),
        ("misaligned B", tamper(good(), "B_ADDR", good().jobs[0].fields["B_ADDR"] + 4), bad_desc),
        ("misaligned C", tamper(good(), "C_ADDR", good().c_addr + 4), bad_desc),
    ]
    p = good()
    rp = p.jobs[0].fields["A_ROWPTR"] - p.base
    p.image[rp:rp + 4] = (1).to_bytes(4, "little")
    out.append(("row_ptr[0] != 0", p, ErrorCode.BAD_ROW_POINTERS))
    p = good()
    p.image[rp + 8:rp + 12] = (0).to_bytes(4, "little")
    out.append(("decreasing row pointers", p, ErrorCode.BAD_ROW_POINTERS))
    p = good()
    p.image[rp + 12:rp + 16] = (a.nnz + 3).to_bytes(4, "little")
    out.append(("row pointer beyond nnz", p, ErrorCode.BAD_ROW_POINTERS))
    out.append(("nnz larger than the row pointers say", tamper(good(), "NNZ", a.nnz + 1),
                ErrorCode.BAD_ROW_POINTERS))
    out.append(("nnz smaller than the row pointers say", tamper(good(), "NNZ", a.nnz - 1),
                ErrorCode.BAD_ROW_POINTERS))
    p = good()
    col = p.jobs[0].fields["A_COLIDX"] - p.base
    p.image[col + 4:col + 6] = (9 + 5).to_bytes(2, "little")
    out.append(("column index >= K (uint16)", p, ErrorCode.COLUMN_OUT_OF_RANGE))
    wide = firmware.plan(a, b, mode="csr", column_index_bytes=4)
    col = wide.jobs[0].fields["A_COLIDX"] - wide.base
    wide.image[col + 8:col + 12] = (9 + 5).to_bytes(4, "little")
    out.append(("column index >= K (int32)", wide, ErrorCode.COLUMN_OUT_OF_RANGE))
    wide = firmware.plan(a, b, mode="csr", column_index_bytes=4)
    wide.image[col:col + 4] = (0xFFFF_FFFF).to_bytes(4, "little")
    out.append(("negative column index (int32)", wide, ErrorCode.COLUMN_OUT_OF_RANGE))
    wide = firmware.plan(a, b, mode="csr", column_index_bytes=4)
    wide.image[col + 4:col + 8] = (1 << 16).to_bytes(4, "little")
    out.append(("column index 65,536 (int32, low half 0)", wide, ErrorCode.COLUMN_OUT_OF_RANGE))
    p = good()
    p.jobs[0].desc_addr = p.limit + 64
    out.append(("descriptor outside the window", p, ErrorCode.DESC_OUTSIDE_WINDOW))
    p = good()
    p.jobs[0].desc_addr += 8
    out.append(("misaligned descriptor", p, ErrorCode.DESC_OUTSIDE_WINDOW))
    return a, b, out


MALFORMED = malformed_cases()


@pytest.mark.parametrize("target", TARGETS)
def test_malformed_jobs_are_flagged_and_the_next_job_runs(target):
    engine, sim = target
    a, b, cases = MALFORMED
    plans = []
    for _, p, _ in cases:
        plans += [p, firmware.plan(a, b, mode="csr")]
    results = simulate(plans, engine=engine, sim=sim, seed=4,
                       label=f"malformed jobs on {engine}/{sim}")
    assert len(results) == len(plans), "simulation stopped early (hang?)"
    for i, (what, p, code) in enumerate(cases):
        bad, after = results[2 * i], results[2 * i + 1]
        assert bad.error and ErrorCode(code).name in bad.error, \
            f"{what}: expected {ErrorCode(code).name}, got {bad.error or 'no error'}"
        if code != ErrorCode.BAD_ROW_POINTERS and code != ErrorCode.COLUMN_OUT_OF_RANGE:
            assert bad.transactions["write"] == 0, f"{what}: C written before the rejection"
        check_result(f"job after '{what}'", after, a, b)


# --- soft reset -------------------------------------------------------------------------------

@pytest.mark.parametrize("reset_after, target",
                         _native_and_some_vip(SOFT_RESET_CYCLES, VIP_SOFT_RESET_CYCLES))
def test_soft_reset_mid_job_then_a_new_job(reset_after, target):
    """Soft reset at points spread over a job (descriptor fetch, B load, A stream, write-back),
    then the same job again without a hardware reset: correct."""
    a = random_csr(120, 96, 0.2, 71)
    b = random_b(96, 40, 71)
    plans = [firmware.plan(a, b, mode="csr"), firmware.plan(a, b, mode="csr"),
             firmware.plan(a, b, mode="dense")]
    results = simulate(plans, engine=target[0], seed=6,
                       soft_reset_after=[reset_after, None, None],
                       label=f"soft reset after {reset_after}")
    assert len(results) == 3
    first = results[0]
    assert first.soft_reset and first.error is None, first.error
    assert first.busy_at_reset and first.jobs_done_at_reset == 0, \
        f"the job was not running {reset_after} cycles after the doorbell"
    print(f"soft reset after {reset_after} cycles: idle {first.reset_cycles} cycles later; "
          f"the job alone takes {results[1].counters['cycles_busy']} cycles")
    check_result(f"csr job after a soft reset at cycle {reset_after}", results[1], a, b)
    check_result(f"dense job after a soft reset at cycle {reset_after}", results[2], a, b)


def test_error_grace_is_small():
    # The bench allows the bursts picked while the error travels through the registers
    # between the engines and the controller (three cycles) to appear, nothing later.
    assert ERROR_GRACE_CYCLES <= 3
