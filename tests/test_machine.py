"""The CPUs a run sizes itself to: those this process may run on, not the machine's."""

from __future__ import annotations

import os

import pytest

from rramlsm.sw._machine import usable_cpus
from rramlsm.sw.experiments import _ray


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity") or len(os.sched_getaffinity(0)) < 2,
                    reason="needs a CPU affinity mask of two CPUs or more to narrow")
def test_runs_size_themselves_to_the_affinity_mask_not_the_machine(monkeypatch):
    """A job given one core (``taskset -c 0``, a batch scheduler's cpuset) of a larger
    machine: the seeds' Ray, tune and sweep start one worker, not one per CPU of the
    machine."""
    import ray

    calls = []
    monkeypatch.setattr(ray, "is_initialized", lambda: False)
    monkeypatch.setattr(ray, "init", lambda **kw: calls.append(kw))
    allowed, before = os.sched_getaffinity(0), usable_cpus()
    os.sched_setaffinity(0, {min(allowed)})
    try:
        assert usable_cpus() == 1 < os.cpu_count()
        assert _ray.local_cpus(None) == 1 and _ray.local_cpus(3) == 3
        assert _ray.start_ray() and calls[-1]["num_cpus"] == 1      # tune, sweep: no --cpus
        assert _ray.start_ray(cpus=2) and calls[-1]["num_cpus"] == 2
        # A cluster says its own CPUs.
        assert _ray.start_ray(address="ray://head:10001") and calls[-1]["num_cpus"] is None
    finally:
        os.sched_setaffinity(0, allowed)
    assert usable_cpus() == before
    # An explicit cap (loky's, joblib's) is honoured as well.
    monkeypatch.setenv("LOKY_MAX_CPU_COUNT", "1")
    assert usable_cpus() == 1


def test_a_cluster_address_that_does_not_answer_is_the_users_error(monkeypatch):
    """``--address`` malformed, unreachable, or ray:// without Ray's client package: Ray
    raises ValueError or ConnectionError; the user sees one line naming the address."""
    import ray

    from rramlsm.errors import ConfigError

    monkeypatch.setattr(ray, "is_initialized", lambda: False)
    for error in (ValueError("Invalid address format: bogus"),
                  ConnectionError("could not reach the GCS")):
        def fail(error=error, **kw):
            raise error

        monkeypatch.setattr(ray, "init", fail)
        with pytest.raises(ConfigError, match=r"^--address bogus: cannot connect to a Ray "
                                              r"cluster \("):
            _ray.start_ray(address="bogus")
    # A local Ray that fails to start is no address's fault: the error stays itself.
    with pytest.raises(ConnectionError):
        _ray.start_ray(cpus=1)
