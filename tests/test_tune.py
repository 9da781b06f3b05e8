"""`rramlsm tune` on real recordings: end to end, resume, refusals, and no test data in scoring."""

from __future__ import annotations

import json
import shutil
import tomllib

import numpy as np
import pytest

from rramlsm.cli import main
from rramlsm.errors import ConfigError
from rramlsm.sw.experiments import tune
from rramlsm.sw.experiments.training_cost import pipeline_training_cost
from rramlsm.sw.readout import trace_shift_for
from tests.conftest import SHARED_DATA

JACKSON = SHARED_DATA / "fsdd-jackson"


def _jackson_subset(folder, train=range(5, 30), test=(0, 1)):
    """A small FSDD folder of real recordings (links into fsdd-jackson)."""
    if not JACKSON.is_dir():
        pytest.skip(f"real recordings not found at {JACKSON} (set RRAMLSM_SHARED_DATA)")
    folder.mkdir(parents=True, exist_ok=True)
    for d in range(10):
        for i in (*test, *train):
            (folder / f"{d}_jackson_{i}.wav").symlink_to(JACKSON / f"{d}_jackson_{i}.wav")
    return folder


@pytest.fixture(scope="module")
def wavs(tmp_path_factory):
    return _jackson_subset(tmp_path_factory.mktemp("jackson") / "recordings")


ARGS = ["--trials", "3", "--max-per-class", "8", "--folds", "3", "--cpus", "2", "--quiet"]


@pytest.fixture(scope="module")
def tuned_run(tmp_path_factory, digits, wavs):
    """One small tune: built-in digits (real handwriting, simulated DVS) + real FSDD speech."""
    out = tmp_path_factory.mktemp("tune") / "t"
    assert main(["tune", "--visual", "digits", "--audio", f"fsdd:{wavs}", "--out", str(out),
                 *ARGS]) == 0
    return out


def _lines(path):
    return [json.loads(x) for x in path.read_text().splitlines()]


def test_tune_end_to_end(tuned_run):
    recs = _lines(tuned_run / "trials.jsonl")
    assert len(recs) == 4 and sum(r["defaults"] for r in recs) == 1
    for r in recs:
        assert np.isfinite(r["score"]) and r["score_sd"] >= 0 and len(r["folds"]) == 3
        assert set(r["metrics"]) == {"zero_shot", "probe_visual", "probe_audio", "mean"}
    raw = tomllib.loads((tuned_run / "tuned.toml").read_text())
    best = max(recs, key=lambda r: r["score"])
    assert raw["score"]["winner"] == pytest.approx(best["score"], abs=0.01)
    assert raw["score"]["defaults"] == pytest.approx(
        next(r for r in recs if r["defaults"])["score"], abs=0.01)
    assert raw["data"]["audio_kind"] == "wav" and "cochlea" in raw
    t = tune.load_tuned(tuned_run / "tuned.toml")
    assert set(t.params) == set(tune.DEFAULTS)
    # What the search cost, trial by trial and in all: a step of the training recipe.
    for r in recs:
        steps = r["flops_by_step"]
        assert sum(steps.values()) == r["flops"]
        auto = "auto" in (r["config"].get(f"{m}.windows", tune.DEFAULTS[f"{m}.windows"])
                          for m in ("visual", "audio"))
        assert (steps.pop("readout_selection") > 0) == auto and min(steps.values()) > 0
    assert raw["cost"]["flops"] == t.cost["flops"] == sum(r["flops"] for r in recs)
    assert raw["cost"]["trials"] == 4 and raw["cost"]["uncounted"] == 0
    assert raw["cost"]["trial_seconds"] == pytest.approx(sum(r["seconds"] for r in recs), abs=0.1)
    html = (tuned_run / "report.html").read_text()
    assert "Winner: trial" in html and "Which settings mattered" in html


def test_a_cut_tuned_toml_is_refused(tuned_run, tmp_path):
    """A tuned.toml that tune wrote, cut before its [score] section: the settings after the
    cut would take their defaults unsaid. The same lines without tune's header are a
    hand-written short configuration, whose missing settings take their defaults."""
    text = (tuned_run / "tuned.toml").read_text()
    cfg = tmp_path / "tuned.toml"
    cfg.write_text(text[:text.index("[head]")])
    with pytest.raises(ConfigError, match=r"written by rramlsm tune but cut short"):
        tune.load_tuned(cfg)
    cfg.write_text(text[text.index("[data]"):text.index("[head]")])
    assert tune.load_tuned(cfg).params["head.epochs"] == tune.DEFAULTS["head.epochs"]


def test_a_cluster_that_does_not_answer_leaves_no_run_to_resume(tmp_path, wavs, capsys,
                                                                monkeypatch):
    """tune --address that fails: nothing is written, so the same command runs again
    without --resume once the cluster answers."""
    def unreachable(**kwargs):
        raise ConfigError("--address 10.0.0.1:6379: cannot connect to a Ray cluster there")

    monkeypatch.setattr(tune, "start_ray", unreachable)
    out = tmp_path / "t"
    argv = ["tune", "--visual", "digits", "--audio", f"fsdd:{wavs}", "--out", str(out),
            "--address", "10.0.0.1:6379", *ARGS]
    assert main(argv) == 2
    assert "cannot connect" in capsys.readouterr().err and not out.exists()


def test_resume_reruns_a_cut_trial_only(tuned_run, tmp_path, wavs, capsys):
    out = tmp_path / "t"
    shutil.copytree(tuned_run, out)
    path = out / "trials.jsonl"
    # The defaults first, so the cut trial is one the search chose.
    lines = sorted(path.read_text().splitlines(), key=lambda x: not json.loads(x)["defaults"])
    cut = json.loads(lines[-1])
    path.write_text("\n".join(lines[:-1]) + "\n" + lines[-1][: len(lines[-1]) // 2])
    argv = ["tune", "--visual", "digits", "--audio", f"fsdd:{wavs}", "--out", str(out), *ARGS]
    # Without --resume an existing tuning is refused, not overwritten.
    assert main(argv) == 2
    assert "--resume" in capsys.readouterr().err
    assert main([*argv, "--resume"]) == 0
    assert "last line incomplete" in capsys.readouterr().out
    recs = _lines(path)
    assert len(recs) == 4
    # The finished trials stay as they were; the cut one ran again with the same settings.
    assert [json.dumps(r) for r in recs[:3]] == lines[:3]
    assert recs[3]["config"] == cut["config"] and recs[3]["number"] == cut["number"]
    # A resume with other settings is refused, naming what differs.
    assert main([*argv[:-len(ARGS)], "--trials", "3", "--max-per-class", "9", "--resume",
                 "--quiet"]) == 2
    assert "max_per_class" in capsys.readouterr().err


@pytest.mark.slow
def test_train_with_tuned_config(tuned_run, tmp_path, wavs):
    text = (tuned_run / "tuned.toml").read_text()
    raw = tomllib.loads(text)
    # Fixed settings (the winner of a 3-trial search varies): short head training, vision
    # polarities split onto their own rows (512 inputs), a 32-channel cochlea, the audio
    # reservoir read in 3 windows (at most 4 that divide its 129 steps), the visual one's
    # windows chosen per seed and read out as traces.
    data = text[text.index("[data]"):text.index("[visual]")]
    lines = [data, "[visual]", 'polarity = "both"', "steps = 40", 'readout = "trace"',
             'windows = "auto"', "[audio]", "windows = 4",
             "[cochlea]", "channels = 32", "[head]", "epochs = 3", text[text.index("[score]"):]]
    cfg = tmp_path / "tuned.toml"
    cfg.write_text("\n".join(lines) + "\n")
    # A setting the file leaves out takes its default, but the windows, which files from
    # before they were searched lack, take the one window the flow used then.
    t = tune.load_tuned(cfg)
    assert t.params["visual.windows"] == "auto" and t.params["audio.windows"] == 4
    old = tmp_path / "old.toml"
    old.write_text(cfg.read_text().replace('windows = "auto"\n', "").replace(
        "windows = 4\n", ""))
    assert tune.load_tuned(old).params["visual.windows"] == 1 == \
        tune.load_tuned(old).params["audio.windows"]
    assert tune.load_tuned(old).params["head.epochs"] == 3
    assert tune.load_tuned(old).params["head.batch"] == tune.DEFAULTS["head.batch"]
    out = tmp_path / "run"
    assert main(["train", "--config", str(cfg), "--visual", "digits", "--audio",
                 f"fsdd:{wavs}", "--seeds", "0", "--out", str(out), "--quiet"]) == 0
    m = json.loads((out / "metrics.json").read_text())
    assert m["tuning"]["config"]["visual.polarity"] == "both"
    lsm = {k: v["lsm"] for k, v in json.loads((out / "bundle" / "manifest.json").read_text())[
        "modalities"].items()}
    assert lsm["audio"]["windows"] == 3 and "cv_top1" not in m["readout"]["audio"]
    # "auto" in the tuned configuration: chosen on the seed's training samples (every
    # candidate dividing the 40 steps scored), the trace's time constant from its length.
    assert set(m["readout"]["visual"]["cv_top1"]) >= {"1", "2", "4", "5", "8"}
    assert m["readout"]["visual"]["windows"] == [lsm["visual"]["windows"]]
    assert lsm["visual"]["readout"] == "trace" and lsm["visual"]["trace_shift"] == \
        trace_shift_for(40 // lsm["visual"]["windows"])
    assert m["tuning"]["score"]["winner"] == raw["score"]["winner"]
    # The search that chose the configuration is counted in the training cost.
    assert m["training_cost"]["ours"]["tuning"] == {
        "flops": raw["cost"]["flops"], "seconds": raw["cost"]["trial_seconds"],
        "trials": raw["cost"]["trials"]}
    assert m["software"]["probe"]["audio_top1"] > 30
    # The bundle records the tuned framing (split polarities, the tuned cochlea), so `eval`
    # frames new data as training did: its classifier figures are the pipeline's.
    assert main(["eval", "--bundle", str(out / "bundle"), "--visual", "digits", "--audio",
                 f"fsdd:{wavs}", "--out", str(out)]) == 0
    ev = json.loads((out / "eval.json").read_text())
    for mod in ("visual", "audio"):
        assert ev[mod]["top1"] == pytest.approx(m["hardware"]["classifier"][f"{mod}_top1"])


@pytest.mark.parametrize("change, field", [
    (("audio_kind = \"wav\"", "audio_kind = \"events\""), "data.audio_kind"),
    (("visual_sensor = [34, 34]", "visual_sensor = [128, 128]"), "data.visual_sensor"),
])
def test_mismatching_config_is_refused(tuned_run, tmp_path, wavs, capsys, change, field):
    cfg = tmp_path / "tuned.toml"
    cfg.write_text((tuned_run / "tuned.toml").read_text().replace(*change))
    code = main(["train", "--config", str(cfg), "--visual", "digits", "--audio",
                 f"fsdd:{wavs}", "--seeds", "0", "--out", str(tmp_path / "r"), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err
    assert field in err.strip().splitlines()[-1]


def test_too_few_samples_per_class(tmp_path, wavs, capsys):
    nmnist = SHARED_DATA / "nmnist"
    if not nmnist.is_dir():
        pytest.skip("no N-MNIST recordings")
    code = main(["tune", "--visual", f"nmnist:{nmnist}", "--audio", f"fsdd:{wavs}", "--out",
                 str(tmp_path / "t"), "--quiet"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and "Traceback" not in err
    assert "--visual" in err and "has 2 training samples" in err
    assert f"needs at least {tune.needed_per_class(3)} per class" in err
    assert not (tmp_path / "t" / "trials.jsonl").exists()


def test_needed_per_class():
    assert tune.needed_per_class(2) == 10
    assert tune.needed_per_class(3) == 8
    assert tune.needed_per_class(5) == 10
    with pytest.raises(ConfigError, match="--max-per-class 5: 3-fold validation needs at "
                                          "least 8"):
        tune.TuneSettings("digits", "speech", max_per_class=5)


def test_test_split_and_unseen_classes_never_reach_scoring(digits, wavs, tmp_path):
    """Every test-split and unseen-class recording is poison: WAV files of garbage, vision
    events that framing cannot read.  Tuning still scores (finite figures), so none of them
    was read, framed or scored."""
    from rramlsm.sw.events import AUDIO_DTYPE

    folder = tmp_path / "poisoned"
    folder.mkdir()
    for f in wavs.iterdir():
        d, _, i = f.stem.split("_")
        if int(i) < 5 or int(d) in (0, 8, 9):
            (folder / f.name).write_bytes(b"not a wav file at all")
        else:
            (folder / f.name).symlink_to(f.resolve())
    bad = np.zeros(3, AUDIO_DTYPE)               # no "y": framing would raise
    seen = np.isin(digits.labels, tune.TuneSettings("d", "a").seen) & digits.is_train
    poisoned = digits.subset(np.arange(len(digits)))
    poisoned.events = [e if ok else bad for e, ok in zip(poisoned.events, seen, strict=True)]
    settings = tune.TuneSettings("digits", f"fsdd:{folder}", max_per_class=8)
    data = tune.tuning_data(settings, visual=poisoned)
    for d in (data.visual, data.audio):
        assert set(np.unique(d.labels)) == set(settings.seen)
    r = tune.evaluate({"head.epochs": 5, "visual.polarity": "any", "audio.windows": 4}, data)
    assert np.isfinite(r["score"]) and all(np.isfinite(v) for v in r["metrics"].values())
    # The poison is real: reading a poisoned file or framing a poisoned recording fails.
    with pytest.raises(Exception):  # noqa: B017
        tune.tuning_data(tune.TuneSettings("digits", f"fsdd:{folder}", seen=(8, 9),
                                           max_per_class=8), visual=poisoned)


def test_rotation_scores_each_group_without_its_classes(digits, wavs):
    """With held-out groups, a trial's score is the mean of each group's score, and a group's
    score never reads its held-out classes: with classes 0 and 1 poisoned (NaN audio, vision
    events that framing cannot read) the score held out (0, 1) is unchanged."""
    from rramlsm.sw.events import AUDIO_DTYPE

    settings = tune.TuneSettings("digits", f"fsdd:{wavs}", max_per_class=8,
                                 seen=(0, 1, 2, 3, 4, 5), groups=((0, 1), (2, 3)))
    data = tune.tuning_data(settings, visual=digits)
    params = {"head.epochs": 3}
    r = tune.evaluate(params, data)
    assert [s["unseen"] for s in r["splits"]] == [[0, 1], [2, 3]] and len(r["folds"]) == 6
    assert r["score"] == pytest.approx(np.mean([s["score"] for s in r["splits"]]))
    bad = np.zeros(3, AUDIO_DTYPE)               # no "y": framing would raise
    held = np.isin(data.visual.labels, (0, 1))
    data.visual.events = [bad if h else e for e, h in zip(data.visual.events, held, strict=True)]
    held = np.isin(data.audio.labels, (0, 1))
    data.audio.waves = [np.full_like(w, np.nan) if h else w
                        for w, h in zip(data.audio.waves, held, strict=True)]
    one = tune.TuningData(data.visual, data.audio,
                          tune.dataclasses.replace(settings, groups=((0, 1),)))
    assert tune.evaluate(params, one)["score"] == pytest.approx(r["splits"][0]["score"])
    # The poison is real: the group that sees classes 0 and 1 cannot be scored.
    with pytest.raises(Exception):  # noqa: B017
        tune.evaluate(params, tune.held_out(data, (2, 3)))


def test_read_trials_refuses_damage_before_the_last_line(tmp_path):
    path = tmp_path / "trials.jsonl"
    good = json.dumps({"number": 1, "config": {"head.lr": 0.01}, "score": 50.0})
    path.write_text("garbage\n" + good + "\n")
    with pytest.raises(ConfigError, match="line 1"):
        tune.read_trials(path)
    path.write_text(good + "\n" + good[: good.index('"score"')])
    done, cut = tune.read_trials(path)
    assert len(done) == 1 and cut == {"config": {"head.lr": 0.01}, "defaults": False}
    assert path.read_text() == good + "\n"
    path.write_text(good + "\n" + good[:20])            # nothing survived: a fresh trial
    assert tune.read_trials(path)[1] == {}
    # Records the search never writes: a score that is no number (it would decide the
    # winner, or stop the comparison with a traceback), one trial twice (counted twice).
    failed = json.dumps({"number": 2, "config": {}, "score": None, "error": "x"})
    assert len(tune.read_trials(path)[0]) == 1
    path.write_text(good + "\n" + failed + "\n")
    assert [r["score"] for r in tune.read_trials(path)[0]] == [50.0, None]
    for score in ('"high"', "true", "NaN"):
        path.write_text(good.replace("50.0", score) + "\n" + failed + "\n")
        with pytest.raises(ConfigError, match=r"line 1: score must be (a number|finite)"):
            tune.read_trials(path)
    # A trial number that is no integer is no record the search wrote.
    path.write_text(good.replace('"number": 1', '"number": [1]') + "\n" + failed + "\n")
    with pytest.raises(ConfigError, match="line 1 is not a trial record"):
        tune.read_trials(path)
    path.write_text(good + "\n" + failed + "\n" + good + "\n")
    with pytest.raises(ConfigError, match="line 3 repeats trial 1"):
        tune.read_trials(path)


def test_a_resume_without_its_record_refuses_trials_scored_otherwise(tmp_path):
    """A run folder whose tune.json is gone: trials scored on other folds, or for another
    objective, are refused before any data is read (they would be compared as one)."""
    out = tmp_path / "t"
    out.mkdir()
    rec = {"number": 1, "defaults": True, "config": {}, "score": 80.0, "folds": [80.0, 80.0],
           "metrics": {"zero_shot": 80.0, "probe_visual": 90.0, "probe_audio": 97.0,
                       "mean": 89.0}}
    (out / "trials.jsonl").write_text(json.dumps(rec) + "\n")
    with pytest.raises(ConfigError, match="trial 1 was scored on 2 folds, this tuning on 3"):
        tune.run_tune(tune.TuneSettings("digits", "speech", folds=3), out, resume=True)
    with pytest.raises(ConfigError, match="trial 1's score is not its mean figure"):
        tune.run_tune(tune.TuneSettings("digits", "speech", folds=2), out, resume=True)


def test_polarities_merged():
    from rramlsm.sw.events import VisionFraming, frame_vision, make_vision_events

    ev = make_vision_events([4, 4, 20], [4, 30, 20], [0, 10, 20], [1, 0, 0])
    on, off, both, any_ = (frame_vision([ev], VisionFraming(steps=2, polarity=p))
                           for p in ("on", "off", "both", "any"))
    assert any_.shape == on.shape and both.shape[2] == 2 * on.shape[2]
    assert (any_ == (on | off)).all() and any_.sum() == 3


def test_hardware_aware_heads_train_on_golden_counts(digits, wavs, monkeypatch):
    """``head_features="golden"``: the heads see the macro's counts (ADC, read noise), not the
    float model's rates; ``"float"`` stays the default."""
    from rramlsm.sw.experiments import audiovisual as pipeline
    from rramlsm.sw.zeroshot import ZeroShotConfig

    assert pipeline.PipelineConfig().head_features == "float"
    with pytest.raises(ConfigError, match="head_features"):
        pipeline.PipelineConfig(head_features="analog")
    seen = {}
    real = pipeline.train_heads

    def spy(fv, fa, *args, **kwargs):
        seen["visual"], seen["audio"] = fv, fa
        return real(fv, fa, *args, **kwargs)

    monkeypatch.setattr(pipeline, "train_heads", spy)
    # Readout windows too (one run serves both checks): a fixed count for the audio
    # reservoir, "auto" for the visual one (chosen among the counts dividing its 50 steps,
    # on seen training samples); heads, bundle and the raw input probe follow them.
    with pytest.raises(ConfigError, match="audio windows must be a positive integer"):
        pipeline.PipelineConfig(windows={"audio": 0})
    # By default both choose; a modality not named keeps choosing (as `--windows visual=2`
    # leaves audio), None keeps the configuration's count.
    assert pipeline.PipelineConfig().windows == {"visual": "auto", "audio": "auto"}
    assert pipeline.PipelineConfig(windows={"visual": 2}).windows == {"visual": 2,
                                                                      "audio": "auto"}
    assert pipeline.PipelineConfig(windows={"audio": None}).windows["audio"] is None
    with pytest.raises(ConfigError, match=r"audio reservoir's readout windows \(4\) must "
                                          r"divide the steps \(129\)"):
        pipeline.PipelineConfig(windows={"audio": 4})
    cfg = pipeline.PipelineConfig(visual="digits", audio=f"fsdd:{wavs}", seeds=(0,),
                                  zeroshot=ZeroShotConfig(epochs=2), head_features="golden",
                                  hardware_noise=True, windows={"visual": "auto", "audio": 3})
    r = pipeline.run_pipeline(cfg, progress=False)
    s0, m = r.seeds[0], r.metrics
    for mod in ("visual", "audio"):
        c = s0.configs[mod]
        golden = s0.embeddings["golden_counts"][mod].astype(np.float32) / c.window_steps
        assert np.array_equal(seen[mod], golden) and golden.shape[1] == c.features
        assert s0.bundle.modalities[mod].lsm.windows == c.windows
        assert s0.bundle.modalities[mod].head.layers[0].weight.shape[0] == c.features
        assert 10 < m["software"]["probe"][f"raw_{mod}_top1"] <= 100
    assert m["protocol"]["heads_trained_on"] == "golden"
    assert np.isfinite(m["hardware"]["zero_shot"]["seen_top1"])
    assert s0.configs["audio"].windows == 3
    assert {k for k in m["readout"]["visual"]["cv_top1"] if isinstance(k, int)} == {1, 2, 5}
    assert m["readout"]["visual"]["windows"] == [s0.configs["visual"].windows]

    # Every step the run took is in its training cost, by hand on the dense basis
    # (2 T (inputs + N) N per forward pass): the golden pass the heads trained on, the
    # choice of the visual windows (the ridge fits' Gram products, 3 candidates x folds,
    # and its float pass over the seen training samples but those the feature extraction
    # counts, which took their counts from it), the int8 quantisation over the training
    # samples.
    ours = pipeline_training_cost(r, 1)["ours"]
    n = dict(zip(("visual", "audio"), map(len, s0.embeddings["split"].training_indices()),
                 strict=True))

    def forward(mod):
        c = s0.configs[mod]
        return 2 * c.steps * (c.inputs + c.neurons) * c.neurons

    assert ours["golden_feature_extraction"]["flops"] == forward("visual") * n["visual"] + \
        forward("audio") * n["audio"]
    sel = s0.readout["visual"]
    fit = sel["samples"] - sel["samples"] // sel["folds"]
    ridge = sum(2 * fit * (w * 200) * min(fit, w * 200) * sel["folds"] for w in (1, 2, 5))
    assert sel["shared_pass"] and sel["samples"] >= n["visual"]
    assert ours["readout_selection"]["flops"] == \
        forward("visual") * (sel["samples"] - n["visual"]) + ridge
    assert ours["readout_selection"]["samples"] == {"visual": sel["samples"]}
    assert ours["quantization"]["flops"] == sum(
        2 * n[mod] * layer.weight.size for mod in n
        for layer in s0.bundle.modalities[mod].head.layers)

