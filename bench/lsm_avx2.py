"""The LSM benchmark again, on this CPU limited to AVX2: what an AVX2-only machine gets.

Most users' CPUs lack the int8 dot-product units (AVX-512 VNNI, AVX-VNNI, AMX) and
often AVX-512 itself (AMD before Zen 4, most Intel desktop parts, every ARM laptop).
Rather than trust a kernel choice to hold there, this reruns :mod:`bench.lsm` in a
fresh process with every library told to stop at AVX2, the instruction set of such
machines: PyTorch's own kernels (``ATEN_CPU_CAPABILITY``), MKL's GEMM
(``MKL_ENABLE_INSTRUCTIONS``), oneDNN, which runs ``torch._int_mm``
(``ONEDNN_MAX_CPU_ISA``, which also excludes AVX-VNNI), and the code numba compiles
for the golden model's event loop (``NUMBA_CPU_NAME``: Haswell, AVX2 and FMA).  The
snnTorch baseline runs under the same limits, so the ratios compare like with like.

It emulates the instruction set, not another chip: cache sizes, clock and memory
bandwidth stay this machine's.  ``runs/bench/lsm-avx2.json`` records the limits.
"""

from __future__ import annotations

import os
import subprocess
import sys

#: The environment that caps each library at AVX2 (read at import, hence a new process).
AVX2_ONLY = {
    "ATEN_CPU_CAPABILITY": "avx2",
    "MKL_ENABLE_INSTRUCTIONS": "AVX2",
    "ONEDNN_MAX_CPU_ISA": "AVX2",
    "NUMBA_CPU_NAME": "haswell",
}


def main() -> int:
    env = {**os.environ, **AVX2_ONLY, "RRAMLSM_BENCH_NAME": "lsm-avx2",
           "RRAMLSM_BENCH_ISA_LIMIT": ",".join(f"{k}={v}" for k, v in AVX2_ONLY.items())}
    return subprocess.call([sys.executable, "-m", "bench.lsm"], env=env)


if __name__ == "__main__":
    raise SystemExit(main())
