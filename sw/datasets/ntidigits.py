"""N-TIDIGITS18: the single HDF5 file of the dataset (Anumula et al. 2018).

Layout: ``{split}_labels`` (byte strings, one id per recording),
``{split}_addresses/<id>`` (channel 0-63) and ``{split}_timestamps/<id>``
(seconds, float) for split in ``train``/``test``.  The label is the text after
the last ``-`` of the id; single-digit recordings have a one-character label
``1``-``9``, ``z`` (zero) or ``o`` ("oh").  Multi-digit strings are skipped.
"oh" is not a digit 0-9, so it is left out unless ``include_oh`` maps it to
class 10.  Recordings carry no polarity; events get ``p = 1`` as in tonic.
"""

from __future__ import annotations

import os
from pathlib import Path

import h5py
import numpy as np

from rramlsm.errors import EventDataError
from rramlsm.sw._io import atomic_path
from rramlsm.sw.datasets.base import EventDataset
from rramlsm.sw.events import COCHLEA_CHANNELS, make_audio_events, validate_events

__all__ = ["load_ntidigits", "write_ntidigits", "NTIDIGITS_LABELS", "recording_events"]

#: Single-utterance labels and their classes; "o" only with include_oh.
NTIDIGITS_LABELS = {"z": 0, **{str(d): d for d in range(1, 10)}, "o": 10}


#: Largest timestamp magnitude in seconds: microseconds must fit int64 with room to spare.
_MAX_SECONDS = 2.0**62 / 1e6


def load_ntidigits(
    path: str | os.PathLike, *, include_oh: bool = False, name: str | None = None
) -> EventDataset:
    """Load the single-digit recordings of an N-TIDIGITS18 HDF5 file."""
    path = Path(path)
    events, labels, is_train, groups = read_hdf5(
        path, "N-TIDIGITS", lambda f: _read_splits(f, path, include_oh))
    if not events:
        raise EventDataError(f"{path}: no single-digit recordings")
    return EventDataset(
        name or f"ntidigits:{path}", "audio", (COCHLEA_CHANNELS,), events, labels, is_train, groups
    )


def read_hdf5(path: Path, what: str, read, errors=(OSError, KeyError, RuntimeError)):
    """``read(f)`` of the HDF5 file ``path`` (of dataset ``what``), every fault an
    :class:`EventDataError` naming the file: no such file, a folder, not HDF5, or h5py's own
    ``errors`` on a damaged file (a truncated B-tree, a corrupt object header)."""
    if path.is_dir():
        raise EventDataError(f"{path}: is a folder, not an {what} HDF5 file")
    if not path.is_file():
        raise EventDataError(f"{path}: {what} file does not exist")
    try:
        f = h5py.File(path, "r")
    except OSError as e:
        raise EventDataError(f"{path}: not an HDF5 file ({e})") from e
    try:
        with f:
            return read(f)
    except EventDataError:
        raise
    except errors as e:
        raise EventDataError(f"{path}: damaged HDF5 file ({type(e).__name__}: {e})") from e


def _read_splits(f: h5py.File, path: Path, include_oh: bool):
    events, labels, is_train, groups = [], [], [], []
    for split in ("train", "test"):
        for key in (f"{split}_labels", f"{split}_addresses", f"{split}_timestamps"):
            if key not in f:
                raise EventDataError(f"{path}: missing HDF5 item {key!r}")
    for split in ("train", "test"):
        node = f[f"{split}_labels"]
        raw_ids = node[()] if isinstance(node, h5py.Dataset) else None
        if raw_ids is None or np.ndim(raw_ids) != 1:
            raise EventDataError(f"{path}: {split}_labels is not a list of ids")
        ids = [s.decode(errors="replace") if isinstance(s, bytes) else str(s) for s in raw_ids]
        addr_g, ts_g = f[f"{split}_addresses"], f[f"{split}_timestamps"]
        if not isinstance(addr_g, h5py.Group) or not isinstance(ts_g, h5py.Group):
            raise EventDataError(f"{path}: {split}_addresses and {split}_timestamps must be "
                                 f"groups of one dataset per recording")
        for sid in ids:
            label = sid.rsplit("-", 1)[-1]
            if len(label) != 1:
                continue  # a multi-digit sequence
            if label not in NTIDIGITS_LABELS:
                raise EventDataError(f"{path}: recording {sid!r} has unknown label {label!r}")
            if label == "o" and not include_oh:
                continue
            where = f"{path}:{split}/{sid}"
            addr_node, ts_node = addr_g.get(sid), ts_g.get(sid)
            if not isinstance(addr_node, h5py.Dataset) or not isinstance(ts_node, h5py.Dataset):
                raise EventDataError(f"{where}: addresses or timestamps missing")
            events.append(recording_events(where, addr_node[()], ts_node[()]))
            labels.append(NTIDIGITS_LABELS[label])
            is_train.append(split == "train")
            groups.append(sid.split("-")[1] if sid.count("-") >= 2 else sid)
    return events, labels, is_train, groups


def _is_real(dtype: np.dtype) -> bool:
    return np.issubdtype(dtype, np.integer) or np.issubdtype(dtype, np.floating)


def recording_events(where: str, addr, ts, channels: int = COCHLEA_CHANNELS) -> np.ndarray:
    """One recording's channels and timestamps (seconds) as checked audio events: channels
    must be whole numbers in ``0..channels-1`` and timestamps finite, so that no value is
    cast into another.  (Also the SHD/SSC reader's, with 700 channels.)"""
    addr, ts = np.asarray(addr), np.asarray(ts)
    if addr.shape != ts.shape or addr.ndim != 1:
        raise EventDataError(f"{where}: addresses {addr.shape} and timestamps {ts.shape} differ")
    if not (_is_real(addr.dtype) and _is_real(ts.dtype)):
        raise EventDataError(f"{where}: addresses ({addr.dtype}) and timestamps ({ts.dtype}) "
                             f"must be numbers")
    if not np.issubdtype(addr.dtype, np.integer) and not (
            np.isfinite(addr).all() and (addr == np.round(addr)).all()):
        raise EventDataError(f"{where}: channel addresses must be whole numbers")
    if len(addr) and (addr.min() < 0 or addr.max() >= channels):
        bad = int(np.flatnonzero((addr < 0) | (addr >= channels))[0])
        raise EventDataError(f"{where}: event {bad} has channel {addr[bad]} outside "
                             f"0..{channels - 1}")
    ts = ts.astype(np.float64)
    if not np.isfinite(ts).all():
        raise EventDataError(f"{where}: non-finite timestamps")
    if len(ts) and np.abs(ts).max() >= _MAX_SECONDS:
        raise EventDataError(f"{where}: timestamp {np.abs(ts).max():g} s is out of range")
    t_us = np.rint(ts * 1e6).astype(np.int64)
    ev = make_audio_events(addr.astype(np.int64), t_us, np.ones(len(ts), np.int8))
    return validate_events(ev, where=where, sensor=(channels,))


def write_ntidigits(path: str | os.PathLike, recordings: dict[str, list[tuple[str, np.ndarray]]]):
    """Write an N-TIDIGITS18-format HDF5 file (atomically).

    ``recordings`` maps ``"train"``/``"test"`` to ``(id, audio_events)`` pairs;
    timestamps are stored in seconds as the dataset does.
    """
    path = Path(path)
    with atomic_path(path) as tmp, h5py.File(tmp, "w") as f:
        for split in ("train", "test"):
            items = recordings.get(split, [])
            f.create_dataset(
                f"{split}_labels", data=np.array([i.encode() for i, _ in items], dtype="S")
            )
            ga = f.create_group(f"{split}_addresses")
            gt = f.create_group(f"{split}_timestamps")
            for sid, ev in items:
                ga.create_dataset(sid, data=ev["x"].astype(np.uint8))
                gt.create_dataset(sid, data=ev["t"].astype(np.float64) / 1e6)
