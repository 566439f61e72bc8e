"""Block test of the accumulate stage on Amaranth's simulator: results whose old C chunk comes
back through a modelled read stream (random start delays, gaps between beats, the stream
lent only part of the time), random backpressure on ``out``; every chunk out equals new + old
(int32 wrap) in order, and with ``enable`` low results pass untouched without a read."""
import random

import pytest

from jobs import run_block
from zerotile.rtl.accumulate_stage import AccumulateStage

LANES = 4
MASK32 = (1 << 32) - 1


def _chunk(values):
    return sum((v & MASK32) << (32 * i) for i, v in enumerate(values))


@pytest.mark.parametrize("enable", [1, 0], ids=["accumulate", "pass-through"])
@pytest.mark.parametrize("bus_bits", [64, 128, 256],
                         ids=["two-beats-a-chunk", "one-beat", "chunk-inside-a-beat"])
@pytest.mark.parametrize("seed", [1, 2])
def test_accumulate_stage_adds_the_old_chunk_in_order(seed, bus_bits, enable):
    print(f"seed {seed}, bus {bus_bits} bits, enable {enable}")
    rng = random.Random(seed)
    dut = AccumulateStage(lanes=LANES, bus_bits=bus_bits, depth=8)
    chunk_bytes = 4 * LANES
    bus_bytes = bus_bits // 8
    # old C in memory, byte addressed; requests for distinct chunks in random order
    memory = {}
    chunks = rng.sample(range(64), 24)
    for c in chunks:
        for i in range(LANES):
            memory[c * chunk_bytes + 4 * i] = rng.randrange(-2**31, 2**31)
    requests = [{"addr": c * chunk_bytes, "row": n,
                 "data": [rng.randrange(-2**31, 2**31) for _ in range(LANES)]}
                for n, c in enumerate(chunks)]
    got, reads = [], []

    def beat(addr):
        """The ``bus_bits`` of memory at ``addr`` (beat aligned), little-endian int32s."""
        return _chunk([memory.get(addr + 4 * i, 0) for i in range(bus_bytes // 4)])

    async def bench(ctx):
        ctx.set(dut.enable, enable)
        todo = list(requests)
        stream = []            # beats the modelled read stream will deliver, in order
        delay = 0              # cycles before the next read's first beat may arrive
        issuing = 0            # the stream still has beats to issue: cycles left
        quiet = 0
        for cycle in range(5000):
            offer = bool(todo) and rng.random() < 0.7
            ctx.set(dut.requests.valid, offer)
            if offer:
                ctx.set(dut.requests.payload, {"addr": todo[0]["addr"], "row": todo[0]["row"],
                                               "data": _chunk(todo[0]["data"])})
            ctx.set(dut.out.ready, rng.random() < 0.6)
            ctx.set(dut.rd_allowed, rng.random() < 0.8)
            ctx.set(dut.rd_pending, issuing > 0)
            deliver = bool(stream) and delay == 0 and rng.random() < 0.7
            ctx.set(dut.rd_data.valid, deliver)
            if deliver:
                ctx.set(dut.rd_data.payload, stream[0])
            took = offer and ctx.get(dut.requests.ready)
            if ctx.get(dut.out.valid) and ctx.get(dut.out.ready):
                word = ctx.get(dut.out.payload.data)
                got.append((ctx.get(dut.out.payload.addr), ctx.get(dut.out.payload.row),
                            [(word >> (32 * i)) & MASK32 for i in range(LANES)]))
            delivered = deliver and ctx.get(dut.rd_data.ready)
            if ctx.get(dut.rd_start):
                addr, beats = ctx.get(dut.rd_addr), ctx.get(dut.rd_beats)
                reads.append((addr, beats))
                assert addr % bus_bytes == 0, f"seed {seed}: read at {addr:#x} not beat aligned"
                stream += [beat(addr + j * bus_bytes) for j in range(beats)]
                issuing = rng.randrange(0, 4)
                delay = max(delay, rng.randrange(0, 6))
            await ctx.tick()
            if took:
                todo.pop(0)
            if delivered:
                stream.pop(0)
            delay = max(0, delay - 1)
            issuing = max(0, issuing - 1)
            quiet = quiet + 1 if not todo and not stream and ctx.get(dut.idle) else 0
            if quiet > 4:
                break
        else:
            raise AssertionError(f"seed {seed}: not idle after 5000 cycles: {len(todo)} "
                                 f"requests left, {len(got)} out, {len(stream)} beats unread")

    run_block(dut, bench, cycles=6000)

    assert [(a, r) for a, r, _ in got] == [(q["addr"], q["row"]) for q in requests], \
        f"seed {seed}: out of order or missing: {[(a, r) for a, r, _ in got][:8]}..."
    for (addr, row, values), q in zip(got, requests):
        for lane in range(LANES):
            old = memory[addr + 4 * lane] if enable else 0
            expected = (q["data"][lane] + old) & MASK32
            assert values[lane] == expected, (
                f"seed {seed}: row {row}, chunk at {addr:#x}, lane {lane}: new "
                f"{q['data'][lane]}, old {old}: expected {expected:#x}, got {values[lane]:#x}")
    if enable:
        beats = max(1, 32 * LANES // bus_bits)
        assert [b for _, b in reads] == [beats] * len(requests), f"seed {seed}: reads {reads}"
    else:
        assert not reads, f"seed {seed}: {len(reads)} reads with enable low"
