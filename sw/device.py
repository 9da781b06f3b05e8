"""RRAM device model and crossbar sampling.

A weight is a differential pair of devices, ``W = G+ - G-``.  After
electroforming (or a first, imprecise programming pulse) each device settles
at a random conductance; that randomness *is* the reservoir.  The macro only
ever sees the quantised conductance levels -- integer **codes** -- so
sampling a crossbar yields codes, and those codes are exported to the
hardware unchanged.

Settings are typed dataclasses, one field per physical quantity, each with its
unit; presets are subclasses that override defaults and cite their source.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np

from rramlsm.sw._checks import check_int, check_real

__all__ = [
    "DeviceConfig",
    "ADCConfig",
    "RandomProjectionDevice",
    "EchoStateGraphDevice",
    "FittedInputArrayDevice",
    "FittedRecurrentArrayDevice",
    "ReadNoiseDevice",
    "CrossbarArrays",
    "sample_crossbar",
    "conductance_codes",
]


@dataclass(frozen=True)
class DeviceConfig:
    """Statistics of one RRAM device as the macro uses it (defaults: a generic 40 nm cell)."""

    g_min_us: float = 0.0
    """Low end of the programmable conductance window (uS)."""
    g_max_us: float = 100.0
    """High end of the conductance window (uS)."""
    levels: int = 256
    """Distinguishable conductance levels in the window; codes are 0..levels-1."""
    g_mean_us: float = 34.06
    """Mean conductance a device takes after electroforming (uS)."""
    g_std_us: float = 5.32
    """Device-to-device spread of that conductance (uS, standard deviation)."""
    distribution: Literal["gaussian", "lognormal"] = "gaussian"
    """Shape of the device-to-device distribution (lognormal matched in mean and spread)."""
    read_noise: float = 0.0
    """Relative read noise per read (standard deviation as a fraction of G)."""
    stuck_on: float = 0.0
    """Fraction of devices stuck at ``g_max_us`` (stuck-at-on, SA1)."""
    stuck_off: float = 0.0
    """Fraction of devices stuck at ``g_min_us`` (stuck-at-off, SA0)."""
    drift_nu: float = 0.0
    """Power-law drift exponent: ``G(t) = G(t0) * (t / t0) ** -nu``."""
    drift_t0_s: float = 1.0
    """Reference time of the drift law (s after programming)."""
    drift_time_s: float = 1.0
    """Time after programming at which the array is read (s)."""

    def __post_init__(self):
        name = type(self).__name__
        # Fields without bounds of their own; the bounded ones are checked below.
        for f in ("g_min_us", "g_max_us", "g_mean_us", "drift_nu"):
            check_real(name, f, getattr(self, f))
        check_int(name, "levels", self.levels, lo=2)
        if not self.g_max_us > self.g_min_us >= 0:
            raise ValueError(f"{name} needs 0 <= g_min_us < g_max_us, not "
                             f"{self.g_min_us}, {self.g_max_us}")
        check_real(name, "g_std_us", self.g_std_us, lo=0)
        check_real(name, "read_noise", self.read_noise, lo=0)
        check_real(name, "stuck_on", self.stuck_on, lo=0, hi=1)
        check_real(name, "stuck_off", self.stuck_off, lo=0, hi=1)
        if self.stuck_on + self.stuck_off > 1:
            raise ValueError(f"{name} stuck_on + stuck_off must be <= 1, not "
                             f"{self.stuck_on + self.stuck_off}")
        check_real(name, "drift_t0_s", self.drift_t0_s, lo=0, lo_open=True)
        check_real(name, "drift_time_s", self.drift_time_s, lo=0, lo_open=True)
        if self.distribution not in ("gaussian", "lognormal"):
            raise ValueError(f"{name} distribution must be 'gaussian' or 'lognormal', not "
                             f"{self.distribution!r}")

    @property
    def g_lsb_us(self) -> float:
        """Conductance step between adjacent codes (uS)."""
        return (self.g_max_us - self.g_min_us) / (self.levels - 1)

    @property
    def code_bits(self) -> int:
        return int(math.ceil(math.log2(self.levels)))


@dataclass(frozen=True)
class RandomProjectionDevice(DeviceConfig):
    """Pairs of devices at N(34.06, 5.32) uS: the statistics the group of Lin et al., Nature
    Computational Science 5, 37-47 (2025) uses for random RRAM weights in its
    random-projection work."""


@dataclass(frozen=True)
class EchoStateGraphDevice(DeviceConfig):
    """Devices at N(14.25, 2.46) uS: the random resistive memory of S. Wang et al., "Echo state
    graph neural networks with analogue random resistive memory arrays", Nature Machine
    Intelligence 5, 104-113 (2023) (its conductance distribution, Fig. 1e)."""

    g_mean_us: float = 14.25
    g_std_us: float = 2.46
    g_max_us: float = 40.0


@dataclass(frozen=True)
class ReadNoiseDevice(DeviceConfig):
    """Weights ~ N(0, 6.35) with 2 % multiplicative read noise: random-weight statistics of the
    same group (Lin et al. 2025's authors).

    A differential pair of devices each N(mu, s) gives W ~ N(0, s * sqrt(2));
    s = 6.35 / sqrt(2) = 4.49 uS reproduces the weight spread.
    """

    g_std_us: float = 4.49
    read_noise: float = 0.02


@dataclass(frozen=True)
class FittedInputArrayDevice(DeviceConfig):
    """Input-array weights fitted in the first author's later LSM code: mean 0.00156, std 6.61.

    Per device s = 6.61 / sqrt(2) = 4.67 uS (the mean offset is negligible).
    """

    g_std_us: float = 4.67


@dataclass(frozen=True)
class FittedRecurrentArrayDevice(DeviceConfig):
    """Recurrent-array weights fitted in the same code: mean 0.00606, std 6.67 (s = 4.72 uS)."""

    g_std_us: float = 4.72


@dataclass(frozen=True)
class ADCConfig:
    """The column ADC: ``code = clip(S >> shift, -2**(bits-1), 2**(bits-1) - 1)``.

    ``S`` is the integer column sum of weight codes; ``>>`` is an arithmetic
    shift (rounds toward minus infinity).  Full scale is ``2**(bits-1+shift)``
    code units.
    """

    bits: int = 10
    """Resolution in bits (signed output)."""
    shift: int = 0
    """Right shift applied to the column sum before clipping (sets the range)."""

    def __post_init__(self):
        check_int("ADCConfig", "bits", self.bits, lo=1)
        check_int("ADCConfig", "shift", self.shift, lo=0)
        if self.bits > 24:
            raise ValueError(f"ADCConfig bits must be <= 24, not {self.bits}")

    @property
    def lo(self) -> int:
        return -(1 << (self.bits - 1))

    @property
    def hi(self) -> int:
        return (1 << (self.bits - 1)) - 1


@dataclass
class CrossbarArrays:
    """The device codes of one sampled differential crossbar: unsigned codes for G+ and G-
    (the arrays; the RTL's crossbar block is :class:`rramlsm.hw.crossbar.Crossbar`).

    ``pos[i, j]`` / ``neg[i, j]`` are the codes of the pair at row ``i``
    (input or presynaptic neuron) and column ``j`` (neuron).  The signed weight
    code is ``pos - neg``.
    """

    pos: np.ndarray
    neg: np.ndarray
    device: DeviceConfig
    seed: int

    @property
    def weight_codes(self) -> np.ndarray:
        """Signed integer weights ``pos - neg`` (int32)."""
        return self.pos.astype(np.int32) - self.neg.astype(np.int32)

    @property
    def weights_us(self) -> np.ndarray:
        """Differential conductance ``G+ - G-`` in uS, as the codes represent it."""
        return self.weight_codes * self.device.g_lsb_us


def _sample_devices(rng: np.random.Generator, shape, dev: DeviceConfig) -> np.ndarray:
    if dev.distribution == "gaussian":
        g = rng.normal(dev.g_mean_us, dev.g_std_us, size=shape)
    else:
        var = dev.g_std_us**2
        sigma2 = math.log1p(var / dev.g_mean_us**2)
        g = rng.lognormal(math.log(dev.g_mean_us) - sigma2 / 2, math.sqrt(sigma2), size=shape)
    return conductance_codes(g, dev, rng)


def conductance_codes(g: np.ndarray, dev: DeviceConfig, rng: np.random.Generator) -> np.ndarray:
    """Device codes of conductances ``g`` (uS) as programmed, read at ``dev.drift_time_s``.

    Drift, then the window, then the ``levels`` grid, then the stuck-at faults
    (drawn from ``rng``): what the array holds however ``g`` was chosen, whether
    by electroforming (the LSM) or as the target of a write (trained weights).
    """
    if dev.drift_nu:
        g = g * (dev.drift_time_s / dev.drift_t0_s) ** (-dev.drift_nu)
    # A device cannot leave its physical window: conductances clamp at the
    # window edges (programming saturates), they do not wrap.
    g = np.clip(g, dev.g_min_us, dev.g_max_us)
    codes = np.rint((g - dev.g_min_us) / dev.g_lsb_us).astype(np.int32)
    u = rng.random(size=g.shape)
    codes[u < dev.stuck_on] = dev.levels - 1
    codes[(u >= dev.stuck_on) & (u < dev.stuck_on + dev.stuck_off)] = 0
    dtype = np.uint8 if dev.levels <= 256 else np.uint16
    return codes.astype(dtype)


def sample_crossbar(rows: int, cols: int, device: DeviceConfig = DeviceConfig(), *,
                    seed: int) -> CrossbarArrays:
    """Sample a ``rows x cols`` differential crossbar (seeded) as integer codes."""
    check_int("CrossbarArrays", "rows", rows, lo=1)
    check_int("CrossbarArrays", "cols", cols, lo=1)
    if not isinstance(device, DeviceConfig):
        raise TypeError(f"CrossbarArrays device must be a DeviceConfig, not "
                        f"{type(device).__name__}")
    rng = np.random.default_rng(seed)
    pos = _sample_devices(rng, (rows, cols), device)
    neg = _sample_devices(rng, (rows, cols), device)
    return CrossbarArrays(pos, neg, device, seed)
