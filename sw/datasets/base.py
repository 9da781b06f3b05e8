"""The in-memory dataset every source loads into, and its on-disk cache format."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np

from rramlsm.errors import EventDataError
from rramlsm.sw._io import atomic_path
from rramlsm.sw.events import AUDIO_DTYPE, VISION_DTYPE, concat_events

__all__ = ["EventDataset", "Modality"]

Modality = Literal["vision", "audio"]
_CACHE_VERSION = 1


@dataclass
class EventDataset:
    """A labelled set of event recordings with a train/test split.

    ``events[i]`` is a structured event array (tonic convention), ``labels[i]``
    its class (0-9 for digits), ``is_train[i]`` its split and ``groups[i]`` a
    grouping key (speaker, voice, writer) that splits never share when the
    source defines one.
    """

    name: str
    modality: Modality
    sensor: tuple[int, ...]
    events: list[np.ndarray]
    labels: np.ndarray
    is_train: np.ndarray
    groups: list[str] = field(default_factory=list)

    def __post_init__(self):
        self.labels = np.asarray(self.labels, dtype=np.int64)
        self.is_train = np.asarray(self.is_train, dtype=bool)
        n = len(self.events)
        if len(self.labels) != n or len(self.is_train) != n:
            raise EventDataError(
                f"{self.name}: {n} recordings but {len(self.labels)} labels and "
                f"{len(self.is_train)} split flags"
            )
        if not self.groups:
            self.groups = [""] * n

    def __len__(self) -> int:
        return len(self.events)

    def subset(self, index) -> EventDataset:
        idx = np.asarray(index)
        if idx.dtype == bool:
            idx = np.flatnonzero(idx)
        return EventDataset(
            self.name,
            self.modality,
            self.sensor,
            [self.events[i] for i in idx],
            self.labels[idx],
            self.is_train[idx],
            [self.groups[i] for i in idx],
        )

    @property
    def train(self) -> EventDataset:
        return self.subset(self.is_train)

    @property
    def test(self) -> EventDataset:
        return self.subset(~self.is_train)

    def info(self) -> dict:
        """Summary as printed by ``rramlsm data info --json``."""
        counts = np.bincount(self.labels, minlength=10) if len(self) else np.zeros(10, int)
        n_events = np.array([len(e) for e in self.events], dtype=np.int64)
        return {
            "source": self.name,
            "modality": self.modality,
            "samples": len(self),
            "train": int(self.is_train.sum()),
            "test": int((~self.is_train).sum()),
            "classes": {str(c): int(k) for c, k in enumerate(counts) if k},
            "events_per_sample_mean": float(n_events.mean()) if len(self) else 0.0,
            **self.framed_stats(),
        }

    def framed_stats(self, limit: int = 400) -> dict:
        """Statistics used to calibrate generators against real recordings.

        ``active_fraction``: mean fraction of framed input cells that are 1 (the
        default framing of the modality); ``on_fraction``: share of ON events.
        Computed on the first ``limit`` samples.
        """
        from rramlsm.sw.events import COCHLEA_CHANNELS, AudioFraming, frame_audio, frame_vision

        if not len(self):
            return {"active_fraction": 0.0, "on_fraction": 0.0}
        head = self.events[:limit]
        if self.modality == "vision":
            framed = frame_vision(head)
        else:  # more channels than the cochlea's (SHD) are pooled onto them
            sensor = self.sensor[0] if self.sensor[0] > COCHLEA_CHANNELS else 0
            framed = frame_audio(head, AudioFraming(sensor=sensor))
        n_on = sum(int(e["p"].sum()) for e in head)
        n_all = sum(len(e) for e in head)
        return {"active_fraction": float(framed.mean()), "on_fraction": n_on / max(n_all, 1)}

    # --- cache format: one uncompressed .npz of plain arrays plus a JSON header
    # (no pickle anywhere, so a cache file can never execute code).

    def save(self, path: Path) -> None:
        """Write atomically: a temporary file in the same folder, then rename."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        events, offsets = concat_events(self.events)
        header = {
            "version": _CACHE_VERSION,
            "name": self.name,
            "modality": self.modality,
            "sensor": list(self.sensor),
        }
        with atomic_path(path) as tmp, open(tmp, "wb") as f:
            np.savez(
                f,
                header=np.frombuffer(json.dumps(header).encode(), dtype=np.uint8),
                events=events,
                offsets=offsets,
                labels=self.labels,
                is_train=self.is_train,
                groups=np.array(self.groups, dtype=str),
            )

    @classmethod
    def load(cls, path: Path) -> EventDataset:
        path = Path(path)
        try:
            with np.load(path, allow_pickle=False) as z:
                header = json.loads(z["header"].tobytes().decode())
                events, offsets = z["events"], z["offsets"]
                labels, is_train, groups = z["labels"], z["is_train"], z["groups"]
        except (OSError, ValueError, KeyError) as e:
            raise EventDataError(f"{path}: not a readable rramlsm dataset cache ({e})") from e
        if header.get("version") != _CACHE_VERSION:
            raise EventDataError(f"{path}: cache version {header.get('version')} is not "
                                 f"{_CACHE_VERSION}")
        dtype = VISION_DTYPE if header["modality"] == "vision" else AUDIO_DTYPE
        events = events.astype(dtype, copy=False)
        samples = [events[offsets[i] : offsets[i + 1]] for i in range(len(offsets) - 1)]
        return cls(
            header["name"],
            header["modality"],
            tuple(header["sensor"]),
            samples,
            labels,
            is_train,
            [str(g) for g in groups],
        )
