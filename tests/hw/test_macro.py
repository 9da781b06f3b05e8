"""The macro (two cores, register bank) in the Amaranth simulator, and its Verilog."""

import numpy as np

from rramlsm.cli import main
from rramlsm.hw.core import OutKind
from rramlsm.hw.host import ctrl_word, program_writes, register_writes
from rramlsm.hw.macro import CORE_BASE, MAGIC, CoreReg, Macro, Reg
from rramlsm.hw.program import core_image, encode_frames
from rramlsm.hw.sim import get, put
from tests.hw.hw_support import expect, random_frames, run, small_bundle


def test_macro_register_bank_programming_and_modality_switch():
    rng = np.random.default_rng(21)
    mbs = {"visual": small_bundle(rng), "audio": small_bundle(rng, inputs=5, noise=300)}
    imgs = {m: core_image(mb, lanes=4, head_lanes=4) for m, mb in mbs.items()}
    # Empty memories and zero registers: everything arrives over the bus.
    dut = Macro({m: i.params for m, i in imgs.items()})
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

    run(dut, bench)
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
