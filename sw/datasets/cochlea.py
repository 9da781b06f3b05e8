"""A 64-channel silicon-cochlea model: audio waveforms -> N-TIDIGITS-like events.

Stages, each a vectorised NumPy/SciPy operation over a whole batch of
utterances (they are concatenated with silent gaps, so every channel is one
filter call for the whole batch):

1. resample to ``fs_hz`` (8 kHz: FSDD's rate; every source goes through the
   same band, so built-in and real recordings look alike -- channels above
   4 kHz would be silent on FSDD and active on 22 kHz synthetic speech);
2. trim leading/trailing silence (10 ms frames below ``trim_db`` of the
   loudest frame) and scale so the loudest frame has unit RMS;
3. 64 fourth-order gammatone band-pass filters with centre frequencies evenly
   spaced on the ERB-rate scale (Glasberg & Moore 1990) in ``[f_lo, f_hi]``;
4. half-wave rectification and a first-order low-pass (the hair cell);
5. log compression ``log1p(r / r0)`` and level-crossing spike generation with
   step ``delta``: an ON event for each level crossed upwards, an OFF event
   for each crossed downwards, like the Dynamic Audio Sensor's delta
   modulators.  Vectorised as the difference of ``floor(c / delta)``.
"""

from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache

import numpy as np

from rramlsm.sw._machine import usable_cpus
from rramlsm.sw.events import COCHLEA_CHANNELS, make_audio_events

__all__ = ["CochleaConfig", "Cochlea", "erb_space"]


def erb_space(f_lo: float, f_hi: float, n: int) -> np.ndarray:
    """``n`` frequencies (Hz) evenly spaced on the ERB-rate scale, low to high."""
    def rate(f):
        return 21.4 * np.log10(1 + 0.00437 * f)

    r = np.linspace(rate(f_lo), rate(f_hi), n)
    return (10 ** (r / 21.4) - 1) / 0.00437


@dataclass(frozen=True)
class CochleaConfig:
    """Parameters of the cochlea model (documented in ``docs/DATA.md``)."""

    channels: int = COCHLEA_CHANNELS
    """Number of band-pass channels."""
    fs_hz: int = 8000
    """Internal sample rate in Hz; every input is resampled to it."""
    f_lo_hz: float = 100.0
    """Centre frequency of the lowest channel (Hz)."""
    f_hi_hz: float = 3600.0
    """Centre frequency of the highest channel (Hz); below fs/2 with margin."""
    trim_db: float = -30.0
    """Frames quieter than this, relative to the loudest 10 ms frame, are trimmed at both ends."""
    envelope_hz: float = 50.0
    """Cut-off of the hair-cell low-pass after rectification (Hz)."""
    r0: float = 1e-2
    """Reference amplitude of the log compression ``log1p(r / r0)``."""
    delta: float = 0.75
    """Level-crossing step in log units."""

    def __post_init__(self):
        if self.channels <= 0:
            raise ValueError(f"CochleaConfig channels must be positive, not {self.channels}")
        if not 0 < self.f_lo_hz < self.f_hi_hz < self.fs_hz / 2:
            raise ValueError(
                f"CochleaConfig needs 0 < f_lo_hz < f_hi_hz < fs_hz/2, not "
                f"{self.f_lo_hz}, {self.f_hi_hz}, {self.fs_hz}"
            )
        # Written so that NaN fails too (it passed "<= 0" and broke the framing later).
        if not (0 < self.delta < math.inf and 0 < self.r0 < math.inf):
            raise ValueError(f"CochleaConfig delta and r0 must be positive and finite, not "
                             f"{self.delta}, {self.r0}")


@lru_cache(maxsize=16)
def _resampling_filter(up: int, down: int) -> np.ndarray:
    """The low-pass FIR :func:`scipy.signal.resample_poly` designs for ``up / down`` (its
    default Kaiser window), designed once per ratio instead of once per clip."""
    from scipy import signal  # here: 1 s of import that the command line need not pay

    max_rate = max(up, down)
    h = signal.firwin(2 * 10 * max_rate + 1, 1.0 / max_rate, window=("kaiser", 5.0))
    h.flags.writeable = False          # shared between calls; resample_poly copies it
    return h


class Cochlea:
    """Convert waveforms into cochlea events (``x`` channel, ``t`` us, ``p`` ON=1/OFF=0)."""

    def __init__(self, config: CochleaConfig = CochleaConfig()):
        from scipy import signal

        self.config = config
        self.centre_hz = erb_space(config.f_lo_hz, config.f_hi_hz, config.channels)
        self._bands = [signal.gammatone(f, "iir", fs=config.fs_hz) for f in self.centre_hz]
        self._env = signal.butter(1, config.envelope_hz, fs=config.fs_hz)

    def preprocess(self, wave: np.ndarray, fs: int) -> np.ndarray:
        """Resample, trim silence and normalise the loudest frame to unit RMS."""
        from scipy import signal

        c = self.config
        x = np.asarray(wave, dtype=np.float64)
        if x.ndim != 1:
            raise ValueError(f"waveform must be one-dimensional (mono), not shape {x.shape}")
        if fs != c.fs_hz:
            ratio = Fraction(c.fs_hz, fs).limit_denominator(1000)
            up, down = ratio.numerator, ratio.denominator
            if up != down:      # a rate within 1/2000 of fs_hz rounds to 1/1: kept as it is
                x = signal.resample_poly(x, up, down, window=_resampling_filter(up, down))
        frame = c.fs_hz // 100
        n = len(x) // frame
        if n == 0:
            return np.zeros(0)
        rms = np.sqrt((x[: n * frame].reshape(n, frame) ** 2).mean(axis=1))
        peak = rms.max()
        if peak <= 0:
            return np.zeros(0)
        loud = np.flatnonzero(rms >= peak * 10 ** (c.trim_db / 20))
        x = x[loud[0] * frame : (loud[-1] + 1) * frame]
        return x / peak

    def __call__(self, waves: list[np.ndarray], fs: int | list[int]) -> list[np.ndarray]:
        """Events for each waveform; ``fs`` is one rate or one per waveform."""
        from scipy import signal

        c = self.config
        rates = [fs] * len(waves) if np.isscalar(fs) else list(fs)
        clips = [self.preprocess(w, r) for w, r in zip(waves, rates, strict=True)]
        gap = c.fs_hz // 10  # 100 ms of silence lets every filter ring down
        lengths = np.array([len(x) for x in clips], dtype=np.int64)
        starts = np.zeros(len(clips), dtype=np.int64)
        starts[1:] = np.cumsum(lengths + gap)[:-1]
        total = int(starts[-1] + lengths[-1] + gap) if clips else 0
        signal_all = np.zeros(total)
        for s, x in zip(starts, clips, strict=True):
            signal_all[s : s + len(x)] = x
        inside = np.zeros(total, dtype=bool)
        for s, n in zip(starts, lengths, strict=True):
            inside[s : s + n] = True

        b_env, a_env = self._env

        def channel(ch: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
            b, a = self._bands[ch]
            band = signal.lfilter(b, a, signal_all)
            env = signal.lfilter(b_env, a_env, np.maximum(band, 0.0))
            level = np.floor(np.log1p(np.maximum(env, 0.0) / c.r0) / c.delta).astype(np.int64)
            step = np.diff(level, prepend=0)
            hit = np.flatnonzero((step != 0) & inside)
            k = np.abs(step[hit])
            # A sample that jumps several levels emits several events.
            return (np.repeat(hit, k), np.repeat(step[hit] > 0, k),
                    np.full(int(k.sum()), ch, dtype=np.int16))

        # The channels are independent and SciPy's filters and NumPy release the GIL: a
        # thread per core, at most 4 (each holds several signal-long temporaries, and a
        # whole folder of recordings can be one signal), the results in channel order.
        with ThreadPoolExecutor(min(len(self._bands), 4, usable_cpus())) as pool:
            per_channel = list(pool.map(channel, range(len(self._bands))))
        idx, pol, chan = (np.concatenate([r[i] for r in per_channel]) for i in range(3))
        utt = np.searchsorted(starts, idx, side="right") - 1
        t_us = (idx - starts[utt]) * 1_000_000 // c.fs_hz
        order = np.lexsort((chan, t_us, utt))
        utt, t_us, chan, pol = utt[order], t_us[order], chan[order], pol[order]
        bounds = np.searchsorted(utt, np.arange(len(clips) + 1))
        return [
            make_audio_events(chan[lo:hi], t_us[lo:hi], pol[lo:hi].astype(np.int8))
            for lo, hi in zip(bounds[:-1], bounds[1:], strict=True)
        ]
