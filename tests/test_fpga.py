"""FPGA flow: real (small) ECP5 and iCE40 builds through Yosys/nextpnr, the reports, and the
board top's logic on Verilator driven by the real host driver over a bit-level UART."""

from __future__ import annotations

import dataclasses
import json
import re
import subprocess
import sys

import numpy as np
import pytest

from rramlsm.cosim.uart import run_uart_top
from rramlsm.errors import RRAMLSMError
from rramlsm.hw.fpga import (
    BOARDS,
    build,
    keep_fastest,
    parse_nextpnr_log,
    place_and_route,
    seed_command,
    weight_bits,
)
from rramlsm.hw.params import CoreParams
from rramlsm.sw.bundle import load_bundle
from rramlsm.sw.experiments._ray import map_calls
from tests.hw.hw_support import random_frames
from tests.test_cosim import _noise_bundle


@pytest.fixture(scope="module")
def small_bundle(tmp_path_factory):
    """Small cores without read noise (the noise generator's 32-bit hash multipliers do not
    fit the 25F's 28 multipliers)."""
    return _noise_bundle(tmp_path_factory.mktemp("fpga") / "bundle", seed=3, noise=0)


def test_board_configurations_state_their_arithmetic():
    # The notes' figures are the real sizes of the paper's cores.
    assert weight_bits(CoreParams(256, 200)) == 456 * 200 * 9 == 820_800
    assert weight_bits(CoreParams(64, 200)) == 264 * 200 * 9 == 475_200
    b = BOARDS["ulx3s-25f"]
    assert b.modalities == ("visual", "audio") and b.fixed_decay and "576 kbit" in b.why
    assert b.fixed_shifts and BOARDS["ulx3s-85f"].fixed_shifts
    assert (weight_bits(CoreParams(256, 200, weight_bits=4))
            + weight_bits(CoreParams(64, 200, weight_bits=4))) == 576_000
    # Multipliers: head lanes and classifier lanes per core (the decay is shifts and adds).
    assert 2 * (b.head_lanes + b.class_lanes) == 22 <= b.multipliers and "22 of the 28" in b.why
    assert BOARDS["ulx3s-85f"].modalities == ("visual", "audio")
    ice = BOARDS["icebreaker-up5k"]
    assert ice.family == "ice40" and ice.modalities == ("audio",) and not ice.lut_ram
    assert weight_bits(CoreParams(64, 48, weight_bits=4)) == 21_504 and "21.5 kbit" in ice.why
    # The iCE40's multipliers (LIF 2 per lane, head 1 per lane, classifier lanes).
    assert 2 * ice.lanes + ice.head_lanes + ice.class_lanes <= ice.multipliers == 8
    for board in BOARDS.values():
        # The UART divisor the top derives must be a usable one.
        assert board.clock_mhz * 1e6 / board.baud >= 4


def test_nextpnr_log_parser():
    log = """Info: Device utilisation:
Info: \t          TRELLIS_IO:       7/    197     3%
Info: \t              DP16KD:      45/     56    80%
Info: \t          MULT18X18D:      26/     28    92%
Info: \t        TRELLIS_COMB:    6975/  24288    28%
Info: \t          TRELLIS_FF:    2852/  24288    11%
Info: Max frequency for clock '$glbnet$bridge.clk': 33.56 MHz (FAIL at 100.00 MHz)
Warning: Max frequency for clock '$glbnet$bridge.clk': 77.58 MHz (FAIL at 100.00 MHz)
"""
    r = parse_nextpnr_log(log, "ecp5")
    assert (r["luts"], r["luts_total"], r["brams"], r["dsps"], r["ffs"]) == (6975, 24288, 45,
                                                                           26, 2852)
    # The last report (after routing) wins.
    assert r["clocks"]["$glbnet$bridge.clk"] == {"fmax_mhz": 77.58, "target_mhz": 100.0}
    with pytest.raises(RRAMLSMError, match="no 'Device utilisation'"):
        parse_nextpnr_log("Info: nothing here\n", "ecp5")


def _cli_build(board: str, bundle, out, cores: str | None = None, *options: str):
    """``rramlsm fpga`` in a subprocess (as a user runs it): its result and ``fpga.json``."""
    r = subprocess.run([sys.executable, "-m", "rramlsm", "fpga", "--board", board,
                        "--bundle", str(bundle), "--out", str(out)]
                       + (["--cores", cores] if cores else []) + list(options),
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-3000:]
    return r, json.loads((out / "fpga.json").read_text())


@pytest.mark.parametrize("seeds", [
    1,
    # Two seeds placed and routed as Ray tasks: a second nextpnr run (about 45 s of CPU on
    # a machine whose other core runs the rest of make test) in make test-long.
    pytest.param(2, marks=pytest.mark.long)])
def test_fpga_build_of_a_small_bundle(small_bundle, tmp_path, seeds):
    """Synthesis, place and route and ecppack of a small audio core for the ULX3S-25F, with
    the way of synthesis given (the one Yosys 0.70 completes on this design: auto would
    reach it third, after two abc9 assertions); with two nextpnr seeds, both placed and
    routed as Ray tasks from one synthesis, the faster one packed."""
    out = tmp_path / "fpga"
    r, f = _cli_build("ulx3s-25f", small_bundle, out, "audio", "--synthesis", "split-nets",
                      "--seed", "7", "--seeds", str(seeds))
    assert f["synthesis"] == "module by module, nets split"
    script = (out / "build" / "rramlsm_top.ys").read_text()
    assert "-noflatten" in script and "splitnets" in script
    # The board wires each core's decay and shifts in: fpga.json says which values.
    mb = load_bundle(small_bundle).modalities["audio"]
    assert f["fixed"] == {"audio": {"decay_q": int(mb.lsm.decay_q),
                                    "adc_shift": int(mb.lsm.adc_shift),
                                    "head_shift": int(mb.head.layers[0].shift)}}
    build = out / "build"
    if seeds == 1:
        assert f["seeds"] == {"7": f["fmax_mhz"]} and f["seed"] == 7
        assert "nextpnr seed 7" in r.stdout and "the fastest" not in r.stdout
        log = (build / "rramlsm_top.tim").read_text()
        assert min(c["fmax_mhz"] for c in parse_nextpnr_log(log, "ecp5")["clocks"].values()) \
            == f["fmax_mhz"]
    else:
        assert set(f["seeds"]) == {"7", "8"} and f["seed"] in (7, 8)
        assert f["fmax_mhz"] == max(f["seeds"].values()) == f["seeds"][str(f["seed"])]
        # Each seed's own log says its seed and Fmax; the build's log and bitstream are the
        # winner's (its text configuration copied byte for byte).
        for seed, fmax in f["seeds"].items():
            log = (build / f"seed-{seed}" / "rramlsm_top.tim").read_text()
            clocks = parse_nextpnr_log(log, "ecp5")["clocks"].values()
            assert min(c["fmax_mhz"] for c in clocks) == fmax
        win = build / f"seed-{f['seed']}"
        assert (win / "rramlsm_top.config").read_bytes() == \
            (build / "rramlsm_top.config").read_bytes()
        assert "seeds 7, 8" in r.stdout
        assert f"nextpnr seed {f['seed']}, the fastest of 7:" in r.stdout
    for k in ("board", "cores", "luts", "luts_total", "ffs", "brams", "brams_total", "dsps",
              "dsps_total", "fmax_mhz", "target_mhz", "cycles_per_sample", "samples_per_s"):
        assert k in f, k
    assert f["board"] == "ulx3s-25f" and f["luts_total"] == 24288 and f["brams_total"] == 56
    assert f["cores"] == ["audio"] and set(f["samples_per_s"]) == {"audio"}
    assert 0 < f["luts"] < f["luts_total"] and f["brams"] >= 1 and f["fmax_mhz"] > 10
    assert f["samples_per_s"]["audio"] == pytest.approx(
        f["fmax_mhz"] * 1e6 / f["cycles_per_sample"]["audio"])
    # The block RAMs counted before the tools ran are those nextpnr placed (the small
    # memories in LUT RAM), and so are the multipliers.
    assert (f["brams_planned"], f["multipliers_planned"]) == (f["brams"], f["dsps"])
    bit = out / "build" / "rramlsm_top.bit"
    assert bit.stat().st_size > 100_000          # a full ECP5-25F bitstream
    # The reset tree: the core's reset is a flip-flop of its own that synthesis kept, set
    # at configuration, driving the core's domain reset and nothing else.
    top = json.loads((build / "rramlsm_top.json").read_text())["modules"]["rramlsm_top"]
    flop = top["cells"]["audio_reset"]
    assert flop["type"] == "TRELLIS_FF" and flop["parameters"]["REGSET"] == "SET"
    q = flop["connections"]["Q"][0]
    assert [(name, port) for name, cell in top["cells"].items()
            for port, bits in cell["connections"].items()
            if q in bits and name != "audio_reset"] == [("bridge", "audio_rst")]
    assert "LUTs" in r.stdout and "block RAMs" in r.stdout
    # Lanes per core: the LIF bank's and the crossbar's (as wide as the LIF bank here).
    assert f["lanes"] == f["crossbar_lanes"] == {"audio": 4} and "audio P = 4 lanes" in r.stdout
    # The crossbar's bank depth: the board's (0 on the 25F: the depth of fewest blocks).
    from rramlsm.hw.params import CoreParams

    core = CoreParams.from_bundle(mb, lanes=4, head_lanes=BOARDS["ulx3s-25f"].head_lanes)
    assert f["crossbar_bank_words"] == {"audio": core.bank_words}
    # A board that needs a core the bundle lacks is refused before any tool runs.
    bad = subprocess.run([sys.executable, "-m", "rramlsm", "fpga", "--board", "nope",
                          "--bundle", str(small_bundle)], capture_output=True, text=True)
    assert bad.returncode == 2 and "unknown board 'nope'" in bad.stderr


def test_auto_synthesis_tries_every_way_once():
    """Bad ``--synthesis`` / ``--seed`` values: tests/test_cli_errors.py."""
    from rramlsm.hw.fpga import SYNTHESIS, synthesis_order

    # auto tries every way, each once; two ECP5 cores try both module-by-module ways first,
    # nets split first.
    for board, cores in (("ulx3s-25f", ("visual", "audio")), ("ulx3s-25f", ("audio",))):
        order = synthesis_order(BOARDS[board], cores)
        assert sorted(order) == sorted(SYNTHESIS)
    assert synthesis_order(BOARDS["ulx3s-25f"], ("visual", "audio")) == ("split-nets", "modules",
                                                                      "flattened")
    assert synthesis_order(BOARDS["icebreaker-up5k"], ("audio",)) == ("flattened",)


#: The nextpnr lines of Amaranth 0.5's ECP5 and iCE40 build scripts, as `rramlsm fpga` writes them.
ECP5_LINE = ('"$NEXTPNR_ECP5" --quiet --timing-allow-fail --seed 1 --log rramlsm_top.tim --25k '
             '--package CABGA381 --speed 6 --json rramlsm_top.json --lpf rramlsm_top.lpf '
             '--textcfg rramlsm_top.config')
ICE40_LINE = ('"$NEXTPNR_ICE40" --quiet --timing-allow-fail --seed 11 --log rramlsm_top.tim '
              '--up5k --package sg48 --json rramlsm_top.json --pcf rramlsm_top.pcf '
              '--asc rramlsm_top.asc')


def test_each_seed_gets_its_own_seed_and_outputs():
    assert seed_command(ECP5_LINE, 12, "seed-12") == ECP5_LINE.replace(
        "--seed 1 ", "--seed 12 ").replace("--log rramlsm_top.tim", "--log seed-12/rramlsm_top.tim"
                                           ).replace("--textcfg rramlsm_top.config",
                                                     "--textcfg seed-12/rramlsm_top.config")
    line = seed_command(ICE40_LINE, 3, "seed-3")
    assert "--seed 3 " in line and "--asc seed-3/rramlsm_top.asc" in line
    assert "--log seed-3/rramlsm_top.tim" in line and "--json rramlsm_top.json" in line
    # A line the seeds could not each rewrite (so that two seeds would share a seed or a
    # file) is refused, not run.
    for bad, why in ((ECP5_LINE.replace("--seed 1 ", ""), "0 '--seed N'"),
                     (ECP5_LINE.replace("--seed 1 ", "--seed=1 "), "0 '--seed N'"),
                     (ECP5_LINE + " --seed 2", "2 '--seed N'"),
                     (ECP5_LINE.replace("--log rramlsm_top.tim", "--log=rramlsm_top.tim"),
                      "--log output"),
                     (ECP5_LINE + " --report r.json --report s.json", "--report output"),
                     (ECP5_LINE.replace(" --textcfg rramlsm_top.config", ""),
                      "no log or no configuration")):
        with pytest.raises(RRAMLSMError, match=re.escape(why)):
            seed_command(bad, 5, "seed-5")
    # Another output nextpnr may be given moves into the seed's folder too.
    assert "--sdf seed-5/t.sdf" in seed_command(ECP5_LINE + " --sdf t.sdf", 5, "seed-5")


def test_the_fastest_placed_seed_is_kept():
    runs = [{"seed": 1, "fmax_mhz": 97.0}, {"seed": 2, "fmax_mhz": 99.5},
            {"seed": 3, "fmax_mhz": 99.5}, {"seed": 4, "fmax_mhz": None, "error": "exit 1"}]
    assert keep_fastest(runs)["seed"] == 2              # ties: the lower seed
    assert keep_fastest(runs[3:] + runs[:1])["seed"] == 1   # a failed seed is never kept
    with pytest.raises(RRAMLSMError, match="every seed: seed 4: exit 1; seed 5: exit 2"):
        keep_fastest([runs[3], {"seed": 5, "fmax_mhz": None, "error": "exit 2"}])


def test_a_seed_task_error_reaches_the_user_as_itself(tmp_path):
    """A project error raised in a Ray task (here: a build script without nextpnr) comes out
    of ``map_calls`` as that error, not wrapped in Ray's worker traceback."""
    (tmp_path / "build_rramlsm_top.sh").write_text('#!/bin/sh\n"$YOSYS" -q rramlsm_top.ys\n')
    with pytest.raises(RRAMLSMError) as e:
        map_calls(place_and_route, [(str(tmp_path), "ecp5", 1), (str(tmp_path), "ecp5", 2)],
                  cpus=2)
    assert type(e.value) is RRAMLSMError
    assert str(e.value) == f"{tmp_path}: the build script runs no NEXTPNR"


def test_uart_top_with_the_host_driver_is_bit_exact(tmp_path):
    # With read noise: the noise is numbered by the board's sample counter, which the
    # host driver's samples follow from reset.
    noisy = _noise_bundle(tmp_path / "noisy", seed=3)
    rng = np.random.default_rng(1)
    b = load_bundle(noisy)
    frames = {m: random_frames(rng, 3, b.modalities[m].lsm.steps, b.modalities[m].lsm.inputs)
              for m in ("visual", "audio")}
    s = run_uart_top(noisy, frames, lanes=4, head_lanes=4, divisor=8)
    assert s["id"] == 0x524C534D
    assert s["samples"] == 6 and s["mismatches"] == 0, s["mismatch_details"]
    assert s["failed_tests"] == [] and s["overflow"] == 0 and s["frame_errors"] == 0
    # The comparison can fail: another bundle's golden model disagrees.
    other = _noise_bundle(tmp_path / "other", seed=4, noise=0)
    s = run_uart_top(noisy, frames, lanes=4, head_lanes=4, divisor=8, model_bundle=other)
    assert s["mismatches"] > 0


def test_run_fpga_reports_a_missing_port(small_bundle):
    r = subprocess.run([sys.executable, "-m", "rramlsm", "run-fpga", "--port",
                        "/dev/rramlsm-no-such-port", "--bundle", str(small_bundle)],
                       capture_output=True, text=True)
    assert r.returncode == 2 and "/dev/rramlsm-no-such-port: cannot open" in r.stderr


def test_run_fpga_refuses_rates_the_driver_cannot_take_and_reports_a_lost_link(
        small_bundle, demo_run, monkeypatch, capsys):
    """--baud beyond the serial driver's C int is refused before any port is opened; a link
    that fails mid-run (a cable pulled: pyserial raises on the write) is one line, exit 2."""
    import serial

    from rramlsm.cli import main
    from rramlsm.commands.fpga import MAX_BAUD

    args = ["run-fpga", "--port", "/dev/rramlsm-test", "--bundle", str(small_bundle)]
    for baud in (0, MAX_BAUD + 1, 12345678901234567890):
        assert main([*args, "--baud", str(baud)]) == 2
        err = capsys.readouterr().err
        assert f"--baud must be 1 to {MAX_BAUD}" in err and "Traceback" not in err, err

    class Unplugged:
        """An opened port whose cable is then pulled."""

        def __init__(self, *a, **k):
            pass

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def write(self, data):
            raise serial.SerialException("write failed: [Errno 5] Input/output error")

        read = write

    monkeypatch.setattr(serial, "Serial", Unplugged)
    # The demo's bundle: one the built-in samples fit.
    assert main([*args[:-1], str(demo_run / "bundle"), "--samples", "1"]) == 2
    err = capsys.readouterr().err
    assert "--port /dev/rramlsm-test: the link failed (write failed: [Errno 5]" in err
    assert "Traceback" not in err


@pytest.mark.long   # make test builds for the ECP5; make fpga builds the iCEBreaker too
def test_ice40_build_of_a_small_bundle(small_bundle, tmp_path):
    """Synthesis, place and route and icepack of a small audio core for the iCEBreaker."""
    out = tmp_path / "ice40"
    _, f = _cli_build("icebreaker-up5k", small_bundle, out)
    assert f["board"] == "icebreaker-up5k" and f["luts_total"] == 5280 and f["brams_total"] == 30
    assert 0 < f["ffs"] < f["luts"] <= f["luts_total"] and 0 < f["dsps"] <= 8
    assert f["class_lanes"] == 3 and f["fmax_mhz"] > 5
    assert f["samples_per_s"]["audio"] == pytest.approx(
        f["fmax_mhz"] * 1e6 / f["cycles_per_sample"]["audio"])
    assert (out / "build" / "rramlsm_top.bin").stat().st_size == 104_090   # a full UP5K image


def _paper_size_bundle(levels=256, windows=None):
    """The paper's two cores (256 + 64 inputs, 200 neurons, 64-d heads, 9 classes) with
    random weights: what the resource check sees of the demo bundle (``windows`` per
    modality: 1 where not named)."""
    from rramlsm.sw.bundle import Bundle
    from tests.hw.hw_support import small_bundle

    rng = np.random.default_rng(0)
    return Bundle({m: small_bundle(rng, inputs=inputs, neurons=200, steps=10, dim=64,
                                   classes=9, levels=levels, windows=(windows or {}).get(m, 1))
                   for m, inputs in (("visual", 256), ("audio", 64))})


def test_resource_plan_counts_the_weight_memories_before_any_tool_runs():
    from rramlsm.hw.fpga import blocks_for, check_fits, resource_plan

    # DP16KD: 36 x 512 as a pseudo dual port ... 1 x 16384; the cheapest tiling wins.
    assert blocks_for(36, 13_200, "ecp5") == 26 and blocks_for(64, 1600, "ecp5") == 8
    assert blocks_for(16, 4096, "ice40") == 16 and blocks_for(4, 4096, "ice40") == 4
    wide, narrow = _paper_size_bundle(256), _paper_size_bundle(8)
    board = dataclasses.replace(BOARDS["ulx3s-85f"], lanes=16, head_lanes=16, core_lanes=(),
                                fixed_decay=False, allot_block_ram=True)
    plan = resource_plan(board, wide)
    assert plan["cores"] == ["visual", "audio"]
    blocks = {}
    for m in plan["memories"]:
        if m["ram_style"] == "block":       # the crossbar's banks and the head weights
            key = (m["path"].split(".")[1], "xbar" if ".xbar." in m["path"] else "head")
            blocks[key] = blocks.get(key, 0) + m["blocks"]
    # P = 16 lanes of 9-bit cells: 144-bit words, 456 x 13 and 264 x 13 deep; 16 head lanes.
    assert blocks == {("visual", "xbar"): blocks_for(144, 456 * 13, "ecp5"),
                      ("audio", "xbar"): blocks_for(144, 264 * 13, "ecp5"),
                      ("visual", "head"): 8, ("audio", "head"): 8}
    assert plan["block_rams"] == sum(m["blocks"] for m in plan["memories"]) <= 208
    # LIF 2 per lane, head 1 per lane, classifier 1 per class, per core; with the decay
    # fixed at build time, no LIF multipliers.
    assert plan["multipliers"] == 2 * (2 * 16 + 16 + 9) == 114
    fixed = dataclasses.replace(board, fixed_decay=True)
    assert resource_plan(fixed, wide)["multipliers"] == 2 * (16 + 9)
    check_fits(board, wide, plan)
    # Narrow cells take fewer blocks.
    narrow_plan = resource_plan(board, narrow)
    assert narrow_plan["block_rams"] < plan["block_rams"]
    # The board's bank depth reaches every core's crossbar (the 85F's 1,024 words here).
    def xbar_depths(p):
        return {m["path"]: m["depth"] for m in p["memories"] if ".xbar." in m["path"]}
    deep = xbar_depths(narrow_plan)
    shallow = xbar_depths(resource_plan(dataclasses.replace(board, crossbar_bank_words=256),
                                        narrow))
    assert max(deep.values()) == board.crossbar_bank_words == 1024
    assert max(shallow.values()) == 256 and len(shallow) > len(deep)
    # A bank deeper than the array is the array in one bank, and is recorded as such
    # (CoreParams.bank_words, fpga.json's crossbar_bank_words).
    whole = xbar_depths(resource_plan(dataclasses.replace(board, crossbar_bank_words=2**40),
                                      narrow))
    assert len(whole) == 2 and all(p.endswith(".xbar.mem") for p in whole)     # one bank
    assert sorted(whole.values()) == sorted(
        sum(d for p, d in deep.items() if p.startswith(f"macro.{m}.")) for m in ("visual", "audio"))
    params = CoreParams.from_bundle(narrow.modalities["audio"], crossbar_bank_words=2**40)
    depth = params.rows * params.xgroups
    assert params.bank_words == 1 << (depth - 1).bit_length() < 2 * depth
    # The other memories: block RAM where a block saves many LUTs (the link FIFO, 1023 x 8
    # bits), LUT RAM where it would not (the 16 x 25-bit-lane membranes, 13 words deep).
    styles = {m["path"]: m.get("ram_style_set") for m in plan["memories"]}
    assert styles["fifo.storage"] == "block"
    assert styles["macro.visual.engine.lif.vmem"] == "distributed"
    assert styles["macro.visual.engine.xbar.bank0.mem"] is None     # marked block by the RTL
    # The 25F: the visual crossbar 25 lanes wide (100-bit words, 456 x 8 deep: 3 DP16KD of
    # 36 x 512 per bank) before a LIF bank of P = 5; the audio crossbar as wide as its LIF
    # bank of 4 (16-bit words, 264 x 50 deep).  The two blocks left hold the visual row
    # lists (456 x 9), the largest LUT RAM otherwise.
    b25 = BOARDS["ulx3s-25f"]
    assert b25.lanes_of("visual") == (5, 25) and b25.lanes_of("audio") == (4, 4)
    plan = resource_plan(b25, narrow)
    xbar = {c: sum(m["blocks"] for m in plan["memories"]
                   if m["path"].startswith(f"macro.{c}.engine.xbar.")) for c in plan["cores"]}
    assert xbar == {"visual": 24, "audio": 13} and plan["block_rams"] == 56
    params = {c: plan["images"][c].params for c in plan["cores"]}
    assert (params["visual"].lanes, params["visual"].xlanes, params["visual"].xgroups) == (5, 25, 8)
    assert (params["audio"].lanes, params["audio"].xlanes) == (4, 4)
    styles = {m["path"]: m.get("ram_style_set") for m in plan["memories"]}
    assert styles["macro.visual.loader.list0"] == styles["macro.visual.loader.list1"] == "block"


def test_a_design_the_board_cannot_hold_is_refused_with_the_options(tmp_path):
    """Before any tool runs: what does not fit, by how much, and what would fit."""
    wide = _paper_size_bundle(256)
    with pytest.raises(RRAMLSMError) as e:
        build(BOARDS["ulx3s-25f"], wide, tmp_path / "x", cores=("visual", "audio"))
    msg = str(e.value)
    assert "board ulx3s-25f cannot hold the visual + audio core(s)" in msg
    assert "DP16KD of block RAM (visual crossbar" in msg and "where the device has 56" in msg
    assert "--levels" in msg and "--cores audio" in msg and "--board ulx3s-85f" in msg
    assert not (tmp_path / "x").exists()
    # The iCE40 (no LUT RAM: every memory deeper than 16 words is block RAM): a 200-neuron
    # reservoir is far beyond its 30 EBR, and 64 neurons of 4-bit cells just beyond them
    # (nextpnr: 33 of 30); 48 fit (29, as nextpnr placed them).
    with pytest.raises(RRAMLSMError, match=r"icebreaker-up5k cannot hold the audio core\(s\)"
                                           r".*SB_RAM40_4K of block RAM .*the device has 30"):
        build(BOARDS["icebreaker-up5k"], wide, tmp_path / "y")
    from rramlsm.hw.fpga import check_fits, resource_plan
    from rramlsm.sw.bundle import Bundle
    from tests.hw.hw_support import small_bundle

    def audio(neurons, levels):
        return Bundle({"audio": small_bundle(np.random.default_rng(0), inputs=64,
                                             neurons=neurons, steps=10, dim=64, classes=9,
                                             levels=levels)})

    ice = BOARDS["icebreaker-up5k"]
    assert resource_plan(ice, audio(64, 8))["block_rams"] == 33
    assert resource_plan(ice, audio(48, 8))["block_rams"] == 29
    with pytest.raises(RRAMLSMError, match=r"33 SB_RAM40_4K .*: 3 too many"):
        build(ice, audio(64, 8), tmp_path / "y")
    # At 256 levels 48 neurons do not fit; the message names the level count that would.
    with pytest.raises(RRAMLSMError, match=r"fit with a bundle trained with `--levels 8` "
                                           r"\(4-bit cells: 29 SB_RAM40_4K\)"):
        build(ice, audio(48, 256), tmp_path / "y")
    assert not (tmp_path / "y").exists()
    # Readout windows multiply the head's weight rows: the demo's choice (audio W > 1) at
    # 8 levels overflows the 25F by the audio head, and one window per neuron would fit.
    board = BOARDS["ulx3s-25f"]
    with pytest.raises(RRAMLSMError) as e:
        build(board, _paper_size_bundle(8, windows={"audio": 5}), tmp_path / "z")
    assert "audio head weights 32" in str(e.value)
    one = re.search(r"fit with a bundle read out in one window per neuron, trained with "
                    r"`--windows 1` \((\d+) DP16KD\)", str(e.value))
    assert one and int(one[1]) <= 56
    assert not (tmp_path / "z").exists()
    w1 = _paper_size_bundle(8)
    check_fits(board, w1, resource_plan(board, w1))          # the option named does fit
    # 9-bit cells and windows: neither narrow cells nor one window alone fit; both do.
    with pytest.raises(RRAMLSMError) as e:
        build(board, _paper_size_bundle(256, windows={"audio": 5}), tmp_path / "z")
    both = re.search(r"fit with a bundle trained with `--levels (\d+) --windows 1` "
                     r"\(\d+-bit cells: (\d+) DP16KD\)", str(e.value))
    assert both and int(both[2]) <= 56 and "one window per neuron" not in str(e.value)
    narrow = _paper_size_bundle(int(both[1]))
    check_fits(board, narrow, resource_plan(board, narrow))
    with pytest.raises(RRAMLSMError, match="--cores: lidar: choose visual, audio or both"):
        build(BOARDS["ulx3s-85f"], wide, tmp_path / "z", cores=("lidar",))
