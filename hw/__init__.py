"""Amaranth HDL of the RRAM in-memory-computing macro: the core's blocks (crossbar,
periphery, head, core), the macro and its UART bridge, Verilog export and lint, the exact
cycle model, the host protocol and FPGA builds (docs/RTL.md, docs/FPGA.md)."""

__all__: list[str] = []
