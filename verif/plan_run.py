"""What every engine does with one plan: load it, run it (or soft-reset it part-way) through
the firmware ``Driver``, and record what happened. Engine-neutral: the bus is any firmware bus
that also has ``clock(cycles)`` (let the hardware run) and ``cycle()`` (cycles so far)."""
from zerotile.firmware import ZerotileError
from zerotile.rtl.regmap import REG, Status, MODE_CSR

__all__ = ["run_plan", "ERROR_GRACE_CYCLES", "default_timeout"]

# An error response on one channel reaches the other engine through registers: the engine's
# error flag (+1 cycle), the controller's error latch (+2), its ``aborting`` (+3), which stops
# the other engine's picks; a burst picked before that still appears on AR/AW the cycle after
# (found by the fault campaign: a write error while an accumulating job reads its old C). The
# engine that saw the error stops itself one cycle after it. A new AR/AW presented later than
# this after an error response is a violation.
ERROR_GRACE_CYCLES = 3


async def run_plan(driver, bus, plan, timeout, reset_after):
    """Run ``plan``; with ``reset_after`` (cycles) stop it by SOFT_RESET instead of awaiting
    it. Returns the plan's result entry (``c``, ``counters``, ``jobs_done`` or ``error``, and
    the soft-reset observations)."""
    entry = {}
    try:
        if reset_after is None:
            run = await driver.run(plan, timeout_cycles=timeout)
            entry.update(c=run.c, counters=run.counters, jobs_done=run.jobs_done)
        else:
            await driver.check_config(plan.config)
            await bus.write_mem(plan.base, bytes(plan.image))
            await driver.start(plan.first_descriptor, (plan.base, plan.limit))
            await bus.clock(reset_after)
            state = await bus.read32(REG["STATUS"])
            entry["busy_at_reset"] = bool(state & Status.BUSY)
            entry["jobs_done_at_reset"] = await bus.read32(REG["JOBS_DONE"])
            c0 = bus.cycle()
            await driver.soft_reset()
            entry.update(soft_reset=True, reset_cycles=bus.cycle() - c0)
    except ZerotileError as e:
        entry.update(error=f"{type(e).__name__}: {e}")
    return entry


def default_timeout(plan, read_latency=2):
    """Cycles after which a plan counts as hung: generous over the sum of its jobs' estimates
    (an accumulating job also reads back and rewrites its part of C, a chunk per ~4 cycles),
    plus the DRAM's ``read_latency`` paid once per beat of the plan's memory image (as if no
    two reads overlapped), so that a slow DRAM is never taken for a hang."""
    import math
    from zerotile import firmware
    cfg = plan.config
    total = 0
    beats = len(plan.image) // cfg.bus_bytes
    latency = (beats + 64 * len(getattr(plan, "jobs", [None]))) * read_latency
    if getattr(plan, "mode", None) == "spgemm":
        return int(8 * plan.estimate + 4 * beats + 20_000 + latency)
    for job in plan.jobs:
        f = job.fields
        m, k, n = f["M"], f["K"], f["N"]
        mode = "csr" if f["MODE"] == MODE_CSR else "dense"
        est = firmware.estimate_cycles(mode, m, k, n, f["NNZ"], cfg)
        if f.get("FLAGS", 0) & 1:
            est += 4 * m * math.ceil(n / cfg.lanes)
        total += est + 200
    return int(8 * total + 4 * beats + 20_000 + latency)
