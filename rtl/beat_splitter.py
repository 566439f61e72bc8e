"""Width converter from bus beats to a counted sequence of narrower elements."""
from amaranth.hdl import *
from amaranth.lib import wiring, stream
from amaranth.lib.wiring import In, Out

__all__ = ["BeatSplitter"]


class BeatSplitter(wiring.Component):
    """Splits ``bus_bits`` beats into ``elem_bits`` elements, lowest bits first.

    ``start`` (pulse) loads ``count``: exactly that many elements are then delivered on
    ``elements``, one per cycle at best; the unused tail of the last beat is dropped, and no
    beat is taken once ``count`` elements are out.
    """

    def __init__(self, *, bus_bits, elem_bits, count_bits=32):
        if bus_bits % elem_bits:
            raise ValueError(f"bus_bits ({bus_bits}) must be a multiple of elem_bits "
                             f"({elem_bits})")
        self.bus_bits, self.elem_bits = bus_bits, elem_bits
        super().__init__({
            "beats": In(stream.Signature(bus_bits)),
            "elements": Out(stream.Signature(elem_bits)),
            "start": In(1), "count": In(count_bits),
        })

    def elaborate(self, platform):
        m = Module()
        per = self.bus_bits // self.elem_bits
        remaining = Signal.like(self.count)
        have = Signal()
        idx = Signal(range(max(per, 2)))   # >= 1 bit: no zero-width vectors in Verilog
        beat = Signal(self.bus_bits)

        m.d.comb += [
            self.elements.valid.eq(have & (remaining != 0)),
            self.elements.payload.eq(beat.word_select(idx, self.elem_bits)),
        ]
        out_go = self.elements.valid & self.elements.ready
        last_of_beat = (idx == per - 1) | (remaining == 1)
        consuming = out_go & last_of_beat
        want_more = Mux(out_go, remaining > 1, remaining != 0)
        m.d.comb += self.beats.ready.eq((~have | consuming) & want_more)
        with m.If(out_go):
            m.d.sync += [remaining.eq(remaining - 1), idx.eq(idx + 1)]
        with m.If(consuming):
            m.d.sync += [have.eq(0), idx.eq(0)]
        with m.If(self.beats.valid & self.beats.ready):
            m.d.sync += [have.eq(1), beat.eq(self.beats.payload), idx.eq(0)]
        with m.If(self.start):
            m.d.sync += [remaining.eq(self.count), have.eq(0), idx.eq(0)]
        return m
