"""Amaranth HDL of the RRAM in-memory-computing macro (not yet implemented; see issue 5)."""

__all__: list[str] = []
