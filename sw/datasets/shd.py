"""Spiking Heidelberg Digits (SHD) and Spiking Speech Commands (SSC): the HDF5 files of
Cramer et al. 2020 (zenkelab.org/datasets).

Layout of one file (``shd_train.h5``, ``shd_test.h5``, ``ssc_train.h5``, ...)::

    spikes/times   variable-length float arrays, one per recording, in seconds
    spikes/units   variable-length integer arrays, the cochlea channel 0..699 of each spike
    labels         one integer class per recording (SHD: 0-9 English and 10-19 German
                   digits; SSC: 35 command words)
    extra/speaker  one speaker id per recording (optional here)

Events follow tonic's convention for these datasets: audio events ``x = unit``,
``t`` in microseconds (``round(times * 1e6)``), ``p = 1``, on a sensor of 700
channels.  The framing pools the 700 channels onto the audio reservoir's inputs
(channel ``c`` -> input ``c * inputs // 700``).  ``shd:FILE`` names one file; when
its name says ``train`` (``test``) and the matching ``test`` (``train``) file lies
beside it, both are read and make the split, otherwise the file's recordings are
split by speaker (every fifth speaker, in sorted order, is test).
"""

from __future__ import annotations

import os
from pathlib import Path

import h5py
import numpy as np

from rramlsm.errors import EventDataError
from rramlsm.sw._io import atomic_path
from rramlsm.sw.datasets.base import EventDataset
from rramlsm.sw.datasets.ntidigits import read_hdf5, recording_events

__all__ = ["SHD_CHANNELS", "load_shd", "write_shd"]

#: Channels of the SHD/SSC cochlea model (Lauscher).
SHD_CHANNELS = 700
_ITEMS = ("spikes/times", "spikes/units", "labels")


def load_shd(path: str | os.PathLike, *, kind: str = "shd", name: str | None = None
             ) -> EventDataset:
    """Load an SHD or SSC file (with its train/test sibling when there is one)."""
    path = Path(path)
    files = [(path, None)]
    stem = path.name
    for mine, other in (("train", "test"), ("test", "train")):
        if mine in stem:
            sibling = path.with_name(stem.replace(mine, other))
            if sibling.is_file() and sibling != path:
                files = [(path, mine == "train"), (sibling, mine != "train")]
            break
    events, labels, is_train, groups = [], [], [], []
    for file, train in files:
        ev, lab, spk = read_hdf5(file, kind.upper(), lambda f, file=file: _read(f, file),
                                 (OSError, KeyError, RuntimeError, ValueError, TypeError))
        events += ev
        labels.append(lab)
        groups += [str(s) for s in spk]
        if train is None:  # one file: split by speaker
            speakers = sorted(set(spk.tolist()))
            test = {s for i, s in enumerate(speakers) if i % 5 == 4}
            is_train.append(np.array([s not in test for s in spk.tolist()], bool))
        else:
            is_train.append(np.full(len(lab), train))
    return EventDataset(name or f"{kind}:{path}", "audio", (SHD_CHANNELS,), events,
                        np.concatenate(labels), np.concatenate(is_train), groups)


def _dataset(f: h5py.File, path: Path, key: str) -> h5py.Dataset:
    node = f.get(key)
    if not isinstance(node, h5py.Dataset):
        raise EventDataError(f"{path}: missing HDF5 dataset {key!r}")
    if node.ndim != 1:
        raise EventDataError(f"{path}: {key} must be one entry per recording, not shape "
                             f"{list(node.shape)}")
    return node


def _integers(path: Path, key: str, values) -> np.ndarray:
    v = np.asarray(values)
    if v.dtype.kind not in "ui" and not (v.dtype.kind == "f" and np.isfinite(v).all()
                                         and (v == np.round(v)).all()):
        raise EventDataError(f"{path}: {key} must hold whole numbers, not {v.dtype}")
    return v.astype(np.int64)


def _read(f: h5py.File, path: Path):
    times, units, labels = (_dataset(f, path, k) for k in _ITEMS)
    n = len(labels)
    if len(times) != n or len(units) != n:
        raise EventDataError(f"{path}: {n} labels but {len(times)} spike-time and {len(units)} "
                             f"unit arrays (truncated?)")
    if n == 0:
        raise EventDataError(f"{path}: no recordings")
    lab = _integers(path, "labels", labels[()])
    if lab.min() < 0:
        raise EventDataError(f"{path}: negative label {int(lab.min())}")
    speaker = f.get("extra/speaker")
    if isinstance(speaker, h5py.Dataset):
        spk = _integers(path, "extra/speaker", speaker[()]).ravel()
        if len(spk) != n:
            raise EventDataError(f"{path}: {len(spk)} speakers for {n} recordings")
    else:
        spk = np.zeros(n, np.int64)
    events = [recording_events(f"{path}:{i}", units[i], times[i], SHD_CHANNELS) for i in range(n)]
    return events, lab, spk


def write_shd(path: str | os.PathLike, recordings: list[tuple[np.ndarray, int, int]]) -> Path:
    """Write an SHD-layout file (atomically): ``(audio_events, label, speaker)`` per recording,
    spike times in seconds (float32) and units (uint16) as variable-length arrays."""
    path = Path(path)
    with atomic_path(path) as tmp, h5py.File(tmp, "w") as f:
        n = len(recordings)
        t = f.create_dataset("spikes/times", (n,), dtype=h5py.vlen_dtype(np.float32))
        u = f.create_dataset("spikes/units", (n,), dtype=h5py.vlen_dtype(np.uint16))
        for i, (ev, _, _) in enumerate(recordings):
            t[i] = (ev["t"] / 1e6).astype(np.float32)
            u[i] = ev["x"].astype(np.uint16)
        f.create_dataset("labels", data=np.array([r[1] for r in recordings], np.uint16))
        f.create_dataset("extra/speaker", data=np.array([r[2] for r in recordings], np.uint16))
    return path
