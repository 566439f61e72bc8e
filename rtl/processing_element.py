"""Processing element: ``L`` int8 MAC lanes accumulating rows of C, Gustavson style."""
from amaranth.hdl import *
from amaranth.lib import wiring, stream, data
from amaranth.lib.fifo import SyncFIFOBuffered
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from .operand_scanner import entry_layout, deal_layout
from .register_slice import RegisterSlice

__all__ = ["ProcessingElement", "result_layout"]


def result_layout(lanes, max_chunks):
    """One finished chunk of a row of C: ``lanes`` int32 values, lowest column in the low bits,
    for columns ``chunk*lanes .. chunk*lanes + lanes - 1``."""
    return data.StructLayout({"row": 16, "chunk": range(max_chunks), "data": 32 * lanes})


class ProcessingElement(wiring.Component):
    """Accumulates ``C[row, :] += A[row, col] * B[col, :]`` for each entry it receives.

    The PE owns chunks ``first_chunk, first_chunk + chunk_step, ...`` below ``chunks`` (PEs of
    one group split a row's chunks between them) and reads B from its own scratchpad bank,
    which holds exactly those chunks: word ``t * k + col`` holds ``B[col, c*L : (c+1)*L]`` for
    its ``t``-th chunk ``c = first_chunk + t * chunk_step``. For each entry it
    issues one lane-group per owned chunk, one per cycle, each reading one scratchpad word and
    updating one accumulator word; a PE that owns no chunk drops entries at one per cycle.

    Ports:

    * ``deals``: work from the scanner, up to ``width`` entries per cycle (``deal_layout``),
      queued ``fifo_depth`` entries deep per lane of the queue (``width`` lanes written round
      robin, read in order); ``load`` is the queue fill one cycle earlier. A row's entries
      arrive contiguously, ``first`` to ``last``. ``deals.ready`` means any deal fits; it
      comes from a register (each queue lane keeps one entry in reserve for it).
    * ``chunks``, ``k``, ``first_chunk``, ``chunk_step``: job settings, stable from at least
      three cycles before the first entry until the PE is idle.
    * ``b_addr`` / ``b_data``: a read port of its scratchpad bank, one cycle of latency.
      ``b_addr`` comes from a register (the issue logic stays with the queue, and only that
      register has to be near the bank), so a word arrives two cycles after its issue.
    * ``b_rows``: rows of B present in the scratchpad (B arrives row by row); an entry with
      ``col >= b_rows`` waits (``b_rows`` is registered on the way in: it may only grow while
      a job runs).
    * ``results``: the finished row, one ``result_layout`` item per chunk, emitted when the
      row's ``last`` entry has been accumulated (five cycles after it issues: address
      register, scratchpad read, its word registered, registered multiply, accumulate).
    * ``issue``: one lane-group issued this cycle (``L`` lane-slots); ``effectual``: how many of
      the lanes issued four cycles ago had both operands nonzero; ``stalled``: work is queued
      but the result queue is full (from a register: a slot freed shows a cycle later);
      ``b_wait``: the head entry waits for its row of B (from a register, one cycle late);
      ``idle``: nothing queued, in flight or unsent.

    Products are int8 x int8 -> int16, accumulated in int32 with two's-complement wrap.
    """

    def __init__(self, *, lanes, max_chunks, b_words, fifo_depth, width=1):
        for name, v in (("lanes", lanes), ("max_chunks", max_chunks), ("b_words", b_words),
                        ("fifo_depth", fifo_depth), ("width", width)):
            if v < 1 or v & (v - 1):
                raise ValueError(f"{name} must be a power of two, not {v!r}")
        self.lanes, self.max_chunks, self.b_words, self.fifo_depth, self.width = \
            lanes, max_chunks, b_words, fifo_depth, width
        super().__init__({
            "deals": In(stream.Signature(deal_layout(width))),
            "load": Out(range(width * fifo_depth + 1)),
            "chunks": In(range(max_chunks + 1)), "k": In(17),
            "first_chunk": In(range(max_chunks)), "chunk_step": In(range(1, max_chunks + 1)),
            "b_addr": Out(range(b_words)), "b_data": In(8 * lanes), "b_rows": In(17),
            "results": Out(stream.Signature(result_layout(lanes, max_chunks))),
            "issue": Out(1), "effectual": Out(range(lanes + 1)),
            "stalled": Out(1), "b_wait": Out(1), "idle": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        L = self.lanes
        rlayout = result_layout(L, self.max_chunks)

        # The queue: ``width`` FIFOs; a deal's entries go to consecutive ones from ``wsel``,
        # the head is read from ``rsel``, both moving round robin, so order is kept.
        W = self.width
        queues = []
        for j in range(W):
            q = SyncFIFOBuffered(width=entry_layout().size, depth=self.fifo_depth)
            m.submodules[f"queue{j}"] = q
            queues.append(q)
        wsel = Signal(range(max(W, 2)))
        rsel = Signal(range(max(W, 2)))
        # ready from a register: even if this cycle writes every lane, each still has room
        # for one more entry besides the one SyncFIFOBuffered's output register holds, so
        # the deal taken next cycle fits (a lane takes at most one entry per cycle). Whether
        # this cycle writes is not looked at: it depends on the other PEs of the group.
        lane_room = []
        for q in queues:
            nxt = q.level - (q.r_stream.valid & q.r_stream.ready)
            lane_room.append(nxt <= self.fifo_depth - 3)
        m.d.sync += self.deals.ready.eq(Cat(*lane_room).all())
        for j, q in enumerate(queues):
            slot = (j - wsel) & (W - 1) if W > 1 else Const(0)
            with m.Switch(slot):
                for t in range(W):
                    with m.Case(t):
                        m.d.comb += q.w_stream.payload.eq(self.deals.payload.entries[t])
            m.d.comb += q.w_stream.valid.eq(self.deals.valid & self.deals.ready &
                                            (slot < self.deals.payload.count))
        if W > 1:
            with m.If(self.deals.valid & self.deals.ready):
                m.d.sync += wsel.eq(wsel + self.deals.payload.count)
        m.d.sync += self.load.eq(sum(q.level for q in queues))     # registered

        # The queue's head, in order, through a register slice: the issue logic sees
        # registers only, and the queues' read side only the slice's registered ready.
        m.submodules.head = head_slice = RegisterSlice(entry_layout())
        with m.Switch(rsel):
            for j, q in enumerate(queues):
                with m.Case(j):
                    m.d.comb += [head_slice.sink.valid.eq(q.r_stream.valid),
                                 head_slice.sink.payload.eq(q.r_stream.payload),
                                 q.r_stream.ready.eq(head_slice.sink.ready)]
        if W > 1:
            with m.If(head_slice.sink.valid & head_slice.sink.ready):
                m.d.sync += rsel.eq(rsel + 1)
        head_valid = head_slice.source.valid
        head_payload = head_slice.source.payload
        head_ready = head_slice.source.ready

        out_depth = self.max_chunks + 5
        m.submodules.finished = finished = SyncFIFOBuffered(width=rlayout.size, depth=out_depth)
        m.d.comb += [self.results.payload.eq(finished.r_stream.payload),
                     self.results.valid.eq(finished.r_stream.valid),
                     finished.r_stream.ready.eq(self.results.ready)]

        m.submodules.acc = acc = Memory(shape=32 * L, depth=self.max_chunks, init=[])
        acc_wr = acc.write_port()
        acc_rd = acc.read_port(transparent_for=(acc_wr,))
        in_flight = Signal(range(5))     # entries in stages 1 to 4

        head = Signal(entry_layout())
        m.d.comb += head.eq(head_payload)

        # Settings, registered once per job.
        first_chunk = Signal.like(self.first_chunk)
        chunk_step = Signal.like(self.chunk_step)
        k = Signal.like(self.k)
        m.d.sync += [first_chunk.eq(self.first_chunk), chunk_step.eq(self.chunk_step),
                     k.eq(self.k)]

        # Stage 0: issue one chunk of the head entry.
        # ``owns`` (this PE owns ``chunk``) and ``last`` (``chunk`` is its last chunk of the
        # entry) are registered next to ``chunk``, so no compare sits on the issue path.
        chunk = Signal(range(2 * self.max_chunks + 1))
        offset = Signal(range(self.b_words))
        owns = Signal()
        last = Signal()
        started = Signal()
        restart = [chunk.eq(first_chunk), offset.eq(0),
                   owns.eq(first_chunk < self.chunks),
                   last.eq(first_chunk + chunk_step >= self.chunks)]
        with m.If(~started):
            m.d.sync += restart
        with m.If(head_valid):
            m.d.sync += started.eq(1)
        # an issued entry as it moves through stages 1 to 2
        entry_stage = data.StructLayout({"valid": 1, "row": 16, "chunk": range(self.max_chunks),
                                         "value": signed(8), "first": 1, "last": 1})
        s1 = Signal(entry_stage)
        # ``room`` from a register: the result queue plus the entries in flight (each may end
        # a row) stay below its depth. Their sum grows by at most this cycle's issue, so the
        # bound holds a cycle later; a slot freed by a read shows a cycle late.
        room = Signal()
        # the count of B rows loaded comes from across the array: registered here first (it
        # only grows, so a cycle-old value only delays an entry)
        b_rows = Signal.like(self.b_rows, name="b_rows_here")
        m.d.sync += b_rows.eq(self.b_rows)
        b_here = head.col < b_rows
        go = head_valid & room & owns & started & b_here
        m.d.sync += [self.b_wait.eq(head_valid & owns & started & ~b_here),
                     room.eq(finished.level + in_flight + go < out_depth),
                     self.b_addr.eq(offset + head.col)]
        m.d.comb += [
            self.issue.eq(go),
            self.stalled.eq(head_valid & ~room),
        ]
        m.d.sync += [s1.valid.eq(go), s1.row.eq(head.row), s1.chunk.eq(chunk),
                     s1.value.eq(head.value), s1.first.eq(head.first), s1.last.eq(head.last)]
        with m.If(go):
            with m.If(last):
                m.d.comb += head_ready.eq(1)
                m.d.sync += restart
            with m.Else():
                m.d.sync += [chunk.eq(chunk + chunk_step), offset.eq(offset + k),
                             owns.eq(1), last.eq(chunk + 2 * chunk_step >= self.chunks)]
        with m.If(head_valid & started & ~owns):
            m.d.comb += head_ready.eq(1)

        # Stage 1: the address is in its register. Stage 1b: the scratchpad read is in flight.
        # Stage 2: its word is registered (block RAM output to flip-flops, nothing else on
        # that path).
        s1b = Signal(entry_stage)
        s2 = Signal(entry_stage)
        b_word = Signal(8 * L)
        m.d.sync += [s1b.eq(s1), s2.eq(s1b), b_word.eq(self.b_data)]

        # Stage 2 -> 3: multiply (int8 x int8 -> int16, registered) and read the accumulator
        # word (transparent: sees the write of the entry ahead, which is in stage 3).
        s3 = Signal(data.StructLayout({"valid": 1, "row": 16, "chunk": range(self.max_chunks),
                                       "first": 1, "last": 1, "effectual": range(L + 1)}))
        products = Signal(data.ArrayLayout(signed(16), L))
        nonzero = []
        for lane in range(L):
            b = b_word.word_select(lane, 8).as_signed()
            m.d.sync += products[lane].eq(s2.value * b)
            nonzero.append((s2.value != 0) & (b != 0))
        m.d.comb += acc_rd.addr.eq(s2.chunk)
        m.d.sync += [s3.valid.eq(s2.valid), s3.row.eq(s2.row), s3.chunk.eq(s2.chunk),
                     s3.first.eq(s2.first), s3.last.eq(s2.last),
                     s3.effectual.eq(Mux(s2.valid, sum(nz.as_unsigned() for nz in nonzero), 0))]

        # Stage 3: accumulate into int32 and write back; the row's last entry emits its result.
        sums = []
        for lane in range(L):
            old = acc_rd.data.word_select(lane, 32).as_signed()
            total = Signal(signed(32), name=f"sum{lane}")
            m.d.comb += total.eq(products[lane] + Mux(s3.first, 0, old))
            sums.append(total)
        m.d.comb += [
            acc_wr.addr.eq(s3.chunk), acc_wr.data.eq(Cat(*sums)), acc_wr.en.eq(s3.valid),
            self.effectual.eq(s3.effectual),
            in_flight.eq(s1.valid + s1b.valid + s2.valid + s3.valid),
        ]
        result = Signal(rlayout)
        m.d.comb += [result.row.eq(s3.row), result.chunk.eq(s3.chunk), result.data.eq(Cat(*sums)),
                     finished.w_stream.payload.eq(result),
                     finished.w_stream.valid.eq(s3.valid & s3.last)]
        queued = Cat(*(q.level != 0 for q in queues)).any() | head_valid | ~head_slice.sink.ready
        m.d.comb += self.idle.eq(~queued & (in_flight == 0) & (finished.level == 0))
        return m
