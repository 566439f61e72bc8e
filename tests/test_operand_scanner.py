"""Block test of the operand scanner on Amaranth's simulator: A's row pointers, column indices
and values arriving at random through modelled element windows, PE groups taking deals at
random with random queue loads; every row dealt whole, in order, to one group, and every
malformed A stopped with its error code before a bad entry leaves."""
import random

import numpy as np
import pytest

from jobs import run_block
from zerotile.rtl.operand_scanner import OperandScanner
from zerotile.rtl.regmap import ErrorCode

LOAD_BITS = 4
GROUPS = [0, 0, 1, 1]          # four PEs in two groups of two


def _scan(a_rows, *, k, csr, narrow, width, seed, ptr=None, cols=None, nnz=None):
    """Run one job: ({group: [deal, ...]}, error code or None, done). ``a_rows`` is a list of
    rows, each [(col, value)]; ``ptr``/``cols``/``nnz`` override what A's arrays say."""
    rng = random.Random(seed)
    P = len(GROUPS)
    dut = OperandScanner(pes=P, load_bits=LOAD_BITS, width=width)
    m = len(a_rows)
    if ptr is None:
        ptr = list(np.cumsum([0] + [len(r) for r in a_rows]))
    if cols is None:
        cols = [c for r in a_rows for c, _ in r]
    values = [v for r in a_rows for _, v in r]
    nnz = len(values) if nnz is None else int(nnz)
    halves = [h for c in cols for h in ((c & 0xFFFF,) if narrow else (c & 0xFFFF, c >> 16))]
    got = {i: [] for i in range(P)}
    outcome = {"error": None, "done": False}

    async def bench(ctx):
        ctx.set(dut.csr, csr)
        ctx.set(dut.narrow, narrow)
        for i, g in enumerate(GROUPS):
            ctx.set(getattr(dut, f"group{i}"), g)
        for _ in range(3):
            await ctx.tick()
        ctx.set(dut.m, m)
        ctx.set(dut.k, k)
        ctx.set(dut.nnz, nnz)
        ctx.set(dut.start, 1)
        await ctx.tick()
        ctx.set(dut.start, 0)
        ptrs = list(ptr) if csr else []
        taken_h = taken_v = 0
        arrived_h = arrived_v = 0
        loads = [0] * P
        for cycle in range(8000):
            # the windows: what has arrived and not been taken, up to their size
            arrived_h = min(len(halves), arrived_h + rng.choice([0, 1, 2, 4]))
            arrived_v = min(len(values), arrived_v + rng.choice([0, 1, 2]))
            avail_h = min(2 * width, arrived_h - taken_h)
            avail_v = min(width, arrived_v - taken_v)
            show_h = halves[taken_h:taken_h + avail_h] + [0] * (2 * width - avail_h)
            show_v = values[taken_v:taken_v + avail_v] + [0] * (width - avail_v)
            ctx.set(dut.cols, show_h)
            ctx.set(dut.cols_avail, avail_h if csr else 0)
            ctx.set(dut.cols_bad, sum((h >= k) << i for i, h in enumerate(show_h[:avail_h])))
            ctx.set(dut.cols_high, sum((h != 0) << i for i, h in enumerate(show_h[:avail_h])))
            ctx.set(dut.vals, show_v)
            ctx.set(dut.vals_avail, avail_v)
            offer_ptr = bool(ptrs) and rng.random() < 0.6
            ctx.set(dut.row_ptr.valid, offer_ptr)
            if offer_ptr:
                ctx.set(dut.row_ptr.payload, int(ptrs[0]) & 0xFFFFFFFF)
            for i in range(P):
                ctx.set(getattr(dut, f"deals{i}").ready, rng.random() < 0.75)
                ctx.set(getattr(dut, f"load{i}"), min(loads[i], (1 << LOAD_BITS) - 1))
            took_ptr = offer_ptr and ctx.get(dut.row_ptr.ready)
            take_h, take_v = ctx.get(dut.cols_take), ctx.get(dut.vals_take)
            assert take_h <= avail_h and take_v <= avail_v, \
                f"seed {seed}: took {take_h}/{take_v} of {avail_h}/{avail_v} shown"
            for i in range(P):
                out = getattr(dut, f"deals{i}")
                if ctx.get(out.valid) and ctx.get(out.ready):
                    deal = ctx.get(out.payload)
                    count = int(deal.count)
                    got[i].append([(int(e.row), int(e.col), int(e.value), int(e.first),
                                    int(e.last)) for e in list(deal.entries)[:count]])
                    loads[i] += count
                loads[i] = max(0, loads[i] - rng.choice([0, 1, 1, 2]))
            if ctx.get(dut.error):
                outcome["error"] = ErrorCode(ctx.get(dut.error_code))
            outcome["done"] = bool(ctx.get(dut.done))
            await ctx.tick()
            if took_ptr:
                ptrs.pop(0)
            taken_h += take_h
            taken_v += take_v
            if outcome["done"] or outcome["error"] is not None:
                for _ in range(6):          # after the end, nothing more is dealt
                    for i in range(P):
                        ctx.set(getattr(dut, f"deals{i}").ready, 1)
                    for i in range(P):
                        out = getattr(dut, f"deals{i}")
                        assert not (outcome["error"] is None and ctx.get(out.valid)), \
                            f"seed {seed}: PE {i} dealt to after done"
                        if ctx.get(out.valid):
                            deal = ctx.get(out.payload)
                            got[i].append([(int(e.row), int(e.col), int(e.value),
                                            int(e.first), int(e.last))
                                           for e in list(deal.entries)[:int(deal.count)]])
                    await ctx.tick()
                break
        else:
            raise AssertionError(f"seed {seed}: neither done nor an error after 8000 cycles")

    run_block(dut, bench, cycles=10000)
    groups = {}
    for i, g in enumerate(GROUPS):
        if g in groups:
            assert got[i] == groups[g], f"seed {seed}: PE {i} got other deals than its group"
        else:
            groups[g] = got[i]
    return groups, outcome["error"], outcome["done"]


def _random_rows(rng, m, k, dense):
    rows = []
    for r in range(m):
        if dense:
            rows.append([(c, int(rng.integers(-128, 128))) for c in range(k)])
            continue
        length = int(rng.choice([0, 1, 2, 3, 5, 9, 40]))
        cols = sorted(rng.choice(k, size=min(length, k), replace=False))
        rows.append([(int(c), int(rng.integers(-128, 128))) for c in cols])
    return rows


@pytest.mark.parametrize("width", [1, 2, 4])
@pytest.mark.parametrize("mode", ["csr-int32", "csr-uint16", "dense"])
def test_operand_scanner_deals_each_row_whole_to_one_group(mode, width):
    seed = 11 * width + len(mode)
    print(f"seed {seed}, {mode}, width {width}")
    rng = np.random.default_rng(seed)
    k = 300 if mode != "dense" else 40
    rows = _random_rows(rng, 14 if mode != "dense" else 5, k, mode == "dense")
    groups, error, done = _scan(rows, k=k, csr=int(mode != "dense"),
                                narrow=int(mode == "csr-uint16"), width=width, seed=seed)
    assert error is None and done, f"seed {seed}: error {error}, done {done}"
    by_row = {}
    for g, deals in groups.items():
        for deal in deals:
            assert 1 <= len(deal) <= width, f"seed {seed}: a deal of {len(deal)} entries"
            assert len({e[0] for e in deal}) == 1, f"seed {seed}: a deal spans rows: {deal}"
            row = deal[0][0]
            assert by_row.setdefault(row, (g, []))[0] == g, \
                f"seed {seed}: row {row} dealt to two groups"
            by_row[row][1].extend(deal)
    assert sorted(by_row) == list(range(len(rows))), f"seed {seed}: rows dealt {sorted(by_row)}"
    for r, want in enumerate(rows):
        entries = by_row[r][1]
        expected = [(r, c, v, int(j == 0), int(j == len(want) - 1))
                    for j, (c, v) in enumerate(want)] or [(r, 0, 0, 1, 1)]
        assert entries == expected, (f"seed {seed}: row {r}: expected {expected[:4]}..., "
                                     f"got {entries[:4]}...")
    for g, deals in groups.items():               # within a group, rows in order
        order = [d[0][0] for d in deals]
        assert order == sorted(order), f"seed {seed}: group {g} got rows out of order"
    assert len(groups[0]) and len(groups[1]), f"seed {seed}: one group got every row"


@pytest.mark.parametrize("narrow", [0, 1])
@pytest.mark.parametrize("fault", ["first-pointer", "decreasing", "past-nnz", "last-pointer",
                                   "column"])
def test_operand_scanner_stops_malformed_a(fault, narrow):
    rng = np.random.default_rng(3)
    k = 30
    rows = _random_rows(rng, 8, k, False)
    rows[4] = [(2, 5), (7, -3), (9, 1)]
    ptr = list(np.cumsum([0] + [len(r) for r in rows]))
    cols = [c for r in rows for c, _ in r]
    nnz = None
    if fault == "first-pointer":
        ptr[0] = 1
    elif fault == "decreasing":
        ptr[5] = ptr[4] - 1
    elif fault == "past-nnz":
        ptr[6] = ptr[-1] + 5
    elif fault == "last-pointer":
        nnz = int(ptr[-1]) + 1
    else:
        cols[ptr[4] + 1] = k                        # row 4's second column: one past K
    groups, error, done = _scan(rows, k=k, csr=1, narrow=narrow, width=2, seed=5, ptr=ptr,
                                cols=cols, nnz=nnz)
    want = ErrorCode.COLUMN_OUT_OF_RANGE if fault == "column" else ErrorCode.BAD_ROW_POINTERS
    assert error == want and not done, f"{fault}: flagged {error}, done {done}"
    dealt = [e for deals in groups.values() for d in deals for e in d]
    assert all(e[1] < k for e in dealt), f"{fault}: an entry with column >= K left: {dealt}"
