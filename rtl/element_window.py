"""Width converter from bus beats to a window of up to ``width`` elements per cycle."""
from amaranth.hdl import *
from amaranth.lib import wiring, stream, data
from amaranth.lib.wiring import In, Out

__all__ = ["ElementWindow"]


class ElementWindow(wiring.Component):
    """Splits ``bus_bits`` beats into ``elem_bits`` elements, lowest bits first, and shows the
    next ``width`` of them at once.

    Ports:

    * ``beats``: the bus beats (a stream).
    * ``start`` (pulse) loads ``count``: exactly that many elements are then delivered; the
      unused tail of the last beat is dropped, and no beat is taken once ``count`` elements
      have been taken in.
    * ``window``: the next ``width`` elements, ``window[0]`` first; ``avail``: how many of them
      are valid (0..``width``). Both come from registers.
    * ``take``: how many elements the consumer takes this cycle (at most ``avail``).

    A beat is accepted when at most ``width`` elements are buffered (``beats.ready`` depends
    on registers only), so the window holds at most one beat plus ``width`` elements and
    keeps ``width`` elements per cycle flowing whenever the beats arrive fast enough.
    """

    def __init__(self, *, bus_bits, elem_bits, width, count_bits=32):
        if bus_bits % elem_bits:
            raise ValueError(f"bus_bits ({bus_bits}) must be a multiple of elem_bits "
                             f"({elem_bits})")
        if width < 1:
            raise ValueError(f"width must be positive, not {width!r}")
        self.bus_bits, self.elem_bits, self.width = bus_bits, elem_bits, width
        super().__init__({
            "beats": In(stream.Signature(bus_bits)),
            "start": In(1), "count": In(count_bits),
            "window": Out(data.ArrayLayout(elem_bits, width)),
            "avail": Out(range(width + 1)),
            "take": In(range(width + 1)),
        })

    def elaborate(self, platform):
        m = Module()
        W, eb = self.width, self.elem_bits
        per = self.bus_bits // eb
        cap = per + W
        buf = Signal(data.ArrayLayout(eb, cap))
        level = Signal(range(cap + 1))
        left = Signal.like(self.count)        # elements still to come in from beats

        m.d.comb += [self.avail.eq(Mux(level < W, level, W)),
                     self.window.as_value().eq(buf.as_value()[:W * eb])]
        room = level <= W
        m.d.comb += self.beats.ready.eq(room & (left != 0))
        accept = self.beats.valid & self.beats.ready
        n_in = Mux(left < per, left, per)
        kept = Signal(range(cap + 1))
        m.d.comb += kept.eq(level - self.take)
        # Element j of the new buffer: the old element j + take, or, at and above ``kept``
        # (at most W when a beat is accepted), element j - kept of the beat.
        flat = buf.as_value()
        for j in range(cap):
            old = Signal(eb, name=f"old{j}")
            with m.Switch(self.take):
                for t in range(W + 1):
                    with m.Case(t):
                        m.d.comb += old.eq(flat.word_select(j + t, eb) if j + t < cap else 0)
            new = Signal(eb, name=f"new{j}")
            m.d.comb += new.eq(old)
            with m.If(accept):
                for kk in range(W + 1):
                    if 0 <= j - kk < per:
                        with m.If((kept == kk) & (j >= kk)):
                            m.d.comb += new.eq(self.beats.payload.word_select(j - kk, eb))
            m.d.sync += buf[j].eq(new)
        m.d.sync += level.eq(kept + Mux(accept, n_in, 0))
        with m.If(accept):
            m.d.sync += left.eq(left - n_in)
        with m.If(self.start):
            m.d.sync += [level.eq(0), left.eq(self.count)]
        return m
