"""The exponential-trace readout (issue 20): the contract's definition, both models, the
bundle, the feature cache, the pipeline and the CLI (the RTL: tests/hw/test_core.py)."""

import json

import numpy as np
import pytest

from rramlsm.cli import main
from rramlsm.sw import contract
from rramlsm.sw.bundle import load_bundle, write_bundle
from rramlsm.sw.features import _lsm_key
from rramlsm.sw.golden import IntegerLSM, golden_counts, golden_features, quantize_reservoir
from rramlsm.sw.kernels import usable_golden
from rramlsm.sw.lsm import PRESETS, float_features, make_reservoir
from rramlsm.sw.readout import parse_readout, trace_shift_for, with_readout
from tests.test_readout import _bundle as window_bundle


def _frames(n, steps, inputs, density=0.1, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.random((n, steps, inputs)) < density).astype(np.uint8)


def _reference_trace(train, windows, shift):
    """The contract's rule written out per neuron and step, in Python integers."""
    steps, neurons = train.shape
    length = steps // windows
    out = []
    for w in range(windows):
        for j in range(neurons):
            x = 0
            for t in range((w + 1) * length):
                x = x - (x >> shift) + (int(train[t, j]) << contract.TRACE_FRAC_BITS)
            out.append(x >> (contract.TRACE_FRAC_BITS + shift - 7))
    return out


def test_trace_values_by_hand():
    """One spike at step 0, k = 1: x = 256, 128, 64, 32; samples x >> 2 = 64, 32, 16, 8.
    A neuron firing every step reaches the fixed point 2**(8 + k), sample 128, and never
    passes it (the register cannot overflow)."""
    train = np.zeros((1, 4, 2), np.uint8)
    train[0, 0, 0] = 1
    train[0, :, 1] = 1
    got = contract.trace_readout(train, 4, 1)
    assert got[0, ::2].tolist() == [64, 32, 16, 8]
    assert got[0, 1::2].tolist() == [64, 96, 112, 120]
    for k in range(1, contract.MAX_TRACE_SHIFT + 1):
        x, top = 0, 0
        for t in range(max(40 << k, 255)):
            x = int(contract.trace_step(np.int64(x), np.int64(1), k))
            top = max(top, x)
            if t == 254:
                at_255 = x
        assert top == x == 1 << (contract.TRACE_FRAC_BITS + k) < 1 << contract.TRACE_BITS
        assert contract.trace_sample(x, k) == contract.TRACE_SCALE
        always = np.ones((1, 255, 1), np.uint8)
        assert contract.trace_readout(always, 1, k)[0, 0] == contract.trace_sample(at_255, k)


@pytest.mark.parametrize("windows,shift", [(1, 3), (5, 1), (2, 7)])
def test_trace_readout_equals_the_rule_step_by_step(windows, shift):
    rng = np.random.default_rng(windows)
    trains = (rng.random((3, 50, 6)) < 0.2).astype(np.uint8)
    got = contract.trace_readout(trains, windows, shift)
    assert got.shape == (3, windows * 6)
    for n in range(3):
        assert got[n].tolist() == _reference_trace(trains[n], windows, shift)


@pytest.mark.parametrize("windows,shift", [(1, 4), (5, 2)])
def test_golden_trace_on_every_kernel_is_the_train_s_trace(windows, shift):
    """Every golden kernel gives the contract's trace of the spike train it records (and
    the trains are those of the count readout: the readout does not change the dynamics)."""
    cfg = PRESETS["visual"].replace(neurons=40, windows=windows, readout="trace",
                                    trace_shift=shift)
    lsm = quantize_reservoir(make_reservoir(cfg, seed=2))
    counting = quantize_reservoir(make_reservoir(cfg.replace(readout="count"), seed=2))
    fr = _frames(10, 50, 256, seed=windows)
    _, train = golden_counts(counting, fr, record=True)
    want = contract.trace_readout(train, windows, shift)
    assert want.max() > 0
    for k in usable_golden("cpu"):
        got, got_train = golden_counts(lsm, fr, kernel=k, record=True)
        assert np.array_equal(got, want) and np.array_equal(got_train, train), k
    assert np.array_equal(golden_features(lsm, fr), want / np.float32(contract.TRACE_SCALE))


def test_float_trace_is_the_float_filter_of_its_train():
    """The float model's trace is y <- (1 - 2**-k) y + 2**-k s in float, within one sample
    unit of the integer rule on the same train."""
    cfg = PRESETS["visual"].replace(neurons=40, windows=5, readout="trace", trace_shift=3)
    feats, train = float_features(make_reservoir(cfg, seed=1), _frames(6, 50, 256),
                                  record=True)
    y = np.zeros((6, 40))
    want = []
    for t in range(50):
        y = y * (1 - 2.0 ** -3) + train[:, t] * 2.0 ** -3
        if (t + 1) % 10 == 0:
            want.append(y.copy())
    want = np.concatenate(want, axis=1)
    np.testing.assert_allclose(feats, want, atol=1e-5)
    assert 0 < feats.max() <= 1
    ints = contract.trace_readout(train, 5, 3) / contract.TRACE_SCALE
    assert np.abs(feats - ints).max() <= 1 / contract.TRACE_SCALE


def test_readout_settings_are_checked_with_the_limit_named():
    with pytest.raises(ValueError, match=r"'visual'.*readout must be one of count, trace"):
        PRESETS["visual"].replace(readout="rate")
    with pytest.raises(ValueError, match=r"trace shift must be an integer in \[1, 7\] \(the "
                                         r"16-bit trace register\), not 8"):
        PRESETS["visual"].replace(readout="trace", trace_shift=8)
    with pytest.raises(ValueError, match=r"in \[1, 7\].*not 0"):
        IntegerLSM(np.zeros((3, 1), np.uint8), np.zeros((3, 1), np.uint8), 2, 1, 8, 900,
                   10, 8, 1, readout="trace", trace_shift=0)
    assert parse_readout("count") == ("count", None)
    assert parse_readout("trace") == ("trace", None)
    assert parse_readout("trace:5") == ("trace", 5)
    for bad in ("count:3", "count:", "trace:", "trace:x", "trace:9", "spikes"):
        with pytest.raises(ValueError):
            parse_readout(bad)


def test_bare_trace_takes_the_window_s_time_constant():
    assert [trace_shift_for(L) for L in (1, 2, 3, 10, 25, 50, 129, 255)] == [
        1, 1, 2, 3, 5, 6, 7, 7]
    cfg = with_readout(PRESETS["visual"].replace(windows=5), "trace")
    assert (cfg.readout, cfg.trace_shift, cfg.feature_scale) == ("trace", 3, 128)
    assert with_readout(cfg, "count").feature_scale == 10
    assert with_readout(cfg, "trace:6").trace_shift == 6


def test_count_readout_keeps_the_cache_keys_of_before():
    """Features cached before the trace existed stay valid: a count readout's key has no
    trace fields; a trace readout's has both."""
    cfg = PRESETS["visual"]
    assert "readout" not in _lsm_key(cfg) and "trace_shift" not in _lsm_key(cfg)
    key = _lsm_key(cfg.replace(readout="trace", trace_shift=3))
    assert (key["readout"], key["trace_shift"]) == ("trace", 3)


def _bundle(readout, shift=3):
    return window_bundle(2, steps=20, neurons=8, inputs=6, readout=readout, trace_shift=shift)


def test_bundle_records_the_readout(tmp_path):
    path = write_bundle(tmp_path / "b", _bundle("trace", shift=5))
    lsm_meta = json.loads((path / "manifest.json").read_text())["modalities"]["visual"]["lsm"]
    assert (lsm_meta["readout"], lsm_meta["trace_shift"]) == ("trace", 5)
    lsm = load_bundle(path).modalities["visual"].lsm
    assert (lsm.readout, lsm.trace_shift, lsm.feature_scale) == ("trace", 5, 128)
    fr = _frames(3, 20, 6, density=0.4)
    assert golden_counts(lsm, fr).max() <= contract.TRACE_SCALE
    count = load_bundle(write_bundle(tmp_path / "c", _bundle("count"))).modalities["visual"]
    assert count.lsm.readout == "count"


def test_demo_with_trace_readout_end_to_end(tmp_path):
    """`train --readout`: the figures, the bundle and metrics.json carry the trace readout,
    and the bundle's golden model gives what the run's hardware path used."""
    out = tmp_path / "run"
    rc = main(["train", "--visual", "digits", "--audio", "speech", "--seeds", "0",
               "--epochs", "3", "--windows", "visual=5,audio=3",
               "--readout", "visual=trace,audio=trace:2", "--unseen-splits", "none",
               "--out", str(out), "--quiet"])
    assert rc == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["readout"]["visual"]["kind"] == "trace"
    assert metrics["readout"]["visual"]["trace_shift"] == [3]        # L = 10 -> 2**3
    assert metrics["readout"]["audio"]["trace_shift"] == [2]
    b = load_bundle(out / "bundle")
    assert {m: (mb.lsm.readout, mb.lsm.trace_shift) for m, mb in b.modalities.items()} == {
        "visual": ("trace", 3), "audio": ("trace", 2)}


@pytest.mark.parametrize("spec,message", [
    ("trace:9", r"--readout: trace shift must be an integer in \[1, 7\]"),
    ("visual=spikes", r"--readout: readout must be count, trace or trace:K"),
    ("eyes=trace", r"--readout: unknown modality 'eyes'")])
def test_cli_readout_errors(spec, message, tmp_path, capsys):
    rc = main(["train", "--visual", "digits", "--audio", "speech", "--readout", spec,
               "--out", str(tmp_path / "r")])
    assert rc == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    import re

    assert re.search(message, err), err


def test_energy_counts_the_trace_updates():
    """The trace readout costs a register update per neuron and step in both the macro and
    the digital baselines; the count readout's figures do not change."""
    from rramlsm.sw.energy import count_events, energy_figures

    fr = _frames(3, 20, 6, density=0.3)
    figures = {}
    for readout in ("count", "trace"):
        lsm = _bundle(readout).modalities["visual"].lsm
        _, trains = golden_counts(lsm, fr, record=True)
        c = count_events(lsm, 4, 3, fr, trains)
        assert c.trace_updates == (20 * 8 if readout == "trace" else 0)
        figures[readout] = energy_figures(c)
    count, trace = figures["count"], figures["trace"]
    assert "trace" not in count["macro_pj"] and trace["macro_pj"]["trace"] > 0
    extra = trace["macro_pj"]["trace"] + trace["macro_pj"]["trace_sram"]
    assert trace["macro_nj_per_sample"] * 1e3 == pytest.approx(
        count["macro_nj_per_sample"] * 1e3 + extra)
    assert trace["digital_pj"]["trace"] == trace["macro_pj"]["trace"]


def test_experiment_configs_check_the_readout():
    from rramlsm.errors import ConfigError
    from rramlsm.sw.experiments.audiovisual import PipelineConfig
    from rramlsm.sw.experiments.bmi import BMIConfig

    with pytest.raises(ConfigError, match=r"BMIConfig neural trace shift must be an integer in "
                                          r"\[1, 7\]"):
        BMIConfig(readout={"neural": "trace:9", "letters": "count"})
    with pytest.raises(ConfigError, match="BMIConfig readout must name 'neural' and 'letters'"):
        BMIConfig(readout={"neural": "trace"})
    with pytest.raises(ConfigError, match="PipelineConfig readout: unknown modality 'eyes'"):
        PipelineConfig(readout={"eyes": "trace"})
    with pytest.raises(ConfigError, match="PipelineConfig audio readout must be count, trace"):
        PipelineConfig(readout={"audio": "rate"})
    assert PipelineConfig(readout={"audio": "trace:3"}).readout == {"audio": "trace:3"}


def test_calibration_and_firing_rate_count_spikes_under_a_trace_readout():
    """The weight scale is calibrated on the spike rate, and the reported firing rate is the
    spikes', whatever the windows hold: a trace config calibrates like its count twin."""
    from rramlsm.sw.datasets.raster import RasterDataset
    from rramlsm.sw.features import firing_rate, lsm_counts
    from rramlsm.sw.lsm import calibrate_weight_scale

    fr = _frames(24, 50, 256, density=0.08, seed=5)
    count = PRESETS["visual"].replace(neurons=40, windows=5)
    trace = with_readout(count, "trace:6")
    a = calibrate_weight_scale(count, fr, seed=1, target_rate=0.05)
    b = calibrate_weight_scale(trace, fr, seed=1, target_rate=0.05)
    assert a.config.weight_scale == b.config.weight_scale and a.rate == b.rate
    assert b.config.readout == "trace"
    ds = RasterDataset("r", "vision", fr, np.arange(24) % 3, np.ones(24, bool))
    cfg_c, cfg_t = a.config, b.config
    c = lsm_counts(ds, cfg_c, seed=1, cache=False)
    t = lsm_counts(ds, cfg_t, seed=1, cache=False)
    assert not np.array_equal(c, t)
    want = c.mean() / cfg_c.window_steps
    assert firing_rate(ds, cfg_c, c, seed=1) == pytest.approx(want)
    assert firing_rate(ds, cfg_t, t, seed=1) == pytest.approx(want)
