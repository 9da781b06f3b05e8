"""``rramlsm baselines``: SRNN-CLIP and ProtoNet trained in full, per seed
(:mod:`rramlsm.sw.experiments.baselines`), with ``baselines.json`` rewritten after each seed."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from rramlsm.arguments import (
    add_source_arguments,
    check_seeds,
    load_sources,
    output_folder,
    require,
)
from rramlsm.sw._io import write_json
from rramlsm.sw.experiments.audiovisual import aggregate_seeds, calibrate_on_training, chip_seeds
from rramlsm.sw.experiments.baselines import BaselineConfig, train_protonet, train_srnn_clip
from rramlsm.sw.features import frame_dataset, lsm_counts
from rramlsm.sw.lsm import PRESETS, make_reservoir
from rramlsm.sw.zeroshot import ZeroShotConfig, make_split

__all__ = ["register"]


def _cmd_baselines(args) -> int:
    output_folder("--out", args.out)
    require("--target-rate", args.target_rate, 0 < args.target_rate < 1, "in (0, 1)")
    check_seeds("--seeds", args.seeds)
    require("--epochs", args.epochs, args.epochs >= 1, "at least 1")
    require("--episodes", args.episodes, args.episodes >= 1, "at least 1")
    bc = BaselineConfig(epochs=args.epochs, episodes=args.episodes)
    v, a = load_sources(args)
    zs = ZeroShotConfig()
    runs = {"srnn_clip": [], "protonet_srnn": [], "protonet_lsm": []}
    for seed in args.seeds:
        chip = chip_seeds(seed)
        cfgs = {"visual": calibrate_on_training(PRESETS["visual"], v, chip["visual"],
                                                args.target_rate, classes=zs.seen),
                "audio": calibrate_on_training(PRESETS["audio"], a, chip["audio"],
                                               args.target_rate, classes=zs.seen)}
        res = {m: make_reservoir(cfgs[m], seed=chip[m]) for m in cfgs}
        fv, fa = frame_dataset(v, cfgs["visual"]), frame_dataset(a, cfgs["audio"])
        split = make_split(v.labels, v.is_train, a.labels, a.is_train, zs, seed)
        bar = tqdm(total=bc.epochs + 2 * bc.episodes, desc=f"baselines seed {seed}",
                   disable=args.quiet, leave=False)
        runs["srnn_clip"].append(train_srnn_clip(fv, fa, v.labels, a.labels, split, res, bc,
                                                 seed=seed, progress=bar))
        runs["protonet_srnn"].append(train_protonet(fv, fa, v.labels, a.labels, split, res, bc,
                                                    seed=seed, progress=bar))
        rv = lsm_counts(v, cfgs["visual"], seed=chip["visual"]) / cfgs["visual"].steps
        ra = lsm_counts(a, cfgs["audio"], seed=chip["audio"]) / cfgs["audio"].steps
        runs["protonet_lsm"].append(train_protonet(rv.astype(np.float32), ra.astype(np.float32),
                                                   v.labels, a.labels, split, None, bc,
                                                   seed=seed, progress=bar))
        bar.close()
        # Rewritten after every seed: a long run that is stopped keeps what it finished.
        _baseline_summary(runs, args, bc, v, a, quiet=True)
    _baseline_summary(runs, args, bc, v, a, quiet=False)
    return 0


def _baseline_summary(runs, args, bc, v, a, *, quiet: bool) -> dict:
    summary = {}
    for name, rs in runs.items():
        summary[name] = {**aggregate_seeds([r.zero_shot for r in rs]),
                         "seconds_mean": float(np.mean([r.seconds for r in rs])),
                         "steps": rs[0].steps}
        z = summary[name]
        if not quiet:
            print(f"{name:<14} seen {z['seen_top1']:5.1f} ± {z['seen_top1_sd']:4.1f}  unseen "
                  f"{z['unseen_top1']:5.1f} ± {z['unseen_top1_sd']:4.1f}  "
                  f"({z['seconds_mean']:.0f} s per seed)")
    out = Path(args.out) / "baselines.json"
    done = list(args.seeds)[: len(runs["srnn_clip"])]
    write_json(out, {"seeds": done, "recipe":
                     {"epochs": bc.epochs, "episodes": bc.episodes, "batch": bc.batch,
                      "n_way": bc.n_way, "shot": bc.shot, "query": bc.query},
                     "sources": {"visual": v.name, "audio": a.name}, **summary})
    if not quiet:
        print(f"wrote {out}")
    return summary


def register(sub) -> None:
    b = sub.add_parser("baselines", help="train SRNN-CLIP and ProtoNet baselines in full")
    add_source_arguments(b, required=False)
    b.add_argument("--out", default="runs/baselines", help="output folder")
    b.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    b.add_argument("--epochs", type=int, default=100, help="SRNN-CLIP epochs")
    b.add_argument("--episodes", type=int, default=1250, help="ProtoNet episodes")
    b.add_argument("--target-rate", type=float, default=0.05)
    b.add_argument("--quiet", action="store_true")
    b.set_defaults(func=_cmd_baselines)
