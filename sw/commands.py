"""Sub-commands of ``rramlsm`` beyond ``data`` (registered by :mod:`rramlsm.cli`)."""

from __future__ import annotations

import json
import time
from pathlib import Path

__all__ = ["register"]


def _cmd_demo(args) -> int:
    from rramlsm.sw.datasets import load_source

    t0 = time.perf_counter()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    summary = {}
    for spec in ("digits", "speech"):
        summary[spec] = load_source(spec).info()
        print(json.dumps(summary[spec]))
    summary["seconds"] = time.perf_counter() - t0
    tmp = out / "data_summary.json.tmp"
    tmp.write_text(json.dumps(summary, indent=2))
    tmp.replace(out / "data_summary.json")
    print(f"wrote {out / 'data_summary.json'}")
    return 0


def register(sub) -> None:
    d = sub.add_parser("demo", help="the main job on the built-in data")
    d.add_argument("--out", default="runs/demo", help="output folder (default runs/demo)")
    d.set_defaults(func=_cmd_demo)
