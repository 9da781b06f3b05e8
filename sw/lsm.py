"""The liquid state machine: configuration, presets, and the float PyTorch model.

Discrete leaky integrate-and-fire with hard reset and no refractory period, as in
N. Lin, S. Wang, Y. Li et al., "Resistive memory-based zero-shot liquid state machine for
multimodal event data learning", Nature Computational Science 5, 37-47 (2025),
doi:10.1038/s43588-024-00751-z (its Methods; the model code is not published, the form is
reconstructed from the authors' run scripts, github.com/MrLinNing/MemristorLSM)::

    u[t] = lam * u[t-1] * (1 - s[t-1]) + W_in x[t] + W_rec s[t-1]
    s[t] = 1  if u[t] >= Vth  else 0
    feature[w] = sum_{t in window w} s[t] / L      (W windows of L = T / W steps)

``W = weight_scale * (G+ - G-)`` with conductances in uS, taken from sampled
crossbars (:mod:`rramlsm.sw.device`): the float model uses the same quantised
conductances the hardware holds, so it differs from the integer golden model
(:mod:`rramlsm.sw.golden`) only by the ADC and fixed-point rounding.

Pure step functions are kept apart from the time loop (as norse does): one
loop, :func:`run_lif`, serves the float model, and the golden model has its
own integer step.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field

import numpy as np
import torch

from rramlsm.sw import contract
from rramlsm.sw._checks import check_real
from rramlsm.sw.device import ADCConfig, CrossbarArrays, DeviceConfig, sample_crossbar
from rramlsm.sw.kernels import compute_device, event_drive, sum_active_rows

__all__ = [
    "LSMConfig",
    "PRESETS",
    "Reservoir",
    "make_reservoir",
    "float_lif_step",
    "run_lif",
    "float_features",
    "Calibration",
    "calibrate_weight_scale",
]


@dataclass(frozen=True)
class LSMConfig(contract.WindowedReadout):
    """One reservoir: sizes, LIF constants (float units) and device/ADC settings."""

    name: str = "visual"
    """Preset or user label."""
    inputs: int = 256
    """Input rows (framed event channels)."""
    neurons: int = 200
    """Reservoir neurons (columns of both arrays, rows of the recurrent array)."""
    steps: int = 50
    """Time steps T."""
    decay: float = 0.9
    """Membrane decay lambda per step, in [0, 1)."""
    threshold: float = 5.0
    """Firing threshold Vth (float units)."""
    weight_scale: float = 0.3
    """Multiplier from differential conductance (uS) to float weight."""
    device: DeviceConfig = field(default_factory=DeviceConfig)
    """Device statistics of both arrays."""
    adc: ADCConfig = field(default_factory=ADCConfig)
    """Column ADC of the integer model."""
    windows: int = 1
    """Readout windows W: the features are the spike counts of each neuron in W equal
    windows of ``steps / W`` steps (W = 1: the total count), so they keep *when* a
    neuron fired; W must divide ``steps`` and be at most ``contract.MAX_WINDOWS``."""
    readout: str = "count"
    """What each window holds per neuron: ``"count"`` (its spikes in the window, divided by
    the window's steps) or ``"trace"`` (its exponential spike trace, time constant about
    ``2**trace_shift`` steps, sampled at the window's last step; in [0, 1])."""
    trace_shift: int = 4
    """The trace's decay shift k (``contract.MAX_TRACE_SHIFT`` at most); used by the
    ``"trace"`` readout only."""

    def __post_init__(self):
        for f in ("inputs", "neurons", "steps"):
            v = getattr(self, f)
            if isinstance(v, bool) or not isinstance(v, int):
                raise TypeError(f"LSMConfig {f} must be an integer, not {type(v).__name__}")
            if v <= 0:
                raise ValueError(f"LSMConfig {f} must be a positive integer, not {v}")
        for f in ("decay", "threshold", "weight_scale"):
            check_real("LSMConfig", f, getattr(self, f))
        if not 0.0 <= self.decay < 1.0:
            raise ValueError(f"LSMConfig decay must be in [0, 1), not {self.decay}")
        if self.threshold <= 0:
            raise ValueError(f"LSMConfig threshold must be positive, not {self.threshold}")
        if self.weight_scale <= 0:
            raise ValueError(f"LSMConfig weight_scale must be positive, not {self.weight_scale}")
        if not isinstance(self.device, DeviceConfig):
            raise TypeError(f"LSMConfig device must be a DeviceConfig, not "
                            f"{type(self.device).__name__}")
        if not isinstance(self.adc, ADCConfig):
            raise TypeError(f"LSMConfig adc must be an ADCConfig, not {type(self.adc).__name__}")
        try:
            contract.window_steps(self.steps, self.windows)
            contract.check_readout(self.readout, self.trace_shift)
        except ValueError as e:
            raise ValueError(f"LSMConfig {self.name!r}: {e}") from None

    def replace(self, **changes) -> LSMConfig:
        return dataclasses.replace(self, **changes)


#: The paper's constants per modality (Lin et al., Nature Computational Science 5, 37-47
#: (2025); reconstructed from the authors' run scripts, github.com/MrLinNing/MemristorLSM,
#: which set them per task).
PRESETS = {
    "visual": LSMConfig("visual", 256, 200, 50, 0.9, 5.0, 0.3),
    "audio": LSMConfig("audio", 64, 200, 129, 0.97, 5.3, 0.1),
    "neural": LSMConfig("neural", 192, 2048, 201, 0.95, 0.1, 0.0005),
    "letters": LSMConfig("letters", 784, 2048, 50, 0.95, 0.1, 0.0005),
}


@dataclass
class Reservoir:
    """A configured LSM with its two sampled crossbars (input and recurrent)."""

    config: LSMConfig
    w_in: CrossbarArrays
    w_rec: CrossbarArrays

    def float_weights(self, device: str | torch.device = "cpu"):
        """``(W_in, W_rec)`` as float32 tensors: weight_scale * (G+ - G-)."""
        s = self.config.weight_scale
        return (torch.as_tensor(self.w_in.weights_us * s, dtype=torch.float32, device=device),
                torch.as_tensor(self.w_rec.weights_us * s, dtype=torch.float32, device=device))


def make_reservoir(config: LSMConfig, *, seed: int,
                   rec_device: DeviceConfig | None = None) -> Reservoir:
    """Sample the input (inputs x neurons) and recurrent (neurons x neurons) crossbars.

    The two arrays get independent streams derived from ``seed``.
    """
    w_in = sample_crossbar(config.inputs, config.neurons, config.device, seed=2 * seed)
    w_rec = sample_crossbar(config.neurons, config.neurons, rec_device or config.device,
                            seed=2 * seed + 1)
    return Reservoir(config, w_in, w_rec)


def float_lif_step(drive: torch.Tensor, s_prev: torch.Tensor, u_prev: torch.Tensor,
                   w_rec: torch.Tensor, decay: float, threshold: float):
    """One LIF step of the float model: ``(drive, state, params) -> (membrane, spikes)``, in
    the order of the integer model's :func:`rramlsm.sw.contract.lif_step`."""
    u = decay * u_prev * (1.0 - s_prev) + drive + s_prev @ w_rec
    return u, (u >= threshold).to(u.dtype)


def run_lif(x: torch.Tensor, w_in: torch.Tensor, w_rec: torch.Tensor, decay: float,
            threshold: float, *, windows: int = 1, readout: str = "count",
            trace_shift: int = 4, record: bool = False):
    """Run the float LSM on binary input ``x`` of shape ``[B, T, inputs]``.

    Returns the readout ``[B, windows * neurons]`` (window-major: ``windows`` equal
    windows of ``T / windows`` steps): spike counts, or with ``readout="trace"`` the
    exponential trace ``y <- (1 - 2**-k) y + 2**-k s`` at each window's last step, times
    :data:`~rramlsm.sw.contract.TRACE_SCALE` (the integer trace's scale); and the spike
    train ``[B, T, neurons]`` when ``record``.  The input drive of all steps is one matmul
    up front: it does not depend on the state.
    """
    B, T, _ = x.shape
    N = w_in.shape[1]
    # Step-major [T, B, N] so that each step's drive is one contiguous block.
    drive = _input_drive(x, w_in)
    # float_lif_step's arithmetic, in place and in the same order (decay * u * (1 - s),
    # + drive, + s @ w_rec), so the two agree bit for bit.
    s = torch.zeros(B, N, dtype=w_in.dtype, device=w_in.device)
    u = torch.zeros_like(s)
    below = torch.ones_like(s)
    counts = torch.zeros(windows, B, N, dtype=w_in.dtype, device=w_in.device)
    window = T // windows
    trace = torch.zeros_like(s) if readout == "trace" else None
    gain = 2.0 ** -trace_shift
    train = torch.empty(T, B, N, dtype=torch.uint8, device=w_in.device) if record else None
    for t in range(T):
        rec = s @ w_rec
        u.mul_(below).mul_(decay).add_(drive[t]).add_(rec)
        torch.ge(u, threshold, out=s)
        torch.lt(u, threshold, out=below)
        if trace is None:
            counts[t // window] += s
        else:
            trace.mul_(1.0 - gain).add_(s, alpha=gain)
            if (t + 1) % window == 0:
                counts[t // window] = trace * contract.TRACE_SCALE
        if record:
            train[t] = s
    counts = counts.transpose(0, 1).reshape(B, windows * N)
    return (counts, train.transpose(0, 1)) if record else counts


# Above this fraction of active inputs a dense matmul beats the gather-sum.
SPARSE_DRIVE_MAX_DENSITY = 0.2


def _input_drive(x: torch.Tensor, w_in: torch.Tensor) -> torch.Tensor:
    """The drive of every step, step-major: ``x [B, T, K] @ w_in [K, N]`` as ``[T, B, N]``.

    Event frames are mostly zeros (~10 % active), so for sparse ``x`` this is a sum
    of the rows of ``w_in`` of the active inputs (a tenth of a dense matmul's work):
    on the CPU for binary ``x`` the compiled loop :func:`~rramlsm.sw.kernels.event_drive`,
    elsewhere :func:`~rramlsm.sw.kernels.sum_active_rows`; both add the rows in the
    same order with the same roundings, so which one runs does not change a spike.
    """
    B, T, K = x.shape
    if torch.count_nonzero(x) > SPARSE_DRIVE_MAX_DENSITY * x.numel():
        flat = x.transpose(0, 1).reshape(T * B, K)
        return (flat.to(w_in.dtype) @ w_in).reshape(T, B, -1)
    if x.device.type == "cpu" and w_in.device.type == "cpu":
        out = event_drive(x.numpy().view(np.uint8) if x.dtype == torch.bool else x.numpy(),
                          w_in.numpy())
        if out is not None:
            return torch.from_numpy(out)
    return sum_active_rows(x.transpose(0, 1).reshape(T * B, K), w_in).reshape(T, B, -1)


@torch.no_grad()
def float_features(reservoir: Reservoir, frames: np.ndarray, *, batch: int = 512,
                   device: str | torch.device | None = None, record: bool = False):
    """Readout features ``[N, windows * neurons]`` (float32 in [0, 1]: counts per window
    over the window's steps, or trace samples) of framed input ``[N, T, inputs]``.

    Streams over the dataset in batches so memory stays bounded.  ``device``: the
    process setting (:func:`~rramlsm.sw.kernels.compute_device`) by default.
    """
    cfg = reservoir.config
    _check_frames(frames, cfg)
    device = compute_device(device)
    w_in, w_rec = reservoir.float_weights(device)
    out, trains = [], []
    for lo in range(0, len(frames), batch):
        x = torch.as_tensor(np.ascontiguousarray(frames[lo : lo + batch]), device=device)
        r = run_lif(x, w_in, w_rec, cfg.decay, cfg.threshold, windows=cfg.windows,
                    readout=cfg.readout, trace_shift=cfg.trace_shift, record=record)
        if record:
            r, tr = r
            trains.append(tr.cpu().numpy())
        out.append((r / cfg.feature_scale).cpu().numpy())
    feats = np.concatenate(out) if out else np.zeros((0, cfg.features), np.float32)
    if record:
        return feats, (np.concatenate(trains) if trains else None)
    return feats


def _check_frames(frames: np.ndarray, cfg: LSMConfig) -> None:
    if frames.ndim != 3 or frames.shape[1:] != (cfg.steps, cfg.inputs):
        raise ValueError(f"frames must have shape [N, {cfg.steps}, {cfg.inputs}] for LSM "
                         f"{cfg.name!r}, not {list(frames.shape)}")
    if frames.dtype.kind == "f" and not np.isfinite(frames).all():
        raise ValueError("frames contain NaN or inf")


@dataclass(frozen=True)
class Calibration:
    """The result of :func:`calibrate_weight_scale`; unpacks as ``(config, rate)``."""

    config: LSMConfig
    rate: float
    """Measured mean firing rate of ``config`` on the calibration frames."""
    passes: int
    """Forward passes of the float model over the calibration frames (its cost)."""
    samples: int

    def __iter__(self):
        return iter((self.config, self.rate))


#: Calibration stops within this relative distance of the target rate (the rate measured
#: on a few samples varies by about as much between sample sets) ...
CALIBRATION_TOLERANCE = 0.05
#: ... or after this many forward passes (the best point seen is kept).
CALIBRATION_MAX_PASSES = 8


def calibrate_weight_scale(config: LSMConfig, frames: np.ndarray, *, seed: int,
                           target_rate: float = 0.05, tolerance: float = CALIBRATION_TOLERANCE,
                           max_passes: int = CALIBRATION_MAX_PASSES) -> Calibration:
    """Pick the weight scale giving a mean firing rate near ``target_rate`` on ``frames``.

    Only the ratio weight_scale / threshold matters (scaling both gives the same
    spikes), so this is equivalent to choosing the threshold in hardware units.
    The firing rate rises with the scale (in practice; inhibitory recurrent
    weights could break it, hence the measured rate in the result), so this is a
    root search on ``f(x) = log(rate + e) - log(target + e)`` over ``x = log(scale)``:
    from the preset's scale, steps of 2 in ``x`` (a factor of 7.4) until ``f``
    changes sign, then Illinois regula falsi inside the bracket (superlinear,
    and never leaves it), until the rate is within ``tolerance`` of the target
    or ``max_passes`` forward passes are spent.  Each pass costs one float-model
    run over ``frames``; the pass count is in the result, for the training cost.
    The old bisection over +-6 took 14 passes; this takes 3-6.
    """
    if not 0 < target_rate < 1:
        raise ValueError(f"target_rate must be in (0, 1), not {target_rate}")
    if max_passes < 2:
        raise ValueError(f"max_passes must be at least 2, not {max_passes}")
    eps = 1e-3  # keeps f finite at rate 0
    seen: list[tuple[float, float, LSMConfig]] = []   # (x, rate, config)

    def f(x: float) -> float:
        cfg = config.replace(weight_scale=math.exp(x))
        # The firing rate is the spike count's: a trace readout's samples are not rates.
        rate = float(float_features(make_reservoir(cfg.replace(readout="count"), seed=seed),
                                    frames).mean())
        seen.append((x, rate, cfg))
        return math.log(rate + eps) - math.log(target_rate + eps)

    def close() -> bool:
        return abs(seen[-1][1] / target_rate - 1) <= tolerance

    a = math.log(config.weight_scale)
    fa = f(a)
    b, fb = a, fa
    # Bracket: step away from the side the rate is on.
    step = -2.0 if fa > 0 else 2.0
    while not close() and len(seen) < max_passes and (fb > 0) == (fa > 0):
        a, fa = b, fb
        b = b + step
        fb = f(b)
    # Illinois: regula falsi that halves the value kept at a stale end, so both ends move.
    while not close() and len(seen) < max_passes and fa != fb and (fa > 0) != (fb > 0):
        c = b - fb * (b - a) / (fb - fa)
        fc = f(c)
        if (fc > 0) != (fb > 0):
            a, fa = b, fb
        else:
            fa /= 2
        b, fb = c, fc
    _, rate, cfg = min(seen, key=lambda p: abs(p[1] - target_rate))
    return Calibration(cfg, rate, len(seen), len(frames))
