"""Event datasets: real formats (N-MNIST, N-TIDIGITS18, FSDD WAVs) and built-in ones.

Sources are named one way everywhere: ``digits``, ``speech``,
``nmnist:PATH``, ``ntidigits:FILE``, ``fsdd:PATH`` (see :func:`load_source`).
"""

from rramlsm.sw.datasets.base import EventDataset
from rramlsm.sw.datasets.builtin import build_digits, build_speech, cache_dir
from rramlsm.sw.datasets.fsdd import load_wav_folder, read_wav
from rramlsm.sw.datasets.nmnist import load_nmnist_folder, read_nmnist_file, write_nmnist_file
from rramlsm.sw.datasets.ntidigits import load_ntidigits, write_ntidigits
from rramlsm.sw.datasets.sources import SOURCE_KINDS, load_source, parse_source

__all__ = [
    "EventDataset",
    "build_digits",
    "build_speech",
    "cache_dir",
    "load_wav_folder",
    "read_wav",
    "load_nmnist_folder",
    "read_nmnist_file",
    "write_nmnist_file",
    "load_ntidigits",
    "write_ntidigits",
    "SOURCE_KINDS",
    "load_source",
    "parse_source",
]
