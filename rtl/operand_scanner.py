"""Operand scanner: turns the A stream (dense or CSR) into per-PE work entries."""
import functools
import operator

from amaranth.hdl import *
from amaranth.lib import wiring, stream, data
from amaranth.lib.wiring import In, Out

from .regmap import ErrorCode
from .register_slice import RegisterSlice

__all__ = ["OperandScanner", "entry_layout", "deal_layout"]


def entry_layout():
    """One nonzero of A dealt to a PE: ``value = A[row, col]``; ``first``/``last`` mark the row's
    first and last entries (the end-of-fiber marker). An empty row is one entry with
    ``value = 0`` and both marks set, so its row of C is still written (as zeros)."""
    return data.StructLayout({
        "row": 16, "col": 16, "value": signed(8), "first": 1, "last": 1,
    })


def deal_layout(width):
    """Up to ``width`` consecutive entries of one row dealt in one cycle: ``entries[0]`` to
    ``entries[count - 1]``, in order (``count`` >= 1 on a valid transfer)."""
    return data.StructLayout({"count": range(width + 1),
                              "entries": data.ArrayLayout(entry_layout(), width)})


class OperandScanner(wiring.Component):
    """Walks A row by row and deals each row, whole, to the least-loaded group of PEs, up to
    ``width`` entries per cycle.

    Parameters: ``pes`` output streams, ``load_bits`` width of each PE's queue-load input,
    ``width`` entries dealt per cycle at most.

    Ports:

    * ``start`` (pulse) with ``csr`` (mode), ``narrow``, ``m``, ``k``, ``nnz``: begin a job
      (``csr`` and ``narrow`` must be stable from the cycle before ``start``; ``nnz`` at most
      2^22 - 1).
    * ``row_ptr``: A's row pointers (CSR only, int32 stream).
    * ``cols`` / ``cols_avail`` / ``cols_take`` and ``vals`` / ``vals_avail`` / ``vals_take``:
      element windows (``ElementWindow``) of A's column indices (CSR only) and values (int8).
      The column window holds 16-bit halves: with ``narrow`` each is a uint16 column index,
      otherwise two of them (low half first) are one int32 index. ``cols_bad``: which halves
      are ``>= k``; ``cols_high``: which are nonzero (an int32 index with a nonzero high half
      is out of range, as K <= 65,536). Dense mode reads ``m * k`` values row-major and
      generates the column itself.
    * ``deals{i}``: work for PE ``i`` (``deal_layout``); ``load{i}``: that PE's queue fill;
      ``group{i}``: the group PE ``i`` belongs to in this job (stable from two cycles before
      ``start`` while the job runs).
      Every deal goes to all PEs of one group at once (they split its columns), in the cycle
      all of them can take it. A deal holds consecutive entries of one row: as many as the
      row has left, at most ``width``, at most what the windows hold. The next row goes to
      the group whose first PE had the smallest load one cycle earlier, the group of the row
      being dealt counting as full (lowest group on ties). The loads are two cycles old when
      they are compared (registered in the PE, and again beside the scanner).
    * ``done``: every row has been dealt (high until the next ``start``).
    * ``error`` (pulse, from a register) with ``error_code``: bad row pointers
      (``row_ptr[0] != 0``, decreasing, beyond ``nnz``, or ``row_ptr[m] != nnz``) or a column
      index ``>= k`` (checked over the column indices of the current row that the window
      shows, before any of them is dealt, so an entry with a bad column never leaves). The
      scanner then stops consuming input until the next ``start``; the entries already dealt
      stay valid.
    * ``blocked``: the scanner holds a deal whose PE group's queues are full (imbalance).
    * ``starved``: a row is being dealt but the windows hold none of its next entries (A's
      data is late); from a register, one cycle after.

    Throughput: ``width`` entries per cycle within a row; a row's last deal and the next
    row's first are in different cycles, so a row of ``e`` entries takes ``max(1,
    ceil(e / width))`` cycles (an empty row one). Row pointers are read ahead, off that path.
    Deals pass two register slices (two cycles) on their way out, so the PEs' queue state does
    not reach the windows combinationally.
    """

    def __init__(self, *, pes, load_bits, width=1):
        if pes < 1:
            raise ValueError(f"pes must be positive, not {pes!r}")
        if width < 1:
            raise ValueError(f"width must be positive, not {width!r}")
        self.pes, self.width = pes, width
        members = {
            "start": In(1), "csr": In(1), "m": In(16), "k": In(17), "nnz": In(32),
            "row_ptr": In(stream.Signature(32)),
            "narrow": In(1),
            "cols": In(data.ArrayLayout(16, 2 * width)), "cols_avail": In(range(2 * width + 1)),
            "cols_take": Out(range(2 * width + 1)), "cols_bad": In(2 * width),
            "cols_high": In(2 * width),
            "vals": In(data.ArrayLayout(signed(8), width)), "vals_avail": In(range(width + 1)),
            "vals_take": Out(range(width + 1)),
            "done": Out(1), "error": Out(1), "error_code": Out(ErrorCode, init=ErrorCode.NONE),
            "blocked": Out(1), "starved": Out(1),
        }
        for i in range(pes):
            members[f"deals{i}"] = Out(stream.Signature(deal_layout(width)))
            members[f"load{i}"] = In(load_bits)
            members[f"group{i}"] = In(range(max(pes, 2)))
        super().__init__(members)

    def elaborate(self, platform):
        m = Module()
        P, W = self.pes, self.width
        outs = [getattr(self, f"deals{i}") for i in range(P)]
        loads = [getattr(self, f"load{i}") for i in range(P)]
        groups = [getattr(self, f"group{i}") for i in range(P)]

        # Row pointers pass a register slice (one cycle) on their way in.
        m.submodules.row_ptr_in = row_ptr_in = RegisterSlice(32)
        wiring.connect(m, wiring.flipped(self.row_ptr), row_ptr_in.sink)
        row_ptr = row_ptr_in.source

        # the job's mode, registered here (the controller sets it well before ``start``)
        csr = Signal()
        narrow = Signal()
        m.d.sync += [csr.eq(self.csr), narrow.eq(self.narrow)]

        row = Signal(17)            # the row being dealt
        cur_valid = Signal()
        remaining = Signal(23)      # its entries not dealt yet (a row holds < 2^22)
        first = Signal()
        col = Signal(17)            # dense mode: its next column
        nxt_valid = Signal()        # the length of the row after it, read ahead
        nxt_len = Signal(23)
        prev_ptr = Signal(32)
        fetched = Signal(17)        # rows whose length has been read

        # The least-loaded group, judged by its first PE (the PEs of a group move in
        # lockstep), from the loads of two cycles before; the group of the row being dealt
        # counts as full, so consecutive short rows spread out. (``done`` waits for the deal
        # slice to empty.)
        # the PEs' groups and which PE leads its group, registered (stable while a job runs)
        groups = [Signal.like(groups[i], name=f"group_here{i}") for i in range(P)]
        m.d.sync += [groups[i].eq(getattr(self, f"group{i}")) for i in range(P)]
        leader = [Const(1)] + [Signal(name=f"leader{i}") for i in range(1, P)]
        m.d.sync += [leader[i].eq(getattr(self, f"group{i}") != getattr(self, f"group{i - 1}"))
                     for i in range(1, P)]
        best = Signal(range(max(P, 2)))
        full = (1 << len(loads[0])) - 1
        # the loads are registered here, beside the choice (they come from across the array),
        # as is "PE i is in the target group"
        loads_here = [Signal.like(loads[i], name=f"load_here{i}") for i in range(P)]
        in_target = [Signal(name=f"in_target{i}") for i in range(P)]
        m.d.sync += [loads_here[i].eq(loads[i]) for i in range(P)]
        # ``marked[i]``: PE i is in the group of the row being dealt (cur_valid & in_target[i],
        # kept as its own register beside the pick)
        marked = [Signal(name=f"marked{i}") for i in range(P)]
        # The pick: the first leader with the least effective load (a marked PE counts as
        # full). Every pair is compared at once, from the registered loads, and ``marked``
        # only enters after the comparisons: ``lower[(a, b)]`` (a < b) is "b's effective load
        # is below a's". PE i wins when it leads its group, beats every leader before it and
        # is not beaten by any leader after it.
        not_full = [loads_here[i] != full for i in range(P)]
        lower = {}
        for a in range(P):
            for b in range(a + 1, P):
                lt = Signal(name=f"load_below{b}_{a}")
                m.d.comb += lt.eq(loads_here[b] < loads_here[a])
                lower[(a, b)] = ~marked[b] & Mux(marked[a], not_full[b], lt)
        wins = []
        for i in range(P):
            win = leader[i]
            for j in range(P):
                if j < i:
                    win = win & (~leader[j] | lower[(j, i)])
                elif j > i:
                    win = win & (~leader[j] | ~lower[(i, j)])
            wins.append(win)
        # exactly one PE wins: its group
        m.d.sync += best.eq(functools.reduce(operator.or_,
                                             (Mux(wins[i], groups[i], 0) for i in range(P))))

        # The deal of this cycle. ``rem_w`` is ``remaining`` capped at W + 1 (a register, kept
        # beside it), so the deal's size is a few small comparisons away from registers.
        rem_w = Signal(range(W + 2))
        rem_cap = Signal(range(W + 1))          # min(remaining, W), also kept as a register

        def set_remaining(value):
            m.d.sync += [remaining.eq(value), rem_w.eq(Mux(value > W, W + 1, value[:len(rem_w)])),
                         rem_cap.eq(Mux(value > W, W, value[:len(rem_cap)]))]

        def deal_from_remaining(n):
            # remaining - n, and its cap, without a wide subtract-then-compare: above 2W the
            # cap stays W + 1 (n <= W); at or below, a few low bits decide it
            low = Signal(range(2 * W + 1), name="remaining_low")
            m.d.comb += low.eq(remaining[:len(low)] - n)
            m.d.sync += [remaining.eq(remaining - n),
                         rem_w.eq(Mux(remaining > 2 * W, W + 1,
                                      Mux(low > W, W + 1, low[:len(rem_w)]))),
                         rem_cap.eq(Mux(remaining > 2 * W, W,
                                        Mux(low > W, W, low[:len(rem_cap)])))]

        deal = Signal(deal_layout(W))
        n = Signal(range(W + 1))
        empty = rem_w == 0
        n_avail = Mux(self.vals_avail < rem_cap, self.vals_avail, rem_cap)
        # column indices available: halves (narrow) or pairs of halves
        cols_avail = Mux(narrow, self.cols_avail, self.cols_avail >> 1)
        n_data = Mux(csr & (cols_avail < n_avail), cols_avail, n_avail)
        m.d.comb += n.eq(Mux(empty, 1, n_data))
        # whether the deal is non-empty, straight from the registers (not through ``n``)
        some_data = (self.vals_avail != 0) & (~csr | (cols_avail != 0))
        # A column out of range anywhere in the visible part of the row (column indices in
        # the window, entries left in the row) stops the deal and fails the job; this
        # covers every entry a deal of this cycle could hold, without waiting for ``n``.
        bad_col = Signal()
        for j in range(W):
            e = deal.entries[j]
            csr_col = Mux(narrow, self.cols[j], self.cols[2 * j])
            col_bad = Mux(narrow, self.cols_bad[j],
                          self.cols_bad[2 * j] | self.cols_high[2 * j + 1])
            m.d.comb += [e.row.eq(row), e.first.eq(first if j == 0 else 0),
                         e.last.eq(empty | (rem_w == j + 1)),
                         e.value.eq(Mux(empty, 0, self.vals[j])),
                         e.col.eq(Mux(empty, 0, Mux(csr, csr_col, col + j)))]
            with m.If(csr & (j < rem_cap) & (j < cols_avail) & col_bad):
                m.d.comb += bad_col.eq(1)
        m.d.comb += deal.count.eq(n)

        # Deals leave through a register slice, then go to every PE of their group at once.
        # (``dest``: the PEs of the target group, one bit each, from registers)
        deal_dest = data.StructLayout({"deal": deal_layout(W), "dest": P})
        m.submodules.deal_out = deal_out = RegisterSlice(deal_dest)
        running = Signal()      # in state RUN: a register of its own, set and cleared with the
                                # state (a decoded state fans out into the deal's size, late)
        m.d.sync += self.starved.eq(running & cur_valid & ~empty & (n_data == 0))
        out_valid = running & cur_valid & (empty | some_data) & ~bad_col
        m.d.comb += [deal_out.sink.payload.deal.eq(deal),
                     deal_out.sink.payload.dest.eq(Cat(*in_target)),
                     deal_out.sink.valid.eq(out_valid)]
        # a second stage, so the placer can keep the first beside the scanner and the second
        # beside the PEs (the deal fans out to every PE)
        m.submodules.deal_fanout = deal_fanout = RegisterSlice(deal_dest)
        wiring.connect(m, deal_out.source, deal_fanout.sink)
        held = deal_fanout.source
        member = [held.payload.dest[i] for i in range(P)]
        group_ready = Cat(*(outs[i].ready | ~member[i] for i in range(P))).all()
        for i in range(P):
            m.d.comb += [outs[i].payload.eq(held.payload.deal),
                         outs[i].valid.eq(held.valid & member[i] & group_ready)]
        m.d.comb += [held.ready.eq(group_ready), self.blocked.eq(held.valid & ~group_ready)]
        dealt = out_valid & deal_out.sink.ready
        with m.If(dealt & ~empty):
            m.d.comb += [self.vals_take.eq(n),
                         self.cols_take.eq(Mux(csr, Mux(narrow, n, n << 1), 0))]
            deal_from_remaining(n)
            m.d.sync += [col.eq(col + n), first.eq(0)]
        cur_done = dealt & (empty | (n == rem_w))

        # The next row becomes current when the current one is done (or there is none).
        nxt_taken = running & nxt_valid & (~cur_valid | cur_done)
        with m.If(cur_done):
            m.d.sync += [row.eq(row + 1), cur_valid.eq(0)]
            m.d.sync += [mk.eq(0) for mk in marked]
        with m.If(nxt_taken):
            set_remaining(nxt_len)
            m.d.sync += [cur_valid.eq(1), first.eq(1), col.eq(0), nxt_valid.eq(0)]
            m.d.sync += [in_target[i].eq(groups[i] == best) for i in range(P)]
            m.d.sync += [marked[i].eq(groups[i] == best) for i in range(P)]

        # Errors leave from registers (one cycle after the cause).
        fail_now = Signal()
        fail_code = Signal(ErrorCode)
        m.d.sync += [self.error.eq(fail_now), self.error_code.eq(fail_code)]

        def fail(code):
            m.d.comb += [fail_now.eq(1), fail_code.eq(code)]
            m.d.sync += running.eq(0)
            m.next = "STOPPED"

        # Read the next row's length ahead, while its slot is free (or being freed).
        fetch = running & (fetched != self.m) & (~nxt_valid | nxt_taken)
        with m.If(fetch & ~csr):
            m.d.sync += [nxt_valid.eq(1), nxt_len.eq(self.k), fetched.eq(fetched + 1)]
        ptr = row_ptr.payload
        ptr_bad = (ptr < prev_ptr) | (ptr > self.nnz)

        def on_start():
            with m.If(self.start):
                m.d.sync += [mk.eq(0) for mk in marked]
                m.d.sync += [row.eq(0), fetched.eq(0), cur_valid.eq(0), nxt_valid.eq(0),
                             prev_ptr.eq(0)]
                m.next = "FIRST_PTR"

        with m.FSM(name="scan"):
            with m.State("IDLE"):
                on_start()
            with m.State("FIRST_PTR"):
                with m.If(~csr):
                    m.d.sync += running.eq(1)
                    m.next = "RUN"
                with m.Else():
                    m.d.comb += row_ptr.ready.eq(1)
                    with m.If(row_ptr.valid):
                        with m.If(ptr != 0):
                            fail(ErrorCode.BAD_ROW_POINTERS)
                        with m.Else():
                            m.d.sync += running.eq(1)
                            m.next = "RUN"
            with m.State("RUN"):
                with m.If(fetch & csr):
                    m.d.comb += row_ptr.ready.eq(1)
                    with m.If(row_ptr.valid):
                        with m.If(ptr_bad):
                            fail(ErrorCode.BAD_ROW_POINTERS)
                        with m.Else():
                            m.d.sync += [nxt_valid.eq(1), nxt_len.eq(ptr - prev_ptr),
                                         prev_ptr.eq(ptr), fetched.eq(fetched + 1)]
                with m.If(cur_valid & bad_col):
                    fail(ErrorCode.COLUMN_OUT_OF_RANGE)
                with m.If((row == self.m) & ~cur_valid & ~deal_out.source.valid & ~held.valid):
                    with m.If(csr & (prev_ptr != self.nnz)):
                        fail(ErrorCode.BAD_ROW_POINTERS)   # row_ptr[m] disagrees with nnz
                    with m.Else():
                        m.d.sync += running.eq(0)
                        m.next = "DONE"
            with m.State("DONE"):
                m.d.comb += self.done.eq(1)
                on_start()
            with m.State("STOPPED"):
                on_start()
        return m
