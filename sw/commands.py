"""Sub-commands of ``rramlsm`` beyond ``data`` (registered by :mod:`rramlsm.cli`)."""

from __future__ import annotations

import json
import time
from pathlib import Path

__all__ = ["register", "lsm_report"]


def lsm_report(seed: int = 0, target_rate: float = 0.05, limit: int = 512) -> dict:
    """Firing rates and float-vs-integer agreement on the built-in data.

    For each modality: the paper's preset and the preset calibrated to
    ``target_rate``, on the first ``limit`` training samples.
    """
    from rramlsm.sw.datasets import load_source
    from rramlsm.sw.events import frame_audio, frame_vision
    from rramlsm.sw.golden import compare_float_integer
    from rramlsm.sw.lsm import PRESETS, calibrate_weight_scale, make_reservoir

    report = {}
    for spec, preset, frame in (("digits", "visual", frame_vision),
                                ("speech", "audio", frame_audio)):
        ds = load_source(spec).train
        frames = frame(ds.events[:limit])
        cfg = PRESETS[preset]
        cal, _ = calibrate_weight_scale(cfg, frames[:128], seed=seed, target_rate=target_rate)
        entry = {"input_activity": float(frames.mean())}
        for label, c in (("paper", cfg), ("calibrated", cal)):
            m = compare_float_integer(make_reservoir(c, seed=seed), frames)
            entry[label] = {"weight_scale": c.weight_scale, "threshold": c.threshold, **m}
        report[preset] = entry
    return report


def _cmd_demo(args) -> int:
    from rramlsm.sw.datasets import load_source

    t0 = time.perf_counter()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    summary = {"data": {}}
    for spec in ("digits", "speech"):
        summary["data"][spec] = load_source(spec).info()
    summary["lsm"] = lsm_report()
    summary["seconds"] = time.perf_counter() - t0
    print(f"{'modality':<8} {'setting':<11} {'scale':>7} {'rate float':>10} {'rate int':>9} "
          f"{'spike agree':>11} {'feat corr':>9}")
    for mod, entry in summary["lsm"].items():
        for label in ("paper", "calibrated"):
            e = entry[label]
            print(f"{mod:<8} {label:<11} {e['weight_scale']:7.4f} {100 * e['float_rate']:9.1f}% "
                  f"{100 * e['integer_rate']:8.1f}% {100 * e['spike_agreement']:10.1f}% "
                  f"{e['feature_correlation']:9.4f}")
    tmp = out / "summary.json.tmp"
    tmp.write_text(json.dumps(summary, indent=2))
    tmp.replace(out / "summary.json")
    print(f"wrote {out / 'summary.json'} ({summary['seconds']:.0f} s)")
    return 0


def register(sub) -> None:
    d = sub.add_parser("demo", help="the main job on the built-in data")
    d.add_argument("--out", default="runs/demo", help="output folder (default runs/demo)")
    d.set_defaults(func=_cmd_demo)
