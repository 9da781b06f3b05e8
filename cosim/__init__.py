"""cocotb + Verilator cosimulation of the generated RTL (not yet implemented; see issue 6)."""

__all__: list[str] = []
