"""From an export bundle to what a core needs: memory images, programming writes, registers.

Shared by the RTL (memory initialisation), the host driver (the programming
path) and the testbenches, so the three cannot disagree about a layout.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from rramlsm.hw.core import InKind, ProgTarget
from rramlsm.hw.params import (
    CoreParams,
    bundle_registers,
    crossbar_words,
    fixed_params,
    head_bias_words,
    head_weight_words,
    prototype_words,
)

__all__ = ["CoreImage", "core_image", "encode_frames"]


@dataclass(frozen=True)
class CoreImage:
    """Memory contents and register values of one core."""

    params: CoreParams
    memories: dict[ProgTarget, list[int]]
    registers: dict[str, int]

    def __post_init__(self):
        # The host programs a core from its image: a core with a decay or shift fixed at
        # build time refuses registers that ask for another one (the register would
        # silently keep its own).
        self.params.check_fixed(self.registers)

    def init(self) -> dict:
        """The ``init`` argument of :class:`~rramlsm.hw.core.LSMCore`."""
        m = self.memories
        return {"crossbar": m[ProgTarget.CROSSBAR],
                "head": {"weight": m[ProgTarget.HEAD_WEIGHT], "bias": m[ProgTarget.HEAD_BIAS],
                         "lut": m[ProgTarget.GELU_LUT]},
                "prototypes": m[ProgTarget.PROTOTYPES],
                "labels": m[ProgTarget.LABELS]}

    def writes(self):
        """Programming writes ``(target, address, data)`` that load every memory."""
        for target, words in self.memories.items():
            for addr, word in enumerate(words):
                yield target, addr, word


def core_image(mb, params: CoreParams | None = None, *, fixed_decay: bool = False,
               fixed_shifts: bool = False, **param_kw) -> CoreImage:
    """Pack a :class:`~rramlsm.sw.bundle.ModalityBundle` for a core of ``params`` (default:
    :meth:`CoreParams.from_bundle` with ``param_kw``).

    ``fixed_decay``: the core's LIF decay is the bundle's, fixed at build time
    (``CoreParams.fixed_decay_q``).  A core whose decay is fixed takes only bundles of
    that decay: another raises :class:`~rramlsm.errors.BundleError` naming both.
    ``fixed_shifts``: the same for the ADC and head shifts (``CoreParams.fixed_adc_shift``,
    ``fixed_head_shift``).
    """
    lsm, layer = mb.lsm, mb.head.layers[0]
    registers = bundle_registers(mb)
    options = {"fixed_decay": fixed_decay, "fixed_shifts": fixed_shifts}
    p = params or CoreParams.from_bundle(mb, **options, **param_kw)
    # Given params: the options fix the bundle's values where the core has none fixed.
    missing = {k: v for k, v in fixed_params(registers, **options).items()
               if getattr(p, k) is None}
    if missing:
        p = replace(p, **missing)
    if (lsm.inputs, lsm.neurons, lsm.adc_bits) != (p.inputs, p.neurons, p.adc_bits):
        raise ValueError(f"bundle macro {lsm.inputs}+{lsm.neurons} rows, {lsm.adc_bits}-bit ADC "
                         f"does not match the core ({p.inputs}+{p.neurons}, {p.adc_bits})")
    if lsm.noise_amplitude and not p.noise:
        raise ValueError("the bundle uses read noise but the core has no noise generator")
    p.check_readout(lsm.readout, lsm.trace_shift)
    memories = {
        ProgTarget.CROSSBAR: crossbar_words(lsm.weight_codes, p),
        ProgTarget.HEAD_WEIGHT: head_weight_words(layer.weight, p),
        ProgTarget.HEAD_BIAS: head_bias_words(layer.bias, p),
        ProgTarget.GELU_LUT: [int(x) & 0xFF for x in layer.lut],
        ProgTarget.PROTOTYPES: prototype_words(mb.prototypes, p),
        ProgTarget.LABELS: [int(c) for c in mb.classes],
    }
    return CoreImage(p, memories, registers)


def encode_frames(frames: np.ndarray) -> list[tuple[InKind, int]]:
    """Binary frames ``[T, inputs]`` of one sample -> input words ``(kind, row)``."""
    words = []
    for step in np.asarray(frames):
        words += [(InKind.EVENT, int(r)) for r in np.flatnonzero(step)]
        words.append((InKind.BIN, 0))
    words.append((InKind.EOS, 0))
    return words

