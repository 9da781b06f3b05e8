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


# The instruction-set extensions that decide which kernel is fast (x86 and Arm names).
KERNEL_FLAGS = ("sse4_2", "avx", "avx2", "fma", "f16c", "avx512f", "avx512bw", "avx512_vnni",
                "avx_vnni", "avx512_bf16", "amx_tile", "amx_int8", "amx_bf16", "asimd",
                "asimddp", "sve", "sve2", "i8mm", "bf16")


def cpu_flags() -> list[str]:
    """The CPU's kernel-relevant flags from ``/proc/cpuinfo`` (empty where it is absent)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return []
    found = set()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features"):
            found.update(value.split())
    return [f for f in KERNEL_FLAGS if f in found]


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.partition(":")[2].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def write(name: str, result: dict) -> Path:
    OUT.mkdir(parents=True, exist_ok=True)
    result = {**result, "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                                    "processor": platform.machine(), "model": cpu_model(),
                                    "cpu_flags": cpu_flags()}}
    path = OUT / f"{name}.json"
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(result, indent=2))
    tmp.replace(path)
    print(f"wrote {path}")
    return path
