"""Block test of the processing element on Amaranth's simulator: rows of a random sparse A dealt
with random gaps, B arriving row by row (``b_rows`` growing while entries wait), random
backpressure on the results; every owned chunk of every row of C, and the counters, compared
with NumPy."""
import random

import numpy as np
import pytest
import scipy.sparse as sp
from amaranth.hdl import Elaboratable, Module
from amaranth.lib.memory import Memory

from jobs import run_block, scanner_deals, offer_deal
from zerotile.rtl.processing_element import ProcessingElement

LANES, MAX_CHUNKS, B_WORDS, K = 4, 4, 256, 20


class _PeWithBank(Elaboratable):
    """The PE reading its scratchpad bank (one cycle of latency), filled as the tile's B loader
    fills it: word ``t * k + col`` holds ``B[col, c*L:(c+1)*L]`` of its ``t``-th owned chunk."""

    def __init__(self, words, *, width):
        self.words = words
        self.pe = ProcessingElement(lanes=LANES, max_chunks=MAX_CHUNKS, b_words=B_WORDS,
                                    fifo_depth=4, width=width)

    def elaborate(self, platform):
        m = Module()
        m.submodules.pe = pe = self.pe
        m.submodules.bank = bank = Memory(shape=8 * LANES, depth=B_WORDS, init=self.words)
        rd = bank.read_port()
        m.d.comb += [rd.addr.eq(pe.b_addr), pe.b_data.eq(rd.data)]
        return m


def _owned(chunks, first_chunk, chunk_step):
    return list(range(first_chunk, chunks, chunk_step))


def _bank_words(b, owned):
    words = [0] * B_WORDS
    for t, c in enumerate(owned):
        for col in range(b.shape[0]):
            words[t * b.shape[0] + col] = sum((int(b[col, c * LANES + i]) & 0xFF) << (8 * i)
                                              for i in range(LANES))
    return words


@pytest.mark.parametrize("width", [1, 2])
@pytest.mark.parametrize("seed, chunks, first_chunk, chunk_step",
                         [(1, 3, 0, 1), (2, 4, 1, 2), (3, 3, 3, 1), (4, 1, 0, 1)],
                         ids=["all-chunks", "every-other-chunk", "owns-none", "one-chunk"])
def test_processing_element_accumulates_its_chunks_of_each_row(seed, chunks, first_chunk,
                                                               chunk_step, width):
    """Each row's result for each owned chunk, once, in row order, equal to A @ B (int32); a PE
    that owns no chunk drops the entries and emits nothing; ``effectual`` adds up to the lanes
    with both operands nonzero, ``issue`` to one per entry and owned chunk; ``idle`` at the end."""
    print(f"seed {seed}, width {width}, chunks {chunks}, first {first_chunk}, step {chunk_step}")
    rng = np.random.default_rng(seed)
    pick = random.Random(seed)
    rows = 12
    a = np.where(rng.random((rows, K)) < 0.3, rng.integers(-128, 128, (rows, K)), 0)
    a[3] = 0                                            # an empty row: a zero row of C
    a[5, :] = rng.integers(-128, 128, K)                # a dense row (entries of every column)
    b = np.where(rng.random((K, chunks * LANES)) < 0.7,
                 rng.integers(-128, 128, (K, chunks * LANES)), 0)
    owned = _owned(chunks, first_chunk, chunk_step)
    dut = _PeWithBank(_bank_words(b, owned), width=width)
    pe = dut.pe
    deals = scanner_deals(sp.csr_matrix(a), width)
    got, counts = [], {"issue": 0, "effectual": 0}

    async def bench(ctx):
        ctx.set(pe.chunks, chunks)
        ctx.set(pe.k, K)
        ctx.set(pe.first_chunk, first_chunk)
        ctx.set(pe.chunk_step, chunk_step)
        b_rows = 5                                  # B still arriving: later columns wait
        ctx.set(pe.b_rows, b_rows)
        for _ in range(4):                          # settings stable three cycles ahead
            await ctx.tick()
        idle_for = 0
        for cycle in range(6000):
            if cycle % 3 == 0 and b_rows < K:
                b_rows += 1
                ctx.set(pe.b_rows, b_rows)
            offer = offer_deal(ctx, pe.deals, deals, width, pick)
            ctx.set(pe.results.ready, pick.random() < 0.6)
            took = offer and ctx.get(pe.deals.ready)
            if ctx.get(pe.results.valid) and ctx.get(pe.results.ready):
                got.append((ctx.get(pe.results.payload.row), ctx.get(pe.results.payload.chunk),
                            ctx.get(pe.results.payload.data)))
            counts["issue"] += ctx.get(pe.issue)
            counts["effectual"] += ctx.get(pe.effectual)
            await ctx.tick()
            if took:
                deals.pop(0)
            idle_for = idle_for + 1 if not deals and ctx.get(pe.idle) else 0
            if idle_for > 8:
                break
        else:
            raise AssertionError(f"seed {seed}: not idle after 6000 cycles, {len(deals)} deals "
                                 f"left, {len(got)} results")

    run_block(dut, bench, cycles=8000)

    c = a.astype(np.int64) @ b.astype(np.int64)
    want = [(r, ch) for r in range(rows) for ch in owned]
    assert [(r, ch) for r, ch, _ in got] == want, \
        f"seed {seed}: results for (row, chunk) {[(r, ch) for r, ch, _ in got]}, expected {want}"
    for r, ch, word in got:
        for lane in range(LANES):
            value = (word >> (32 * lane)) & 0xFFFFFFFF
            value -= (value >> 31) << 32
            expected = int(c[r, ch * LANES + lane])
            assert value == expected, (f"seed {seed}: row {r}, column {ch * LANES + lane}: "
                                       f"expected {expected}, got {value}")
    entries = sum(max(1, np.count_nonzero(row)) for row in a)
    assert counts["issue"] == entries * len(owned), \
        f"seed {seed}: {counts['issue']} issues, expected {entries} entries x {len(owned)} chunks"
    effectual = sum(int(np.count_nonzero(b[col, ch * LANES:(ch + 1) * LANES]))
                    for row in a for col in np.flatnonzero(row) for ch in owned)
    assert counts["effectual"] == effectual, \
        f"seed {seed}: effectual {counts['effectual']}, expected {effectual}"
