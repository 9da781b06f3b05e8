"""Baselines (SRNN, ProtoNet) and the training-cost count."""

import numpy as np
import pytest
import torch

from rramlsm.sw.experiments.baselines import (
    BaselineConfig,
    SpikingRNN,
    train_protonet,
    train_srnn_clip,
)
from rramlsm.sw.experiments.training_cost import count_flops, training_cost
from rramlsm.sw.features import frame_dataset
from rramlsm.sw.lsm import PRESETS, make_reservoir, run_lif
from rramlsm.sw.zeroshot import ZeroShotConfig, make_split


@pytest.fixture(scope="module")
def small(digits, speech):
    """Calibrated-scale reservoirs and a small split (40 samples per class) of the built-ins."""
    keep_v = np.concatenate([np.flatnonzero(digits.labels == c)[:40] for c in range(10)])
    keep_a = np.concatenate([np.flatnonzero(speech.labels == c)[:40] for c in range(10)])
    v, a = digits.subset(keep_v), speech.subset(keep_a)
    cfg = {"visual": PRESETS["visual"].replace(weight_scale=0.037),
           "audio": PRESETS["audio"].replace(weight_scale=0.045)}
    res = {"visual": make_reservoir(cfg["visual"], seed=0),
           "audio": make_reservoir(cfg["audio"], seed=1)}
    fv, fa = frame_dataset(v, cfg["visual"]), frame_dataset(a, cfg["audio"])
    split = make_split(v.labels, v.is_train, a.labels, a.is_train,
                       ZeroShotConfig(pool_per_class=20), 0)
    return v, a, res, fv, fa, split


def test_srnn_starts_as_the_lsm(small):
    v, a, res, fv, fa, _ = small
    srnn = SpikingRNN(res["visual"])
    x = torch.as_tensor(fv[:32])
    w_in, w_rec = res["visual"].float_weights()
    counts = run_lif(x, w_in, w_rec, res["visual"].config.decay, res["visual"].config.threshold)
    with torch.no_grad():
        np.testing.assert_array_equal(np.rint(srnn(x).numpy() * 50), counts.numpy())


def test_srnn_surrogate_gradients_flow(small):
    _, _, res, fv, _, _ = small
    srnn = SpikingRNN(res["visual"])
    srnn(torch.as_tensor(fv[:8])).sum().backward()
    for p in (srnn.w_in, srnn.w_rec):
        assert torch.isfinite(p.grad).all() and p.grad.abs().sum() > 0


def test_baselines_train_and_report(small):
    v, a, res, fv, fa, split = small
    bc = BaselineConfig(epochs=1, episodes=6)
    r = train_srnn_clip(fv, fa, v.labels, a.labels, split, res, bc, seed=0)
    assert r.steps > 0 and 0 <= r.zero_shot["seen_top1"] <= 100 and r.best_epoch == 1
    p = train_protonet(fv, fa, v.labels, a.labels, split, res, bc, seed=0, eval_every=3)
    assert p.name == "protonet_srnn" and p.steps == 6
    rates_v = np.random.default_rng(0).random((len(fv), 200), dtype=np.float32)
    rates_a = np.random.default_rng(1).random((len(fa), 200), dtype=np.float32)
    q = train_protonet(rates_v, rates_a, v.labels, a.labels, split, None, bc, seed=0,
                       eval_every=3)
    assert q.name == "protonet_lsm"
    with pytest.raises(ValueError, match="n_way 9 exceeds the 7 seen classes"):
        train_protonet(fv, fa, v.labels, a.labels, split, res, bc.replace(n_way=9), seed=0)


def test_flop_counter_counts_matmuls():
    a, b = torch.rand(7, 5), torch.rand(5, 3)
    assert count_flops(lambda: a @ b) == 2 * 7 * 5 * 3


def test_training_cost_ratios_follow_the_recipe(small):
    v, a, res, fv, fa, split = small
    zs = ZeroShotConfig(epochs=10)
    frames = {"visual": fv, "audio": fa}
    secs = {"calibration": 0.5, "feature_extraction": 1.0, "head_training": 2.0}
    c10 = training_cost(frames, res, split, zs, BaselineConfig(epochs=10, episodes=100),
                        our_seconds=secs)
    c20 = training_cost(frames, res, split, zs, BaselineConfig(epochs=20, episodes=200),
                        our_seconds=secs)
    assert c20["srnn_clip_flops"] == 2 * c10["srnn_clip_flops"]
    assert c20["protonet_flops"] == 2 * c10["protonet_flops"]
    assert c10["ours_flops"] == c20["ours_flops"]
    # One SRNN-CLIP epoch costs more than our whole LSM pass: BPTT ~ 3x forward per epoch.
    assert c10["srnn_clip_ratio"] > 10
    # The LSM forward pass count is analytic: T x (inputs + neurons) x neurons x 2 per sample.
    n_v, n_a = (len(x) for x in split.training_indices())
    expect = 2 * 200 * (50 * (256 + 200) * n_v + 129 * (64 + 200) * n_a)
    assert c10["ours_lsm_forward_flops"] == pytest.approx(expect, rel=1e-9)
    assert c10["ours"]["feature_extraction"]["flops"] == c10["ours_lsm_forward_flops"]
    assert c10["ours_seconds"] == pytest.approx(3.5)


def test_training_cost_counts_every_step_of_our_recipe(small):
    """Calibration and extra steps are their own lines, and part of the total and ratios:
    4 passes over 16 samples per modality cost 4 x 16 forward passes, by hand."""
    v, a, res, fv, fa, split = small
    zs, bc = ZeroShotConfig(epochs=10), BaselineConfig(epochs=10, episodes=100)
    frames = {"visual": fv, "audio": fa}
    secs = {"feature_extraction": 1.0, "head_training": 2.0}
    bare = training_cost(frames, res, split, zs, bc, our_seconds=secs)
    cal = {"visual": {"passes": 4, "samples": 16}, "audio": {"passes": 3, "samples": 16}}
    full = training_cost(frames, res, split, zs, bc, our_seconds={**secs, "calibration": 0.25},
                         calibration=cal, extra={"tuning": {"flops": 10**9, "seconds": 60.0,
                                                            "trials": 8}})
    by_hand = 16 * (4 * 2 * 50 * (256 + 200) * 200 + 3 * 2 * 129 * (64 + 200) * 200)
    assert bare["ours"]["calibration"]["flops"] == 0
    assert full["ours"]["calibration"] == {"flops": by_hand, "seconds": 0.25,
                                           "passes": {"visual": 4, "audio": 3},
                                           "samples": {"visual": 16, "audio": 16}}
    assert full["ours"]["tuning"] == {"flops": 10**9, "seconds": 60.0, "trials": 8}
    assert full["ours_flops"] == bare["ours_flops"] + by_hand + 10**9
    assert full["ours_seconds"] == pytest.approx(63.25)
    assert full["srnn_clip_ratio"] == pytest.approx(full["srnn_clip_flops"] / full["ours_flops"])
    assert full["srnn_clip_ratio"] < bare["srnn_clip_ratio"]


def test_baselines_command_writes_its_figures(tmp_path, digits, speech, capsys):
    import json

    from rramlsm.cli import main

    assert main(["baselines", "--seeds", "0", "--epochs", "1", "--episodes", "2", "--quiet",
                 "--out", str(tmp_path)]) == 0
    out = json.loads((tmp_path / "baselines.json").read_text())
    assert out["seeds"] == [0] and out["recipe"]["episodes"] == 2
    for name in ("srnn_clip", "protonet_srnn", "protonet_lsm"):
        assert 0 <= out[name]["seen_top1"] <= 100 and 0 <= out[name]["unseen_top1"] <= 100
    assert "srnn_clip" in capsys.readouterr().out


def test_protonet_episodes_with_few_samples_per_class():
    """A class with fewer training samples than an episode draws is refused by name; the
    cost count, which needs only the episode's size, lets them repeat (``train`` on a small
    real dataset crashed here)."""
    from types import SimpleNamespace

    from rramlsm.errors import ConfigError
    from rramlsm.sw.experiments.baselines import sample_episode

    split = SimpleNamespace(train_v={c: np.arange(10 * c, 10 * c + 6) for c in range(7)},
                            train_a={c: np.arange(10 * c, 10 * c + 9) for c in range(7)})
    bc = BaselineConfig(n_way=7, shot=5, query=15)
    with pytest.raises(ConfigError, match=r"15 audio training samples .* class \d has 9"):
        sample_episode(split, bc, np.random.default_rng(0))
    sup, qry = sample_episode(split, bc, np.random.default_rng(0), repeats=True)
    assert len(sup) == 7 * 5 and len(qry) == 7 * 15
    # Each block of 15 queries comes from one class's pool, the 7 blocks from 7 classes.
    owners = [{int(q) // 10 for q in block} for block in qry.reshape(7, 15)]
    assert all(len(o) == 1 for o in owners) and set.union(*owners) == set(range(7))
    # Enough samples: drawn without repeats.
    sup, _ = sample_episode(split, BaselineConfig(n_way=7, shot=5, query=9),
                            np.random.default_rng(1))
    assert all(len(set(b)) == 5 for b in sup.reshape(7, 5))
