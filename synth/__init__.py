"""Open synthesis flows (Yosys through amaranth's bundled yosys today; nextpnr later)."""
