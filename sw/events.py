"""Event arrays (tonic's convention) and framing into the LSM's binary input.

Events are NumPy structured arrays with named fields, as in the ``tonic``
library: vision events have ``x, y, t, p``; audio (cochlea) events have ``x``
(the channel), ``t`` and ``p``.  ``t`` is in microseconds as int64.  Fields are
always indexed by name, never by position.

Framing turns a batch of recordings into the binary tensor ``[N, T, inputs]``
the reservoir reads.  It is vectorised over events *and* samples: the batch is
concatenated once, every event gets a flat cell index, and one ``bincount``
fills the whole tensor.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from rramlsm.errors import EventDataError

__all__ = [
    "VISION_DTYPE",
    "AUDIO_DTYPE",
    "NMNIST_SENSOR",
    "COCHLEA_CHANNELS",
    "make_vision_events",
    "make_audio_events",
    "validate_events",
    "VisionFraming",
    "AudioFraming",
    "frame_vision",
    "frame_audio",
    "concat_events",
]

VISION_DTYPE = np.dtype([("x", np.int16), ("y", np.int16), ("t", np.int64), ("p", np.int8)])
AUDIO_DTYPE = np.dtype([("x", np.int16), ("t", np.int64), ("p", np.int8)])

#: N-MNIST's ATIS crop: 34 x 34 pixels.
NMNIST_SENSOR = (34, 34)
#: Channels of the (simulated and real) silicon cochlea.
COCHLEA_CHANNELS = 64


def make_vision_events(x, y, t, p) -> np.ndarray:
    """Build a vision event array from field arrays (sorted by ``t`` is not enforced here)."""
    ev = np.empty(len(t), dtype=VISION_DTYPE)
    ev["x"], ev["y"], ev["t"], ev["p"] = x, y, t, p
    return ev


def make_audio_events(x, t, p) -> np.ndarray:
    """Build an audio event array from field arrays."""
    ev = np.empty(len(t), dtype=AUDIO_DTYPE)
    ev["x"], ev["t"], ev["p"] = x, t, p
    return ev


def validate_events(
    events: np.ndarray,
    *,
    where: str,
    sensor: tuple[int, ...],
    allow_empty: bool = False,
) -> np.ndarray:
    """Check an event array and return it unchanged.

    Parameters
    ----------
    events:
        Structured array with fields ``x, t, p`` (and ``y`` for vision).
    where:
        What to name in an error (a file path, or ``"sample 12 of digits"``).
    sensor:
        ``(width, height)`` for vision, ``(channels,)`` for audio.
    allow_empty:
        Whether a recording without events is acceptable.

    Raises
    ------
    EventDataError
        Empty recording, coordinates outside the sensor, negative or
        decreasing timestamps, polarity other than 0/1.
    """
    names = events.dtype.names or ()
    needed = ("x", "y", "t", "p") if len(sensor) == 2 else ("x", "t", "p")
    missing = [n for n in needed if n not in names]
    if missing:
        raise EventDataError(f"{where}: event array lacks field(s) {missing}, has {list(names)}")
    if len(events) == 0:
        if allow_empty:
            return events
        raise EventDataError(f"{where}: recording holds no events")
    for axis, size in zip(("x", "y"), sensor, strict=False):
        v = events[axis]
        lo, hi = int(v.min()), int(v.max())
        if lo < 0 or hi >= size:
            bad = int(np.flatnonzero((v < 0) | (v >= size))[0])
            raise EventDataError(
                f"{where}: event {bad} has {axis}={int(v[bad])} outside the sensor "
                f"(0..{size - 1})"
            )
    t = events["t"]
    if int(t[0]) < 0:
        raise EventDataError(f"{where}: negative timestamp {int(t[0])} us")
    if len(t) > 1:
        dt = np.diff(t)
        if (dt < 0).any():
            bad = int(np.flatnonzero(dt < 0)[0]) + 1
            raise EventDataError(
                f"{where}: timestamps go backwards at event {bad} "
                f"({int(t[bad - 1])} us -> {int(t[bad])} us)"
            )
    p = events["p"]
    if ((p != 0) & (p != 1)).any():
        raise EventDataError(f"{where}: polarity must be 0 or 1, found {sorted(set(p.tolist()))}")
    return events


def concat_events(samples: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Concatenate recordings; return ``(events, offsets)`` with ``offsets[i]:offsets[i+1]``."""
    lengths = np.fromiter((len(s) for s in samples), dtype=np.int64, count=len(samples))
    offsets = np.zeros(len(samples) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    if len(samples) == 0:
        return np.empty(0, dtype=VISION_DTYPE), offsets
    return np.concatenate(samples), offsets


def _concat_fields(samples: Sequence[np.ndarray], names: str):
    """Concatenate recordings field by field into contiguous plain arrays.

    Much faster than concatenating structured arrays and then reading strided
    fields out of them.
    """
    lengths = np.fromiter((len(s) for s in samples), dtype=np.int64, count=len(samples))
    offsets = np.zeros(len(samples) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    return [np.concatenate([s[k] for s in samples]) for k in names], offsets


def _sample_ids(offsets: np.ndarray) -> np.ndarray:
    return np.repeat(np.arange(len(offsets) - 1), np.diff(offsets))


def _segment_min_max(t: np.ndarray, offsets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    n = len(offsets) - 1
    lo = np.zeros(n, dtype=np.int64)
    hi = np.zeros(n, dtype=np.int64)
    nonempty = offsets[1:] > offsets[:-1]
    if nonempty.any():
        starts = offsets[:-1][nonempty]
        ends = offsets[1:][nonempty] - 1
        # Events are validated to be sorted in time, so a segment's first and
        # last events are its extremes.
        lo[nonempty] = t[starts]
        hi[nonempty] = t[ends]
    return lo, hi


@dataclass(frozen=True)
class VisionFraming:
    """How vision events become the reservoir's binary input.

    The paper crops the centre 16 x 16 of the 34 x 34 field; pooling the
    central 32 x 32 field 2 x 2 keeps the outer strokes of real N-MNIST digits
    and measured 8-9 points better, so it is the default.
    """

    steps: int = 50
    """Time bins T (the recording's span is split into T equal bins)."""
    reduce: Literal["pool", "crop"] = "pool"
    """``"pool"``: 2 x 2 OR-pooling of the central 32 x 32; ``"crop"``: centre 16 x 16."""
    polarity: Literal["on", "off", "any", "both"] = "on"
    """Which polarity feeds the rows: one (256 inputs), either merged onto the same row
    (``"any"``, 256 inputs) or both split onto their own rows (``"both"``, 512 inputs)."""
    sensor: tuple[int, int] = NMNIST_SENSOR
    """Sensor width, height in pixels."""
    side: int = 16
    """Side of the reduced square image."""

    def __post_init__(self):
        if not isinstance(self.steps, int) or self.steps <= 0:
            raise ValueError(f"VisionFraming steps must be a positive integer, not {self.steps!r}")
        if self.reduce not in ("pool", "crop"):
            raise ValueError(f"VisionFraming reduce must be 'pool' or 'crop', not {self.reduce!r}")
        if self.polarity not in ("on", "off", "any", "both"):
            raise ValueError(
                f"VisionFraming polarity must be 'on', 'off', 'any' or 'both', not "
                f"{self.polarity!r}"
            )
        if self.reduce == "pool" and 2 * self.side > min(self.sensor):
            raise ValueError(
                f"VisionFraming side {self.side} pooled 2x2 needs a sensor of at least "
                f"{2 * self.side} pixels, not {self.sensor}"
            )

    @property
    def inputs(self) -> int:
        return self.side * self.side * (2 if self.polarity == "both" else 1)


@dataclass(frozen=True)
class AudioFraming:
    """How cochlea events become the reservoir's binary input (as in Lin et al., Nature
    Computational Science 5, 37-47 (2025), from the authors' run scripts).

    Events are rastered at ``raster_us`` (1 ms), the raster is split into T
    equal chunks (the last one zero-padded), each chunk is summed and
    binarised.  Both polarities map onto the same channel row.
    """

    steps: int = 129
    """Time bins T."""
    channels: int = COCHLEA_CHANNELS
    """Cochlea channels (reservoir inputs)."""
    raster_us: int = 1000
    """Raster period in microseconds."""
    sensor: int = field(default=0, repr=False)
    """Channels of the recordings when more than ``channels`` (SHD's 700): channel ``c`` is
    pooled onto input ``c * channels // sensor``; 0: the recordings have ``channels``.
    (Not in the repr: the feature cache key already holds the sensor and the input count.)"""

    def __post_init__(self):
        if not isinstance(self.steps, int) or self.steps <= 0:
            raise ValueError(f"AudioFraming steps must be a positive integer, not {self.steps!r}")
        if not isinstance(self.sensor, int) or self.sensor < 0:
            raise ValueError(f"AudioFraming sensor must be an integer >= 0, not {self.sensor!r}")
        if not isinstance(self.channels, int) or self.channels <= 0:
            raise ValueError(
                f"AudioFraming channels must be a positive integer, not {self.channels!r}"
            )
        if not isinstance(self.raster_us, int) or self.raster_us <= 0:
            raise ValueError(
                f"AudioFraming raster_us must be a positive integer, not {self.raster_us!r}"
            )

    @property
    def inputs(self) -> int:
        return self.channels


def frame_vision(samples: Sequence[np.ndarray], framing: VisionFraming = VisionFraming()):
    """Frame vision recordings into a binary ``uint8`` tensor ``[N, T, inputs]``.

    Each recording's span ``[t_first, t_last]`` is split into ``T`` equal bins
    (tonic's ``ToFrame(n_time_bins=T)`` convention); a cell is 1 when at least
    one event of the selected polarity falls into it.  Input index is
    ``(polarity_slot * side + row) * side + col``.
    """
    n, T, side = len(samples), framing.steps, framing.side
    if n == 0 or sum(len(s) for s in samples) == 0:
        return np.zeros((n, T, framing.inputs), dtype=np.uint8)
    (x, y, t, p), offsets = _concat_fields(samples, "xytp")
    sid = _sample_ids(offsets)
    t0, t1 = _segment_min_max(t, offsets)
    span = (t1 - t0 + 1)[sid]
    # floor((t - t0) * T / span) lies in [0, T-1] because t - t0 < span.
    tbin = ((t - t0[sid]) * T) // span
    # int32 from here on: cell indices are small and narrow temporaries are fast.
    x = x.astype(np.int32)
    y = y.astype(np.int32)
    if framing.reduce == "crop":
        col = x - (framing.sensor[0] - side) // 2
        row = y - (framing.sensor[1] - side) // 2
    else:
        # Floor division keeps the 1-pixel border outside: (-1) // 2 == -1.
        col = (x - (framing.sensor[0] - 2 * side) // 2) // 2
        row = (y - (framing.sensor[1] - 2 * side) // 2) // 2
    keep = (col >= 0) & (col < side) & (row >= 0) & (row < side)
    if framing.polarity == "on":
        keep &= p == 1
        cell = row * side + col
    elif framing.polarity == "off":
        keep &= p == 0
        cell = row * side + col
    elif framing.polarity == "any":
        cell = row * side + col
    else:
        cell = ((1 - p.astype(np.int32)) * side + row) * side + col  # ON first, then OFF
    flat = (sid * T + tbin) * framing.inputs + cell
    out = np.zeros(n * T * framing.inputs, dtype=np.uint8)
    out[flat[keep]] = 1
    return out.reshape(n, T, framing.inputs)


def frame_audio(samples: Sequence[np.ndarray], framing: AudioFraming = AudioFraming()):
    """Frame cochlea recordings into a binary ``uint8`` tensor ``[N, T, channels]``.

    The 1 ms raster of a recording of ``R`` raster bins (counted from t = 0)
    is split into T chunks of ``ceil(R / T)`` bins; chunks past the end are
    zero padding.  Recordings of more channels (``framing.sensor``) are pooled.
    """
    n, T, C = len(samples), framing.steps, framing.channels
    if n == 0 or sum(len(s) for s in samples) == 0:
        return np.zeros((n, T, C), dtype=np.uint8)
    (x, t), offsets = _concat_fields(samples, "xt")
    if framing.sensor and framing.sensor != C:
        x = x.astype(np.int64) * C // framing.sensor
    sid = _sample_ids(offsets)
    _, t1 = _segment_min_max(t, offsets)
    raster_len = t1 // framing.raster_us + 1
    chunk = -(-raster_len // T)  # ceil
    tbin = (t // framing.raster_us) // chunk[sid]
    flat = (sid * T + tbin) * C + x
    out = np.zeros(n * T * C, dtype=np.uint8)
    out[flat] = 1
    return out.reshape(n, T, C)
