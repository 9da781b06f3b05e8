"""Atomic file output: write beside the destination, then rename over it.

A crash or an exception mid-write leaves the old file (or nothing) in place,
never a truncated one.  Temporary files get the permissions an ordinary
``open()`` would give (``0o666`` less the umask), not ``mkstemp``'s ``0o600``.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

__all__ = ["atomic_path", "write_atomic", "write_json", "default_mode", "read_run_record"]


def default_mode(directory: bool = False) -> int:
    umask = os.umask(0)
    os.umask(umask)
    return (0o777 if directory else 0o666) & ~umask


@contextmanager
def atomic_path(path: str | os.PathLike, suffix: str = ".tmp") -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it replaces ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=suffix)
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, default_mode())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_atomic(path: str | os.PathLike, data: str | bytes) -> Path:
    """Write ``data`` (text as UTF-8, or bytes) to ``path`` through :func:`atomic_path`."""
    path = Path(path)
    with atomic_path(path) as tmp:
        if isinstance(data, bytes):
            tmp.write_bytes(data)
        else:
            tmp.write_text(data, encoding="utf-8")
    return path


def write_json(path: str | os.PathLike, obj) -> Path:
    """Write ``obj`` as indented JSON through :func:`atomic_path` (NumPy scalars and arrays
    as numbers and lists; anything else JSON cannot hold as its ``repr``)."""
    path = Path(path)
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, default=_json_default))
    return path


def _json_default(o):
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    return repr(o)


def read_run_record(path: Path) -> dict:
    """A run folder's record of its settings (``tune.json``, ``sweep.json``): a JSON object,
    or a :class:`~rramlsm.errors.ConfigError` naming the file (a cut or foreign file would
    otherwise be a traceback)."""
    from rramlsm.errors import ConfigError

    try:
        record = json.loads(Path(path).read_text())
    except (OSError, ValueError) as e:
        raise ConfigError(f"{path}: unreadable ({e}); remove it, or use another --out") from None
    if not isinstance(record, dict):
        raise ConfigError(f"{path}: not a settings record (a JSON object); remove it, or use "
                          f"another --out")
    return record
