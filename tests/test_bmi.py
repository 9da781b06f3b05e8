"""BMI task: letter glyph data, the motor-cortex model, singleLetters.mat, tiled golden model,
and the task end to end (small sizes)."""

from __future__ import annotations

import json
import subprocess
import sys

import h5py
import numpy as np
import pytest

from rramlsm.errors import ConfigError, EventDataError
from rramlsm.sw import contract
from rramlsm.sw.datasets.letters import (
    CUBE_KEY,
    LETTERS,
    LetterImageConfig,
    MotorCortexConfig,
    build_letter_images,
    build_neural,
    glyph_contours,
    letter_images,
    load_single_letters,
    pen_trajectory,
    read_single_letters,
    write_single_letters,
)
from rramlsm.sw.datasets.raster import RasterDataset
from rramlsm.sw.experiments import bmi
from rramlsm.sw.experiments.bmi import BMIConfig, bmi_zeroshot_config, run_bmi
from rramlsm.sw.experiments.report import write_bmi_report
from rramlsm.sw.experiments.training_cost import head_training_flops
from rramlsm.sw.features import lsm_counts
from rramlsm.sw.golden import golden_counts, quantize_reservoir
from rramlsm.sw.lsm import LSMConfig, make_reservoir
from rramlsm.sw.readout import trace_shift_for
from rramlsm.sw.zeroshot import held_out_class_groups, train_heads

SMALL_NEURAL = MotorCortexConfig(trials=8)
SMALL_IMAGES = LetterImageConfig(per_letter=8)


@pytest.fixture(scope="module")
def neural():
    return build_neural(SMALL_NEURAL)


@pytest.fixture(scope="module")
def images():
    return build_letter_images(SMALL_IMAGES)


def test_glyphs_are_normalised_and_trajectories_have_constant_speed():
    for ch in "aiosw":
        allp = np.concatenate(glyph_contours(ch))
        assert np.ptp(allp, axis=0).max() == pytest.approx(1.0)
        assert np.abs(allp).max() <= 0.5 + 1e-9
        xy = pen_trajectory(ch, 201)
        assert xy.shape == (201, 2)
        step = np.linalg.norm(np.diff(xy, axis=0), axis=1)
        # Equal arc length per sample: chords equal it on straight stretches and are only
        # shorter where a sample pair spans a corner.
        assert step.max() == pytest.approx(np.median(step), rel=1e-6)
        assert step.mean() > 0.95 * step.max() and step.min() > 0
    # Holes are traced too: 'o' has an outer and an inner contour.
    assert len(glyph_contours("o")) == 2
    with pytest.raises(ValueError, match="one character"):
        glyph_contours("ab")


def test_letter_images_are_distorted_glyphs(images):
    rng = np.random.default_rng(0)
    a = letter_images("a", 5, SMALL_IMAGES, rng)
    assert a.shape == (5, 28, 28) and a.min() >= 0 and a.max() <= 1
    assert not np.allclose(a[0], a[1])  # random distortion per image
    # The letter sits in the frame (MNIST-like): ink in the centre, blank corners.
    assert a[:, 10:18, 10:18].mean() > a[:, :3, :3].mean()
    # Distinct letters differ more than two samples of one letter, on average.
    o = letter_images("o", 5, SMALL_IMAGES, rng)
    within = np.abs(a[:, None] - a[None]).mean()
    across = np.abs(a[:, None] - o[None]).mean()
    assert across > within
    assert images.frames.shape == (26 * 8, 50, 784) and images.frames.dtype == np.uint8
    assert images.labels.tolist() == [c for c in range(26) for _ in range(8)]
    assert (~images.is_train).sum() == 26 * 2


def test_rate_code_is_point_four_times_the_pixel():
    cfg = LetterImageConfig(per_letter=2, steps=400, seed=3)
    ds = build_letter_images(cfg, letters="ab")
    img = letter_images("a", 2, cfg, np.random.default_rng(3))  # same draws as the builder
    np.testing.assert_allclose(ds.frames[:2].mean(1), 0.4 * img.reshape(2, -1), atol=0.12)
    assert ds.frames[:2].mean() == pytest.approx(0.4 * img.mean(), rel=0.05)


def test_neural_model_encodes_the_letter(neural):
    assert neural.frames.shape == (26 * 8, 201, 192)
    assert neural.frames.dtype == np.uint8 and neural.frames.max() == 1
    # Writing starts near the go cue: activity changes after it, not before.
    pre = neural.frames[:, :40].mean()
    assert 0.02 < pre < 0.2
    # Nearest-centroid decoding of binned counts, trained on the training trials.
    x = neural.frames[:, :200].reshape(len(neural), 20, 10, 192).sum(2).reshape(len(neural), -1)
    x = x.astype(np.float64)
    tr = neural.is_train
    cent = np.stack([x[tr & (neural.labels == c)].mean(0) for c in range(26)])
    pred = np.argmin(((x[~tr][:, None] - cent[None]) ** 2).sum(-1), axis=1)
    acc = (pred == neural.labels[~tr]).mean()
    assert acc > 0.3, acc  # chance is 1/26


def test_neural_model_is_seeded(neural):
    again = build_neural(SMALL_NEURAL)
    np.testing.assert_array_equal(again.frames, neural.frames)
    other = build_neural(MotorCortexConfig(trials=8, seed=2))
    assert (other.frames != neural.frames).any()


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"trials": 1}, "trials must be an integer >= 2"),
    ({"go_bin": 500}, "go_bin must be an integer <= 200"),
    ({"tuned_fraction": 1.5}, "tuned_fraction must be <= 1.0"),
    ({"bin_s": 0.0}, "bin_s must be > 0"),
])
def test_motor_cortex_config_messages(kwargs, message):
    with pytest.raises(ValueError, match=message):
        MotorCortexConfig(**kwargs)


def _counts(neural: RasterDataset) -> dict[str, np.ndarray]:
    """Spike counts (not just 0/1) in Willett's layout, one cube per letter."""
    rng = np.random.default_rng(0)
    return {ch: neural.frames[neural.labels == c] * rng.integers(1, 4, neural.frames[
        neural.labels == c].shape) for c, ch in enumerate(LETTERS)}


def test_single_letters_round_trip_v5(tmp_path, neural):
    cubes = _counts(neural)
    path = write_single_letters(tmp_path / "singleLetters.mat", cubes)
    back = read_single_letters(path)
    for ch in LETTERS:
        np.testing.assert_array_equal(back[ch], cubes[ch])
    ds = load_single_letters(path)
    np.testing.assert_array_equal(ds.frames, neural.frames)  # binarised counts
    np.testing.assert_array_equal(ds.labels, neural.labels)
    np.testing.assert_array_equal(ds.is_train, neural.is_train)  # last 25 % held out
    assert ds.modality == "neural" and ds.class_names == tuple(LETTERS)


def _write_v73(path, cubes):
    """A MATLAB v7.3 file: HDF5 with MATLAB's 512-byte user block and column-major arrays."""
    with h5py.File(path, "w", userblock_size=512) as f:
        for ch, cube in cubes.items():
            f[CUBE_KEY.format(ch)] = np.ascontiguousarray(cube.T).astype(np.float64)
        f["blockList"] = np.arange(3.0)
    header = b"MATLAB 7.3 MAT-file, Platform: GLNXA64, Created by rramlsm tests".ljust(116)
    with open(path, "r+b") as f:
        f.write(header + b"\0" * 8 + b"\x00\x02IM")


def test_single_letters_v73_through_h5py(tmp_path, neural):
    cubes = _counts(neural)
    path = tmp_path / "singleLetters.mat"
    _write_v73(path, cubes)
    back = read_single_letters(path)
    for ch in LETTERS:
        np.testing.assert_array_equal(back[ch], cubes[ch])


def test_bad_single_letters_files(tmp_path, neural):
    cubes = _counts(neural)
    with pytest.raises(EventDataError, match="no such file"):
        read_single_letters(tmp_path / "missing.mat")
    junk = tmp_path / "junk.mat"
    junk.write_bytes(b"not a mat file at all" * 20)
    with pytest.raises(EventDataError, match="junk.mat: not a readable MATLAB file"):
        read_single_letters(junk)
    missing = dict(cubes)
    del missing["q"]
    p = write_single_letters(tmp_path / "noq.mat", missing)
    with pytest.raises(EventDataError, match="no variable 'neuralActivityCube_q'"):
        read_single_letters(p)
    bad = dict(cubes, b=-cubes["b"] - 1)
    p = write_single_letters(tmp_path / "neg.mat", bad)
    with pytest.raises(EventDataError, match="neuralActivityCube_b holds negative"):
        read_single_letters(p)
    bad = dict(cubes, c=cubes["c"][:, :100])
    p = write_single_letters(tmp_path / "bins.mat", bad)
    with pytest.raises(EventDataError, match=r"neuralActivityCube_c has \[100, 192\]"):
        read_single_letters(p)
    bad = dict(cubes, d=cubes["d"][0])
    p = write_single_letters(tmp_path / "2d.mat", bad)
    with pytest.raises(EventDataError, match=r"\[trials, bins, channels\]"):
        read_single_letters(p)


def test_raster_dataset_rejects_non_binary():
    with pytest.raises(EventDataError, match="uint8 0/1"):
        RasterDataset("x", "neural", np.full((2, 3, 4), 2, np.uint8), [0, 1], [True, False])
    with pytest.raises(EventDataError, match="2 rasters but 3 labels"):
        RasterDataset("x", "neural", np.zeros((2, 3, 4), np.uint8), [0, 1, 2], [True, False])


def test_tiled_golden_model_is_one_tall_array():
    """192 + 1000 rows span two 1,024-row tiles; the result is the exact arithmetic of one
    array (numpy int64 reference per step)."""
    cfg = LSMConfig("neural", inputs=192, neurons=1000, steps=12, decay=0.95, threshold=0.1,
                    weight_scale=0.0005)
    lsm = quantize_reservoir(make_reservoir(cfg, seed=4))
    assert lsm.tiles == 2 and contract.column_sum_bits(1192) == 21
    rng = np.random.default_rng(1)
    x = (rng.random((20, cfg.steps, cfg.inputs)) < 0.15).astype(np.uint8)
    got = golden_counts(lsm, x)
    w = lsm.weight_codes.astype(np.int64)
    v = np.zeros((20, cfg.neurons), np.int64)
    s = np.zeros((20, cfg.neurons), bool)
    cnt = np.zeros((20, cfg.neurons), np.int64)
    for t in range(cfg.steps):
        S = np.concatenate([x[:, t].astype(np.int64), s.astype(np.int64)], axis=1) @ w
        a = contract.adc(S, lsm.adc_bits, lsm.adc_shift)
        v, s = contract.lif_step(v, s, a, lsm.decay_q, lsm.threshold_q)
        cnt += s
    np.testing.assert_array_equal(got, cnt)
    assert 0 < cnt.mean() < cfg.steps


def test_raster_features_are_cached_by_content(neural, tmp_path):
    cfg = LSMConfig("neural", inputs=192, neurons=32, steps=201, decay=0.95, threshold=0.1,
                    weight_scale=0.0005)
    a = lsm_counts(neural, cfg, seed=0, path="golden", cache=tmp_path)
    assert a.shape == (len(neural), 32)
    assert len(list(tmp_path.glob("*.npy"))) == 1
    b = lsm_counts(neural, cfg, seed=0, path="golden", cache=tmp_path)
    np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="takes 50 steps x 192 inputs but 'neural-model' has "
                                         "201 bins"):
        lsm_counts(neural, cfg.replace(steps=50), seed=0, cache=False)


def test_bmi_protocol_defaults_follow_the_paper():
    zs = bmi_zeroshot_config()
    assert "".join(LETTERS[c] for c in zs.unseen) == "stuv"
    assert len(zs.seen) == 22 and zs.loss == "supcon" and zs.temperature == 0.5
    assert zs.head.dim == 256 and BMIConfig().neurons == 2048
    with pytest.raises(ConfigError, match="'model' or 'willett:PATH'"):
        BMIConfig(neural="nmnist:/x")
    with pytest.raises(ConfigError, match="loss must be 'clip' or 'supcon'"):
        bmi_zeroshot_config(loss="triplet")


def test_bmi_end_to_end_small(neural, images):
    cfg = BMIConfig(seeds=(0, 1), neurons=96, zeroshot=bmi_zeroshot_config(epochs=15))
    r = run_bmi(cfg, progress=False, neural=neural, letters=images)
    m = r.metrics
    for path in ("software", "hardware"):
        zs = m[path]["zero_shot"]
        assert 0 <= zs["seen_top1"] <= 100 and 0 <= zs["unseen_top1"] <= 100
        assert "seen_top1_sd" in zs
    # The hardware figure is the macro's integer arithmetic; cosine on int8 is named apart.
    assert 0 <= m["hardware"]["zero_shot_cosine"]["seen_top1"] <= 100
    assert m["zero_shot"]["seen_top1"] == m["software"]["zero_shot"]["seen_top1"]
    assert m["chance"] == {"seen_top1": pytest.approx(100 / 22), "unseen_top1": 25.0}
    assert m["protocol"]["unseen"] == "stuv"
    # Features carry the letter well above chance (1/26) even at this size, and the
    # contrastive loss falls; retrieval figures at this size are near chance, so the
    # full-size figures are the demo's, not this test's.
    assert m["software"]["probe"]["letters_top1"] > 3 * 100 / 26
    assert m["software"]["probe"]["neural_top1"] > 2 * 100 / 26
    for s in r.seeds:
        assert s["history"][-1]["loss"] < s["history"][0]["loss"]
    assert len(r.seeds[0]["history"]) == 15 and 1 <= r.seeds[0]["best_epoch"] <= 15
    assert 0.01 < m["firing_rate"]["neural"]["float"] < 0.15
    # Readout windows chosen per seed on seen training trials; the neural raster's order
    # of strokes needs more than one window, and the raw input binned like the readout is
    # probed beside the reservoir.
    for mod, bins in (("neural", neural.bins), ("letters", images.bins)):
        ro = m["readout"][mod]
        assert all(1 <= w <= 8 and s == bins - bins % w
                   for w, s in zip(ro["windows"], ro["steps"], strict=True))
        assert set(ro["cv_top1"]) >= {1, 8}
        assert 100 / 26 < m["software"]["probe"][f"raw_{mod}_top1"] <= 100
    assert min(m["readout"]["neural"]["windows"]) > 1
    assert m["readout"]["neural"]["cv_top1"][8] > m["readout"]["neural"]["cv_top1"][1]
    # Fixed windows are taken as given (and cropped to a multiple of them).
    # With the trace readout on the neural side: its shift from the window length.
    fixed = run_bmi(BMIConfig(seeds=(0,), neurons=32, windows={"neural": 4, "letters": 1},
                              readout={"neural": "trace", "letters": "count"},
                              zeroshot=bmi_zeroshot_config(epochs=1)),
                    progress=False, neural=neural, letters=images).metrics["readout"]
    assert fixed["neural"] == {"windows": [4], "steps": [neural.bins - neural.bins % 4],
                               "kind": "trace",
                               "trace_shift": [trace_shift_for(neural.bins // 4)]}
    assert fixed["letters"]["kind"] == "count" and "trace_shift" not in fixed["letters"]
    with pytest.raises(ConfigError, match="neural windows"):
        BMIConfig(windows={"neural": 9, "letters": 1})
    # The training cost counts the choice of windows (its float pass over the seen training
    # trials is shared with the feature extraction, which counts those trials once).
    cost = bmi.bmi_training_cost(r)
    steps = cost["ours"]
    assert set(steps) == {"calibration", "feature_extraction", "head_training", "quantization",
                          "readout_selection", "golden_feature_extraction"}
    cfgs, split = r.seeds[0]["embeddings"]["configs"], r.seeds[0]["embeddings"]["split"]
    train = dict(zip(("letters", "neural"), split.training_indices(), strict=True))
    # The float and golden passes over the training trials, each over the readout's bins
    # (2 x steps x (inputs + neurons) x neurons a trial) ...
    per_trial = {m: 2 * cfgs[m].steps * (cfgs[m].inputs + 96) * 96 for m in cfgs}
    for step in ("feature_extraction", "golden_feature_extraction"):
        assert steps[step]["flops"] == sum(per_trial[m] * len(train[m]) for m in cfgs)
    # ... the calibration's passes over every bin of its 64 trials.
    cal, bins = r.seeds[0]["calibration"], {"neural": neural.bins, "letters": images.bins}
    assert steps["calibration"]["flops"] == sum(
        2 * bins[m] * (cfgs[m].inputs + 96) * 96 * cal[m]["passes"] * cal[m]["samples"]
        for m in cfgs)
    assert all(cal[m]["samples"] <= 64 and cal[m]["passes"] >= 1 for m in cfgs)
    assert steps["readout_selection"]["samples"] == {
        m: r.seeds[0]["readout"][m]["samples"] for m in cfgs}
    # The choice's pass ran every bin of its trials; the readout's bins of the training
    # trials among them are the feature extraction's; and one ridge fit per candidate, fold.
    chosen = r.seeds[0]["readout"]

    def ridge(sel, neurons=96):
        fit = sel["samples"] - sel["samples"] // sel["folds"]
        return sum(2 * fit * int(w) * neurons * min(fit, int(w) * neurons) * sel["folds"]
                   for w in sel["scores"])

    assert steps["readout_selection"]["flops"] == sum(
        2 * bins[m] * (cfgs[m].inputs + 96) * 96 * chosen[m]["samples"]
        - per_trial[m] * min(chosen[m]["samples"], len(train[m])) + ridge(chosen[m])
        for m in cfgs)
    assert cost["ours_flops"] == sum(v["flops"] for v in steps.values())
    assert cost["srnn_clip_ratio"] > 1 and cost["protonet_ratio"] > 1
    assert cost["slots"] == {"letters": "visual", "neural": "audio"}


def test_temperature_chosen_by_held_out_seen_letters(neural, images, tmp_path, monkeypatch):
    """--temperature auto: per seed, each candidate trains heads with groups of seen letters
    held out, and the one that retrieves them best is kept; no unseen letter is held out."""
    cfg = BMIConfig(seeds=(0, 1), neurons=32, windows={"neural": 1, "letters": 1},
                    zeroshot=bmi_zeroshot_config(epochs=3), temperatures=(0.5, 2.0),
                    held_out_groups=2)
    trained_at = []     # the temperature of each seed's final heads (22 letters)

    def spy(*args, **kwargs):
        trained_at.append(args[5].temperature)
        return train_heads(*args, **kwargs)

    monkeypatch.setattr(bmi, "train_heads", spy)
    result = run_bmi(cfg, progress=False, neural=neural, letters=images)
    m = result.metrics
    assert trained_at == [c["chosen"] for c in m["temperature_choice"]]
    html = write_bmi_report(tmp_path / "report.html", result, m).read_text()
    assert "Temperature chosen per seed" in html and "seed 1: held out" in html
    assert "chosen per seed among [0.5, 2.0]" in m["protocol"]["loss"]
    for choice, t in zip(m["temperature_choice"], m["protocol"]["temperature"], strict=True):
        scores = {float(k): np.mean(v) for k, v in choice["held_out_top1"].items()}
        assert set(scores) == {0.5, 2.0} and t == choice["chosen"]
        assert scores[t] == max(scores.values())
        assert len(choice["held_out"]) == 2 and all(len(g) == 4 for g in choice["held_out"])
        held = set("".join(choice["held_out"]))
        assert len(held) == 8 and not held & set("stuv")
        assert all(len(v) == 2 and all(0 <= x <= 100 for x in v)
                   for v in choice["held_out_top1"].values())
    # Every candidate's training per held-out group is a step of the recipe, counted on the
    # pairs of the other seen letters.
    cost = bmi.bmi_training_cost(result)["ours"]
    assert "readout_selection" not in cost
    s0, zs = result.seeds[0], result.seeds[0]["embeddings"]["zeroshot"]
    split = s0["embeddings"]["split"]
    groups = held_out_class_groups(zs.seen, len(zs.unseen), 2, s0["seed"])
    assert ["".join(LETTERS[c] for c in g) for g in groups] == \
        m["temperature_choice"][0]["held_out"]
    inputs = {"visual": 32, "audio": 32}
    assert cost["temperature_choice"]["trainings"] == 4
    assert cost["temperature_choice"]["flops"] == 2 * sum(
        head_training_flops(zs, inputs, sum(min(len(split.train_v[c]), len(split.train_a[c]))
                                            for c in zs.seen if c not in g))
        for g in groups)
    assert cost["head_training"]["flops"] == head_training_flops(
        zs, inputs, len(split.pairs(None)[0]))
    assert "temperature_choice" not in run_bmi(
        BMIConfig(seeds=(0,), neurons=32, windows={"neural": 1, "letters": 1},
                  zeroshot=bmi_zeroshot_config(epochs=1)),
        progress=False, neural=neural, letters=images).metrics
    with pytest.raises(ConfigError, match="one candidate is no choice"):
        BMIConfig(temperatures=(1.0,))
    with pytest.raises(ConfigError, match=r"\[0.5, 0.5\] names one twice"):
        BMIConfig(temperatures=(0.5, 0.5))
    with pytest.raises(ConfigError, match="held_out_groups: .* needs at least 26 seen classes"):
        BMIConfig(temperatures=(0.5, 1.0), held_out_groups=6)
    with pytest.raises(ValueError, match="temperature must be > 0.0, not -1.0"):
        BMIConfig(temperatures=(0.5, -1.0))


@pytest.mark.slow
def test_letter_group_rotation(neural, images):
    """--unseen-splits K with --task bmi: K distinct groups of 4 letters, the same every time;
    the protocol repeated per group (one seed each here), the verdict over the groups."""
    from rramlsm.sw.experiments.bmi import run_bmi_rotation
    from rramlsm.sw.experiments.split_rotation import resolve_letter_groups

    classes, groups = resolve_letter_groups("3", 26)
    assert classes == list(range(26)) and len(set(groups)) == 3
    assert all(len(set(g)) == 4 for g in groups)
    assert resolve_letter_groups("3", 26)[1] == groups
    for spec, match in (("8,9", "takes a number K"), ("all", "takes a number K"),
                        ("14951", "only 14950 groups")):
        with pytest.raises(ConfigError, match=match):
            resolve_letter_groups(spec, 26)
    cfg = BMIConfig(seeds=(0, 1), neurons=32, windows={"neural": 1, "letters": 1},
                    zeroshot=bmi_zeroshot_config(epochs=1))
    rot = run_bmi_rotation(cfg, "2", neural, images, progress=False, seeds_per_split=1)
    assert [s["seeds"] for s in rot["splits"]] == [[0], [1]] and rot["runs"] == 2
    assert [len(w) for w in rot["letters"]] == [4, 4]
    assert rot["chance"] == {"seen_top1": pytest.approx(100 / 22), "unseen_top1": 25.0}
    assert rot["verdict_basis"] == "over_splits"
    for path in ("software", "hardware"):
        assert 0 <= rot["over_splits"][path]["unseen_top1"] <= 100
        assert rot["unseen_vs_chance"][path] is not None


def test_cli_train_bmi_on_a_real_format_file(tmp_path, neural, capsys):
    mat = write_single_letters(tmp_path / "singleLetters.mat", _counts(neural))
    out = tmp_path / "run"
    # One run as a user starts it, in a process of its own.
    r = subprocess.run([sys.executable, "-m", "rramlsm", "train", "--task", "bmi", "--neural",
                        f"willett:{mat}", "--neurons", "64", "--seeds", "0", "--epochs", "2",
                        "--out", str(out), "--quiet"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    m = json.loads((out / "metrics.json").read_text())
    assert m["task"] == "bmi" and m["sources"]["neural"] == f"willett:{mat}"
    assert {"seen_top1", "unseen_top1"} <= set(m["zero_shot"])
    assert "zero-shot unseen (stuv)" in r.stdout
    assert m["training_cost"]["ours_flops"] > 0 and "training cost (seed 0):" in r.stdout
    html = (out / "report.html").read_text()
    assert "BMI zero-shot run" in html and "data:image/png;base64," in html
    # The refusals through the same entry point in this process (a subprocess each would
    # cost the imports, about 7 s, four times): exit status 2, the message, no traceback.
    from rramlsm.cli import main

    capsys.readouterr()
    assert main(["train", "--task", "bmi", "--neural", f"willett:{tmp_path / 'nope.mat'}",
                 "--neurons", "64", "--seeds", "0", "--out", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "nope.mat: no such file" in err and "Traceback" not in err
    # --temperature: a positive number, or auto for this task only.
    for task, value, message in (("bmi", "warm", "--temperature must be a positive number or "
                                                  "auto, not 'warm'"),
                                 ("bmi", "0", "--temperature must be a positive number"),
                                 ("av", "auto", "--temperature auto applies to --task bmi")):
        assert main(["train", "--task", task, "--temperature", value,
                     "--out", str(tmp_path / "t"), "--quiet",
                     *(["--visual", "digits", "--audio", "speech"] if task == "av" else [])]) == 2
        err = capsys.readouterr().err
        assert message in err and "Traceback" not in err, err
