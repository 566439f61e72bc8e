"""AXI4 read engine: several sequential read streams sharing one AR/R channel pair."""
from amaranth.hdl import *
from amaranth.lib import wiring, stream, data
from amaranth.lib.fifo import SyncFIFO, SyncFIFOBuffered
from amaranth.lib.wiring import In, Out

from .axi import AXI4Signature, BURST_INCR, RESP_OKAY

__all__ = ["ReadEngine"]

MAX_STREAM_BEATS_BITS = 28


class ReadEngine(wiring.Component):
    """Reads ``n_streams`` independent sequential streams from DRAM.

    Ports:

    * ``axi``: AXI4 manager; only the AR and R channels are driven (AW/W/B are left idle and
      are merged with the write engine's by the top level).
    * per stream ``i``: ``start{i}`` (pulse) with ``addr{i}`` (bus-aligned byte address) and
      ``beats{i}`` (bus beats to read, < 2**28); ``data{i}``, a stream of ``bus_bits`` beats
      in address order.
    * ``win_base``/``win_limit``: no burst touching bytes outside ``[win_base, win_limit)`` is
      ever issued; such a burst raises ``window_error`` instead and its stream stops.
    * ``abort``: stop issuing; beats still in flight are accepted and dropped. ``idle`` is high
      when nothing is in flight and no stream has beats left to issue.
    * ``read_error`` (pulse) with ``error_addr``: a burst answered SLVERR/DECERR; from then
      on the engine issues nothing more (until reset). ``read_error`` and ``window_error``
      (with ``error_addr``) come from registers, one cycle after the response or the pick.
    * ``beat``: one cycle per beat accepted on R (for the byte counter).
    * ``pending{i}``: stream ``i`` still has beats to issue (a new ``start{i}`` would replace
      them).
    * ``urgent``: one bit per stream. While a stream whose bit is set has beats to issue,
      the others issue only when their buffer (with what is in flight) is at most a quarter
      full (judged from registers, a cycle late),
      so the R channel carries the urgent stream's data ahead of the others' read-ahead.

    Bursts are INCR, at most ``max_burst`` beats, never cross a 4 KiB boundary, and are issued
    only when the stream's buffer (``fifo_beats``) has room for the whole burst, so R is never
    back-pressured. Each burst is planned in registers two cycles ahead (so a stream issues at
    most one burst every three cycles; AR goes out the cycle after a burst is picked);
    ``win_base``/``win_limit`` must be stable while a stream is active. Several bursts (up to ``max_outstanding``) may be in flight; all use ID 0
    and return in order.
    """

    def __init__(self, *, n_streams, bus_bits=64, max_burst=16, fifo_beats=32,
                 max_outstanding=8, addr_bits=32):
        if n_streams < 1:
            raise ValueError(f"n_streams must be positive, not {n_streams!r}")
        if max_burst & (max_burst - 1) or not 1 <= max_burst <= 256:
            raise ValueError(f"max_burst must be a power of two in 1..256, not {max_burst!r}")
        if fifo_beats < max_burst:
            raise ValueError(f"fifo_beats ({fifo_beats}) must hold at least one burst "
                             f"({max_burst})")
        self.n_streams, self.bus_bits, self.max_burst = n_streams, bus_bits, max_burst
        self.fifo_beats, self.max_outstanding, self.addr_bits = fifo_beats, max_outstanding, addr_bits
        members = {
            "axi": Out(AXI4Signature(addr_width=addr_bits, data_width=bus_bits)),
            "win_base": In(addr_bits), "win_limit": In(addr_bits),
            "abort": In(1), "idle": Out(1),
            "read_error": Out(1), "window_error": Out(1), "error_addr": Out(addr_bits),
            "beat": Out(1), "urgent": In(n_streams),
        }
        for i in range(n_streams):
            members[f"start{i}"] = In(1)
            members[f"addr{i}"] = In(addr_bits)
            members[f"beats{i}"] = In(MAX_STREAM_BEATS_BITS)
            members[f"data{i}"] = Out(stream.Signature(bus_bits))
            members[f"pending{i}"] = Out(1)
        super().__init__(members)

    def elaborate(self, platform):
        m = Module()
        axi = self.axi
        n = self.n_streams
        bus_bytes = self.bus_bits // 8
        shift = bus_bytes.bit_length() - 1
        fifo_bits = self.fifo_beats.bit_length() + 1

        tag_layout = data.StructLayout({"stream": range(n), "addr": self.addr_bits})
        m.submodules.tags = tags = SyncFIFO(width=tag_layout.size,
                                                     depth=self.max_outstanding)

        fifos, addr, left, inflight = [], [], [], []
        for i in range(n):
            fifo = SyncFIFOBuffered(width=self.bus_bits, depth=self.fifo_beats)
            m.submodules[f"buffer{i}"] = fifo
            wiring.connect(m, fifo.r_stream, wiring.flipped(getattr(self, f"data{i}")))
            fifos.append(fifo)
            addr.append(Signal(self.addr_bits, name=f"next_addr{i}"))
            left.append(Signal(MAX_STREAM_BEATS_BITS, name=f"beats_left{i}"))
            inflight.append(Signal(fifo_bits, name=f"inflight{i}"))

        # The next burst of each stream is planned two cycles ahead, in registers, from the
        # stream's address and beats left: length min(max_burst, beats left, beats to the
        # 4 KiB boundary), end address, beats left after it, and whether it leaves the window.
        # A stream asks to issue only once its plan matches its current address (``settle``).
        blen, bend, bleft, bbad, want, settle = [], [], [], [], [], []
        # an urgent stream with beats left: the others read ahead only when hungry (registered)
        urgent = Signal(n)
        yield_to_urgent = Signal()
        m.d.sync += [urgent.eq(self.urgent),
                     yield_to_urgent.eq(Cat(*(self.urgent[i] & (left[i] != 0)
                                              for i in range(n))).any())]
        for i in range(n):
            to_4k = Signal(13 - shift + 1, name=f"to_4k{i}")
            m.d.comb += to_4k.eq((4096 - addr[i][:12]) >> shift)
            capped = Mux(left[i] < self.max_burst, left[i], self.max_burst)
            ln = Signal(range(self.max_burst + 1), name=f"burst_len{i}")
            below = Signal(name=f"below_window{i}")
            room_to_limit = Signal(signed(self.addr_bits + 2), name=f"room_to_limit{i}")
            m.d.sync += [ln.eq(Mux(to_4k < capped, to_4k, capped)),
                         below.eq(addr[i] < self.win_base),
                         room_to_limit.eq(self.win_limit - addr[i])]
            end = Signal(self.addr_bits + 1, name=f"burst_end{i}")
            rest = Signal(MAX_STREAM_BEATS_BITS, name=f"left_after{i}")
            bad = Signal(name=f"burst_outside{i}")
            m.d.sync += [end.eq(addr[i] + (ln << shift)), rest.eq(left[i] - ln),
                         bad.eq(below | ((ln << shift) > room_to_limit))]
            st = Signal(range(3), name=f"settle{i}")
            with m.If(st != 0):
                m.d.sync += st.eq(st - 1)
            # Registered too: the room only grows while a stream does not issue (a beat
            # arriving moves from in-flight to buffered), and a stream that issued is settling.
            # While an urgent stream has beats left, the others issue only when at most a
            # quarter full (with what is in flight). Both in the same register, off the pick.
            level = fifos[i].level + inflight[i] + ln
            ready = Signal(name=f"has_room{i}")
            m.d.sync += ready.eq((left[i] != 0) & (level <= self.fifo_beats) &
                                 ((level <= self.fifo_beats // 4) | ~yield_to_urgent |
                                  urgent[i]))
            w = Signal(name=f"want{i}")
            m.d.comb += w.eq(ready & (st == 0))
            blen.append(ln); bend.append(end); bleft.append(rest); bbad.append(bad)
            want.append(w); settle.append(st)

        # AR channel: a registered request, picked round-robin among streams that want one.
        ar_valid = Signal()
        ar_addr = Signal(self.addr_bits)
        ar_len = Signal(8)
        last_pick = Signal(range(n))
        m.d.comb += [
            axi.arvalid.eq(ar_valid), axi.araddr.eq(ar_addr), axi.arlen.eq(ar_len),
            axi.arsize.eq(shift), axi.arburst.eq(BURST_INCR), axi.arid.eq(0),
            axi.arcache.eq(0b0011), axi.arprot.eq(0), axi.arlock.eq(0), axi.arqos.eq(0),
        ]
        with m.If(axi.arvalid & axi.arready):
            m.d.sync += ar_valid.eq(0)

        picked = Signal(range(n))
        any_pick = Signal()
        # Priority rotates: the stream after the last one picked is tried first.
        for offset in reversed(range(n)):
            for last in range(n):
                cand = (last + 1 + offset) % n
                with m.If((last_pick == last) & want[cand]):
                    m.d.comb += [picked.eq(cand), any_pick.eq(1)]
        # ``abort`` gates only the final issue (not the pick), to keep it off the long path.
        halted = Signal()       # a burst was answered with an error: issue nothing more
        can_issue = ~ar_valid & tags.w_stream.ready & any_pick & ~self.abort & ~halted
        tag_in = Signal(tag_layout)
        m.d.comb += [tags.w_stream.payload.eq(tag_in), tags.w_stream.valid.eq(0)]
        # Errors are reported one cycle after the event, from registers.
        window_error = Signal(name="window_error_now")
        read_error = Signal(name="read_error_now")
        error_addr = Signal(self.addr_bits)
        m.d.sync += [self.window_error.eq(window_error), self.read_error.eq(read_error),
                     self.error_addr.eq(error_addr)]

        for i in range(n):
            with m.If(can_issue & (picked == i)):
                m.d.sync += settle[i].eq(2)
                with m.If(bbad[i]):
                    m.d.comb += [window_error.eq(1), error_addr.eq(addr[i])]
                    m.d.sync += left[i].eq(0)
                with m.Else():
                    m.d.comb += [tag_in.stream.eq(i), tag_in.addr.eq(addr[i]),
                                 tags.w_stream.valid.eq(1)]
                    m.d.sync += [ar_valid.eq(1), ar_addr.eq(addr[i]), ar_len.eq(blen[i] - 1),
                                 addr[i].eq(bend[i]), left[i].eq(bleft[i]),
                                 last_pick.eq(i)]

        # R channel: route beats to the stream at the head of the tag queue.
        head = Signal(tag_layout)
        m.d.comb += [head.eq(tags.r_stream.payload), axi.rready.eq(1), self.beat.eq(axi.rvalid)]
        r_take = axi.rvalid & axi.rready
        m.d.comb += tags.r_stream.ready.eq(r_take & axi.rlast)
        for i in range(n):
            mine = r_take & tags.r_stream.valid & (head.stream == i)
            m.d.comb += [fifos[i].w_stream.payload.eq(axi.rdata),
                         fifos[i].w_stream.valid.eq(mine & ~self.abort)]
            # both sums from registers (and R); the late issue decision only selects one
            issued = can_issue & (picked == i) & ~bbad[i]
            grown = Signal(fifo_bits, name=f"inflight_grown{i}")
            kept = Signal(fifo_bits, name=f"inflight_kept{i}")
            m.d.comb += [grown.eq(inflight[i] + blen[i] - mine), kept.eq(inflight[i] - mine)]
            m.d.sync += inflight[i].eq(Mux(issued, grown, kept))
            m.d.comb += getattr(self, f"pending{i}").eq(left[i] != 0)
            with m.If(getattr(self, f"start{i}")):
                m.d.sync += [addr[i].eq(getattr(self, f"addr{i}")),
                             left[i].eq(getattr(self, f"beats{i}")), settle[i].eq(2)]
        with m.If(r_take & (axi.rresp != RESP_OKAY)):
            m.d.comb += [read_error.eq(1), error_addr.eq(head.addr)]
            m.d.sync += halted.eq(1)

        outstanding = Signal(range(self.max_outstanding + 1))
        m.d.sync += outstanding.eq(outstanding + (can_issue & tags.w_stream.valid)
                                   - (r_take & axi.rlast & tags.r_stream.valid))
        m.d.comb += self.idle.eq(~ar_valid & (outstanding == 0) &
                                 (self.abort | ~Cat(*(l != 0 for l in left)).any()))
        # the registers the formal proof's induction invariants name (verif/formal.py)
        self.internals = {"next_addr": addr, "settle": settle}
        return m
