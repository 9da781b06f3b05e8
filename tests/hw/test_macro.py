"""The macro (two cores, register bank) in the Amaranth simulator, and its Verilog."""

import numpy as np
import pytest

from rramlsm.cli import main
from rramlsm.hw.core import OutKind
from rramlsm.hw.host import ctrl_word, program_writes, register_writes
from rramlsm.hw.macro import CORE_BASE, MAGIC, CoreReg, Macro, Reg
from rramlsm.hw.program import core_image, encode_frames
from rramlsm.hw.sim import get, put
from tests.hw.hw_support import expect, random_frames, run, small_bundle


@pytest.mark.parametrize("core_domains", [False, True], ids=["sync", "core-domains"])
def test_macro_register_bank_programming_and_modality_switch(core_domains):
    rng = np.random.default_rng(21)
    mbs = {"visual": small_bundle(rng), "audio": small_bundle(rng, inputs=5, noise=300)}
    imgs = {m: core_image(mb, lanes=4, head_lanes=4) for m, mb in mbs.items()}
    # Empty memories and zero registers: everything arrives over the bus.  With
    # core_domains each core runs in a domain of its own (the board top's reset tree),
    # clocked here by edges at the same instants as sync's.
    dut = Macro({m: i.params for m, i in imgs.items()}, core_domains=core_domains)
    frames = {"visual": random_frames(rng, 2, 8, 12), "audio": random_frames(rng, 2, 8, 5)}
    got = {"visual": [], "audio": []}
    reads = {}

    async def write(ctx, addr, data):
        ctx.set(dut.bus_addr, addr)
        ctx.set(dut.bus_wdata, data)
        ctx.set(dut.bus_we, 1)
        await ctx.tick()
        ctx.set(dut.bus_we, 0)

    async def read(ctx, addr):
        ctx.set(dut.bus_addr, addr)
        await ctx.tick()
        return int(ctx.get(dut.bus_rdata))

    async def bench(ctx):
        reads["id"] = await read(ctx, Reg.ID)
        for m, img in imgs.items():
            for a, d in register_writes(m, img.registers) + program_writes(m, img,
                                                                           dut.staging_bits):
                await write(ctx, a, d)
        reads["threshold"] = await read(ctx, CORE_BASE["audio"] + CoreReg.THRESHOLD_Q)
        for m in ("audio", "visual"):
            await write(ctx, Reg.CTRL, ctrl_word(m, dump=True))
            for f in frames[m]:
                for kind, row in encode_frames(f):
                    await put(ctx, dut.inp, kind=kind, row=row)
                counts = []
                while True:
                    kind, data, last = await get(ctx, dut.out, "kind", "data", "last")
                    if kind == OutKind.COUNT:
                        counts.append(int(data))
                    if kind == OutKind.CLASS:
                        label = int(data)
                    if last:
                        break
                got[m].append((counts, label))
        reads["samples"] = await read(ctx, CORE_BASE["visual"] + CoreReg.PERF_SAMPLES)

    run(dut, bench, domains=tuple(mbs) if core_domains else ())
    assert reads["id"] == MAGIC
    assert reads["threshold"] == imgs["audio"].registers["threshold_q"]
    assert reads["samples"] == 2
    for m, mb in mbs.items():
        counts, _, labels, _ = expect(mb, frames[m])
        assert [c for c, _ in got[m]] == counts.tolist()
        assert [lab for _, lab in got[m]] == labels.tolist()


def test_rtl_command_writes_lint_clean_verilog(demo_run, tmp_path, capsys):
    assert main(["rtl", "--bundle", str(demo_run / "bundle"), "--out", str(tmp_path)]) == 0
    text = (tmp_path / "rramlsm_macro.v").read_text()
    assert "module rramlsm_macro(" in text
    ports = (tmp_path / "PORTS.md").read_text()
    assert "| `inp__payload` | input | 18 |" in ports and "PROG_COMMIT" in ports
    assert "clean" in capsys.readouterr().out
    assert (tmp_path / "mem" / "audio" / "crossbar_pos.mem").exists()


@pytest.mark.parametrize("field,option,value", [("decay_q", "fixed_decay", 700),
                                                  ("adc_shift", "fixed_shifts", 3),
                                                  ("head_shift", "fixed_shifts", None)])
def test_macro_fixed_register_reads_the_built_value_and_ignores_writes(field, option, value):
    """A core built with a decay or shift fixed: its register reads that value before and
    after a write of another value; the other core's register still takes writes."""
    from rramlsm.hw.host import register_writes

    rng = np.random.default_rng(23)
    fixed = core_image(small_bundle(rng, decay_q=700, shift=3), lanes=4, head_lanes=4,
                       **{option: True})
    free = core_image(small_bundle(rng, decay_q=700, shift=3), lanes=4, head_lanes=4)
    built = fixed.registers[field]
    assert value is None or built == value
    assert fixed.params.fixed_registers[field] == built and not free.params.fixed_registers
    dut = Macro({"visual": fixed.params, "audio": free.params},
                registers={"visual": fixed.registers, "audio": free.registers})
    reg = {"decay_q": CoreReg.DECAY_Q, "adc_shift": CoreReg.ADC_SHIFT,
           "head_shift": CoreReg.HEAD_SHIFT}[field]
    written = (built + 5) % 16
    reads = []

    async def bench(ctx):
        for core in ("visual", "audio"):
            addr = CORE_BASE[core] + reg
            ctx.set(dut.bus_addr, addr)
            await ctx.tick()
            reads.append(int(ctx.get(dut.bus_rdata)))
            [(a, d)] = register_writes(core, {field: written})
            ctx.set(dut.bus_addr, a)
            ctx.set(dut.bus_wdata, d)
            ctx.set(dut.bus_we, 1)
            await ctx.tick()
            ctx.set(dut.bus_we, 0)
            # The write reaches the core through the register slice, two cycles after
            # bus_we: a read in the cycle after the write still sees the old value.
            for _ in range(2):
                await ctx.tick()
                reads.append(int(ctx.get(dut.bus_rdata)))

    run(dut, bench)
    assert reads == [built, built, built, free.registers[field], free.registers[field], written]


def test_a_macro_reads_back_its_bundle_registers_and_another_bundle_differs():
    """What run-fpga checks before it runs samples: every configuration register of a core
    built from a bundle reads that bundle's value (the fixed ones too), and another
    bundle's values are named where they differ."""
    from rramlsm.hw.host import register_mismatches
    from rramlsm.hw.params import bundle_registers

    rng = np.random.default_rng(29)
    mb = small_bundle(rng, decay_q=700, shift=1, noise=300)
    other = small_bundle(rng, decay_q=701, shift=2, noise=300)
    img = core_image(mb, lanes=4, head_lanes=4, fixed_decay=True, fixed_shifts=True)
    dut = Macro({"audio": img.params}, registers={"audio": img.registers})
    board = {}

    async def bench(ctx):
        for reg in (CoreReg.STEPS, CoreReg.DECAY_Q, CoreReg.THRESHOLD_Q, CoreReg.ADC_SHIFT,
                    CoreReg.HEAD_SHIFT, CoreReg.NOISE_AMP, CoreReg.NOISE_SEED):
            ctx.set(dut.bus_addr, CORE_BASE["audio"] + reg)
            await ctx.tick()
            board[CORE_BASE["audio"] + reg] = int(ctx.get(dut.bus_rdata))

    run(dut, bench)
    assert register_mismatches(board.__getitem__, "audio", bundle_registers(mb)) == []
    differ = register_mismatches(board.__getitem__, "audio", bundle_registers(other))
    assert "decay_q board 700, bundle 701" in differ and "adc_shift board 1, bundle 2" in differ


def test_bridge_register_slices_keep_reads_and_writes_in_order():
    """Through the UART with the bridge's register slices (FIFO byte, bus and input slot
    registered): every read answers the register it addresses, also right after a write
    to another one (the bus address is a register now), and a write is seen by the read
    after it."""
    from amaranth.sim import Simulator

    from rramlsm.hw.bridge import BridgedMacro, Reply
    from rramlsm.hw.hostlink import encode_read, encode_write
    from tests.test_bridge import DIV, _recv_byte, _send_bytes

    img = core_image(small_bundle(np.random.default_rng(29)), lanes=4, head_lanes=4)
    dut = BridgedMacro(Macro({"audio": img.params}, registers={"audio": img.registers}), DIV,
                       fifo_depth=64)
    threshold = CORE_BASE["audio"] + CoreReg.THRESHOLD_Q
    # Each group is sent once the reply before it is in: the serializer is free, so the
    # read's word is taken in the first cycle the bridge can.
    groups = [encode_write(threshold, 4321) + encode_read(Reg.ID), encode_read(Reg.CTRL),
              encode_write(Reg.CTRL, 3) + encode_read(Reg.CTRL), encode_read(threshold)]
    replies = []

    async def host(ctx):
        for k, group in enumerate(groups):
            while len(replies) < k:
                await ctx.tick()
            await _send_bytes(ctx, dut.rx, group)

    async def device(ctx):
        for _ in groups:
            assert await _recv_byte(ctx, dut.tx) == Reply.READ.value
            replies.append(int.from_bytes(bytes([await _recv_byte(ctx, dut.tx)
                                                 for _ in range(4)]), "little"))

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(host, background=True)
    sim.add_testbench(device)
    sim.run()
    assert replies == [MAGIC, 0, 3, 4321]
