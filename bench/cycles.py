"""Cycles per sample of the RTL core on the built-in data, for column parallelism P = 8, 16, 32.

Uses the cycle model of ``rramlsm.hw.cycles``, which the test suite checks
against the RTL cycle counter exactly.  Prints, per modality and P: mean
cycles, the event-driven bound (sum over steps of active rows x ceil(N / P)),
the stated fixed overhead, the ratio (cycles - fixed) / bound (target <= 1.1),
and samples per second at 100 MHz.  Writes ``runs/bench/cycles.json``.
"""

from __future__ import annotations

import os

import numpy as np

from bench.common import write


def main() -> int:
    from rramlsm.hw.cycles import event_bound, fixed_overhead, predict
    from rramlsm.hw.params import CoreParams
    from rramlsm.sw.datasets import load_source
    from rramlsm.sw.features import frame_dataset
    from rramlsm.sw.golden import golden_counts, quantize_reservoir
    from rramlsm.sw.lsm import PRESETS, calibrate_weight_scale, make_reservoir

    limit = 64 if os.environ.get("RRAMLSM_BENCH_QUICK") else 300
    result = {"clock_mhz": 100, "samples": limit}
    ok = True
    for spec, preset in (("digits", "visual"), ("speech", "audio")):
        ds = load_source(spec, progress=False)
        test = np.flatnonzero(~ds.is_train)[:limit]
        cfg = PRESETS[preset]
        frames = frame_dataset(ds, cfg, test)
        cal, _ = calibrate_weight_scale(cfg, frames[:128], seed=0)
        lsm = quantize_reservoir(make_reservoir(cal, seed=0))
        _, trains = golden_counts(lsm, frames, record=True)
        rows = {}
        for lanes in (8, 16, 32):
            p = CoreParams(cfg.inputs, cfg.neurons, lanes)
            cyc = np.array([predict(f, s, p) for f, s in zip(frames, trains, strict=True)])
            bound = np.array([event_bound(f, s, p) for f, s in zip(frames, trains, strict=True)])
            fixed = fixed_overhead(p, cfg.steps)
            ratio = float(((cyc - fixed) / bound).max())
            rows[lanes] = {"cycles_mean": float(cyc.mean()), "bound_mean": float(bound.mean()),
                           "fixed_overhead": fixed, "worst_ratio_minus_fixed": ratio,
                           "cycles_over_bound_mean": float((cyc / bound).mean()),
                           "samples_per_s_at_100mhz": 1e8 / float(cyc.mean())}
            ok &= ratio <= 1.1
            print(f"{preset:<6} P={lanes:<2} cycles {cyc.mean():8.0f}  bound {bound.mean():8.0f}  "
                  f"fixed {fixed:5d}  (cycles-fixed)/bound worst {ratio:.3f}  "
                  f"{1e8 / cyc.mean():7.0f} samples/s @ 100 MHz")
        result[preset] = {"firing_rate": float(trains.mean()), "lanes": rows}
    result["target_met"] = bool(ok)
    write("cycles", result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
