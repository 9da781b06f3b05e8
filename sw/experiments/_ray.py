"""Starting Ray for the experiment drivers (sweep, split rotation, tune): what every worker
needs, in one place."""

from __future__ import annotations

import os

__all__ = ["WORKER_ENV", "start_ray"]

#: Settings of this process every worker must share: the feature cache and the compute
#: settings (``--kernel``, ``--device``).
WORKER_ENV = ("RRAMLSM_CACHE", "RRAMLSM_KERNEL", "RRAMLSM_DEVICE")


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
    ray.init(address=address, num_cpus=None if address else cpus, include_dashboard=False,
             log_to_driver=False, logging_level="ERROR",
             runtime_env={"env_vars": env} if env else None)
    return True
