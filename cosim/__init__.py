"""cocotb cosimulation of the generated RTL on Verilator (or Icarus): the macro, its blocks
and the UART bridge, checked bit for bit against the golden model (docs/RTL.md)."""

__all__: list[str] = []
