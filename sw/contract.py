"""The arithmetic contract of the macro: one definition for golden model, RTL and testbench.

Everything here is integer and is imported, not copied, by
:mod:`rramlsm.sw.golden`, the Amaranth RTL (``hw/``) and the cocotb
testbenches (``cosim/``).  ``docs/ARCHITECTURE.md`` explains each item.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "DECAY_FRAC_BITS",
    "MEMBRANE_FRAC_BITS",
    "MEMBRANE_BITS",
    "MEMBRANE_MIN",
    "MEMBRANE_MAX",
    "COUNTER_BITS",
    "COLUMN_SUM_BITS",
    "NOISE_SEED_BITS",
    "quantize_decay",
    "hash32",
    "read_noise",
]

#: Decay factor lambda is an unsigned Q0.10 number: ``lam_q = round(lambda * 1024)``.
DECAY_FRAC_BITS = 10
#: The membrane holds ADC codes with 6 fractional bits (Q17.6 in 24 bits, signed).
MEMBRANE_FRAC_BITS = 6
MEMBRANE_BITS = 24
MEMBRANE_MIN = -(1 << (MEMBRANE_BITS - 1))
MEMBRANE_MAX = (1 << (MEMBRANE_BITS - 1)) - 1
#: Spike counters saturate at 2**COUNTER_BITS - 1 (T <= 255 never saturates them).
COUNTER_BITS = 8
#: Signed width of a column sum of weight codes: 1024 rows x 255 levels fits in 20 bits.
COLUMN_SUM_BITS = 20
#: Width of the read-noise seed register.
NOISE_SEED_BITS = 32


def quantize_decay(decay: float) -> int:
    """``round(decay * 2**DECAY_FRAC_BITS)`` -- the only rounding to nearest in the contract."""
    if not 0.0 <= decay < 1.0:
        raise ValueError(f"decay must be in [0, 1), not {decay}")
    return int(round(decay * (1 << DECAY_FRAC_BITS)))


def hash32(key):
    """A 32-bit integer hash (``lowbias32`` by C. Wellons): cheap in gates, good mixing.

    ``key`` is an unsigned 32-bit integer or an array of them (uint32 or int64);
    the result has the same shape, as int64 in ``[0, 2**32)``.
    """
    x = np.asarray(key, dtype=np.uint64) & 0xFFFFFFFF
    x ^= x >> np.uint64(16)
    x = (x * np.uint64(0x7FEB352D)) & np.uint64(0xFFFFFFFF)
    x ^= x >> np.uint64(15)
    x = (x * np.uint64(0x846CA68B)) & np.uint64(0xFFFFFFFF)
    x ^= x >> np.uint64(16)
    return x.astype(np.int64)


def read_noise(seed: int, sample: int, step, column, amplitude: int):
    """Integer read noise added to a column sum, replicable in RTL.

    ``key = (seed + ((sample * 4096 + step) << 12) + column) mod 2**32`` (steps and
    columns below 4096), ``h = hash32(key)``; the noise is
    ``((h & 0xFFFF) + (h >> 16) - 0xFFFF) * amplitude >> 16``: a triangular
    distribution on ``(-amplitude, amplitude)`` with standard deviation
    ``amplitude / sqrt(6)``.
    """
    step = np.asarray(step, dtype=np.int64)
    column = np.asarray(column, dtype=np.int64)
    key = (seed + (((sample * 4096 + step) << 12) + column)) & 0xFFFFFFFF
    h = hash32(key)
    tri = (h & 0xFFFF) + (h >> 16) - 0xFFFF
    return (tri * amplitude) >> 16
