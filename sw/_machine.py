"""How much of this machine the process may use, for the code that sizes its work to it
(Ray's local CPUs, the cochlea's threads, Verilator's compile jobs)."""

from __future__ import annotations

__all__ = ["usable_cpus"]


def usable_cpus() -> int:
    """The CPUs this process may run on: the machine's, less those its affinity mask
    (``taskset``, a batch scheduler's cpuset) or its container's CPU quota (cgroups) keep
    from it.  :func:`os.cpu_count` counts every CPU of the machine, so a job given 2 cores
    of a 64-core node would start 64 Ray workers on them.  joblib's count (loky's) reads
    all three, and ``LOKY_MAX_CPU_COUNT`` caps it."""
    from joblib import cpu_count  # here, not at the top: 0.2 s of imports

    return max(1, int(cpu_count()))
