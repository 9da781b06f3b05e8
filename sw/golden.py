"""The integer golden model: the macro's arithmetic, bit for bit.

Per time step t, for every sample and column j, in this order
(``docs/ARCHITECTURE.md`` states the contract in full):

1. **read**: the active rows are the inputs with ``x[t] = 1`` and the neurons
   that spiked at ``t - 1``; the column sum is the exact integer
   ``S_j = sum_active (pos_ij - neg_ij)`` over the stacked input + recurrent
   array;
2. **noise** (optional): ``S_j += column_noise(seed, sample, t, j, amplitude)``;
3. **ADC**: ``a_j = clip(S_j >> shift, -2**(bits-1), 2**(bits-1) - 1)``;
4. **LIF**: ``v_j = sat24(((lam_q * r_j) >> 10) + (a_j << 6))`` where ``r_j`` is
   the previous membrane, or 0 if neuron j spiked at ``t - 1`` (hard reset);
5. **fire**: ``s_j = v_j >= theta_q``; ``count_wj += s_j`` (saturating, 8 bits), where
   ``w = t // L`` is the readout window of the step (``W`` windows of ``L = T / W``
   steps; ``W = 1`` counts the whole sample).  The features are the ``W x neurons``
   counts, window-major.

Shifts are arithmetic (round toward minus infinity).  Column sums are exact
integer matrix products (:class:`~rramlsm.sw.kernels.SpikeMatmul`): int8
products, float32 GEMM or a sum of the active rows, whichever is fastest on the
machine; every one is exact because every partial sum is an integer below
2**24 (at most 16 tiles x 1,024 rows x 255), so the kernel never changes a bit
(:mod:`rramlsm.sw.kernels` gives the argument).  An array of more than
:data:`~rramlsm.sw.contract.TILE_ROWS` rows is tiled by rows; tile partial sums
add exactly, so the arithmetic is that of one tall array.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from rramlsm.sw import contract
from rramlsm.sw.device import ADCConfig
from rramlsm.sw.kernels import (
    GOLDEN_KERNELS,
    SpikeMatmul,
    check_golden_kernel,
    compute_device,
    event_lif_counts,
    fastest,
    kernel_setting,
    usable_golden,
    usable_reason,
)
from rramlsm.sw.lsm import Reservoir

__all__ = ["GOLDEN_KERNELS", "IntegerLSM", "quantize_reservoir", "golden_counts",
           "golden_features", "golden_kernel", "compare_float_integer", "usable_reason"]


@dataclass(frozen=True)
class IntegerLSM(contract.WindowedReadout):
    """Everything the hardware needs to run one reservoir, as integers."""

    pos: np.ndarray
    """Device codes G+ of the stacked array, ``[inputs + neurons, neurons]`` (uint8)."""
    neg: np.ndarray
    """Device codes G- of the stacked array (uint8)."""
    inputs: int
    neurons: int
    steps: int
    decay_q: int
    """Decay as Q0.10."""
    threshold_q: int
    """Threshold in membrane units (ADC codes with 6 fractional bits)."""
    adc_bits: int
    adc_shift: int
    noise_amplitude: int = 0
    """Read-noise amplitude in column-sum units (0: noise off)."""
    noise_seed: int = 0
    windows: int = 1
    """Readout windows W: the counts are kept per window of ``steps // W`` steps."""
    levels: int = contract.MAX_LEVELS
    """Conductance levels of the devices (codes ``0..levels-1``): the hardware stores
    :func:`~rramlsm.sw.contract.weight_code_bits` bits per cell; the arithmetic is the same
    for every level count."""
    readout: str = "count"
    """``"count"``: spikes per window; ``"trace"``: the exponential trace at each window's end
    (:func:`~rramlsm.sw.contract.trace_readout`)."""
    trace_shift: int = 4
    """The trace's decay shift k (``"trace"`` only)."""

    def __post_init__(self):
        rows = self.inputs + self.neurons
        contract.weight_code_bits(self.levels)      # 2..256, or a ValueError naming the range
        for name in ("pos", "neg"):
            a = getattr(self, name)
            if a.shape != (rows, self.neurons):
                raise ValueError(f"IntegerLSM {name} must have shape [{rows}, {self.neurons}], "
                                 f"not {list(a.shape)}")
            if a.dtype.kind not in "ui":
                raise TypeError(f"IntegerLSM {name} must hold integers, not {a.dtype}")
            if a.size and (int(a.min()) < 0 or int(a.max()) >= self.levels):
                raise ValueError(f"IntegerLSM {name} holds codes {int(a.min())}..{int(a.max())}, "
                                 f"outside the {self.levels}-level device's 0..{self.levels - 1}")
        if rows > contract.TILE_ROWS * contract.MAX_TILES:
            # Keeps column sums exact in float32 (below 2**24).
            raise ValueError(f"IntegerLSM supports at most {contract.MAX_TILES} tiles of "
                             f"{contract.TILE_ROWS} rows, not {rows} rows")
        if not 0 <= self.decay_q < (1 << contract.DECAY_FRAC_BITS):
            raise ValueError(f"IntegerLSM decay_q must be in [0, 1024), not {self.decay_q}")
        if not 0 < self.threshold_q <= contract.MEMBRANE_MAX:
            raise ValueError(f"IntegerLSM threshold_q must be in [1, {contract.MEMBRANE_MAX}], "
                             f"not {self.threshold_q}")
        if not 1 <= self.adc_bits <= 16:
            raise ValueError(f"IntegerLSM adc_bits must be in [1, 16], not {self.adc_bits}")
        if not 1 <= self.steps <= (1 << contract.COUNTER_BITS) - 1:
            raise ValueError(f"IntegerLSM steps must be in [1, 255], not {self.steps}")
        contract.window_steps(self.steps, self.windows)
        contract.check_readout(self.readout, self.trace_shift)

    @property
    def tiles(self) -> int:
        """Crossbar tiles of :data:`~rramlsm.sw.contract.TILE_ROWS` rows the array spans."""
        return contract.tiles(self.inputs + self.neurons)

    @property
    def weight_codes(self) -> np.ndarray:
        return self.pos.astype(np.int32) - self.neg.astype(np.int32)


def quantize_reservoir(reservoir: Reservoir, *, noise: bool = False,
                       noise_seed: int = 0, mean_active_rows: float = 30.0) -> IntegerLSM:
    """Map a float reservoir onto the integer contract.

    One ADC code is ``unit = weight_scale * g_lsb * 2**shift`` float units, so
    ``threshold_q = round(Vth / unit * 2**6)`` and ``decay_q = round(lam * 1024)``.
    With ``noise``, the amplitude matches the device read noise for a column
    of ``mean_active_rows`` active rows:
    ``sd(S) = read_noise * sqrt(2 * rows * E[code**2])`` and amplitude =
    ``sqrt(6) * sd`` (the triangular noise has sd = amplitude / sqrt(6)).
    """
    cfg = reservoir.config
    unit = cfg.weight_scale * cfg.device.g_lsb_us * (1 << cfg.adc.shift)
    theta_q = int(round(cfg.threshold / unit * (1 << contract.MEMBRANE_FRAC_BITS)))
    theta_q = max(1, min(theta_q, contract.MEMBRANE_MAX))
    pos = np.concatenate([reservoir.w_in.pos, reservoir.w_rec.pos])
    neg = np.concatenate([reservoir.w_in.neg, reservoir.w_rec.neg])
    amp = 0
    if noise and cfg.device.read_noise > 0:
        rms_code = math.sqrt(float((pos.astype(np.float64) ** 2).mean()))
        sd = cfg.device.read_noise * math.sqrt(2 * mean_active_rows) * rms_code
        amp = max(1, int(round(math.sqrt(6) * sd)))
    return IntegerLSM(pos, neg, cfg.inputs, cfg.neurons, cfg.steps,
                      contract.quantize_decay(cfg.decay), theta_q, cfg.adc.bits, cfg.adc.shift,
                      amp, noise_seed, cfg.windows, cfg.device.levels, cfg.readout,
                      cfg.trace_shift)


def _noise(lsm: IntegerLSM, first_sample: int, batch: int) -> torch.Tensor:
    samples = np.arange(first_sample, first_sample + batch, dtype=np.int64)[:, None, None]
    steps = np.arange(lsm.steps, dtype=np.int64)[None, :, None]
    cols = np.arange(lsm.neurons, dtype=np.int64)[None, None, :]
    return torch.from_numpy(contract.column_noise(lsm.noise_seed, samples, steps, cols,
                                                  lsm.noise_amplitude))


# (device, inputs, neurons, steps, noise) -> the fastest kernel measured.
_GOLDEN_CHOICE: dict[tuple, str] = {}
_PROBE_SAMPLES = 64
_PROBE_OPS = 2 * 10**9


def golden_kernel(lsm: IntegerLSM, frames: np.ndarray, *, kernel: str | None = None,
                  device: str | torch.device | None = None) -> str:
    """The kernel :func:`golden_counts` uses for ``lsm`` on ``frames``.

    A forced kernel (argument, ``$RRAMLSM_KERNEL``, ``--kernel``) is checked and
    returned; ``auto`` times every usable kernel once per process and shape on
    the first samples of ``frames``, checks that all give the same counts, and
    keeps the fastest.
    """
    dev = compute_device(device)
    name = kernel_setting() if kernel is None else kernel
    if name != "auto":
        return check_golden_kernel(name, dev)
    # The probe runs without recording trains, so the choice does not depend on it.
    key = (str(dev), lsm.inputs, lsm.neurons, lsm.steps, bool(lsm.noise_amplitude),
           lsm.windows)
    if key not in _GOLDEN_CHOICE:
        usable = usable_golden(dev)
        if len(frames) == 0:
            return usable[0]
        # Enough samples to time reliably, at most about _PROBE_OPS of dense work (one
        # sample of the BMI reservoir is 1.8 GOP).
        dense = 2 * lsm.steps * (lsm.inputs + lsm.neurons) * lsm.neurons
        n = max(1, min(_PROBE_SAMPLES, _PROBE_OPS // dense))
        probe = np.asarray(frames[:n], np.uint8)
        for k in usable:  # warm-up on one sample: numba's compile / cache load, allocations
            _golden_run(lsm, probe[:1], 0, k, dev, record=False)
        _GOLDEN_CHOICE[key] = fastest(
            {k: (lambda k=k: _golden_run(lsm, probe, 0, k, dev, record=False)) for k in usable},
            sync=dev, equal=np.array_equal)
    return _GOLDEN_CHOICE[key]


@torch.no_grad()
def golden_counts(lsm: IntegerLSM, frames: np.ndarray, *, first_sample: int = 0,
                  batch: int = 512, record: bool = False, kernel: str | None = None,
                  device: str | torch.device | None = None):
    """The readout ``[N, windows * neurons]`` (int32) of binary frames ``[N, T, inputs]``.

    Window-major: column ``w * neurons + j`` counts neuron ``j``'s spikes in readout
    window ``w`` (``windows = 1``: the whole sample), or with ``lsm.readout == "trace"``
    holds its trace sample at the window's end (:func:`~rramlsm.sw.contract.trace_readout`
    of the spike trains, so every kernel gives it bit for bit).

    ``first_sample`` numbers the samples for the read-noise generator, so a
    dataset processed in pieces gives the same result as in one go.  With
    ``record`` also returns the spike trains ``[N, T, neurons]`` (uint8).
    ``kernel`` and ``device`` default to the process settings
    (:func:`~rramlsm.sw.kernels.set_compute`); every kernel (:data:`GOLDEN_KERNELS`)
    and device gives the same counts, bit for bit.
    """
    frames = np.asarray(frames)
    if frames.ndim != 3 or frames.shape[1:] != (lsm.steps, lsm.inputs):
        raise ValueError(f"frames must have shape [N, {lsm.steps}, {lsm.inputs}], "
                         f"not {list(frames.shape)}")
    if frames.size and (frames.min() < 0 or frames.max() > 1):
        raise ValueError("frames must be binary (0/1)")
    dev = compute_device(device)
    name = golden_kernel(lsm, frames, kernel=kernel, device=dev)
    counts_out, trains = [], []
    trace = lsm.readout == "trace"
    for b0 in range(0, len(frames), batch):
        r = _golden_run(lsm, frames[b0 : b0 + batch], first_sample + b0, name, dev,
                        record or trace)
        if trace:
            r = (contract.trace_readout(r[1], lsm.windows, lsm.trace_shift), r[1])
        counts_out.append(r[0] if record or trace else r)
        if record:
            trains.append(r[1])
    counts = (np.concatenate(counts_out) if counts_out
              else np.zeros((0, lsm.features), np.int32))
    if record:
        return counts, (np.concatenate(trains) if trains else None)
    return counts


def _golden_run(lsm: IntegerLSM, frames: np.ndarray, first_sample: int, kernel: str,
                dev: torch.device, record: bool):
    """One batch through the golden model with ``kernel``."""
    adc = ADCConfig(lsm.adc_bits, lsm.adc_shift)
    if kernel == "event":
        codes = lsm.weight_codes
        noise = (_noise(lsm, first_sample, len(frames)).numpy() if lsm.noise_amplitude
                 else None)
        # T <= 255 (IntegerLSM checks it), so the 8-bit counters never saturate.
        return event_lif_counts(frames, codes[: lsm.inputs], codes[lsm.inputs :], noise,
                                decay_q=lsm.decay_q, threshold_q=lsm.threshold_q,
                                adc_shift=adc.shift, adc_lo=adc.lo, adc_hi=adc.hi,
                                windows=lsm.windows, record=record)
    mm_in, mm_rec = _matmuls(lsm, kernel, dev, float(frames.mean()) if frames.size else 0.1)
    cmax = (1 << contract.COUNTER_BITS) - 1
    frac, mask = contract.DECAY_FRAC_BITS, (1 << contract.DECAY_FRAC_BITS) - 1
    x = torch.from_numpy(np.ascontiguousarray(frames, dtype=np.uint8)).to(dev)
    B, T, N = x.shape[0], lsm.steps, lsm.neurons
    # Step-major [T, B, N] so that each step's drive is one contiguous block.
    drive = mm_in(x.transpose(0, 1).reshape(T * B, -1)).reshape(T, B, N)
    if lsm.noise_amplitude:
        drive += _noise(lsm, first_sample, B).to(dev, torch.int32).transpose(0, 1)
    # int32 throughout, updated in place: column sums < 2**20, membrane
    # < 2**24.  The decay product lam_q * r would need 34 bits, so it is
    # split exactly: r = 1024 q + m with q = r >> 10 and m = r & 1023 in
    # [0, 1023], hence (lam_q * r) >> 10 = lam_q * q + ((lam_q * m) >> 10).
    v = torch.zeros(B, N, dtype=torch.int32, device=dev)
    # 1 where a neuron did not spike (keeps its membrane), as int32: the
    # reset is then a same-type multiply, PyTorch's cheapest masking.
    below = torch.ones(B, N, dtype=torch.int32, device=dev)
    # Spikes, as the recurrent product reads them.
    s = torch.zeros(B, N, dtype=torch.int8, device=dev)
    # Counts accumulate in uint8 (same-type adds are PyTorch's cheapest):
    # IntegerLSM caps steps at 255, so a count cannot wrap.  One bank per window.
    counts = torch.zeros(lsm.windows, B, N, dtype=torch.uint8, device=dev)
    window = lsm.window_steps
    train = torch.empty(T, B, N, dtype=torch.int8, device=dev) if record else None
    for t in range(T):
        a = mm_rec(s).add_(drive[t]).bitwise_right_shift_(adc.shift).clamp_(adc.lo, adc.hi)
        v.mul_(below)  # hard reset of the neurons that spiked last step
        q = v >> frac
        v.bitwise_and_(mask).mul_(lsm.decay_q).bitwise_right_shift_(frac)
        v.add_(q.mul_(lsm.decay_q)).add_(a.bitwise_left_shift_(contract.MEMBRANE_FRAC_BITS))
        v.clamp_(contract.MEMBRANE_MIN, contract.MEMBRANE_MAX)
        s = torch.ge(v, lsm.threshold_q, out=train[t] if record else s)
        torch.lt(v, lsm.threshold_q, out=below)
        counts[t // window].add_(s.view(torch.uint8))
    counts = counts.clamp_(max=cmax).transpose(0, 1).reshape(B, -1).to(torch.int32).cpu().numpy()
    if record:
        return counts, train.transpose(0, 1).view(torch.uint8).cpu().numpy()
    return counts


def _matmuls(lsm: IntegerLSM, kernel: str, dev: torch.device, density: float):
    """The input and recurrent column-sum products of ``lsm`` (memoised on it)."""
    key = (kernel, str(dev))
    cache = lsm.__dict__.setdefault("_matmuls", {})
    if key not in cache:
        codes = lsm.weight_codes
        # The density hints only steer the choice among matmul kernels in SpikeMatmul
        # (fixed here, so a forced matmul kernel is used as given).
        cache[key] = (SpikeMatmul(codes[: lsm.inputs], device=dev, kernel=kernel,
                                  density=density),
                      SpikeMatmul(codes[lsm.inputs :], device=dev, kernel=kernel,
                                  density=0.05))
    return cache[key]


def golden_features(lsm: IntegerLSM, frames: np.ndarray, **kw) -> np.ndarray:
    """The heads' input ``readout / scale`` (float32: spike rates, ``L`` steps per readout
    window, or trace samples over :data:`~rramlsm.sw.contract.TRACE_SCALE`) from the golden
    model."""
    return golden_counts(lsm, frames, **kw).astype(np.float32) / lsm.feature_scale


def compare_float_integer(reservoir: Reservoir, frames: np.ndarray) -> dict:
    """How close the float model and the integer golden model are on ``frames``.

    ``spike_agreement``: fraction of (sample, step, neuron) spike decisions that
    match; ``feature_correlation``: Pearson correlation of the spike-rate
    features; ``*_rate``: mean firing rates.
    """
    from rramlsm.sw.lsm import float_features

    f_feat, f_train = float_features(reservoir, frames, record=True)
    lsm = quantize_reservoir(reservoir)
    counts, i_train = golden_counts(lsm, frames, record=True)
    i_feat = counts.astype(np.float32) / lsm.feature_scale
    corr = float(np.corrcoef(f_feat.ravel(), i_feat.ravel())[0, 1]) if f_feat.std() > 0 else 1.0
    return {
        "spike_agreement": float((f_train == i_train).mean()),
        "feature_correlation": corr,
        "float_rate": float(f_feat.mean()),
        "integer_rate": float(i_feat.mean()),
    }
