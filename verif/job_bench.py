"""cocotb test: runs the plans in ``$ZEROTILE_JOBS`` one after another, without reset in
between, and stores what the hardware produced in ``$ZEROTILE_RESULTS``.

The caller compares C with golden. A plan the hardware rejects is recorded with its error; a
hang is recorded as a timeout (the driver's, or this bench's watchdog). The DRAM model's bus
monitor records every transaction that breaks the AXI rules or leaves the DMA window or the
plan's C region; the runner turns any such record into a failure. Optional per plan:
injected bus faults (``verif.dram.Fault``) and a soft reset after a number of cycles.
"""
import os
import pickle
import sys
import time

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, RisingEdge, Timer, with_timeout, SimTimeoutError

from zerotile.firmware import Driver
from zerotile.verif.plan_run import run_plan, ERROR_GRACE_CYCLES
from zerotile.verif.cocotb_bus import CocotbBus, CLOCK_NS

PROGRESS_CYCLES = 200_000


async def _progress(bus, label):
    start = time.monotonic()
    while True:
        # A Timer wakes Python once; ClockCycles would wake it on every clock edge.
        await Timer(PROGRESS_CYCLES * CLOCK_NS, "ns")
        rate = bus.cycle() / max(time.monotonic() - start, 1e-9)
        print(f"  ... {label}: {bus.cycle():,} cycles simulated ({rate:,.0f} cycles/s)",
              file=sys.stderr, flush=True)


async def _watch_after_error(dut, late):
    """Record every AR/AW a job presents more than ERROR_GRACE_CYCLES cycles after the first
    SLVERR/DECERR response it received (a job must stop issuing on an error)."""
    cycle, error_at, ar_busy, aw_busy = 0, None, False, False
    while True:
        await RisingEdge(dut.clk)
        cycle += 1
        sig = lambda name: int(getattr(dut, f"m_axi_{name}").value)
        arv, awv = sig("arvalid"), sig("awvalid")
        if error_at is not None and cycle > error_at + ERROR_GRACE_CYCLES:
            if arv and not ar_busy:
                late.append(f"read burst at {sig('araddr'):#x} {cycle - error_at} cycles "
                            f"after the error response")
            if awv and not aw_busy:
                late.append(f"write burst at {sig('awaddr'):#x} {cycle - error_at} cycles "
                            f"after the error response")
        ar_busy = bool(arv and not sig("arready"))
        aw_busy = bool(awv and not sig("awready"))
        if error_at is None and ((sig("rvalid") and sig("rready") and sig("rresp")) or
                                 (sig("bvalid") and sig("bready") and sig("bresp"))):
            error_at = cycle


@cocotb.test()
async def run_jobs(dut):
    with open(os.environ["ZEROTILE_JOBS"], "rb") as f:
        request = pickle.load(f)
    plans = request["plans"]
    n = len(plans)
    faults = request.get("faults") or [[] for _ in plans]
    resets = request.get("soft_reset_after") or [None] * n
    mem_size = 1 << max(16, max(p.limit for p in plans).bit_length())
    cocotb.start_soon(Clock(dut.clk, CLOCK_NS, unit="ns").start())
    bus = CocotbBus(dut, mem_size=mem_size, config=plans[0].config,
                    pause_probability=request.get("pauses", 0.0), seed=request.get("seed", 0))
    dut.rst.value = 1
    await ClockCycles(dut.clk, 5)
    dut.rst.value = 0
    await ClockCycles(dut.clk, 2)
    driver = Driver(bus)
    progress = cocotb.start_soon(_progress(bus, request.get("label", "simulation"))) \
        if os.environ.get("ZEROTILE_PROGRESS") == "1" else None
    ram = bus.ram
    results = []
    for plan, timeout, plan_faults, reset_after in zip(plans, request["timeouts"], faults, resets):
        t0, c0 = time.monotonic(), bus.cycle()
        seen = len(ram.violations)
        hits = dict(ram.faults_hit)
        txns = dict(ram.transactions)
        ram.window = (plan.base, plan.limit)
        ram.write_regions = plan.write_regions
        ram.faults = list(plan_faults)
        late = []
        watcher = cocotb.start_soon(_watch_after_error(dut, late)) if plan_faults else None
        # Watchdog: whatever the driver waits on, a plan gets a bounded number of cycles.
        watchdog = timeout + 100_000 + (reset_after or 0)
        try:
            entry = await with_timeout(run_plan(driver, bus, plan, timeout, reset_after),
                                       watchdog * CLOCK_NS, "ns")
        except SimTimeoutError:
            entry = {"error": f"DeviceTimeout: watchdog: no progress within {watchdog} cycles"}
        if watcher is not None:
            watcher.cancel()
        entry.update(sim_seconds=time.monotonic() - t0, sim_cycles=bus.cycle() - c0,
                     violations=ram.violations[seen:] + late,
                     faults_hit={k: ram.faults_hit[k] - hits[k] for k in hits},
                     transactions={k: ram.transactions[k] - txns[k] for k in txns})
        results.append(entry)
        if "error" in entry and "Timeout" in entry["error"]:
            break      # the hardware may be wedged; later plans would only time out too
    if progress is not None:
        progress.cancel()
    with open(os.environ["ZEROTILE_RESULTS"], "wb") as f:
        pickle.dump(results, f)
