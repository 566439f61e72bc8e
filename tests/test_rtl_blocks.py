"""Unit tests of RTL blocks in Amaranth's simulator."""
import random

import numpy as np
import pytest
import scipy.sparse as sp
from amaranth.hdl import Elaboratable, Module
from amaranth.lib.memory import Memory

from jobs import run_block, scanner_deals, offer_deal
from zerotile import golden

from zerotile.rtl.beat_splitter import BeatSplitter
from zerotile.rtl.element_window import ElementWindow
from zerotile.rtl.read_engine import ReadEngine
from zerotile.rtl.register_file import RegisterFile
from zerotile.rtl.register_slice import RegisterSlice
from zerotile.rtl.spgemm_engine import SpgemmEngine
from zerotile.rtl.regmap import REGISTERS, REG
from zerotile.rtl.config import TileConfig


@pytest.mark.parametrize("count", [0, 1, 7, 8, 9, 21])
def test_beat_splitter_delivers_exactly_count_elements(count):
    dut = BeatSplitter(bus_bits=64, elem_bits=8)
    beats = [sum(((8 * b + i) & 0xFF) << (8 * i) for i in range(8)) for b in range(4)]
    got = []

    async def bench(ctx):
        ctx.set(dut.count, count)
        ctx.set(dut.start, 1)
        await ctx.tick()
        ctx.set(dut.start, 0)
        queue = list(beats)
        rng = random.Random(count)
        for _ in range(200):
            ctx.set(dut.beats.valid, bool(queue))
            ctx.set(dut.beats.payload, queue[0] if queue else 0)
            ctx.set(dut.elements.ready, rng.random() < 0.7)
            took_beat = queue and ctx.get(dut.beats.ready)
            if ctx.get(dut.elements.valid) and ctx.get(dut.elements.ready):
                got.append(ctx.get(dut.elements.payload))
            await ctx.tick()
            if took_beat:
                queue.pop(0)
        assert len(beats) - len(queue) == -(-count // 8), "beats taken"

    run_block(dut, bench, cycles=20000)
    assert got == list(range(count))


def test_read_engine_bursts_stay_in_4k_and_in_window():
    dut = ReadEngine(n_streams=2, bus_bits=64, max_burst=16, fifo_beats=32)
    bursts = []
    data = {0: [], 1: []}

    async def bench(ctx):
        ctx.set(dut.win_base, 0x0F00)
        ctx.set(dut.win_limit, 0x3000)
        # stream 0 starts 5 beats before a 4 KiB boundary; stream 1 runs past the window.
        ctx.set(dut.addr0, 0x1000 - 40)
        ctx.set(dut.beats0, 40)
        ctx.set(dut.addr1, 0x3000 - 64)
        ctx.set(dut.beats1, 20)
        ctx.set(dut.start0, 1)
        ctx.set(dut.start1, 1)
        await ctx.tick()
        ctx.set(dut.start0, 0)
        ctx.set(dut.start1, 0)
        pending = []
        window_errors = 0
        for _ in range(600):
            ctx.set(dut.axi.arready, 1)
            for i in range(2):
                ctx.set(getattr(dut, f"data{i}").ready, 1)
            if ctx.get(dut.axi.arvalid):
                addr, length = ctx.get(dut.axi.araddr), ctx.get(dut.axi.arlen) + 1
                bursts.append((addr, length))
                pending += [(addr + 8 * b, b == length - 1) for b in range(length)]
            if pending:
                addr, last = pending[0]
                ctx.set(dut.axi.rvalid, 1)
                ctx.set(dut.axi.rdata, addr)
                ctx.set(dut.axi.rlast, last)
                ctx.set(dut.axi.rresp, 0)
            else:
                ctx.set(dut.axi.rvalid, 0)
            for i in range(2):
                s = getattr(dut, f"data{i}")
                if ctx.get(s.valid):
                    data[i].append(ctx.get(s.payload))
            window_errors += ctx.get(dut.window_error)
            await ctx.tick()
            if pending and ctx.get(dut.axi.rready):
                pending.pop(0)
        assert window_errors == 1
        assert ctx.get(dut.idle)

    run_block(dut, bench, cycles=20000)
    for addr, length in bursts:
        assert addr // 4096 == (addr + 8 * length - 1) // 4096, f"burst at 0x{addr:x} crosses 4 KiB"
        assert 0x0F00 <= addr and addr + 8 * length <= 0x3000, f"burst at 0x{addr:x} leaves window"
        assert length <= 16
    assert data[0] == [0x1000 - 40 + 8 * i for i in range(40)]
    # Stream 1: the 8 beats inside the window arrive, the burst that would leave it is refused.
    assert data[1] == [0x3000 - 64 + 8 * i for i in range(8)]


def test_register_file_reads_writes_and_rejects_unmapped():
    dut = RegisterFile(REGISTERS)
    results = []

    async def write(ctx, addr, value):
        bus = dut.bus
        ctx.set(bus.awaddr, addr)
        ctx.set(bus.wdata, value)
        ctx.set(bus.wstrb, 0xF)
        ctx.set(bus.awvalid, 1)
        ctx.set(bus.wvalid, 1)
        ctx.set(bus.bready, 1)
        for _ in range(10):
            await ctx.tick()
            if ctx.get(bus.awready) or ctx.get(bus.bvalid):
                break
        ctx.set(bus.awvalid, 0)
        ctx.set(bus.wvalid, 0)
        while not ctx.get(bus.bvalid):
            await ctx.tick()
        resp = ctx.get(bus.bresp)
        await ctx.tick()
        return resp

    async def read(ctx, addr):
        bus = dut.bus
        ctx.set(bus.araddr, addr)
        ctx.set(bus.arvalid, 1)
        ctx.set(bus.rready, 1)
        await ctx.tick()
        ctx.set(bus.arvalid, 0)
        while not ctx.get(bus.rvalid):
            await ctx.tick()
        out = ctx.get(bus.rdata), ctx.get(bus.rresp)
        await ctx.tick()
        return out

    async def bench(ctx):
        ctx.set(dut.id, 0x5A54494C)
        results.append(await read(ctx, REG["ID"]))
        results.append(await write(ctx, REG["WINDOW_BASE"], 0x1234_5678))
        results.append(ctx.get(dut.window_base))
        results.append(await read(ctx, REG["WINDOW_BASE"]))
        results.append(await read(ctx, 0xFC))
        results.append(await write(ctx, 0xFC, 1))

    run_block(dut, bench, cycles=500)
    assert results[0] == (0x5A54494C, 0)
    assert results[1] == 0 and results[2] == 0x1234_5678 and results[3] == (0x1234_5678, 0)
    assert results[4][1] == 0b10 and results[5] == 0b10, "unmapped address must answer SLVERR"


def test_config_validation_messages():
    with pytest.raises(ValueError, match="pes must be a power of two, not 3"):
        TileConfig(pes=3)
    with pytest.raises(ValueError, match="bus_bits must be 32, 64, 128 or 256, not 48"):
        TileConfig(bus_bits=48)
    with pytest.raises(ValueError, match="scan_width must be a power of two in 1..8, not 3"):
        TileConfig(scan_width=3)
    TileConfig(lanes=2, bus_bits=256)      # any power-of-two L >= 2 on any bus width


@pytest.mark.parametrize("case", ["window", "slverr"])
def test_write_engine_bursts_window_and_error_address(case):
    """Bursts carry their chunk in order; a request outside the window is dropped with
    ``window_error``, a SLVERR raises ``write_error``, each with the address; after an error
    no new burst starts, and ``abort`` then leaves the engine idle."""
    from zerotile.rtl.write_engine import WriteEngine
    dut = WriteEngine(chunk_bits=256, bus_bits=64)
    if case == "window":
        requests = [(0x1000, 0x11), (0x1020, 0x22), (0x2000, 0x33), (0x1040, 0x44)]
        slverr = None
    else:
        requests = [(0x1000, 0x11), (0x1020, 0x22), (0x1040, 0x33), (0x1060, 0x44),
                    (0x1080, 0x55), (0x10a0, 0x66)]
        slverr = 0x1020
    seen = {"aw": [], "w": [], "errors": [], "window": [], "aw_cycles": [], "error_cycles": []}

    async def bench(ctx):
        ctx.set(dut.win_base, 0x1000)
        ctx.set(dut.win_limit, 0x1800)
        queue = list(requests)
        b_queue = []
        rng = random.Random(5)
        for cycle in range(300):
            ctx.set(dut.abort, cycle >= 280)
            ctx.set(dut.requests.valid, bool(queue))
            if queue:
                ctx.set(dut.requests.payload.addr, queue[0][0])
                ctx.set(dut.requests.payload.data, sum(queue[0][1] << (64 * i) for i in range(4)))
            ctx.set(dut.axi.awready, rng.random() < 0.6)
            ctx.set(dut.axi.wready, rng.random() < 0.6)
            if ctx.get(dut.axi.awvalid) and ctx.get(dut.axi.awready):
                addr = ctx.get(dut.axi.awaddr)
                seen["aw"].append((addr, ctx.get(dut.axi.awlen)))
                seen["aw_cycles"].append(cycle)
                b_queue.append(2 if addr == slverr else 0)
            if ctx.get(dut.axi.wvalid) and ctx.get(dut.axi.wready):
                seen["w"].append((ctx.get(dut.axi.wdata), ctx.get(dut.axi.wlast)))
            if b_queue and len(seen["w"]) >= 4 * len(seen["aw"]) - 3:
                ctx.set(dut.axi.bvalid, 1)
                ctx.set(dut.axi.bresp, b_queue[0])
            else:
                ctx.set(dut.axi.bvalid, 0)
            if ctx.get(dut.write_error):
                seen["errors"].append(ctx.get(dut.error_addr))
                seen["error_cycles"].append(cycle)
            if ctx.get(dut.window_error):
                seen["window"].append(ctx.get(dut.error_addr))
                seen["error_cycles"].append(cycle)
            b_taken = ctx.get(dut.axi.bvalid) and ctx.get(dut.axi.bready)
            taken = queue and ctx.get(dut.requests.ready)
            await ctx.tick()
            if taken:
                queue.pop(0)
            if b_taken:
                b_queue.pop(0)
        assert ctx.get(dut.idle), "not idle after abort"

    run_block(dut, bench, cycles=20000)
    issued = [a for a, _ in seen["aw"]]
    assert all(length == 3 for _, length in seen["aw"])
    assert seen["error_cycles"], "no error raised"
    first_error = seen["error_cycles"][0]
    late = [a for a, c in zip(issued, seen["aw_cycles"]) if c > first_error]
    assert not late, f"bursts {[hex(a) for a in late]} started after the error (cycle {first_error})"
    if case == "window":
        assert issued == [0x1000, 0x1020], f"bursts {[hex(a) for a in issued]}"
        assert seen["window"] == [0x2000] and seen["errors"] == []
    else:
        assert seen["errors"] == [0x1020] and seen["window"] == []
        assert issued == [a for a, _ in requests[:len(issued)]] and len(issued) >= 2
    # every issued burst carried its own chunk, four beats, the last one marked
    values = dict(requests)
    assert [d for d, _ in seen["w"]] == [values[a] for a in issued for _ in range(4)]
    assert [last for _, last in seen["w"]] == [False, False, False, True] * len(issued)


@pytest.mark.parametrize("bus_bits,elem_bits,width,flag_limit", [
    (64, 16, 16, True), (64, 8, 8, False), (128, 8, 8, False), (32, 16, 4, True)])
@pytest.mark.parametrize("count,seed", [(0, 1), (1, 2), (37, 3), (200, 4)])
def test_element_window_delivers_count_elements_in_order(bus_bits, elem_bits, width,
                                                        flag_limit, count, seed):
    """Random beat arrival and random takes (up to ``avail``): the window shows the elements in
    order, ``avail`` never exceeds what is left, the flags describe the shown elements, and
    the ``ceil(count / per)`` beats that hold them are all taken."""
    print(f"seed {seed}")
    per = bus_bits // elem_bits
    dut = ElementWindow(bus_bits=bus_bits, elem_bits=elem_bits, width=width,
                        flag_limit=flag_limit)
    rng = random.Random(seed)
    # exactly the beats that hold ``count`` elements, as the read engine delivers them
    elems = [rng.randrange(1 << elem_bits) for _ in range(-(-count // per) * per)]
    beats = [sum(e << (elem_bits * i) for i, e in enumerate(elems[b * per:(b + 1) * per]))
             for b in range(len(elems) // per)]
    limit = 1 << (elem_bits - 1)
    got = []

    async def bench(ctx):
        if flag_limit:
            ctx.set(dut.limit, limit)
        ctx.set(dut.count, count)
        ctx.set(dut.start, 1)
        await ctx.tick()
        ctx.set(dut.start, 0)
        queue, taken_beats = list(beats), 0
        for cycle in range(40 * (count + 10)):
            ctx.set(dut.beats.valid, bool(queue) and rng.random() < 0.6)
            ctx.set(dut.beats.payload, queue[0] if queue else 0)
            avail = ctx.get(dut.avail)
            assert avail <= min(width, count - len(got)), \
                f"cycle {cycle}: avail {avail} with {count - len(got)} left"
            window = [ctx.get(dut.window[j]) for j in range(avail)]
            for j, v in enumerate(window):
                exp = elems[len(got) + j]
                assert v == exp, f"cycle {cycle}: window[{j}] = {v:#x}, expected {exp:#x}"
                if flag_limit:
                    assert (ctx.get(dut.flags) >> j) & 1 == (v >= limit), f"flag {j}"
                    assert (ctx.get(dut.nonzero) >> j) & 1 == (v != 0), f"nonzero {j}"
            take = rng.randrange(avail + 1) if rng.random() < 0.7 else avail
            ctx.set(dut.take, take)
            got.extend(window[:take])
            took_beat = ctx.get(dut.beats.valid) and ctx.get(dut.beats.ready)
            await ctx.tick()
            if took_beat:
                queue.pop(0)
                taken_beats += 1
            if len(got) == count and cycle > 20:
                break
        assert taken_beats == -(-count // per), f"{taken_beats} beats taken"

    run_block(dut, bench, cycles=40 * (count + 10) + 100)
    assert got == elems[:count], "elements differ"


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_register_slice_keeps_order_and_rate(seed):
    """Random valid/ready on both sides: every item comes out once, in order."""
    print(f"seed {seed}")
    dut = RegisterSlice(16)
    items = list(range(1, 120))
    got = []

    async def bench(ctx):
        rng = random.Random(seed)
        queue = list(items)
        for cycle in range(600):
            ctx.set(dut.sink.valid, bool(queue) and rng.random() < 0.7)
            ctx.set(dut.sink.payload, queue[0] if queue else 0)
            ctx.set(dut.source.ready, cycle > 500 or rng.random() < 0.6)
            took = ctx.get(dut.sink.valid) and ctx.get(dut.sink.ready)
            if ctx.get(dut.source.valid) and ctx.get(dut.source.ready):
                got.append(ctx.get(dut.source.payload))
            await ctx.tick()
            if took:
                queue.pop(0)
        assert not queue, f"{len(queue)} items never accepted"

    run_block(dut, bench, cycles=20000)
    assert got == items, f"seed {seed}: order or count differs"


def test_register_slice_full_rate():
    """Both sides always willing: one item per cycle after one cycle of latency."""
    dut = RegisterSlice(8)
    got = []

    async def bench(ctx):
        ctx.set(dut.source.ready, 1)
        for cycle in range(52):
            ctx.set(dut.sink.valid, cycle < 50)
            ctx.set(dut.sink.payload, cycle)
            assert cycle >= 50 or ctx.get(dut.sink.ready), f"not ready at cycle {cycle}"
            if ctx.get(dut.source.valid):
                got.append((cycle, ctx.get(dut.source.payload)))
            await ctx.tick()

    run_block(dut, bench, cycles=20000)
    assert got == [(c + 1, c) for c in range(50)]


class _EngineWithBanks(Elaboratable):
    """A ``SpgemmEngine`` reading B's CSR from four memories packed as ``CsrLoader`` packs
    banks 0-3."""

    def __init__(self, b, *, lanes, cols, width):
        self.lanes = lanes
        self.b_words = 256
        self.engine = SpgemmEngine(lanes=lanes, b_words=self.b_words, cols=cols, width=width)
        H = lanes // 2
        ptr = [int(p) for p in b.indptr]

        def pack(items, per_word, bits):
            words = [0] * self.b_words
            for e, x in enumerate(items):
                words[e // per_word] |= (int(x) & ((1 << bits) - 1)) << (bits * (e % per_word))
            return words

        self.banks = [pack(b.indices, H, 16), pack(b.data, lanes, 8), pack(ptr, H, 16),
                      pack(ptr[1:], H, 16)]

    def elaborate(self, platform):
        m = Module()
        m.submodules.engine = e = self.engine
        ports = [(e.col_addr, e.col_data), (e.val_addr, e.val_data),
                 (e.ptr_addr, e.ptr_data), (e.ptr_addr, e.next_ptr_data)]
        for i, ((addr, data), words) in enumerate(zip(ports, self.banks)):
            bank = Memory(shape=8 * self.lanes, depth=self.b_words, init=words)
            m.submodules[f"bank{i}"] = bank
            rd = bank.read_port()
            m.d.comb += [rd.addr.eq(addr), data.eq(rd.data)]
        return m


def _random_int8_csr(rng, rows, cols, density, empty_row):
    dense = np.array([[rng.choice([v for v in range(-128, 128) if v]) if rng.random() < density
                       else 0 for _ in range(cols)] for _ in range(rows)], dtype=np.int8)
    dense[empty_row] = 0
    return sp.csr_matrix(dense)


@pytest.mark.parametrize("seed", [1, 2])
def test_spgemm_engine_runs_jobs_back_to_back_without_a_reset(seed):
    """Three jobs on one SpgemmEngine with no reset between them (the first scrubs, the others
    start from the buffers the last one left clear), random stalls on deals and requests:
    each C (row pointers, sorted column indices, values) equals golden's, and ``deals.ready``
    is low whenever the engine is not between ``start`` and ``finished``."""
    print(f"seed {seed}")
    rng = random.Random(seed)
    lanes, width, cols, k = 4, 2, 64, 24
    b = _random_int8_csr(rng, k, 40, 0.15, empty_row=3)
    jobs = [_random_int8_csr(rng, rows, k, 0.2, empty_row=1) for rows in (7, 5, 9)]
    dut = _EngineWithBanks(b, lanes=lanes, cols=cols, width=width)
    e = dut.engine
    bases = {"rowptr": 0x1000, "colidx": 0x4000, "values": 0x8000}
    results = []

    async def bench(ctx):
        for number, a in enumerate(jobs):
            ctx.set(e.m, a.shape[0])
            ctx.set(e.capacity, 256)
            ctx.set(e.c_rowptr, bases["rowptr"])
            ctx.set(e.c_colidx, bases["colidx"])
            ctx.set(e.c_values, bases["values"])
            ctx.set(e.scrub, number == 0)
            ctx.set(e.start, 1)
            await ctx.tick()
            ctx.set(e.start, 0)
            deals = scanner_deals(a, width)
            written = {}
            for cycle in range(4000):
                if ctx.get(e.finished):
                    break
                offer = offer_deal(ctx, e.deals, deals, width, rng)
                ctx.set(e.requests.ready, rng.random() < 0.6)
                took_deal = offer and ctx.get(e.deals.ready)
                if ctx.get(e.requests.valid) and ctx.get(e.requests.ready):
                    written[ctx.get(e.requests.payload.addr)] = \
                        ctx.get(e.requests.payload.data)
                await ctx.tick()
                if took_deal:
                    deals.pop(0)
            else:
                raise AssertionError(f"seed {seed}, job {number}: not finished in 4000 cycles")
            assert not deals, f"seed {seed}, job {number}: {len(deals)} deals never taken"
            ctx.set(e.deals.valid, 0)
            for _ in range(3):                 # finished: no deal may be taken
                assert not ctx.get(e.deals.ready), \
                    f"seed {seed}, job {number}: deals.ready high after finished"
                await ctx.tick()
            assert not ctx.get(e.overflow), f"seed {seed}, job {number}: overflow flagged"
            results.append(written)

    run_block(dut, bench, cycles=20000)
    chunk = 4 * lanes

    def array(written, base, count):
        words = []
        for addr in range(base, base + -(-count // lanes) * chunk, chunk):
            assert addr in written, f"chunk at {addr:#x} never written"
            words += [(written[addr] >> (32 * j)) & 0xFFFFFFFF for j in range(lanes)]
        return [w - (1 << 32) if w >> 31 else w for w in words[:count]]

    assert len(results) == len(jobs), f"seed {seed}: {len(results)} of {len(jobs)} jobs ran"
    for number, (a, written) in enumerate(zip(jobs, results)):
        want = golden.spgemm(a, b)
        ptr = array(written, bases["rowptr"], a.shape[0] + 1)
        assert ptr == list(want.indptr), \
            f"seed {seed}, job {number}: row pointers expected {list(want.indptr)}, got {ptr}"
        cols_got = array(written, bases["colidx"], want.nnz)
        vals_got = array(written, bases["values"], want.nnz)
        for i in range(a.shape[0]):
            for p in range(want.indptr[i], want.indptr[i + 1]):
                assert (cols_got[p], vals_got[p]) == (want.indices[p], want.data[p]), (
                    f"seed {seed}, job {number}: row {i} entry {p}: expected column "
                    f"{want.indices[p]} value {want.data[p]}, got column {cols_got[p]} "
                    f"value {vals_got[p]}")
