"""Reading + framing N-MNIST files: ours against tonic's reader + ToFrame, same files, same run.

Also times building the built-in datasets from scratch (into a temporary cache).
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import tonic
import tonic.transforms as tt

from bench.common import best_of, write
from rramlsm.sw.datasets import read_nmnist_file
from rramlsm.sw.events import VisionFraming, frame_vision

TONIC_DTYPE = np.dtype([("x", int), ("y", int), ("t", int), ("p", int)])


def main() -> int:
    root = Path(os.environ.get("RRAMLSM_SHARED_DATA", "../shared/data")) / "nmnist"
    files = sorted(root.glob("*/*/*.bin"))
    if not files:
        print(f"bench data: no N-MNIST files under {root}", file=sys.stderr)
        return 1
    framing = VisionFraming(steps=50, reduce="crop", polarity="both")
    to_frame = tt.ToFrame(sensor_size=(34, 34, 2), n_time_bins=50)

    def ours():
        return frame_vision([read_nmnist_file(f) for f in files], framing)

    def theirs():
        return [to_frame(tonic.io.read_mnist_file(str(f), dtype=TONIC_DTYPE)) for f in files]

    # Same events from both readers; frames agree up to the bin edges: tonic bins
    # are (t_last - t_first) // T wide and drop the remainder, ours split the
    # whole span, so a few events near bin edges land one bin apart.
    for f in files:
        ref = tonic.io.read_mnist_file(str(f), dtype=TONIC_DTYPE)
        assert all(np.array_equal(read_nmnist_file(f)[k], ref[k]) for k in "xytp"), f
    a, b = ours(), theirs()
    agree = np.mean([np.mean(a[i].reshape(50, 2, 16, 16) == (fr[:, ::-1, 9:25, 9:25] > 0))
                     for i, fr in enumerate(b)])
    assert agree > 0.97, f"framed cells agree with tonic only {agree:.3f}"
    t_ours, t_tonic = best_of(ours), best_of(theirs)
    result = {
        "files": len(files),
        "ours_files_per_s": len(files) / t_ours,
        "tonic_files_per_s": len(files) / t_tonic,
        "speedup_vs_tonic": t_tonic / t_ours,
        "cells_agreeing_with_tonic": float(agree),
    }
    print(f"N-MNIST read+frame: ours {result['ours_files_per_s']:.0f} files/s, tonic "
          f"{result['tonic_files_per_s']:.0f} files/s -> {result['speedup_vs_tonic']:.2f}x")

    if os.environ.get("RRAMLSM_BENCH_QUICK"):
        write("data", result)
        return 0
    from rramlsm.sw.datasets import build_digits, build_speech

    with tempfile.TemporaryDirectory() as tmp:
        os.environ["RRAMLSM_CACHE"] = tmp
        for name, build in (("digits", build_digits), ("speech", build_speech)):
            t0 = time.perf_counter()
            build(progress=False)
            result[f"build_{name}_s"] = time.perf_counter() - t0
            print(f"building {name}: {result[f'build_{name}_s']:.1f} s")
    write("data", result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
