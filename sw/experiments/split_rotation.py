"""Split rotation: the zero-shot protocol repeated for many held-out pairs of classes.

One held-out pair (the paper's 8 and 9) says little: the 2-way unseen figure swings by
+-10 points across seeds and depends on which pair is held out.  ``--unseen-splits``
repeats the *whole* protocol for each held-out group (calibration on that split's seen
classes, head training, validation selection on seen classes, evaluation), with every
other class present in both modalities seen:

- ``all``: every pair of the classes present in both modalities (45 for ten digits);
- ``K``: K of those pairs drawn without replacement with the fixed seed
  :data:`DRAW_SEED` (the same K pairs every time);
- ``a,b``: one held-out group (two or more classes).

``metrics.json`` gains ``zero_shot_splits``: per split (mean, s.d. and t interval over
seeds) and aggregated over splits x seeds, for the software and hardware paths.
"""

from __future__ import annotations

import dataclasses
import itertools
import re
import time

import numpy as np
from tqdm.auto import tqdm

from rramlsm.errors import ConfigError
from rramlsm.sw.experiments.audiovisual import aggregate_seeds, run_seed
from rramlsm.sw.stats import INTERVAL_METHOD, t_interval

__all__ = ["DRAW_SEED", "check_unseen_splits", "resolve_unseen_splits", "run_split_rotation",
           "split_figures"]

#: Seed of the draw of K held-out pairs (``--unseen-splits K``).
DRAW_SEED = 0

_SPEC = re.compile(r"^(all|\d+|\d+(,\d+)+)$")


def check_unseen_splits(spec: str) -> str:
    """``spec`` if it is well formed (``all``, ``K`` or ``a,b``), before any data are loaded."""
    spec = str(spec).replace(" ", "")
    if not _SPEC.match(spec):
        raise ConfigError(f"--unseen-splits must be 'all', a number of pairs K or a held-out "
                          f"group such as '8,9', not {spec!r}")
    if spec.isdigit() and int(spec) < 1:
        raise ConfigError(f"--unseen-splits K must be at least 1, not {spec}")
    if "," in spec:
        group = [int(c) for c in spec.split(",")]
        if len(set(group)) != len(group):
            raise ConfigError(f"--unseen-splits {spec}: a class is named twice")
    return spec


def resolve_unseen_splits(spec: str, v_labels, a_labels) -> tuple[list[int], list[tuple]]:
    """The classes present in both modalities and the held-out groups ``spec`` names."""
    spec = check_unseen_splits(spec)
    classes = sorted(set(np.unique(v_labels).tolist()) & set(np.unique(a_labels).tolist()))
    pairs = list(itertools.combinations(classes, 2))
    if spec == "all":
        groups = pairs
    elif spec.isdigit():
        k = int(spec)
        if k > len(pairs):
            raise ConfigError(f"--unseen-splits {k}: only {len(pairs)} pairs of the "
                              f"{len(classes)} classes present in both modalities")
        pick = np.random.default_rng(DRAW_SEED).choice(len(pairs), k, replace=False)
        groups = [pairs[i] for i in sorted(pick)]
    else:
        group = tuple(sorted(int(c) for c in spec.split(",")))
        missing = [c for c in group if c not in classes]
        if missing:
            raise ConfigError(f"--unseen-splits {spec}: class {missing[0]} is absent from "
                              f"{'both modalities' if len(classes) == 0 else 'a modality'} "
                              f"(classes in both: {classes})")
        groups = [group]
    for g in groups:
        if len(classes) - len(g) < 2:
            raise ConfigError(f"--unseen-splits: holding out {list(g)} leaves "
                              f"{len(classes) - len(g)} seen class(es) of {classes}; the "
                              f"protocol needs at least 2")
    return classes, groups


def split_figures(result) -> dict:
    """The figures one split keeps from a
    :class:`~rramlsm.sw.experiments.audiovisual.SeedResult`."""
    keys = ("seen_top1", "unseen_top1", "prototype_seen_top1", "prototype_unseen_top1")
    return {path: {**{k: getattr(result, path)["zero_shot"][k] for k in keys},
                   "gzsl": dict(getattr(result, path)["gzsl"])}
            for path in ("software", "hardware")}


def run_split_rotation(config, spec: str, classes: list[int], groups: list[tuple], visual,
                       audio, *, progress: bool = True) -> dict:
    """Run every seed of ``config`` on every held-out group; ``metrics["zero_shot_splits"]``."""


    t0 = time.perf_counter()
    bar = tqdm(total=len(groups) * len(config.seeds), desc="split rotation", unit="run",
               disable=not progress, leave=False)
    splits, runs = [], []
    for g in groups:
        seen = tuple(c for c in classes if c not in g)
        cfg = dataclasses.replace(config, zeroshot=config.zeroshot.replace(seen=seen,
                                                                           unseen=tuple(g)))
        per_seed = []
        for s in config.seeds:
            per_seed.append(split_figures(run_seed(s, visual, audio, cfg, None)))
            bar.update(1)
        runs.extend(per_seed)
        splits.append({"unseen": list(g), "seen": list(seen), **aggregate_seeds(per_seed)})
    bar.close()
    aggregate = aggregate_seeds(runs)
    n_seen = len(classes) - len(groups[0])
    chance = {"seen_top1": 100.0 / n_seen, "unseen_top1": 100.0 / len(groups[0]),
              "gzsl": 100.0 / len(classes)}
    # Over splits: each split's mean over seeds is one value (the distribution the report
    # plots); its t interval treats the splits as the independent units.
    over_splits = {path: {"unseen_top1_ci95": t_interval([s[path]["unseen_top1"]
                                                          for s in splits])}
                   for path in ("software", "hardware")}
    verdict = {}
    for path in ("software", "hardware"):
        ci = aggregate[path].get("unseen_top1_ci95")
        verdict[path] = (None if ci is None else
                         "above chance" if ci[0] > chance["unseen_top1"] else
                         "below chance" if ci[1] < chance["unseen_top1"] else
                         "not distinguishable from chance")
    return {
        "spec": spec, "classes": list(classes), "groups": [list(g) for g in groups],
        "draw_seed": DRAW_SEED, "seeds": list(config.seeds), "runs": len(runs),
        "splits": splits, "aggregate": aggregate, "over_splits": over_splits,
        "chance": chance, "unseen_vs_chance": verdict,
        "intervals": f"{INTERVAL_METHOD}; aggregate: over splits x seeds "
                     f"({len(runs)} runs); over_splits: over the {len(splits)} split means",
        "protocol": "per split: calibration on its seen classes' training samples, heads "
                    "trained on them, checkpoint chosen on their validation pairs, evaluated "
                    "on the test pools (seen: test split; unseen: all samples)",
        "seconds": time.perf_counter() - t0,
    }
