"""Golden twins of the RTL blocks: what each block must compute, in the contract's arithmetic.

One reference per block, used by the Amaranth-simulator tests (``tests/hw/``)
and the cocotb block testbenches (:mod:`rramlsm.cosim.tb_blocks`).  Each one
calls the functions of :mod:`rramlsm.sw.contract` that the golden model
(:mod:`rramlsm.sw.golden`, :class:`rramlsm.sw.heads.IntegerLayer`) computes
with, so a block that meets its twin meets the golden model; the crossbar's
column sums are the golden model's ``spikes @ (G+ - G-)`` for one step's
active rows.  Lanes are laid out as in the RTL: column group ``g`` holds
columns ``g * P .. g * P + P - 1``, zero-padded past the last neuron.
"""

from __future__ import annotations

import numpy as np

from rramlsm.hw.params import CoreParams
from rramlsm.sw import contract

__all__ = ["crossbar_sums", "adc_codes", "read_noise", "LIFBankModel", "head_embedding",
           "classify"]


def _padded(values: np.ndarray, p: CoreParams) -> np.ndarray:
    """``values[..., neurons]`` -> ``[..., groups * lanes]`` with zero padding lanes."""
    v = np.asarray(values, np.int64)
    out = np.zeros((*v.shape[:-1], p.groups * p.lanes), np.int64)
    out[..., : v.shape[-1]] = v
    return out


def crossbar_sums(codes: np.ndarray, rows, p: CoreParams) -> np.ndarray:
    """The crossbar's column sums of one pass: ``sum(codes[r] for r in rows)``.

    ``codes``: cell codes ``G+ - G-`` ``[rows, neurons]``; ``rows``: the active
    rows (none: all sums zero).  Returns ``[groups, lanes]`` (one row per column
    group pass, padding lanes zero).
    """
    active = np.zeros(p.rows, np.int64)
    active[list(rows)] = 1
    return (active @ _padded(codes, p)).reshape(p.groups, p.lanes)


def adc_codes(sums, bits: int, shift: int) -> np.ndarray:
    """The column ADCs: :func:`rramlsm.sw.contract.adc`."""
    return contract.adc(sums, bits, shift)


def read_noise(seed: int, sample: int, step: int, group: int, amplitude: int,
               p: CoreParams) -> np.ndarray:
    """The P noise lanes of column group ``group``: :func:`rramlsm.sw.contract.column_noise`
    of columns ``group * P + k``."""
    cols = np.arange(group * p.lanes, (group + 1) * p.lanes)
    return contract.column_noise(seed, sample, step, cols, amplitude)


class LIFBankModel:
    """The LIF bank: :func:`rramlsm.sw.contract.lif_step` per neuron and saturating counters.

    ``step(codes, window)`` takes one step's ADC codes of every column
    (``[groups * lanes]`` or ``[neurons]``), counts its spikes in readout window
    ``window`` and returns the spike mask of each group as the RTL reports it (bit
    ``k`` = lane ``k``; padding lanes never spike).  ``counts``: each neuron's spike
    count per window, saturated at ``2**COUNTER_BITS - 1``, window-major
    (``[windows * neurons]``, as :func:`rramlsm.sw.golden.golden_counts`).
    """

    def __init__(self, p: CoreParams, decay_q: int, threshold_q: int):
        self.p, self.decay_q, self.threshold_q = p, decay_q, threshold_q
        width = p.groups * p.lanes
        self.v = np.zeros(width, np.int64)
        self.s = np.zeros(width, bool)
        self.total = np.zeros((p.windows, width), np.int64)

    def step(self, codes, window: int = 0) -> list[int]:
        p = self.p
        self.v, self.s = contract.lif_step(self.v, self.s, _padded(codes, p), self.decay_q,
                                           self.threshold_q)
        self.total[window] += self.s
        fired = self.s & (np.arange(p.groups * p.lanes) < p.neurons)
        return [sum(int(b) << k for k, b in enumerate(fired[g * p.lanes:(g + 1) * p.lanes]))
                for g in range(p.groups)]

    @property
    def counts(self) -> np.ndarray:
        cmax = (1 << contract.COUNTER_BITS) - 1
        return np.minimum(self.total, cmax)[:, : self.p.neurons].reshape(-1)


def head_embedding(counts, weight, bias, shift: int, lut) -> np.ndarray:
    """The head: ``lut[requantize(counts @ weight + bias, shift)]`` (int8 weight
    ``[neurons, dim]``, int32 bias, the GELU table), as
    :class:`rramlsm.sw.heads.IntegerLayer` computes it."""
    acc = np.asarray(counts, np.int64) @ np.asarray(weight, np.int64) + np.asarray(bias, np.int64)
    return contract.apply_lut(contract.requantize(acc, shift), lut)


def classify(embedding, prototypes) -> tuple[int, int]:
    """The classifier: ``(row, score)`` of the highest ``embedding @ prototypes.T``, ties to
    the lowest row (:func:`rramlsm.sw.contract.argmax_first`)."""
    scores = np.asarray(prototypes, np.int64) @ np.asarray(embedding, np.int64)
    best = int(contract.argmax_first(scores))
    return best, int(scores[best])
