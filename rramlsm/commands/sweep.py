"""``rramlsm sweep``: a Monte Carlo sweep of one device non-ideality on Ray, resumable
(:mod:`rramlsm.sw.experiments.sweep`)."""

from __future__ import annotations

import json

from rramlsm.arguments import check_cpus, input_file, output_folder
from rramlsm.errors import naming
from rramlsm.sw.experiments.sweep import load_sweep_config, run_sweep

__all__ = ["register"]


def _cmd_sweep(args) -> int:
    check_cpus("--cpus", args.cpus)
    config = input_file("config", args.config)
    with naming("config"):
        cfg = load_sweep_config(config)
    s = run_sweep(cfg, output_folder("--out", args.out), address=args.address, cpus=args.cpus,
                  progress=not args.quiet)
    print(f"{s['parameter']} ({s['meaning']}), hardware path, mean ± s.d. over "
          f"{len(s['seeds'])} chips:")
    print(f"{'value':>10} {'seen':>13} {'unseen':>13} {'probe vis':>13} {'probe aud':>13}")
    for r in s["rows"]:
        print(f"{json.dumps(r['value']):>10} " + " ".join(
            f"{r[m]:6.1f} ± {r[m + '_sd']:4.1f}" for m in (
                "seen_top1", "unseen_top1", "probe_visual_top1", "probe_audio_top1")))
    print("falls 2 points below the ideal at: " + ", ".join(
        f"{k} {v if v is not None else 'never'}" for k, v in s["falls_2_points_at"].items()))
    if "at_5_percent_stuck" in s:
        s5 = s["at_5_percent_stuck"]
        print("at 5 % stuck-at (target: loss <= 2 points): " + ", ".join(
            f"{k} {v:.1f} ± {s5['loss_sem_paired'][k]:.1f} ({s5['verdict'][k]})"
            for k, v in s5["loss_points"].items()))
    print(f"wrote {args.out}/results.jsonl, summary.json, sweep.png, report.html")
    return 0


def register(sub) -> None:
    sw = sub.add_parser("sweep", help="Monte Carlo sweep of a device non-ideality on Ray "
                                      "(resumable)")
    sw.add_argument("config", help="sweep TOML (see configs/sweeps/)")
    sw.add_argument("--out", required=True, help="results folder (resumes what it holds)")
    sw.add_argument("--address", default=None,
                    help="an existing Ray cluster (default: embedded local Ray)")
    sw.add_argument("--cpus", type=int, default=None,
                    help="local Ray CPUs (default: all this process may use)")
    sw.add_argument("--quiet", action="store_true")
    sw.set_defaults(func=_cmd_sweep)
