"""The result path's accumulate stage: ``C += A.B`` by read-modify-write of each C chunk."""
from amaranth.hdl import *
from amaranth.lib import wiring, stream
from amaranth.lib.fifo import SyncFIFOBuffered
from amaranth.lib.wiring import In, Out

from .write_engine import write_request_layout

__all__ = ["AccumulateStage"]


class AccumulateStage(wiring.Component):
    """Adds the old value of each C chunk to the new one before it is written.

    Ports:

    * ``requests``: results (``addr``, ``row``, ``data``: ``lanes`` int32) from the result
      arbiter; ``out``: the same results towards the epilogue.
    * ``enable``: the job accumulates (stable while results flow). Low: ``requests`` pass to
      ``out`` combinationally, and nothing is read.
    * Read port (a sequential read stream of the read engine, lent for the job's run):
      ``rd_start`` (pulse) with ``rd_addr``/``rd_beats`` (one chunk), allowed while
      ``rd_allowed`` is high and ``rd_pending`` (the stream still has beats to issue) is low;
      ``rd_data`` brings the chunk's beats back in order (a chunk narrower than the bus is
      read as the one aligned beat that holds it).
    * ``idle``: no request is held (every request taken has left on ``out``).

    With ``enable``: each request starts the read of its chunk and waits in a queue of
    ``depth`` until its old value has arrived; ``out.data`` is the lane-wise sum, wrapping
    to int32. Requests leave in order, one chunk per cycle at best; the read of a chunk is
    started one cycle after it is taken. Reads and writes of one chunk never overlap: the write
    is requested after the read's data has arrived.
    """

    def __init__(self, *, lanes, bus_bits, addr_bits=32, row_bits=16, depth=8):
        if lanes < 1 or lanes & (lanes - 1):
            raise ValueError(f"lanes must be a power of two, not {lanes!r}")
        if (32 * lanes) % bus_bits and bus_bits % (32 * lanes):
            raise ValueError(f"a chunk of {lanes} int32 neither fills whole {bus_bits}-bit "
                             f"beats nor divides one")
        if depth < 2 or depth & (depth - 1):
            raise ValueError(f"depth must be a power of two >= 2, not {depth!r}")
        self.lanes, self.bus_bits, self.addr_bits, self.depth = lanes, bus_bits, addr_bits, depth
        self.row_bits = row_bits
        layout = write_request_layout(32 * lanes, addr_bits, row_bits)
        super().__init__({
            "requests": In(stream.Signature(layout)),
            "out": Out(stream.Signature(layout)),
            "enable": In(1),
            "rd_allowed": In(1),
            "rd_pending": In(1),
            "rd_start": Out(1),
            "rd_addr": Out(addr_bits),
            "rd_beats": Out(8),
            "rd_data": In(stream.Signature(bus_bits)),
            "idle": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        L, chunk_bits = self.lanes, 32 * self.lanes
        beats = max(1, chunk_bits // self.bus_bits)
        narrow = chunk_bits < self.bus_bits
        bus_bytes = self.bus_bits // 8
        layout = write_request_layout(chunk_bits, self.addr_bits, self.row_bits)

        m.submodules.waiting = waiting = SyncFIFOBuffered(width=layout.size, depth=self.depth)
        # Reads started but whose chunk has not yet been fully assembled, plus the chunk being
        # assembled: bounds the queue so that every started read has a slot.
        started = Signal(range(self.depth + 1))
        launch = Signal()           # a registered read request, issued when the stream is free
        launch_addr = Signal(self.addr_bits)

        old = Signal(max(chunk_bits, self.bus_bits))
        old_beat = Signal(range(max(beats, 2)))
        old_full = Signal()
        head = Signal(layout)
        m.d.comb += head.eq(waiting.r_stream.payload)

        with m.If(~self.enable):
            m.d.comb += [self.out.payload.eq(self.requests.payload),
                         self.out.valid.eq(self.requests.valid),
                         self.requests.ready.eq(self.out.ready)]
        with m.Else():
            take = self.requests.valid & ~launch & waiting.w_stream.ready & \
                (started < self.depth)
            m.d.comb += [self.requests.ready.eq(take),
                         waiting.w_stream.payload.eq(self.requests.payload),
                         waiting.w_stream.valid.eq(take)]
            with m.If(take):
                m.d.sync += [launch.eq(1), launch_addr.eq(self.requests.payload.addr)]
            issue = launch & self.rd_allowed & ~self.rd_pending
            rd_addr = launch_addr & ~(bus_bytes - 1) if narrow else launch_addr
            m.d.comb += [self.rd_start.eq(issue), self.rd_addr.eq(rd_addr),
                         self.rd_beats.eq(beats)]
            with m.If(issue):
                m.d.sync += launch.eq(0)

            # The old chunk, beat by beat (little-endian: the first beat is lanes 0..).
            m.d.comb += self.rd_data.ready.eq(~old_full)
            with m.If(self.rd_data.valid & ~old_full):
                if beats == 1:
                    m.d.sync += [old.eq(self.rd_data.payload), old_full.eq(1)]
                else:
                    m.d.sync += [old.eq(Cat(old[self.bus_bits:], self.rd_data.payload)),
                                 old_beat.eq(old_beat + 1)]
                    with m.If(old_beat == beats - 1):
                        m.d.sync += [old_beat.eq(0), old_full.eq(1)]

            old_chunk = Signal(chunk_bits)
            if narrow:      # the chunk's lanes within the beat, from its address
                lo, hi = (chunk_bits // 8).bit_length() - 1, bus_bytes.bit_length() - 1
                m.d.comb += old_chunk.eq(old.word_select(head.addr[lo:hi], chunk_bits))
            else:
                m.d.comb += old_chunk.eq(old)
            total = Signal(chunk_bits)
            m.d.comb += total.eq(Cat(*((head.data[32 * i:32 * (i + 1)] +
                                        old_chunk[32 * i:32 * (i + 1)])[:32] for i in range(L))))
            m.d.comb += [self.out.payload.addr.eq(head.addr), self.out.payload.row.eq(head.row),
                         self.out.payload.data.eq(total),
                         self.out.valid.eq(old_full & waiting.r_stream.valid),
                         waiting.r_stream.ready.eq(old_full & self.out.ready)]
            with m.If(self.out.valid & self.out.ready):
                m.d.sync += old_full.eq(0)
            m.d.sync += started.eq(started + issue - (self.out.valid & self.out.ready))
        m.d.comb += self.idle.eq(~launch & (started == 0) & ~waiting.r_stream.valid)
        return m
