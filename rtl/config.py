"""Generator parameters of the tile: plain Python data, readable without elaborating anything."""
from dataclasses import dataclass, asdict

__all__ = ["TileConfig", "SPGEMM_COLS"]

SPGEMM_COLS = 2048      # the SpGEMM engine's row accumulator when it is asked for


def _is_pow2(x):
    return isinstance(x, int) and x > 0 and (x & (x - 1)) == 0


@dataclass(frozen=True)
class TileConfig:
    """Parameters of one zerotile accelerator.

    pes           P, processing elements; rows of A are dealt to them.
    lanes         L, int8 multiply lanes per PE (columns of B processed per PE per cycle).
    bus_bits      AXI4 data width towards DRAM.
    b_words       depth of each PE's B scratchpad bank in words of ``lanes`` bytes. A bank holds
                  the chunks (``lanes`` columns of B) its PE owns, K words each: a job fits
                  when K x ceil(chunks / pes) <= b_words (``chunks_fitting``).
    max_chunks    accumulator depth per PE in words of ``lanes`` int32: N <= max_chunks * lanes
                  per job (the firmware tiles wider B into several jobs).
    pe_fifo_depth entries queued per PE between the operand scanner and the PE, per lane of
                  its queue (``scan_width`` lanes).
    scan_width    W, entries of A the operand scanner deals per cycle at most (all of one row,
                  to one PE group): with fewer chunks than PEs, up to W groups keep busy.
    max_burst     longest AXI4 INCR burst issued, in beats.
    read_fifo_beats  per-stream read buffer; bounds the reads in flight per stream.
    epilogue_rows depth of the epilogue's per-row parameter memory: the most rows (M) of a job
                  with int8 output (the firmware cuts taller layers into row blocks).
    spgemm_cols   depth of the SpGEMM engine's dense row accumulators: the widest C (N) of
                  one SpGEMM job (``MODE_SPGEMM``); 0 (the default) leaves the engine out,
                  and ``with_spgemm()`` adds it (``SPGEMM_COLS`` = 2,048 columns; two row
                  buffers per product lane, ``lanes`` x ``spgemm_cols`` int32 of BRAM in all).
                  Opt-in while its ECP5 timing is open (the tile with the engine does not
                  reach 100 MHz yet). The engine keeps B's CSR in the first four
                  scratchpad banks, so it needs ``pes >= 4`` and ``lanes >= 4``
                  (``has_spgemm``).
    """
    pes: int = 4
    lanes: int = 8
    bus_bits: int = 64
    b_words: int = 4096
    max_chunks: int = 8
    pe_fifo_depth: int = 32
    scan_width: int = 2
    max_burst: int = 16
    read_fifo_beats: int = 64
    epilogue_rows: int = 4096
    spgemm_cols: int = 0
    addr_bits: int = 32

    def __post_init__(self):
        if not _is_pow2(self.pes):
            raise ValueError(f"pes must be a power of two, not {self.pes!r}")
        if not _is_pow2(self.lanes) or self.lanes < 2:
            raise ValueError(f"lanes must be a power of two >= 2, not {self.lanes!r}")
        if self.bus_bits not in (32, 64, 128, 256):
            raise ValueError(f"bus_bits must be 32, 64, 128 or 256, not {self.bus_bits!r}")
        if not _is_pow2(self.b_words) or self.b_words < 16:
            raise ValueError(f"b_words must be a power of two >= 16, not {self.b_words!r}")
        if not _is_pow2(self.max_chunks) or self.max_chunks < 2:
            raise ValueError(f"max_chunks must be a power of two >= 2, not {self.max_chunks!r}")
        if not _is_pow2(self.pe_fifo_depth) or self.pe_fifo_depth < 4:
            raise ValueError(f"pe_fifo_depth must be a power of two >= 4 (one entry per lane is "
                             f"kept in reserve), not {self.pe_fifo_depth!r}")
        if not _is_pow2(self.scan_width) or self.scan_width > 8:
            raise ValueError(f"scan_width must be a power of two in 1..8, not "
                             f"{self.scan_width!r}")
        if not _is_pow2(self.max_burst) or not 2 <= self.max_burst <= 256:
            raise ValueError(f"max_burst must be a power of two in 2..256, not {self.max_burst!r}")
        if not _is_pow2(self.read_fifo_beats) or self.read_fifo_beats < self.max_burst:
            raise ValueError(f"read_fifo_beats must be a power of two >= max_burst, "
                             f"not {self.read_fifo_beats!r}")
        if not _is_pow2(self.epilogue_rows) or not 16 <= self.epilogue_rows <= 65536:
            raise ValueError(f"epilogue_rows must be a power of two in 16..65536, "
                             f"not {self.epilogue_rows!r}")
        if self.spgemm_cols and (not _is_pow2(self.spgemm_cols) or
                                 not 64 <= self.spgemm_cols <= 65536):
            raise ValueError(f"spgemm_cols must be 0 or a power of two in 64..65536, "
                             f"not {self.spgemm_cols!r}")
        if self.addr_bits != 32:
            raise ValueError(f"addr_bits must be 32, not {self.addr_bits!r}")

    @property
    def bus_bytes(self):
        return self.bus_bits // 8

    @property
    def peak_macs_per_cycle(self):
        return self.pes * self.lanes

    @property
    def max_n(self):
        """Widest B (columns) one job can take."""
        return self.max_chunks * self.lanes

    @property
    def max_k(self):
        """Deepest B (rows) one job can take: one B row needs at least one word per bank."""
        return min(self.b_words, 1 << 16)

    @property
    def b_bytes(self):
        """Bytes of B the scratchpad holds when every bank is distinct (at least ``pes``
        chunks); with fewer chunks the PEs of different groups keep copies."""
        return self.pes * self.b_words * self.lanes

    def with_spgemm(self, cols=SPGEMM_COLS):
        """This configuration with the SpGEMM engine (unchanged if it has one)."""
        from dataclasses import replace
        return self if self.spgemm_cols else replace(self, spgemm_cols=cols)

    @property
    def has_spgemm(self):
        """The tile has the SpGEMM engine (``MODE_SPGEMM`` jobs run)."""
        return self.spgemm_cols > 0 and self.pes >= 4 and self.lanes >= 4

    @property
    def spgemm_products_per_cycle(self):
        """Partial products the SpGEMM engine forms per cycle at most: one per entry of a
        column-index word (16 bits each in a bank word of ``lanes`` bytes)."""
        return self.lanes // 2

    @property
    def spgemm_max_b_rows(self):
        """Most rows (K) of a SpGEMM job's B: its K + 1 row pointers, 16 bits each, fill a
        bank (with a word of padding)."""
        return self.lanes // 2 * (self.b_words - 1) - 2

    @property
    def spgemm_max_b_nnz(self):
        """Most stored entries of a SpGEMM job's B: 16-bit column indices fill a bank (and
        row pointers are 16 bits)."""
        return min(self.lanes // 2 * self.b_words, 65535)

    @property
    def spgemm_pad(self):
        """SpGEMM output arrays are written in whole chunks of ``lanes`` int32 and start on
        64-byte boundaries: C's row pointers and capacity are padded to multiples of this."""
        return max(16, self.lanes)

    def chunks_fitting(self, k):
        """Most chunks (``lanes`` columns each) of a K-deep B one job can hold (0 if K is
        deeper than a bank)."""
        return min(self.max_chunks, self.pes * (self.b_words // k))

    def describe(self):
        """The configuration in one line, as every message names it: ``P=4 L=8 bus=64``, with
        `` SpGEMM=2048`` (the engine's columns) when the tile has the SpGEMM engine."""
        engine = f" SpGEMM={self.spgemm_cols}" if self.has_spgemm else ""
        return f"P={self.pes} L={self.lanes} bus={self.bus_bits}{engine}"

    def as_dict(self):
        return asdict(self)
