"""Trained weights written onto the devices (the SRNN contrast of the sweeps)."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from rramlsm.sw.device import DeviceConfig
from rramlsm.sw.experiments.srnn_transfer import program_weights
from rramlsm.sw.lsm import PRESETS

CFG = PRESETS["visual"].replace(inputs=30, neurons=20)


def _weights(seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(0, 0.4, (30, 20)), rng.normal(0, 0.2, (20, 20))


def test_an_ideal_device_holds_the_trained_weights_to_half_a_level():
    w_in, w_rec = _weights()
    res = program_weights(w_in, w_rec, CFG, seed=1)
    got_in, got_rec = (w.numpy() for w in res.float_weights())
    step = res.config.weight_scale * CFG.device.g_lsb_us        # one level, in float units
    assert np.abs(got_in - w_in).max() <= step / 2 + 1e-6
    assert np.abs(got_rec - w_rec).max() <= step / 2 + 1e-6
    # The largest weight spans the window; a positive weight sits on G+ with G- at g_min.
    top = np.unravel_index(np.abs(w_in).argmax(), w_in.shape)
    assert abs(int(res.w_in.weight_codes[top])) == CFG.device.levels - 1
    assert (res.w_in.neg[w_in > 0] == 0).all() and (res.w_in.pos[w_in < 0] == 0).all()


def test_faults_levels_and_write_error_perturb_the_weights():
    w_in, w_rec = _weights()
    ideal = program_weights(w_in, w_rec, CFG, seed=1).w_in.weight_codes
    stuck = program_weights(w_in, w_rec, CFG.replace(device=DeviceConfig(stuck_on=0.1)),
                            seed=1)
    frac = (stuck.w_in.pos == CFG.device.levels - 1).mean()
    assert 0.05 < frac < 0.16                     # ~10 % of G+ devices stuck on (plus the top)
    coarse = program_weights(w_in, w_rec, CFG.replace(device=DeviceConfig(levels=4)), seed=1)
    assert len(np.unique(coarse.w_in.pos)) <= 4
    noisy = program_weights(w_in, w_rec, CFG, seed=1, write_sd_us=3.0).w_in.weight_codes
    err = (noisy - ideal) * CFG.device.g_lsb_us
    # G+ and G- each get the write error (G- at g_min only upwards: the window clips it).
    assert 1.5 < err.std() < 4.5


@pytest.mark.parametrize("kw,message", [
    ({"w_in": np.zeros((3, 20))}, r"shapes \[3, 20\] and \[20, 20\] do not fit LSM 'visual'"),
    ({"w_in": np.full((30, 20), np.nan)}, "NaN or inf"),
    ({"w_in": np.zeros((30, 20)), "w_rec": np.zeros((20, 20))}, "all zero"),
    ({"write_sd_us": -1.0}, "write_sd_us must be >= 0"),
])
def test_bad_transfers_are_refused(kw, message):
    w_in, w_rec = _weights()
    args = {"w_in": w_in, "w_rec": w_rec, **kw}
    sd = args.pop("write_sd_us", 0.0)
    with pytest.raises(ValueError, match=message):
        program_weights(args["w_in"], args["w_rec"], CFG, seed=0, write_sd_us=sd)


def _trained():
    import torch

    from rramlsm.sw.device import ADCConfig
    from rramlsm.sw.experiments.srnn_transfer import TrainedSRNN
    from rramlsm.sw.heads import HeadConfig, ProjectionHead

    torch.manual_seed(0)
    configs = {"visual": CFG.replace(device=DeviceConfig(read_noise=0.02, stuck_on=0.01)),
               "audio": CFG.replace(name="audio", adc=ADCConfig(bits=8, shift=2))}
    heads = {m: HeadConfig(inputs=20, dim=8, hidden=(12,)) for m in configs}
    return TrainedSRNN(
        3, configs, {m: tuple(w.astype(np.float32) for w in _weights(i))
                     for i, m in enumerate(configs)},
        {m: ProjectionHead(h).state_dict() for m, h in heads.items()},
        {m: dataclasses.asdict(h) for m, h in heads.items()},
        {"seen_top1": 61.5, "unseen_top1": 87.25}, 7)


def test_srnn_cache_round_trip_is_exact_without_pickle(tmp_path):
    from rramlsm.sw.experiments.srnn_transfer import load_trained_srnn, save_trained_srnn

    t = _trained()
    save_trained_srnn(tmp_path / "s.npz", t)
    back = load_trained_srnn(tmp_path / "s.npz")
    assert (back.seed, back.configs, back.head_configs, back.zero_shot, back.best_epoch) == (
        t.seed, t.configs, t.head_configs, t.zero_shot, t.best_epoch)
    for m in t.weights:
        for got, want in zip(back.weights[m], t.weights[m], strict=True):
            assert got.dtype == want.dtype and np.array_equal(got, want)
        assert list(back.heads[m]) == list(t.heads[m])
        for k, want in t.heads[m].items():
            assert back.heads[m][k].dtype == want.dtype
            assert np.array_equal(back.heads[m][k].numpy(), want.numpy())
    # Every entry is a plain array: the file loads with pickle refused.
    with np.load(tmp_path / "s.npz", allow_pickle=False) as z:
        assert all(z[k].dtype != object for k in z.files)


class _Payload:
    """A pickle that would leave a marker file if it were ever unpickled."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_srnn_cache_never_unpickles(tmp_path):
    """A pickle where the cache expects its .npz is refused unread, and the cache key names
    .npz files only: the older pickled .pt caches are never opened."""
    import pickle

    from rramlsm.sw.experiments import srnn_transfer as transfer

    marker = tmp_path / "unpickled"
    path = tmp_path / "s.npz"
    path.write_bytes(pickle.dumps(_Payload(marker)))
    with pytest.raises(ValueError, match="pickle"):
        transfer.load_trained_srnn(path)
    assert not marker.exists()
    import inspect

    assert "torch.load" not in inspect.getsource(transfer)


@pytest.mark.long   # the contrast model; make test runs the sweeps on Ray with the LSM
def test_srnn_contrast_sweep_on_ray(tmp_path, digits, speech):
    """model = "srnn": one trained SRNN per chip, written onto each value's devices."""
    from rramlsm.cli import main
    from rramlsm.sw.datasets.builtin import cache_dir

    cfg = tmp_path / "s.toml"
    cfg.write_text('parameter = "stuck"\nvalues = [0.0, 0.3]\nseeds = [0]\nmodel = "srnn"\n'
                   'srnn_epochs = 1\nepochs = 2\n')
    out = tmp_path / "sweep"
    assert main(["sweep", str(cfg), "--out", str(out), "--cpus", "2", "--quiet"]) == 0
    recs = {r["value"]: r for r in map(json.loads,
                                       (out / "results.jsonl").read_text().splitlines())}
    assert set(recs) == {0.0, 0.3} and all(r["model"] == "srnn" for r in recs.values())
    ideal, faulty = recs[0.0]["metrics"], recs[0.3]["metrics"]
    # One training serves both values: the software figures are the same.
    assert ideal["sw_seen_top1"] == faulty["sw_seen_top1"]
    assert ideal["firing_rate_visual"] != faulty["firing_rate_visual"]
    assert all(0 <= m[k] <= 100 for m in (ideal, faulty)
               for k in ("seen_top1", "unseen_top1", "heads_retrained_seen_top1"))
    cached = list((cache_dir() / "srnn").glob("*.npz"))
    assert len(cached) == 1                                    # shared by later sweeps
    # A second sweep (another non-ideality) loads that SRNN instead of training again.
    again = tmp_path / "r.toml"
    again.write_text('parameter = "read_noise"\nvalues = [0.0, 0.1]\nseeds = [0]\n'
                     'model = "srnn"\nsrnn_epochs = 1\nepochs = 2\n')
    assert main(["sweep", str(again), "--out", str(tmp_path / "rn"), "--quiet"]) == 0
    rn = [json.loads(x) for x in (tmp_path / "rn" / "results.jsonl").read_text().splitlines()]
    assert {r["metrics"]["sw_seen_top1"] for r in rn} == {ideal["sw_seen_top1"]}
    assert list((cache_dir() / "srnn").glob("*.npz")) == cached
    assert "Contrast: SRNN-CLIP trained in software" in (out / "report.html").read_text()
    assert json.loads((out / "summary.json").read_text())["model"] == "srnn"
    # The same folder refuses the LSM sweep of the same parameter.
    lsm = tmp_path / "l.toml"
    lsm.write_text('parameter = "stuck"\nvalues = [0.0, 0.3]\nseeds = [0]\n')
    assert main(["sweep", str(lsm), "--out", str(out), "--quiet"]) == 2


def test_srnn_sweep_config_is_checked():
    from rramlsm.errors import ConfigError
    from rramlsm.sw.experiments.sweep import SweepConfig

    with pytest.raises(ConfigError, match="sweep model 'esn' is not one of lsm, srnn"):
        SweepConfig("stuck", (0.0,), model="esn")
    with pytest.raises(ConfigError, match="cannot sweep neurons"):
        SweepConfig("neurons", (200,), model="srnn")
    with pytest.raises(ConfigError, match="srnn_epochs must be a positive integer"):
        SweepConfig("stuck", (0.0,), model="srnn", srnn_epochs=0)
