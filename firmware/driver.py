"""The driver: runs a ``Plan`` on an accelerator reached through an injected async bus.

The bus is any object with these coroutines (cocotb today, a board's UIO/devmem later):

* ``read32(addr)`` / ``write32(addr, value)``: the accelerator's AXI4-Lite registers;
* ``write_mem(addr, data)`` / ``read_mem(addr, length)``: the DRAM the accelerator sees;
* optionally ``wait_interrupt(timeout_cycles)``: return True once the interrupt line is high,
  False on timeout. Without it the driver polls STATUS.
"""
from dataclasses import dataclass

from zerotile.rtl.regmap import REG, COUNTERS, ID_MAGIC, VERSION, Status, Control, decode_fields

from .errors import DeviceError, DeviceTimeout

__all__ = ["Driver", "RunResult"]


@dataclass
class RunResult:
    c: object            # M x N: int32 C, or int8 with the epilogue
    counters: dict       # counter name (lower case) -> value
    jobs_done: int


class Driver:
    def __init__(self, bus, *, max_polls=1_000_000):
        self.bus = bus
        self.max_polls = max_polls

    async def identify(self):
        """Check the ID register and return the hardware's configuration fields."""
        ident = await self.bus.read32(REG["ID"])
        if ident != ID_MAGIC:
            raise RuntimeError(f"no zerotile here: ID reads 0x{ident:08x}, expected 0x{ID_MAGIC:08x}")
        version = await self.bus.read32(REG["VERSION"])
        cfg = decode_fields("CONFIG", await self.bus.read32(REG["CONFIG"]))
        b_words = await self.bus.read32(REG["B_WORDS"])
        return {"version": version, **cfg, "b_words": b_words}

    async def check_config(self, config):
        hw = await self.identify()
        want = {"pes": config.pes, "lanes": config.lanes, "bus_bytes": config.bus_bytes,
                "max_chunks": config.max_chunks, "b_words": config.b_words}
        diff = {k: (v, hw[k]) for k, v in want.items() if hw[k] != v}
        if diff:
            raise RuntimeError("plan made for another configuration: " + ", ".join(
                f"{k} planned {a}, hardware {b}" for k, (a, b) in diff.items()))
        if hw["version"] >> 16 != VERSION >> 16:
            raise RuntimeError(f"hardware version 0x{hw['version']:x} is incompatible with "
                               f"driver 0x{VERSION:x}")

    async def read_counters(self):
        out = {}
        for name, _ in COUNTERS:
            lo = await self.bus.read32(REG[f"{name}_LO"])
            hi = await self.bus.read32(REG[f"{name}_HI"])
            out[name.lower()] = lo | (hi << 32)
        return out

    async def start(self, desc_addr, window):
        """Program the window and ring the doorbell for the chain at ``desc_addr``."""
        status = await self.bus.read32(REG["STATUS"])
        if status & Status.BUSY:
            raise RuntimeError("accelerator is busy")
        await self.bus.write32(REG["STATUS"], Status.DONE | Status.ERROR)
        await self.bus.write32(REG["WINDOW_BASE"], window[0])
        await self.bus.write32(REG["WINDOW_LIMIT"], window[1])
        await self.bus.write32(REG["CONTROL"], Control.IRQ_ENABLE)
        await self.bus.write32(REG["DESC_ADDR"], desc_addr)
        await self.bus.write32(REG["DOORBELL"], 1)

    async def wait(self, timeout_cycles):
        """Wait for the chain to end; raise DeviceError on an error, DeviceTimeout on a hang."""
        if hasattr(self.bus, "wait_interrupt"):
            if not await self.bus.wait_interrupt(timeout_cycles):
                raise DeviceTimeout(f"no interrupt within {timeout_cycles} cycles")
            status = await self.bus.read32(REG["STATUS"])
        else:
            for _ in range(self.max_polls):
                status = await self.bus.read32(REG["STATUS"])
                if not status & Status.BUSY:
                    break
            else:
                raise DeviceTimeout(f"still busy after {self.max_polls} polls")
        jobs_done = await self.bus.read32(REG["JOBS_DONE"])
        if status & Status.ERROR:
            code = await self.bus.read32(REG["ERROR_CODE"])
            addr = await self.bus.read32(REG["ERROR_ADDR"])
            await self.bus.write32(REG["STATUS"], Status.ERROR)
            raise DeviceError(code, addr, jobs_done)
        if not status & Status.DONE:
            raise RuntimeError(f"interrupt without done or error (STATUS 0x{status:x})")
        await self.bus.write32(REG["STATUS"], Status.DONE)
        return jobs_done

    async def soft_reset(self, max_polls=10_000):
        """Stop whatever runs (SOFT_RESET) and wait until the accelerator is idle again."""
        await self.bus.write32(REG["SOFT_RESET"], 1)
        for _ in range(max_polls):
            status = await self.bus.read32(REG["STATUS"])
            if not status & Status.BUSY:
                if status & (Status.DONE | Status.ERROR):
                    raise RuntimeError(f"STATUS 0x{status:x} after a soft reset")
                return
        raise DeviceTimeout(f"still busy {max_polls} polls after a soft reset")

    async def run(self, plan, *, timeout_cycles):
        """Load ``plan`` into DRAM, run it, and return its result (C, or the int8 output of
        the epilogue) and the counters."""
        await self.check_config(plan.config)
        await self.bus.write_mem(plan.base, bytes(plan.image))
        await self.start(plan.first_descriptor, (plan.base, plan.limit))
        jobs_done = await self.wait(timeout_cycles)
        if jobs_done != len(plan.jobs):
            raise RuntimeError(f"{jobs_done} jobs done, {len(plan.jobs)} planned")
        raw = await self.bus.read_mem(*plan.result_region)
        return RunResult(plan.unpack_result(raw), await self.read_counters(), jobs_done)
