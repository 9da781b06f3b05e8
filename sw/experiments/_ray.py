"""Starting Ray for the experiment drivers (sweep, split rotation, tune, the seeds of a
training run): what every worker needs, in one place, and the map of independent runs onto
local CPUs."""

from __future__ import annotations

import contextlib
import copy
import os

from rramlsm.errors import ConfigError, RRAMLSMError
from rramlsm.sw._machine import usable_cpus

__all__ = ["WORKER_ENV", "local_cpus", "map_calls", "map_runs", "ray_session", "start_ray"]

#: Settings of this process every worker must share: the feature cache and the compute
#: settings (``--kernel``, ``--device``).
WORKER_ENV = ("RRAMLSM_CACHE", "RRAMLSM_KERNEL", "RRAMLSM_DEVICE")


def local_cpus(cpus: int | None) -> int:
    """``cpus``, or every CPU this process may use for None (the drivers' ``--cpus``
    default; :func:`~rramlsm.sw._machine.usable_cpus`)."""
    return usable_cpus() if cpus is None else cpus


def start_ray(*, cpus: int | None = None, address: str | None = None) -> bool:
    """Connect to the cluster at ``address``, or start a local Ray with ``cpus`` CPUs, unless
    Ray is already up in this process; True if it was started here (the caller shuts it
    down).

    Workers get this process's :data:`WORKER_ENV` and run at its priority: Ray starts them
    at niceness 15, so on a machine shared with other work they would wait behind it,
    slower than a serial loop, and these tasks are the command's own work.
    """
    import ray  # here, not at module top: 0.6 s of start-up that every command would pay

    if ray.is_initialized():
        return False
    os.environ.setdefault("RAY_worker_niceness", "0")
    env = {k: os.environ[k] for k in WORKER_ENV if k in os.environ}
    # OpenMP threads left behind by a parallel region (numba's event loops run on the
    # OpenMP layer) busy-wait for the next one by default; with one task per core they
    # spin on the core the task needs and slow it several times over (measured: head
    # training 6x slower).  Passive: they sleep at once.
    env["OMP_WAIT_POLICY"] = os.environ.get("OMP_WAIT_POLICY", "PASSIVE")
    # Ray counts a container's quota but not the affinity mask: the local count is ours.
    try:
        ray.init(address=address, num_cpus=None if address else local_cpus(cpus),
                 include_dashboard=False, log_to_driver=False, logging_level="ERROR",
                 runtime_env={"env_vars": env})
    except (ValueError, ConnectionError, RuntimeError) as e:
        if address is None:
            raise
        # A malformed address, one nothing answers at, a ray:// address without Ray's
        # client package: the user's --address, not a bug.
        raise ConfigError(f"--address {address}: cannot connect to a Ray cluster "
                          f"({str(e).splitlines()[0] if str(e) else type(e).__name__})"
                          ) from None
    return True


def _task(fn, seed: int, a, b, cfg):
    """``fn`` in a Ray task, on one core (one torch thread: the runs are many small
    products, which a second thread only slows; the results do not depend on it)."""
    import torch

    torch.set_num_threads(1)
    return fn(seed, a, b, cfg)


def map_runs(fn, jobs: list, a, b, cpus: int, bar) -> list:
    """``fn(seed, a, b, cfg)`` of every ``(seed, cfg)`` job, in job order: in this process,
    or as Ray tasks on ``cpus`` local CPUs (one each) when there are several of both.
    ``a`` and ``b`` (the datasets) go to the object store once; ``bar`` counts finished
    jobs."""
    if cpus <= 1 or len(jobs) <= 1:
        out = []
        for seed, cfg in jobs:
            out.append(fn(seed, a, b, cfg))
            bar.update(1)
        return out
    import ray  # here, not at the top: 0.6 s that every command would pay

    with ray_session(cpus, needed=True):
        a_ref, b_ref = ray.put(a), ray.put(b)
        remote = ray.remote(num_cpus=1)(_task)
        refs = [remote.remote(fn, seed, a_ref, b_ref, cfg) for seed, cfg in jobs]
        pending = set(refs)
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1)
            pending -= set(ready)
            bar.update(len(ready))
        # Arrays Ray hands back are read-only views of its object store; the callers
        # own their results (and torch refuses to wrap read-only arrays), so copy them.
        return copy.deepcopy(_get(refs))


def _get(refs: list) -> list:
    """``ray.get(refs)``, with a task's own :class:`~rramlsm.errors.RRAMLSMError` raised as
    itself: Ray wraps it in a ``RayTaskError`` whose message is the worker's traceback,
    which the command line would print in place of the one-line error."""
    import ray

    try:
        return ray.get(refs)
    except ray.exceptions.RayTaskError as e:
        if isinstance(e.cause, RRAMLSMError):
            raise e.cause from None
        raise


def map_calls(fn, calls: list[tuple], cpus: int) -> list:
    """``fn(*args)`` for every ``args`` of ``calls``, in order: in this process, or as Ray
    tasks on ``cpus`` local CPUs (one each) when there are several of both.  For calls
    that each keep one core busy in a subprocess of their own (nextpnr's seeds)."""
    if cpus <= 1 or len(calls) <= 1:
        return [fn(*args) for args in calls]
    import ray  # here, not at the top: 0.6 s that every command would pay

    with ray_session(cpus, needed=True):
        remote = ray.remote(num_cpus=1)(fn)
        return _get([remote.remote(*args) for args in calls])


@contextlib.contextmanager
def ray_session(cpus: int, needed: bool):
    """A local Ray with ``cpus`` CPUs for the whole block, so that several phases that use
    it (a run's seeds, then its split rotation) pay its start-up once; nothing when not
    ``needed`` or on one CPU.  Shut down after the block if it was started here."""
    started = needed and cpus > 1 and start_ray(cpus=cpus)
    try:
        yield
    finally:
        if started:
            import ray

            ray.shutdown()
