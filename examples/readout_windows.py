"""What readout windows do to one modality's linear probe, on any audio or vision source.

    python examples/readout_windows.py --source fsdd:../shared/data/fsdd-jackson --seeds 3
    python examples/readout_windows.py --source ... --readout trace   # trace samples instead

For each window count (those dividing the steps, and 2/4/8 at 128 steps for audio) and
seed: the reservoir is calibrated on training samples (5 % firing), then a linear probe
(logistic regression, :func:`rramlsm.sw.zeroshot.linear_probe`) is fitted on the training
split's window rates and scored on the test split, for the float model and the golden
model; beside it the probe on the raw input binned the same way.  Test figures are
reported, never used to choose anything: ``rramlsm train --windows auto`` chooses on
training data only.
"""

from __future__ import annotations

import argparse

import numpy as np

from rramlsm.sw.datasets import load_source
from rramlsm.sw.experiments.audiovisual import calibrate_on_training
from rramlsm.sw.features import binned_input, lsm_counts
from rramlsm.sw.lsm import PRESETS
from rramlsm.sw.readout import with_readout
from rramlsm.sw.zeroshot import linear_probe


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--source", default="fsdd:../shared/data/fsdd-jackson")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--readout", default="count",
                    help="count, trace (time constant from the window length) or trace:K")
    args = ap.parse_args()
    ds = load_source(args.source, progress=False)
    preset = "visual" if ds.modality == "vision" else "audio"
    base = PRESETS[preset]
    settings = [(base.steps, w) for w in range(1, 9) if base.steps % w == 0]
    if preset == "audio":
        settings += [(128, w) for w in (2, 4, 8)]
    print(f"{ds.name}: {len(ds)} samples, {int(ds.is_train.sum())} for training; "
          f"probe top-1 % on the test split, mean +- s.d. over {args.seeds} seeds")
    for steps, w in settings:
        acc = {"float": [], "golden": []}
        for seed in range(args.seeds):
            cfg = calibrate_on_training(base.replace(steps=steps, windows=w), ds, seed, 0.05)
            cfg = with_readout(cfg, args.readout)
            for path in acc:
                rates = lsm_counts(ds, cfg, seed=seed, path=path) / np.float32(cfg.feature_scale)
                acc[path].append(linear_probe(rates, ds.labels, ds.is_train, seed=seed))
        raw = linear_probe(binned_input(ds, cfg), ds.labels, ds.is_train)
        sd = {p: np.std(v, ddof=1) if len(v) > 1 else 0.0 for p, v in acc.items()}
        kind = cfg.readout + (f" k = {cfg.trace_shift}" if cfg.readout == "trace" else "")
        print(f"T = {steps:3d}, W = {w}, {kind}: float {np.mean(acc['float']):5.1f} +- "
              f"{sd['float']:.1f}   golden {np.mean(acc['golden']):5.1f} +- "
              f"{sd['golden']:.1f}   raw input {raw:5.1f}")


if __name__ == "__main__":
    main()
