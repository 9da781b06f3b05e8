"""FPGA flow: real (small) ECP5 and iCE40 builds through Yosys/nextpnr, the reports, and the
board top's logic on Verilator driven by the real host driver over a bit-level UART."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from rramlsm.cosim.uart import run_uart_top
from rramlsm.errors import RRAMLSMError
from rramlsm.hw.fpga import BOARDS, build, ice40_flip_flops, parse_nextpnr_log, weight_bits
from rramlsm.hw.params import CoreParams
from rramlsm.sw.bundle import load_bundle
from tests.hw.hw_support import random_frames
from tests.test_cosim import _noise_bundle


@pytest.fixture(scope="module")
def small_bundle(tmp_path_factory):
    """Small cores without read noise (the noise generator's 32-bit hash multipliers do not
    fit the 25F's 28 multipliers)."""
    return _noise_bundle(tmp_path_factory.mktemp("fpga") / "bundle", seed=3, noise=0)


def test_board_configurations_state_their_arithmetic():
    # The 25F note's figures are the real sizes of the paper's cores.
    assert weight_bits(CoreParams(256, 200)) == 456 * 200 * 9 == 820_800
    assert weight_bits(CoreParams(64, 200)) == 264 * 200 * 9 == 475_200
    b = BOARDS["ulx3s-25f"]
    assert b.modalities == ("audio",) and "821 kbit" in b.why and "475 kbit" in b.why
    assert BOARDS["ulx3s-85f"].modalities == ("visual", "audio")
    # The iCE40's reduced core: 32 neurons' weights and head fit its 120 kbit of EBR, and
    # its multipliers (LIF 2 per lane, head 1 per lane, classifier lanes) fit the 8 MAC16s.
    ice = BOARDS["icebreaker-up5k"]
    assert ice.family == "ice40" and ice.modalities == ("audio",) and ice.max_neurons == 32
    assert weight_bits(CoreParams(64, 32)) == 27_648 and "27.6 kbit" in ice.why
    assert 2 * ice.lanes + ice.head_lanes + ice.class_lanes <= 8
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


def _cli_build(board: str, bundle, out):
    """``rramlsm fpga`` in a subprocess (as a user runs it): its result and ``fpga.json``."""
    r = subprocess.run([sys.executable, "-m", "rramlsm", "fpga", "--board", board,
                        "--bundle", str(bundle), "--out", str(out)],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-3000:]
    return r, json.loads((out / "fpga.json").read_text())


def test_fpga_build_of_a_small_bundle(small_bundle, tmp_path):
    """Synthesis, place and route and ecppack of a small audio core for the ULX3S-25F."""
    out = tmp_path / "fpga"
    r, f = _cli_build("ulx3s-25f", small_bundle, out)
    for k in ("board", "luts", "luts_total", "ffs", "brams", "brams_total", "dsps",
              "fmax_mhz", "target_mhz", "cycles_per_sample_mean", "samples_per_s"):
        assert k in f, k
    assert f["board"] == "ulx3s-25f" and f["luts_total"] == 24288 and f["brams_total"] == 56
    assert 0 < f["luts"] < f["luts_total"] and f["brams"] >= 1 and f["fmax_mhz"] > 10
    assert f["samples_per_s"] == pytest.approx(f["fmax_mhz"] * 1e6 / f["cycles_per_sample_mean"])
    bit = out / "build" / "rramlsm_top.bit"
    assert bit.stat().st_size > 100_000          # a full ECP5-25F bitstream
    assert "LUTs" in r.stdout and "block RAMs" in r.stdout
    # A board that needs a core the bundle lacks is refused before any tool runs.
    bad = subprocess.run([sys.executable, "-m", "rramlsm", "fpga", "--board", "nope",
                          "--bundle", str(small_bundle)], capture_output=True, text=True)
    assert bad.returncode == 2 and "unknown board 'nope'" in bad.stderr


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


def test_ice40_build_of_a_small_bundle(small_bundle, tmp_path):
    """Synthesis, place and route and icepack of a small audio core for the iCEBreaker."""
    out = tmp_path / "ice40"
    _, f = _cli_build("icebreaker-up5k", small_bundle, out)
    assert f["board"] == "icebreaker-up5k" and f["luts_total"] == 5280 and f["brams_total"] == 30
    assert 0 < f["ffs"] < f["luts"] <= f["luts_total"] and 0 < f["dsps"] <= 8
    assert f["class_lanes"] == 3 and f["fmax_mhz"] > 5
    assert f["samples_per_s"] == pytest.approx(f["fmax_mhz"] * 1e6 / f["cycles_per_sample_mean"])
    assert (out / "build" / "rramlsm_top.bin").stat().st_size == 104_090   # a full UP5K image


def test_ice40_refuses_a_reservoir_beyond_its_block_ram(tmp_path):
    from rramlsm.sw.bundle import Bundle
    from tests.hw.hw_support import small_bundle

    big = Bundle({"audio": small_bundle(np.random.default_rng(0), inputs=8, neurons=40)})
    with pytest.raises(RRAMLSMError, match="icebreaker-up5k holds reservoirs of at most 32 "
                                           "neurons; the bundle's audio has 40"):
        build(BOARDS["icebreaker-up5k"], big, tmp_path / "x")
    assert not (tmp_path / "x" / "build").exists()


def test_ice40_flip_flops_from_the_last_yosys_statistics():
    report = """
     10 SB_DFF
      2 SB_DFFE
     10 SB_LUT4
=== final ===
        305   SB_DFF
         81   SB_DFFE
       1019   SB_DFFESR
       2932   SB_LUT4
"""
    assert ice40_flip_flops(report) == 305 + 81 + 1019
    with pytest.raises(RRAMLSMError, match="no SB_DFF"):
        ice40_flip_flops("nothing")
