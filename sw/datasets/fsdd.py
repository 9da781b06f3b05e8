"""Speech WAV folders in FSDD's layout, converted to cochlea events.

Files are named ``{digit}_{speaker}_{index}.wav`` (FSDD's ``recordings/``).
FSDD's usual split puts indices 0-4 in the test set and 5-49 in training.
Every file goes through the same :class:`~rramlsm.sw.datasets.cochlea.Cochlea`
as the built-in speech, so both look alike to the reservoir.
"""

from __future__ import annotations

import os
import re
import warnings
from pathlib import Path

import numpy as np
from scipy.io import wavfile

from rramlsm.errors import EventDataError
from rramlsm.sw.datasets.base import EventDataset
from rramlsm.sw.datasets.cochlea import Cochlea, CochleaConfig
from rramlsm.sw.events import COCHLEA_CHANNELS, validate_events

__all__ = ["read_wav", "load_wav_folder", "FSDD_TEST_INDICES"]

FSDD_TEST_INDICES = range(0, 5)
_NAME = re.compile(r"^(?P<label>[^_]+)_(?P<speaker>[^_]+)_(?P<index>\d+)$")


def read_wav(path: str | os.PathLike) -> tuple[np.ndarray, int]:
    """Read a mono WAV file as float samples in [-1, 1] and its rate in Hz."""
    path = Path(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", wavfile.WavFileWarning)
            rate, data = wavfile.read(path)
    except (ValueError, OSError, EOFError) as e:
        raise EventDataError(f"{path}: not a readable WAV file ({e})") from e
    if data.ndim != 1:
        raise EventDataError(f"{path}: WAV has {data.shape[1]} channels; mono expected")
    if data.size == 0:
        raise EventDataError(f"{path}: WAV holds no samples")
    if data.dtype == np.uint8:
        x = (data.astype(np.float64) - 128) / 128
    elif np.issubdtype(data.dtype, np.integer):
        x = data.astype(np.float64) / float(np.iinfo(data.dtype).max + 1)
    else:
        x = data.astype(np.float64)
    return x, int(rate)


def load_wav_folder(
    root: str | os.PathLike, *, cochlea: Cochlea | None = None, name: str | None = None
) -> EventDataset:
    """Load an FSDD-layout folder and convert every recording to cochlea events."""
    root = Path(root)
    if not root.is_dir():
        raise EventDataError(f"{root}: speech folder does not exist")
    files = sorted(root.glob("*.wav"))
    if not files:
        raise EventDataError(f"{root}: no .wav files")
    waves, rates, labels, is_train, groups = [], [], [], [], []
    for f in files:
        m = _NAME.match(f.stem)
        if not m:
            raise EventDataError(f"{f}: name is not {{digit}}_{{speaker}}_{{index}}.wav")
        if m["label"] not in {str(d) for d in range(10)}:
            raise EventDataError(f"{f}: unknown label {m['label']!r} (expected 0-9)")
        x, r = read_wav(f)
        waves.append(x)
        rates.append(r)
        labels.append(int(m["label"]))
        is_train.append(int(m["index"]) not in FSDD_TEST_INDICES)
        groups.append(m["speaker"])
    cochlea = cochlea or Cochlea(CochleaConfig())
    events = cochlea(waves, rates)
    for f, ev in zip(files, events, strict=True):
        validate_events(ev, where=f"{f} (after the cochlea: silent recording?)",
                        sensor=(COCHLEA_CHANNELS,))
    return EventDataset(
        name or f"fsdd:{root}", "audio", (COCHLEA_CHANNELS,), events, labels, is_train, groups
    )
