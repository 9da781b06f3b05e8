"""N-MNIST: the original ``.bin`` format and folder layout (Orchard et al. 2015).

Each event is 5 bytes, big-endian bit fields: bits 39-32 x, 31-24 y, bit 23
polarity, bits 22-0 timestamp in microseconds.  An event with y = 240 is not
an event but marks a timestamp wrap: every later timestamp gains 2**23 us.
(tonic's reader, copied from the authors' MATLAB-era Python, adds 2**13; the
field is 23 bits wide, so we add 2**23.  Real recordings last ~300 ms and
never wrap, so the two agree on every real file.)

The folder layout is ``Train/<digit>/<id>.bin`` and ``Test/<digit>/<id>.bin``.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from rramlsm.errors import EventDataError
from rramlsm.sw._io import atomic_path
from rramlsm.sw.datasets.base import EventDataset
from rramlsm.sw.events import NMNIST_SENSOR, make_vision_events, validate_events

__all__ = ["read_nmnist_file", "write_nmnist_file", "load_nmnist_folder", "OVERFLOW_Y"]

OVERFLOW_Y = 240
_WRAP_US = 1 << 23


def read_nmnist_file(path: str | os.PathLike) -> np.ndarray:
    """Read one N-MNIST recording into a vision event array.

    Raises
    ------
    EventDataError
        The file is missing, its length is not a multiple of 5, it holds no
        events, or an event lies outside the 34 x 34 sensor or goes back in time.
    """
    path = Path(path)
    try:
        raw = np.fromfile(path, dtype=np.uint8)
    except OSError as e:
        raise EventDataError(f"{path}: cannot read N-MNIST file ({e.strerror or e})") from e
    if raw.size % 5:
        raise EventDataError(
            f"{path}: {raw.size} bytes is not a multiple of 5 (truncated or not N-MNIST)"
        )
    rec = raw.reshape(-1, 5)
    y = rec[:, 1]
    overflow = y == OVERFLOW_Y
    ts = (
        (rec[:, 2].astype(np.int64) & 0x7F) << 16
        | rec[:, 3].astype(np.int64) << 8
        | rec[:, 4].astype(np.int64)
    )
    if overflow.any():
        ts = ts + np.cumsum(overflow, dtype=np.int64) * _WRAP_US
    keep = ~overflow
    events = make_vision_events(rec[keep, 0], y[keep], ts[keep], rec[keep, 2] >> 7)
    return validate_events(events, where=str(path), sensor=NMNIST_SENSOR)


def write_nmnist_file(path: str | os.PathLike, events: np.ndarray) -> None:
    """Write a vision event array in N-MNIST ``.bin`` format (atomically).

    Timestamps past 2**23 us are written with overflow markers, as the sensor does.
    """
    path = Path(path)
    validate_events(events, where=str(path), sensor=NMNIST_SENSOR)
    t = events["t"].astype(np.int64)
    wraps = t // _WRAP_US
    n_markers = np.diff(np.concatenate([[0], wraps]))
    # One record per event plus one marker in front of the event that crosses
    # each wrap.
    total = len(events) + int(n_markers.sum())
    rec = np.zeros((total, 5), dtype=np.uint8)
    pos = np.arange(len(events)) + np.cumsum(n_markers)
    marker_pos = np.setdiff1d(np.arange(total), pos)
    rec[marker_pos, 1] = OVERFLOW_Y
    low = t % _WRAP_US
    rec[pos, 0] = events["x"]
    rec[pos, 1] = events["y"]
    rec[pos, 2] = (events["p"].astype(np.int64) << 7) | (low >> 16)
    rec[pos, 3] = (low >> 8) & 0xFF
    rec[pos, 4] = low & 0xFF
    with atomic_path(path) as tmp:
        tmp.write_bytes(rec.tobytes())


def load_nmnist_folder(root: str | os.PathLike, *, name: str | None = None) -> EventDataset:
    """Load an N-MNIST folder (``Train/`` and/or ``Test/``, each ``<digit>/<id>.bin``).

    At least one of ``Train`` and ``Test`` must exist; class folders must be
    the digits 0-9.
    """
    root = Path(root)
    if not root.is_dir():
        raise EventDataError(f"{root}: N-MNIST folder does not exist")
    splits = [s for s in ("Train", "Test") if (root / s).is_dir()]
    if not splits:
        raise EventDataError(f"{root}: N-MNIST folder has neither Train/ nor Test/")
    events, labels, is_train, groups = [], [], [], []
    for split in splits:
        for cls_dir in sorted((root / split).iterdir()):
            if not cls_dir.is_dir():
                continue
            if cls_dir.name not in {str(d) for d in range(10)}:
                raise EventDataError(f"{cls_dir}: unknown label {cls_dir.name!r} (expected 0-9)")
            for f in sorted(cls_dir.glob("*.bin")):
                events.append(read_nmnist_file(f))
                labels.append(int(cls_dir.name))
                is_train.append(split == "Train")
                groups.append(f.stem)
    if not events:
        raise EventDataError(f"{root}: no .bin recordings under {', '.join(splits)}")
    return EventDataset(
        name or f"nmnist:{root}", "vision", NMNIST_SENSOR, events, labels, is_train, groups
    )
