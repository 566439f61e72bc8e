"""Operand scanner: turns the A stream (dense or CSR) into per-PE work entries."""
from amaranth.hdl import *
from amaranth.lib import wiring, stream, data
from amaranth.lib.wiring import In, Out

from .regmap import ErrorCode
from .register_slice import RegisterSlice

__all__ = ["OperandScanner", "entry_layout"]


def entry_layout():
    """One nonzero of A dealt to a PE: ``value = A[row, col]``; ``first``/``last`` mark the row's
    first and last entries (the end-of-fiber marker). An empty row is one entry with
    ``value = 0`` and both marks set, so its row of C is still written (as zeros)."""
    return data.StructLayout({
        "row": 16, "col": 16, "value": signed(8), "first": 1, "last": 1,
    })


class OperandScanner(wiring.Component):
    """Walks A row by row and deals each row, whole, to the least-loaded group of PEs.

    Parameters: ``pes`` output streams, ``load_bits`` width of each PE's queue-load input.

    Ports:

    * ``start`` (pulse) with ``csr`` (mode), ``m``, ``k``, ``nnz``: begin a job.
    * ``row_ptr``, ``col_idx`` (CSR only), ``values``: element streams of A (int32, int32, int8).
      Dense mode reads ``m * k`` values row-major and generates the column itself.
    * ``entries{i}``: work for PE ``i`` (``entry_layout``); ``load{i}``: that PE's queue fill;
      ``group{i}``: the group PE ``i`` belongs to in this job (stable while the job runs).
      Every entry of a row goes to all PEs of one group at once (they split its columns), in
      the cycle all of them can take it. The next row goes to the group whose first PE had
      the smallest load one cycle earlier (lowest group on ties).
    * ``done``: every row has been dealt (high until the next ``start``).
    * ``error`` (pulse) with ``error_code``: bad row pointers (``row_ptr[0] != 0``, decreasing,
      beyond ``nnz``, or ``row_ptr[m] != nnz``) or a column index ``>= k``. The scanner then
      stops consuming input until the next ``start``; the entries already dealt stay valid.
    * ``blocked``: the scanner holds an entry whose PE group's queues are full (imbalance).

    Throughput: one entry per cycle; each row costs one extra cycle to read its row pointer.
    Each input stream passes a register slice first (one cycle of latency).
    """

    def __init__(self, *, pes, load_bits):
        if pes < 1:
            raise ValueError(f"pes must be positive, not {pes!r}")
        self.pes = pes
        members = {
            "start": In(1), "csr": In(1), "m": In(16), "k": In(17), "nnz": In(32),
            "row_ptr": In(stream.Signature(32)),
            "col_idx": In(stream.Signature(32)),
            "values": In(stream.Signature(signed(8))),
            "done": Out(1), "error": Out(1), "error_code": Out(ErrorCode, init=ErrorCode.NONE),
            "blocked": Out(1),
        }
        for i in range(pes):
            members[f"entries{i}"] = Out(stream.Signature(entry_layout()))
            members[f"load{i}"] = In(load_bits)
            members[f"group{i}"] = In(range(max(pes, 2)))
        super().__init__(members)

    def elaborate(self, platform):
        m = Module()
        P = self.pes
        outs = [getattr(self, f"entries{i}") for i in range(P)]
        loads = [getattr(self, f"load{i}") for i in range(P)]

        # Each input passes through a register slice (one cycle), so the PEs' queue state does
        # not reach back into the buffers upstream; a column index is compared with k on its
        # way in and carries the result.
        m.submodules.row_ptr_in = row_ptr_in = RegisterSlice(32)
        m.submodules.col_idx_in = col_idx_in = RegisterSlice(
            data.StructLayout({"col": 32, "out_of_range": 1}))
        m.submodules.values_in = values_in = RegisterSlice(signed(8))
        wiring.connect(m, wiring.flipped(self.row_ptr), row_ptr_in.sink)
        wiring.connect(m, wiring.flipped(self.values), values_in.sink)
        m.d.comb += [col_idx_in.sink.payload.col.eq(self.col_idx.payload),
                     col_idx_in.sink.payload.out_of_range.eq(self.col_idx.payload >= self.k),
                     col_idx_in.sink.valid.eq(self.col_idx.valid),
                     self.col_idx.ready.eq(col_idx_in.sink.ready)]
        row_ptr, col_idx, values = row_ptr_in.source, col_idx_in.source, values_in.source

        row = Signal(17)
        prev_ptr = Signal(32)
        remaining = Signal(32)
        col = Signal(16)          # dense mode: generated column
        first = Signal()
        target = Signal(range(max(P, 2)))

        groups = [getattr(self, f"group{i}") for i in range(P)]

        # The least-loaded group, judged by its first PE (the PEs of a group move in lockstep),
        # from the loads of the cycle before (registered: the queue levels do not reach the
        # row decision combinationally).
        leader = [Const(1)] + [groups[i] != groups[i - 1] for i in range(1, P)]
        best = Signal(range(max(P, 2)))
        cand, cand_load = groups[0], loads[0]
        for i in range(1, P):
            take = leader[i] & (loads[i] < cand_load)
            cand = Mux(take, groups[i], cand)
            cand_load = Mux(take, loads[i], cand_load)
        m.d.sync += best.eq(cand)

        entry = Signal(entry_layout())
        out_valid = Signal()
        out_ready = Signal()
        member = [groups[i] == target for i in range(P)]
        m.d.comb += out_ready.eq(Cat(*(outs[i].ready | ~member[i] for i in range(P))).all())
        for i in range(P):
            m.d.comb += [outs[i].payload.eq(entry),
                         outs[i].valid.eq(out_valid & member[i] & out_ready)]

        def fail(code):
            m.d.comb += [self.error.eq(1), self.error_code.eq(code)]
            m.next = "STOPPED"

        def on_start():
            with m.If(self.start):
                m.d.sync += row.eq(0)
                with m.If(self.csr):
                    m.next = "FIRST_PTR"
                with m.Else():
                    m.next = "ROW"

        with m.FSM(name="scan"):
            with m.State("IDLE"):
                on_start()
            with m.State("FIRST_PTR"):
                m.d.comb += row_ptr.ready.eq(1)
                with m.If(row_ptr.valid):
                    with m.If(row_ptr.payload != 0):
                        fail(ErrorCode.BAD_ROW_POINTERS)
                    with m.Else():
                        m.d.sync += prev_ptr.eq(0)
                        m.next = "ROW"
            with m.State("ROW"):
                with m.If(row == self.m):
                    with m.If(self.csr & (prev_ptr != self.nnz)):
                        fail(ErrorCode.BAD_ROW_POINTERS)   # row_ptr[m] disagrees with nnz
                    with m.Else():
                        m.next = "DONE"
                with m.Elif(~self.csr):
                    m.d.sync += [remaining.eq(self.k), col.eq(0), first.eq(1), target.eq(best)]
                    m.next = "EMIT"
                with m.Else():
                    ptr = row_ptr.payload
                    m.d.comb += row_ptr.ready.eq(1)
                    with m.If(row_ptr.valid):
                        with m.If((ptr < prev_ptr) | (ptr > self.nnz)):
                            fail(ErrorCode.BAD_ROW_POINTERS)
                        with m.Else():
                            m.d.sync += [remaining.eq(ptr - prev_ptr), prev_ptr.eq(ptr),
                                         first.eq(1), target.eq(best)]
                            m.next = "EMIT"
            with m.State("EMIT"):
                m.d.comb += [entry.row.eq(row), entry.first.eq(first)]
                with m.If(remaining == 0):
                    # Empty row: one zero entry so its row of C is written.
                    m.d.comb += [entry.value.eq(0), entry.col.eq(0), entry.last.eq(1),
                                 out_valid.eq(1)]
                    m.d.comb += self.blocked.eq(~out_ready)
                    with m.If(out_ready):
                        m.d.sync += row.eq(row + 1)
                        m.next = "ROW"
                with m.Else():
                    m.d.comb += [entry.value.eq(values.payload), entry.last.eq(remaining == 1)]
                    have = Signal()
                    with m.If(self.csr):
                        m.d.comb += [have.eq(values.valid & col_idx.valid),
                                     entry.col.eq(col_idx.payload.col)]
                    with m.Else():
                        m.d.comb += [have.eq(values.valid), entry.col.eq(col)]
                    bad_col = self.csr & (col_idx.payload.out_of_range)
                    m.d.comb += self.blocked.eq(have & ~out_ready)
                    with m.If(have & bad_col):
                        fail(ErrorCode.COLUMN_OUT_OF_RANGE)
                    with m.Elif(have):
                        m.d.comb += out_valid.eq(1)
                        with m.If(out_ready):
                            m.d.comb += [values.ready.eq(1), col_idx.ready.eq(self.csr)]
                            m.d.sync += [remaining.eq(remaining - 1), col.eq(col + 1),
                                         first.eq(0)]
                            with m.If(remaining == 1):
                                m.d.sync += row.eq(row + 1)
                                m.next = "ROW"
            with m.State("DONE"):
                m.d.comb += self.done.eq(1)
                on_start()
            with m.State("STOPPED"):
                on_start()
        return m
