"""Windowed readout: W counts per neuron through the contract, both models, the bundle,
the energy model and the window choice (issue 20)."""

import json

import numpy as np
import pytest

from rramlsm.errors import BundleError
from rramlsm.sw import contract
from rramlsm.sw.bundle import Bundle, ModalityBundle, load_bundle, write_bundle
from rramlsm.sw.energy import count_events
from rramlsm.sw.features import window_sums
from rramlsm.sw.golden import golden_counts, quantize_reservoir
from rramlsm.sw.heads import IntegerHead, IntegerLayer
from rramlsm.sw.kernels import usable_golden
from rramlsm.sw.lsm import PRESETS, LSMConfig, float_features, make_reservoir, run_lif
from rramlsm.sw.readout import readout_steps, select_windows


def _frames(n, steps, inputs, density=0.1, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.random((n, steps, inputs)) < density).astype(np.uint8)


def test_window_steps_contract():
    assert contract.window_steps(50, 1) == 50
    assert contract.window_steps(200, 8) == 25
    with pytest.raises(ValueError, match=r"must divide the steps \(201\).*1, 3"):
        contract.window_steps(201, 4)
    with pytest.raises(ValueError, match="at most 8"):
        contract.window_steps(256, 16)
    with pytest.raises(ValueError, match="positive integer"):
        contract.window_steps(50, 0)


def test_config_refuses_windows_that_do_not_divide():
    with pytest.raises(ValueError, match="'visual'.*must divide the steps"):
        PRESETS["visual"].replace(windows=3)
    cfg = PRESETS["visual"].replace(windows=5)
    assert (cfg.window_steps, cfg.features) == (10, 5 * cfg.neurons)


@pytest.mark.parametrize("windows", [1, 2, 5])
def test_golden_windows_are_the_train_summed_per_window(windows):
    """Every kernel's window counts equal the recorded spike train summed over each window
    (window-major), and W = 1 is the total count of before."""
    cfg = PRESETS["visual"].replace(neurons=48, windows=windows)
    lsm = quantize_reservoir(make_reservoir(cfg, seed=3))
    fr = _frames(12, 50, 256, seed=windows)
    _, train = golden_counts(quantize_reservoir(make_reservoir(cfg.replace(windows=1),
                                                               seed=3)), fr, record=True)
    want = window_sums(train, windows)
    assert want.shape == (12, windows * 48)
    for k in usable_golden("cpu"):
        got = golden_counts(lsm, fr, kernel=k)
        assert got.dtype == np.int32 and np.array_equal(got, want), k
    # A window holds only its own steps: the first window equals the count of the
    # first L steps run alone.
    first = golden_counts(quantize_reservoir(make_reservoir(
        cfg.replace(steps=50 // windows, windows=1), seed=3)), fr[:, : 50 // windows])
    assert np.array_equal(want[:, :48], first)


def test_float_windows_match_float_train():
    cfg = PRESETS["visual"].replace(neurons=40, windows=5)
    res = make_reservoir(cfg, seed=1)
    fr = _frames(8, 50, 256)
    feats, train = float_features(res, fr, record=True)
    assert np.array_equal(feats * 10, window_sums(train, 5).astype(np.float32))
    w_in, w_rec = res.float_weights()
    import torch

    counts = run_lif(torch.as_tensor(fr), w_in, w_rec, cfg.decay, cfg.threshold, windows=5)
    assert np.array_equal(counts.numpy(), window_sums(train, 5))


def _bundle(windows, steps=50, neurons=16, inputs=8, dim=4, **lsm):
    """A one-modality bundle with a random head over ``windows`` x ``neurons`` inputs
    (``lsm``: more LSMConfig fields, e.g. the readout)."""
    rng = np.random.default_rng(0)
    cfg = LSMConfig("visual", inputs, neurons, steps, windows=windows, **lsm)
    lsm = quantize_reservoir(make_reservoir(cfg, seed=0))
    layer = IntegerLayer(rng.integers(-20, 20, (windows * neurons, dim)).astype(np.int8),
                         np.zeros(dim, np.int32), 8, np.arange(-128, 128, dtype=np.int8),
                         1.0, 1.0)
    protos = rng.integers(-100, 100, (3, dim)).astype(np.int8)
    return Bundle({"visual": ModalityBundle(lsm, IntegerHead((layer,)), protos,
                                            np.array([0, 1, 2]))})


def test_bundle_round_trip_with_windows(tmp_path):
    path = write_bundle(tmp_path / "b", _bundle(5))
    manifest = json.loads((path / "manifest.json").read_text())
    assert manifest["version"] == 4 and manifest["modalities"]["visual"]["lsm"]["windows"] == 5
    mb = load_bundle(path).modalities["visual"]
    assert (mb.lsm.windows, mb.lsm.features) == (5, 80)
    fr = _frames(4, 50, 8, density=0.3)
    assert mb.classify(golden_counts(mb.lsm, fr)).shape == (4,)


def test_version_1_bundle_loads_as_one_window(tmp_path):
    """A bundle written before windows existed (version 1, no ``windows`` field) loads as
    W = 1, which is what it computed."""
    path = write_bundle(tmp_path / "b", _bundle(1))
    mf = path / "manifest.json"
    manifest = json.loads(mf.read_text())
    manifest["version"] = 1
    del manifest["modalities"]["visual"]["lsm"]["windows"]
    del manifest["modalities"]["visual"]["lsm"]["levels"]
    del manifest["modalities"]["visual"]["lsm"]["trace_shift"]
    del manifest["modalities"]["visual"]["lsm"]["readout"]
    mf.write_text(json.dumps(manifest))
    lsm = load_bundle(path).modalities["visual"].lsm
    assert (lsm.windows, lsm.readout) == (1, "count")
    manifest["version"] = 5
    mf.write_text(json.dumps(manifest))
    with pytest.raises(BundleError, match="version 5 is not supported"):
        load_bundle(path)


def test_bundle_head_must_read_every_window(tmp_path):
    path = write_bundle(tmp_path / "b", _bundle(5))
    mf = path / "manifest.json"
    manifest = json.loads(mf.read_text())
    manifest["modalities"]["visual"]["lsm"]["windows"] = 1
    mf.write_text(json.dumps(manifest))
    with pytest.raises(BundleError, match="takes 80 inputs, expected 16"):
        load_bundle(path)


def test_energy_head_reads_every_window():
    cfg = LSMConfig("visual", 8, 16, 50, windows=5)
    lsm = quantize_reservoir(make_reservoir(cfg, seed=0))
    fr = _frames(3, 50, 8, density=0.3)
    _, trains = golden_counts(lsm, fr, record=True)
    c = count_events(lsm, 4, 3, fr, trains)
    assert c.head_macs == 5 * 16 * 4


def test_readout_steps():
    assert readout_steps(201, 8) == 200
    assert readout_steps(201, 3) == 201
    with pytest.raises(ValueError):
        readout_steps(5, 8)


def test_select_windows_finds_order_and_prefers_fewer():
    """Classes that differ only in *when* neurons fire need windows; classes that differ
    in how much they fire do not, and then the one-standard-error rule keeps W = 1."""
    rng = np.random.default_rng(0)
    n, steps, neurons = 120, 40, 6
    labels = np.repeat([0, 1], n // 2)
    # Timing classes: the same neurons fire in the first or in the second half.
    trains = (rng.random((n, steps, neurons)) < 0.05).astype(np.uint8)
    half = np.where(labels[:, None] == 0, np.arange(steps) < 20, np.arange(steps) >= 20)
    trains |= ((rng.random((n, steps, neurons)) < 0.4) & half[:, :, None]).astype(np.uint8)
    timing = select_windows(trains, labels)
    assert timing.scores[1] < 75 and timing.scores[2] > 95 and timing.windows >= 2
    # Rate classes: class 1 fires twice as often throughout.
    rate = np.where(labels[:, None, None] == 0, 0.1, 0.3)
    trains = (rng.random((n, steps, neurons)) < rate).astype(np.uint8)
    amount = select_windows(trains, labels)
    assert amount.scores[1] > 95 and amount.windows == 1
    with pytest.raises(ValueError, match="two training samples of every class"):
        select_windows(trains[:3], np.array([0, 0, 1]))


def test_fit_windows_keeps_every_searched_pair_valid():
    from rramlsm.sw.readout import fit_windows

    assert fit_windows(129, 4) == 3 and fit_windows(50, 8) == 5 and fit_windows(25, 4) == 1
    assert fit_windows(200, 8) == 8 and fit_windows(64, 100) == 8
    for steps in (25, 35, 50, 75, 100, 64, 96, 129, 160, 200):
        for w in (1, 2, 4, 5, 8):
            assert steps % fit_windows(steps, w) == 0
    with pytest.raises(ValueError):
        fit_windows(50, 0)


@pytest.mark.parametrize("spec, message", [
    ("9", "'9' is not a window count"), ("visual=x", "'x' is not a window count"),
    ("speech=2", "unknown modality 'speech'")])
def test_cli_windows_errors(spec, message, tmp_path, capsys):
    from rramlsm.cli import main

    assert main(["train", "--visual", "digits", "--audio", "speech", "--windows", spec,
                 "--seeds", "0", "--out", str(tmp_path / "o"),
                 "--quiet"]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not (tmp_path / "o").exists()


def test_counts_known_from_the_window_choice_are_the_float_models(monkeypatch):
    """The pipeline takes the seen training samples' float counts from the pass that chose
    the windows (``known``): exactly what the float model computes for them, and those
    samples do not run again."""
    from rramlsm.sw import features
    from rramlsm.sw.datasets.raster import RasterDataset
    from rramlsm.sw.readout import with_readout

    cfg = PRESETS["visual"].replace(neurons=40, windows=5)
    fr = _frames(30, 50, 256, density=0.05, seed=7)
    ds = RasterDataset("t", "visual", fr, np.arange(30) % 3, np.ones(30, bool))
    idx = np.array([3, 5, 11, 12, 29])
    _, trains = float_features(make_reservoir(cfg.replace(windows=1), seed=3), fr[idx],
                               record=True)
    known = features.known_counts(idx, trains, cfg)
    full = features.lsm_counts(ds, cfg, seed=3, cache=False)
    assert full.sum() > 0
    ran = []
    real = features.float_features
    monkeypatch.setattr(features, "float_features",
                        lambda res, x, **kw: ran.append(len(x)) or real(res, x, **kw))
    assert np.array_equal(features.lsm_counts(ds, cfg, seed=3, cache=False, known=known), full)
    assert sum(ran) == 30 - len(idx)
    # The model is causal: the trains of the first 40 steps are those of frames cut to 40
    # steps (the BMI reads a recording over its first T - T mod W bins, and takes the
    # choice's trains, recorded over all T, for them).
    _, cut = float_features(make_reservoir(cfg.replace(windows=1, steps=40), seed=3),
                            fr[idx, :40], record=True)
    assert np.array_equal(cut, trains[:, :40])
    # A float trace is not a function of the train: nothing is known then.
    assert features.known_counts(idx, trains, with_readout(cfg, "trace")) is None
    with pytest.raises(ValueError, match="float path's spike counts only"):
        features.lsm_counts(ds, cfg, seed=3, path="golden", cache=False, known=known)
    with pytest.raises(ValueError, match=r"uint8 \[5, 200\]"):
        features.lsm_counts(ds, cfg, seed=3, cache=False, known=(idx, known[1][:, :7]))
