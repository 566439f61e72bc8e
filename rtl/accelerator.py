"""The zerotile accelerator: control registers, DMA, B scratchpad, operand scanner and PEs."""
from amaranth.hdl import *
from amaranth.lib import wiring, data
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from .axi import AXI4Signature, AXI4LiteSignature
from .beat_splitter import BeatSplitter
from .element_window import ElementWindow
from .config import TileConfig
from .operand_scanner import OperandScanner
from .processing_element import ProcessingElement
from .read_engine import ReadEngine
from .register_slice import RegisterSlice
from .register_file import RegisterFile
from .regmap import (REGISTERS, COUNTERS, ErrorCode, ID_MAGIC, VERSION, DESCRIPTOR_BYTES,
                     config_word, FLAG_ACCUMULATE, FLAG_COLIDX16, FLAG_EPILOGUE,
                     EPILOGUE_PARAM_BYTES,
                     DESCRIPTOR_ALIGN, MODE_CSR, MODE_SPGEMM, MAX_M, MAX_NNZ,
                     MAX_DENSE_A_BYTES)
from .write_engine import WriteEngine, write_request_layout
from .accumulate_stage import AccumulateStage
from .epilogue_stage import EpilogueStage, PARAM_WORDS
from .csr_loader import (CsrLoader, PASS_ROW_POINTERS, PASS_COLUMNS, PASS_VALUES,
                         BANK_COLUMNS, BANK_VALUES, BANK_POINTERS, BANK_NEXT_POINTERS)
from .spgemm_engine import SpgemmEngine
from .descriptor import descriptor_layout, spgemm_view, flags_view

__all__ = ["Accelerator"]

S_AXIL_ADDR_BITS = 8
B_URGENT_HOLD = 64


class Accelerator(wiring.Component):
    """One zerotile: runs chains of dense-GEMM, CSR-SpMM and SpGEMM jobs described in DRAM.

    Ports (flattened names in the generated Verilog):

    * ``m_axi_*``: AXI4 manager to DRAM, ``bus_bits`` wide, ID 0 on every transaction.
    * ``s_axil_*``: AXI4-Lite subordinate, the register map of ``rtl.regmap``.
    * ``irq``: high while (STATUS.done or STATUS.error) and CONTROL.irq_enable.

    Writing DOORBELL runs the descriptor chain at DESC_ADDR (ignored while busy). Per job:
    read the 64-byte descriptor, check it (sizes, alignment, every operand range inside
    [WINDOW_BASE, WINDOW_LIMIT)) before any operand transfer, then load B into the scratchpad
    while A streams in: the scanner deals rows to the PEs, which use each row of B as soon as
    it has arrived; finished chunks of C rows are written back as one burst each (with
    FLAGS.ACCUMULATE added to the old C read back; with FLAGS.EPILOGUE finished to int8 by
    the requantisation epilogue, whose per-row parameters are read before B). Any error
    (ErrorCode) stops the chain: no new transactions are issued, those in flight complete, then
    STATUS.error is set. C rows are written once each, whole. SOFT_RESET stops a chain the same
    way but ends quietly (no error, no interrupt). The window is sampled at DOORBELL.

    A SpGEMM job (MODE 2, with ``config.has_spgemm``) loads B's three CSR arrays into banks
    0-3 (``CsrLoader``, checking them), then the scanner deals A's rows in order to the
    ``SpgemmEngine``, which writes C as CSR into the C region; the PEs stay idle.
    """

    def __init__(self, config=None):
        self.config = config = config or TileConfig()
        super().__init__({
            "m_axi": Out(AXI4Signature(addr_width=config.addr_bits, data_width=config.bus_bits)),
            "s_axil": In(AXI4LiteSignature(addr_width=S_AXIL_ADDR_BITS)),
            "irq": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        cfg = self.config
        P, L, bb = cfg.pes, cfg.lanes, cfg.bus_bytes
        shift = bb.bit_length() - 1
        words_per_b = (L * 8) // cfg.bus_bits     # bus beats per scratchpad word (0: several per beat)
        chunk_bytes = 4 * L

        # Clears the datapath between jobs and after an abort: a register, high in the FLUSH
        # state and in the first IDLE cycle after ABORT (the engines are held aborted then).
        flush = Signal()
        m.d.sync += flush.eq(0)

        # --- blocks ---------------------------------------------------------------------
        m.submodules.registers = regs = RegisterFile(REGISTERS, addr_width=S_AXIL_ADDR_BITS)
        wiring.connect(m, wiring.flipped(self.s_axil), regs.bus)

        reader = ReadEngine(n_streams=4, bus_bits=cfg.bus_bits, max_burst=cfg.max_burst,
                            fifo_beats=cfg.read_fifo_beats, max_outstanding=8,
                            addr_bits=cfg.addr_bits)
        writer = WriteEngine(chunk_bits=32 * L, bus_bits=cfg.bus_bits, addr_bits=cfg.addr_bits)
        row_ptrs = BeatSplitter(bus_bits=cfg.bus_bits, elem_bits=32)
        W = cfg.scan_width
        # column indices as 16-bit halves (uint16 indices, or int32 ones as pairs)
        col_idxs = ElementWindow(bus_bits=cfg.bus_bits, elem_bits=16, width=2 * W,
                                 flag_limit=True)
        values = ElementWindow(bus_bits=cfg.bus_bits, elem_bits=8, width=W)
        load_bits = (W * cfg.pe_fifo_depth).bit_length()
        scanner = OperandScanner(pes=P, load_bits=load_bits, width=W)
        pes = [ProcessingElement(lanes=L, max_chunks=cfg.max_chunks, b_words=cfg.b_words,
                                 fifo_depth=cfg.pe_fifo_depth, width=W) for _ in range(P)]
        m.submodules.reader = ResetInserter(flush)(reader)
        m.submodules.writer = ResetInserter(flush)(writer)
        m.submodules.row_ptrs = ResetInserter(flush)(row_ptrs)
        m.submodules.col_idxs = ResetInserter(flush)(col_idxs)
        m.submodules.values = ResetInserter(flush)(values)
        if cfg.bus_bits > 8 * L:        # B words narrower than a beat
            b_split = BeatSplitter(bus_bits=cfg.bus_bits, elem_bits=8 * L)
            m.submodules.b_split = ResetInserter(flush)(b_split)
        m.submodules.scanner = ResetInserter(flush)(scanner)
        # C += A.B: each C chunk is read back (stream 0, free once B is loaded) and added.
        acc = AccumulateStage(lanes=L, bus_bits=cfg.bus_bits, addr_bits=cfg.addr_bits)
        m.submodules.accumulate = ResetInserter(flush)(acc)
        # int8 output: each C chunk finished by the requantisation epilogue; its per-row
        # parameters arrive on stream 0 after B, as 32-bit words.
        epi = EpilogueStage(lanes=L, rows=cfg.epilogue_rows, addr_bits=cfg.addr_bits)
        m.submodules.epilogue = ResetInserter(flush)(epi)
        # two parameter words a cycle (one on a 32-bit bus): 8 bytes, the default bus's rate
        param_lanes = min(2, cfg.bus_bits // 32)
        p_split = BeatSplitter(bus_bits=cfg.bus_bits, elem_bits=32 * param_lanes)
        m.submodules.param_words = ResetInserter(flush)(p_split)
        for i, pe in enumerate(pes):
            m.submodules[f"pe{i}"] = ResetInserter(flush)(pe)
        # SpGEMM: B's CSR into the first four banks, the engine reads them and writes C
        has_spgemm = cfg.has_spgemm
        spgemm = Signal()          # the job is a SpGEMM job (a register, set in DECODE)
        if has_spgemm:
            loader = CsrLoader(lanes=L, b_words=cfg.b_words, bus_bits=cfg.bus_bits)
            engine = SpgemmEngine(lanes=L, b_words=cfg.b_words, cols=cfg.spgemm_cols, width=W,
                                  addr_bits=cfg.addr_bits)
            m.submodules.csr_loader = ResetInserter(flush)(loader)
            m.submodules.spgemm = ResetInserter(flush)(engine)

        # AR/R belong to the reader, AW/W/B to the writer.
        for name, member in self.m_axi.signature.members.items():
            src = reader.axi if name.startswith(("ar", "r")) else writer.axi
            if member.flow == Out:
                m.d.comb += getattr(self.m_axi, name).eq(getattr(src, name))
            else:
                m.d.comb += getattr(src, name).eq(getattr(self.m_axi, name))

        # The DMA window in force: sampled at DOORBELL, fixed while the chain runs.
        window_base = Signal(cfg.addr_bits)
        window_limit = Signal(cfg.addr_bits)
        m.d.comb += [reader.win_base.eq(window_base), reader.win_limit.eq(window_limit),
                     writer.win_base.eq(window_base), writer.win_limit.eq(window_limit)]

        # Stream 0: descriptors and B; 1: row pointers; 2: column indices; 3: A values.
        wiring.connect(m, reader.data1, row_ptrs.beats)
        wiring.connect(m, reader.data2, col_idxs.beats)
        wiring.connect(m, reader.data3, values.beats)
        wiring.connect(m, row_ptrs.elements, scanner.row_ptr)
        m.d.comb += [scanner.cols.eq(col_idxs.window), scanner.cols_avail.eq(col_idxs.avail),
                     scanner.cols_bad.eq(col_idxs.flags), scanner.cols_high.eq(col_idxs.nonzero),
                     col_idxs.take.eq(scanner.cols_take),
                     scanner.vals.eq(values.window), scanner.vals_avail.eq(values.avail),
                     values.take.eq(scanner.vals_take)]

        # --- job registers ----------------------------------------------------------------
        job = Signal(descriptor_layout())
        flags = flags_view(job.FLAGS)
        sp = spgemm_view(job)      # a SpGEMM job's names for the words it uses differently
        csr = Signal()
        chunks = Signal(range(cfg.max_chunks + 1))
        desc_addr = Signal(cfg.addr_bits)
        desc_shift = Signal(DESCRIPTOR_BYTES * 8)
        desc_bad = Signal()

        narrow = flags.colidx16      # uint16 column indices
        m.d.comb += [col_idxs.limit.eq(job.K),
                     scanner.csr.eq(csr), scanner.narrow.eq(narrow),
                     scanner.m.eq(job.M), scanner.k.eq(job.K),
                     scanner.nnz.eq(job.NNZ)]
        m.d.comb += [acc.enable.eq(flags.accumulate), acc.rd_pending.eq(reader.pending0),
                     acc.rd_data.payload.eq(reader.data0.payload)]
        int8_out = flags.epilogue
        m.d.comb += [epi.enable.eq(int8_out), writer.quarter.eq(int8_out),
                     epi.c_base.eq(job.C_ADDR), epi.q_base.eq(job.Q_ADDR),
                     epi.zero_point.eq(job.EPI_QUANT[0:8]), epi.act_min.eq(job.EPI_QUANT[8:16]),
                     epi.act_max.eq(job.EPI_QUANT[16:24])]

        # --- B scratchpad: one bank per PE ---------------------------------------------------
        # PEs form groups of ``2**group_shift`` that split a row's chunks between them:
        # groups are as small as the job's chunks allow, so short rows (few chunks) still
        # keep every PE busy and long rows never wait for one PE. PE ``i`` owns the chunks
        # ``c`` with ``c mod G == i mod G`` (G the group size) and reads only its own bank,
        # which holds exactly those chunks: the ``t``-th at words ``t*K .. t*K + K - 1``. PEs
        # of different groups own the same chunks, so their banks hold copies; with at least
        # P chunks every bank is distinct and the scratchpad holds ``P * b_words`` words.
        group_shift = Signal(range(max(P.bit_length(), 2)))
        group_mask = Signal(range(max(P, 2)))
        b_row = Signal(range(cfg.b_words + 1))     # rows of B loaded so far
        b_last_row = Signal()      # b_row is B's last row (kept beside b_row, a register)
        b_last_chunk = Signal()    # b_chunk is the row's last chunk (likewise)
        size_bad = Signal()        # the descriptor's sizes disagree (checked in SIZE)
        b_wr_addr = Signal(range(cfg.b_words))
        b_wr_data = Signal(8 * L)
        b_wr_chunk = Signal(range(cfg.max_chunks))
        b_wr_en = Signal()
        for i, pe in enumerate(pes):
            bank = Memory(shape=8 * L, depth=cfg.b_words, init=[])
            m.submodules[f"b_bank{i}"] = bank
            wr = bank.write_port()
            rd = bank.read_port()
            group_size = Const(1, P.bit_length() + 1) << group_shift
            chunk_here = (b_wr_chunk & group_mask) == (i & group_mask)
            if has_spgemm and i < 4:
                # SpGEMM: the loader picks the bank; the engine reads it
                eng_addr = {BANK_COLUMNS: engine.col_addr, BANK_VALUES: engine.val_addr,
                            BANK_POINTERS: engine.ptr_addr,
                            BANK_NEXT_POINTERS: engine.ptr_addr}[i]
                eng_data = {BANK_COLUMNS: engine.col_data, BANK_VALUES: engine.val_data,
                            BANK_POINTERS: engine.ptr_data,
                            BANK_NEXT_POINTERS: engine.next_ptr_data}[i]
                m.d.comb += [wr.en.eq(b_wr_en & Mux(spgemm, b_wr_chunk == i, chunk_here)),
                             rd.addr.eq(Mux(spgemm, eng_addr, pe.b_addr)),
                             eng_data.eq(rd.data)]
            else:
                m.d.comb += [wr.en.eq(b_wr_en & chunk_here), rd.addr.eq(pe.b_addr)]
            m.d.comb += [wr.addr.eq(b_wr_addr), wr.data.eq(b_wr_data),
                         pe.b_data.eq(rd.data),
                         pe.chunks.eq(chunks), pe.k.eq(job.K), pe.b_rows.eq(b_row),
                         pe.chunk_step.eq(group_size),
                         pe.first_chunk.eq(i & (group_size - 1)),
                         getattr(scanner, f"group{i}").eq(i >> group_shift)]
            deals = getattr(scanner, f"deals{i}")
            if has_spgemm and i == 0:
                # SpGEMM: every row goes to PE 0's stream (the others look full), which feeds
                # the engine instead
                m.d.comb += [scanner.load0.eq(pe.load),
                             pe.deals.payload.eq(deals.payload),
                             engine.deals.payload.eq(deals.payload),
                             pe.deals.valid.eq(deals.valid & ~spgemm),
                             engine.deals.valid.eq(deals.valid & spgemm),
                             deals.ready.eq(Mux(spgemm, engine.deals.ready, pe.deals.ready))]
            elif has_spgemm:
                m.d.comb += getattr(scanner, f"load{i}").eq(
                    Mux(spgemm, (1 << len(pe.load)) - 1, pe.load))
                wiring.connect(m, deals, pe.deals)
            else:
                m.d.comb += [getattr(scanner, f"load{i}").eq(pe.load)]
                wiring.connect(m, deals, pe.deals)
        # B's stream goes first while a PE waits for a row of B that has not arrived (the A
        # streams only need to keep ahead of the PEs); a register, as the PEs are far away.
        b_starved = Signal()
        b_hold = Signal(range(B_URGENT_HOLD + 1))   # cycles since a PE last waited for B
        m.d.sync += b_starved.eq(Cat(*(pe.b_wait for pe in pes)).any())
        with m.If(b_starved):
            m.d.sync += b_hold.eq(B_URGENT_HOLD)
        with m.Elif(b_hold != 0):
            m.d.sync += b_hold.eq(b_hold - 1)

        # --- result arbiter: PE results -> write requests ----------------------------------
        # Registered stages: grant a PE with a finished chunk (round robin), take its chunk into
        # a register slice, multiply its row by C_STRIDE, add the base and chunk offsets into
        # the write request.
        aborting = Signal()       # a register: high exactly while the controller is in ABORT
        req = Signal(write_request_layout(32 * L, cfg.addr_bits, row_bits=16))
        req_valid = Signal()
        # The arbiter grants one PE from a register (round robin); the grant moves on when its
        # result is taken, to another PE if one has a result (the PE just taken is not
        # eligible in that cycle: its next result, if any, shows a cycle later). The PEs'
        # result FIFOs see only ``take`` and a registered select.
        last_pick = Signal(range(max(P, 2)))
        grant = Signal(range(max(P, 2)))
        grant_valid = Signal()
        pick = Signal(range(max(P, 2)))
        any_result = Signal()
        take = Signal()
        rr_last = Signal(range(max(P, 2)))
        m.d.comb += rr_last.eq(Mux(take, grant, last_pick))
        for offset in reversed(range(P)):
            for last in range(P):
                cand = (last + 1 + offset) % P
                eligible = pes[cand].results.valid & ~(take & (grant == cand))
                with m.If((rr_last == last) & eligible):
                    m.d.comb += [pick.eq(cand), any_result.eq(1)]
        with m.If(~grant_valid | take):
            m.d.sync += [grant.eq(pick), grant_valid.eq(any_result)]
        with m.If(take):
            m.d.sync += last_pick.eq(grant)
        m.d.comb += [acc.requests.payload.eq(req),
                     acc.requests.valid.eq(req_valid & ~aborting),
                     epi.requests.payload.eq(acc.out.payload),
                     epi.requests.valid.eq(acc.out.valid),
                     acc.out.ready.eq(epi.requests.ready),
                     epi.out.ready.eq(writer.requests.ready & ~aborting & ~spgemm)]
        if has_spgemm:
            m.d.comb += [writer.requests.payload.eq(Mux(spgemm, engine.requests.payload,
                                                        epi.out.payload)),
                         writer.requests.valid.eq(Mux(spgemm, engine.requests.valid,
                                                      epi.out.valid) & ~aborting),
                         engine.requests.ready.eq(writer.requests.ready & ~aborting & spgemm)]
        else:
            m.d.comb += [writer.requests.payload.eq(epi.out.payload),
                         writer.requests.valid.eq(epi.out.valid & ~aborting)]
        # The picked result enters a register slice: the PEs' ready depends on registers only.
        picked_layout = data.StructLayout({"row": 16, "chunk": range(cfg.max_chunks),
                                           "data": 32 * L})
        m.submodules.result_slice = result_slice = ResetInserter(flush)(
            RegisterSlice(picked_layout))
        picked = result_slice.source
        # row * C_STRIDE as two 16 x 16 products (one DSP each); the address adds them.
        placed = Signal(data.StructLayout({"valid": 1, "row": 16, "row_lo": 32, "row_hi": 16,
                                           "base": cfg.addr_bits, "data": 32 * L}))
        req_free = ~req_valid | (acc.requests.valid & acc.requests.ready)
        placed_free = ~placed.valid | req_free
        m.d.comb += picked.ready.eq(placed_free)
        with m.If(acc.requests.valid & acc.requests.ready):
            m.d.sync += req_valid.eq(0)
        with m.If(placed.valid & req_free):
            m.d.sync += [req_valid.eq(1), req.data.eq(placed.data), req.row.eq(placed.row),
                         req.addr.eq(placed.base + placed.row_lo + (placed.row_hi << 16))]
        with m.If(placed_free):
            res = picked.payload
            m.d.sync += [placed.valid.eq(picked.valid), placed.data.eq(res.data),
                         placed.row.eq(res.row),
                         placed.row_lo.eq(res.row * job.C_STRIDE[:16]),
                         placed.row_hi.eq(res.row * job.C_STRIDE[16:]),
                         placed.base.eq(job.C_ADDR + res.chunk * chunk_bytes)]
        m.d.comb += [take.eq(grant_valid & result_slice.sink.ready),
                     result_slice.sink.valid.eq(grant_valid)]
        with m.Switch(grant):
            for i, pe in enumerate(pes):
                with m.Case(i):
                    res = pe.results.payload
                    m.d.comb += [pe.results.ready.eq(take),
                                 result_slice.sink.payload.row.eq(res.row),
                                 result_slice.sink.payload.chunk.eq(res.chunk),
                                 result_slice.sink.payload.data.eq(res.data)]
        with m.If(flush):
            m.d.sync += [req_valid.eq(0), placed.valid.eq(0), grant_valid.eq(0)]
        results_pending = req_valid | placed.valid | picked.valid | ~result_slice.sink.ready | \
            grant_valid | Cat(*(pe.results.valid for pe in pes)).any() | ~acc.idle | ~epi.idle

        # --- status and counters ----------------------------------------------------------
        busy = Signal()
        done = Signal()
        error = Signal()
        error_code = Signal(8)
        error_addr = Signal(cfg.addr_bits)
        jobs_done = Signal(32)
        irq_enable = regs.control[0]

        counters = {name: Signal(64, name=f"count_{name.lower()}") for name, _ in COUNTERS}
        m.d.comb += [
            regs.id.eq(ID_MAGIC), regs.version.eq(VERSION),
            regs.config.eq(config_word(cfg)),
            regs.b_words.eq(cfg.b_words), regs.epilogue_rows.eq(cfg.epilogue_rows),
            regs.spgemm_cols.eq(cfg.spgemm_cols if has_spgemm else 0),
            regs.status.eq(Cat(busy, done, error)),
            regs.error_code.eq(error_code), regs.error_addr.eq(error_addr),
            regs.jobs_done.eq(jobs_done),
            self.irq.eq((done | error) & irq_enable),
        ]
        for name, sig in counters.items():
            m.d.comb += [getattr(regs, f"{name.lower()}_lo").eq(sig[:32]),
                         getattr(regs, f"{name.lower()}_hi").eq(sig[32:])]
        with m.If(regs.status_clear[1]):
            m.d.sync += done.eq(0)
        with m.If(regs.status_clear[2]):
            m.d.sync += error.eq(0)

        # The epilogue's parameter words as they arrive (stream 0, before B), ``param_lanes``
        # at a time: a multiplier must be 0 or in [2**30, 2**31), a shift in -31..30
        # (registered, a datapath error naming the word's address).
        param_row = Signal(range(cfg.epilogue_rows + 1))   # rows whose words are all in
        param_word = Signal(range(PARAM_WORDS))            # the kind of the next word
        param_addr = Signal(cfg.addr_bits)
        param_left = Signal(range(cfg.epilogue_rows * PARAM_WORDS + 1))  # elements to come
        param_odd = Signal()           # the last element holds one word (3 M words, 2 a time)
        param_bad = Signal()
        param_bad_addr = Signal(cfg.addr_bits)
        word_go = p_split.elements.valid & p_split.elements.ready
        param_last = param_left == 1
        lane_bad = []
        for j in range(param_lanes):
            w = p_split.elements.payload[32 * j:32 * (j + 1)]
            kind = Signal(range(PARAM_WORDS), name=f"param_kind{j}")
            row = Signal.like(param_row, name=f"param_row{j}")
            if j == 0:
                m.d.comb += [kind.eq(param_word), row.eq(param_row)]
            else:
                m.d.comb += [kind.eq(Mux(param_word == 2, 0, param_word + 1)),
                             row.eq(param_row + (param_word == 2))]
            en = word_go & (~(param_last & param_odd) if j else 1)
            lane = epi.param_wr[j]
            m.d.comb += [lane.en.eq(en), lane.row.eq(row), lane.word.eq(kind), lane.data.eq(w)]
            bad_multiplier = w[31] | ((w != 0) & ~w[30])
            bad_shift = (w.as_signed() < -31) | (w.as_signed() > 30)
            lane_bad.append(en & Mux(kind == 1, bad_multiplier, (kind == 2) & bad_shift))
        params_ready = Signal()        # the job's epilogue parameters are all in
        m.d.comb += epi.params_ready.eq(params_ready)
        m.d.sync += [param_bad.eq(Cat(*lane_bad).any()),
                     param_bad_addr.eq(param_addr + Mux(lane_bad[0], 0, 4))]
        with m.If(flush):
            m.d.sync += [param_row.eq(0), params_ready.eq(0)]
        with m.If(word_go):
            m.d.sync += [param_addr.eq(param_addr + 4 * param_lanes),
                         param_left.eq(param_left - 1)]
            if param_lanes == 1:
                m.d.sync += param_word.eq(Mux(param_word == 2, 0, param_word + 1))
                with m.If(param_word == 2):
                    m.d.sync += param_row.eq(param_row + 1)
            else:
                m.d.sync += param_word.eq(Mux(param_word == 0, 2, param_word - 1))
                with m.If(param_word != 0):
                    m.d.sync += param_row.eq(param_row + 1)

        # Error sources (first one wins; latched by the controller, one cycle later).
        err_now = Signal()
        err_code_now = Signal(8)
        err_addr_now = Signal(cfg.addr_bits)
        sources = [  # (raised, code, address), in priority order
            (reader.read_error, ErrorCode.AXI_READ_ERROR, reader.error_addr),
            (writer.write_error, ErrorCode.AXI_WRITE_ERROR, writer.error_addr),
            (reader.window_error, ErrorCode.OPERAND_OUTSIDE_WINDOW, reader.error_addr),
            (writer.window_error, ErrorCode.OPERAND_OUTSIDE_WINDOW, writer.error_addr),
            (scanner.error, scanner.error_code, desc_addr),
        ] + ([(loader.error, loader.error_code, desc_addr)] if has_spgemm else []) + [
            (param_bad, ErrorCode.BAD_EPILOGUE_PARAMETER, param_bad_addr),
        ]
        # Registered: the controller acts on a datapath error one cycle after it is raised.
        for i, (raised, code, addr) in enumerate(sources):
            with (m.If if i == 0 else m.Elif)(raised):
                m.d.sync += [err_now.eq(1), err_code_now.eq(code), err_addr_now.eq(addr)]
            if i == len(sources) - 1:
                with m.Else():
                    m.d.sync += err_now.eq(0)

        # --- controller -------------------------------------------------------------------
        b_addr = Signal(range(cfg.b_words))
        b_chunk = Signal(range(cfg.max_chunks))
        b_beat = Signal(range(max(words_per_b, 2)))
        b_shift = Signal(8 * L)
        desc_beat = Signal(range(DESCRIPTOR_BYTES // bb + 1))
        # Sizes computed in CHECK and SIZE, used in RANGES.
        rp_beats, col_beats, val_beats, b_beats = (Signal(32, name=n) for n in
                                                   ("rp_beats", "col_beats", "val_beats", "b_beats"))
        val_count = Signal(32)
        c_span = Signal(50)
        q_span = Signal(50)
        p_beats = Signal(32)
        c_rows_span = Signal(48)
        # (M - 1) x C_STRIDE, low / high half
        span_lo, span_hi = Signal(32, name="span_lo"), Signal(32, name="span_hi")
        m_minus_1 = Signal(16)
        dense_vals = Signal(33)
        bad_fields = Signal()
        b_needed = Signal(32)
        b_bank_needed = Signal(32)

        def inside(base, nbytes, end):
            return (nbytes == 0) | ((base >= window_base) & (end <= window_limit))

        def inside_now(base, nbytes):
            end = Signal(51)
            m.d.comb += end.eq(base + nbytes)
            return inside(base, nbytes, end)

        # An error found in a state is registered first (fail_*), then copied to ERROR_CODE /
        # ERROR_ADDR one cycle later, while the controller is already in ABORT.
        fail, fail_q = Signal(name="fail"), Signal(name="fail_q")
        fail_code, fail_code_q = Signal(8, name="fail_code"), Signal(8, name="fail_code_q")
        fail_addr = Signal(cfg.addr_bits, name="fail_addr")
        fail_addr_q = Signal(cfg.addr_bits, name="fail_addr_q")
        m.d.sync += fail_q.eq(fail)
        with m.If(fail):
            m.d.sync += [fail_code_q.eq(fail_code), fail_addr_q.eq(fail_addr)]
        with m.If(fail_q):
            m.d.sync += [error_code.eq(fail_code_q), error_addr.eq(fail_addr_q)]

        def latch_error(code, addr):
            m.d.comb += [fail.eq(1), fail_code.eq(code), fail_addr.eq(addr)]
            m.d.sync += aborting.eq(1)
            m.next = "ABORT"

        resetting = Signal()      # ABORT was entered by a soft reset: end quietly

        def datapath_errors():
            # Errors raised by the datapath while a job runs, then a soft reset; stated last
            # in each state so they win.
            with m.If(err_now):
                latch_error(err_code_now, err_addr_now)
            with m.If(regs.soft_reset_strobe):
                m.d.sync += [resetting.eq(1), aborting.eq(1)]
                m.next = "ABORT"

        # The two "everything has finished" conditions, registered: once true they stay true
        # (nothing new can start: the scanner is done / the engines are aborted), so acting
        # on them a cycle late is safe, and it keeps the engines' state off the controller's
        # next-state logic. Each is qualified by the state it is used in, so a stale value
        # from before the state never counts.
        drained = Signal()
        engines_idle = Signal()
        pes_idle = Cat(*(pe.idle for pe in pes)).all()
        ctrl_next_ok = Signal()    # a job ends without error (NEXT)
        sp_pass = Signal(2)                  # SpGEMM: the pass of B's CSR being loaded
        sp_col_base = Signal(cfg.addr_bits)  # SpGEMM: C's column indices and values
        sp_val_base = Signal(cfg.addr_bits)
        if has_spgemm:
            # The engine's row buffers are clear at power-on (block RAM contents) and after a
            # SpGEMM job that ends; after one that stopped part-way (an error, SOFT_RESET or a
            # reset), the next SpGEMM job scrubs them first. Neither ``flush`` nor the reset
            # clears this flag: the memories keep their contents through both.
            spgemm_dirty = Signal(reset_less=True)
            with m.If(engine.start):
                m.d.sync += spgemm_dirty.eq(1)
            with m.If(ctrl_next_ok & spgemm):
                m.d.sync += spgemm_dirty.eq(0)
            m.d.comb += [engine.scrub.eq(spgemm_dirty)]
            m.d.comb += [engine.m.eq(job.M[:16]), engine.capacity.eq(sp.C_CAPACITY),
                         engine.c_rowptr.eq(job.C_ADDR), engine.c_colidx.eq(sp_col_base),
                         engine.c_values.eq(sp_val_base)]

        with m.FSM(name="control") as ctrl:
            with m.State("IDLE"):
                with m.If(regs.soft_reset_strobe):
                    m.d.sync += [done.eq(0), error.eq(0), error_code.eq(0), error_addr.eq(0)]
                with m.Elif(regs.doorbell_strobe):
                    m.d.sync += [busy.eq(1), done.eq(0), error.eq(0), error_code.eq(0),
                                 error_addr.eq(0), jobs_done.eq(0), desc_addr.eq(regs.desc_addr),
                                 window_base.eq(regs.window_base),
                                 window_limit.eq(regs.window_limit), resetting.eq(0),
                                 flush.eq(1)]
                    m.next = "FLUSH"
            with m.State("FLUSH"):
                # ``flush`` is high in this cycle (set on the way in); the descriptor address
                # is checked here, registered, for FETCH.
                m.d.sync += desc_bad.eq((desc_addr[:6] != 0) |
                                        ~inside_now(desc_addr, DESCRIPTOR_BYTES))
                m.next = "FETCH"
                datapath_errors()
            with m.State("FETCH"):
                with m.If(desc_bad):
                    latch_error(ErrorCode.DESC_OUTSIDE_WINDOW, desc_addr)
                with m.Else():
                    m.d.comb += [reader.start0.eq(1), reader.addr0.eq(desc_addr),
                                 reader.beats0.eq(DESCRIPTOR_BYTES // bb)]
                    m.d.sync += desc_beat.eq(0)
                    m.next = "DESCRIPTOR"
                datapath_errors()
            with m.State("DESCRIPTOR"):
                m.d.comb += reader.data0.ready.eq(1)
                with m.If(reader.data0.valid):
                    m.d.sync += [desc_shift.eq(Cat(desc_shift[cfg.bus_bits:], reader.data0.payload)),
                                 desc_beat.eq(desc_beat + 1)]
                    with m.If(desc_beat == DESCRIPTOR_BYTES // bb - 1):
                        m.next = "DECODE"
                datapath_errors()
            with m.State("DECODE"):
                m.d.sync += [job.eq(desc_shift[:job.shape().size]),
                             csr.eq((desc_shift[:32] == MODE_CSR) |
                                    ((desc_shift[:32] == MODE_SPGEMM) if has_spgemm else 0))]
                if has_spgemm:
                    m.d.sync += spgemm.eq(desc_shift[:32] == MODE_SPGEMM)
                m.next = "CHECK"
                datapath_errors()
            # CHECK, SIZE, BOUNDS and SPAN check the descriptor and size its transfers, one
            # register stage each (products of fields in DSPs, then sums and comparisons).
            with m.State("CHECK"):
                n_chunks = (job.N + (L - 1)) >> (L.bit_length() - 1)
                align = DESCRIPTOR_ALIGN.bit_length() - 1
                misaligned = ((job.A_VALUES[:align] != 0) | (job.B_ADDR[:align] != 0) |
                              (job.C_ADDR[:chunk_bytes.bit_length() - 1] != 0) |
                              (int8_out & ((job.EPI_PARAMS[:align] != 0) |
                                           (job.Q_ADDR[:L.bit_length() - 1] != 0))) |
                              (csr & ((job.A_ROWPTR[:align] != 0) | (job.A_COLIDX[:align] != 0))))
                if has_spgemm:
                    # SpGEMM: B's arrays and C's region 64-byte aligned, only COLIDX16, C's
                    # capacity a multiple of the padding; K, N and B's entries in its limits
                    pad = cfg.spgemm_pad
                    misaligned = misaligned | (spgemm & ((sp.B_COLIDX[:align] != 0) |
                                                         (sp.B_VALUES[:align] != 0) |
                                                         (job.C_ADDR[:align] != 0)))
                    sizes_bad = Mux(spgemm,
                                    (job.K > cfg.spgemm_max_b_rows) | (job.N > cfg.spgemm_cols) |
                                    (sp.B_NNZ > cfg.spgemm_max_b_nnz) |
                                    ((job.FLAGS & (0xFFFF_FFFF ^ FLAG_COLIDX16)) != 0) |
                                    (sp.C_CAPACITY[:pad.bit_length() - 1] != 0) |
                                    (sp.C_CAPACITY >= (1 << 26)),
                                    (job.K > cfg.max_k) | (job.N > cfg.max_n) |
                                    (job.C_STRIDE[:(chunk_bytes.bit_length() - 1)] != 0))
                else:
                    sizes_bad = ((job.K > cfg.max_k) | (job.N > cfg.max_n) |
                                 (job.C_STRIDE[:(chunk_bytes.bit_length() - 1)] != 0))
                m.d.sync += [
                    chunks.eq(Mux(spgemm, 1, n_chunks)),
                    m_minus_1.eq(job.M[:16] - 1),
                    dense_vals.eq(job.M[:16] * job.K[:17]),
                    bad_fields.eq((job.MODE > (MODE_SPGEMM if has_spgemm else MODE_CSR)) |
                                  (job.FLAGS > (FLAG_ACCUMULATE | FLAG_COLIDX16 | FLAG_EPILOGUE)) |
                                  (int8_out & ((job.M > cfg.epilogue_rows) |
                                               (job.EPI_QUANT[24:] != 0) |
                                               (job.EPI_QUANT[8:16].as_signed() >
                                                job.EPI_QUANT[16:24].as_signed()))) |
                                  (job.M == 0) | (job.M > MAX_M) |
                                  (job.K == 0) | (job.N == 0) | sizes_bad |
                                  (csr & (job.NNZ > MAX_NNZ)) | misaligned),
                ]
                m.next = "SIZE"
                datapath_errors()
            with m.State("SIZE"):
                # the size checks go to a register, acted on in BOUNDS
                m.d.sync += size_bad.eq((~csr & (dense_vals >= MAX_DENSE_A_BYTES)) |
                                        (~spgemm & (job.C_STRIDE < chunks * chunk_bytes)))
                with m.If(bad_fields):
                    latch_error(ErrorCode.BAD_DESCRIPTOR, desc_addr)
                with m.Else():
                    nv = Mux(csr, job.NNZ[:22], dense_vals)
                    m.d.sync += [
                        b_needed.eq(job.K[:17] * chunks[:8]),
                        # words per bank: K per chunk a PE owns (groups of up to P PEs)
                        b_bank_needed.eq(job.K[:17] * ((chunks[:8] + P - 1) >> (P.bit_length() - 1))),
                        rp_beats.eq(Mux(csr, ((job.M[:16] + 1) * 4 + bb - 1) >> shift, 0)),
                        col_beats.eq(Mux(csr, (Mux(narrow, job.NNZ[:22] << 1, job.NNZ[:22] << 2) + bb - 1)
                                         >> shift, 0)),
                        val_count.eq(nv),
                        val_beats.eq((nv + bb - 1) >> shift),
                        p_beats.eq(Mux(spgemm, (Mux(narrow, sp.B_NNZ[:17] << 1, sp.B_NNZ[:17] << 2)
                                                 + bb - 1) >> shift,
                                       Mux(int8_out, (job.M[:16] * EPILOGUE_PARAM_BYTES + bb - 1)
                                           >> shift, 0))),
                        span_lo.eq(m_minus_1 * job.C_STRIDE[:16]),
                        span_hi.eq(m_minus_1 * job.C_STRIDE[16:]),
                    ]
                    m.next = "BOUNDS"
                datapath_errors()
            with m.State("BOUNDS"):
                with m.If(size_bad | (~spgemm & (b_bank_needed > cfg.b_words))):
                    latch_error(ErrorCode.BAD_DESCRIPTOR, desc_addr)
                with m.Else():
                    # (SpGEMM: B's K + 1 row pointers)
                    m.d.sync += [b_beats.eq(Mux(spgemm, ((job.K[:17] + 1) * 4 + bb - 1) >> shift,
                                                b_needed * words_per_b if words_per_b else
                                                (b_needed * L + bb - 1) >> shift)),
                                 c_rows_span.eq(span_lo + (span_hi << 16))]
                    # Smallest power-of-two group covering the chunks, at most all PEs.
                    m.d.sync += [group_shift.eq(P.bit_length() - 1), group_mask.eq(P - 1)]
                    for sh in reversed(range(P.bit_length() - 1)):
                        with m.If(chunks <= (1 << sh)):
                            m.d.sync += [group_shift.eq(sh), group_mask.eq((1 << sh) - 1)]
                    m.next = "SPAN"
                datapath_errors()
            with m.State("SPAN"):
                # the last row's chunks, to the end of the bus word the last one is in
                row_end = chunks * chunk_bytes
                if chunk_bytes < bb:
                    row_end = (row_end + bb - 1) & ~(bb - 1)
                # the int8 output (epilogue): C's rows at a quarter of the stride; C itself is
                # only read back when accumulating
                q_row_end = chunks * L
                if L < bb:
                    q_row_end = (q_row_end + bb - 1) & ~(bb - 1)
                m.d.sync += [c_span.eq(Mux(int8_out & ~flags.accumulate, 0, c_rows_span + row_end)),
                             q_span.eq(Mux(int8_out, (c_rows_span >> 2) + q_row_end, 0))]
                if has_spgemm:
                    # C: row pointers (padded), then C_CAPACITY column indices and values;
                    # B's values (Q_ADDR) to the end of their last beat
                    rp_bytes = ((job.M[:16] + pad) & ~Const(pad - 1, 17)) << 2
                    with m.If(spgemm):
                        m.d.sync += [c_span.eq(rp_bytes + (sp.C_CAPACITY[:26] << 3)),
                                     q_span.eq(((sp.B_NNZ[:17] + bb - 1) >> shift) << shift),
                                     sp_col_base.eq(job.C_ADDR + rp_bytes)]
                m.next = "ENDS"
                datapath_errors()
            ranges = [(job.A_ROWPTR, rp_beats << shift), (job.A_COLIDX, col_beats << shift),
                      (job.A_VALUES, val_beats << shift), (job.B_ADDR, b_beats << shift),
                      (job.C_ADDR, c_span), (job.EPI_PARAMS, p_beats << shift),
                      (job.Q_ADDR, q_span)]
            range_ends = [Signal(51, name=f"range_end{i}") for i in range(len(ranges))]
            outside = Signal(len(ranges))
            any_outside = Signal()     # outside != 0, its own register: RANGES starts every
                                       # stream on it, so it is a register away from them
            with m.State("ENDS"):
                m.d.sync += [end.eq(base + nbytes) for end, (base, nbytes) in zip(range_ends, ranges)]
                m.d.sync += sp_val_base.eq(sp_col_base + (sp.C_CAPACITY[:26] << 2))
                m.next = "WINDOW"
                datapath_errors()
            with m.State("WINDOW"):
                out_now = Cat(~inside(base, nbytes, end)
                              for end, (base, nbytes) in zip(range_ends, ranges))
                m.d.sync += [outside.eq(out_now), any_outside.eq(out_now.any())]
                # B's load position, ready for LOAD_B (set here, not on the window check's
                # outcome: nothing reads it before LOAD_B)
                m.d.sync += [b_addr.eq(0), b_chunk.eq(0), b_row.eq(0), b_beat.eq(0),
                             b_last_row.eq(job.K == 1), b_last_chunk.eq(chunks == 1)]
                m.next = "RANGES"
                datapath_errors()
            def start_b():
                m.d.comb += [reader.start0.eq(1), reader.addr0.eq(job.B_ADDR),
                             reader.beats0.eq(b_beats)]
                if words_per_b == 0:
                    m.d.comb += [b_split.start.eq(1), b_split.count.eq(b_needed)]
                m.next = "LOAD_B"

            def start_params():
                elements = (job.M[:16] * PARAM_WORDS + 1) >> 1 if param_lanes == 2 else \
                    job.M[:16] * PARAM_WORDS
                m.d.comb += [reader.start0.eq(1), reader.addr0.eq(job.EPI_PARAMS),
                             reader.beats0.eq(p_beats),
                             p_split.start.eq(1), p_split.count.eq(elements)]
                m.d.sync += [param_row.eq(0), param_word.eq(0), param_addr.eq(job.EPI_PARAMS),
                             param_left.eq(elements), param_odd.eq(job.M[0]),
                             params_ready.eq(0)]
                m.next = "LOAD_PARAMS"

            with m.State("RANGES"):
                with m.If(any_outside):
                    for i, (base, _) in enumerate(ranges):     # the first outside is reported
                        with (m.If if i == 0 else m.Elif)(outside[i]):
                            latch_error(ErrorCode.OPERAND_OUTSIDE_WINDOW, base)
                with m.Else():
                    m.d.comb += [
                        reader.start1.eq(1), reader.addr1.eq(job.A_ROWPTR), reader.beats1.eq(rp_beats),
                        reader.start2.eq(1), reader.addr2.eq(job.A_COLIDX), reader.beats2.eq(col_beats),
                        reader.start3.eq(1), reader.addr3.eq(job.A_VALUES), reader.beats3.eq(val_beats),
                        row_ptrs.start.eq(1), row_ptrs.count.eq(Mux(csr, job.M[:16] + 1, 0)),
                        col_idxs.start.eq(1),
                        col_idxs.count.eq(Mux(csr, Mux(narrow, job.NNZ, job.NNZ << 1), 0)),
                        values.start.eq(1), values.count.eq(val_count),
                        scanner.start.eq(1),
                    ]
                    if has_spgemm:
                        with m.If(spgemm):
                            m.d.sync += sp_pass.eq(PASS_ROW_POINTERS)
                            m.next = "SP_START"
                    with (m.Elif if has_spgemm else m.If)(int8_out):
                        # the epilogue's parameters first, so that C rows finished while B
                        # loads can leave at once (their writes overlap B's reads)
                        start_params()
                    with m.Else():
                        start_b()
                datapath_errors()
            with m.State("LOAD_PARAMS"):
                m.d.comb += [reader.urgent.eq(1),
                             p_split.beats.payload.eq(reader.data0.payload),
                             p_split.beats.valid.eq(reader.data0.valid),
                             reader.data0.ready.eq(p_split.beats.ready),
                             p_split.elements.ready.eq(1)]
                with m.If(word_go & param_last):     # the last word: B next, on stream 0
                    m.d.sync += params_ready.eq(1)
                    m.next = "START_B"
                datapath_errors()
            if has_spgemm:
                # SpGEMM: B's row pointers, column indices and values, one pass each on
                # stream 0 (A's streams read ahead meanwhile); then the engine starts
                with m.State("SP_START"):
                    passes = {PASS_ROW_POINTERS: (sp.B_ROWPTR, b_beats, job.K[:17] + 1,
                                                  sp.B_NNZ),
                              PASS_COLUMNS: (sp.B_COLIDX, p_beats, sp.B_NNZ, job.N),
                              PASS_VALUES: (sp.B_VALUES, q_span >> shift,
                                            (sp.B_NNZ + 3) >> 2, 0)}
                    with m.Switch(sp_pass):
                        for kind, (addr, beats, count, limit) in passes.items():
                            with m.Case(kind):
                                m.d.comb += [reader.addr0.eq(addr), reader.beats0.eq(beats),
                                             loader.count.eq(count), loader.limit.eq(limit)]
                    m.d.comb += [reader.start0.eq(1), loader.start.eq(1),
                                 loader.kind.eq(sp_pass), loader.narrow.eq(narrow)]
                    m.next = "SP_LOAD"
                    datapath_errors()
                with m.State("SP_LOAD"):
                    m.d.comb += [reader.urgent.eq(1), loader.beats.payload.eq(reader.data0.payload),
                                 loader.beats.valid.eq(reader.data0.valid),
                                 reader.data0.ready.eq(loader.beats.ready),
                                 b_wr_addr.eq(loader.wr_addr), b_wr_data.eq(loader.wr_data),
                                 b_wr_chunk.eq(loader.wr_bank), b_wr_en.eq(loader.wr_en)]
                    with m.If(loader.done):
                        with m.If(sp_pass == PASS_VALUES):
                            m.d.comb += [engine.start.eq(1)]
                            m.next = "RUN"
                        with m.Else():
                            m.d.sync += sp_pass.eq(sp_pass + 1)
                            m.next = "SP_START"
                    datapath_errors()
            with m.State("START_B"):
                start_b()
                datapath_errors()
            with m.State("LOAD_B"):
                # B before A's read-ahead while the PEs have recently waited for B
                m.d.comb += reader.urgent.eq(b_hold != 0)
                # DRAM holds B row-major (K rows of chunks*L bytes); chunk c of row k goes to
                # the banks of the PEs owning c, word (c div G)*K + k.
                beat = reader.data0.payload
                if words_per_b == 0:
                    # a beat holds several words: split it, one word per cycle
                    m.d.comb += [b_split.beats.payload.eq(beat),
                                 b_split.beats.valid.eq(reader.data0.valid),
                                 reader.data0.ready.eq(b_split.beats.ready),
                                 b_split.elements.ready.eq(1)]
                    word = b_split.elements.payload
                    word_done = b_split.elements.valid
                else:
                    m.d.comb += reader.data0.ready.eq(1)
                if words_per_b == 1:
                    word = beat
                    word_done = reader.data0.valid
                elif words_per_b > 1:
                    word = Cat(b_shift[cfg.bus_bits:], beat)
                    word_done = reader.data0.valid & (b_beat == words_per_b - 1)
                    with m.If(reader.data0.valid):
                        m.d.sync += [b_shift.eq(word), b_beat.eq(b_beat + 1)]
                        with m.If(b_beat == words_per_b - 1):
                            m.d.sync += b_beat.eq(0)
                m.d.comb += [b_wr_addr.eq(b_addr), b_wr_data.eq(word), b_wr_chunk.eq(b_chunk),
                             b_wr_en.eq(word_done)]
                with m.If(word_done):
                    with m.If(b_last_chunk):
                        m.d.sync += [b_chunk.eq(0), b_row.eq(b_row + 1), b_addr.eq(b_row + 1),
                                     b_last_row.eq(b_row + 2 == job.K),
                                     b_last_chunk.eq(chunks == 1)]
                        with m.If(b_last_row):              # the last word of B
                            m.next = "RUN"
                    with m.Else():
                        m.d.sync += [b_chunk.eq(b_chunk + 1),
                                     b_last_chunk.eq(b_chunk + 2 == chunks)]
                        # the next chunk is its bank's next slot when it wraps the group
                        with m.If(((b_chunk + 1) & group_mask) == 0):
                            m.d.sync += b_addr.eq(b_addr + job.K)
                datapath_errors()
            with m.State("RUN"):
                # Stream 0 (B is loaded) reads back old C chunks for the accumulate stage.
                m.d.comb += [reader.start0.eq(acc.rd_start), reader.addr0.eq(acc.rd_addr),
                             reader.beats0.eq(acc.rd_beats), acc.rd_allowed.eq(1),
                             acc.rd_data.valid.eq(reader.data0.valid),
                             reader.data0.ready.eq(acc.rd_data.ready)]
                with m.If(drained):
                    m.next = "NEXT"
                datapath_errors()
            with m.State("NEXT"):
                with m.If(err_now):        # raised in the job's last cycle
                    latch_error(err_code_now, err_addr_now)
                if has_spgemm:
                    with m.Elif(spgemm & engine.overflow):
                        latch_error(ErrorCode.OUTPUT_OVERFLOW, job.C_ADDR)
                with m.Else():
                    m.d.comb += ctrl_next_ok.eq(1)
                    m.d.sync += jobs_done.eq(jobs_done + 1)
                    with m.If(job.NEXT != 0):
                        m.d.sync += [desc_addr.eq(job.NEXT), flush.eq(1)]
                        m.next = "FLUSH"
                    with m.Else():
                        m.d.sync += [busy.eq(0), done.eq(1)]
                        m.next = "IDLE"
                with m.If(regs.soft_reset_strobe):
                    m.d.sync += [resetting.eq(1), busy.eq(1), done.eq(0), aborting.eq(1)]
                    m.next = "ABORT"
            with m.State("ABORT"):
                with m.If(regs.soft_reset_strobe):
                    m.d.sync += resetting.eq(1)
                with m.If(engines_idle):
                    m.d.sync += [flush.eq(1), aborting.eq(0), busy.eq(0),
                                 error.eq(~resetting & ~regs.soft_reset_strobe),
                                 resetting.eq(0)]
                    with m.If(resetting | regs.soft_reset_strobe):
                        m.d.sync += [error_code.eq(0), error_addr.eq(0)]
                    m.next = "IDLE"

        m.d.comb += [reader.abort.eq(aborting | flush), writer.abort.eq(aborting | flush)]
        m.d.sync += [
            drained.eq(ctrl.ongoing("RUN") & scanner.done & pes_idle &
                       ((~spgemm | engine.finished) if has_spgemm else 1) &
                       ~results_pending & writer.idle),
            engines_idle.eq(ctrl.ongoing("ABORT") & reader.idle & writer.idle),
        ]

        # --- performance counters ---------------------------------------------------------
        # The events of each cycle are registered first and counted one cycle later (all of
        # them, so the counters stay consistent with one another).
        def late(value, name):
            reg = Signal(len(Value.cast(value)), name=f"event_{name}")
            m.d.sync += reg.eq(value)
            return reg
        busy_d = late(busy, "busy")
        issue = [late(pe.issue, f"issue{i}") for i, pe in enumerate(pes)]
        stalled = [late(pe.stalled, f"stalled{i}") for i, pe in enumerate(pes)]
        effectual_pe = [late(pe.effectual, f"effectual{i}") for i, pe in enumerate(pes)]
        running = late(ctrl.ongoing("RUN"), "running")
        scan_done = late(scanner.done, "scan_done")
        scan_blocked = late(scanner.blocked, "scan_blocked")
        read_beat = late(reader.beat, "read_beat")
        write_beat = late(writer.beat, "write_beat")

        m.d.sync += counters["CYCLES_BUSY"].eq(counters["CYCLES_BUSY"] + busy_d)
        lane_slots = sum(x.as_unsigned() for x in issue) * L
        effectual = sum(x.as_unsigned() for x in effectual_pe)
        if has_spgemm:
            # the SpGEMM engine: its products are effectual MACs (LANE_SLOTS and the stall
            # counters stay the PE array's, idle in a SpGEMM job)
            products = late(engine.products, "products")
            touched = late(engine.touched, "touched")
            emit = late(engine.emit, "emit")
            effectual = effectual + late(engine.effectual, "sp_effectual")
            with m.If(busy_d):
                # merges: products less the distinct columns they touched (each column is
                # written out once, after its products)
                m.d.sync += [
                    counters["PARTIAL_PRODUCTS"].eq(counters["PARTIAL_PRODUCTS"] + products),
                    counters["MERGES"].eq(counters["MERGES"] + products - touched),
                    counters["OUTPUT_NNZ"].eq(counters["OUTPUT_NNZ"] + emit),
                ]
        # Every busy PE-cycle is issuing or exactly one of: memory, imbalance, drain.
        stall_mem = sum((~iss & (st | ~(running & (scan_done | scan_blocked)))).as_unsigned()
                        for iss, st in zip(issue, stalled))
        stall_imb = sum((~iss & ~st & running & ~scan_done & scan_blocked).as_unsigned()
                        for iss, st in zip(issue, stalled))
        stall_drain = sum((~iss & ~st & running & scan_done).as_unsigned()
                          for iss, st in zip(issue, stalled))
        with m.If(busy_d):
            m.d.sync += [
                counters["LANE_SLOTS"].eq(counters["LANE_SLOTS"] + lane_slots),
                counters["EFFECTUAL_MACS"].eq(counters["EFFECTUAL_MACS"] + effectual),
                counters["STALL_MEMORY"].eq(counters["STALL_MEMORY"] + stall_mem),
                counters["STALL_IMBALANCE"].eq(counters["STALL_IMBALANCE"] + stall_imb),
                counters["STALL_DRAIN"].eq(counters["STALL_DRAIN"] + stall_drain),
            ]
        m.d.sync += [
            counters["DRAM_BYTES_READ"].eq(counters["DRAM_BYTES_READ"] + Mux(read_beat, bb, 0)),
            # a chunk narrower than the bus is one strobed beat: its bytes are what is written
            counters["DRAM_BYTES_WRITTEN"].eq(counters["DRAM_BYTES_WRITTEN"] +
                                              Mux(write_beat, Mux(int8_out, min(bb, L),
                                                                  min(bb, chunk_bytes)), 0)),
        ]
        with m.If(ctrl.ongoing("IDLE") & regs.doorbell_strobe):
            m.d.sync += [sig.eq(0) for sig in counters.values()]
        return m
