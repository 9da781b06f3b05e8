"""Projection heads: the only trained part of the system, in float and as the hardware runs them.

A head maps one modality's LSM spike-rate features to the shared embedding
space: ``Linear + GELU`` (200 -> 64 in the paper), optionally with hidden
layers.  :func:`clip_loss` is the symmetric contrastive loss of CLIP;
:func:`supcon_loss` the label-aware variant of the BMI task.

:func:`quantize_head` turns a trained head into an :class:`IntegerHead`: int8
weights, int32 biases, a power-of-two requantisation shift and the GELU lookup
table of :mod:`rramlsm.sw.contract` per layer.  Its input is the reservoir's
integer spike counts, its output an int8 embedding -- exactly what the RTL
computes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from rramlsm.sw import contract
from rramlsm.sw._checks import check_int, check_real
from rramlsm.sw.kernels import exact_int_matmul

__all__ = ["HeadConfig", "ProjectionHead", "clip_loss", "supcon_loss", "IntegerLayer",
           "IntegerHead", "quantize_head"]


@dataclass(frozen=True)
class HeadConfig:
    """Shape of one projection head."""

    inputs: int = 200
    """Input width: the number of reservoir neurons."""
    dim: int = 64
    """Embedding width."""
    hidden: tuple[int, ...] = ()
    """Widths of hidden ``Linear + GELU`` layers before the output layer."""

    def __post_init__(self):
        check_int("HeadConfig", "inputs", self.inputs, lo=1)
        check_int("HeadConfig", "dim", self.dim, lo=1)
        for w in self.hidden:
            check_int("HeadConfig", "hidden width", w, lo=1)

    @property
    def widths(self) -> tuple[int, ...]:
        return (self.inputs, *self.hidden, self.dim)


class ProjectionHead(nn.Module):
    """``(Linear + GELU)`` per layer: spike rates in [0, 1] -> embedding."""

    def __init__(self, config: HeadConfig):
        super().__init__()
        self.config = config
        w = config.widths
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(w[:-1], w[1:], strict=True))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.layers:
            x = nn.functional.gelu(layer(x))
        return x


def clip_loss(a: torch.Tensor, b: torch.Tensor, temperature: float = 1.0,
              normalize: bool = True) -> torch.Tensor:
    """Symmetric CLIP loss: row i of ``a`` and row i of ``b`` are the positive pair.

    ``logits = a_hat @ b_hat.T / temperature`` (L2-normalised rows when
    ``normalize``), cross-entropy towards the diagonal in both directions,
    averaged.
    """
    if a.shape != b.shape or a.ndim != 2:
        raise ValueError(f"clip_loss needs two [B, D] batches of one shape, not "
                         f"{list(a.shape)} and {list(b.shape)}")
    check_real("clip_loss", "temperature", temperature, lo=0.0, lo_open=True)
    if normalize:
        a, b = nn.functional.normalize(a, dim=1), nn.functional.normalize(b, dim=1)
    logits = a @ b.T / temperature
    target = torch.arange(len(a), device=a.device)
    return 0.5 * (nn.functional.cross_entropy(logits, target)
                  + nn.functional.cross_entropy(logits.T, target))


def supcon_loss(a: torch.Tensor, b: torch.Tensor, labels: torch.Tensor,
                temperature: float = 0.5, normalize: bool = True) -> torch.Tensor:
    """Label-aware cross-modal contrastive loss: every same-class pair is a positive.

    For each row of ``a`` the target distribution is uniform over the rows of
    ``b`` with the same label (and symmetrically); with distinct labels this is
    :func:`clip_loss`.
    """
    if a.shape != b.shape or len(labels) != len(a):
        raise ValueError("supcon_loss needs [B, D] batches of one shape and B labels")
    check_real("supcon_loss", "temperature", temperature, lo=0.0, lo_open=True)
    if normalize:
        a, b = nn.functional.normalize(a, dim=1), nn.functional.normalize(b, dim=1)
    logits = a @ b.T / temperature
    pos = (labels[:, None] == labels[None, :]).to(logits.dtype)
    target = pos / pos.sum(1, keepdim=True)
    return 0.5 * (nn.functional.cross_entropy(logits, target)
                  + nn.functional.cross_entropy(logits.T, target.T / target.T.sum(1, keepdim=True)))


@dataclass(frozen=True)
class IntegerLayer:
    """One quantised ``Linear + GELU``: ``y = lut[requantize(x @ weight + bias, shift)]``."""

    weight: np.ndarray
    """``[in, out]`` int8."""
    bias: np.ndarray
    """``[out]`` int32, in accumulator units (``in_scale * weight_scale``)."""
    shift: int
    """Requantisation shift (accumulator -> int8 pre-activation)."""
    lut: np.ndarray
    """GELU table, 256 x int8 (:func:`rramlsm.sw.contract.gelu_lut`)."""
    in_scale: float
    """Float value of one input unit."""
    weight_scale: float
    """Float value of one weight unit."""

    @property
    def out_scale(self) -> float:
        """Float value of one output (and pre-activation) unit."""
        return self.in_scale * self.weight_scale * (1 << self.shift)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        acc = exact_int_matmul(np.asarray(x), self.weight) + self.bias
        return contract.apply_lut(contract.requantize(acc, self.shift), self.lut)


@dataclass(frozen=True)
class IntegerHead:
    """A head as the hardware runs it: spike counts (0..T) -> int8 embedding."""

    layers: tuple[IntegerLayer, ...]

    def __call__(self, counts: np.ndarray) -> np.ndarray:
        x = np.asarray(counts)
        if x.dtype.kind not in "ui":
            raise TypeError(f"IntegerHead takes integer spike counts, not {x.dtype}")
        for layer in self.layers:
            x = layer(x)
        return x.astype(np.int8)

    @property
    def out_scale(self) -> float:
        return self.layers[-1].out_scale


def quantize_head(head: ProjectionHead, counts: np.ndarray, scale: int,
                  headroom: float = 1.0) -> IntegerHead:
    """Quantise ``head`` for a reservoir's integer readout ``counts``, which the float head
    read as ``counts / scale`` (``scale``: the readout's ``feature_scale``, the window's
    steps for spike counts).

    Per layer: symmetric per-tensor int8 weights (scale = max|W| / 127), the bias
    rounded to accumulator units, and the smallest shift that keeps the largest
    accumulator seen on the calibration ``counts`` (times ``headroom``) inside
    int8, so pre-activations are clipped only outside the calibration range.
    Layer by layer the integer activations of the calibration data feed the
    next layer's calibration.
    """
    counts = np.asarray(counts)
    if counts.ndim != 2 or counts.shape[1] != head.config.inputs:
        raise ValueError(f"calibration counts must have shape [N, {head.config.inputs}], "
                         f"not {list(counts.shape)}")
    check_int("quantize_head", "scale", scale, lo=1)
    x = counts.astype(np.int64)
    in_scale = 1.0 / scale
    layers = []
    for lin in head.layers:
        w = lin.weight.detach().cpu().double().numpy().T
        b = lin.bias.detach().cpu().double().numpy()
        w_scale = float(np.abs(w).max()) / contract.ACT_MAX or 1.0
        wq = np.clip(np.floor(w / w_scale + 0.5), -127, 127).astype(np.int8)
        acc_scale = in_scale * w_scale
        bq = np.floor(b / acc_scale + 0.5).astype(np.int64)
        if np.abs(bq).max(initial=0) >= 1 << (contract.ACC_BITS - 1):
            raise ValueError("head bias does not fit the 32-bit accumulator")
        bq = bq.astype(np.int32)
        acc = exact_int_matmul(x, wq) + bq
        peak = float(np.abs(acc).max(initial=1)) * headroom
        shift = max(0, math.ceil(math.log2(peak / contract.ACT_MAX))) if peak > 0 else 0
        lut = contract.gelu_lut(acc_scale * (1 << shift))
        layer = IntegerLayer(wq, bq, shift, lut, in_scale, w_scale)
        layers.append(layer)
        x = layer(x)
        in_scale = layer.out_scale
    return IntegerHead(tuple(layers))
