"""DRAM for the testbenches: cocotbext-axi's ``AxiRam`` with fault injection and a bus monitor.

Extends (does not fork) the library model by wrapping, per instance, the hooks its read and
write processes call for every transaction:

* ``ar_channel.recv`` / ``aw_channel.recv``: every read and write burst is checked against
  the AXI rules the accelerator promises (INCR, full-width beats, at most ``max_burst`` beats,
  no 4 KiB crossing) and against the current DMA window (and, for writes, the regions the
  running job may write). A breach is recorded in ``violations`` (and logged); the bench fails
  the test when there is any.
* ``_read`` / ``_write``: an access to a faulty range raises, which the library answers with
  SLVERR; ``r_channel.send`` / ``b_channel.send`` turn that into DECERR where the range asks
  for it.
"""
from dataclasses import dataclass

from cocotbext.axi import AxiBus, AxiRam
from cocotbext.axi.constants import AxiResp

__all__ = ["MonitoredDram", "Fault", "BusViolation"]

SLVERR, DECERR = int(AxiResp.SLVERR), int(AxiResp.DECERR)


@dataclass(frozen=True)
class Fault:
    """Bytes ``[start, end)`` answer ``resp`` (SLVERR or DECERR) on ``kind`` ('read',
    'write' or 'both') accesses."""
    start: int
    end: int
    resp: int = SLVERR
    kind: str = "both"

    def hits(self, addr, length, kind):
        return self.kind in (kind, "both") and addr < self.end and addr + length > self.start


class BusViolation(AssertionError):
    """The accelerator issued a transaction it must never issue."""


class MonitoredDram(AxiRam):
    """``AxiRam`` on ``m_axi_*`` of ``dut`` with faults and the bus monitor described above."""

    def __init__(self, dut, *, size, max_burst, bus_bytes, log=None):
        super().__init__(AxiBus.from_prefix(dut, "m_axi"), dut.clk, dut.rst, size=size)
        self.max_burst, self.bus_bytes = max_burst, bus_bytes
        self.window = (0, size)          # [base, limit): where any transaction may go
        self.write_regions = None        # None, or [(start, end)]: where writes may go
        self.faults = []
        self.violations = []
        self.transactions = {"read": 0, "write": 0}
        self.faults_hit = {"read": 0, "write": 0}
        self._log = log
        for kind, iface, chan in (("read", self.read_if, "ar"), ("write", self.write_if, "aw")):
            channel = getattr(iface, f"{chan}_channel")
            channel.recv = self._monitored(kind, chan, channel.recv)
        self._wrap_data(self.read_if, "_read", "read", "r_channel", "rresp")
        self._wrap_data(self.write_if, "_write", "write", "b_channel", "bresp")

    # --- monitor -----------------------------------------------------------------------------
    def _monitored(self, kind, chan, recv):
        async def recv_checked():
            txn = await recv()
            addr = int(getattr(txn, f"{chan}addr"))
            beats = int(getattr(txn, f"{chan}len")) + 1
            size = 1 << int(getattr(txn, f"{chan}size"))
            burst = int(getattr(txn, f"{chan}burst"))
            self.transactions[kind] += 1
            self._check(kind, addr, beats, size, burst)
            return txn
        return recv_checked

    def _check(self, kind, addr, beats, size, burst):
        end = addr - addr % size + beats * size     # AXI4: an unaligned start ends aligned
        problems = []
        if burst != 1:
            problems.append(f"burst type {burst} is not INCR")
        if size != self.bus_bytes:
            problems.append(f"beat size {size} bytes, bus is {self.bus_bytes}")
        if beats > self.max_burst:
            problems.append(f"{beats} beats > max_burst {self.max_burst}")
        if addr // 4096 != (end - 1) // 4096:
            problems.append("crosses a 4 KiB boundary")
        base, limit = self.window
        if addr < base or end > limit:
            problems.append(f"outside the DMA window [{base:#x}, {limit:#x})")
        if kind == "write" and self.write_regions is not None and not any(
                lo <= addr and end <= hi for lo, hi in self.write_regions):
            problems.append("outside the regions this job may write")
        for p in problems:
            msg = f"{kind} burst {addr:#x}+{beats}x{size}: {p}"
            self.violations.append(msg)
            if self._log:
                self._log.error("bus monitor: %s", msg)

    # --- faults -------------------------------------------------------------------------------
    def _wrap_data(self, iface, method, kind, resp_channel, resp_field):
        inner = getattr(iface, method)
        decerr_pending = []

        async def access(address, *args):
            length = args[0] if kind == "read" else len(args[0])
            for f in self.faults:
                if f.hits(address, length, kind):
                    self.faults_hit[kind] += 1
                    if f.resp == DECERR:
                        decerr_pending.append(True)
                    raise OSError(f"injected {kind} fault at {address:#x}")
            return await inner(address, *args)
        setattr(iface, method, access)

        channel = getattr(iface, resp_channel)
        send = channel.send

        async def send_patched(txn):
            if decerr_pending and int(getattr(txn, resp_field)) == SLVERR:
                setattr(txn, resp_field, DECERR)
            if kind == "read" or decerr_pending:
                decerr_pending.clear()
            await send(txn)
        channel.send = send_patched
