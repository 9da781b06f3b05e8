"""Block RAM reads whose output register is the block RAM's own.

Amaranth's synchronous read port that is not transparent promises the old word when the
address it reads is written in the same cycle.  The ECP5 block RAM (DP16KD) does not
promise that across its two ports, so Yosys emulates it: it delays the write by a cycle
and muxes the delayed word into the read data (``memory_libmap``: "emulate read-first
behavior").  That puts a LUT level and a route between the block RAM's output and the
register after it, the 85F's longest paths (docs/FPGA.md, "The 85F at 100 MHz").

:func:`registered_read` reads asynchronously into a register of its own instead, and marks
the memory ``no_rw_check``: Yosys merges the register into the block RAM as its
synchronous read (``memory_dff``) and, told that no read collides with a write where it
matters, builds no emulation.  In simulation the register takes the word before the
edge's write, as the synchronous port did, so the two forms are the same cycle for cycle;
what the attribute asserts has to hold in the design: no word read in a cycle that writes
its address is used.  The memories that use this: those written only by programming (the
crossbar, the head's weights and GELU table, the prototypes), which the host writes
between samples (programming while a sample runs is not defined), and the row lists,
whose colliding reads are discarded (:class:`~rramlsm.hw.core.RowLoader`).
"""

from __future__ import annotations

from amaranth import Module, Signal
from amaranth.lib.memory import Memory, ReadPort

__all__ = ["NO_COLLISION_READS", "registered_read"]

#: The attributes of a memory read by :func:`registered_read` (Yosys's ``no_rw_check``).
NO_COLLISION_READS = {"no_rw_check": 1}


def registered_read(m: Module, mem: Memory, name: str,
                    domain: str = "sync") -> tuple[ReadPort, Signal]:
    """An asynchronous read port of ``mem`` and ``name``, the register of its data in
    ``domain`` (no reset, no enable: nothing for Yosys to keep out of the block RAM).  The
    register holds the word at the port's address one cycle later, as a synchronous
    port's data would.  ``m`` must be the module ``mem`` is a submodule of: Yosys merges a
    register into a memory only within one module, and a design synthesised module by
    module (``synth_ecp5 -noflatten``) would otherwise keep an asynchronous read, which
    no block RAM has."""
    if any(mem.attrs.get(k) != v for k, v in NO_COLLISION_READS.items()):
        raise ValueError(f"{name}: a memory read through registered_read must carry "
                         f"NO_COLLISION_READS in its attrs")
    port = mem.read_port(domain="comb")
    data = Signal(port.data.shape(), name=name, reset_less=True)
    m.d[domain] += data.eq(port.data)
    return port, data
