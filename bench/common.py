"""Helpers shared by the benchmarks."""

from __future__ import annotations

import json
import os
import platform
import time
from pathlib import Path

OUT = Path(os.environ.get("RRAMLSM_BENCH_OUT", "runs/bench"))


def best_of(fn, repeat: int = 5) -> float:
    """Best wall time of ``repeat`` calls (the least disturbed by a noisy machine)."""
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def write(name: str, result: dict) -> Path:
    OUT.mkdir(parents=True, exist_ok=True)
    result = {**result, "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                                    "processor": platform.machine()}}
    path = OUT / f"{name}.json"
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(result, indent=2))
    tmp.replace(path)
    print(f"wrote {path}")
    return path
