"""A register slice for valid/ready streams: breaks the combinational paths in both directions."""
from amaranth.hdl import *
from amaranth.lib import wiring, stream
from amaranth.lib.wiring import In, Out

__all__ = ["RegisterSlice"]


class RegisterSlice(wiring.Component):
    """Passes ``sink`` to ``source`` through registers, at one item per cycle.

    ``source.valid``/``source.payload`` come from a register, and ``sink.ready`` depends only
    on registers (a second, "skid" register holds the item that arrives while ``source`` is
    stalled), so no combinational path crosses the slice. Latency: one cycle. Order and items
    are preserved; nothing is dropped or duplicated.
    """

    def __init__(self, shape):
        self.shape = shape
        super().__init__({"sink": In(stream.Signature(shape)),
                          "source": Out(stream.Signature(shape))})

    def elaborate(self, platform):
        m = Module()
        main_valid, skid_valid = Signal(name="main_valid"), Signal(name="skid_valid")
        main = Signal(self.shape)
        skid = Signal(self.shape)
        m.d.comb += [self.source.valid.eq(main_valid), self.source.payload.eq(main),
                     self.sink.ready.eq(~skid_valid)]
        with m.If(self.source.ready | ~main_valid):
            with m.If(skid_valid):
                m.d.sync += [main.eq(skid), main_valid.eq(1), skid_valid.eq(0)]
            with m.Else():
                m.d.sync += [main.eq(self.sink.payload), main_valid.eq(self.sink.valid)]
        with m.Elif(self.sink.valid & ~skid_valid):
            m.d.sync += [skid.eq(self.sink.payload), skid_valid.eq(1)]
        return m
