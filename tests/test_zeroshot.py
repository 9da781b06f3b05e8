"""The zero-shot protocol: splits, metrics, honest training, alignments, feature cache."""

import numpy as np
import pytest
import torch

from rramlsm.errors import ConfigError
from rramlsm.sw import zeroshot
from rramlsm.sw.bundle import quantize_prototypes
from rramlsm.sw.features import feature_key, lsm_counts
from rramlsm.sw.heads import HeadConfig
from rramlsm.sw.lsm import PRESETS
from rramlsm.sw.zeroshot import (
    ZeroShotConfig,
    ZeroShotSplit,
    class_prototypes,
    enrol_keys,
    evaluate_embeddings,
    fit_cca,
    fit_ridge,
    generalized_zero_shot,
    held_out_class_groups,
    held_out_class_top1,
    integer_prototype_top1,
    integer_retrieval_top1,
    linear_probe,
    make_split,
    prototype_top1,
    retrieval_top1,
    train_heads,
)


def _labels(n_per_class, classes=range(10), train_share=0.75, seed=0):
    labels = np.repeat(np.array(list(classes)), n_per_class)
    rng = np.random.default_rng(seed)
    is_train = rng.random(len(labels)) < train_share
    return labels, is_train


def _synthetic(seed=0, n=60, dim=30, noise=0.6):
    """Two 'modalities' sharing a class signal through different random linear maps."""
    rng = np.random.default_rng(seed)
    vl, vt = _labels(n, seed=seed)
    al, at = _labels(n, seed=seed + 1)
    proto = rng.normal(size=(10, 8))
    mv, ma = rng.normal(size=(8, dim)), rng.normal(size=(8, dim))

    def feats(labels):
        return proto[labels] + noise * rng.normal(size=(len(labels), 8))

    fv = 1 / (1 + np.exp(-feats(vl) @ mv / 3))
    fa = 1 / (1 + np.exp(-feats(al) @ ma / 3))
    return fv.astype(np.float32), fa.astype(np.float32), vl, vt, al, at


def test_split_never_lets_unseen_classes_into_training():
    vl, vt = _labels(50)
    al, at = _labels(40, seed=5)
    cfg = ZeroShotConfig()
    for seed in range(5):
        s = make_split(vl, vt, al, at, cfg, seed)
        tv, ta = s.training_indices()
        assert set(vl[tv]) <= set(cfg.seen) and set(al[ta]) <= set(cfg.seen)
        pv, pa = s.pairs(np.random.default_rng(seed))
        assert (vl[pv] == al[pa]).all()  # pairs share a class
        assert set(vl[pv]) == set(cfg.seen)
        # Validation pairs are disjoint from training pairs.
        assert not set(s.val_v) & set(np.concatenate(list(s.train_v.values())))
        # Seen pools are test-split only; unseen pools are unseen classes only.
        assert not vt[s.pool_v["seen"]].any() and not at[s.pool_a["seen"]].any()
        assert set(vl[s.pool_v["unseen"]]) == {8, 9} and set(al[s.pool_a["unseen"]]) == {8, 9}
        assert not set(s.pool_v["seen"]) & set(tv)


def test_pools_are_capped_per_class():
    vl, vt = _labels(400, train_share=0.5)
    s = make_split(vl, vt, vl, vt, ZeroShotConfig(pool_per_class=30), 0)
    assert np.bincount(vl[s.pool_v["seen"]]).max() == 30
    assert len(s.pool_a["unseen"]) == 60


def test_split_errors_are_clear():
    vl, vt = _labels(50)
    with pytest.raises(ConfigError, match="seen class 1 has 0 visual and"):
        make_split(vl, vt & (vl != 1), vl, vt, ZeroShotConfig(), 0)
    with pytest.raises(ConfigError, match="class 8 has no samples"):
        keep = vl != 8
        make_split(vl[keep], vt[keep], vl, vt, ZeroShotConfig(), 0)
    with pytest.raises(ConfigError, match="overlap"):
        ZeroShotConfig(seen=(1, 2), unseen=(2, 3))


def test_retrieval_and_prototype_metrics_by_hand():
    keys = np.array([[1.0, 0], [0, 1], [0.9, 0.1]])
    k_lab = np.array([0, 1, 1])
    q = np.array([[1.0, 0.05], [0.1, 1]])
    # Query 0's nearest key is key 0 (class 0): right; query 1's is key 1: right.
    assert retrieval_top1(q, [0, 1], keys, k_lab) == 100.0
    assert retrieval_top1(q, [1, 1], keys, k_lab) == 50.0
    protos = class_prototypes(keys, k_lab, [0, 1])
    assert np.allclose(np.linalg.norm(protos, axis=1), 1)
    # Class 1's prototype is the mean of [0, 1] and [0.9, 0.1] (unit-normalised first).
    assert prototype_top1(np.array([[0.2, 1.0]]), [1], keys, k_lab) == 100.0


def test_heads_learn_seen_classes_and_never_touch_unseen_features():
    fv, fa, vl, vt, al, at = _synthetic()
    cfg = ZeroShotConfig(epochs=15, head=HeadConfig(inputs=30, dim=16))
    split = make_split(vl, vt, al, at, cfg, 0)
    # Poison every unseen-class feature and every seen-class test feature with NaN: if any
    # reached training, the loss and the weights would turn NaN.
    fv_p, fa_p = fv.copy(), fa.copy()
    tv, ta = split.training_indices()
    mask_v = np.ones(len(fv), bool)
    mask_v[tv] = False
    mask_a = np.ones(len(fa), bool)
    mask_a[ta] = False
    fv_p[mask_v] = np.nan
    fa_p[mask_a] = np.nan
    out = train_heads(fv_p, fa_p, vl, al, split, cfg, seed=0)
    assert all(np.isfinite(h["loss"]) for h in out.history)
    for p in (*out.visual.parameters(), *out.audio.parameters()):
        assert np.isfinite(p.detach().numpy()).all()
    assert 1 <= out.best_epoch <= 15
    # On clean features the selected heads retrieve seen classes far above chance (14 %).
    import torch

    with torch.no_grad():
        ev, ea = out.visual(torch.as_tensor(fv)).numpy(), out.audio(torch.as_tensor(fa)).numpy()
    r = evaluate_embeddings(ev, ea, vl, al, split)
    assert r["seen"]["a2v"] > 60, r


def test_selection_uses_validation_not_test():
    fv, fa, vl, vt, al, at = _synthetic(seed=2)
    cfg = ZeroShotConfig(epochs=8, head=HeadConfig(inputs=30, dim=8))
    split = make_split(vl, vt, al, at, cfg, 1)
    out = train_heads(fv, fa, vl, al, split, cfg, seed=1)
    vals = [h["val_top1"] for h in out.history]
    assert out.best_epoch == int(np.argmax(vals)) + 1


def test_class_disjoint_validation_reads_only_seen_training_samples(monkeypatch):
    """Held-out seen classes stand in for unseen ones: the heads train on the other seen
    classes, and the held-out classes' training samples are retrieved.  No test sample and no
    unseen class is read (NaN there changes nothing), and a shared class signal generalises to
    held-out classes far above chance."""
    fv, fa, vl, vt, al, at = _synthetic(noise=0.3)
    cfg = ZeroShotConfig(seen=tuple(range(8)), unseen=(8, 9), epochs=12,
                         head=HeadConfig(inputs=30, dim=16))
    split = make_split(vl, vt, al, at, cfg, 0)
    groups = held_out_class_groups(cfg.seen, 2, 3, seed=0)
    assert len(groups) == 3 and len(set(sum(groups, ()))) == 6
    assert set(sum(groups, ())) <= set(cfg.seen)
    assert held_out_class_groups(cfg.seen, 2, 3, seed=0) == groups
    scores = held_out_class_top1(fv, fa, vl, al, split, cfg, groups, seed=0)
    tv, ta = split.training_indices()
    fv_p, fa_p = np.full_like(fv, np.nan), np.full_like(fa, np.nan)
    fv_p[tv], fa_p[ta] = fv[tv], fa[ta]
    assert held_out_class_top1(fv_p, fa_p, vl, al, split, cfg, groups, seed=0) == scores
    assert len(scores) == 3 and np.mean(scores) > 75, scores      # chance: 50 %
    # The figure is the kept epoch's retrieval of exactly the held-out classes' samples.
    runs = []

    def spy(*args, **kwargs):
        runs.append((args[4], train_heads(*args, **kwargs)))
        return runs[-1][1]

    monkeypatch.setattr(zeroshot, "train_heads", spy)
    assert held_out_class_top1(fv, fa, vl, al, split, cfg, groups, seed=0) == scores
    for (sub, trained), held, score in zip(runs, groups, scores, strict=True):
        assert set(vl[sub.pool_v["unseen"]]) == set(held) == set(al[sub.pool_a["unseen"]])
        assert set(sub.pool_v["unseen"]) <= set(tv) and set(sub.pool_a["unseen"]) <= set(ta)
        # The held-out classes neither train nor choose the epoch.
        assert not set(held) & set(sub.train_v) and not set(held) & set(sub.train_a)
        assert not set(held) & (set(vl[sub.val_v]) | set(al[sub.val_a]))
        assert trained.history[trained.best_epoch - 1]["test"]["unseen"]["a2v"] == score
    # Averaged weights (and early stopping): the figure is that of the heads returned, the
    # average, which no epoch's history holds.
    runs.clear()
    cfg_avg = cfg.replace(checkpoint="average", patience=3)
    scores = held_out_class_top1(fv, fa, vl, al, split, cfg_avg, groups, seed=0)
    for (sub, trained), score in zip(runs, scores, strict=True):
        assert trained.averaged is not None
        with torch.no_grad():
            ev = trained.visual(torch.as_tensor(fv)).numpy()
            ea = trained.audio(torch.as_tensor(fa)).numpy()
        iv, ia = sub.pool_v["unseen"], sub.pool_a["unseen"]
        assert retrieval_top1(ea[ia], al[ia], ev[iv], vl[iv]) == score
    with pytest.raises(ConfigError, match=r"needs at least 10 seen classes \(2 left to train "
                                          r"on\); there are 8"):
        held_out_class_groups(cfg.seen, 4, 2, seed=0)


def test_averaged_heads_are_the_mean_of_the_weights_after_the_first_tenth(monkeypatch):
    """checkpoint="average": the heads kept are the mean of both heads' weights after each
    epoch from epochs // 10 + 1 on, recorded here independently of the averaging code."""

    import rramlsm.sw.zeroshot as zeroshot

    fv, fa, vl, vt, al, at = _synthetic(seed=4)
    cfg = ZeroShotConfig(epochs=20, head=HeadConfig(inputs=30, dim=8), checkpoint="average")
    split = make_split(vl, vt, al, at, cfg, 0)
    seen_states = []
    embed = zeroshot._embed

    def recording(head, x):
        seen_states.append({k: v.detach().double().numpy().copy()
                            for k, v in head.state_dict().items()})
        return embed(head, x)

    monkeypatch.setattr(zeroshot, "_embed", recording)
    out = train_heads(fv, fa, vl, al, split, cfg, seed=5)
    per_epoch = list(zip(seen_states[0::2], seen_states[1::2], strict=True))   # visual, audio
    assert len(per_epoch) == 20 and out.averaged == (3, 20) and out.best_epoch == 20
    for i, head in enumerate((out.visual, out.audio)):
        for k, v in head.state_dict().items():
            want = np.mean([e[i][k] for e in per_epoch[2:]], axis=0)
            assert np.allclose(v.numpy(), want, rtol=1e-6, atol=1e-7), k
            assert not np.allclose(want, np.mean([e[i][k] for e in per_epoch], axis=0),
                                   rtol=1e-6, atol=1e-7)    # epochs 1-2 left out matters
    # The training itself is the same as with checkpoint="best": the same last epoch.
    best = train_heads(fv, fa, vl, al, split, cfg.replace(checkpoint="best"), seed=5)
    assert [h["loss"] for h in best.history] == [h["loss"] for h in out.history]
    with pytest.raises(ConfigError, match="checkpoint must be one of"):
        ZeroShotConfig(checkpoint="last")


def test_closed_form_alignments_beat_chance_on_linked_features():
    fv, fa, vl, vt, al, at = _synthetic(noise=0.3)
    split = make_split(vl, vt, al, at, ZeroShotConfig(), 0)
    pv, pa = split.pairs(None)
    for fvf, faf in (fit_cca(fv[pv], fa[pa], 8, 0.1), fit_ridge(fv[pv], fa[pa], 0.1)):
        r = evaluate_embeddings(fvf(fv), faf(fa), vl, al, split)
        assert r["seen"]["a2v"] > 50


def test_feature_cache_is_keyed_by_config_and_survives_damage(digits, tmp_path):
    sub = digits.subset(np.arange(40))
    cfg = PRESETS["visual"].replace(weight_scale=0.05)
    a = lsm_counts(sub, cfg, seed=0, cache=tmp_path)
    assert a.dtype == np.uint8 and a.shape == (40, 200)
    files = list(tmp_path.glob("*.npy"))
    assert len(files) == 1
    np.testing.assert_array_equal(lsm_counts(sub, cfg, seed=0, cache=False), a)
    # A different config, seed or path gets a different key.
    keys = {feature_key(sub, cfg, seed=0, path="float"),
            feature_key(sub, cfg.replace(decay=0.8), seed=0, path="float"),
            feature_key(sub, cfg, seed=1, path="float"),
            feature_key(sub, cfg, seed=0, path="golden"),
            feature_key(sub.subset(np.arange(39)), cfg, seed=0, path="float")}
    assert len(keys) == 5
    # A damaged entry is recomputed with a warning, not trusted and not fatal.
    good = files[0].read_bytes()
    wrong_shape = tmp_path / "wrong.npy"
    np.save(wrong_shape, np.zeros((3, 3), np.uint8))
    damaged = {"truncated": good[: len(good) // 2], "header only": good[:128],
               "random bytes": np.random.default_rng(0).bytes(len(good)),
               "bad magic": b"\x93NUMPY garbage", "empty": b"",
               "wrong shape": wrong_shape.read_bytes()}
    for what, blob in damaged.items():
        files[0].write_bytes(blob)
        with pytest.warns(RuntimeWarning, match="damaged feature cache entry"):
            again = lsm_counts(sub, cfg, seed=0, cache=tmp_path)
        np.testing.assert_array_equal(again, a, err_msg=what)
        assert files[0].read_bytes() == good, what          # rewritten whole
    with pytest.raises(ValueError, match="read noise is part of the golden"):
        lsm_counts(sub, cfg, seed=0, noise=True, cache=False)


def test_hardware_retrieval_ranks_by_integer_dot_product_ties_to_the_lowest_row():
    """The macro scores the int8 query against the keys as enrolled (unit length, int8) by
    their plain integer dot product and keeps the first of equal scores."""
    q = np.array([[1, 0]], np.int8)
    keys = np.array([[100, 100], [2, 0]], np.int8)       # enrolled: [90, 90], [127, 0]
    assert np.array_equal(enrol_keys(keys), [[90, 90], [127, 0]])
    assert integer_retrieval_top1(q, [1], keys, [0, 1]) == 100.0
    assert integer_retrieval_top1(q, [0], keys, [0, 1]) == 0.0
    tie = np.array([[1, 1]], np.int8)
    assert integer_retrieval_top1(tie, [5], np.array([[1, 0], [0, 1]]), [5, 6]) == 100.0
    assert integer_retrieval_top1(tie, [5], np.array([[0, 1], [1, 0]]), [6, 5]) == 0.0
    # The query [3, 1] scores 3 * 127 = 381 against key [5, 0] (enrolled [127, 0]) and
    # 3 * 90 + 90 = 360 against [7, 7] ([90, 90]); [1, 1] scores 127 against 180.
    assert integer_retrieval_top1(np.array([[3, 1]], np.int8), [0], np.array([[5, 0], [7, 7]]),
                                  [0, 1]) == 100.0
    assert integer_retrieval_top1(np.array([[1, 1]], np.int8), [1], np.array([[5, 0], [7, 7]]),
                                  [0, 1]) == 100.0
    # int8 embeddings cannot overflow in int8 arithmetic: 127 x 127 x 2 needs more.
    big = np.full((1, 2), 127, np.int8)
    assert integer_retrieval_top1(big, [0], np.stack([big[0], -big[0]]), [0, 1]) == 100.0


def test_enrolled_keys_are_the_bundles_prototype_rows():
    """A retrieval key is stored as a class prototype is: one formula for every row of the
    compare memory; a zero row stays zero."""
    rng = np.random.default_rng(0)
    e = rng.integers(-128, 128, (50, 64)).astype(np.int8)
    e[3] = 0
    k = enrol_keys(e)
    assert k.dtype == np.int8
    assert np.array_equal(k, quantize_prototypes(e.astype(np.float64)))
    assert not k[3].any()
    norms = np.linalg.norm(np.delete(k, 3, 0).astype(float), axis=1)
    assert np.all(np.abs(norms - 127) < 5)       # every row at one length, up to rounding


def test_hardware_prototypes_are_int8_and_scored_by_dot_product():
    # Class 1's prototype quantises to [127, 0], class 2's to [0, 127]: the query [3, 2]
    # scores 381 against 254, [2, 3] the reverse, and [2, 2] ties (254 each): class 1.
    keys = np.array([[10, 0], [10, 0], [0, 5]], np.int8)
    queries = np.array([[3, 2], [2, 3], [2, 2]], np.int8)
    assert integer_prototype_top1(queries, [1, 2, 2], keys, [1, 1, 2]) == pytest.approx(200 / 3)
    assert integer_prototype_top1(queries, [1, 2, 1], keys, [1, 1, 2]) == 100.0


def _gzsl_split(pool_v: dict, pool_a: dict) -> ZeroShotSplit:
    empty = np.zeros(0, np.int64)
    return ZeroShotSplit({}, {}, empty, empty, {k: np.asarray(v) for k, v in pool_v.items()},
                         {k: np.asarray(v) for k, v in pool_a.items()})


def test_generalized_zero_shot_lets_seen_and_unseen_classes_compete_by_hand():
    """Images: class 1 at [1, 0], class 2 at [0, 1], unseen class 8 at [1, 1]; the audio
    query of class 8 at [1, 0.1] is won by a *seen* image in GZSL (it would be right among
    the unseen pool alone), the seen queries are right."""
    ev = np.array([[1.0, 0], [0, 1], [1, 1]])
    v_labels = np.array([1, 2, 8])
    ea = np.array([[1.0, 0.05], [0.05, 1], [1, 0.1], [0.9, 1]])
    a_labels = np.array([1, 2, 8, 8])
    split = _gzsl_split({"seen": [0, 1], "unseen": [2]}, {"seen": [0, 1], "unseen": [2, 3]})
    g = generalized_zero_shot(ev, ea, v_labels, a_labels, split)
    assert g["seen"] == 100.0 and g["unseen"] == 50.0
    assert g["harmonic_mean"] == pytest.approx(2 * 100 * 50 / 150)
    assert g["prototype_seen"] == 100.0 and g["prototype_unseen"] == 50.0
    # Among the unseen pool alone, both class-8 queries are right (the 2-way figure).
    assert evaluate_embeddings(ev, ea, v_labels, a_labels, split)["unseen"]["a2v"] == 100.0
    zero = generalized_zero_shot(ev, ea, v_labels, np.array([2, 1, 9, 9]), split)
    assert zero["harmonic_mean"] == 0.0


def test_hardware_gzsl_is_the_macros_integer_arithmetic():
    """Keys enrolled at unit length, integer dot product, ties to the lowest row."""
    ev = np.array([[100, 100], [2, 0], [0, 3]], np.int8)      # classes 1, 2, 8
    v_labels = np.array([1, 2, 8])
    ea = np.array([[1, 0], [0, 1]], np.int8)                  # classes 2, 8
    a_labels = np.array([2, 8])
    split = _gzsl_split({"seen": [0, 1], "unseen": [2]}, {"seen": [0], "unseen": [1]})
    sw = generalized_zero_shot(ev.astype(float), ea.astype(float), v_labels, a_labels, split)
    assert sw["seen"] == 100.0 and sw["unseen"] == 100.0
    # Enrolled [90, 90], [127, 0], [0, 127]: the large row 0 no longer wins by its norm.
    hw = generalized_zero_shot(ev, ea, v_labels, a_labels, split, integer=True)
    assert hw["seen"] == 100.0 and hw["unseen"] == 100.0
    # The query [1, 1] ties between [2, 0] and [0, 2] (127 each): the lowest row wins.
    ev2 = np.array([[2, 0], [0, 2]], np.int8)
    split2 = _gzsl_split({"seen": [0], "unseen": [1]}, {"seen": [0], "unseen": [1]})
    tie = np.array([[1, 1], [1, 1]], np.int8)
    hw2 = generalized_zero_shot(ev2, tie, np.array([1, 8]), np.array([1, 8]), split2,
                                integer=True)
    assert hw2["seen"] == 100.0 and hw2["unseen"] == 0.0
    assert hw2["prototype_seen"] == 100.0 and hw2["prototype_unseen"] == 0.0
    # Keys of one direction enrol to one row: [7, 7] (class 1) and [3, 3] (class 8) both
    # store [90, 90] and score 180 against [1, 1] ([5, 0] scores 127); row 0 wins the tie.
    ev3 = np.array([[7, 7], [5, 0], [3, 3]], np.int8)
    split3 = _gzsl_split({"seen": [0, 1], "unseen": [2]}, {"seen": [0], "unseen": [1]})
    q3 = np.array([[1, 1], [1, 1]], np.int8)
    hw3 = generalized_zero_shot(ev3, q3, np.array([1, 2, 8]), np.array([1, 8]), split3,
                                integer=True)
    assert hw3["seen"] == 100.0 and hw3["unseen"] == 0.0


def test_aggregate_gives_sd_and_a_t_interval():
    from scipy import stats

    from rramlsm.sw.experiments.audiovisual import aggregate_seeds
    from rramlsm.sw.stats import t_interval

    agg = aggregate_seeds([{"a": 50.0, "g": {"h": 1.0}}, {"a": 60.0, "g": {"h": 3.0}},
                           {"a": 70.0, "g": {"h": 2.0}}])
    assert agg["a"] == 60.0 and agg["a_sd"] == 10.0
    half = stats.t.ppf(0.975, 2) * 10.0 / np.sqrt(3)
    assert agg["a_ci95"] == pytest.approx([60 - half, 60 + half])
    assert agg["g"]["h_ci95"] == pytest.approx(t_interval([1.0, 3.0, 2.0]))
    assert aggregate_seeds([{"a": 1.0}])["a_ci95"] is None


def _few(ds, per_class=(10, 6)):
    """A small subset of ``ds``: ``per_class`` training and test samples of each class."""
    keep = [i for c in np.unique(ds.labels) for split, n in ((True, per_class[0]),
                                                             (False, per_class[1]))
            for i in np.flatnonzero((ds.labels == c) & (ds.is_train == split))[:n]]
    return ds.subset(np.sort(keep))


def _poisoned(ds, classes):
    """``ds`` with every sample of ``classes`` (train and test) emptied of events: any such
    sample that reached calibration would pull the firing rate, hence the weight scale."""
    events = [e[:0] if c in classes else e for e, c in zip(ds.events, ds.labels, strict=True)]
    out = ds.subset(np.arange(len(ds)))
    out.events = events
    return out


@pytest.mark.slow
def test_calibration_and_selection_never_depend_on_unseen_classes(digits, speech):
    """Poison the unseen classes' samples (no events at all): the calibration (samples,
    weight scale, passes), the split, the validation curve, the selected epoch, the heads
    and every seen-class figure are the same, for the default split and a rotated one."""
    from rramlsm.sw.experiments.audiovisual import PipelineConfig, calibration_on_training, run_seed
    from rramlsm.sw.lsm import PRESETS

    v, a = _few(digits), _few(speech)
    for seen, unseen in (((1, 2, 3, 4, 5, 6, 7), (8, 9)), ((0, 1, 2, 4, 6, 7, 8, 9), (3, 5))):
        pv, pa = _poisoned(v, unseen), _poisoned(a, unseen)
        for m, clean, bad in (("visual", v, pv), ("audio", a, pa)):
            c0 = calibration_on_training(PRESETS[m], clean, 3, 0.05, classes=seen)
            c1 = calibration_on_training(PRESETS[m], bad, 3, 0.05, classes=seen)
            assert c0.config == c1.config and c0.passes == c1.passes
            # The poison bites where unseen samples are allowed in (the old behaviour).
            assert (calibration_on_training(PRESETS[m], clean, 3, 0.05).config
                    != calibration_on_training(PRESETS[m], bad, 3, 0.05).config)
        cfg = PipelineConfig(seeds=(0,), zeroshot=ZeroShotConfig(
            seen=seen, unseen=unseen, epochs=3, head=HeadConfig(dim=16)))
        r0, r1 = run_seed(0, v, a, cfg, None), run_seed(0, pv, pa, cfg, None)
        assert r0.configs == r1.configs
        assert r0.best_epoch == r1.best_epoch
        assert [h["val_top1"] for h in r0.history] == [h["val_top1"] for h in r1.history]
        for path in ("software", "hardware"):
            z0, z1 = getattr(r0, path)["zero_shot"], getattr(r1, path)["zero_shot"]
            for k in ("seen_top1", "v2a_seen_top1", "prototype_seen_top1"):
                assert z0[k] == z1[k], (path, k)
        for m in ("visual", "audio"):
            h0, h1 = r0.bundle.modalities[m].head, r1.bundle.modalities[m].head
            for l0, l1 in zip(h0.layers, h1.layers, strict=True):
                np.testing.assert_array_equal(l0.weight, l1.weight)
                np.testing.assert_array_equal(l0.bias, l1.bias)
        # ...while the unseen classes' features did change (the poison reached evaluation).
        s0, s1 = r0.embeddings["split"], r1.embeddings["split"]
        iu = s0.pool_a["unseen"]
        np.testing.assert_array_equal(iu, s1.pool_a["unseen"])
        assert (r0.embeddings["golden_counts"]["audio"][iu]
                != r1.embeddings["golden_counts"]["audio"][iu]).any()


def test_linear_probe_counts_its_matmul_flops():
    """``cost``: per L-BFGS iteration ``X W`` and ``X^T G`` over the training samples
    (4 n d k), plus the test samples' scores (2 m d k); added to what the dict holds."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(4), 30)
    x = rng.normal(size=(120, 7)) + labels[:, None]
    is_train = np.arange(120) % 4 != 0
    cost = {"flops": 5}
    acc = linear_probe(x, labels, is_train, seed=3, cost=cost)
    ref = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000, random_state=3))
    ref.fit(x[is_train], labels[is_train])
    iters = int(ref[-1].n_iter_.max())
    assert iters > 1
    assert cost["flops"] == 5 + 4 * 90 * 7 * 4 * iters + 2 * 30 * 7 * 4
    assert acc == pytest.approx(100 * ref.score(x[~is_train], labels[~is_train]))


@pytest.mark.parametrize("dim", [30, 3000])
def test_head_training_does_not_depend_on_the_thread_count(dim):
    """Seeds run serially (the caller's threads) or as Ray tasks (one core each): the heads
    must come out the same, bit for bit, whatever thread count the caller set.  At 3,000
    inputs two threads changed MKL's sums on an Intel Xeon, so this failed there unless
    training keeps to one thread."""
    import torch

    fv, fa, vl, vt, al, at = _synthetic(dim=dim)
    cfg = ZeroShotConfig(epochs=3, batch=32, head=HeadConfig(inputs=dim, dim=16))
    split = make_split(vl, vt, al, at, cfg, 0)
    before = torch.get_num_threads()
    runs = []
    try:
        for threads in (1, 2):
            torch.set_num_threads(threads)
            runs.append(train_heads(fv, fa, vl, al, split, cfg, seed=3))
            assert torch.get_num_threads() == threads   # the caller's setting restored
    finally:
        torch.set_num_threads(before)
    one, two = runs
    assert one.best_epoch == two.best_epoch
    for a, b in zip([*one.visual.parameters(), *one.audio.parameters()],
                    [*two.visual.parameters(), *two.audio.parameters()], strict=True):
        assert torch.equal(a, b)


def test_seeds_run_as_ray_tasks_give_the_serial_run(demo_run, digits, speech, tmp_path):
    """demo_run's two seeds ran as Ray tasks (one core each); seed 1 run here, serially,
    gives the same bundle: heads, prototypes and codes."""
    from rramlsm.sw.bundle import load_bundle
    from rramlsm.sw.experiments.audiovisual import PipelineConfig, run_seed

    cfg = PipelineConfig(seeds=(0, 1), zeroshot=ZeroShotConfig(epochs=3))
    serial = run_seed(1, digits, speech, cfg, None).bundle
    parallel = load_bundle(demo_run / "models" / "seed1")
    for m, mb in serial.modalities.items():
        other = parallel.modalities[m]
        for a, b in zip(mb.head.layers, other.head.layers, strict=True):
            np.testing.assert_array_equal(a.weight, b.weight)
            np.testing.assert_array_equal(a.bias, b.bias)
        np.testing.assert_array_equal(mb.prototypes, other.prototypes)
        np.testing.assert_array_equal(mb.lsm.pos, other.lsm.pos)


def test_run_configs_refuse_repeated_or_out_of_range_seeds():
    """Both tasks' configurations take the same seed check (``_checks.check_seeds``): a
    repeated seed would count one chip twice, and torch takes seeds below 2**64 only."""
    from rramlsm.sw._checks import MAX_SEED
    from rramlsm.sw.experiments.audiovisual import PipelineConfig
    from rramlsm.sw.experiments.bmi import BMIConfig

    for config, owner in ((PipelineConfig, "PipelineConfig"), (BMIConfig, "BMIConfig")):
        with pytest.raises(ConfigError, match=rf"^{owner} seeds repeat: \[3, 1, 3\]$"):
            config(seeds=(3, 1, 3))
        with pytest.raises(ValueError, match=rf"^{owner} seed must be an integer <= {MAX_SEED}"):
            config(seeds=(MAX_SEED + 1,))
        with pytest.raises(ValueError, match=rf"^{owner} seed must be an integer >= 0"):
            config(seeds=(-1,))
        assert config(seeds=(0, MAX_SEED)).seeds == (0, MAX_SEED)
