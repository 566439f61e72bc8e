"""The hardware: Amaranth components, the configuration and the register map (plain data)."""

from pathlib import Path as _Path

# Verilator lint waivers for the Verilog of rtl.export (each waiver with its reason inside).
LINT_WAIVERS = _Path(__file__).parent / "lint_waivers.vlt"
