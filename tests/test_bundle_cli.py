"""The export bundle (round trip, rejection of damage) and the train / eval / export CLI."""

import json
import shutil

import numpy as np
import pytest

from rramlsm.cli import main
from rramlsm.errors import BundleError
from rramlsm.sw.bundle import load_bundle, write_bundle
from tests.test_cosim import _noise_bundle


def test_demo_writes_metrics_report_and_bundle(demo_run):
    m = json.loads((demo_run / "metrics.json").read_text())
    for path in ("software", "hardware"):
        for k in ("seen_top1", "unseen_top1"):
            assert 0 <= m[path]["zero_shot"][k] <= 100
        for k in ("visual_top1", "audio_top1"):
            assert 0 <= m[path]["probe"][k] <= 100
        assert f"{'seen_top1'}_sd" in m[path]["zero_shot"]
    assert 0 <= m["hardware"]["zero_shot_cosine"]["unseen_top1"] <= 100
    assert m["software"]["test_selected"]["unseen_top1"] >= 0
    assert m["training_cost"]["srnn_clip_ratio"] > 1
    assert m["training_cost"]["protonet_ratio"] > 1
    assert m["seconds"] > 0
    assert m["protocol"]["seeds"] == [0, 1]
    # Readout windows chosen per seed by default, among the counts dividing each framing's
    # steps (visual 50, audio 129).
    assert set(m["readout"]["visual"]["cv_top1"]) >= {"1", "2", "5"}
    assert set(m["readout"]["audio"]["cv_top1"]) >= {"1", "3"}
    # The demo's short RTL check on Verilator: 5 samples per modality, bit-exact.
    assert m["rtl_check"]["ran"] and m["rtl_check"]["samples"] == 10
    assert m["rtl_check"]["mismatches"] == 0 and m["rtl_check"]["passed"]
    html = (demo_run / "report.html").read_text()
    assert html.count("data:image/png;base64,") >= 5 and "87.5" in html
    assert (demo_run / "bundle" / "manifest.json").exists()
    assert (demo_run / "models" / "seed1" / "manifest.json").exists()
    # Software and hardware figures come from the same heads: close on the probes.
    assert abs(m["software"]["probe"]["visual_top1"] - m["hardware"]["probe"]["visual_top1"]) < 3


def test_bundle_round_trip_is_exact(demo_run, tmp_path, digits):
    b = load_bundle(demo_run / "bundle")
    assert set(b.modalities) == {"visual", "audio"}
    vis = b.modalities["visual"]
    assert vis.lsm.pos.shape == (456, 200) and vis.prototypes.shape == (9, 64)
    assert list(vis.classes) == list(range(1, 10))
    write_bundle(tmp_path / "copy", b)
    c = load_bundle(tmp_path / "copy")
    for m in b.modalities:
        # One count per neuron and readout window (the demo chooses the windows per seed).
        counts = np.random.default_rng(0).integers(
            0, 50, size=(30, b.modalities[m].lsm.features)).astype(np.uint8)
        np.testing.assert_array_equal(b.modalities[m].lsm.pos, c.modalities[m].lsm.pos)
        np.testing.assert_array_equal(b.modalities[m].classify(counts),
                                      c.modalities[m].classify(counts))
        np.testing.assert_array_equal(b.modalities[m].embed(counts), c.modalities[m].embed(counts))


def _copy(demo_run, tmp_path):
    dst = tmp_path / "b"
    shutil.copytree(demo_run / "bundle", dst)
    return dst


def test_bundle_rejects_corruption(demo_run, tmp_path):
    b = _copy(demo_run, tmp_path)
    f = b / "visual" / "head0_weight.npy"
    raw = bytearray(f.read_bytes())
    raw[-1] ^= 0xFF
    f.write_bytes(bytes(raw))
    with pytest.raises(BundleError, match=r"head0_weight.npy: SHA-256 mismatch"):
        load_bundle(b)


def test_bundle_rejects_truncation_and_missing_files(demo_run, tmp_path):
    b = _copy(demo_run, tmp_path)
    f = b / "audio" / "crossbar_pos.npy"
    f.write_bytes(f.read_bytes()[:100])
    with pytest.raises(BundleError, match="crossbar_pos.npy: SHA-256 mismatch"):
        load_bundle(b)
    f.unlink()
    with pytest.raises(BundleError, match="crossbar_pos.npy: missing"):
        load_bundle(b)


def test_bundle_rejects_wrong_version_and_shapes(demo_run, tmp_path):
    b = _copy(demo_run, tmp_path)
    mf = b / "manifest.json"
    good = json.loads(mf.read_text())
    bad = dict(good, version=99)
    mf.write_text(json.dumps(bad))
    with pytest.raises(BundleError, match="bundle version 99 is not supported"):
        load_bundle(b)
    bad = json.loads(json.dumps(good))
    bad["modalities"]["visual"]["lsm"]["neurons"] = 199
    mf.write_text(json.dumps(bad))
    with pytest.raises(BundleError, match=r"crossbar_pos.npy: shape \[456, 200\].*expected "
                                          r"\[455, 199\]"):
        load_bundle(b)
    bad = json.loads(json.dumps(good))
    bad["schema"] = "something-else"
    mf.write_text(json.dumps(bad))
    with pytest.raises(BundleError, match="schema is 'something-else'"):
        load_bundle(b)
    mf.write_text("{not json")
    with pytest.raises(BundleError, match="not valid JSON"):
        load_bundle(b)
    with pytest.raises(BundleError, match="no such bundle folder"):
        load_bundle(tmp_path / "nothing")


def test_failed_write_keeps_the_old_bundle(demo_run, tmp_path, monkeypatch):
    b = load_bundle(demo_run / "bundle")
    dst = write_bundle(tmp_path / "x", b)
    before = (dst / "manifest.json").read_bytes()
    import rramlsm.sw.bundle as mod

    def boom(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(mod.np, "save", boom)
    with pytest.raises(OSError, match="disk full"):
        write_bundle(dst, b)
    assert (dst / "manifest.json").read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["x"]  # no temporary folder left
    (tmp_path / "notabundle").mkdir()
    monkeypatch.undo()
    with pytest.raises(BundleError, match="not a bundle; refusing"):
        write_bundle(tmp_path / "notabundle", b)


def test_eval_and_export_commands(demo_run, tmp_path, capsys):
    assert main(["eval", "--bundle", str(demo_run / "bundle"), "--out",
                 str(tmp_path / "e.json")]) == 0
    e = json.loads((tmp_path / "e.json").read_text())
    assert e["visual"]["samples"] > 100 and 11.1 < e["visual"]["top1"] <= 100
    assert main(["export", "--bundle", str(demo_run / "bundle"), "--out", str(tmp_path / "x"),
                 "--mem"]) == 0
    mem = (tmp_path / "x" / "mem" / "visual" / "crossbar_pos.mem").read_text().split()
    assert len(mem) == 456 * 200 and all(len(w) == 2 for w in mem)
    pos = load_bundle(tmp_path / "x").modalities["visual"].lsm.pos
    assert [int(w, 16) for w in mem[:10]] == pos.ravel()[:10].tolist()
    bias = (tmp_path / "x" / "mem" / "visual" / "head0_bias.mem").read_text().split()
    b = load_bundle(tmp_path / "x").modalities["visual"].head.layers[0].bias
    assert [int(w, 16) - (1 << 32) * (int(w, 16) >> 31) for w in bias] == b.tolist()


def test_train_errors_are_clear(capsys, tmp_path, fsdd_dir, digits):
    assert main(["train", "--visual", "speech", "--audio", "speech", "--out", str(tmp_path),
                 "--quiet"]) == 2
    assert "--visual: 'speech' is an audio source" in capsys.readouterr().err
    # The shared FSDD files are all test split: there is nothing to train on.
    assert main(["train", "--visual", "digits", "--audio", f"fsdd:{fsdd_dir}", "--out",
                 str(tmp_path), "--quiet", "--seeds", "0", "--epochs", "1"]) == 2
    assert "training samples" in capsys.readouterr().err
    assert main(["train", "--visual", "digits", "--audio", "speech", "--out", str(tmp_path),
                 "--epochs", "0"]) == 2
    assert "epochs must be an integer >= 1, not 0" in capsys.readouterr().err
    assert main(["train", "--visual", "digits", "--audio", "speech", "--out", str(tmp_path),
                 "--levels", "300"]) == 2
    assert "--levels must be in 2..256 (8-bit device codes), not 300" in capsys.readouterr().err
    assert main(["train", "--task", "bmi", "--out", str(tmp_path), "--levels", "16"]) == 2
    assert "--levels: the BMI task has no bundle" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())         # refused before anything was written
    assert main(["eval", "--bundle", str(tmp_path / "none")]) == 2
    assert "no such bundle folder" in capsys.readouterr().err


def test_train_runs_on_files_in_the_real_formats(tmp_path, digits, speech, capsys):
    """N-MNIST .bin folders and an N-TIDIGITS HDF5 file (written from the built-ins)."""
    from rramlsm.sw.datasets import write_ntidigits
    from rramlsm.sw.datasets.nmnist import write_nmnist_file

    root = tmp_path / "nmnist"
    recs = {"train": [], "test": []}
    for c in range(10):
        for k, i in enumerate(np.flatnonzero(digits.labels == c)[:24]):
            split = "Train" if k < 18 else "Test"
            write_nmnist_file(root / split / str(c) / f"{i}.bin", digits.events[i])
        for k, i in enumerate(np.flatnonzero(speech.labels == c)[:24]):
            word = "z" if c == 0 else str(c)
            recs["train" if k < 18 else "test"].append((f"spk{k}-{i}-{word}", speech.events[i]))
    write_ntidigits(tmp_path / "tidigits.h5", recs)
    out = tmp_path / "run"
    assert main(["train", "--visual", f"nmnist:{root}", "--audio",
                 f"ntidigits:{tmp_path / 'tidigits.h5'}", "--out", str(out), "--seeds", "0",
                 "--epochs", "2", "--checkpoint", "average", "--quiet"]) == 0
    m = json.loads((out / "metrics.json").read_text())
    assert m["sources"]["visual"].startswith("nmnist:")
    assert m["protocol"]["selection"].startswith("weights averaged over epochs 1-2")
    assert m["software"]["zero_shot"]["seen_top1"] > 100 / 7  # above chance even so briefly
    assert load_bundle(out / "bundle").modalities["audio"].lsm.inputs == 64


def test_export_writes_each_reservoir_as_nir(demo_run, tmp_path, capsys):
    """``export --nir``: the bundle's codes and float configuration as NIR graphs that
    snnTorch imports into our float model's spike counts."""
    import nir
    import numpy as np
    import torch

    from rramlsm.sw.lsm import run_lif
    from rramlsm.sw.nir_export import reservoir_from_bundle
    from tests.test_nir import _snntorch_counts

    assert main(["export", "--bundle", str(demo_run / "bundle"), "--out", str(tmp_path / "x"),
                 "--nir"]) == 0
    assert "2 NIR graphs" in capsys.readouterr().out
    mb = load_bundle(demo_run / "bundle").modalities["audio"]
    g = nir.read(tmp_path / "x" / "nir" / "audio.nir")
    cfg = mb.config["lsm"]
    lsb = (cfg["device"]["g_max_us"] - cfg["device"]["g_min_us"]) / (cfg["device"]["levels"] - 1)
    codes = mb.lsm.weight_codes
    scale = lsb * cfg["weight_scale"]
    np.testing.assert_allclose(g.nodes["input_weights"].weight, (codes[:64] * scale).T,
                               rtol=1e-6)
    np.testing.assert_allclose(g.nodes["lsm"].nodes["w_rec"].weight,
                               (codes[64:] * scale).T, rtol=1e-6)
    res = reservoir_from_bundle(mb)
    x = (np.random.default_rng(0).random((4, 30, 64)) < 0.1).astype(np.float32)
    w_in, w_rec = res.float_weights()
    want = run_lif(torch.as_tensor(x), w_in, w_rec, res.config.decay, res.config.threshold)
    np.testing.assert_array_equal(_snntorch_counts(g, x), want.numpy())


def _tiny_bundle(*, noise=0, shift=1, bias=(0, 0, 0), classes=(1, 2)):
    """A 3-input, 2-neuron macro with a 3-wide head, small enough to reason about."""
    from rramlsm.sw import contract
    from rramlsm.sw.bundle import Bundle, ModalityBundle
    from rramlsm.sw.golden import IntegerLSM
    from rramlsm.sw.heads import IntegerHead, IntegerLayer

    codes = np.full((5, 2), 7, np.uint8)
    lsm = IntegerLSM(codes, codes, 3, 2, 10, 900, 100, 8, shift, noise, 3)
    weight = np.array([[127, -128, 1], [127, -128, 1]], np.int8)
    layer = IntegerLayer(weight, np.asarray(bias, np.int32), 4, contract.gelu_lut(0.1), 0.1, 0.1)
    protos = np.array([[1, 2, 3], [-3, 2, 1]][: len(classes)], np.int8)
    return Bundle({"visual": ModalityBundle(lsm, IntegerHead((layer,)), protos,
                                            np.asarray(classes))})


@pytest.mark.parametrize("kw,message", [
    ({"noise": 1 << 16}, r"noise_amplitude = 65536 does not fit the RTL's 16-bit noise_amp "
                         r"register \(0\.\.65535\)"),
    ({"shift": 21}, r"adc_shift = 21 does not fit the RTL's ADC shift register \(0\.\.20\)"),
    ({"classes": (1, 256)}, r"class label = 256 does not fit the RTL's 8-bit label memory"),
    # Counts reach T = 10: 10 x (127 + 127) on top of the bias leaves the int32 range.
    ({"bias": (2**31 - 2540, 0, 0)}, r"head layer 0 bias\[0\] = 2147481108 lets the "
                                     r"accumulator reach 2147481108\.\.2147483648, outside "
                                     r"the RTL's 32-bit accumulator"),
    ({"bias": (0, -2**31 + 2559, 0)}, r"bias\[1\] = -2147481089 lets the accumulator reach "
                                      r"-2147483649\.\.-2147481089")])
def test_bundle_values_wider_than_the_rtl_are_refused(kw, message):
    """The golden model computes in wider integers: such a bundle would silently give
    other results than the RTL."""
    with pytest.raises(BundleError, match=message):
        _tiny_bundle(**kw)


def test_bundle_at_the_rtl_limits_is_accepted_and_checked_on_load(tmp_path):
    edge = _tiny_bundle(noise=(1 << 16) - 1, shift=20, bias=(2**31 - 2541, -2**31 + 2560, 0),
                        classes=(0, 255))
    path = write_bundle(tmp_path / "b", edge)
    assert load_bundle(path).modalities["visual"].lsm.noise_amplitude == 65535
    # A manifest edited past a register's width is refused by name, with its limit.
    mf = path / "manifest.json"
    good = mf.read_text()
    for field, value, message in (("noise_amplitude", 70000, "noise_amplitude = 70000"),
                                  ("adc_shift", 31, "adc_shift = 31")):
        manifest = json.loads(good)
        manifest["modalities"]["visual"]["lsm"][field] = value
        mf.write_text(json.dumps(manifest))
        with pytest.raises(BundleError, match=rf"manifest.json: modality 'visual': {message} "
                                              rf"does not fit"):
            load_bundle(path)


def _set(*keys_and_value):
    """A manifest edit: the value at the path of keys (``-1``: delete the last key)."""
    *keys, value = keys_and_value

    def edit(manifest):
        node = manifest
        for k in keys[:-1]:
            node = node[k]
        if value == -1:
            del node[keys[-1]]
        else:
            node[keys[-1]] = value
    return edit


@pytest.mark.parametrize("edit, message", [
    (_set("contract", -1), r"the arithmetic contract's constants \(.*\) are not all recorded"),
    (_set("contract", "ACC_BITS", -1), "are not all recorded"),
    (_set("modalities", "visual", "classes", [1, 1, 3, 4]), r"classes repeat: \[1, 1, 3, 4\]"),
    (_set("modalities", "visual", "classes", [1.5, 2, 3, 4]), "classes: 1.5 is not an integer"),
    # Said once (the message used to repeat its own prefix).
    (_set("modalities", "visual", "classes", "abc"),
     r"^[^:]*manifest\.json: modality 'visual' classes: not a list$"),
    (_set("modalities", "visual", "lsm", "neurons", 12.7), "lsm.neurons: 12.7 is not an integer"),
    (_set("modalities", "audio", "lsm", "noise_amplitude", 0.5),
     "lsm.noise_amplitude: 0.5 is not an integer"),
    (_set("modalities", "visual", "head", "layers", 0, "in_scale", float("nan")),
     "visual head layer 0: nan is not a finite positive number"),
    (_set("modalities", "visual", "head", "layers", 0, "weight_scale", 0),
     "visual head layer 0: 0 is not a finite positive number"),
    (_set("modalities", "visual", "head", "layers", 0, "shift", 2.5),
     "visual head layer 0: 2.5 is not an integer"),
    (_set("modalities", "visual", "head", "layers", 0, "outputs", 8.0),
     "visual head layer 0: 8.0 is not an integer")])
def test_bundle_manifest_values_are_checked_not_cut(tmp_path, edit, message):
    """Values no writer produces (fractions where integers belong, repeated classes, a NaN
    scale, the contract left out) are refused with the field named, not truncated by
    ``int()`` or copied into every export."""
    b = _noise_bundle(tmp_path / "b", noise=0)
    mf = b / "manifest.json"
    manifest = json.loads(mf.read_text())
    edit(manifest)
    mf.write_text(json.dumps(manifest))
    with pytest.raises(BundleError, match=message):
        load_bundle(b)
