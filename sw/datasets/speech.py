"""Spoken digits synthesised offline with eSpeak NG (the ``espeakng-loader`` wheel).

The library is driven through ``ctypes`` in synchronous mode: a synth
callback collects 16-bit samples.  No system package is needed.  Voices are
an English accent plus a voice variant (``en-us+m3``); rate and pitch vary per
utterance.  Train and test use disjoint voices.

eSpeak NG keeps hidden state across calls (pitch flutter phase), so an
utterance's samples depend on everything synthesised before it in the
process: :func:`synth_batch` synthesises fixed chunks in fresh worker
processes.  Its random generator (the breath noise of voices such as ``f2``,
``f3``, ``f5``) is not seeded by a fresh process, so every utterance seeds it
(``espeak_ng_SetRandSeed``) from its own fields: without that, about one
utterance in seven differed between two builds of the same dataset.
"""

from __future__ import annotations

import ctypes
import threading
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rramlsm.errors import RRAMLSMError

__all__ = ["SpeechSynth", "DIGIT_WORDS", "ACCENTS", "VARIANTS", "voice_grid", "synth_batch"]

DIGIT_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
ACCENTS = ("en", "en-us", "en-029", "en-gb-scotland", "en-gb-x-rp", "en-us-nyc",
           "en-gb-x-gbclan", "en-gb-x-gbcwmd")
VARIANTS = ("m1", "m2", "m3", "m4", "m5", "m6", "m7", "f1", "f2", "f3", "f4", "f5",
            "klatt", "klatt2", "klatt3", "croak", "edward", "Andy", "Gene", "Mike")

_AUDIO_OUTPUT_SYNCHRONOUS = 2
_RATE, _PITCH = 1, 3
_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int,
                             ctypes.c_void_p)


def voice_grid() -> list[str]:
    """Every accent x variant voice name, in a fixed order."""
    return [f"{a}+{v}" for a in ACCENTS for v in VARIANTS]


@dataclass(frozen=True)
class Utterance:
    text: str
    voice: str
    rate_wpm: int
    pitch: int

    @property
    def seed(self) -> int:
        """The seed of eSpeak NG's random generator for this utterance (from its fields)."""
        return zlib.crc32(f"{self.text}|{self.voice}|{self.rate_wpm}|{self.pitch}".encode())


class SpeechSynth:
    """A process-wide eSpeak NG instance (the C library is a singleton: one lock guards it)."""

    _lock = threading.Lock()
    _lib = None
    _rate_hz = 0
    _chunks: list[np.ndarray] = []

    def __init__(self):
        with self._lock:
            if SpeechSynth._lib is None:
                SpeechSynth._open()

    @classmethod
    def _open(cls):
        try:
            import espeakng_loader
        except ImportError as e:  # pragma: no cover - a declared dependency
            raise RRAMLSMError("espeakng-loader is not installed; run `make setup`") from e
        lib = ctypes.CDLL(espeakng_loader.get_library_path())
        data_parent = str(Path(espeakng_loader.get_data_path()).parent).encode()
        lib.espeak_Initialize.restype = ctypes.c_int
        rate = lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 0, data_parent, 0)
        if rate <= 0:
            raise RRAMLSMError(f"espeak_Initialize failed ({rate})")

        def collect(wav, n, _events):
            if n > 0:
                cls._chunks.append(np.ctypeslib.as_array(wav, shape=(n,)).copy())
            return 0

        cls._callback = _CALLBACK(collect)  # keep a reference: C holds only the pointer
        lib.espeak_SetSynthCallback(cls._callback)
        lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        lib.espeak_ng_SetRandSeed.argtypes = [ctypes.c_long]
        cls._lib, cls._rate_hz = lib, rate

    @property
    def sample_rate(self) -> int:
        return self._rate_hz

    def synth(self, u: Utterance) -> np.ndarray:
        """Synthesise one utterance; returns float samples in [-1, 1) at ``sample_rate``."""
        lib = self._lib
        with self._lock:
            if lib.espeak_SetVoiceByName(u.voice.encode()) != 0:
                raise RRAMLSMError(f"eSpeak NG has no voice {u.voice!r}")
            lib.espeak_SetParameter(_RATE, int(u.rate_wpm), 0)
            lib.espeak_SetParameter(_PITCH, int(u.pitch), 0)
            lib.espeak_ng_SetRandSeed(u.seed)
            SpeechSynth._chunks = []
            text = u.text.encode() + b"\0"
            err = lib.espeak_Synth(text, len(text), 0, 1, 0, 0, None, None)
            lib.espeak_Synchronize()
            chunks, SpeechSynth._chunks = SpeechSynth._chunks, []
        if err != 0:
            raise RRAMLSMError(f"espeak_Synth failed ({err}) for {u}")
        if not chunks:
            return np.zeros(0)
        return np.concatenate(chunks).astype(np.float64) / 32768.0


def _synth_chunk(utts: list[Utterance]) -> tuple[int, list[np.ndarray]]:
    synth = SpeechSynth()
    return synth.sample_rate, [synth.synth(u) for u in utts]


def synth_batch(utts: list[Utterance], *, chunk: int = 400, workers: int = 2,
                progress=None) -> tuple[int, list[np.ndarray]]:
    """Synthesise ``utts`` reproducibly: each fixed chunk runs in a fresh process.

    Returns the sample rate and one waveform per utterance, in order.
    """
    import multiprocessing as mp

    chunks = [utts[i : i + chunk] for i in range(0, len(utts), chunk)]
    ctx = mp.get_context("spawn")
    waves: list[np.ndarray] = []
    rate = 0
    with ctx.Pool(workers, maxtasksperchild=1) as pool:
        for chunk_rate, part in pool.imap(_synth_chunk, chunks):
            rate = chunk_rate
            waves += part
            if progress is not None:
                progress(len(part))
    return rate, waves
