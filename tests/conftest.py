"""Shared fixtures: an isolated dataset cache and the real recordings in ../shared/data."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from filelock import FileLock
from hypothesis import HealthCheck, settings

REPO = Path(__file__).resolve().parents[1]

# Property-based tests: a few examples per test in `make test` (the same ones every run, so
# a failure there is reproducible), many more and fresh ones in `make fuzz`
# (HYPOTHESIS_PROFILE=fuzz).  No deadline: file I/O times vary with the machine's load.
settings.register_profile("test", max_examples=100, derandomize=True, database=None,
                          deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("fuzz", max_examples=2500, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "test"))
SHARED_DATA = Path(os.environ.get("RRAMLSM_SHARED_DATA", REPO.parent / "shared" / "data"))


#: Fixtures that take long to build and are shared by several tests (demo_run: about two
#: minutes, test_tune's tuned_run: 40 s).
SHARED_RUNS = ("demo_run", "tuned_run")


@pytest.hookimpl(tryfirst=True)   # before xdist's own hook reads the groups
def pytest_collection_modifyitems(config, items):
    """Under pytest-xdist (``make test``: ``-n 2 --dist loadgroup``) every worker builds its
    own session and module fixtures; the tests on each of :data:`SHARED_RUNS` go to one
    worker, so that the run is built once, not once per worker."""
    for item in items:
        for name in SHARED_RUNS:
            if name in getattr(item, "fixturenames", ()):
                item.add_marker(pytest.mark.xdist_group(name))
                break


def _run_root(tmp_path_factory) -> Path | None:
    """The folder that all pytest-xdist workers of this run share (None without xdist)."""
    if "PYTEST_XDIST_WORKER" not in os.environ:
        return None
    return tmp_path_factory.getbasetemp().parent


@pytest.fixture(scope="session", autouse=True)
def isolated_cache(tmp_path_factory):
    """Every test run builds into its own cache, so a stale user cache cannot hide a bug.
    The workers of one run share the built datasets (written atomically, built once: see
    :func:`_built_once`); everything else is cached per worker."""
    old = os.environ.get("RRAMLSM_CACHE")
    path = tmp_path_factory.mktemp("rramlsm-cache")
    root = _run_root(tmp_path_factory)
    if root is not None:
        shared = root / "rramlsm-datasets"
        shared.mkdir(exist_ok=True)
        (path / "datasets").symlink_to(shared, target_is_directory=True)
    os.environ["RRAMLSM_CACHE"] = str(path)
    yield path
    if old is None:
        os.environ.pop("RRAMLSM_CACHE", None)
    else:
        os.environ["RRAMLSM_CACHE"] = old


def _need(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"real recordings not found at {path} (set RRAMLSM_SHARED_DATA)")
    return path


@pytest.fixture(scope="session")
def nmnist_dir() -> Path:
    return _need(SHARED_DATA / "nmnist")


@pytest.fixture(scope="session")
def fsdd_dir() -> Path:
    return _need(SHARED_DATA / "fsdd")


def _built_once(tmp_path_factory, name: str, build):
    """``build()`` under a lock that all workers of the run share: the first builds into
    the shared cache, the others wait and load it (about 20 s each per worker saved)."""
    root = _run_root(tmp_path_factory)
    if root is None:
        return build()
    with FileLock(root / f"{name}.lock"):
        return build()


@pytest.fixture(scope="session")
def digits(isolated_cache, tmp_path_factory):
    from rramlsm.sw.datasets import build_digits

    return _built_once(tmp_path_factory, "digits", lambda: build_digits(progress=False))


@pytest.fixture(scope="session")
def speech(isolated_cache, tmp_path_factory):
    from rramlsm.sw.datasets import build_speech

    return _built_once(tmp_path_factory, "speech", lambda: build_speech(progress=False))


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory, digits, speech):
    """One short ``rramlsm demo`` (2 seeds, 3 epochs, no split rotation) shared by the CLI and
    bundle tests."""
    from rramlsm.cli import main

    out = tmp_path_factory.mktemp("demo")
    assert main(["demo", "--out", str(out), "--seeds", "0", "1", "--epochs", "3",
                 "--unseen-splits", "none", "--quiet"]) == 0
    return out
