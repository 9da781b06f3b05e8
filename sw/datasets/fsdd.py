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

__all__ = ["read_wav", "load_wav_folder", "FSDD_TEST_INDICES", "FSDD_NAME"]

FSDD_TEST_INDICES = range(0, 5)
#: An FSDD file name (stem): ``<digit>_<speaker>_<index>``.
FSDD_NAME = re.compile(r"^(?P<label>[^_]+)_(?P<speaker>[^_]+)_(?P<index>\d+)$")


#: Sample rates a speech recording can have (Hz); outside them the header is wrong.
WAV_RATES = (1_000, 1_000_000)


def read_wav(path: str | os.PathLike) -> tuple[np.ndarray, int]:
    """Read a mono WAV file as float samples (integer formats scaled to [-1, 1]) and its rate
    in Hz.  A file shorter than its header says is an error, not a shorter recording."""
    path = Path(path)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", wavfile.WavFileWarning)
            rate, data = wavfile.read(path)
    except OSError as e:
        raise EventDataError(f"{path}: not a readable WAV file ({e.strerror or e})") from e
    except Exception as e:
        # SciPy's parser meets a malformed header with whatever its arithmetic hits
        # (ValueError, ZeroDivisionError, UnboundLocalError, struct.error, ...).
        raise EventDataError(f"{path}: not a readable WAV file ({type(e).__name__}: "
                             f"{e})") from e
    for w in caught:
        # An unknown chunk (LIST, cue) is skipped harmlessly; anything else SciPy warns
        # about ("Reached EOF prematurely", an incomplete chunk) means missing samples.
        if "not understood" not in str(w.message):
            raise EventDataError(f"{path}: truncated or damaged WAV file ({w.message})")
    if data.ndim != 1:
        raise EventDataError(f"{path}: WAV has {data.shape[1]} channels; mono expected")
    if data.size == 0:
        raise EventDataError(f"{path}: WAV holds no samples")
    if not WAV_RATES[0] <= rate <= WAV_RATES[1]:
        raise EventDataError(f"{path}: sample rate {rate} Hz is outside "
                             f"{WAV_RATES[0]}..{WAV_RATES[1]} Hz")
    if data.dtype == np.uint8:
        x = (data.astype(np.float64) - 128) / 128
    elif np.issubdtype(data.dtype, np.integer):
        x = data.astype(np.float64) / float(np.iinfo(data.dtype).max + 1)
    elif np.issubdtype(data.dtype, np.floating):
        x = data.astype(np.float64)
        if not np.isfinite(x).all():
            raise EventDataError(f"{path}: WAV holds non-finite samples")
    else:
        raise EventDataError(f"{path}: WAV sample format {data.dtype} is not audio")
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
        m = FSDD_NAME.match(f.stem)
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
