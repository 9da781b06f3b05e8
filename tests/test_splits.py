"""Split rotation (--unseen-splits): which held-out pairs, bad input, the per-split figures."""

from __future__ import annotations

import json

import numpy as np
import pytest

from rramlsm.errors import ConfigError
from rramlsm.sw.experiments.split_rotation import check_unseen_splits, resolve_unseen_splits

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
    """Two held-out pairs x two seeds on a small subset: per-split and aggregate figures with
    s.d. and t intervals, for both paths; the report draws the heat map."""
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
    rot = run_split_rotation(cfg, "test", classes, groups, v, a, progress=False)
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
