"""Run every benchmark (``make bench``)."""

import importlib
import sys

BENCHES = ["data", "lsm", "lsm_avx2", "cycles", "cosim"]

failed = []
for name in BENCHES:
    try:
        mod = importlib.import_module(f"bench.{name}")
    except ModuleNotFoundError as e:
        if e.name == f"bench.{name}":
            continue
        raise
    print(f"== bench {name}")
    if mod.main() != 0:
        failed.append(name)
sys.exit(1 if failed else 0)
