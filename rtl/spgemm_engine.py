"""SpGEMM engine: rows of C = A.B with both operands CSR, written as CSR."""
import functools
import operator

from amaranth.hdl import *
from amaranth.lib import wiring, stream, data
from amaranth.lib.fifo import SyncFIFO, SyncFIFOBuffered
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from .operand_scanner import deal_layout, entry_layout
from .write_engine import write_request_layout

__all__ = ["SpgemmEngine", "PIPELINE_STAGES"]

PIPELINE_STAGES = 6     # B word read -> register -> select -> multiply -> accumulator read
                        # -> add/write


def _lowest_set(m, value, name):
    """(index, any) of the lowest set bit of ``value`` (index 0 when none), combinational,
    as a balanced tree: log2(width) levels of 2:1 choices, not a chain of width."""
    nodes = [(None, value[i]) for i in range(len(value))]
    while len(nodes) & (len(nodes) - 1) or len(nodes) < 2:
        nodes.append((None, C(0, 1)))
    while len(nodes) > 1:
        pairs = []
        for (lo_idx, lo_any), (hi_idx, hi_any) in zip(nodes[0::2], nodes[1::2]):
            high = ~lo_any & hi_any          # the lower half has none, the upper half some
            idx = high if lo_idx is None else Cat(Mux(lo_any, lo_idx, hi_idx), high)
            pairs.append((idx, lo_any | hi_any))
        nodes = pairs
    idx = Signal(range(max(len(value), 2)), name=f"{name}_index")
    m.d.comb += idx.eq(nodes[0][0])
    return idx, nodes[0][1]


class SpgemmEngine(wiring.Component):
    """Gustavson SpGEMM, up to ``lanes // 2`` partial products per cycle: for each row ``i``
    of A (dealt in row order, whole, by the operand scanner) every nonzero ``A[i,k]`` walks
    the stored entries of row ``k`` of B (a CSR matrix the ``CsrLoader`` put in scratchpad
    banks 0-3) one column-index word (``lanes // 2`` entries) per cycle, and the products are
    added into a dense row accumulator of ``cols`` int32 per product lane (lane ``j`` takes
    the entries at position ``j`` of a word, so the lanes never contend for a column), with
    an occupancy bitmap of the columns touched per lane (one bit per column, and a register
    of the 32-column groups touched). At the end of the row a group lister walks the
    touched groups in order, reading and clearing their bitmap words (ORed over the lanes)
    into a queue, and a column scanner takes one touched column a cycle from it: every
    column whose lanes' sum is not 0 becomes an entry of C (entries that cancel to 0 are
    dropped, as scipy does), and the accumulators are cleared behind it.

    Ports:

    * ``start`` (pulse) with ``m`` (rows), ``c_rowptr``, ``c_colidx``, ``c_values`` (the three
      arrays of C, 64-byte aligned) and ``capacity`` (entries the column-index and value
      arrays hold, a multiple of ``lanes``): begin a job. Deals are taken only after it.
      With ``scrub``, the row buffers are cleared first (``cols`` cycles): needed when the
      last job stopped part-way (a reset keeps the memories; a job that ends leaves them
      clear).
    * ``deals``: A's rows (``deal_layout``); an entry with value 0 (an empty row's marker, or a
      stored zero) forms no product. ``deals.ready`` comes from a register.
    * ``ptr_addr`` / ``ptr_data`` / ``next_ptr_data``: read port of banks 2 and 3 (row ``k``'s
      first and one-past-last entry), ``col_addr``/``col_data`` bank 0 (column indices, 16
      bits each), ``val_addr``/``val_data`` bank 1 (int8 values); one cycle read latency.
    * ``requests``: C's chunks (``lanes`` int32) for the write engine: row pointers, column
      indices and values, each array written from its start in whole chunks, in order;
      chunks of column indices or values at or past ``capacity`` are not written.
    * ``finished``: all ``m`` rows are written (high until the next ``start``);
      ``overflow``: C has more than ``capacity`` nonzeros (valid once ``finished``).
    * Events, per cycle: ``products`` (partial products added, 0 to ``lanes // 2``),
      ``effectual`` (those with both factors nonzero), ``touched`` (a touched column of C's
      row is written out, whatever its sum: the products merged are ``products - touched``
      over a job), ``emit`` (an entry of C).

    Two row buffers (accumulators and bitmaps each, ``lanes * cols`` int32 in all): row ``i``
    is written out of one while row ``i + 1`` accumulates in the other.

    Throughput: one column-index word of a B row per cycle (a row of B holding ``n`` entries
    from position ``p`` of a word takes ``ceil((p + n) / (lanes // 2))`` cycles; an empty one,
    one); writing a row out takes one cycle per touched column (nonzero or not) and one per
    row, with the group lister (one group a cycle) running ahead, into the next row, and the
    whole write-out overlapped with the next row's products.
    B's row pointers are looked up ahead, one A entry per cycle; a row's first product follows
    its predecessor's last after one idle cycle.
    """

    def __init__(self, *, lanes, b_words, cols, width, addr_bits=32):
        if lanes < 4 or lanes & (lanes - 1):
            raise ValueError(f"lanes must be a power of two >= 4, not {lanes!r}")
        if cols < 64 or cols & (cols - 1):
            raise ValueError(f"cols must be a power of two >= 64, not {cols!r}")
        self.lanes, self.b_words, self.cols, self.width = lanes, b_words, cols, width
        self.addr_bits = addr_bits
        super().__init__({
            "start": In(1), "scrub": In(1), "m": In(16), "capacity": In(32),
            "c_rowptr": In(addr_bits), "c_colidx": In(addr_bits), "c_values": In(addr_bits),
            "deals": In(stream.Signature(deal_layout(width))),
            "ptr_addr": Out(range(b_words)), "ptr_data": In(8 * lanes),
            "next_ptr_data": In(8 * lanes),
            "col_addr": Out(range(b_words)), "col_data": In(8 * lanes),
            "val_addr": Out(range(b_words)), "val_data": In(8 * lanes),
            "requests": Out(stream.Signature(write_request_layout(32 * lanes, addr_bits))),
            "finished": Out(1), "overflow": Out(1),
            "products": Out(range(lanes // 2 + 1)), "effectual": Out(range(lanes // 2 + 1)),
            "touched": Out(1), "emit": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        L, W = self.lanes, self.width
        H = L // 2
        hbits, lbits = H.bit_length() - 1, L.bit_length() - 1
        cbits = self.cols.bit_length() - 1
        groups = self.cols // 32

        running = Signal()       # between start and finished

        # --- A's entries: a three-deal queue, read one entry per cycle ----------------------
        m.submodules.deal_queue = dq = SyncFIFOBuffered(width=deal_layout(W).size, depth=4)
        scrubbing = Signal()
        scrub_addr = Signal(range(self.cols))
        taking = running & ~scrubbing
        # ``deals.ready`` from a register (the scanner's deal goes to the PEs beside it, and
        # the ready comes back through their group's AND): high when the engine takes deals
        # next cycle (``taking_next``: ``taking`` one cycle ahead) and the queue then holds at
        # most two deals (this cycle's level plus its write; reads only lower it). A write is
        # therefore never refused: at most three deals wait, which fit the FIFO's depth - 1
        # entries of storage even while its output register is empty, so ``w_rdy`` need not
        # be looked at.
        deal_ready = Signal()
        scrub_done = Signal()        # the scrub's last address this cycle
        finishing = Signal()         # ``finished`` rises next cycle
        taking_next = Mux(self.start, ~self.scrub, (taking | scrub_done) & ~finishing)
        m.d.sync += deal_ready.eq(taking_next & (dq.level + dq.w_en < dq.depth - 1))
        m.d.comb += [dq.w_data.eq(self.deals.payload), dq.w_en.eq(self.deals.valid & deal_ready),
                     self.deals.ready.eq(deal_ready)]
        deal = data.View(deal_layout(W), dq.r_data)
        di = Signal(range(max(W, 2)))
        entry = Signal(entry_layout(), name="entry")
        with m.Switch(di):
            for t in range(W):
                with m.Case(t):
                    m.d.comb += entry.eq(deal.entries[t])

        # lookup: B row k's [start, end) from banks 2 and 3; ranges queue behind it
        range_layout = data.StructLayout({"a": signed(8), "start": 16, "end": 16, "last": 1})
        m.submodules.ranges = ranges = SyncFIFO(width=range_layout.size, depth=4)
        lk_valid = Signal()
        lk = Signal(data.StructLayout({"a": signed(8), "sel": range(H), "skip": 1, "last": 1}))
        lk2_valid = Signal()
        issue_lookup = dq.r_rdy & (ranges.level + lk_valid + lk2_valid < 3)
        m.d.comb += [self.ptr_addr.eq(entry.col >> hbits),
                     dq.r_en.eq(issue_lookup & (di == deal.count - 1))]
        m.d.sync += lk_valid.eq(issue_lookup)
        with m.If(issue_lookup):
            m.d.sync += [lk.a.eq(entry.value), lk.sel.eq(entry.col[:hbits]),
                         lk.skip.eq(entry.value == 0), lk.last.eq(entry.last),
                         di.eq(Mux(di == deal.count - 1, 0, di + 1))]
        # the bank words are registered as they arrive, then the row's halves selected
        lk2 = Signal.like(lk)
        lk2_ptr = Signal(8 * L)
        lk2_next = Signal(8 * L)
        m.d.sync += [lk2_valid.eq(lk_valid), lk2.eq(lk), lk2_ptr.eq(self.ptr_data),
                     lk2_next.eq(self.next_ptr_data)]
        rng_in = data.View(range_layout, ranges.w_data)
        m.d.comb += [rng_in.a.eq(lk2.a), rng_in.last.eq(lk2.last),
                     rng_in.start.eq(Mux(lk2.skip, 0, lk2_ptr.word_select(lk2.sel, 16))),
                     rng_in.end.eq(Mux(lk2.skip, 0, lk2_next.word_select(lk2.sel, 16))),
                     ranges.w_en.eq(lk2_valid)]

        # --- the walk: the entries of a B row in one bank word a cycle ----------------------
        # Lane j takes the entry at position j of the column-index word (H = L/2 entries of
        # 16 bits); a range's first and last words may be partial. Two row buffers
        # (accumulators + bitmaps each): row i accumulates in buffer i mod 2 while row i - 1 is
        # written out of the other. A row starts only in a clean buffer.
        rng = data.View(range_layout, ranges.r_data)
        cur_valid = Signal()
        cur = Signal(range_layout)
        wbuf = Signal()          # the buffer of the row being walked
        claimed = Signal()       # that row has claimed it
        clean = Signal(2, init=0b11)   # buffer b is written out and cleared
        s1 = Signal(data.StructLayout({"lanes": H, "last": 1, "buf": 1, "a": signed(8),
                                       "half": range(max(L // H, 2))}))
        s1_next = Signal.like(s1)
        range_ends = Signal()    # this cycle's word is the current range's last
        with m.If(cur_valid):
            nonempty = cur.start != cur.end
            word = cur.start >> hbits
            word_end = Signal(17)          # the first entry of the next word
            m.d.comb += word_end.eq((word + 1) << hbits)
            final = cur.end <= word_end
            end_off = Signal(16)           # one past the range's last entry, from this word's first
            m.d.comb += end_off.eq(cur.end - (word << hbits))
            m.d.comb += [s1_next.lanes.eq(Cat(
                             nonempty & (Const(1) if j == H - 1 else cur.start[:hbits] <= j) &
                             (~final | (end_off > j))
                             for j in range(H))),
                         s1_next.a.eq(cur.a), s1_next.buf.eq(wbuf),
                         s1_next.half.eq(cur.start[hbits:lbits]),
                         s1_next.last.eq(cur.last & (~nonempty | final)),
                         self.col_addr.eq(word), self.val_addr.eq(cur.start >> lbits),
                         range_ends.eq(~nonempty | final)]
            m.d.sync += cur.start.eq(word_end)
        m.d.sync += s1.eq(s1_next)
        # the next range: not in the cycle a row's last one finishes; a row's first claims
        # its buffer
        pop = ranges.r_rdy & (~cur_valid | (range_ends & ~cur.last)) & (claimed | clean.bit_select(wbuf, 1))
        m.d.comb += ranges.r_en.eq(pop)
        with m.If(range_ends):
            m.d.sync += cur_valid.eq(0)
            with m.If(cur.last):
                m.d.sync += [wbuf.eq(~wbuf), claimed.eq(0)]
        with m.If(pop):
            m.d.sync += [cur_valid.eq(1), cur.eq(rng), claimed.eq(1)]
        clean_set = Signal(2)
        clean_clear = Signal(2)
        with m.If(pop & ~claimed):
            m.d.comb += clean_clear.eq(Const(1, 2) << wbuf)
        m.d.sync += clean.eq((clean & ~clean_clear) | clean_set)

        # s1 -> s1b: the bank words, registered as they arrive; s1b -> s2: each lane's column
        # and value; s2 -> s3: the products. Lanes move in lockstep; ``row`` carries the
        # stage's row-level flags.
        row_layout = data.StructLayout({"last": 1, "buf": 1})
        lane_layout = data.StructLayout({"v": 1, "col": cbits, "b": signed(8)})
        s1b = Signal.like(s1)
        s1b_col = Signal(8 * L)
        s1b_val = Signal(8 * L)
        m.d.sync += [s1b.eq(s1), s1b_col.eq(self.col_data), s1b_val.eq(self.val_data)]
        s2 = Signal(row_layout)
        s2_a = Signal(signed(8))
        s2_lane = [Signal(lane_layout, name=f"s2_lane{j}") for j in range(H)]
        m.d.sync += [s2.last.eq(s1b.last), s2.buf.eq(s1b.buf), s2_a.eq(s1b.a)]
        for j in range(H):
            m.d.sync += [s2_lane[j].v.eq(s1b.lanes[j]),
                         s2_lane[j].col.eq(s1b_col.word_select(j, 16)[:cbits]),
                         s2_lane[j].b.eq(s1b_val.word_select(Cat(Const(j, hbits), s1b.half),
                                                             8))]
        prod_layout = data.StructLayout({"v": 1, "col": cbits, "prod": signed(16), "eff": 1})
        s3 = Signal(row_layout)
        s3_lane = [Signal(prod_layout, name=f"s3_lane{j}") for j in range(H)]
        m.d.sync += [s3.eq(s2)]
        for j in range(H):
            m.d.sync += [s3_lane[j].v.eq(s2_lane[j].v), s3_lane[j].col.eq(s2_lane[j].col),
                         s3_lane[j].prod.eq(s2_a * s2_lane[j].b),
                         s3_lane[j].eff.eq(s2_lane[j].b != 0)]

        # --- the row buffers: per lane and buffer, an accumulator and a bitmap -------------
        # A column's sum is spread over the lanes' accumulators (a lane adds only its own
        # products, so the lanes never contend); the write-out adds them up. The bitmaps are
        # ORed.
        acc_rd = [[None, None] for _ in range(H)]
        acc_wr = [[None, None] for _ in range(H)]
        t_rd = [[None, None] for _ in range(H)]
        t_wr = [[None, None] for _ in range(H)]
        group_touched = [[Signal(groups, name=f"group_touched{j}_{b}") for b in range(2)]
                         for j in range(H)]
        for j in range(H):
            for b in range(2):
                acc = Memory(shape=32, depth=self.cols, init=[])
                m.submodules[f"accumulator{j}_{b}"] = acc
                acc_rd[j][b] = acc.read_port()
                acc_wr[j][b] = acc.write_port()
                touched = Memory(shape=32, depth=groups, init=[])
                m.submodules[f"touched{j}_{b}"] = touched
                t_rd[j][b] = touched.read_port(domain="comb")
                t_wr[j][b] = touched.write_port()

        # s3 reads the accumulator; s4 has the data (registered into s5); s5 adds and writes,
        # with the two sums written since s4's read was issued forwarded
        s4 = Signal(row_layout)
        s5 = Signal(row_layout)
        m.d.sync += [s4.eq(s3), s5.eq(s4)]
        sum_layout = data.StructLayout({"v": 1, "col": cbits, "sum": 32})
        s5_v = Signal(H)
        s5_eff = Signal(H)
        adding = []          # per lane: (valid, column, sum) written in s5
        for j in range(H):
            s4_l = Signal(prod_layout, name=f"s4_lane{j}")
            s5_l = Signal(data.StructLayout({"v": 1, "col": cbits, "prod": signed(16),
                                             "eff": 1, "hit1": 1, "hit2": 1}),
                          name=f"s5_lane{j}")
            s5_acc = Signal(32, name=f"s5_acc{j}")
            w1 = Signal(sum_layout, name=f"w1_lane{j}")
            w2 = Signal(sum_layout, name=f"w2_lane{j}")
            w1_buf, w2_buf = Signal(name=f"w1_buf{j}"), Signal(name=f"w2_buf{j}")
            m.d.sync += [s4_l.eq(s3_lane[j]), s5_l.v.eq(s4_l.v), s5_l.col.eq(s4_l.col),
                         s5_l.prod.eq(s4_l.prod), s5_l.eff.eq(s4_l.eff),
                         s5_acc.eq(Mux(s4.buf, acc_rd[j][1].data, acc_rd[j][0].data)),
                         s5_l.hit1.eq(s5_l.v & (s5.buf == s4.buf) & (s5_l.col == s4_l.col)),
                         s5_l.hit2.eq(w1.v & (w1_buf == s4.buf) & (w1.col == s4_l.col))]
            base = Mux(s5_l.hit1, w1.sum, Mux(s5_l.hit2, w2.sum, s5_acc))
            total = Signal(32, name=f"total{j}")
            m.d.comb += [total.eq(base + s5_l.prod), s5_v[j].eq(s5_l.v),
                         s5_eff[j].eq(s5_l.v & s5_l.eff)]
            m.d.sync += [w1.v.eq(s5_l.v), w1_buf.eq(s5.buf), w1.col.eq(s5_l.col),
                         w1.sum.eq(total), w2.eq(w1), w2_buf.eq(w1_buf)]
            adding.append((s5_l.v, s5_l.col, total))
        s3_col = [s3_lane[j].col for j in range(H)]

        # --- a row's write-out (of buffer ``cbuf``, rows in order) ---------------------------
        out_layout = data.StructLayout({"ptr": 1, "col": 16, "value": 32})
        m.submodules.out_queue = oq = SyncFIFOBuffered(width=out_layout.size, depth=16)
        group = Signal(range(groups))
        pending = Signal(32)
        # c1/c2/c3: a column read out (``v``), or the row's end (``ptr``: its row pointer goes
        # out behind its entries); c1 has the lanes' accumulators read, c2 holds them, c3 their
        # sum
        c1 = Signal(data.StructLayout({"v": 1, "ptr": 1, "buf": 1, "col": cbits}))
        c2 = Signal(data.StructLayout({"v": 1, "ptr": 1, "col": cbits}))
        c2_parts = Signal(data.ArrayLayout(32, H), reset_less=True)     # data beside c2.v
        c3 = Signal(data.StructLayout({"v": 1, "ptr": 1, "col": cbits, "value": 32}))
        nnz = Signal(32)          # entries of C so far
        cbuf = Signal()           # the buffer whose columns are being written out
        cmine = Signal(2)         # per buffer b: its accumulators are being read out (a
                                  # register: it selects the accumulators' ports)
        pbuf = Signal()           # the buffer whose touched groups are being listed
        pmine = Signal(2)         # per buffer b: its bitmaps are being read and cleared
        scan_col = Signal(cbits)
        scan_go = Signal()
        row_written = Signal()    # the write-out of a row ends (its row pointer follows)
        m.d.sync += [c1.v.eq(scan_go), c1.ptr.eq(row_written), c1.buf.eq(cbuf),
                     c1.col.eq(scan_col),
                     c2.v.eq(c1.v), c2.ptr.eq(c1.ptr), c2.col.eq(c1.col),
                     c3.v.eq(c2.v), c3.ptr.eq(c2.ptr), c3.col.eq(c2.col),
                     c3.value.eq(sum(c2_parts[j] for j in range(H)))]
        m.d.sync += [c2_parts[j].eq(Mux(c1.buf, acc_rd[j][1].data, acc_rd[j][0].data))
                     for j in range(H)]
        push_entry = c3.v & (c3.value != 0)
        push_ptr = c3.ptr
        oq_in = data.View(out_layout, oq.w_data)
        m.d.comb += [oq.w_en.eq(push_entry | push_ptr), oq_in.ptr.eq(push_ptr),
                     oq_in.col.eq(c3.col), oq_in.value.eq(Mux(push_ptr, nnz, c3.value))]
        with m.If(push_entry):
            m.d.sync += nnz.eq(nnz + 1)

        # The write-out runs in two decoupled parts. The group lister walks a finished row's
        # touched 32-column groups in order: it reads and clears the group's bitmap words
        # (ORed over the lanes) and queues (group, word) for the column scanner, and after the
        # row's last group an end marker; it runs ahead, into the next row's buffer. The
        # column scanner takes one touched column a cycle from the queue's groups, reads the
        # lanes' accumulators and clears them behind it.
        # The lowest touched group of each buffer, registered, up to date every cycle: when
        # this cycle lists (and clears) ``next_group``, the one after it (both are encoded
        # from registers; the late ``listing`` only picks).
        listing = Signal()        # a group is listed (its words read and cleared) this cycle
        next_group_b = [Signal(range(groups), name=f"next_group{b}") for b in range(2)]
        next_any_b = [Signal(name=f"next_any{b}") for b in range(2)]
        for b in range(2):
            touched_b = Signal(groups, name=f"touched_groups{b}")
            after_b = Signal(groups, name=f"touched_after_next{b}")
            m.d.comb += [touched_b.eq(functools.reduce(operator.or_, (
                             group_touched[j][b] for j in range(H)))),
                         after_b.eq(touched_b & ~(Const(1, groups) << next_group_b[b]))]
            lowest_group, any_group = _lowest_set(m, touched_b, f"group{b}")
            lowest_after, any_after = _lowest_set(m, after_b, f"group_after{b}")
            listed_b = listing & (pbuf == b)
            m.d.sync += [next_group_b[b].eq(Mux(listed_b, lowest_after, lowest_group)),
                         next_any_b[b].eq(Mux(listed_b, any_after, any_group))]
        next_group = Mux(pbuf, next_group_b[1], next_group_b[0])
        next_any = Mux(pbuf, next_any_b[1], next_any_b[0])
        # the lowest pending column of the group being scanned, kept beside ``pending``
        low_j = Signal(5)
        m.d.comb += scan_col.eq(Cat(low_j, group))

        for j in range(H):
            lane_v, lane_col, lane_total = adding[j]
            bit = Signal(32, name=f"bit{j}")
            m.d.comb += bit.eq(Const(1, 32) << lane_col[:5])
            for b in range(2):
                m.d.comb += [acc_rd[j][b].addr.eq(Mux(cmine[b], scan_col, s3_col[j])),
                             t_rd[j][b].addr.eq(Mux(pmine[b], next_group_b[b], lane_col[5:]))]
                here = lane_v & (s5.buf == b)
                with m.If(cmine[b]):
                    m.d.comb += [acc_wr[j][b].addr.eq(scan_col), acc_wr[j][b].data.eq(0),
                                 acc_wr[j][b].en.eq(scan_go)]
                with m.Else():
                    m.d.comb += [acc_wr[j][b].addr.eq(lane_col), acc_wr[j][b].data.eq(lane_total),
                                 acc_wr[j][b].en.eq(here)]
                with m.If(pmine[b]):
                    m.d.comb += [t_wr[j][b].addr.eq(next_group_b[b]), t_wr[j][b].data.eq(0),
                                 t_wr[j][b].en.eq(listing)]
                    with m.If(listing):
                        m.d.sync += group_touched[j][b].eq(
                            group_touched[j][b] & ~(Const(1, groups) << next_group_b[b]))
                with m.Else():
                    m.d.comb += [t_wr[j][b].addr.eq(lane_col[5:]),
                                 t_wr[j][b].data.eq(t_rd[j][b].data | bit),
                                 t_wr[j][b].en.eq(here)]
                    with m.If(here):
                        m.d.sync += group_touched[j][b].eq(group_touched[j][b] |
                                                           (Const(1, groups) << lane_col[5:]))
                with m.If(scrubbing):
                    # clear both row buffers, one address a cycle (no deal is taken meanwhile)
                    m.d.comb += [acc_wr[j][b].addr.eq(scrub_addr), acc_wr[j][b].data.eq(0),
                                 acc_wr[j][b].en.eq(1), t_wr[j][b].addr.eq(scrub_addr[5:]),
                                 t_wr[j][b].data.eq(0), t_wr[j][b].en.eq(1)]
        with m.If(scrubbing):
            m.d.sync += scrub_addr.eq(scrub_addr + 1)
            with m.If(scrub_addr == self.cols - 1):
                m.d.comb += scrub_done.eq(1)
                m.d.sync += scrubbing.eq(0)
        m.d.comb += [self.products.eq(sum(s5_v[j] for j in range(H))),
                     self.effectual.eq(sum(s5_eff[j] for j in range(H))),
                     self.touched.eq(scan_go), self.emit.eq(push_entry)]

        # the row's buffer is free once its columns are out
        with m.If(row_written):
            m.d.comb += clean_set.eq(Const(1, 2) << cbuf)
            m.d.sync += cbuf.eq(~cbuf)

        # --- the group lister ---------------------------------------------------------------
        group_layout = data.StructLayout({"end": 1, "group": range(groups), "word": 32,
                                          "first": 5, "single": 1})
        m.submodules.group_queue = gq = SyncFIFOBuffered(width=group_layout.size, depth=8)
        rows_to_list = Signal(range(3))   # rows accumulated, their groups not yet listed
        list_end = Signal()               # the lister ends a row (its end marker)
        m.d.sync += rows_to_list.eq(rows_to_list + s5.last - list_end)
        g1 = Signal(data.StructLayout({"v": 1, "end": 1, "group": range(groups), "word": 32}))
        # room in the queue for what is in flight and one more (a register: the level grows
        # by at most one a cycle)
        g_room = Signal()
        m.d.sync += g_room.eq(gq.level + g1.v < 6)
        words = Signal(32)
        m.d.comb += words.eq(Mux(pbuf, functools.reduce(operator.or_, (t_rd[j][1].data
                                                                        for j in range(H))),
                                 functools.reduce(operator.or_, (t_rd[j][0].data
                                                                 for j in range(H)))))
        m.d.sync += [g1.v.eq(listing | list_end), g1.end.eq(list_end), g1.group.eq(next_group),
                     g1.word.eq(words)]
        gq_in = data.View(group_layout, gq.w_data)
        first_in, _ = _lowest_set(m, g1.word, "first_column")

        def one_bit(value):
            return (value != 0) & ((value & (value - 1)) == 0)
        m.d.comb += [gq.w_en.eq(g1.v), gq_in.end.eq(g1.end), gq_in.group.eq(g1.group),
                     gq_in.word.eq(g1.word), gq_in.first.eq(first_in),
                     gq_in.single.eq(one_bit(g1.word))]
        with m.FSM(name="group_lister"):
            with m.State("WAIT"):
                with m.If(rows_to_list != 0):
                    m.d.sync += pmine.eq(Mux(pbuf, 0b10, 0b01))
                    m.next = "LIST"
            with m.State("LIST"):
                with m.If(g_room):
                    with m.If(next_any):
                        m.d.comb += listing.eq(1)
                    with m.Else():
                        # the row's groups are listed: its end marker, then the next row's
                        # groups from the other buffer if it is in
                        m.d.comb += list_end.eq(1)
                        m.d.sync += [pbuf.eq(~pbuf), pmine.eq(Mux(pbuf, 0b01, 0b10))]
                        with m.If(rows_to_list != 2):
                            m.d.sync += pmine.eq(0)
                            m.next = "WAIT"

        # --- the column scanner -------------------------------------------------------------
        gq_out = data.View(group_layout, gq.r_data)
        in_flight = c1.v + c2.v + c3.v + c1.ptr + c2.ptr + c3.ptr
        # room in the out queue for one more column, from registers: the queue's level plus
        # what is in flight grows by at most one a cycle, so last cycle's "below 12" leaves
        # room for this cycle's issue
        room = Signal()
        m.d.sync += room.eq(oq.level + in_flight < 12)
        single = Signal()         # ``pending`` holds one bit (the group's last column)

        def take_group():
            # the queue's next group becomes ``pending``; its accumulators are this buffer's
            m.d.comb += gq.r_en.eq(1)
            m.d.sync += [group.eq(gq_out.group), pending.eq(gq_out.word), low_j.eq(gq_out.first),
                         single.eq(gq_out.single), cmine.eq(Mux(cbuf, 0b10, 0b01))]
            m.next = "SCAN"

        with m.FSM(name="column_scanner"):
            with m.State("NEXT"):
                with m.If(gq.r_rdy & room):
                    with m.If(gq_out.end):
                        # the row is out: its pointer follows its last entry through c1-c3
                        m.d.comb += [gq.r_en.eq(1), row_written.eq(1)]
                        m.d.sync += cmine.eq(0)
                    with m.Else():
                        take_group()
            with m.State("SCAN"):
                # one touched column a cycle; after a group's last, straight into the next
                # group when it is queued
                with m.If(room):
                    rest = Signal(32)
                    m.d.comb += [scan_go.eq(1), rest.eq(pending & ~(Const(1, 32) << low_j))]
                    next_j, _ = _lowest_set(m, rest, "rest")
                    m.d.sync += [pending.eq(rest), low_j.eq(next_j), single.eq(one_bit(rest))]
                    with m.If(single):
                        with m.If(gq.r_rdy & ~gq_out.end):
                            take_group()
                        with m.Else():
                            m.next = "NEXT"

        # --- C's chunks -------------------------------------------------------------------
        # Entries and row pointers fill chunk buffers; a full buffer moves to its out
        # register (a cycle the buffer goes on filling), and the out registers take turns
        # into the request register the write engine sees. One entry a cycle: two chunks
        # (8 beats) per 8 entries on the default bus, the write channel's rate.
        oq_out = data.View(out_layout, oq.r_data)
        # data registers beside valid bits or slot masks: out of the reset (a smaller flush net)
        col_buf = Signal(32 * L, reset_less=True)
        val_buf = Signal(32 * L, reset_less=True)
        ptr_buf = Signal(32 * L, reset_less=True)
        rows_out = Signal(17)        # row pointers placed after the first
        rows = Signal(17)
        col_chunks_left = Signal(32)     # chunks of column indices / values still in C_CAPACITY
        chunk_bytes = 4 * L
        slot_layout = data.StructLayout({"valid": 1, "data": 32 * L})
        col_out, val_out, ptr_out = (Signal(slot_layout, name=n) for n in
                                     ("col_out", "val_out", "ptr_out"))
        col_addr, val_addr, ptr_addr = (Signal(self.addr_bits, name=n) for n in
                                        ("col_addr", "val_addr", "ptr_addr"))
        req = Signal(write_request_layout(32 * L, self.addr_bits), reset_less=True)
        req_valid = Signal()
        m.d.comb += [self.requests.payload.eq(req), self.requests.valid.eq(req_valid)]
        col_chunks_cap = Signal(32)      # C_CAPACITY in chunks
        with m.If(nnz > Cat(Const(0, lbits), col_chunks_cap)):
            m.d.sync += self.overflow.eq(1)

        # the request register: row pointers first, then column indices before their values;
        # chunks past C_CAPACITY are dropped
        req_free = ~req_valid | self.requests.ready
        fits = col_chunks_left != 0
        with m.If(self.requests.ready):
            m.d.sync += req_valid.eq(0)
        with m.If(req_free):
            with m.If(ptr_out.valid):
                m.d.sync += [req_valid.eq(1), req.addr.eq(ptr_addr), req.data.eq(ptr_out.data),
                             ptr_out.valid.eq(0), ptr_addr.eq(ptr_addr + chunk_bytes)]
            with m.Elif(col_out.valid):
                m.d.sync += [req_valid.eq(fits), req.addr.eq(col_addr), req.data.eq(col_out.data),
                             col_out.valid.eq(0), col_addr.eq(col_addr + chunk_bytes)]
            with m.Elif(val_out.valid):
                m.d.sync += [req_valid.eq(fits), req.addr.eq(val_addr), req.data.eq(val_out.data),
                             val_out.valid.eq(0), val_addr.eq(val_addr + chunk_bytes)]
                with m.If(fits):
                    m.d.sync += col_chunks_left.eq(col_chunks_left - 1)

        # the buffers, from the out queue: each entry is written into its slot of the chunk
        # buffers (one-hot slot registers); a chunk's last entry goes with the others straight
        # into the out register, and at the end the partial chunks go out with their unused
        # slots masked to 0
        entry_room = ~col_out.valid & ~val_out.valid
        is_ptr = oq_out.ptr
        slot_e = Signal(L, init=1)       # the slot of the next entry (one-hot)
        slot_p = Signal(L, init=1)       # ... of the next row pointer
        take = running & oq.r_rdy & Mux(is_ptr, ~slot_p[L - 1] | ~ptr_out.valid,
                                        ~slot_e[L - 1] | entry_room)
        take_e, take_p = take & ~is_ptr, take & is_ptr
        m.d.comb += oq.r_en.eq(take)
        for i in range(L - 1):
            with m.If(take_e & slot_e[i]):
                m.d.sync += [col_buf.word_select(i, 32).eq(oq_out.col),
                             val_buf.word_select(i, 32).eq(oq_out.value)]
            with m.If(take_p & slot_p[i]):
                m.d.sync += ptr_buf.word_select(i, 32).eq(oq_out.value)
        with m.If(take_p):
            m.d.sync += [rows_out.eq(rows_out + 1), slot_p.eq(slot_p.rotate_left(1))]
            with m.If(slot_p[L - 1]):
                m.d.sync += [ptr_out.valid.eq(1),
                             ptr_out.data.eq(Cat(ptr_buf[:32 * (L - 1)], oq_out.value))]
        with m.If(take_e):
            m.d.sync += slot_e.eq(slot_e.rotate_left(1))
            with m.If(slot_e[L - 1]):
                m.d.sync += [col_out.valid.eq(1),
                             col_out.data.eq(Cat(col_buf[:32 * (L - 1)], oq_out.col)),
                             val_out.valid.eq(1),
                             val_out.data.eq(Cat(val_buf[:32 * (L - 1)], oq_out.value))]

        def filled(slot, buf):
            # the words of ``buf`` below the one-hot ``slot``, the rest 0
            return Cat(Mux((slot >> (i + 1)) != 0, buf.word_select(i, 32), 0)
                       for i in range(L))

        # every row is in (a register: once the last row pointer is taken nothing more
        # comes): the partial chunks, then finished
        all_in = Signal()
        m.d.sync += all_in.eq(running & (rows_out == rows) & ~oq.r_rdy)
        with m.If(all_in):
            with m.If(~slot_e[0] & entry_room):
                m.d.sync += [col_out.valid.eq(1), col_out.data.eq(filled(slot_e, col_buf)),
                             val_out.valid.eq(1), val_out.data.eq(filled(slot_e, val_buf)),
                             slot_e.eq(1)]
            with m.If(~slot_p[0] & ~ptr_out.valid):
                m.d.sync += [ptr_out.valid.eq(1), ptr_out.data.eq(filled(slot_p, ptr_buf)),
                             slot_p.eq(1)]
            with m.If(slot_e[0] & slot_p[0] & ~col_out.valid & ~val_out.valid &
                      ~ptr_out.valid & ~req_valid):
                m.d.comb += finishing.eq(1)
                m.d.sync += [self.finished.eq(1), running.eq(0)]

        with m.If(self.start):
            # row pointer 0 is 0, already in place
            m.d.sync += [scrubbing.eq(self.scrub), scrub_addr.eq(0)]
            m.d.sync += [running.eq(1), rows.eq(self.m), rows_out.eq(0), slot_p.eq(0b10),
                         slot_e.eq(1), ptr_buf[:32].eq(0), all_in.eq(0),
                         nnz.eq(0), self.overflow.eq(0), self.finished.eq(0),
                         col_out.valid.eq(0), val_out.valid.eq(0), ptr_out.valid.eq(0),
                         req_valid.eq(0),
                         col_chunks_left.eq(self.capacity >> lbits),
                         col_chunks_cap.eq(self.capacity >> lbits),
                         ptr_addr.eq(self.c_rowptr), col_addr.eq(self.c_colidx),
                         val_addr.eq(self.c_values)]
        return m
