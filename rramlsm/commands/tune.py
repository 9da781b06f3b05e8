"""``rramlsm tune``: fit the flow's settings to the data on validation folds (the search is
:mod:`rramlsm.sw.experiments.tune`), and the tuning options ``train --tune`` shares."""

from __future__ import annotations

from pathlib import Path

from rramlsm.arguments import check_cpus, check_sources, output_folder
from rramlsm.errors import ConfigError
from rramlsm.sw.experiments.split_rotation import NO_ROTATION, check_unseen_splits
from rramlsm.sw.experiments.tune import DEFAULTS, OBJECTIVES, TuneSettings, run_tune

__all__ = ["register", "add_tune_arguments", "add_train_arguments", "settings_from_args",
           "print_tune_summary", "check_tune_arguments", "refuse_tune_options",
           "TRAIN_TUNE_TRIALS", "TRAIN_TUNE_BUDGET_S"]

#: ``train --tune``'s budget: with the training that follows, about 30 minutes on 2 cores
#: for 1,000 visual and 2,500 audio recordings (README).
TRAIN_TUNE_TRIALS = 40
TRAIN_TUNE_BUDGET_S = 1200.0


def add_tune_arguments(p, *, trials: int, budget: float | None) -> None:
    p.add_argument("--trials", type=int, default=trials,
                   help=f"trials besides the defaults (default {trials})")
    p.add_argument("--time-budget", type=float, default=budget,
                   help="stop starting trials after this many seconds (inf: no budget)"
                        + (f" (default {budget:.0f})" if budget else ""))
    p.add_argument("--folds", type=int, default=3,
                   help="k of the k-fold validation on the seen training data (default 3)")
    p.add_argument("--objective", choices=OBJECTIVES, default="mean",
                   help="validation figure to maximise (default: mean of zero-shot and probes)")
    p.add_argument("--max-per-class", type=int, default=None,
                   help="tune on at most this many training samples per class and modality")
    p.add_argument("--address", default=None,
                   help="an existing Ray cluster (default: embedded local Ray)")
    p.add_argument("--cpus", type=int, default=None,
                   help="local Ray CPUs (default: all this process may use)")


def add_train_arguments(p) -> None:
    """``--config`` and ``--tune`` (with the tuning options) for ``train`` and ``demo``."""
    p.add_argument("--config", default=None,
                   help="a tuned.toml from `rramlsm tune`: its settings replace the defaults "
                        "(and --epochs, --temperature, --weight-decay, --patience, --checkpoint, "
                        "--target-rate)")
    p.add_argument("--tune", action="store_true",
                   help="tune on the training split first (into OUT/tune, resumable), then "
                        "train with the winner")
    add_tune_arguments(p, trials=TRAIN_TUNE_TRIALS, budget=TRAIN_TUNE_BUDGET_S)
    # "Not given" until refuse_tune_options: an option of the search given without --tune
    # would be ignored unsaid.
    p.set_defaults(**{dest: None for dest in _TRAIN_TUNE_DEFAULTS})


#: The search's options on train and demo, and their values there with --tune.
_TRAIN_TUNE_DEFAULTS = {"trials": TRAIN_TUNE_TRIALS, "time_budget": TRAIN_TUNE_BUDGET_S,
                        "folds": 3, "objective": "mean", "max_per_class": None, "address": None}


def refuse_tune_options(args) -> None:
    """``train``/``demo``: the search's options only with ``--tune`` (refused, naming the
    first, without it); with it, those not given take ``train --tune``'s defaults."""
    given = [d for d in _TRAIN_TUNE_DEFAULTS if getattr(args, d) is not None]
    if given and not args.tune:
        flag = "--" + given[0].replace("_", "-")
        raise ConfigError(f"{flag}: an option of the search, which runs with --tune only "
                          f"(without it, it would be ignored)")
    for dest, value in _TRAIN_TUNE_DEFAULTS.items():
        if getattr(args, dest) is None:
            setattr(args, dest, value)


def settings_from_args(args, unseen_splits: str | None = None) -> TuneSettings:
    """``unseen_splits``: a split rotation every trial is scored over (checked, ``none``
    for none)."""
    if unseen_splits is not None:
        unseen_splits = check_unseen_splits(unseen_splits)
    return TuneSettings(visual=args.visual, audio=args.audio, folds=args.folds,
                        objective=args.objective, max_per_class=args.max_per_class,
                        trials=args.trials, time_budget_s=args.time_budget,
                        unseen_splits=None if unseen_splits == NO_ROTATION else unseen_splits)


def print_tune_summary(s: dict) -> None:
    b, d = s["best"], s["defaults"]
    groups = s["settings"].get("groups")
    print(f"{s['trials']} trials, validation {s['objective']} ({s['settings']['folds']}-fold, "
          f"seen classes, training split"
          + (f"; mean over {len(groups)} held-out groups, each scored without its classes"
             if groups else "") + "):")
    print(f"  winner (trial {b['number']}): {b['score']:.1f} ± {b['score_sd']:.1f}  "
          + ", ".join(f"{k} {v:.1f}" for k, v in b["metrics"].items()))
    if d:
        print(f"  defaults:         {d['score']:.1f} ± {d['score_sd']:.1f}  "
              + ", ".join(f"{k} {v:.1f}" for k, v in d["metrics"].items()))
    changed = {k: v for k, v in b["config"].items() if DEFAULTS.get(k) != v}
    print("  changed: " + ", ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}"
                                   for k, v in changed.items()))
    if s["importance"]:
        top = list(s["importance"].items())[:4]
        print("  mattered most: " + ", ".join(f"{k} ({100 * v:.0f} %)" for k, v in top))


def check_tune_arguments(args) -> None:
    """Sources and --out checked before any work (nothing is read)."""
    output_folder("--out", args.out)
    check_cpus("--cpus", args.cpus)
    check_sources(args)


def _cmd_tune(args) -> int:
    check_tune_arguments(args)
    settings = settings_from_args(args, args.unseen_splits)
    s = run_tune(settings, Path(args.out), address=args.address, cpus=args.cpus,
                 resume=args.resume, progress=not args.quiet)
    print_tune_summary(s)
    print(f"wrote {args.out}/tuned.toml, trials.jsonl, report.html ({s['seconds']:.0f} s)")
    return 0


def register(sub) -> None:
    t = sub.add_parser("tune", help="fit the flow's settings to the data on validation folds "
                                    "(Ray Tune + Optuna TPE, resumable)")
    t.add_argument("--visual", required=True, help="vision source: digits | nmnist:PATH")
    t.add_argument("--audio", required=True,
                   help="audio source: speech | fsdd:PATH | ntidigits:FILE")
    t.add_argument("--out", required=True, help="output folder")
    add_tune_arguments(t, trials=40, budget=None)
    t.add_argument("--unseen-splits", default=None, metavar="all|K|a,b|none",
                   help="score every trial over held-out groups as `train --unseen-splits`: "
                        "the mean over the groups of the k-fold score on the training split "
                        "of each group's seen classes, its held-out classes cut first "
                        "(default none: classes 1-7 only)")
    t.add_argument("--resume", action="store_true", help="continue the tuning in --out")
    t.add_argument("--quiet", action="store_true", help="no progress bar")
    t.set_defaults(func=_cmd_tune)
