"""Monte Carlo sweeps: config checks, the summary by hand, and a small sweep on local Ray with
resume."""

from __future__ import annotations

import json

import pytest

from rramlsm.errors import ConfigError
from rramlsm.sw.experiments.sweep import (
    SweepConfig,
    deploy_for,
    load_sweep_config,
    overrides_for,
    summarize,
)


def _toml(tmp_path, text, name="s.toml"):
    p = tmp_path / name
    p.write_text(text)
    return p


def test_config_errors_name_the_file_and_the_fault(tmp_path):
    with pytest.raises(ConfigError, match="s.toml: not valid TOML"):
        load_sweep_config(_toml(tmp_path, "parameter = "))
    with pytest.raises(ConfigError, match=r"unknown keys \['valuez'\]"):
        load_sweep_config(_toml(tmp_path, 'parameter = "stuck"\nvaluez = [0.1]'))
    with pytest.raises(ConfigError, match="'temperature' is not one of"):
        load_sweep_config(_toml(tmp_path, 'parameter = "temperature"\nvalues = [1]'))
    with pytest.raises(ConfigError, match="sweep stuck = 2.5: DeviceConfig"):
        load_sweep_config(_toml(tmp_path, 'parameter = "stuck"\nvalues = [0.0, 2.5]'))
    with pytest.raises(ConfigError, match="values repeat"):
        SweepConfig("adc_bits", (8, 8))
    for bad in ("0", "-10", "12.5"):
        with pytest.raises(ConfigError, match=f"s.toml: sweep neurons = {bad}: a reservoir "
                                              f"needs a positive whole number of neurons"):
            load_sweep_config(_toml(tmp_path, f'parameter = "neurons"\nvalues = [64, {bad}]'))
    with pytest.raises(ConfigError, match="missing.toml: cannot read"):
        load_sweep_config(tmp_path / "missing.toml")
    # Settings that contradict the sweep: the swept setting fixed in [device] (every value
    # would overwrite it unsaid), a drift sweep of a chip that does not drift.
    for parameter, device in (("levels", {"levels": 16}), ("stuck", {"stuck_off": 0.01}),
                              ("drift_time_s", {"drift_nu": 0.05, "drift_time_s": 60.0})):
        with pytest.raises(ConfigError, match=r"sweep device sets \w+, which this sweep "
                                              r"varies"):
            SweepConfig(parameter, (1.0, 8.0), device=device)
    for device in ({}, {"drift_nu": 0.0}):
        with pytest.raises(ConfigError, match="sweep drift_time_s needs a drift exponent"):
            SweepConfig("drift_time_s", (1.0, 60.0), device=device)


def test_overrides_reach_both_arrays():
    o = overrides_for(SweepConfig("stuck", (0.0, 0.1)), 0.1)
    assert (o["device"].stuck_on, o["device"].stuck_off) == (0.05, 0.05)
    adc = overrides_for(SweepConfig("adc_bits", (10, 6)), 6)["adc"]
    assert (adc.bits, adc.shift) == (6, 4)          # same range as 10 bits at shift 0
    drift = SweepConfig("drift_time_s", (1.0, 3600.0), device={"drift_nu": 0.05})
    o = overrides_for(drift, 3600.0)
    # The chip is calibrated undrifted; the drift reaches the hardware path only.
    assert (o["device"].drift_nu, o["device"].drift_time_s) == (0.05, 1.0)
    assert deploy_for(drift, 3600.0) == {"drift_nu": 0.05, "drift_time_s": 3600.0}
    assert deploy_for(SweepConfig("stuck", (0.0, 0.1)), 0.1) == {}
    assert overrides_for(SweepConfig("neurons", (200, 50)), 50)["neurons"] == 50


def test_summary_by_hand():
    cfg = SweepConfig("stuck", (0.0, 0.05, 0.1), seeds=(0, 1))
    base = {"unseen_top1": 60.0, "probe_visual_top1": 90.0, "probe_audio_top1": 80.0,
            "sw_seen_top1": 0.0, "sw_unseen_top1": 0.0, "firing_rate_visual": 0.05,
            "firing_rate_audio": 0.05}
    recs = []
    for v, seen in ((0.0, (80.0, 82.0)), (0.05, (80.0, 80.0)), (0.1, (70.0, 72.0))):
        for s, x in zip((0, 1), seen, strict=True):
            recs.append({"value": v, "seed": s, "metrics": {**base, "seen_top1": x}})
    s = summarize(cfg, recs)
    assert s["rows"][0]["seen_top1"] == 81.0 and s["rows"][0]["seen_top1_sd"] == pytest.approx(
        2 ** 0.5)
    assert s["falls_2_points_at"]["seen_top1"] == 0.1      # 80 is only 1 point below 81
    assert s["falls_2_points_at"]["unseen_top1"] is None
    s5 = s["at_5_percent_stuck"]
    assert s5["loss_points"]["seen_top1"] == 1.0 and s5["target_met"]
    # Paired by seed: losses 0 and 2 points -> mean 1, s.e.m. 1.
    assert s5["loss_sem_paired"]["seen_top1"] == pytest.approx(1.0)
    assert s5["verdict"] == dict.fromkeys(s5["verdict"], "met")
    worse = [dict(r, metrics={**r["metrics"], "unseen_top1": 50.0 if r["seed"] else 60.0})
             if r["value"] == 0.05 else r for r in recs]
    s5 = summarize(cfg, worse)["at_5_percent_stuck"]
    # Losses 0 and 10 points: mean 5, s.e.m. 5: within the noise of 2 chips, not missed.
    assert s5["loss_points"]["unseen_top1"] == 5.0 and not s5["target_met"]
    assert s5["verdict"]["unseen_top1"] == "within noise"


def test_small_sweep_on_ray_resumes(tmp_path, digits, speech, capsys):
    from rramlsm.cli import main

    cfg = _toml(tmp_path, 'parameter = "stuck"\nvalues = [0.0, 0.1]\nseeds = [0]\nepochs = 2\n')
    out = tmp_path / "sweep"
    assert main(["sweep", str(cfg), "--out", str(out), "--cpus", "2", "--quiet"]) == 0
    lines = (out / "results.jsonl").read_text().splitlines()
    assert len(lines) == 2
    recs = [json.loads(x) for x in lines]
    assert {r["value"] for r in recs} == {0.0, 0.1}
    for r in recs:
        assert 0 <= r["metrics"]["seen_top1"] <= 100 and r["metrics"]["probe_visual_top1"] > 20
    summary = json.loads((out / "summary.json").read_text())
    assert [r["trials"] for r in summary["rows"]] == [1, 1]
    assert (out / "sweep.png").stat().st_size > 1000
    assert "Sweep: stuck-at fault fraction" in (out / "report.html").read_text()
    # Resume: nothing left to run, the results stay as they are.
    before = (out / "results.jsonl").read_text()
    assert main(["sweep", str(cfg), "--out", str(out), "--quiet"]) == 0
    assert (out / "results.jsonl").read_text() == before
    # An interrupted write (a cut last line): that trial, and only it, runs again.
    (out / "results.jsonl").write_text(lines[0] + "\n" + lines[1][:25])
    assert main(["sweep", str(cfg), "--out", str(out), "--cpus", "2", "--quiet"]) == 0
    again = [json.loads(x) for x in (out / "results.jsonl").read_text().splitlines()]
    assert len(again) == 2 and again[0] == recs[0]
    assert again[1]["metrics"] == recs[1]["metrics"]       # deterministic per (value, seed)
    assert "last line incomplete" in capsys.readouterr().out
    # Another sweep into the same folder is refused.
    other = _toml(tmp_path, 'parameter = "adc_bits"\nvalues = [10, 6]\n', "o.toml")
    assert main(["sweep", str(other), "--out", str(out), "--quiet"]) == 2
    assert "parameter 'stuck' (here 'adc_bits')" in capsys.readouterr().err
    # So is the same sweep on other data (its results would not be comparable) ...
    # (another vision source, valid as a source: the folder exists; refused before reading it).
    other_data = tmp_path / "N-MNIST"
    other_data.mkdir()
    data = _toml(tmp_path, 'parameter = "stuck"\nvalues = [0.0, 0.1]\nseeds = [0]\n'
                 f'epochs = 2\nvisual = "nmnist:{other_data}"\n', "d.toml")
    assert main(["sweep", str(data), "--out", str(out), "--quiet"]) == 2
    assert f"visual 'digits' (here 'nmnist:{other_data}')" in capsys.readouterr().err
    # ... while more seeds of the same sweep resume into it (nothing else differs).
    from rramlsm.sw.experiments.sweep import _identity

    more = load_sweep_config(cfg).to_dict() | {"seeds": [0, 1], "values": [0.0, 0.1, 0.2]}
    assert _identity(more) == _identity(json.loads((out / "sweep.json").read_text()))


def test_recalibration_after_drift_restores_the_firing_rate(digits, speech):
    """A year of drift silences the deployed chip; re-picking the threshold on it (from
    unlabelled training samples) brings the golden model back to the calibrated rate."""
    import numpy as np

    from rramlsm.sw.experiments.audiovisual import PipelineConfig, run_seed
    from rramlsm.sw.zeroshot import ZeroShotConfig

    def few(ds, train=30, test=10):   # a rate needs no full dataset: per class 30 + 10
        return ds.subset(np.sort(np.concatenate([
            np.flatnonzero((ds.labels == c) & (ds.is_train == t))[:k]
            for c in np.unique(ds.labels) for t, k in ((True, train), (False, test))])))

    visual, audio = few(digits), few(speech)
    drift = {"drift_nu": 0.05, "drift_time_s": 31536000.0}
    rates = {}
    for recal in (False, True):
        # One readout window each: the rates do not depend on it, and the windows' choice
        # by cross-validation is a cost this test does not need.
        pc = PipelineConfig(seeds=(0,), zeroshot=ZeroShotConfig(epochs=2), deploy_device=drift,
                            recalibrate_deployed=recal, windows={"visual": 1, "audio": 1})
        r = run_seed(0, visual, audio, pc, None)
        rates[recal] = float(np.mean(r.rates["visual"]["golden"]))
        calibrated = float(np.mean(r.rates["visual"]["float"]))
    assert rates[False] < 0.5 * calibrated             # drifted: the reservoir falls quiet
    assert abs(rates[True] - calibrated) < 0.25 * calibrated
    with pytest.raises(ConfigError, match="recalibrate_deployed needs a target_rate"):
        PipelineConfig(target_rate=None, recalibrate_deployed=True)
    with pytest.raises(ConfigError, match="applies to an LSM drift_time_s sweep only"):
        SweepConfig("stuck", (0.0,), recalibrate=True)
