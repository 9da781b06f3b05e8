"""Import a NIR graph onto the macro: a recurrent LIF reservoir from snnTorch, Norse or rramlsm.

The macro executes one graph shape per modality (docs/ARCHITECTURE.md, "NIR import")::

    Input -> Linear/Affine (input array) -> LIF or CubaLIF <-> Linear/Affine (recurrent array)
                                            LIF -> [Linear/Affine readout] -> Output

in the nested layout (the recurrence in a subgraph, as :mod:`rramlsm.sw.nir_export`
and snnTorch's ``RLeaky`` write it inside a graph) or the flat one (``lif.lif <->
lif.w_rec`` at the top level, as ``snntorch.export_nir`` writes it).  The
recurrent array and the readout are optional.  Everything else -- other neuron
models, delays, convolutions, pooling, a second neuron population, biases on
the arrays, a leak target or reset value other than 0, per-neuron time
constants, sizes beyond the RTL -- is refused with
:class:`~rramlsm.errors.UnsupportedGraphError` naming the node and the reason.

Mapping (NIR's forward-Euler LIF with step ``dt``, ``v[t] = (1 - dt/tau) v[t-1] +
(dt/tau) r I``): decay ``lam = 1 - dt/tau`` -> ``decay_q = round(lam * 1024)``;
the input gain ``g = (dt/tau) r`` (CubaLIF: times ``w_in``, only with an
instantaneous synapse ``tau_syn = dt``) is folded into the columns of both
arrays; per-neuron thresholds are folded the same way (a column scaled by
``c`` with its threshold scaled by ``c`` spikes identically, the reset being to
0), so one threshold register serves.  The weights then share one code step
``s``: if they all lie on a grid (our own export, or any model trained with
quantisation) the coarsest exact grid is used and the codes are exact;
otherwise ``s = max|W| / (levels - 1)`` uses the whole code range, or
``--calibrate`` picks the clipping of the largest weights and the ADC shift
that best reproduce the float model's spike counts on data.  A code ``c`` is
the device pair ``(max(c, 0), max(-c, 0))`` unless the graph carries the device
codes (our export's ``rramlsm`` metadata), which are then kept as they are.
``threshold_q = round(Vth / (s 2^shift) * 64)``.  A linear readout becomes a
single head layer with an identity table (no GELU) and one-hot prototypes, so
the macro's classifier is the readout's argmax over the spike counts.
"""

from __future__ import annotations

import contextlib
import html
import io
import json
import math
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import nir
import numpy as np
import torch

from rramlsm.errors import ConfigError, UnsupportedGraphError
from rramlsm.sw import contract
from rramlsm.sw._io import atomic_path
from rramlsm.sw.bundle import Bundle, ModalityBundle
from rramlsm.sw.device import ADCConfig, DeviceConfig
from rramlsm.sw.events import AudioFraming, VisionFraming, frame_audio, frame_vision
from rramlsm.sw.golden import IntegerLSM, golden_counts
from rramlsm.sw.heads import IntegerHead, IntegerLayer
from rramlsm.sw.lsm import run_lif
from rramlsm.sw.plots import png_base64, pyplot

__all__ = ["ReservoirSpec", "read_graph", "parse_graph", "quantize_spec", "import_graph",
           "float_counts", "identity_lut", "RTL_ROWS", "frame_for_graph", "nested_graph",
           "canonical_graph", "framework_counts", "fidelity", "write_report_html", "FRAMEWORKS",
           "check_macro_ranges"]

#: Rows of one RTL core (hw/params.py CoreParams): inputs + neurons.
RTL_ROWS = 1024

#: Largest readout: class labels are 8-bit in the RTL.
MAX_CLASSES = 256
#: Smallest head the RTL elaborates at its default 16 head lanes: one block of outputs
#: gives zero-width address signals that Verilator's lint refuses, so a narrower readout
#: is padded with zero outputs (zero prototype entries: the scores do not change).
MIN_HEAD_DIM = 32

_REFUSED = {
    nir.Delay: "delays are not executed: a row drives its columns in the step it is active",
    nir.Conv1d: "convolutions are not executed: each array is one dense crossbar",
    nir.Conv2d: "convolutions are not executed: each array is one dense crossbar",
    nir.SumPool2d: "pooling is not executed: the macro takes a flat binary input vector",
    nir.AvgPool2d: "pooling is not executed: the macro takes a flat binary input vector",
    nir.Flatten: "reshaping is not executed: the macro takes a flat binary input vector",
    nir.Scale: "element-wise scaling is not executed (fold it into the weights)",
    nir.IF: "integrate-and-fire without leak: the macro runs LIF with a decay register",
    nir.LI: "a leaky integrator (non-spiking) readout is not executed: the head reads the "
            "spike counts at the end of a sample (use a Linear/Affine readout)",
    nir.CubaLI: "a leaky integrator (non-spiking) readout is not executed: the head reads the "
                "spike counts at the end of a sample (use a Linear/Affine readout)",
    nir.I: "an integrator is not executed: the macro runs LIF neurons",
    nir.Threshold: "a bare threshold is not executed: the macro runs LIF neurons",
}

#: The macro's ranges of an import's settings (as ``import-nir`` names them): low, high, why.
_MACRO_RANGES = {"levels": (2, contract.MAX_LEVELS, " (8-bit device codes)"),
                 "adc_bits": (1, 16, ""),
                 "steps": (1, 255, " (8-bit spike counters)")}


def check_macro_ranges(**values: int | None) -> None:
    """``levels``, ``adc_bits``, ``steps`` (None: not given) within the macro's ranges;
    otherwise a :class:`ConfigError` naming the setting as ``import-nir``'s argument."""
    for name, v in values.items():
        lo, hi, why = _MACRO_RANGES[name]
        if v is not None and not lo <= v <= hi:
            raise ConfigError(f"--{name.replace('_', '-')} must be in {lo}..{hi}{why}, "
                              f"not {v}")


def _refuse(node: str, reason: str):
    raise UnsupportedGraphError(f"node {node!r}: {reason}", node=node)


@dataclass
class ReservoirSpec:
    """The float model a graph describes, in the macro's form (column gains folded in).

    ``v[t] = decay * v[t-1] * (1 - s[t-1]) + x[t] @ w_in + s[t-1] @ w_rec``,
    ``s[t] = v[t] >= threshold``; readout logits ``counts @ readout + T * bias``.
    """

    w_in: np.ndarray
    """``[inputs, neurons]`` float64."""
    w_rec: np.ndarray
    """``[neurons, neurons]`` float64 (zeros without a recurrent node)."""
    decay: float
    threshold: float
    readout: np.ndarray | None = None
    """``[neurons, outputs]`` float64, or None."""
    readout_bias: np.ndarray | None = None
    names: dict = field(default_factory=dict)
    """Which node played which part: input_weights, neuron, recurrent, readout."""
    device_codes: tuple[np.ndarray, np.ndarray] | None = None
    """The stacked ``(pos, neg)`` device codes when the graph carries them (our export)."""
    hardware: dict = field(default_factory=dict)
    """Hardware settings the graph carries in ``rramlsm`` metadata (steps, ADC, levels)."""

    @property
    def inputs(self) -> int:
        return self.w_in.shape[0]

    @property
    def neurons(self) -> int:
        return self.w_in.shape[1]


def read_graph(path) -> nir.NIRGraph:
    """``nir.read`` with the project's error on a file that is not a NIR graph."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"{p}: no such NIR file")
    try:
        g = nir.read(p)
    except Exception as e:  # h5py and nir raise many kinds on a damaged or foreign file
        raise ConfigError(f"{p}: not a readable NIR graph ({type(e).__name__}: {e})") from None
    if not isinstance(g, nir.NIRGraph):
        raise ConfigError(f"{p}: holds a single {type(g).__name__} node, not a NIR graph")
    return g


def _flatten(graph: nir.NIRGraph):
    """Nodes and edges with every subgraph inlined (names ``sub.node``); a subgraph's own
    Input and Output nodes are bypassed (each of their sources feeds each of their targets)."""
    nodes, edges, boundary = {}, [], []

    def walk(g: nir.NIRGraph, prefix: str):
        for name, node in g.nodes.items():
            if isinstance(node, nir.NIRGraph):
                walk(node, f"{prefix}{name}.")
            else:
                nodes[prefix + name] = node
                if prefix and isinstance(node, (nir.Input, nir.Output)):
                    boundary.append(prefix + name)

        def port(name: str, kind) -> str:
            node = g.nodes.get(name)
            if isinstance(node, nir.NIRGraph):
                ends = [k for k, v in node.nodes.items() if isinstance(v, kind)]
                if len(ends) != 1:
                    _refuse(prefix + name, f"a subgraph needs exactly one {kind.__name__} "
                                           f"node, not {len(ends)}")
                return f"{prefix}{name}.{ends[0]}"
            if node is None:
                _refuse(prefix + name, "an edge names a node the graph does not have")
            return prefix + name

        for a, b in g.edges:
            edges.append((port(a, nir.Output), port(b, nir.Input)))

    walk(graph, "")
    for name in boundary:
        preds = [a for a, b in edges if b == name]
        succs = [b for a, b in edges if a == name]
        edges = [e for e in edges if name not in e] + [(a, b) for a in preds for b in succs]
        del nodes[name]
    return nodes, edges


def _vector(node_name: str, what: str, value, n: int) -> np.ndarray:
    v = np.asarray(value, np.float64).ravel()
    if v.size == 1:
        v = np.full(n, v[0])
    if v.size != n:
        _refuse(node_name, f"{what} has {v.size} values for {n} neurons")
    if not np.isfinite(v).all():
        _refuse(node_name, f"{what} is not finite")
    return v


def _weights(name: str, node, rows: int | None = None) -> np.ndarray:
    """A Linear/Affine node's weight ``[out, in]`` (float64); a non-zero bias is refused."""
    w = np.asarray(node.weight, np.float64)
    if w.ndim != 2:
        _refuse(name, f"weight of shape {list(w.shape)}: the crossbar holds a 2-D matrix")
    if isinstance(node, nir.Affine) and node.bias is not None and np.any(
            np.asarray(node.bias) != 0):
        _refuse(name, "a non-zero bias: the arrays have no bias current (write the layer "
                      "without bias, or with a zero bias)")
    if not np.isfinite(w).all():
        _refuse(name, "non-finite weights")
    return w


def _neuron(name: str, node, n: int, dt: float):
    """(decay, gain per neuron, threshold per neuron) of a LIF or CubaLIF node."""
    if isinstance(node, nir.CubaLIF):
        tau, tau_syn = (_vector(name, k, getattr(node, k), n) for k in ("tau_mem", "tau_syn"))
        if not np.allclose(dt / tau_syn, 1.0, rtol=1e-6, atol=0):
            _refuse(name, f"a synaptic current decay (1 - dt/tau_syn = "
                          f"{float(np.max(np.abs(1 - dt / tau_syn))):.4g}): the macro has no "
                          f"synaptic state; only tau_syn = dt (an instantaneous synapse) maps")
        gain_extra = _vector(name, "w_in", node.w_in, n)
    else:
        tau = _vector(name, "tau", node.tau, n)
        gain_extra = np.ones(n)
    if np.any(tau < dt * (1 - 1e-9)):
        _refuse(name, f"tau {tau.min():.4g} s is shorter than the step dt = {dt:g} s "
                      f"(decay would be negative; pass the graph's --dt)")
    r = _vector(name, "r", node.r, n)
    v_leak = _vector(name, "v_leak", node.v_leak, n)
    if np.any(v_leak != 0):
        _refuse(name, "v_leak != 0: the macro's membrane decays towards 0")
    if node.v_reset is not None and np.any(_vector(name, "v_reset", node.v_reset, n) != 0):
        _refuse(name, "v_reset != 0: the macro resets to 0")
    vth = _vector(name, "v_threshold", node.v_threshold, n)
    if np.any(vth <= 0):
        _refuse(name, "a threshold <= 0: the macro's threshold register is positive")
    decay = 1.0 - dt / tau
    if not np.allclose(decay, decay[0], rtol=1e-6, atol=1e-9):
        _refuse(name, f"per-neuron time constants (decay {decay.min():.4g}..{decay.max():.4g}): "
                      f"the macro has one decay register per modality")
    return float(np.clip(decay.mean(), 0.0, 1.0 - 2.0 ** -20)), dt / tau * r * gain_extra, vth


def parse_graph(graph: nir.NIRGraph, *, dt: float = 1e-4) -> ReservoirSpec:
    """The reservoir ``graph`` describes, or :class:`UnsupportedGraphError` naming the node."""
    if not (dt > 0 and math.isfinite(dt)):
        raise ConfigError(f"dt must be a positive number of seconds, not {dt}")
    nodes, edges = _flatten(graph)
    for name, node in nodes.items():
        for kind, reason in _REFUSED.items():
            if isinstance(node, kind):
                _refuse(name, reason)
        if not isinstance(node, (nir.Input, nir.Output, nir.Linear, nir.Affine, nir.LIF,
                                 nir.CubaLIF)):
            _refuse(name, f"{type(node).__name__} is not executed by the macro")
    preds = {k: [a for a, b in edges if b == k] for k in nodes}
    succs = {k: [b for a, b in edges if a == k] for k in nodes}
    neurons = [k for k, v in nodes.items() if isinstance(v, (nir.LIF, nir.CubaLIF))]
    if not neurons:
        raise UnsupportedGraphError("the graph has no LIF or CubaLIF population", node=None)
    if len(neurons) > 1:
        _refuse(neurons[1], f"a second neuron population (after {neurons[0]!r}): the macro "
                            f"runs one recurrent population per modality")
    lif = neurons[0]
    inputs = [k for k, v in nodes.items() if isinstance(v, nir.Input)]
    outputs = [k for k, v in nodes.items() if isinstance(v, nir.Output)]
    if len(inputs) != 1 or len(outputs) != 1:
        _refuse(lif, f"the graph needs one Input and one Output node, not {len(inputs)} and "
                f"{len(outputs)}")
    (inp,), (out,) = inputs, outputs
    linear = (nir.Linear, nir.Affine)
    rec = [k for k in preds[lif] if k in succs[lif]]
    for k in rec:
        if not isinstance(nodes[k], linear) or preds[k] != [lif] or succs[k] != [lif]:
            _refuse(k, "the recurrent path must be one Linear/Affine from the population "
                       "back to it")
    if len(rec) > 1:
        _refuse(rec[1], "a second recurrent weight node: the macro has one recurrent array")
    feed = [k for k in preds[lif] if k not in rec]
    if len(feed) != 1:
        _refuse(lif, f"{len(feed)} feed-forward inputs ({', '.join(feed) or 'none'}): the "
                     f"macro's population is driven by one input array")
    (w_in_name,) = feed
    used = {inp, out, lif, *rec}
    if w_in_name == inp:
        w_in_name = None
    else:
        if not isinstance(nodes[w_in_name], linear):
            _refuse(w_in_name, f"{type(nodes[w_in_name]).__name__} feeding the population: "
                               f"the input array is one Linear/Affine")
        if preds[w_in_name] != [inp]:
            _refuse(w_in_name, "the input array must read the graph's Input directly "
                               f"(it reads {', '.join(preds[w_in_name]) or 'nothing'})")
        used.add(w_in_name)
    readout = None
    for k in succs[lif]:
        if k in rec or k == out:
            continue
        if not isinstance(nodes[k], linear) or succs[k] != [out] or readout is not None:
            _refuse(k, "after the population the macro has at most one Linear/Affine readout "
                       "into the Output")
        readout = k
        used.add(k)
    if out not in succs[lif] and readout is None:
        _refuse(lif, "the population does not reach the Output")
    for k in nodes:
        if k not in used:
            _refuse(k, "not on the path Input -> input array -> population -> Output")

    # Sizes and parameters.
    if w_in_name is None:
        n_in = int(np.prod(np.asarray(nodes[inp].input_type.get("input", [0]))))
        w_in = None
    else:
        w_in = _weights(w_in_name, nodes[w_in_name])
        n_in = w_in.shape[1]
    n = _neuron_count(nodes[lif], w_in)
    if w_in is None:
        w_in = np.eye(n)
        if n_in not in (0, n):
            _refuse(inp, f"Input of {n_in} values feeds {n} neurons without weights")
        n_in = n
    if w_in.shape[0] != n:
        _refuse(w_in_name, f"{w_in.shape[0]} outputs for a population of {n}")
    if n_in + n > RTL_ROWS:
        _refuse(w_in_name or lif, f"{n_in} inputs + {n} neurons = {n_in + n} rows: one RTL "
                                  f"core holds {RTL_ROWS}")
    if rec:
        w_rec = _weights(rec[0], nodes[rec[0]])
        if w_rec.shape != (n, n):
            _refuse(rec[0], f"weight {list(w_rec.shape)}, expected [{n}, {n}]")
    else:
        w_rec = np.zeros((n, n))
    decay, gain, vth = _neuron(lif, nodes[lif], n, dt)
    w_in, w_rec = w_in.T * gain, w_rec.T * gain              # NIR [out, in] -> ours [in, out]
    if np.allclose(vth, vth[0], rtol=1e-9) and np.allclose(gain, gain[0], rtol=1e-9):
        threshold = float(vth[0])
    else:  # fold per-neuron thresholds into the columns: threshold 1
        w_in, w_rec, threshold = w_in / vth, w_rec / vth, 1.0
    ro = ro_bias = None
    if readout is not None:
        w = _weights_readout(readout, nodes[readout])
        if w.shape[1] != n:
            _refuse(readout, f"reads {w.shape[1]} values, the population has {n}")
        if w.shape[0] > MAX_CLASSES:
            _refuse(readout, f"{w.shape[0]} outputs: the RTL's class labels are 8-bit "
                             f"(at most {MAX_CLASSES})")
        ro = w.T
        b = getattr(nodes[readout], "bias", None)
        ro_bias = np.zeros(w.shape[0]) if b is None else np.asarray(b, np.float64).ravel()
        if ro_bias.shape != (w.shape[0],) or not np.isfinite(ro_bias).all():
            _refuse(readout, f"bias of {ro_bias.size} values for {w.shape[0]} outputs, or "
                             f"not finite")
    spec = ReservoirSpec(w_in, w_rec, decay, threshold, ro, ro_bias,
                         {"input_weights": w_in_name, "neuron": lif,
                          "recurrent": rec[0] if rec else None, "readout": readout})
    meta = (nodes[lif].metadata or {}).get("rramlsm") if hasattr(nodes[lif], "metadata") else None
    if isinstance(meta, dict):  # whole numbers only; anything else is ignored
        spec.hardware = {k: int(meta[k]) for k in ("steps", "adc_bits", "adc_shift", "levels",
                                                   "noise_amplitude", "noise_seed")
                         if k in meta and np.ndim(meta[k]) == 0
                         and isinstance(np.asarray(meta[k]).item(), int)}
        if "pos" in meta and "neg" in meta:
            pos, neg = np.asarray(meta["pos"]), np.asarray(meta["neg"])
            if pos.shape == neg.shape == (n_in + n, n):
                spec.device_codes = (pos, neg)
    return spec


def _weights_readout(name: str, node) -> np.ndarray:
    w = np.asarray(node.weight, np.float64)
    if w.ndim != 2 or not np.isfinite(w).all():
        _refuse(name, "the readout must be a finite 2-D weight matrix")
    return w


def _neuron_count(node, w_in) -> int:
    for k in ("tau", "tau_mem", "v_threshold"):
        v = np.asarray(getattr(node, k, 1.0))
        if v.size > 1:
            return int(v.size)
    return int(w_in.shape[0]) if w_in is not None else 1


# ---------------------------------------------------------------- quantisation


def exact_grid(w: np.ndarray, levels: int, tol: float = 1e-3) -> float | None:
    """The largest step ``s`` with every ``w / s`` an integer of magnitude < levels
    (within ``tol`` of a code), least-squares refined; None if there is none."""
    flat = np.abs(w[w != 0])
    if flat.size == 0:
        return None
    m = float(flat.max())
    probe = flat[:: max(1, flat.size // 2000)]
    for k in range(1, levels):
        s = m / k
        if np.abs(probe / s - np.rint(probe / s)).max() < tol:
            q = flat / s
            if np.abs(q - np.rint(q)).max() < tol:
                c = np.rint(q)
                return float((flat * c).sum() / (c * c).sum())
    return None


def quantize_spec(spec: ReservoirSpec, *, steps: int, levels: int = 256, adc_bits: int = 10,
                  adc_shift: int = 0, clip: float = 1.0, noise_amplitude: int = 0,
                  noise_seed: int = 0) -> tuple[IntegerLSM, dict]:
    """The reservoir as integers.  ``clip`` < 1 puts the code range's end at that quantile
    of |W| (larger weights saturate) instead of at the largest weight."""
    w = np.concatenate([spec.w_in, spec.w_rec])
    top = levels - 1
    step = exact_grid(w, levels) if clip >= 1.0 else None
    exact = step is not None
    if step is None:
        nz = np.abs(w[w != 0])
        m = float(np.quantile(nz, clip)) if nz.size else 1.0
        step = m / top
    codes = np.clip(np.rint(w / step), -top, top).astype(np.int64)
    if spec.device_codes is not None and exact:
        pos, neg = spec.device_codes
        if (pos.astype(np.int64) - neg.astype(np.int64) == codes).all() and max(
                pos.max(), neg.max()) <= top:
            pos, neg = pos.astype(np.uint8), neg.astype(np.uint8)
        else:
            pos = neg = None
    else:
        pos = neg = None
    if pos is None:
        pos, neg = np.maximum(codes, 0).astype(np.uint8), np.maximum(-codes, 0).astype(np.uint8)
    unit = step * (1 << adc_shift)
    theta = int(round(spec.threshold / unit * (1 << contract.MEMBRANE_FRAC_BITS)))
    if not 1 <= theta <= contract.MEMBRANE_MAX:
        _refuse(spec.names.get("neuron"),
                f"threshold {spec.threshold:g} is {theta} membrane units at a code step of "
                f"{step:.4g}: outside the 24-bit threshold register (1..{contract.MEMBRANE_MAX})")
    try:
        lsm = IntegerLSM(pos, neg, spec.inputs, spec.neurons, steps,
                         contract.quantize_decay(spec.decay), theta, adc_bits, adc_shift,
                         noise_amplitude, noise_seed, levels=levels)
    except (ValueError, TypeError) as e:
        raise ConfigError(str(e)) from None
    err = np.abs(w - codes * step)
    info = {"code_step": step, "exact_grid": exact, "clip_quantile": clip,
            "weights_clipped": int((np.abs(w) > top * step * (1 + 1e-9)).sum()),
            "max_weight_error": float(err.max()) if err.size else 0.0,
            "rms_weight_error": float(np.sqrt((err ** 2).mean())) if err.size else 0.0,
            "codes_used": int(np.abs(codes).max()) if codes.size else 0}
    return lsm, info


def identity_lut() -> np.ndarray:
    """The head's table as the identity: the layer stays linear (no GELU)."""
    return np.arange(contract.ACT_MIN, contract.ACT_MAX + 1).astype(np.int8)


def readout_head(spec: ReservoirSpec, steps: int, counts: np.ndarray | None = None
                 ) -> tuple[IntegerHead, np.ndarray, np.ndarray]:
    """``(head, prototypes, classes)``: the readout as one linear int8 layer on the counts and
    one-hot prototypes (the classifier is its argmax); without a readout, the counts
    themselves (identity weights) and one placeholder class.

    Without calibration ``counts`` the weight step is ``max|W| / 127`` and the
    requantisation shift fits the largest accumulator any counts could give.  With them
    (the golden model's counts on calibration data), the weight range may clip the largest
    weights (a quantile of |W|) and the shift fits the largest top logit seen; the choice
    that agrees most often with the float readout's class is kept."""
    n = spec.neurons
    if spec.readout is None:
        w, b, classes = np.eye(n), np.zeros(n), np.array([0])
    else:
        w, b, classes = spec.readout, spec.readout_bias, np.arange(spec.readout.shape[1])
    calibrated = counts is not None and len(counts) and spec.readout is not None
    best = None
    for q in ((1.0, 0.9995, 0.999, 0.995, 0.99, 0.98) if calibrated else (1.0,)):
        layer = _readout_layer(w, b, steps, q, counts if calibrated else None)
        if not calibrated:
            best = (0, layer)
            break
        c = np.asarray(counts, np.int64)
        want = np.argmax(c @ w + steps * b, 1)
        got = contract.argmax_first(layer(c), 1)
        score = int((got == want).sum())
        if best is None or score > best[0]:
            best = (score, layer)
    layer = best[1]
    dim = layer.weight.shape[1]
    protos = (np.zeros((1, dim), np.int8) if spec.readout is None
              else (np.eye(dim) * contract.ACT_MAX).astype(np.int8))
    if dim < MIN_HEAD_DIM:  # zero outputs: embedding entries 0, prototype entries 0
        pad = MIN_HEAD_DIM - dim
        layer = IntegerLayer(np.pad(layer.weight, ((0, 0), (0, pad))),
                             np.pad(layer.bias, (0, pad)), layer.shift, layer.lut,
                             layer.in_scale, layer.weight_scale)
        protos = np.pad(protos, ((0, 0), (0, pad)))
    return IntegerHead((layer,)), protos, classes


def _readout_layer(w: np.ndarray, b: np.ndarray, steps: int, quantile: float,
                   counts: np.ndarray | None) -> IntegerLayer:
    # Logits over a sample: sum_t (s[t] @ W + b) = counts @ W + T b.
    a = np.abs(w[w != 0])
    top = float(np.quantile(a, quantile)) if a.size else 1.0
    w_scale = top / contract.ACT_MAX or 1.0
    wi = np.clip(np.floor(w / w_scale + 0.5), -127, 127).astype(np.int64)
    bq = np.floor(b * steps / w_scale + 0.5).astype(np.int64)
    if counts is not None:
        # The classifier needs the top logits apart; lower ones may saturate at -128.
        acc = np.asarray(counts, np.int64) @ wi + bq
        hi = acc.max(1)
        peak = max(int(hi.max(initial=1)), int(-hi.min(initial=0)), 1)
    else:
        peak = int(np.maximum(np.abs(bq + np.maximum(wi, 0).sum(0) * steps),
                              np.abs(bq + np.minimum(wi, 0).sum(0) * steps)).max(initial=1))
    shift = max(0, math.ceil(math.log2(peak / contract.ACT_MAX))) if peak > contract.ACT_MAX \
        else 0
    return IntegerLayer(wi.astype(np.int8), bq.astype(np.int32), shift, identity_lut(),
                        1.0 / steps, w_scale)


# ---------------------------------------------------------------- simulation and calibration


def float_counts(spec: ReservoirSpec, frames: np.ndarray, *, batch: int = 256) -> np.ndarray:
    """Spike counts of the float model the graph describes (NIR's Euler semantics, reset to
    0, firing on ``v >= threshold`` as the macro does), ``[N, neurons]``."""


    w_in = torch.as_tensor(spec.w_in, dtype=torch.float64)
    w_rec = torch.as_tensor(spec.w_rec, dtype=torch.float64)
    out = []
    with torch.no_grad():
        for lo in range(0, len(frames), batch):
            x = torch.as_tensor(np.asarray(frames[lo:lo + batch], np.float64))
            out.append(run_lif(x, w_in, w_rec, spec.decay, spec.threshold).numpy())
    return (np.concatenate(out) if out else np.zeros((0, spec.neurons))).astype(np.int64)


def count_agreement(a: np.ndarray, b: np.ndarray) -> dict:
    """Spike-count agreement of two runs ``[N, neurons]``."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    corr = float(np.corrcoef(a.ravel(), b.ravel())[0, 1]) if a.std() > 0 and b.std() > 0 \
        else float(np.array_equal(a, b))
    return {"exact_counts": float((a == b).mean()),
            "mean_abs_count_error": float(np.abs(a - b).mean()),
            "total_spikes": [float(a.sum()), float(b.sum())],
            "feature_correlation": corr}


def calibrate(spec: ReservoirSpec, frames: np.ndarray, *, steps: int, levels: int,
              adc_bits: int, clips=(1.0, 0.999, 0.99, 0.98, 0.95, 0.9),
              shifts=(0, 1, 2, 3)) -> tuple[float, int, list]:
    """The code-range clipping and ADC shift whose golden counts come closest to the float
    model's on ``frames`` (mean absolute count error); returns (clip, shift, trials)."""

    ref = float_counts(spec, frames)
    trials = []
    for clip in clips:
        for shift in shifts:
            try:
                lsm, _ = quantize_spec(spec, steps=steps, levels=levels, adc_bits=adc_bits,
                                       adc_shift=shift, clip=clip)
            except (UnsupportedGraphError, ConfigError):
                continue
            err = float(np.abs(golden_counts(lsm, frames).astype(np.int64) - ref).mean())
            trials.append({"clip_quantile": clip, "adc_shift": shift, "mean_abs_count_error": err})
    if not trials:
        raise ConfigError("no code range and ADC shift fits the threshold register")
    best = min(trials, key=lambda t: (t["mean_abs_count_error"], -t["clip_quantile"],
                                      t["adc_shift"]))
    return best["clip_quantile"], best["adc_shift"], trials


def frame_for_graph(ds, inputs: int, steps: int) -> np.ndarray:
    """Frames ``[N, steps, inputs]`` of a data source for a graph of ``inputs`` inputs: audio
    channels pooled onto the inputs (``unit * inputs // channels``), vision framed as the
    visual macro is (its input count must match)."""

    if getattr(ds, "frames", None) is not None:  # a raster dataset
        if ds.frames.shape[1:] != (steps, inputs):
            raise ConfigError(f"{ds.name}: {ds.frames.shape[1]} bins x {ds.frames.shape[2]} "
                              f"channels, the graph takes {steps} x {inputs}")
        return np.asarray(ds.frames, np.uint8)
    if ds.modality == "vision":
        framing = VisionFraming(steps=steps)
        if framing.inputs != inputs:
            raise ConfigError(f"{ds.name}: vision frames have {framing.inputs} inputs, the "
                              f"graph takes {inputs}")
        return frame_vision(ds.events, framing)
    channels = int(ds.sensor[0])
    return frame_audio(ds.events, AudioFraming(steps=steps, channels=inputs,
                                               sensor=channels if channels != inputs else 0))


# ---------------------------------------------------------------- the whole import


def import_graph(graph: nir.NIRGraph, *, steps: int | None = None, levels: int | None = None,
                 adc_bits: int | None = None, adc_shift: int | None = None,
                 dt: float = 1e-4, modality: str = "audio", calibration=None,
                 source: str = "") -> tuple[Bundle, dict]:
    """A bundle of ``graph`` (one macro, ``modality``) and the import record.

    ``steps``, ``levels``, ``adc_bits`` and ``adc_shift`` default to what the graph's
    ``rramlsm`` metadata records, else 100, 256, 10 and 0.  ``calibration``: frames
    ``[N, T, inputs]`` on which the code range and ADC shift are chosen.
    """

    spec = parse_graph(graph, dt=dt)
    hw = spec.hardware
    steps = int(steps if steps is not None else hw.get("steps", 100))
    levels = int(levels if levels is not None else hw.get("levels", 256))
    adc_bits = int(adc_bits if adc_bits is not None else hw.get("adc_bits", 10))
    check_macro_ranges(levels=levels, adc_bits=adc_bits, steps=steps)
    clip, trials = 1.0, []
    if calibration is not None and adc_shift is None:
        clip, adc_shift, trials = calibrate(spec, calibration, steps=steps, levels=levels,
                                            adc_bits=adc_bits)
    shift = int(adc_shift if adc_shift is not None else hw.get("adc_shift", 0))
    if not 0 <= shift <= contract.COLUMN_SUM_BITS:
        raise ConfigError(f"--adc-shift must be in 0..{contract.COLUMN_SUM_BITS}, not {shift}")
    lsm, qinfo = quantize_spec(spec, steps=steps, levels=levels, adc_bits=adc_bits,
                               adc_shift=shift, clip=clip,
                               noise_amplitude=int(hw.get("noise_amplitude", 0)),
                               noise_seed=int(hw.get("noise_seed", 0)))
    calib_counts = None
    if calibration is not None and spec.readout is not None:

        calib_counts = golden_counts(lsm, calibration)
    head, protos, classes = readout_head(spec, steps, calib_counts)
    device = DeviceConfig(levels=levels, g_min_us=0.0, g_max_us=100.0)
    lsm_cfg = {"name": modality, "inputs": spec.inputs, "neurons": spec.neurons,
               "steps": steps, "decay": spec.decay, "threshold": spec.threshold,
               "weight_scale": qinfo["code_step"] / device.g_lsb_us,
               "device": device.__dict__, "adc": ADCConfig(adc_bits, shift).__dict__}
    record = {"source": source, "dt": dt, "nodes": spec.names, "steps": steps,
              "levels": levels, "adc_bits": adc_bits, "adc_shift": shift,
              "decay": spec.decay, "decay_q": lsm.decay_q, "threshold": spec.threshold,
              "threshold_q": lsm.threshold_q, "inputs": spec.inputs, "neurons": spec.neurons,
              "readout": None if spec.readout is None else int(spec.readout.shape[1]),
              "device_codes_from_graph": spec.device_codes is not None
              and bool((lsm.pos == spec.device_codes[0]).all()),
              "quantisation": qinfo, "calibration_trials": trials}
    mb = ModalityBundle(lsm, head, protos, classes,
                        {"lsm": lsm_cfg, "imported_from": source, "nir": {
                            k: v for k, v in record.items() if k != "calibration_trials"}})
    return Bundle({modality: mb}, {"imported_from": source}), record


# ---------------------------------------------------------------- the source frameworks


def nested_graph(input_weights, lif, recurrent, readout=None) -> nir.NIRGraph:
    """``Input -> input_weights -> lsm [-> readout] -> Output`` with ``lsm`` the nested
    graph ``input -> lif <-> w_rec``, ``lif -> output``: the layout :mod:`rramlsm.sw.nir_export`
    writes and snnTorch's and Norse's importers run correctly.  The names sort in the
    graph's order (``nir.read`` returns nodes alphabetically)."""
    n = int(np.asarray(recurrent.weight).shape[0])
    sub = nir.NIRGraph(
        nodes={"input": nir.Input(input_type=np.array([n])), "lif": lif, "w_rec": recurrent,
               "output": nir.Output(output_type=np.array([n]))},
        edges=[("input", "lif"), ("lif", "w_rec"), ("w_rec", "lif"), ("lif", "output")])
    inputs = int(np.asarray(input_weights.weight).shape[1])
    outputs = n if readout is None else int(np.asarray(readout.weight).shape[0])
    nodes = {"input": nir.Input(input_type=np.array([inputs])), "input_weights": input_weights,
             "lsm": sub, "output": nir.Output(output_type=np.array([outputs]))}
    edges = [("input", "input_weights"), ("input_weights", "lsm")]
    if readout is None:
        edges.append(("lsm", "output"))
    else:
        nodes["lsm_readout"] = readout
        edges += [("lsm", "lsm_readout"), ("lsm_readout", "output")]
    return nir.NIRGraph(nodes=nodes, edges=edges)


def canonical_graph(spec: ReservoirSpec, *, dt: float = 1e-4, unit_r: bool = False):
    """The reservoir ``spec`` describes as a :func:`nested_graph` (no readout): folded gains
    and a shared threshold, so the frameworks simulate exactly the float model of the
    graph; ``unit_r``: ``r = 1`` with the weights scaled (Norse's convention)."""
    n, lam = spec.neurons, spec.decay
    tau = np.full(n, dt / (1.0 - lam))
    w_in, w_rec = spec.w_in.T, spec.w_rec.T
    if unit_r:
        w_in, w_rec = w_in / (1.0 - lam), w_rec / (1.0 - lam)
    lif = nir.LIF(tau=tau, r=np.ones(n) if unit_r else tau / dt, v_leak=np.zeros(n),
                  v_threshold=np.full(n, spec.threshold))
    return nested_graph(nir.Linear(weight=w_in.astype(np.float32)), lif,
                        nir.Linear(weight=w_rec.astype(np.float32)))


#: Frameworks a graph can also be run in, to compare (``import-nir --framework``).
FRAMEWORKS = ("snntorch", "norse")


def framework_counts(spec: ReservoirSpec, frames: np.ndarray, framework: str, *,
                     dt: float = 1e-4, batch: int = 256) -> np.ndarray:
    """Spike counts of the graph as ``framework`` (snnTorch or Norse) imports and runs it."""


    if framework not in FRAMEWORKS:
        raise ConfigError(f"framework must be one of {', '.join(FRAMEWORKS)}, not {framework!r}")
    # The importers print and warn about what they do; the report says what matters.
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        if framework == "snntorch":
            from snntorch.import_nir import import_from_nir

            net = import_from_nir(canonical_graph(spec, dt=dt))
        else:
            import norse.torch as norse

            net = norse.from_nir(canonical_graph(spec, dt=dt, unit_r=True), dt=dt)
    out = []
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for lo in range(0, len(frames), batch):
            for module in net.modules():  # snnTorch neurons keep their membrane between calls
                if hasattr(module, "reset_mem"):
                    module.reset_mem()
            x = torch.as_tensor(np.asarray(frames[lo:lo + batch], np.float32))
            state, counts = None, torch.zeros(x.shape[0], spec.neurons)
            for t in range(x.shape[1]):
                o, state = net(x[:, t], state)
                counts += o
            out.append(counts.numpy())
    return (np.concatenate(out) if out else np.zeros((0, spec.neurons))).astype(np.int64)


def fidelity(spec: ReservoirSpec, mb: ModalityBundle, frames: np.ndarray, labels=None, *,
             framework: str | None = None, dt: float = 1e-4, keep_counts: bool = False) -> dict:
    """How closely the macro (golden model) follows the graph on ``frames``: spike counts and
    features against the float model of the graph and against ``framework``'s own run,
    and the readout's accuracy before (float) and after quantisation (the macro's
    classifier), when the graph has a readout and ``labels`` are given."""

    ref = float_counts(spec, frames)
    gold = golden_counts(mb.lsm, frames).astype(np.int64)
    out = {"samples": len(frames), "float_rate": float(ref.mean() / mb.lsm.steps),
           "golden_rate": float(gold.mean() / mb.lsm.steps),
           "golden_vs_float": count_agreement(ref, gold)}
    runs = {"float": ref, "golden": gold}
    if framework:
        fw = framework_counts(spec, frames, framework, dt=dt)
        runs[framework] = fw
        out["framework"] = framework
        out["framework_rate"] = float(fw.mean() / mb.lsm.steps)
        out["golden_vs_framework"] = count_agreement(fw, gold)
        out["float_vs_framework"] = count_agreement(fw, ref)
    if spec.readout is not None and labels is not None:
        labels = np.asarray(labels)
        acc = {}
        for name, counts in runs.items():
            if name == "golden":
                continue
            logits = counts @ spec.readout + mb.lsm.steps * spec.readout_bias
            acc[f"{name}_readout"] = 100.0 * float((np.argmax(logits, 1) == labels).mean())
        acc["golden_float_readout"] = 100.0 * float(
            (np.argmax(gold @ spec.readout + mb.lsm.steps * spec.readout_bias, 1)
             == labels).mean())
        acc["macro"] = 100.0 * float((mb.classify(gold) == labels).mean())
        out["accuracy"] = acc
    if keep_counts:  # for the report's figures; not JSON
        out["counts"] = runs
    return out


def _count_figure(counts: dict) -> str:
    """Golden counts against the framework's (or the float model's): a 2-D histogram and the
    distribution of the differences, as a base64 PNG."""
    plt = pyplot()
    ref_name = next((k for k in counts if k not in ("float", "golden")), "float")
    ref, gold = counts[ref_name].ravel(), counts["golden"].ravel()
    fig, (a, b) = plt.subplots(1, 2, figsize=(9, 3.6))
    top = int(max(ref.max(initial=0), gold.max(initial=0))) + 1
    a.hist2d(ref, gold, bins=min(top, 60), range=[[0, top], [0, top]], cmin=1, cmap="viridis",
             norm="log")
    a.plot([0, top], [0, top], "w--", lw=0.8)
    a.set_xlabel(f"{ref_name} spike count")
    a.set_ylabel("golden model (macro) spike count")
    d = (gold - ref).astype(int)
    lo, hi = max(int(d.min(initial=0)), -10), min(int(d.max(initial=0)), 10)
    b.hist(np.clip(d, lo, hi), bins=np.arange(lo - 0.5, hi + 1.5), color="tab:blue")
    b.set_xlabel(f"golden - {ref_name} (per neuron and sample, clipped at +-10)")
    b.set_ylabel("count")
    fig.tight_layout()
    return png_base64(fig)


def write_report_html(path: Path, record: dict, counts: dict | None = None) -> Path:
    """A short self-contained page of the import record (no external files); with the
    ``counts`` of :func:`fidelity` (``keep_counts``), a figure of them."""


    fid = record.get("fidelity") or {}
    rows = []
    for key in ("golden_vs_float", "golden_vs_framework", "float_vs_framework"):
        if key in fid:
            a = fid[key]
            rows.append(f"<tr><td>{key.replace('_', ' ')}</td><td>{100 * a['exact_counts']:.1f} %"
                        f"</td><td>{a['mean_abs_count_error']:.3f}</td>"
                        f"<td>{a['feature_correlation']:.4f}</td></tr>")
    acc = "".join(f"<tr><td>{html.escape(k)}</td><td>{v:.1f} %</td></tr>"
                  for k, v in (fid.get("accuracy") or {}).items())
    q = record["quantisation"]
    figure = (f'<img alt="spike counts" src="data:image/png;base64,{_count_figure(counts)}">'
              if counts else "")
    body = f"""<!doctype html><meta charset="utf-8"><title>rramlsm import-nir</title>
<style>body{{font-family:sans-serif;max-width:60em;margin:2em auto}}
td,th{{padding:2px 10px;border-bottom:1px solid #ccc}}</style>
<h1>NIR import: {html.escape(str(record['source']))}</h1>
<p>{record['inputs']} inputs, {record['neurons']} neurons, T = {record['steps']}, decay
{record['decay']:.4f} (decay_q {record['decay_q']}), threshold {record['threshold']:.4g}
(threshold_q {record['threshold_q']}), {record['levels']} levels, {record['adc_bits']}-bit ADC,
shift {record['adc_shift']}. Code step {q['code_step']:.4g} ({'exact grid' if q['exact_grid']
else f"clipped at the {q['clip_quantile']} quantile"}), {q['weights_clipped']} weights clipped,
RMS weight error {q['rms_weight_error']:.3g}.</p>
<h2>Spike counts ({fid.get('samples', 0)} samples)</h2>
<table><tr><th>pair</th><th>exact counts</th><th>mean |count error|</th>
<th>feature correlation</th></tr>{''.join(rows)}</table>
{figure}
<h2>Accuracy</h2><table>{acc or '<tr><td>no readout or no labels</td></tr>'}</table>
<h2>Record</h2><pre>{html.escape(json.dumps(record, indent=1, default=str)[:20000])}</pre>
"""
    with atomic_path(path) as tmp:
        tmp.write_text(body)
    return path
