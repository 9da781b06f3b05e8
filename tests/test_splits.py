"""Split rotation (--unseen-splits): which held-out pairs, bad input, the per-split figures."""

from __future__ import annotations

import json

import numpy as np
import pytest

from rramlsm.errors import ConfigError
from rramlsm.sw.experiments import split_rotation
from rramlsm.sw.experiments.split_rotation import (
    check_unseen_splits,
    resolve_unseen_splits,
    split_seeds,
)

DIGITS = np.repeat(np.arange(10), 3)


def test_all_k_and_one_group():
    classes, groups = resolve_unseen_splits("all", DIGITS, DIGITS)
    assert classes == list(range(10)) and len(groups) == 45 and (8, 9) in groups
    _, five = resolve_unseen_splits("5", DIGITS, DIGITS)
    assert len(set(five)) == 5 and set(five) <= set(groups)
    assert resolve_unseen_splits("5", DIGITS, DIGITS)[1] == five   # fixed draw
    assert resolve_unseen_splits("9, 8", DIGITS, DIGITS)[1] == [(8, 9)]
    # Only classes present in both modalities take part.
    classes, groups = resolve_unseen_splits("all", DIGITS, DIGITS[DIGITS != 0])
    assert classes == list(range(1, 10)) and len(groups) == 36


@pytest.mark.parametrize("spec, labels_a, match", [
    ("8,10", DIGITS, "class 10 is absent"),
    ("0,9", DIGITS[DIGITS != 9], "class 9 is absent"),
    ("46", DIGITS, "only 45 pairs"),
    ("1,2", DIGITS[DIGITS < 3], "leaves 1 seen class"),
    ("all", DIGITS[DIGITS < 3], "leaves 1 seen class"),
    ("nine", DIGITS, "must be 'all'"),
    ("0", DIGITS, "at least 1"),
    ("3,3", DIGITS, "named twice"),
])
def test_bad_splits_are_clear_errors(spec, labels_a, match):
    with pytest.raises(ConfigError, match=match):
        resolve_unseen_splits(spec, DIGITS, labels_a)


def test_syntax_is_checked_before_any_data():
    assert check_unseen_splits("all") == "all" and check_unseen_splits("8, 9") == "8,9"
    assert check_unseen_splits("None") == "none"
    with pytest.raises(ConfigError, match="no held-out groups"):
        resolve_unseen_splits("none", DIGITS, DIGITS)
    with pytest.raises(ConfigError):
        check_unseen_splits("8;9")


@pytest.mark.parametrize("spec, needle", [("8,11", "class 11 is absent"),
                                          ("46", "only 45 pairs")])
def test_cli_bad_split_on_the_data_exits_2_in_one_line(spec, needle, digits, speech, tmp_path,
                                                       capsys):
    from rramlsm.cli import main

    rc = main(["train", "--visual", "digits", "--audio", "speech", "--unseen-splits", spec,
               "--out", str(tmp_path), "--quiet"])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and needle in err and "\n" not in err and "Traceback" not in err
    assert not (tmp_path / "metrics.json").exists()


@pytest.mark.slow
def test_rotation_reports_every_split_and_the_aggregate(digits, speech):
    """Two held-out pairs x two seeds on a small subset, as Ray tasks: per-split and aggregate
    figures with s.d. and t intervals, for both paths; the report draws the heat map."""
    from rramlsm.sw.experiments.audiovisual import PipelineConfig
    from rramlsm.sw.experiments.report import _rotation_html
    from rramlsm.sw.experiments.split_rotation import run_split_rotation
    from rramlsm.sw.heads import HeadConfig
    from rramlsm.sw.zeroshot import ZeroShotConfig
    from tests.test_zeroshot import _few

    v, a = _few(digits), _few(speech)
    cfg = PipelineConfig(seeds=(0, 1), zeroshot=ZeroShotConfig(epochs=2, head=HeadConfig(dim=16)))
    classes, groups = resolve_unseen_splits("0,5", v.labels, a.labels)
    groups.append((3, 8))
    # On two CPUs: the four runs as Ray tasks, in the order of the serial loop.
    rot = run_split_rotation(cfg, "test", classes, groups, v, a, progress=False, cpus=2)
    assert rot["cpus"] == 2 and [s["seeds"] for s in rot["splits"]] == [[0, 1], [0, 1]]
    assert [s["unseen"] for s in rot["splits"]] == [[0, 5], [3, 8]]
    assert rot["splits"][0]["seen"] == [1, 2, 3, 4, 6, 7, 8, 9] and rot["runs"] == 4
    for where in (rot["aggregate"], rot["splits"][1]):
        for path in ("software", "hardware"):
            d = where[path]
            for k in ("seen_top1", "unseen_top1"):
                assert 0 <= d[k] <= 100 and d[f"{k}_sd"] >= 0 and len(d[f"{k}_ci95"]) == 2
            for k in ("seen", "unseen", "harmonic_mean"):
                lo, hi = d["gzsl"][f"{k}_ci95"]
                assert lo <= d["gzsl"][k] <= hi
    assert rot["chance"] == {"seen_top1": 12.5, "unseen_top1": 50.0, "gzsl": 10.0}
    assert set(rot["unseen_vs_chance"]["software"].split()) & {"above", "below", "not"}
    json.dumps(rot)
    html = _rotation_html(rot)
    assert html.count("data:image/png;base64,") == 2 and "harmonic mean" in html


def test_seeds_per_split_take_the_seeds_in_turn():
    assert split_seeds((0, 1, 2), 2, None) == [(0, 1, 2), (0, 1, 2)]
    assert split_seeds((0, 1, 2, 3, 4), 7, 1) == [(0,), (1,), (2,), (3,), (4,), (0,), (1,)]
    assert split_seeds((0, 1, 2), 2, 2) == [(0, 1), (2, 0)]
    assert split_seeds((0, 1), 2, 5) == [(0, 1), (0, 1)]


class _Fake:
    """What run_seed gives the rotation, with a chosen unseen accuracy."""

    def __init__(self, unseen):
        zs = {"seen_top1": 70.0, "unseen_top1": unseen, "prototype_seen_top1": 70.0,
              "prototype_unseen_top1": unseen}
        gzsl = {"seen": 60.0, "unseen": 10.0, "harmonic_mean": 17.1}
        self.software = self.hardware = {"zero_shot": zs, "gzsl": gzsl}


def test_verdict_rests_on_the_interval_over_splits(monkeypatch):
    """Runs of one split are not independent: two splits whose runs agree closely (61 +- 2)
    are 'above chance' over the 4 runs' t interval, not over the 2 split means'."""
    from rramlsm.sw.experiments.audiovisual import PipelineConfig

    unseen = {(0, (0, 1)): 59.0, (1, (0, 1)): 61.0, (0, (2, 3)): 61.0, (1, (2, 3)): 63.0}
    monkeypatch.setattr(split_rotation, "run_seed", lambda s, v, a, cfg, p, **kw: _Fake(
        unseen[(s, cfg.zeroshot.unseen)]))
    rot = split_rotation.run_split_rotation(PipelineConfig(seeds=(0, 1)), "t", list(range(10)),
                                            [(0, 1), (2, 3)], None, None, progress=False)
    assert rot["aggregate"]["software"]["unseen_top1_ci95"][0] > 50
    lo, hi = rot["over_splits"]["software"]["unseen_top1_ci95"]
    assert lo < 50 < hi and rot["verdict_basis"] == "over_splits"
    assert rot["unseen_vs_chance"] == {"software": "not distinguishable from chance",
                                       "hardware": "not distinguishable from chance"}
    assert rot["over_splits"]["software"]["gzsl"]["harmonic_mean"] == pytest.approx(17.1)
    # One seed per split, the seeds in turn: 2 runs.
    one = split_rotation.run_split_rotation(PipelineConfig(seeds=(0, 1)), "t", list(range(10)),
                                            [(0, 1), (2, 3)], None, None, progress=False,
                                            seeds_per_split=1)
    assert [s["seeds"] for s in one["splits"]] == [[0], [1]] and one["runs"] == 2
    assert one["over_splits"]["software"]["unseen_top1"] == pytest.approx(61.0)


def test_demo_rotates_by_default_and_none_turns_it_off(monkeypatch, tmp_path):
    """``demo`` runs 10 pairs x 1 seed unless told otherwise; ``--unseen-splits none`` (what
    the tests' demo uses) keeps the paper's split only."""
    from rramlsm.cli import main
    from rramlsm.commands import train

    seen = []

    def stop(cfg, out, **kw):
        seen.append(kw)
        raise ConfigError("stop here")

    monkeypatch.setattr(train, "run_training", stop)
    for extra in ([], ["--unseen-splits", "none"], ["--unseen-splits", "all",
                                                    "--seeds-per-split", "2"]):
        assert main(["demo", "--out", str(tmp_path / "d"), "--quiet", *extra]) == 2
    assert [(k["unseen_splits"], k["seeds_per_split"]) for k in seen] == [
        ("10", 1), (None, None), ("all", 2)]


@pytest.mark.parametrize("args, needle", [
    (["--seeds-per-split", "1"], "--seeds-per-split applies"),
    (["--unseen-splits", "3", "--seeds-per-split", "0"], "--seeds-per-split"),
    (["--unseen-splits", "3", "--cpus", "0"], "--cpus"),
])
def test_cli_bad_rotation_options_exit_2(args, needle, tmp_path, capsys):
    from rramlsm.cli import main

    rc = main(["train", "--visual", "digits", "--audio", "speech", "--out", str(tmp_path),
               "--quiet", *args])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and needle in err and "Traceback" not in err
