"""The hardware: Amaranth components, the configuration and the register map (plain data)."""
