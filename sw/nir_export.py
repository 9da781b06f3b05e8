"""Export an LSM as a NIR graph (Neuromorphic Intermediate Representation).

Mapping of our discrete LIF onto NIR's continuous ``LIF``
(``tau dv/dt = (v_leak - v) + r I``) under forward-Euler with step ``dt``:
``v[t] = (1 - dt/tau) v[t-1] + (dt/tau) r I``.  Choosing ``tau = dt / (1 - lam)``
and ``r = tau / dt`` gives ``v[t] = lam v[t-1] + I`` exactly, with
``v_threshold = Vth`` and ``v_leak = 0``.  NIR has no reset parameter; the
importers (snnTorch) reset to zero immediately after a spike, which is our
hard reset.  ``dt`` defaults to 1e-4 s, the step snnTorch's importer assumes.

Graph: ``input -> input_weights (Linear) -> lsm -> output``, where ``lsm`` is a nested
NIR graph ``input -> lif (LIF) <-> w_rec (Linear)``, ``lif -> output``: the
recurrence lives inside its own subgraph, so the external drive and the
recurrent current are summed at ``lif`` and ``w_rec`` sees only the previous
step's spikes.  snnTorch's ``import_from_nir`` (with nirtorch 2.6) mis-wires the
flat form of the same cycle (it feeds the external input through ``w_rec``); the
nested form imports exactly into snnTorch and into Norse (see tests/test_nir.py).
The node names sort in the graph's order (``input < input_weights < lsm <
output``): ``nir.read`` returns nodes alphabetically, and nirtorch 2.6 fails
on a subgraph it reaches before the node that feeds it.
"""

from __future__ import annotations

from pathlib import Path

import nir
import numpy as np

from rramlsm.errors import BundleError
from rramlsm.sw._io import atomic_path
from rramlsm.sw.device import ADCConfig, CrossbarArrays, DeviceConfig
from rramlsm.sw.lsm import LSMConfig, Reservoir

__all__ = ["to_nir", "reservoir_from_bundle", "bundle_to_nir", "write_nir_files", "DEFAULT_DT"]

DEFAULT_DT = 1e-4


def to_nir(reservoir: Reservoir, *, dt: float = DEFAULT_DT, unit_r: bool = False,
           hardware: dict | None = None) -> nir.NIRGraph:
    """The reservoir as a NIR graph (weights from the sampled crossbars, float32).

    Two exact encodings of the same model under NIR's Euler semantics:
    ``r = tau / dt`` with the weights as they are (default; snnTorch's
    convention), or ``unit_r``: ``r = 1`` with the weights scaled by
    ``1 / (1 - lam)`` (Norse's convention; its importer expects ``r = 1``).
    """
    cfg = reservoir.config
    if dt <= 0:
        raise ValueError(f"dt must be positive, not {dt}")
    w_in, w_rec = (w.T.numpy() for w in reservoir.float_weights())  # NIR Linear: [out, in]
    n = cfg.neurons
    tau = np.full(n, dt / (1.0 - cfg.decay))
    r = np.ones(n) if unit_r else tau / dt
    if unit_r:
        w_in, w_rec = w_in / (1.0 - cfg.decay), w_rec / (1.0 - cfg.decay)
    recurrent = nir.NIRGraph(
        nodes={
            "input": nir.Input(input_type=np.array([n])),
            "lif": nir.LIF(tau=tau, r=r, v_leak=np.zeros(n),
                           v_threshold=np.full(n, cfg.threshold),
                           metadata={"rramlsm": _hardware(reservoir, hardware)}),
            "w_rec": nir.Linear(weight=w_rec),
            "output": nir.Output(output_type=np.array([n])),
        },
        edges=[("input", "lif"), ("lif", "w_rec"), ("w_rec", "lif"), ("lif", "output")],
    )
    nodes = {
        "input": nir.Input(input_type=np.array([cfg.inputs])),
        "input_weights": nir.Linear(weight=w_in),
        "lsm": recurrent,
        "output": nir.Output(output_type=np.array([n])),
    }
    edges = [("input", "input_weights"), ("input_weights", "lsm"), ("lsm", "output")]
    return nir.NIRGraph(nodes=nodes, edges=edges)


def _hardware(reservoir: Reservoir, extra: dict | None) -> dict:
    cfg = reservoir.config
    return {"steps": cfg.steps, "levels": cfg.device.levels, "adc_bits": cfg.adc.bits,
            "adc_shift": cfg.adc.shift, **(extra or {}),
            "pos": np.concatenate([reservoir.w_in.pos, reservoir.w_rec.pos]),
            "neg": np.concatenate([reservoir.w_in.neg, reservoir.w_rec.neg])}


def bundle_to_nir(mb, **kw) -> nir.NIRGraph:
    """A bundle's macro as a NIR graph (:func:`to_nir`), its read-noise settings included."""
    lsm = mb.lsm
    return to_nir(reservoir_from_bundle(mb), **kw,
                  hardware={"noise_amplitude": int(lsm.noise_amplitude),
                            "noise_seed": int(lsm.noise_seed)})


def reservoir_from_bundle(mb) -> Reservoir:
    """The float reservoir of a bundle's macro: its exported conductance codes with the
    float configuration it was made from (``ModalityBundle.config["lsm"]``)."""

    raw = (mb.config or {}).get("lsm")
    if not raw:
        raise BundleError("the bundle does not record its float LSM configuration "
                          "(config.lsm): it cannot be exported as NIR")
    cfg = LSMConfig(**{**raw, "device": DeviceConfig(**raw["device"]),
                       "adc": ADCConfig(**raw["adc"])})
    lsm = mb.lsm
    if (cfg.inputs, cfg.neurons) != (lsm.inputs, lsm.neurons):
        raise BundleError(f"config.lsm says {cfg.inputs} inputs x {cfg.neurons} neurons but "
                          f"the codes are {lsm.inputs} x {lsm.neurons}")
    seed = int(mb.config.get("crossbar_seed", 0))
    n = lsm.inputs
    return Reservoir(cfg, CrossbarArrays(lsm.pos[:n], lsm.neg[:n], cfg.device, seed),
                     CrossbarArrays(lsm.pos[n:], lsm.neg[n:], cfg.device, seed))


def write_nir_files(bundle, folder: Path) -> list[Path]:
    """Each modality's reservoir as a NIR graph (``<modality>.nir``, HDF5; see
    :func:`to_nir`), for snnTorch and other NIR tools."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for m, mb in bundle.modalities.items():
        path = folder / f"{m}.nir"
        with atomic_path(path) as tmp:
            nir.write(tmp, bundle_to_nir(mb))
        written.append(path)
    return written
