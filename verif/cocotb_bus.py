"""Binds the firmware driver's abstract bus to cocotbext-axi models of host and DRAM."""
import random

import cocotb
from cocotb.triggers import ClockCycles, RisingEdge, with_timeout
from cocotb.utils import get_sim_time
from cocotbext.axi import AxiLiteBus, AxiLiteMaster

from .dram import MonitoredDram

__all__ = ["CocotbBus", "pause_generator", "CLOCK_NS"]

CLOCK_NS = 10


def pause_generator(rng, probability):
    """An endless pattern of random pauses (True = pause this cycle)."""
    while True:
        yield rng.random() < probability


class CocotbBus:
    """The firmware bus interface over a ``zerotile`` top level in a cocotb simulation.

    ``AxiLiteMaster`` is the host on ``s_axil_*``; ``MonitoredDram`` (cocotbext-axi's
    ``AxiRam`` with fault injection and a bus monitor) is DRAM on ``m_axi_*``.
    With ``pause_probability`` > 0 every AXI channel of both models pauses at random
    (seeded by ``seed``).
    """

    def __init__(self, dut, *, mem_size, config, pause_probability=0.0, seed=0):
        self.dut = dut
        self.host = AxiLiteMaster(AxiLiteBus.from_prefix(dut, "s_axil"), dut.clk, dut.rst)
        self.ram = MonitoredDram(dut, size=mem_size, max_burst=config.max_burst,
                                 bus_bytes=config.bus_bytes, log=dut._log)
        if pause_probability > 0:
            rng = random.Random(seed)
            channels = [self.ram.write_if.aw_channel, self.ram.write_if.w_channel,
                        self.ram.write_if.b_channel, self.ram.read_if.ar_channel,
                        self.ram.read_if.r_channel, self.host.write_if.aw_channel,
                        self.host.write_if.w_channel, self.host.write_if.b_channel,
                        self.host.read_if.ar_channel, self.host.read_if.r_channel]
            for ch in channels:
                ch.set_pause_generator(pause_generator(rng, pause_probability))

    async def read32(self, addr):
        return await self.host.read_dword(addr)

    async def write32(self, addr, value):
        await self.host.write_dword(addr, int(value))

    async def write_mem(self, addr, data):
        self.ram.write(addr, bytes(data))

    async def read_mem(self, addr, length):
        return self.ram.read(addr, length)

    async def wait_interrupt(self, timeout_cycles):
        if int(self.dut.irq.value):
            return True
        try:
            await with_timeout(RisingEdge(self.dut.irq), timeout_cycles * CLOCK_NS, "ns")
        except cocotb.triggers.SimTimeoutError:
            return False
        return True

    async def clock(self, cycles):
        await ClockCycles(self.dut.clk, cycles)

    def cycle(self):
        return int(get_sim_time("ns")) // CLOCK_NS
