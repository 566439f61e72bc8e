"""Width converter from bus beats to a window of up to ``width`` elements per cycle."""
from amaranth.hdl import *
from amaranth.lib import wiring, stream, data
from amaranth.lib.wiring import In, Out

from .register_slice import RegisterSlice

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
    * With ``flag_limit``: ``limit`` (stable while elements flow) and ``flags``: bit ``j`` is
      high when ``window[j] >= limit`` (unsigned); ``nonzero``: bit ``j`` high when
      ``window[j] != 0``. Both are computed as the element comes in, so the consumer's range
      check is one register away.

    Beats pass a register slice first (one cycle; ``beats.ready`` depends on registers only).
    A beat is taken in when at most ``width`` elements are buffered, so the window holds at
    most one beat plus ``width`` elements and keeps ``width`` elements per cycle flowing
    whenever the beats arrive fast enough.
    """

    def __init__(self, *, bus_bits, elem_bits, width, count_bits=32, flag_limit=False):
        if bus_bits % elem_bits:
            raise ValueError(f"bus_bits ({bus_bits}) must be a multiple of elem_bits "
                             f"({elem_bits})")
        if width < 1:
            raise ValueError(f"width must be positive, not {width!r}")
        self.bus_bits, self.elem_bits, self.width = bus_bits, elem_bits, width
        self.flag_limit = flag_limit
        members = {
            "beats": In(stream.Signature(bus_bits)),
            "start": In(1), "count": In(count_bits),
            "window": Out(data.ArrayLayout(elem_bits, width)),
            "avail": Out(range(width + 1)),
            "take": In(range(width + 1)),
        }
        if flag_limit:
            members.update(limit=In(elem_bits + 1), flags=Out(width), nonzero=Out(width))
        super().__init__(members)

    def elaborate(self, platform):
        m = Module()
        W = self.width
        per = self.bus_bits // self.elem_bits
        m.submodules.beats_in = beats_in = RegisterSlice(self.bus_bits)
        wiring.connect(m, wiring.flipped(self.beats), beats_in.sink)
        beats = beats_in.source
        cap = per + W
        # each element with its flags (element >= limit, element != 0) as the top bits
        fb = 2 if self.flag_limit else 0
        eb = self.elem_bits + fb
        beat = Signal(per * eb)
        for j in range(per):
            elem = beats.payload.word_select(j, self.elem_bits)
            m.d.comb += beat.word_select(j, eb).eq(
                Cat(elem, elem >= self.limit, elem != 0) if fb else elem)
        buf = Signal(data.ArrayLayout(eb, cap))
        level = Signal(range(cap + 1))
        left = Signal.like(self.count)        # elements still to come in from beats

        # ``avail`` is min(level, W), kept in its own register (set beside ``level``)
        for j in range(W):
            m.d.comb += self.window[j].eq(buf[j][:self.elem_bits])
            if fb:
                m.d.comb += [self.flags[j].eq(buf[j][self.elem_bits]),
                             self.nonzero[j].eq(buf[j][self.elem_bits + 1])]
        # ``left`` (elements still to come in) travels with three registers derived from it,
        # so ``accept`` and the level/avail arithmetic never wait on a 32-bit compare:
        # ``more`` = left != 0, ``over`` = left > per, ``n_in`` = min(left, per).
        more = Signal()
        over = Signal()
        n_in = Signal(range(per + 1))
        room = level <= W
        m.d.comb += beats.ready.eq(room & more)
        accept = beats.valid & beats.ready
        # Everything that does not depend on ``take`` or ``accept`` is computed from registers
        # first, so those late decisions only select among ready answers: ``joined[j]`` is the
        # buffer with this cycle's beat placed right after its ``level`` elements, and ``take``
        # shifts it; the next level and ``avail`` are one register-computed value per
        # (accept, take) pair.
        flat = buf.as_value()
        joined = []
        for j in range(cap + W):
            y = Signal(eb, name=f"joined{j}")
            if j < cap:
                m.d.comb += y.eq(flat.word_select(j, eb))
            with m.If(accept):
                for lv in range(max(0, j - per + 1), min(j, W) + 1):
                    with m.If(level == lv):
                        m.d.comb += y.eq(beat.word_select(j - lv, eb))
            joined.append(y)
        for j in range(cap):
            new = Signal(eb, name=f"new{j}")
            with m.Switch(self.take):
                for t in range(W + 1):
                    with m.Case(t):
                        m.d.comb += new.eq(joined[j + t] if j + t < cap + W else 0)
            m.d.sync += buf[j].eq(new)
        level_in = Signal(range(cap + 1))          # the level if this cycle's beat comes in
        m.d.comb += level_in.eq(level + n_in)
        with m.Switch(self.take):
            for t in range(W + 1):
                with m.Case(t):
                    stay = Signal(range(cap + 1), name=f"level_stay{t}")
                    grow = Signal(range(cap + 1), name=f"level_grow{t}")
                    m.d.comb += [stay.eq(level - t), grow.eq(level_in - t)]
                    stay_avail = Mux(stay < W, stay, W)
                    grow_avail = Mux(grow < W, grow, W)
                    m.d.sync += [level.eq(Mux(accept, grow, stay)),
                                 self.avail.eq(Mux(accept, grow_avail, stay_avail))]
        # after a beat: left - n_in, which is left - per when left > per and 0 otherwise
        over2 = left > 2 * per
        with m.If(accept):
            m.d.sync += [left.eq(Mux(over, left - per, 0)), more.eq(over), over.eq(over2),
                         n_in.eq(Mux(over2, per, Mux(over, left[:len(n_in)] - per, 0)))]
        with m.If(self.start):
            m.d.sync += [level.eq(0), self.avail.eq(0), left.eq(self.count),
                         more.eq(self.count != 0), over.eq(self.count > per),
                         n_in.eq(Mux(self.count < per, self.count, per))]
        return m
