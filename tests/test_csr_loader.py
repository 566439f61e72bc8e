"""Block test of the CSR loader on Amaranth's simulator: B's three arrays (row pointers, int32 or
uint16 column indices, int8 values) fed as bus beats with random gaps; the words written to
the four scratchpad banks compared with the documented packing, and each malformed array
stopped with its error code."""
import random

import numpy as np
import pytest
import scipy.sparse as sp

from jobs import run_block
from zerotile.rtl.csr_loader import (CsrLoader, PASS_ROW_POINTERS, PASS_COLUMNS, PASS_VALUES,
                                     BANK_COLUMNS, BANK_VALUES, BANK_POINTERS,
                                     BANK_NEXT_POINTERS)
from zerotile.rtl.regmap import ErrorCode

B_WORDS = 256


def _beats(elements, elem_bits, bus_bits):
    """Little-endian elements packed into bus beats (the last beat's tail zero)."""
    per = bus_bits // elem_bits
    mask = (1 << elem_bits) - 1
    return [sum((int(e) & mask) << (elem_bits * i) for i, e in enumerate(elements[p:p + per]))
            for p in range(0, len(elements), per)]


def _pack(items, per_word, bits):
    words = {}
    for e, x in enumerate(items):
        words[e // per_word] = words.get(e // per_word, 0) | \
            ((int(x) & ((1 << bits) - 1)) << (bits * (e % per_word)))
    return words


def _run_passes(dut, passes, rng):
    """Run ``passes`` [(kind, narrow, count, limit, beats)]: (bank writes {bank: {addr: word}},
    [(error_code or None) per pass])."""
    banks = {b: {} for b in range(4)}
    outcomes = []

    async def bench(ctx):
        for kind, narrow, count, limit, beats in passes:
            ctx.set(dut.kind, kind)
            ctx.set(dut.narrow, narrow)
            ctx.set(dut.count, count)
            ctx.set(dut.limit, limit)
            ctx.set(dut.start, 1)
            await ctx.tick()
            ctx.set(dut.start, 0)
            todo, error = list(beats), None
            for cycle in range(4000):
                offer = bool(todo) and rng.random() < 0.7
                ctx.set(dut.beats.valid, offer)
                if offer:
                    ctx.set(dut.beats.payload, todo[0])
                took = offer and ctx.get(dut.beats.ready)
                if ctx.get(dut.wr_en):
                    bank, addr = ctx.get(dut.wr_bank), ctx.get(dut.wr_addr)
                    assert addr not in banks[bank], f"bank {bank} word {addr} written twice"
                    banks[bank][addr] = ctx.get(dut.wr_data)
                if ctx.get(dut.error):
                    error = ErrorCode(ctx.get(dut.error_code))
                done = ctx.get(dut.done)
                await ctx.tick()
                if took:
                    todo.pop(0)
                if error is not None:
                    for _ in range(8):          # stopped: no beat taken, nothing written
                        ctx.set(dut.beats.valid, bool(todo))
                        if todo:
                            ctx.set(dut.beats.payload, todo[0])
                        assert not ctx.get(dut.beats.ready) and not ctx.get(dut.wr_en), \
                            f"pass {kind}: still running after {error.name}"
                        await ctx.tick()
                    break
                if done and not todo:
                    break
            else:
                raise AssertionError(f"pass {kind}: not done after 4000 cycles, "
                                     f"{len(todo)} beats left")
            ctx.set(dut.beats.valid, 0)
            outcomes.append(error)

    run_block(dut, bench, cycles=20000)
    return banks, outcomes


def _passes(b, bus_bits, narrow):
    ptr = [int(p) for p in b.indptr]
    values = np.zeros(-(-b.nnz // 4) * 4, np.int8)
    values[:b.nnz] = b.data
    return [
        (PASS_ROW_POINTERS, 0, len(ptr), b.nnz, _beats(ptr, 32, bus_bits)),
        (PASS_COLUMNS, narrow, b.nnz, b.shape[1],
         _beats(b.indices, 16 if narrow else 32, bus_bits)),
        (PASS_VALUES, 0, len(values) // 4, 0, _beats(values.view(np.uint8), 8, bus_bits)),
    ]


@pytest.mark.parametrize("lanes, bus_bits, narrow, seed",
                         [(4, 64, 0, 1), (8, 64, 1, 2), (8, 128, 0, 3), (4, 32, 1, 4),
                          (16, 128, 1, 5)])
def test_csr_loader_packs_b_into_the_banks(lanes, bus_bits, narrow, seed):
    print(f"seed {seed}, lanes {lanes}, bus {bus_bits}, narrow {narrow}")
    rng = random.Random(seed)
    gen = np.random.default_rng(seed)
    k, n = 37, 300
    dense = np.where(gen.random((k, n)) < 0.04, gen.integers(-128, 128, (k, n)), 0)
    dense[5] = 0                                         # an empty row
    b = sp.csr_matrix(dense.astype(np.int8))
    b.sort_indices()
    dut = CsrLoader(lanes=lanes, b_words=B_WORDS, bus_bits=bus_bits)
    banks, outcomes = _run_passes(dut, _passes(b, bus_bits, narrow), rng)
    assert outcomes == [None, None, None], f"seed {seed}: errors {outcomes}"
    H = lanes // 2
    ptr = [int(p) for p in b.indptr]
    expected = {BANK_POINTERS: _pack(ptr, H, 16), BANK_NEXT_POINTERS: _pack(ptr[1:], H, 16),
                BANK_COLUMNS: _pack(b.indices, H, 16), BANK_VALUES: _pack(b.data, lanes, 8)}
    for bank, words in expected.items():
        for addr, word in words.items():
            assert addr in banks[bank], f"seed {seed}: bank {bank} word {addr} never written"
            assert banks[bank][addr] == word, (f"seed {seed}: bank {bank} word {addr}: "
                                               f"expected {word:#x}, got {banks[bank][addr]:#x}")
        extra = {a: w for a, w in banks[bank].items() if a not in words and w != 0}
        assert not extra, f"seed {seed}: bank {bank}: padding words not zero: {extra}"


def _malformed(kind):
    """(a CSR B with one array broken, the error the loader must flag)."""
    b = sp.csr_matrix(np.eye(6, 8, dtype=np.int8) * 3)
    ptr = [int(p) for p in b.indptr]
    cols = [int(c) for c in b.indices]
    if kind == "first-pointer":
        ptr[0] = 1
    elif kind == "decreasing":
        ptr[3], ptr[4] = ptr[4], ptr[3]
    elif kind == "last-pointer":
        ptr[-1] -= 1
    elif kind == "past-nnz":
        ptr[2] = 99
    elif kind == "column":
        cols[4] = 8                                     # N = 8: one past the last column
    return ptr, cols, b.nnz, ("column" if kind == "column" else "pointers")


@pytest.mark.parametrize("narrow", [0, 1])
@pytest.mark.parametrize("kind", ["first-pointer", "decreasing", "last-pointer", "past-nnz",
                                  "column"])
def test_csr_loader_stops_a_malformed_array(kind, narrow):
    ptr, cols, nnz, which = _malformed(kind)
    dut = CsrLoader(lanes=8, b_words=B_WORDS, bus_bits=64)
    passes = [(PASS_ROW_POINTERS, 0, len(ptr), nnz, _beats(ptr, 32, 64)),
              (PASS_COLUMNS, narrow, nnz, 8, _beats(cols, 16 if narrow else 32, 64))]
    _, outcomes = _run_passes(dut, passes, random.Random(7))
    want = [ErrorCode.BAD_ROW_POINTERS, None] if which == "pointers" else \
        [None, ErrorCode.COLUMN_OUT_OF_RANGE]
    assert outcomes == want, f"{kind} (narrow {narrow}): flagged {outcomes}, expected {want}"
