"""Loads a CSR operand (B of a SpGEMM job) from DRAM beats into the scratchpad banks."""
from amaranth.hdl import *
from amaranth.lib import wiring, stream
from amaranth.lib.wiring import In, Out

from .beat_splitter import BeatSplitter
from .regmap import ErrorCode

__all__ = ["CsrLoader", "PASS_ROW_POINTERS", "PASS_COLUMNS", "PASS_VALUES",
           "BANK_COLUMNS", "BANK_VALUES", "BANK_POINTERS", "BANK_NEXT_POINTERS"]

PASS_ROW_POINTERS, PASS_COLUMNS, PASS_VALUES = 0, 1, 2
# which scratchpad bank holds what (SpGEMM keeps B's CSR in banks 0-3)
BANK_COLUMNS, BANK_VALUES, BANK_POINTERS, BANK_NEXT_POINTERS = 0, 1, 2, 3


class CsrLoader(wiring.Component):
    """Turns the three arrays of a CSR matrix, read one after the other, into scratchpad words
    of ``8 * lanes`` bits, checking them on the way.

    One pass per array: ``start`` (pulse) with ``kind`` and ``count``, then the array's beats
    on ``beats`` (the unused tail of the last beat is dropped). ``count`` is in 32-bit
    elements: K + 1 row pointers, NNZ column indices, ceil(NNZ / 4) words of values.

    * ``PASS_ROW_POINTERS``: pointer ``j`` (16 bits kept) goes to half ``j mod H`` of word
      ``j div H`` of bank ``BANK_POINTERS`` and, shifted by one, half ``(j - 1) mod H`` of
      word ``(j - 1) div H`` of bank ``BANK_NEXT_POINTERS`` (``H = lanes / 2``), so a row's
      start and end are read in one cycle at the same address. Checked: the first is 0, none
      decreases or exceeds ``limit`` (B's NNZ), the last equals ``limit``
      (``BAD_ROW_POINTERS``). The pass writes ``count + H`` halves or one more (padding).
    * ``PASS_COLUMNS``: index ``e`` (16 bits kept) to half ``e mod H`` of word ``e div H`` of
      bank ``BANK_COLUMNS``. The indices are int32, or uint16 when ``narrow`` is high at
      ``start`` (twice as many a beat, twice as many a cycle). Checked: each is below
      ``limit`` (N) as an unsigned number (``COLUMN_OUT_OF_RANGE``).
    * ``PASS_VALUES``: value ``e`` (int8) to byte ``e mod lanes`` of word ``e div lanes`` of
      bank ``BANK_VALUES``.

    Outputs: ``wr_en``/``wr_bank``/``wr_addr``/``wr_data``, at most one word per cycle (a
    pass's last word is padded with zeros). ``done``: the pass has written its last word (high
    until the next ``start``). ``error`` (pulse, from a register) with ``error_code``: the
    pass stops taking beats until the next ``start``. Two elements per cycle at best (one with
    a 32-bit bus or ``lanes`` = 4), four uint16 column indices (two): a bus beat a cycle on
    the default 64-bit bus for every array.
    """

    def __init__(self, *, lanes, b_words, bus_bits=64):
        if lanes < 4 or lanes & (lanes - 1):
            raise ValueError(f"lanes must be a power of two >= 4, not {lanes!r}")
        self.lanes, self.b_words, self.bus_bits = lanes, b_words, bus_bits
        super().__init__({
            "start": In(1), "kind": In(2), "narrow": In(1), "count": In(32), "limit": In(32),
            "beats": In(stream.Signature(bus_bits)),
            "wr_en": Out(1), "wr_bank": Out(2), "wr_addr": Out(range(b_words)),
            "wr_data": Out(8 * lanes),
            "done": Out(1), "error": Out(1), "error_code": Out(ErrorCode, init=ErrorCode.NONE),
        })

    def elaborate(self, platform):
        m = Module()
        L = self.lanes
        H = L // 2          # 16-bit halves per word
        V = L // 4          # 32-bit words of values per word
        # E elements a cycle: two when a bus beat holds two and a bank word holds at least
        # two of each kind (so the two banks of row pointers never write in one cycle)
        E = 2 if self.bus_bits >= 64 and V >= 2 else 1
        eb = E.bit_length() - 1
        N16 = 2 * E         # uint16 column indices a cycle (a split element holds 2E of them)
        m.submodules.split = split = BeatSplitter(bus_bits=self.bus_bits, elem_bits=32 * E)
        wiring.connect(m, wiring.flipped(self.beats), split.beats)

        kind = Signal(2)
        limit = Signal(32)
        count = Signal(32)
        end = Signal(33)          # pieces the pass writes (count, padded)
        j = Signal(33)            # pieces so far (a multiple of E)
        prev = Signal(32)
        shreg = Signal(8 * L)
        word = Signal(range(self.b_words))       # next word of the pass's bank
        word_next = Signal(range(self.b_words))  # next word of BANK_NEXT_POINTERS
        stopped = Signal()
        narrow = Signal()         # this pass takes uint16 column indices, N16 a cycle
        # kept as registers beside ``j``, so the write path starts at flip-flops:
        # ``reals[i]`` = piece j + i is real (j + i < count), ``at_end`` = j == end,
        # ``first`` = j == 0, ``lasts[i]`` = j + i == count - 1
        reals = [Signal(name=f"real{i}") for i in range(N16)]
        lasts = [Signal(name=f"last{i}") for i in range(E)]
        at_end = Signal(init=1)
        first = Signal()
        narrow_start = self.narrow & (self.kind == PASS_COLUMNS)
        m.d.comb += [split.start.eq(self.start),
                     split.count.eq(Mux(narrow_start, (self.count + N16 - 1) >> (eb + 1),
                                        (self.count + E - 1) >> eb)),
                     self.done.eq(at_end & ~stopped)]

        real = reals[0]
        go = Signal()
        m.d.comb += [split.elements.ready.eq(real & ~stopped),
                     go.eq(Mux(real, split.elements.valid, ~at_end) & ~stopped)]

        def real_slices(bits, n, name):
            # the element's first ``n`` slices of ``bits``, each 0 unless it is real
            out = [Signal(bits, name=f"{name}{i}") for i in range(n)]
            for i in range(n):
                m.d.comb += out[i].eq(Mux(reals[i], split.elements.payload.word_select(i, bits),
                                          0))
            return out
        pieces = real_slices(32, E, "piece")        # int32 elements
        halves = real_slices(16, N16, "half")       # uint16 column indices
        wide = kind == PASS_VALUES
        shifted = Mux(wide, Cat(shreg[32 * E:], *pieces),
                      Mux(narrow, Cat(shreg[32 * E:], *halves),
                          Cat(shreg[16 * E:], *(p[:16] for p in pieces))))
        # the row pointers shifted by one: the window ending at this cycle's first piece
        shifted_next = Cat(shreg[16:], pieces[0][:16])
        nj = j + Mux(narrow, N16, E)
        phase_h = nj[:H.bit_length() - 1] if H > 1 else Const(0)
        phase_v = nj[:V.bit_length() - 1] if V > 1 else Const(0)
        first_h = j[:H.bit_length() - 1] if H > 1 else Const(0)
        with m.If(go):
            m.d.sync += [shreg.eq(shifted), j.eq(nj), at_end.eq(nj == end), first.eq(0)]
            m.d.sync += [r.eq(nj + i < count) for i, r in enumerate(reals)]
            m.d.sync += [la.eq(nj + i + 1 == count) for i, la in enumerate(lasts)]
            with m.If(Mux(wide, phase_v == 0, phase_h == 0)):
                m.d.comb += [self.wr_en.eq(1), self.wr_addr.eq(word), self.wr_data.eq(shifted),
                             self.wr_bank.eq(Mux(kind == PASS_ROW_POINTERS, BANK_POINTERS,
                                                 Mux(wide, BANK_VALUES, BANK_COLUMNS)))]
                m.d.sync += word.eq(word + 1)
            with m.Elif((kind == PASS_ROW_POINTERS) & (first_h == 0) & (j >= H)):
                m.d.comb += [self.wr_en.eq(1), self.wr_addr.eq(word_next),
                             self.wr_data.eq(shifted_next), self.wr_bank.eq(BANK_NEXT_POINTERS)]
                m.d.sync += word_next.eq(word_next + 1)

        # checks of the real elements, registered (the pass stops at once)
        bad = Signal()
        code = Signal(ErrorCode)
        before = prev
        ptr_bad, col_bad = [], []
        for i in range(E):
            v = pieces[i]
            ptr_bad.append(reals[i] & ((((first if i == 0 else 0)) & (v != 0)) | (v < before) |
                                       (v > limit) | (lasts[i] & (v != limit))))
            col_bad.append(reals[i] & (v >= limit))
            before = Mux(reals[i], v, before)
        narrow_bad = [reals[i] & (halves[i] >= limit) for i in range(N16)]
        with m.If(go & real):
            m.d.sync += prev.eq(before)
            with m.If(kind == PASS_ROW_POINTERS):
                with m.If(Cat(*ptr_bad).any()):
                    m.d.comb += [bad.eq(1), code.eq(ErrorCode.BAD_ROW_POINTERS)]
            with m.Elif(kind == PASS_COLUMNS):
                with m.If(Mux(narrow, Cat(*narrow_bad).any(), Cat(*col_bad).any())):
                    m.d.comb += [bad.eq(1), code.eq(ErrorCode.COLUMN_OUT_OF_RANGE)]
        m.d.sync += [self.error.eq(bad), self.error_code.eq(code)]
        with m.If(bad):
            m.d.sync += stopped.eq(1)

        with m.If(self.start):
            rounding = Signal(33)
            m.d.comb += rounding.eq(Mux(self.kind == PASS_VALUES, V - 1, H - 1))
            m.d.sync += [kind.eq(self.kind), narrow.eq(narrow_start), limit.eq(self.limit),
                         count.eq(self.count),
                         end.eq(Mux(self.kind == PASS_ROW_POINTERS,
                                    (self.count + H + E - 1) & ~Const(E - 1, 33),
                                    (self.count + rounding) & ~rounding.as_unsigned())),
                         j.eq(0), prev.eq(0), word.eq(0), word_next.eq(0), stopped.eq(0),
                         shreg.eq(0), first.eq(1),
                         at_end.eq((self.count == 0) & (self.kind != PASS_ROW_POINTERS))]
            m.d.sync += [r.eq(self.count > i) for i, r in enumerate(reals)]
            m.d.sync += [la.eq(self.count == i + 1) for i, la in enumerate(lasts)]
        return m
