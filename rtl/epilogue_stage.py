"""The result path's output epilogue: int32 C chunks finished into int8 (TFLite requantisation)."""
from amaranth.hdl import *
from amaranth.lib import wiring, stream, data
from amaranth.lib.fifo import SyncFIFOBuffered
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from .write_engine import write_request_layout

__all__ = ["EpilogueStage", "PARAM_WORDS", "PIPELINE_STAGES"]

PARAM_WORDS = 3          # per output row: bias, multiplier, shift (int32 each, in this order)
PIPELINE_STAGES = 11     # cycles from a request taken to its result entering the output queue
INT32_MAX = (1 << 31) - 1


class EpilogueStage(wiring.Component):
    """Finishes each C chunk before it is written: bias, TFLite requantisation, zero point and
    clamp, int8 out (``golden.requantize`` is the exact contract, lane by lane).

    Ports:

    * ``requests``: ``{addr, row, data}`` (``data``: ``lanes`` int32, ``addr`` the chunk's int32
      C address, ``row`` its row within the job); ``out``: ``{addr, data}`` write requests.
    * ``enable`` (stable while results flow). Low: ``requests`` pass to ``out`` unchanged and
      combinationally (int32 C). High: ``out.data[:8*lanes]`` holds the chunk's ``lanes`` int8
      results (the upper bits are zero) and ``out.addr`` is
      ``q_base + (addr - c_base) / 4``: the int8 output has the int32 C's layout, each element
      a quarter of the size (a row stride of C_STRIDE / 4).
    * ``zero_point``, ``act_min``, ``act_max``: int8, per job.
    * Parameter memories (``rows`` deep: bias, multiplier, and shift, of which the low 8 bits
      are kept, the shift being in -31..30): two write lanes, ``param_wr[j]`` writing
      ``data`` as word ``word`` (0 bias, 1 multiplier, 2 shift) of row ``row`` when ``en``.
      The two lanes write different words (one write port per memory).
      ``params_ready``: every row's parameters are written (per job); requests wait until
      then.
    * ``idle``: nothing held (every request taken has left on ``out``).

    With ``enable``, one chunk is taken per cycle at best and leaves ``PIPELINE_STAGES`` cycles
    later; the pipeline never stalls (``requests.ready`` depends on a credit count of a
    ``fifo_depth`` output queue, from registers).
    """

    def __init__(self, *, lanes, rows, addr_bits=32, row_bits=16, fifo_depth=16):
        if lanes < 2 or lanes & (lanes - 1):
            raise ValueError(f"lanes must be a power of two >= 2, not {lanes!r}")
        if rows < 1 or rows & (rows - 1) or rows > (1 << row_bits):
            raise ValueError(f"rows must be a power of two in 1..2**{row_bits}, not {rows!r}")
        if fifo_depth < PIPELINE_STAGES + 2 or fifo_depth & (fifo_depth - 1):
            raise ValueError(f"fifo_depth must be a power of two >= {PIPELINE_STAGES + 2}, "
                             f"not {fifo_depth!r}")
        self.lanes, self.rows, self.addr_bits, self.fifo_depth = lanes, rows, addr_bits, fifo_depth
        super().__init__({
            "requests": In(stream.Signature(write_request_layout(32 * lanes, addr_bits,
                                                                 row_bits))),
            "out": Out(stream.Signature(write_request_layout(32 * lanes, addr_bits))),
            "enable": In(1),
            "c_base": In(addr_bits), "q_base": In(addr_bits),
            "zero_point": In(signed(8)), "act_min": In(signed(8)), "act_max": In(signed(8)),
            "param_wr": In(data.ArrayLayout(data.StructLayout({
                "en": 1, "row": range(rows), "word": range(PARAM_WORDS), "data": 32}), 2)),
            "params_ready": In(1),
            "idle": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        L = self.lanes
        # a row's parameters in three memories (bias, multiplier: 32 bits; shift: 8), so that
        # two words arriving together (always of different kinds) are written at once
        rd = []
        for word, (name, bits) in enumerate((("bias", 32), ("mult", 32), ("shift", 8))):
            mem = Memory(shape=bits, depth=self.rows, init=[])
            m.submodules[f"param_{name}"] = mem
            wr = mem.write_port()
            for j, lane in enumerate(self.param_wr):
                with (m.If if j == 0 else m.Elif)(lane.en & (lane.word == word)):
                    m.d.comb += [wr.en.eq(1), wr.addr.eq(lane.row), wr.data.eq(lane.data)]
            rd.append(mem.read_port())
        out_layout = write_request_layout(32 * L, self.addr_bits)
        # the output queue: int8 chunks as they leave the pipeline, and their addresses, which
        # are known from S2 and wait in their own queue (the pipeline never stalls, so the
        # two queues pair up in order)
        m.submodules.queue = queue = SyncFIFOBuffered(width=8 * L, depth=self.fifo_depth)
        m.submodules.addr_queue = addr_queue = SyncFIFOBuffered(width=self.addr_bits,
                                                                depth=self.fifo_depth)
        held = Signal(range(self.fifo_depth + 1))    # taken and not yet left on ``out``
        req = self.requests.payload
        take = Signal()
        leave = Signal()

        with m.If(~self.enable):
            m.d.comb += [self.out.payload.eq(Cat(req.addr, req.data)),
                         self.out.valid.eq(self.requests.valid),
                         self.requests.ready.eq(self.out.ready)]
        with m.Else():
            m.d.comb += [self.requests.ready.eq((held < self.fifo_depth) & self.params_ready),
                         take.eq(self.requests.valid & self.requests.ready),
                         self.out.valid.eq(queue.r_stream.valid),
                         self.out.payload.addr.eq(addr_queue.r_stream.payload),
                         self.out.payload.data.eq(queue.r_stream.payload),
                         queue.r_stream.ready.eq(self.out.ready),
                         addr_queue.r_stream.ready.eq(leave),
                         leave.eq(queue.r_stream.valid & self.out.ready)]
        m.d.sync += held.eq(held + take - leave)
        m.d.comb += [p.addr.eq(req.row) for p in rd]

        # The pipeline: a valid bit and the chunk's address travel beside the lanes.
        def stage(name, value, shape=None):
            reg = Signal(shape if shape is not None else Value.cast(value).shape(), name=name)
            m.d.sync += reg.eq(value)
            return reg

        valid = [stage("v1", take)]
        addr1 = stage("addr1", req.addr)
        lanes1 = [stage(f"acc1_{j}", req.data[32 * j:32 * (j + 1)].as_signed()) for j in range(L)]
        # S2: the row's parameters (read in S1) registered.
        bias2 = stage("bias2", rd[0].data.as_signed())
        mult2 = stage("mult2", rd[1].data.as_signed())
        shift2 = stage("shift2", rd[2].data.as_signed(), signed(32))
        valid.append(stage("v2", valid[-1]))
        addr2 = stage("addr2", self.q_base + ((addr1 - self.c_base)[:self.addr_bits] >> 2),
                      self.addr_bits)
        lanes2 = [stage(f"acc2_{j}", x) for j, x in enumerate(lanes1)]
        # S3: + bias (wrapping); the shifts split into left and right amounts.
        left3 = stage("left3", Mux(shift2 > 0, shift2[:5], 0), 5)
        right3 = stage("right3", Mux(shift2 < 0, (-shift2)[:5], 0), 5)
        mult3 = stage("mult3", mult2)
        sum3 = [stage(f"sum3_{j}", (x + bias2)[:32].as_signed()) for j, x in enumerate(lanes2)]
        # S4: acc << left, wrapping to int32.
        right = [right3]
        mult4 = stage("mult4", mult3)
        right.append(stage("right4", right[-1]))
        a4 = [stage(f"a4_{j}", (x << left3)[:32].as_signed()) for j, x in enumerate(sum3)]
        # S5: a * M as four 16 x 16 partial products (one DSP each); the one overflow of SRDHM;
        # the product's sign (negative: both factors nonzero, signs differ) for the nudge.
        right.append(stage("right5", right[-1]))
        b = mult4
        pp = []
        for j, a in enumerate(a4):
            a_lo, a_hi = a[:16], a[16:].as_signed()
            b_lo, b_hi = b[:16], b[16:].as_signed()
            pp.append(dict(ll=stage(f"pp_ll5_{j}", a_lo * b_lo, 32),
                           lh=stage(f"pp_lh5_{j}", a_lo * b_hi, signed(33)),
                           hl=stage(f"pp_hl5_{j}", a_hi * b_lo, signed(33)),
                           hh=stage(f"pp_hh5_{j}", a_hi * b_hi, signed(32)),
                           neg=stage(f"neg5_{j}", (a[31] ^ b[31]) & (a != 0) & (b != 0)),
                           sat=stage(f"sat5_{j}", (a == -(1 << 31)) & (b == -(1 << 31)))))
        # S6: the middle partial products summed; the outer ones + nudge (2**30, or 1 - 2**30
        # for a negative product).
        right.append(stage("right6", right[-1]))
        mid6 = [stage(f"mid6_{j}", p["lh"] + p["hl"], signed(34)) for j, p in enumerate(pp)]
        outer6 = [stage(f"outer6_{j}", (Cat(p["ll"], p["hh"]).as_signed()
                                        + Mux(p["neg"], 1 - (1 << 30), 1 << 30))[:64].as_signed())
                  for j, p in enumerate(pp)]
        sat6 = [stage(f"sat6_{j}", p["sat"]) for j, p in enumerate(pp)]
        # S7: the nudged 64-bit product n = a * M + nudge, kept as n >> 31 and whether the
        # 31 bits below are nonzero.
        right.append(stage("right7", right[-1]))
        hi7, inexact7 = [], []
        for j, (o, mid) in enumerate(zip(outer6, mid6)):
            n = Signal(signed(64), name=f"nudged{j}")
            m.d.comb += n.eq(o + (mid << 16))
            hi7.append(stage(f"hi7_{j}", n[31:].as_signed(), signed(33)))
            inexact7.append(stage(f"inexact7_{j}", n[:31] != 0))
        sat7 = [stage(f"sat7_{j}", s) for j, s in enumerate(sat6)]
        # S8: / 2**31 truncated towards zero (floor, +1 for a negative inexact quotient).
        right.append(stage("right8", right[-1]))
        x8 = [stage(f"x8_{j}", Mux(s, INT32_MAX, (hi + (hi[32] & lo))[:32]).as_signed(),
                    signed(32))
              for j, (hi, lo, s) in enumerate(zip(hi7, inexact7, sat7))]
        # S8 (beside x8): RoundingDivideByPOT's bit masks for e = right, one per job row,
        # shared by the lanes: the bit just below the quotient (e - 1) and the bits below it.
        e7 = right[-2]
        # (e <= 31: bit 30 is the highest "half", bit 29 the highest "below")
        half8 = stage("half8", Cat(*(e7 == i + 1 for i in range(31))), 32)
        below8 = stage("below8", Cat(*(e7 > i + 1 for i in range(30))), 32)
        # S9: RoundingDivideByPOT without carry chains: x >> e, rounded up (away from zero)
        # when the remainder is above half (``x & half`` set, and for a negative x some bit
        # below it set too: the remainder > (mask >> 1) + 1).
        e = right[-1]
        q9 = [stage(f"q9_{j}", x >> e, signed(32)) for j, x in enumerate(x8)]
        up9 = [stage(f"up9_{j}", ((x.as_unsigned() & half8) != 0) &
                      (~x[31] | ((x.as_unsigned() & below8) != 0)), 1)
                for j, x in enumerate(x8)]
        # S10: rounded.
        r10 = [stage(f"r10_{j}", (q + up)[:32].as_signed(), signed(32))
               for j, (q, up) in enumerate(zip(q9, up9))]
        # S11: + zero point (exact).
        z11 = [stage(f"z11_{j}", r + self.zero_point, signed(33)) for j, r in enumerate(r10)]
        # S11 (comb): clamp, int8, into the output queue.
        ys = []
        for j, z in enumerate(z11):
            y = Signal(signed(8), name=f"y11_{j}")
            with m.If(z < self.act_min):
                m.d.comb += y.eq(self.act_min)
            with m.Elif(z > self.act_max):
                m.d.comb += y.eq(self.act_max)
            with m.Else():
                m.d.comb += y.eq(z[:8])
            ys.append(y)
        for s in range(3, PIPELINE_STAGES + 1):
            valid.append(stage(f"v{s}", valid[-1]))
        m.d.comb += [addr_queue.w_stream.valid.eq(valid[1]),
                     addr_queue.w_stream.payload.eq(addr2),
                     queue.w_stream.valid.eq(valid[-1]),
                     queue.w_stream.payload.eq(Cat(*ys))]
        m.d.comb += self.idle.eq(held == 0)
        return m
