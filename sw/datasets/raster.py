"""Datasets that arrive already binned: neural recordings and rate-coded images.

The BMI task's inputs are not event streams but binary rasters -- one bit per
time bin and input channel -- so they skip the event framing of
:mod:`rramlsm.sw.events` and feed the reservoir as they are.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from rramlsm.errors import EventDataError

__all__ = ["RasterDataset"]


@dataclass
class RasterDataset:
    """A labelled set of binary rasters ``frames[i]``: ``[T bins, C channels]`` of 0/1.

    ``modality`` names the kind of input (``"neural"``, ``"letters"``), which is
    also the name of the LSM preset it feeds; ``class_names[label]`` is the
    class as a person reads it (a letter).
    """

    name: str
    modality: str
    frames: np.ndarray
    labels: np.ndarray
    is_train: np.ndarray
    class_names: tuple[str, ...] = ()
    groups: list[str] = field(default_factory=list)

    def __post_init__(self):
        self.frames = np.asarray(self.frames)
        self.labels = np.asarray(self.labels, dtype=np.int64)
        self.is_train = np.asarray(self.is_train, dtype=bool)
        if self.frames.ndim != 3:
            raise EventDataError(f"{self.name}: rasters must be [samples, bins, channels], "
                                 f"not shape {list(self.frames.shape)}")
        if self.frames.dtype != np.uint8 or (self.frames.size and self.frames.max() > 1):
            raise EventDataError(f"{self.name}: rasters must be uint8 0/1 "
                                 f"(dtype {self.frames.dtype})")
        n = len(self.frames)
        if len(self.labels) != n or len(self.is_train) != n:
            raise EventDataError(f"{self.name}: {n} rasters but {len(self.labels)} labels and "
                                 f"{len(self.is_train)} split flags")
        if not self.groups:
            self.groups = [""] * n

    def __len__(self) -> int:
        return len(self.frames)

    @property
    def bins(self) -> int:
        return int(self.frames.shape[1])

    @property
    def channels(self) -> int:
        return int(self.frames.shape[2])

    def subset(self, index) -> RasterDataset:
        idx = np.asarray(index)
        if idx.dtype == bool:
            idx = np.flatnonzero(idx)
        return RasterDataset(self.name, self.modality, self.frames[idx], self.labels[idx],
                             self.is_train[idx], self.class_names,
                             [self.groups[i] for i in idx])

    def info(self) -> dict:
        counts = np.bincount(self.labels, minlength=len(self.class_names) or 1)
        return {
            "source": self.name,
            "modality": self.modality,
            "samples": len(self),
            "train": int(self.is_train.sum()),
            "test": int((~self.is_train).sum()),
            "bins": self.bins,
            "channels": self.channels,
            "classes": {(self.class_names[c] if c < len(self.class_names) else str(c)): int(k)
                        for c, k in enumerate(counts) if k},
            "active_fraction": float(self.frames.mean()) if len(self) else 0.0,
        }
