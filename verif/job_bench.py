"""cocotb test: runs the plans in ``$ZEROTILE_JOBS`` one after another, without reset in
between, and stores what the hardware produced in ``$ZEROTILE_RESULTS``.

This bench does no checking of its own: the caller compares C with golden. A plan the
hardware rejects is recorded with its error; a hang is recorded as a timeout.
"""
import os
import pickle
import sys
import time

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, Timer

from firmware import Driver, ZerotileError
from verif.cocotb_bus import CocotbBus, CLOCK_NS

PROGRESS_CYCLES = 200_000


async def _progress(bus, label):
    start = time.monotonic()
    while True:
        # A Timer wakes Python once; ClockCycles would wake it on every clock edge.
        await Timer(PROGRESS_CYCLES * CLOCK_NS, "ns")
        rate = bus.cycle() / max(time.monotonic() - start, 1e-9)
        print(f"  ... {label}: {bus.cycle():,} cycles simulated ({rate:,.0f} cycles/s)",
              file=sys.stderr, flush=True)


@cocotb.test()
async def run_jobs(dut):
    with open(os.environ["ZEROTILE_JOBS"], "rb") as f:
        request = pickle.load(f)
    plans = request["plans"]
    mem_size = 1 << max(16, max(p.limit for p in plans).bit_length())
    cocotb.start_soon(Clock(dut.clk, CLOCK_NS, unit="ns").start())
    bus = CocotbBus(dut, mem_size=mem_size, pause_probability=request.get("pauses", 0.0),
                    seed=request.get("seed", 0))
    dut.rst.value = 1
    await ClockCycles(dut.clk, 5)
    dut.rst.value = 0
    await ClockCycles(dut.clk, 2)
    driver = Driver(bus)
    progress = cocotb.start_soon(_progress(bus, request.get("label", "simulation")))
    results = []
    for plan, timeout in zip(plans, request["timeouts"]):
        t0, c0 = time.monotonic(), bus.cycle()
        entry = {}
        try:
            run = await driver.run(plan, timeout_cycles=timeout)
            entry.update(c=run.c, counters=run.counters, jobs_done=run.jobs_done)
        except ZerotileError as e:
            entry.update(error=f"{type(e).__name__}: {e}")
        entry.update(sim_seconds=time.monotonic() - t0, sim_cycles=bus.cycle() - c0)
        results.append(entry)
        if "error" in entry and "Timeout" in entry["error"]:
            break      # the hardware may be wedged; later plans would only time out too
    progress.cancel()
    with open(os.environ["ZEROTILE_RESULTS"], "wb") as f:
        pickle.dump(results, f)
