"""AXI4-Lite register file elaborated from ``rtl.regmap.REGISTERS``."""
from amaranth.hdl import *
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from .axi import AXI4LiteSignature, RESP_OKAY
from .regmap import REGISTERS

__all__ = ["RegisterFile"]

RESP_SLVERR = 0b10


class RegisterFile(wiring.Component):
    """AXI4-Lite subordinate holding the control registers.

    Ports, per register ``NAME`` of ``registers`` (lower-cased):

    * ``ro``:  ``name`` In(32), the value read back.
    * ``rw``:  ``name`` Out(32), the stored value (init 0; byte strobes honoured).
    * ``w1c``: ``name`` In(32) read back, ``name_clear`` Out(32), one cycle of the bits written 1.
    * ``wo``:  ``name_strobe`` Out(1), one cycle when written; reads as 0.

    A write is accepted when address and data are both valid and answered one cycle later;
    a read is answered one cycle after its address. Unmapped addresses answer SLVERR.
    Each request gets exactly one response.
    """

    def __init__(self, registers=REGISTERS, *, addr_width=8):
        self._registers = list(registers)
        if len({r.offset for r in self._registers}) != len(self._registers):
            raise ValueError("register offsets must be unique")
        for r in self._registers:
            if r.offset % 4 or r.offset >= (1 << addr_width):
                raise ValueError(f"register {r.name} at 0x{r.offset:x} is misaligned or does not "
                                 f"fit {addr_width} address bits")
            if r.access not in ("ro", "rw", "w1c", "wo"):
                raise ValueError(f"register {r.name} has unknown access {r.access!r}")
        members = {"bus": In(AXI4LiteSignature(addr_width=addr_width))}
        for r in self._registers:
            name = r.name.lower()
            if r.access == "ro":
                members[name] = In(32)
            elif r.access == "rw":
                members[name] = Out(32)
            elif r.access == "w1c":
                members[name] = In(32)
                members[f"{name}_clear"] = Out(32)
            else:
                members[f"{name}_strobe"] = Out(1)
        super().__init__(members)

    def elaborate(self, platform):
        m = Module()
        bus = self.bus

        # Write channel: take AW and W together, answer on B.
        bvalid = Signal()
        bresp = Signal(2)
        do_write = Signal()
        m.d.comb += [
            do_write.eq(bus.awvalid & bus.wvalid & ~bvalid),
            bus.awready.eq(do_write),
            bus.wready.eq(do_write),
            bus.bvalid.eq(bvalid),
            bus.bresp.eq(bresp),
        ]
        with m.If(bvalid & bus.bready):
            m.d.sync += bvalid.eq(0)
        wmask = Cat(*(bus.wstrb[i].replicate(8) for i in range(4)))
        waddr = bus.awaddr[2:]
        for r in self._registers:
            name = r.name.lower()
            hit = do_write & (waddr == r.offset >> 2)
            if r.access == "rw":
                reg = getattr(self, name)
                with m.If(hit):
                    m.d.sync += reg.eq((reg & ~wmask) | (bus.wdata & wmask))
            elif r.access == "w1c":
                m.d.comb += getattr(self, f"{name}_clear").eq(Mux(hit, bus.wdata & wmask, 0))
            elif r.access == "wo":
                m.d.comb += getattr(self, f"{name}_strobe").eq(hit)
        with m.If(do_write):
            m.d.sync += bvalid.eq(1)
            mapped = Cat(*(waddr == r.offset >> 2 for r in self._registers)).any()
            m.d.sync += bresp.eq(Mux(mapped, RESP_OKAY, RESP_SLVERR))

        # Read channel.
        rvalid = Signal()
        rdata = Signal(32)
        rresp = Signal(2)
        m.d.comb += [
            bus.arready.eq(~rvalid),
            bus.rvalid.eq(rvalid),
            bus.rdata.eq(rdata),
            bus.rresp.eq(rresp),
        ]
        with m.If(rvalid & bus.rready):
            m.d.sync += rvalid.eq(0)
        with m.If(bus.arvalid & ~rvalid):
            m.d.sync += [rvalid.eq(1), rresp.eq(RESP_SLVERR), rdata.eq(0)]
            with m.Switch(bus.araddr[2:]):
                for r in self._registers:
                    with m.Case(r.offset >> 2):
                        m.d.sync += rresp.eq(RESP_OKAY)
                        if r.access != "wo":
                            m.d.sync += rdata.eq(getattr(self, r.name.lower()))
        return m
