"""A pin-frugal wrapper so the accelerator can be placed on a small iCE40 (UP5K, 39 I/Os)."""
from amaranth.hdl import *
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from zerotile.rtl.accelerator import Accelerator

__all__ = ["PinWrapper"]


class PinWrapper(wiring.Component):
    """The accelerator with all its ports folded onto two pins, for place-and-route only.

    Ports: ``sin`` feeds a shift register as wide as all accelerator inputs together (AXI
    responses, AXI4-Lite requests), which drives them; ``sout`` is the registered XOR of all
    accelerator outputs. Nothing is optimised away (every output reaches ``sout``) and the
    accelerator's own paths are timed as in a real system; the wrapper adds one shift register
    and one XOR tree. Not a functional design: it exists to measure area and Fmax.
    """
    sin: In(1)
    sout: Out(1)

    def __init__(self, config):
        self.config = config
        super().__init__()

    def elaborate(self, platform):
        m = Module()
        m.submodules.tile = tile = Accelerator(self.config)
        inputs, outputs = [], []
        for path, member, value in tile.signature.flatten(tile):
            (inputs if member.flow == In else outputs).append(Value.cast(value))
        width = sum(len(v) for v in inputs)
        shreg = Signal(width)
        m.d.sync += shreg.eq(Cat(self.sin, shreg[:-1]))
        pos = 0
        for v in inputs:
            m.d.comb += v.eq(shreg[pos:pos + len(v)])
            pos += len(v)
        m.d.sync += self.sout.eq(Cat(*outputs).xor())
        return m
