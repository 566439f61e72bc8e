"""AXI4 write engine: writes fixed-size chunks of results to DRAM."""
from amaranth.hdl import *
from amaranth.lib import wiring, stream, data
from amaranth.lib.fifo import SyncFIFO
from amaranth.lib.wiring import In, Out

from .axi import AXI4Signature, BURST_INCR, RESP_OKAY

__all__ = ["WriteEngine", "write_request_layout"]


def write_request_layout(chunk_bits, addr_bits=32, row_bits=0):
    """``{addr, data}`` (and ``row``, the chunk's row within its job, with ``row_bits``)."""
    fields = {"addr": addr_bits, "data": chunk_bits}
    if row_bits:
        fields["row"] = row_bits
    return data.StructLayout(fields)


class WriteEngine(wiring.Component):
    """Writes each request of ``chunk_bits`` as one INCR burst: ``chunk_bits / bus_bits`` full
    beats, or, for a chunk narrower than the bus, one beat whose strobes cover the chunk's
    bytes only (AWADDR is then the chunk's own address, unaligned to the bus).

    Ports:

    * ``requests``: stream of ``{addr, data}``; ``addr`` must be aligned to the chunk size, so
      a burst never crosses 4 KiB (chunks are at most 4 KiB).
    * ``quarter`` (per job, stable while requests flow): each chunk is ``chunk_bits / 4`` bits,
      the low bits of ``data`` (int8 results of the epilogue instead of int32).
    * ``axi``: AXI4 manager; only AW, W and B are driven.
    * ``win_base``/``win_limit``: a request whose burst reaches outside ``[win_base,
      win_limit)`` (a chunk narrower than the bus: to the end of its bus word, its AXI extent)
      is dropped and raises ``window_error`` (with ``error_addr``); nothing is issued for it.
    * ``write_error`` (pulse): a B response was SLVERR/DECERR; ``error_addr`` then holds that
      burst's address. ``write_error`` and ``window_error`` (with ``error_addr``) come from
      registers, one cycle after the response or the check; after either, the engine issues
      no new burst (until reset).
    * ``abort``: drop the requests waiting and take no new one; the burst in hand (its
      address already issued) finishes.
    * ``idle``: no request held and every issued burst has had its B response.
    * ``beat``: one cycle per W beat accepted.

    A request is taken into a two-entry queue (``requests.ready`` depends on registers only),
    where its window check is registered, and becomes the burst in hand in the cycle the
    previous burst's last beat goes out: back-to-back requests stream at one beat per cycle,
    single-beat chunks (int8 output) included.
    AW and W of a burst are offered together.
    """

    def __init__(self, *, chunk_bits, bus_bits=64, addr_bits=32, max_outstanding=15):
        if chunk_bits < 64 or chunk_bits // bus_bits > 256 or chunk_bits > 4096 * 8 \
                or chunk_bits & (chunk_bits - 1) or bus_bits & (bus_bits - 1):
            raise ValueError(f"chunk_bits must be a power of two >= 64 (a quarter chunk is "
                             f"whole bytes), of at most 256 beats of {bus_bits} bits and 4 KiB, "
                             f"not {chunk_bits!r}")
        self.chunk_bits, self.bus_bits, self.addr_bits = chunk_bits, bus_bits, addr_bits
        self.max_outstanding = max_outstanding
        super().__init__({
            "requests": In(stream.Signature(write_request_layout(chunk_bits, addr_bits))),
            "axi": Out(AXI4Signature(addr_width=addr_bits, data_width=bus_bits)),
            "win_base": In(addr_bits), "win_limit": In(addr_bits),
            "quarter": In(1), "abort": In(1), "idle": Out(1), "write_error": Out(1),
            "window_error": Out(1),
            "error_addr": Out(addr_bits), "beat": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        axi = self.axi
        bus_bytes = self.bus_bits // 8
        beats = max(1, self.chunk_bits // self.bus_bits)
        beats_q = max(1, self.chunk_bits // 4 // self.bus_bits)
        chunk_bytes = self.chunk_bits // 8
        last = Signal(range(max(beats, 2)))        # AWLEN: beats of this job's chunks - 1
        m.d.comb += last.eq(Mux(self.quarter, beats_q - 1, beats - 1))

        held = Signal()
        aw_pending = Signal()
        addr = Signal(self.addr_bits)
        shreg = Signal(self.chunk_bits)
        beat = Signal(range(max(beats, 2)))   # >= 1 bit: no zero-width vectors in Verilog
        outstanding = Signal(range(self.max_outstanding + 1))

        m.d.comb += [
            axi.awvalid.eq(aw_pending), axi.awaddr.eq(addr), axi.awlen.eq(last),
            axi.awsize.eq(bus_bytes.bit_length() - 1), axi.awburst.eq(BURST_INCR),
            axi.awid.eq(0), axi.awcache.eq(0b0011), axi.awprot.eq(0), axi.awlock.eq(0),
            axi.awqos.eq(0),
            axi.wvalid.eq(held), axi.wlast.eq(beat == last),
            axi.bready.eq(1),
            self.beat.eq(axi.wvalid & axi.wready),
        ]

        def beat_lanes(size_bits):
            """(wdata, wstrb) of the current beat for chunks of ``size_bits``."""
            if size_bits >= self.bus_bits:
                return shreg[:self.bus_bits], Const((1 << bus_bytes) - 1, bus_bytes)
            # the chunk's byte lanes within the beat, from its address
            size_bytes = size_bits // 8
            lo, hi = size_bytes.bit_length() - 1, bus_bytes.bit_length() - 1
            wdata, wstrb = Signal(self.bus_bits), Signal(bus_bytes)
            with m.Switch(addr[lo:hi]):
                for slot in range(bus_bytes // size_bytes):
                    with m.Case(slot):
                        m.d.comb += [wdata.eq(shreg[:size_bits] << (slot * size_bits)),
                                     wstrb.eq(((1 << size_bytes) - 1) << (slot * size_bytes))]
            return wdata, wstrb
        data_full, strb_full = beat_lanes(self.chunk_bits)
        data_q, strb_q = beat_lanes(self.chunk_bits // 4)
        m.d.comb += [axi.wdata.eq(Mux(self.quarter, data_q, data_full)),
                     axi.wstrb.eq(Mux(self.quarter, strb_q, strb_full))]
        aw_go = axi.awvalid & axi.awready
        w_go = axi.wvalid & axi.wready
        b_go = axi.bvalid & axi.bready
        with m.If(aw_go):
            m.d.sync += aw_pending.eq(0)
        with m.If(w_go):
            if beats > 1:
                m.d.sync += [shreg.eq(shreg >> self.bus_bits), beat.eq(beat + 1)]
            with m.If(axi.wlast):
                m.d.sync += [held.eq(0), beat.eq(0)]
        # Addresses of the bursts awaiting their B response, oldest first (B returns in order).
        m.submodules.awaiting = awaiting = SyncFIFO(width=self.addr_bits,
                                                    depth=self.max_outstanding)
        m.d.comb += awaiting.r_stream.ready.eq(b_go)
        # Errors leave from registers; after one, no new burst is issued.
        write_error = Signal(name="write_error_now")
        window_error = Signal(name="window_error_now")
        error_addr = Signal(self.addr_bits, name="error_addr_now")
        halted = Signal()
        m.d.sync += [self.write_error.eq(write_error), self.window_error.eq(window_error),
                     self.error_addr.eq(error_addr)]
        with m.If(write_error | window_error):
            m.d.sync += halted.eq(1)
        with m.If(b_go & (axi.bresp != RESP_OKAY)):
            m.d.comb += [write_error.eq(1), error_addr.eq(awaiting.r_stream.payload)]

        # Requests wait in ``slot`` and ``spare`` (in order, each with its window check
        # registered) while the burst in hand streams out; the slot's becomes the burst in
        # hand when that one is finished, the spare's moves up at the same time.
        entry = data.StructLayout({"valid": 1, "inside": 1, "addr": self.addr_bits,
                                   "data": self.chunk_bits})
        slot = Signal(entry)
        spare = Signal(entry)
        # The burst in hand is done when its last beat and its address are both out (either
        # may go first: a subordinate may take W before AW).
        w_done = ~held | (w_go & axi.wlast)
        aw_done = ~aw_pending | aw_go
        advance = (slot.valid & ~self.abort & ~halted & w_done & aw_done &
                   (outstanding < self.max_outstanding - 1))
        new = Signal()
        with m.If(advance):
            m.d.sync += slot.eq(spare)
            m.d.sync += spare.valid.eq(0)
            with m.If(slot.inside):
                m.d.comb += [new.eq(1), awaiting.w_stream.valid.eq(1),
                             awaiting.w_stream.payload.eq(slot.addr)]
                m.d.sync += [held.eq(1), aw_pending.eq(1), addr.eq(slot.addr),
                             shreg.eq(slot.data), beat.eq(0)]
            with m.Else():
                m.d.comb += window_error.eq(1)
                with m.If(~write_error):
                    m.d.comb += error_addr.eq(slot.addr)
        req = self.requests.payload
        incoming = Signal(entry)
        m.d.comb += [incoming.valid.eq(1), incoming.addr.eq(req.addr),
                     incoming.data.eq(req.data),
                     # the burst's AXI extent: a chunk narrower than the bus is one beat,
                     # from its address to the end of its bus word
                     incoming.inside.eq((req.addr >= self.win_base) &
                                        ((req.addr & ~(bus_bytes - 1)) +
                                         Mux(self.quarter, max(chunk_bytes // 4, bus_bytes),
                                             max(chunk_bytes, bus_bytes))
                                         <= self.win_limit))]
        m.d.comb += self.requests.ready.eq(~spare.valid & ~self.abort)     # from registers
        with m.If(self.abort):
            m.d.sync += [slot.valid.eq(0), spare.valid.eq(0)]
        with m.Elif(self.requests.valid & self.requests.ready):
            # into the first free place once the advance (if any) has moved the queue up
            with m.If(Mux(advance, spare.valid, slot.valid)):
                m.d.sync += spare.eq(incoming)
            with m.Else():
                m.d.sync += slot.eq(incoming)
        m.d.sync += outstanding.eq(outstanding + new - b_go)
        m.d.comb += self.idle.eq(~held & ~slot.valid & ~spare.valid & (outstanding == 0))
        # the registers the formal proof's induction invariants name (verif/formal.py)
        self.internals = {"held": held, "aw_pending": aw_pending, "addr": addr, "beat": beat,
                          "slot": slot, "spare": spare}
        return m
