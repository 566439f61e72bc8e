"""The register map and the job descriptor format: facts of the hardware, as plain data.

The AXI4-Lite register file elaborates from ``REGISTERS``; the firmware driver and the README
generator read the same tables. Offsets are byte addresses of 32-bit registers.
"""
from dataclasses import dataclass
from enum import IntEnum

__all__ = ["Register", "REGISTERS", "REG", "COUNTERS", "DescriptorField", "DESCRIPTOR_FIELDS",
           "DESC", "DESCRIPTOR_BYTES", "DESCRIPTOR_ALIGN", "ErrorCode", "Status", "Control",
           "ID_MAGIC", "VERSION", "MODE_DENSE", "MODE_CSR", "MODE_SPGEMM", "SPGEMM_FIELDS", "FLAG_ACCUMULATE", "FLAG_COLIDX16",
           "FLAG_EPILOGUE", "EPILOGUE_PARAM_BYTES", "MAX_M", "MAX_NNZ",
           "MAX_DENSE_A_BYTES", "Field", "FIELDS", "config_word", "decode_fields",
           "markdown_table"]

ID_MAGIC = 0x5A54_494C   # "ZTIL"
VERSION = 0x0000_0300    # 0.3.0 as major<<16 | minor<<8 | patch


@dataclass(frozen=True)
class Register:
    name: str
    offset: int
    access: str          # "ro", "rw", "w1c" (write one to clear), "wo" (write-only strobe)
    description: str


class Status(IntEnum):
    """Bits of STATUS."""
    BUSY = 1 << 0
    DONE = 1 << 1     # w1c: the last chain finished without error
    ERROR = 1 << 2    # w1c: the last chain stopped on an error (see ERROR_CODE / ERROR_ADDR)


class Control(IntEnum):
    """Bits of CONTROL."""
    IRQ_ENABLE = 1 << 0


class ErrorCode(IntEnum):
    NONE = 0
    DESC_OUTSIDE_WINDOW = 1   # the descriptor address is outside the DMA window or misaligned
    BAD_DESCRIPTOR = 2        # unknown mode, zero or too-large dimensions, misaligned address
    OPERAND_OUTSIDE_WINDOW = 3  # an operand or result range leaves the DMA window
    AXI_READ_ERROR = 4        # SLVERR/DECERR on a read (ERROR_ADDR: burst address)
    AXI_WRITE_ERROR = 5       # SLVERR/DECERR on a write (ERROR_ADDR: burst address)
    BAD_ROW_POINTERS = 6      # row_ptr[0] != 0, decreasing, beyond nnz, or row_ptr[M] != nnz
    COLUMN_OUT_OF_RANGE = 7   # a column index >= K
    BAD_EPILOGUE_PARAMETER = 8  # a multiplier not 0 or in [2**30, 2**31), or a shift outside
                                # -31..30 (ERROR_ADDR: the word's address)
    OUTPUT_OVERFLOW = 9       # SpGEMM: C has more nonzeros than C_CAPACITY (OUTPUT_NNZ says
                              # how many); nothing was written past the capacity


_REG_LIST = [
    ("ID", "ro", f"Identification, reads 0x{ID_MAGIC:08X} ('ZTIL')."),
    ("VERSION", "ro", "Hardware version, major<<16 | minor<<8 | patch."),
    ("CONFIG", "ro", "pes[7:0], lanes[15:8], bus_bits/8[23:16], max_chunks[31:24]."),
    ("B_WORDS", "ro", "Depth of each PE's B scratchpad bank in words of `lanes` bytes."),
    ("EPILOGUE_ROWS", "ro", "Most rows (M) of a job with FLAGS.EPILOGUE: the depth of the "
                            "epilogue's per-row parameter memory."),
    ("CONTROL", "rw", "bit 0: interrupt enable."),
    ("STATUS", "w1c", "bit 0 busy (ro), bit 1 done (w1c), bit 2 error (w1c). The interrupt is "
                      "(done or error) and enabled."),
    ("ERROR_CODE", "ro", "Why the last chain stopped (ErrorCode); 0 after a clean chain."),
    ("ERROR_ADDR", "ro", "Address involved in the error (descriptor, operand base or burst)."),
    ("DESC_ADDR", "rw", "DRAM address of the first job descriptor (64-byte aligned)."),
    ("DOORBELL", "wo", "Write any value: run the descriptor chain starting at DESC_ADDR (ignored while busy)."),
    ("WINDOW_BASE", "rw", "Lowest DRAM address the DMA may touch (sampled at DOORBELL)."),
    ("WINDOW_LIMIT", "rw", "One past the highest DRAM address the DMA may touch (sampled at "
                           "DOORBELL: moving the window does not affect a running chain)."),
    ("JOBS_DONE", "ro", "Descriptors completed in the current/last chain."),
    ("SOFT_RESET", "wo", "Write any value: soft reset. A running chain stops issuing, waits for "
                         "its AXI transactions in flight, clears the datapath and goes idle "
                         "with STATUS done and error clear (no interrupt); counters are kept."),
    ("SPGEMM_COLS", "ro", "Widest C (N) of a SpGEMM job: the depth of the SpGEMM engine's row "
                          "accumulator; 0 when the tile has no SpGEMM engine."),
]
COUNTERS = [
    ("CYCLES_BUSY", "Cycles from doorbell to the end of the chain."),
    ("LANE_SLOTS", "MAC lane-slots issued (L per PE per issuing cycle)."),
    ("EFFECTUAL_MACS", "Lane-slots whose operands were both nonzero."),
    ("STALL_MEMORY", "PE-cycles idle waiting for memory (descriptor, B load, A stream, C write)."),
    ("STALL_IMBALANCE", "PE-cycles idle while the scanner waited on another PE's full queue."),
    ("STALL_DRAIN", "PE-cycles idle after the A stream ended, while other PEs and writes finish."),
    ("DRAM_BYTES_READ", "Bytes read over AXI4 (full beats)."),
    ("DRAM_BYTES_WRITTEN", "Bytes written over AXI4 (strobed bytes of each W beat)."),
    ("PARTIAL_PRODUCTS", "SpGEMM: partial products A[i,k]*B[k,j] formed (B entries walked for "
                         "the nonzeros of A)."),
    ("MERGES", "SpGEMM: partial products added to a column of C's row already touched."),
    ("OUTPUT_NNZ", "SpGEMM: nonzeros of C (entries whose sum is not 0), written or not."),
]

REGISTERS = [Register(name, 4 * i, access, desc) for i, (name, access, desc) in enumerate(_REG_LIST)]


@dataclass(frozen=True)
class Field:
    """A bit field of a register: bits ``lsb .. lsb+width-1``."""
    name: str
    lsb: int
    width: int
    access: str
    description: str

    @property
    def mask(self):
        return ((1 << self.width) - 1) << self.lsb

    def get(self, word):
        return (word & self.mask) >> self.lsb


# The fields of the registers that have them (the others are one 32-bit value).
FIELDS = {
    "VERSION": [Field("PATCH", 0, 8, "ro", "Patch version."),
                Field("MINOR", 8, 8, "ro", "Minor version."),
                Field("MAJOR", 16, 16, "ro", "Major version: a driver refuses another major.")],
    "CONFIG": [Field("PES", 0, 8, "ro", "Processing elements P."),
               Field("LANES", 8, 8, "ro", "int8 MAC lanes per PE L."),
               Field("BUS_BYTES", 16, 8, "ro", "AXI4 data width in bytes."),
               Field("MAX_CHUNKS", 24, 8, "ro", "Accumulator words per PE (N <= max_chunks*L).")],
    "CONTROL": [Field("IRQ_ENABLE", 0, 1, "rw", "Raise irq when a chain ends.")],
    "STATUS": [Field("BUSY", 0, 1, "ro", "A chain is running."),
               Field("DONE", 1, 1, "w1c", "The last chain finished without error."),
               Field("ERROR", 2, 1, "w1c", "The last chain stopped on an error.")],
}


def config_word(config):
    """The value of CONFIG for a ``TileConfig``."""
    values = {"PES": config.pes, "LANES": config.lanes, "BUS_BYTES": config.bus_bytes,
              "MAX_CHUNKS": config.max_chunks}
    return sum(values[f.name] << f.lsb for f in FIELDS["CONFIG"])


def decode_fields(register, word):
    """{field name (lower case): value} of one register's value."""
    return {f.name.lower(): f.get(word) for f in FIELDS[register]}
_COUNTER_BASE = 0x40
for _i, (_name, _desc) in enumerate(COUNTERS):
    REGISTERS.append(Register(f"{_name}_LO", _COUNTER_BASE + 8 * _i, "ro", _desc + " Bits 31:0."))
    REGISTERS.append(Register(f"{_name}_HI", _COUNTER_BASE + 8 * _i + 4, "ro", "Bits 63:32."))
REG = {r.name: r.offset for r in REGISTERS}


MODE_DENSE = 0
MODE_CSR = 1
MODE_SPGEMM = 2
FLAG_ACCUMULATE = 1           # FLAGS bit 0
FLAG_COLIDX16 = 2             # FLAGS bit 1
FLAG_EPILOGUE = 4             # FLAGS bit 2
EPILOGUE_PARAM_BYTES = 12     # per output row: int32 bias, multiplier, shift

# Limits of one job, whatever the configuration (the B scratchpad adds
# K x ceil(chunks / pes) <= b_words: each PE's bank holds K words per chunk it owns).
MAX_M = 65535                 # rows of A
MAX_NNZ = (1 << 22) - 1       # stored entries of a CSR A
MAX_DENSE_A_BYTES = 1 << 28   # M x K of a dense A (the read engine's per-stream beat count)


@dataclass(frozen=True)
class DescriptorField:
    name: str
    word: int
    description: str


_DESC_LIST = [
    ("MODE", "0: dense A (row-major int8, row stride K), 1: CSR A, 2: SpGEMM (CSR A times CSR "
             "B, C written as CSR; words 9, 11, 13-15 then hold B and C's capacity, see "
             "SPGEMM_FIELDS)."),
    ("NEXT", "Address of the next descriptor, 0 ends the chain."),
    ("M", "Rows of A and C (1..65535)."),
    ("K", "Columns of A, rows of B (1..b_words; SpGEMM: 1..lanes/2*(b_words-1)-2)."),
    ("N", "Columns of B and C in this job (1..max_chunks*lanes; SpGEMM: 1..SPGEMM_COLS)."),
    ("NNZ", "CSR: stored entries of A (ignored in dense mode)."),
    ("A_ROWPTR", "CSR: address of M+1 int32 row pointers, 64-byte aligned."),
    ("A_COLIDX", "CSR: address of NNZ column indices: int32, or uint16 with FLAGS.COLIDX16; "
                 "64-byte aligned."),
    ("A_VALUES", "Address of A's int8 values (CSR: NNZ of them; dense: M*K), 64-byte aligned."),
    ("B_ADDR", "Address of B, 64-byte aligned: K rows of ceil(N/L)*L int8, zero-padded. "
               "SpGEMM (B_ROWPTR): "
               "B's K+1 int32 row pointers."),
    ("C_ADDR", "Address of C's first element (int32), aligned to 4*L bytes. SpGEMM: C's "
               "region, 64-byte aligned: row pointers (M+1 int32, padded to a multiple of "
               "max(16, L)), then C_CAPACITY int32 column indices, then C_CAPACITY int32 "
               "values; whole chunks of L int32 are written, unused slots 0."),
    ("C_STRIDE", "Bytes between rows of C; a multiple of 4*L. SpGEMM (B_NNZ): B's stored "
                 "entries (1..lanes/2*b_words, at most 65,535)."),
    ("FLAGS", "bit 0 ACCUMULATE: C += A.B (the old C is read back, inside the window); bit 1 "
              "COLIDX16: CSR column indices are uint16 (3 bytes per nonzero instead of 5; SpGEMM: "
              "A's and B's); bit 2 "
              "EPILOGUE: int8 output through the requantisation epilogue (bias, multiplier, "
              "shift per row, zero point, clamp), written at Q_ADDR (C is then only read, when "
              "accumulating); other bits reserved (0)."),
    ("EPI_PARAMS", "SpGEMM (B_COLIDX): address of B's B_NNZ column indices (int32, or "
                   "uint16 with FLAGS.COLIDX16). "
                   "EPILOGUE: 64-byte aligned address of M rows of {int32 bias, int32 "
                   "multiplier, int32 shift} "
                   "(12 bytes per row; per tensor: the same values on every row)."),
    ("EPI_QUANT", "SpGEMM (C_CAPACITY): entries C's column-index and value arrays hold, a "
                  "multiple of max(16, L). EPILOGUE: output zero point [7:0], act_min [15:8], act_max [23:16] (int8 "
                  "each, act_min <= act_max; ReLU: act_min = zero point); [31:24] reserved (0)."),
    ("Q_ADDR", "SpGEMM (B_VALUES): address of B's B_NNZ int8 values. EPILOGUE: address of the int8 output's first element, aligned to L bytes; its "
               "rows are C_STRIDE / 4 bytes apart (C's layout with 1-byte elements: with "
               "C_STRIDE = 4 * ceil(N/L) * L it is exactly the next layer's B)."),
]
DESCRIPTOR_FIELDS = [DescriptorField(n, i, d) for i, (n, d) in enumerate(_DESC_LIST)]
DESC = {f.name: f.word for f in DESCRIPTOR_FIELDS}
# SpGEMM's names for the words it uses differently (``pack_descriptor`` takes either).
SPGEMM_FIELDS = {"B_ROWPTR": "B_ADDR", "B_COLIDX": "EPI_PARAMS", "B_VALUES": "Q_ADDR",
                 "B_NNZ": "C_STRIDE", "C_CAPACITY": "EPI_QUANT"}
DESCRIPTOR_BYTES = 64    # 16 words; unused words are reserved (write 0)
DESCRIPTOR_ALIGN = 64    # descriptors and the A and B arrays start on this boundary


def _cell(text):
    """Text for a Markdown table cell: a ``|`` inside it would end the cell."""
    return str(text).replace("|", "\\|")


def _row(*cells):
    return "| " + " | ".join(_cell(c) for c in cells) + " |"


def markdown_table():
    """The register map as Markdown tables (docs/register-map.md is this text)."""
    lines = ["| offset | name | access | description |", "|---|---|---|---|"]
    for r in REGISTERS:
        lines.append(_row(f"0x{r.offset:02X}", r.name, r.access, r.description))
    lines += ["", "Register fields (the registers not listed are one 32-bit value):", "",
              "| register | field | bits | access | description |", "|---|---|---|---|---|"]
    for reg, fields in FIELDS.items():
        for f in fields:
            bits = f"{f.lsb + f.width - 1}:{f.lsb}" if f.width > 1 else f"{f.lsb}"
            lines.append(_row(reg, f.name, bits, f.access, f.description))
    lines += ["", "Job descriptor (16 little-endian 32-bit words, 64-byte aligned):", "",
              "| word | field | meaning |", "|---|---|---|"]
    for f in DESCRIPTOR_FIELDS:
        lines.append(_row(f.word, f.name, f.description))
    lines += ["", "Error codes (ERROR_CODE):", "", "| code | name |", "|---|---|"]
    for e in ErrorCode:
        lines.append(_row(int(e), e.name))
    return "\n".join(lines)


def _check_fields():
    # The enums the RTL and the driver use must say what FIELDS says.
    assert {f.name: f.mask for f in FIELDS["STATUS"]} == {s.name: int(s) for s in Status}
    assert {f.name: f.mask for f in FIELDS["CONTROL"]} == {c.name: int(c) for c in Control}


_check_fields()
