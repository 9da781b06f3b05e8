"""The arithmetic contract of the macro: one definition for golden model, RTL and testbench.

Everything here is integer and is imported, not copied, by
:mod:`rramlsm.sw.golden`, the Amaranth RTL (``hw/``) and the cocotb
testbenches (``cosim/``).  ``docs/ARCHITECTURE.md`` explains each item.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "WindowedReadout",
    "DECAY_FRAC_BITS",
    "MEMBRANE_FRAC_BITS",
    "MEMBRANE_BITS",
    "MEMBRANE_MIN",
    "MEMBRANE_MAX",
    "COUNTER_BITS",
    "COLUMN_SUM_BITS",
    "TILE_ROWS",
    "MAX_TILES",
    "tiles",
    "column_sum_bits",
    "MAX_WINDOWS",
    "window_steps",
    "READOUTS",
    "TRACE_FRAC_BITS",
    "MAX_TRACE_SHIFT",
    "TRACE_BITS",
    "TRACE_SCALE",
    "check_readout",
    "trace_step",
    "trace_sample",
    "trace_readout",
    "NOISE_SEED_BITS",
    "NOISE_AMP_BITS",
    "quantize_decay",
    "hash32",
    "column_noise",
    "adc",
    "lif_step",
    "WEIGHT_BITS",
    "MAX_LEVELS",
    "weight_code_bits",
    "STEP_BITS",
    "NOISE_KEY_BITS",
    "LABEL_BITS",
    "HEAD_WEIGHT_BITS",
    "ACT_BITS",
    "ACT_MIN",
    "ACT_MAX",
    "ACC_BITS",
    "requantize",
    "gelu_lut",
    "apply_lut",
    "argmax_first",
]

#: Decay factor lambda is an unsigned Q0.10 number: ``lam_q = round(lambda * 1024)``.
DECAY_FRAC_BITS = 10
#: The membrane holds ADC codes with 6 fractional bits (Q17.6 in 24 bits, signed).
MEMBRANE_FRAC_BITS = 6
MEMBRANE_BITS = 24
MEMBRANE_MIN = -(1 << (MEMBRANE_BITS - 1))
MEMBRANE_MAX = (1 << (MEMBRANE_BITS - 1)) - 1
#: Spike counters saturate at 2**COUNTER_BITS - 1 (T <= 255 never saturates them; with
#: readout windows each window has its own counter, see :func:`window_steps`).
COUNTER_BITS = 8
#: Signed width of a column sum of weight codes: 1024 rows x 255 levels fits in 20 bits.
COLUMN_SUM_BITS = 20
#: Rows of one crossbar tile (the RTL core's array).  A larger reservoir (the BMI task's
#: 192 + 2048 rows) is tiled by rows: each tile gives exact partial column sums, which are
#: added exactly before the ADC, so tiling never changes the arithmetic -- only the sum
#: width grows, by ceil(log2(tiles)) bits.
TILE_ROWS = 1024
#: The golden model's limit: 16 tiles (sums stay below 2**24, exact in float32 too).
MAX_TILES = 16
#: Width of the read-noise seed register.
NOISE_SEED_BITS = 32
#: Width of the read-noise amplitude register (unsigned).
NOISE_AMP_BITS = 16


#: Most readout windows per sample: the RTL's counter bank holds one 8-bit counter per
#: neuron and window, and the heads read ``windows * neurons`` inputs.
MAX_WINDOWS = 8


def window_steps(steps: int, windows: int) -> int:
    """Steps per readout window: window ``w`` counts the spikes of steps
    ``[w * L, (w + 1) * L)`` with ``L = steps // windows``.

    The windows must divide the steps (every window is equally long, so the RTL
    switches counter banks with one step comparator) and be at most
    :data:`MAX_WINDOWS`.  ``windows = 1`` is the total spike count.
    """
    for name, v in (("steps", steps), ("windows", windows)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
            raise ValueError(f"readout {name} must be a positive integer, not {v!r}")
    if windows > MAX_WINDOWS:
        raise ValueError(f"readout windows must be at most {MAX_WINDOWS} (the RTL's counter "
                         f"bank), not {windows}")
    if steps % windows:
        divisors = [w for w in range(1, MAX_WINDOWS + 1) if steps % w == 0]
        raise ValueError(f"readout windows ({windows}) must divide the steps ({steps}); "
                         f"window counts that do: {', '.join(map(str, divisors))}")
    return int(steps // windows)


#: What a readout window holds per neuron: ``"count"``, its spikes in the window; ``"trace"``,
#: its exponential spike trace sampled at the window's last step (:func:`trace_readout`).
READOUTS = ("count", "trace")
#: The exponential trace: each neuron keeps an unsigned ``TRACE_BITS``-bit register ``x``
#: that every step decays by ``x >> k`` and gains ``1 << TRACE_FRAC_BITS`` on a spike
#: (:func:`trace_step`): a spike train filtered by ``(1 - 2**-k)**t``, time constant about
#: ``2**k`` steps.  ``x`` never exceeds ``2**(TRACE_FRAC_BITS + k)`` (the fixed point of an
#: always-firing neuron), so it never saturates; the fraction bits keep the floor of
#: ``x >> k`` from freezing a decaying trace (what is left is below ``2**-TRACE_FRAC_BITS``
#: of a spike).
TRACE_FRAC_BITS = 8
#: Largest trace shift k (time constant 128 steps); the smallest is 1.
MAX_TRACE_SHIFT = 7
TRACE_BITS = TRACE_FRAC_BITS + MAX_TRACE_SHIFT + 1
#: A trace sample is ``x >> (TRACE_FRAC_BITS + k - 7)``: 0..128 whatever k (:func:`trace_sample`),
#: so it fits the 8-bit counter word it replaces and the heads read it as they read counts,
#: scaled by 1 / TRACE_SCALE instead of 1 / L.
TRACE_SCALE = 1 << (COUNTER_BITS - 1)


def check_readout(readout: str, trace_shift: int) -> None:
    """A ``ValueError`` naming the limit when ``readout`` or ``trace_shift`` is not one the
    macro implements."""
    if readout not in READOUTS:
        raise ValueError(f"readout must be one of {', '.join(READOUTS)}, not {readout!r}")
    if (isinstance(trace_shift, bool) or not isinstance(trace_shift, (int, np.integer))
            or not 1 <= trace_shift <= MAX_TRACE_SHIFT):
        raise ValueError(f"trace shift must be an integer in [1, {MAX_TRACE_SHIFT}] (the "
                         f"{TRACE_BITS}-bit trace register), not {trace_shift!r}")


def trace_step(x, spikes, shift: int):
    """One step of the trace registers ``x`` (integer arrays): ``x - (x >> k) + (s << F)``."""
    return x - (x >> shift) + (spikes.astype(x.dtype) << TRACE_FRAC_BITS)


def trace_sample(x, shift: int):
    """The 0..128 readout value of trace registers ``x`` (what the counter word stores)."""
    return x >> (TRACE_FRAC_BITS + shift - (COUNTER_BITS - 1))


def trace_readout(trains: np.ndarray, windows: int, shift: int) -> np.ndarray:
    """Trace samples ``[N, windows * neurons]`` (int32, window-major) of spike trains
    ``[N, T, neurons]``: every trace starts at 0, and window ``w``'s value is the trace after
    the window's last step, ``(w + 1) * L - 1``.  The golden model's definition; the RTL keeps
    the registers beside the membranes and writes the sample at each window's end."""
    trains = np.asarray(trains)
    n, steps, neurons = trains.shape
    length = window_steps(steps, windows)
    x = np.zeros((n, neurons), np.int32)
    out = np.empty((n, windows, neurons), np.int32)
    for t in range(steps):
        x = trace_step(x, trains[:, t], shift)
        if (t + 1) % length == 0:
            out[:, t // length] = trace_sample(x, shift)
    return out.reshape(n, windows * neurons)


class WindowedReadout:
    """The readout shape of a reservoir with ``steps``, ``windows``, ``neurons`` and
    ``readout`` (with ``trace_shift``): one definition for the float model's configuration
    (:class:`rramlsm.sw.lsm.LSMConfig`) and the integer one
    (:class:`rramlsm.sw.golden.IntegerLSM`)."""

    @property
    def window_steps(self) -> int:
        """Steps per readout window (:func:`window_steps`)."""
        return window_steps(self.steps, self.windows)

    @property
    def features(self) -> int:
        """Readout features per sample: one value per window and neuron (window-major)."""
        return self.windows * self.neurons

    @property
    def feature_scale(self) -> int:
        """What divides a readout value into the heads' input: ``L`` (a count becomes a rate)
        or :data:`TRACE_SCALE`."""
        return TRACE_SCALE if self.readout == "trace" else self.window_steps


def tiles(rows: int) -> int:
    """Crossbar tiles a stacked array of ``rows`` rows needs."""
    return -(-rows // TILE_ROWS)


def column_sum_bits(rows: int) -> int:
    """Signed width of an exact column sum over ``rows`` rows (tile partial sums added)."""
    return COLUMN_SUM_BITS + (tiles(rows) - 1).bit_length()


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


def column_noise(seed: int, sample: int, step, column, amplitude: int):
    """The integer read noise added to a column sum, replicable in RTL (the devices' read
    noise, :attr:`rramlsm.sw.device.DeviceConfig.read_noise`, sets ``amplitude``).

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


def adc(column_sum, bits: int, shift: int):
    """Column ADC: ``clip(S >> shift, -2**(bits-1), 2**(bits-1) - 1)`` (arithmetic shift)."""
    s = np.asarray(column_sum, dtype=np.int64) >> shift
    return np.clip(s, -(1 << (bits - 1)), (1 << (bits - 1)) - 1)


def lif_step(v, spiked, code, decay_q: int, threshold_q: int):
    """One LIF update per neuron, the reference the golden model and the RTL both meet.

    ``r = 0 if spiked else v``; ``v' = sat24(((decay_q * r) >> 10) + (code << 6))``;
    ``s' = v' >= threshold_q``.  Returns ``(v', s')`` (int64, bool).
    """
    r = np.where(np.asarray(spiked, bool), 0, np.asarray(v, np.int64))
    v = ((decay_q * r) >> DECAY_FRAC_BITS) + (np.asarray(code, np.int64) << MEMBRANE_FRAC_BITS)
    v = np.clip(v, MEMBRANE_MIN, MEMBRANE_MAX)
    return v, v >= threshold_q


# -- Widths of the core's datapath and registers ------------------------------------------
#: A crossbar cell as the array reads it: the differential code ``G+ - G-`` of two 8-bit
#: conductance codes, in [-255, 255], signed 9-bit.  The widest cell the contract allows;
#: a device with fewer levels needs fewer bits (:func:`weight_code_bits`).
WEIGHT_BITS = 9
#: Conductance levels of the widest device the contract allows (8-bit codes 0..255).
MAX_LEVELS = 256


def weight_code_bits(levels: int) -> int:
    """Signed width of a cell's differential code ``G+ - G-`` for a device of ``levels``
    conductance levels (codes ``0..levels-1``, differences in ``-(levels-1)..levels-1``):
    16 levels -> 5 bits, 256 -> 9 (:data:`WEIGHT_BITS`).  The memory of a macro built for
    such a device stores this many bits per cell; its arithmetic does not change (the column
    sums stay :data:`COLUMN_SUM_BITS` wide)."""
    if isinstance(levels, bool) or not isinstance(levels, int) or not 2 <= levels <= MAX_LEVELS:
        raise ValueError(f"conductance levels must be an integer in 2..{MAX_LEVELS} (8-bit "
                         f"device codes), not {levels!r}")
    return (levels - 1).bit_length() + 1
#: Steps per sample (the ``steps`` register and the step counter): T <= 2**STEP_BITS - 1.
STEP_BITS = 8
#: Read-noise keys (:func:`column_noise`) are computed modulo 2**NOISE_KEY_BITS.
NOISE_KEY_BITS = 32
#: Class labels as the macro outputs them (the label memory's word).
LABEL_BITS = 8


# -- Heads and classifier (digital periphery) -------------------------------------------
#: Head weights are signed 8-bit integers with one power-of-two-free float scale per
#: layer (the scale lives in the export bundle, not in the datapath).
HEAD_WEIGHT_BITS = 8
#: Activations between layers, embeddings and prototypes are signed 8-bit.
ACT_BITS = 8
ACT_MIN = -(1 << (ACT_BITS - 1))
ACT_MAX = (1 << (ACT_BITS - 1)) - 1
#: MAC accumulators and classifier scores are signed 32-bit: 255 (count) x 128 x
#: 2048 rows stays below 2**26, so they never overflow for any supported size.
ACC_BITS = 32


def requantize(acc, shift: int):
    """Accumulator -> int8 pre-activation: round half up, then saturate.

    ``z = clip((acc + 2**(shift-1)) >> shift, -128, 127)`` for ``shift > 0``;
    ``z = clip(acc, -128, 127)`` for ``shift == 0``.  Arithmetic shift.
    """
    if not 0 <= shift < ACC_BITS:
        raise ValueError(f"requantize shift must be in [0, {ACC_BITS}), not {shift}")
    acc = np.asarray(acc, dtype=np.int64)
    if shift:
        acc = (acc + (1 << (shift - 1))) >> shift
    return np.clip(acc, ACT_MIN, ACT_MAX)


def gelu_lut(scale: float) -> np.ndarray:
    """The GELU as a 256-entry int8 table for pre-activations of step ``scale``.

    ``lut[z + 128] = clip(floor(gelu(z * scale) / scale + 1/2), -128, 127)`` with the
    exact (erf) GELU, for ``z`` in [-128, 127].  Input and output share the scale,
    which is why one table per layer suffices; the RTL stores it in a ROM loaded
    from the export bundle.
    """
    import math

    if not (scale > 0 and math.isfinite(scale)):
        raise ValueError(f"gelu_lut scale must be positive and finite, not {scale}")
    z = np.arange(ACT_MIN, ACT_MAX + 1, dtype=np.float64) * scale
    g = 0.5 * z * (1.0 + np.vectorize(math.erf)(z / math.sqrt(2.0)))
    return np.clip(np.floor(g / scale + 0.5), ACT_MIN, ACT_MAX).astype(np.int8)


def apply_lut(z, lut: np.ndarray):
    """``lut[z + 128]`` for int8 pre-activations ``z`` (any shape)."""
    return np.asarray(lut, dtype=np.int64)[np.asarray(z, dtype=np.int64) - ACT_MIN]


def argmax_first(scores, axis: int = -1):
    """Index of the largest score; ties go to the lowest index (as the RTL compares)."""
    return np.argmax(np.asarray(scores), axis=axis)
