"""Trained SRNN weights written onto the same RRAM devices: the contrast of the device sweeps.

The LSM never trains its reservoir: whatever conductances a chip ends up with,
its heads are trained on that chip's features afterwards.  A trained SRNN
(SRNN-CLIP, :mod:`rramlsm.sw.experiments.baselines`) is the opposite case: its input and
recurrent weights are learned in software and then written onto devices as
targets, so every non-ideality perturbs learned values that its heads rely on.
This module makes that transfer with the LSM's device model (same window,
levels, stuck-at faults, drift, read noise and ADC) and runs the transferred
SRNN on the integer golden model, with the heads it was trained with.

Mapping: one weight scale for both arrays, ``weight_scale = max|W| / (g_max -
g_min)`` (float units per uS), so that the largest weight spans the window; a
positive weight is written on G+ with G- left at ``g_min``, a negative one on
G-.  Targets get a Gaussian write error of s.d. ``write_sd_us`` (0: an exact
write-verify loop), then :func:`~rramlsm.sw.device.conductance_codes` applies
drift, the window, the level grid and the stuck-at faults, exactly as for the
LSM's sampled conductances.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import warnings
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from rramlsm.sw._io import atomic_path
from rramlsm.sw.datasets.builtin import cache_dir
from rramlsm.sw.device import ADCConfig, CrossbarArrays, DeviceConfig, conductance_codes
from rramlsm.sw.experiments.audiovisual import calibrate_on_training, chip_seeds
from rramlsm.sw.experiments.baselines import BaselineConfig, train_srnn_clip
from rramlsm.sw.features import dataset_fingerprint, frame_dataset
from rramlsm.sw.golden import golden_counts, quantize_reservoir
from rramlsm.sw.heads import HeadConfig, ProjectionHead
from rramlsm.sw.lsm import PRESETS, LSMConfig, Reservoir, make_reservoir
from rramlsm.sw.zeroshot import (
    ZeroShotConfig,
    evaluate_embeddings,
    linear_probe,
    make_split,
    train_heads,
)

__all__ = ["program_weights", "TrainedSRNN", "train_srnn_for_chip", "save_trained_srnn",
           "load_trained_srnn", "transfer_metrics"]


def program_weights(w_in: np.ndarray, w_rec: np.ndarray, config: LSMConfig, *, seed: int,
                    write_sd_us: float = 0.0) -> Reservoir:
    """Trained float weights ``w_in [inputs, N]``, ``w_rec [N, N]`` written onto differential
    pairs of ``config.device``: a :class:`Reservoir` whose crossbars hold the codes the
    devices ended up with and whose ``weight_scale`` maps them back to float units."""
    w_in, w_rec = np.asarray(w_in, np.float64), np.asarray(w_rec, np.float64)
    if w_in.shape != (config.inputs, config.neurons) or \
            w_rec.shape != (config.neurons, config.neurons):
        raise ValueError(f"weights of shapes {list(w_in.shape)} and {list(w_rec.shape)} do not "
                         f"fit LSM {config.name!r} ({config.inputs} inputs, "
                         f"{config.neurons} neurons)")
    if not (np.isfinite(w_in).all() and np.isfinite(w_rec).all()):
        raise ValueError("trained weights contain NaN or inf")
    if write_sd_us < 0:
        raise ValueError(f"write_sd_us must be >= 0, not {write_sd_us}")
    dev = config.device
    w_max = max(np.abs(w_in).max(), np.abs(w_rec).max())
    if w_max == 0:
        raise ValueError("trained weights are all zero: nothing to program")
    scale = w_max / (dev.g_max_us - dev.g_min_us)
    rng = np.random.default_rng(seed)

    def pair(w: np.ndarray) -> CrossbarArrays:
        codes = []
        for part in (np.clip(w, 0, None), np.clip(-w, 0, None)):
            g = dev.g_min_us + part / scale
            if write_sd_us:
                g = g + rng.normal(0.0, write_sd_us, size=g.shape)
            codes.append(conductance_codes(g, dev, rng))
        return CrossbarArrays(codes[0], codes[1], dev, seed)

    return Reservoir(config.replace(weight_scale=float(scale)), pair(w_in), pair(w_rec))


@dataclass
class TrainedSRNN:
    """One chip seed's SRNN-CLIP, trained in software: what is written onto devices."""

    seed: int
    configs: dict[str, LSMConfig]
    """Per modality: sizes and LIF constants (the calibrated LSM's, the SRNN's start)."""
    weights: dict[str, tuple[np.ndarray, np.ndarray]]
    """Per modality: trained ``(w_in, w_rec)`` (float32)."""
    heads: dict[str, dict]
    """Per modality: the trained head's ``state_dict``."""
    head_configs: dict[str, dict]
    """Per modality: the head's :class:`~rramlsm.sw.heads.HeadConfig` fields."""
    zero_shot: dict
    """Software figures at the selected epoch (float model)."""
    best_epoch: int


def train_srnn_for_chip(seed: int, v, a, *, epochs: int, target_rate: float = 0.05,
                        zeroshot=None, cache: bool = True) -> TrainedSRNN:
    """SRNN-CLIP for chip seed ``seed`` (started from that chip's calibrated reservoirs, the
    split of ``seed``), cached under ``$RRAMLSM_CACHE/srnn`` by data, recipe and seed."""

    zs = zeroshot or ZeroShotConfig()
    bc = BaselineConfig(epochs=epochs)
    key = hashlib.sha256(json.dumps(
        [seed, epochs, target_rate, dataset_fingerprint(v), dataset_fingerprint(a), repr(bc),
         repr(zs), 4],
        default=str).encode()).hexdigest()[:20]
    # Arrays and JSON, never pickle; caches of the older pickled format (.pt) are ignored.
    path = cache_dir() / "srnn" / f"{key}.npz"
    if cache and path.exists():
        try:
            return load_trained_srnn(path)
        except (ValueError, OSError, EOFError, KeyError, TypeError, zipfile.BadZipFile) as e:
            warnings.warn(f"{path}: damaged SRNN cache entry ({e}); training again",
                          RuntimeWarning, stacklevel=2)
    chip = chip_seeds(seed)
    cfgs = {m: calibrate_on_training(PRESETS[m], ds, chip[m], target_rate, classes=zs.seen)
            for m, ds in (("visual", v), ("audio", a))}
    res = {m: make_reservoir(cfgs[m], seed=chip[m]) for m in cfgs}
    fv, fa = frame_dataset(v, cfgs["visual"]), frame_dataset(a, cfgs["audio"])
    split = make_split(v.labels, v.is_train, a.labels, a.is_train, zs, seed)
    r = train_srnn_clip(fv, fa, v.labels, a.labels, split, res, bc, seed=seed)
    encs = dict(zip(("visual", "audio"), r.encoders, strict=True))
    out = TrainedSRNN(
        seed, cfgs,
        {m: (e.srnn.w_in.detach().numpy().copy(), e.srnn.w_rec.detach().numpy().copy())
         for m, e in encs.items()},
        {m: {k: t.detach().clone() for k, t in e.head.state_dict().items()}
         for m, e in encs.items()},
        {m: dataclasses.asdict(e.head.config) for m, e in encs.items()},
        r.zero_shot, r.best_epoch)
    if cache:
        save_trained_srnn(path, out)
    return out


def save_trained_srnn(path: Path, trained: TrainedSRNN) -> None:
    """``trained`` as one ``.npz``: the weights and head tensors as arrays, everything
    else as a JSON string (``meta``); readable with ``allow_pickle=False``."""

    arrays = {}
    for m, (w_in, w_rec) in trained.weights.items():
        arrays[f"{m}/w_in"], arrays[f"{m}/w_rec"] = w_in, w_rec
    for m, state in trained.heads.items():
        for k, t in state.items():
            arrays[f"{m}/head/{k}"] = t.detach().cpu().numpy()
    meta = {"seed": trained.seed,
            "configs": {m: dataclasses.asdict(c) for m, c in trained.configs.items()},
            "head_configs": trained.head_configs, "zero_shot": trained.zero_shot,
            "best_epoch": trained.best_epoch,
            "head_tensors": {m: list(state) for m, state in trained.heads.items()}}
    with atomic_path(path, suffix=".npz") as tmp, open(tmp, "wb") as f:
        np.savez(f, meta=np.array(json.dumps(meta)), **arrays)


def load_trained_srnn(path: Path) -> TrainedSRNN:
    """What :func:`save_trained_srnn` wrote (no pickle is ever read)."""
    with np.load(path, allow_pickle=False) as z:
        meta = json.loads(str(z["meta"]))
        configs = {m: LSMConfig(**{**c, "device": DeviceConfig(**c["device"]),
                                   "adc": ADCConfig(**c["adc"])})
                   for m, c in meta["configs"].items()}
        weights = {m: (z[f"{m}/w_in"], z[f"{m}/w_rec"]) for m in configs}
        heads = {m: {k: torch.from_numpy(z[f"{m}/head/{k}"]) for k in keys}
                 for m, keys in meta["head_tensors"].items()}
    head_configs = {m: {**h, "hidden": tuple(h["hidden"])}
                    for m, h in meta["head_configs"].items()}
    return TrainedSRNN(int(meta["seed"]), configs, weights, heads, head_configs,
                       meta["zero_shot"], int(meta["best_epoch"]))


def transfer_metrics(trained: TrainedSRNN, v, a, device: DeviceConfig, *,
                     adc: ADCConfig | None = None, write_sd_us: float = 0.0,
                     hardware_noise: bool = False, zeroshot=None,
                     retrain_epochs: int | None = None) -> dict:
    """The trained SRNN written onto ``device`` and run on the golden model (read noise when
    ``hardware_noise``), embedded by its own trained heads: the sweep's metrics.

    With ``retrain_epochs``, also ``heads_retrained_*``: new heads trained on this chip's
    (hardware) features, as the LSM's are on every chip; the SRNN weights stay as trained.
    """

    zs = zeroshot or ZeroShotConfig()
    data = {"visual": v, "audio": a}
    chip = chip_seeds(trained.seed)
    rates, emb = {}, {}
    for m, ds in data.items():
        cfg = trained.configs[m].replace(device=device, adc=adc or trained.configs[m].adc)
        res = program_weights(*trained.weights[m], cfg, seed=chip[m], write_sd_us=write_sd_us)
        lsm = quantize_reservoir(res, noise=hardware_noise, noise_seed=chip[m])
        rates[m] = golden_counts(lsm, frame_dataset(ds, cfg)).astype(np.float32) / cfg.steps
        head = ProjectionHead(HeadConfig(**trained.head_configs[m]))
        head.load_state_dict(trained.heads[m])
        with torch.no_grad():
            emb[m] = head.eval()(torch.as_tensor(rates[m])).numpy()
    split = make_split(v.labels, v.is_train, a.labels, a.is_train, zs, trained.seed)
    r = evaluate_embeddings(emb["visual"], emb["audio"], v.labels, a.labels, split)
    extra = {}
    if retrain_epochs:
        zr = dataclasses.replace(zs, epochs=retrain_epochs)
        heads = train_heads(rates["visual"], rates["audio"], v.labels, a.labels, split, zr,
                            seed=trained.seed)
        with torch.no_grad():
            ev = heads.visual.eval()(torch.as_tensor(rates["visual"])).numpy()
            ea = heads.audio.eval()(torch.as_tensor(rates["audio"])).numpy()
        rr = evaluate_embeddings(ev, ea, v.labels, a.labels, split)
        extra = {"heads_retrained_seen_top1": rr["seen"]["a2v"],
                 "heads_retrained_unseen_top1": rr["unseen"]["a2v"]}
    return {"seen_top1": r["seen"]["a2v"], "unseen_top1": r["unseen"]["a2v"],
            "probe_visual_top1": linear_probe(rates["visual"], v.labels, v.is_train,
                                              seed=trained.seed),
            "probe_audio_top1": linear_probe(rates["audio"], a.labels, a.is_train,
                                             seed=trained.seed),
            "sw_seen_top1": trained.zero_shot["seen_top1"],
            "sw_unseen_top1": trained.zero_shot["unseen_top1"],
            "firing_rate_visual": float(rates["visual"].mean()),
            "firing_rate_audio": float(rates["audio"].mean()), **extra}
