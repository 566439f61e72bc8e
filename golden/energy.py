"""An energy estimate per job: the hardware's event counters times a per-event energy table.

A table, not a measurement: the energies are Horowitz's 45 nm figures (M. Horowitz,
"Computing's energy problem (and what we can do about it)", ISSCC 2014), applied to events the
tile counts. What is modelled and what is not is listed in ``NOT_MODELLED``.

Events (from the counters; every lane slot is charged, zero operand or not: the RTL does not
gate a lane whose B value is zero):

* ``multiplies``: MAC lane slots issued (``LANE_SLOTS``), an 8-bit multiply each;
* ``accumulator_updates``: the same lane slots, a 32-bit add into the accumulator each;
* ``scratchpad_reads``: B words read from a PE's bank, one per issuing PE-cycle
  (``LANE_SLOTS / L``), each ``8 L`` bits from an SRAM of the bank's size;
* ``epilogue_outputs``: int8 results finished by the epilogue (given by the caller: the
  elements its FLAGS.EPILOGUE jobs write, padding columns included), a 32-bit multiply and
  three 32-bit adds each;
* ``dram_bytes``: bytes read and written over AXI4 (``DRAM_BYTES_READ + DRAM_BYTES_WRITTEN``),
  charged per 64-bit access.
"""
from dataclasses import dataclass

__all__ = ["EnergyTable", "HOROWITZ_45NM", "NOT_MODELLED", "estimate_energy"]


@dataclass(frozen=True)
class EnergyTable:
    node: str
    source: str
    mult8_pj: float          # 8-bit integer multiply
    add32_pj: float          # 32-bit integer add
    mult32_pj: float         # 32-bit integer multiply
    sram64_small_pj: float   # 64-bit read of an 8 KB SRAM
    sram64_large_pj: float   # 64-bit read of a 32 KB SRAM
    dram64_pj: float         # 64-bit DRAM access

    def sram64_pj(self, bank_bytes):
        """64-bit read of a ``bank_bytes`` SRAM: the 8 KB figure up to 8 KB, the 32 KB one
        from 32 KB, interpolated in between."""
        if bank_bytes <= 8 * 1024:
            return self.sram64_small_pj
        if bank_bytes >= 32 * 1024:
            return self.sram64_large_pj
        f = (bank_bytes - 8 * 1024) / (24 * 1024)
        return self.sram64_small_pj + f * (self.sram64_large_pj - self.sram64_small_pj)

    def rows(self):
        """(event, energy) lines of the table, for reports."""
        return [("8-bit multiply", f"{self.mult8_pj} pJ"), ("32-bit add", f"{self.add32_pj} pJ"),
                ("32-bit multiply", f"{self.mult32_pj} pJ"),
                ("64-bit SRAM read, 8 KB / 32 KB", f"{self.sram64_small_pj} / "
                                                   f"{self.sram64_large_pj} pJ"),
                ("64-bit DRAM access", f"{self.dram64_pj / 1000} nJ (low end of 1.3-2.6 nJ)")]


HOROWITZ_45NM = EnergyTable(
    node="45 nm", source="Horowitz, ISSCC 2014", mult8_pj=0.2, add32_pj=0.1, mult32_pj=3.1,
    sram64_small_pj=10.0, sram64_large_pj=20.0, dram64_pj=1300.0)

NOT_MODELLED = ("control logic, pipeline registers and FIFOs, the read buffers and PE queues, "
                "the AXI interconnect, clock tree, leakage, DRAM refresh and background power")


def estimate_energy(counters, *, lanes, bank_bytes, epilogue_outputs=0, table=HOROWITZ_45NM):
    """Energy of one run in pJ by event, from its counters (lower-case counter names)."""
    slots = counters["lane_slots"]
    words = slots // lanes
    outputs = epilogue_outputs
    dram_bytes = counters["dram_bytes_read"] + counters["dram_bytes_written"]
    parts = {
        "multiplies": slots * table.mult8_pj,
        "accumulator_updates": slots * table.add32_pj,
        "scratchpad_reads": words * (8 * lanes / 64) * table.sram64_pj(bank_bytes),
        "epilogue": outputs * (table.mult32_pj + 3 * table.add32_pj),
        "dram": dram_bytes / 8 * table.dram64_pj,
    }
    total = sum(parts.values())
    eff = counters["effectual_macs"]
    return {
        "energy_pj": round(total, 1),
        "energy_pj_by_event": {k: round(v, 1) for k, v in parts.items()},
        "pj_per_effectual_mac": round(total / eff, 3) if eff else None,
        "dram_energy_share": round(parts["dram"] / total, 4) if total else None,
        "energy_model": f"{table.source}, {table.node}; not modelled: {NOT_MODELLED}",
    }
