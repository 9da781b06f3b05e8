"""The paper's algorithm end to end, over several seeds, software and hardware paths.

For each seed (one sampled pair of chips and one head initialisation):

1. sample the visual and audio crossbars and calibrate each reservoir's
   weight scale to the target firing rate on training data (or keep the
   paper's constants);
2. spike counts of every sample from the float model (software path) and the
   integer golden model (hardware path), cached on disk;
3. train the two heads with the CLIP loss on seen classes, selecting the
   checkpoint on validation pairs;
4. software figures: zero-shot retrieval and prototypes on float features,
   linear probes, the closed-form alignments (CCA, ridge) for comparison;
5. hardware figures: the heads quantised (:func:`~rramlsm.sw.heads.quantize_head`)
   and run on golden-model counts, same metrics; plus the 9-way prototype
   classifier the macro computes, evaluated on the test split.

Figures are aggregated to mean and standard deviation over seeds.
"""

from __future__ import annotations

import dataclasses
import functools
import time
from dataclasses import dataclass, field

import numpy as np

from rramlsm.errors import ConfigError
from rramlsm.sw._checks import check_int, check_real, check_seeds
from rramlsm.sw.bundle import Bundle, ModalityBundle, quantize_prototypes
from rramlsm.sw.datasets import load_source
from rramlsm.sw.datasets.base import EventDataset
from rramlsm.sw.experiments._ray import local_cpus, map_runs
from rramlsm.sw.features import (
    binned_input,
    firing_rate,
    frame_dataset,
    known_counts,
    lsm_counts,
)
from rramlsm.sw.golden import quantize_reservoir
from rramlsm.sw.heads import quantize_head
from rramlsm.sw.lsm import (
    PRESETS,
    Calibration,
    LSMConfig,
    calibrate_weight_scale,
    make_reservoir,
)
from rramlsm.sw.readout import check_windows, parse_readout, readout_windows, with_readout
from rramlsm.sw.stats import INTERVAL_METHOD, t_interval
from rramlsm.sw.zeroshot import (
    ZeroShotConfig,
    class_prototypes,
    evaluate_embeddings,
    fit_cca,
    fit_ridge,
    generalized_zero_shot,
    linear_probe,
    make_split,
    retrieval_top1,
    selection_protocol,
    train_heads,
)

__all__ = ["PipelineConfig", "SeedResult", "PipelineResult", "run_pipeline", "PAPER_FIGURES",
           "aggregate_seeds", "run_seed", "calibrate_on_training", "calibration_on_training",
           "calibration_samples", "CALIBRATION_SAMPLES", "chip_seeds", "chance_levels",
           "DEFAULT_WINDOWS"]

#: The figures of Lin et al., Nature Computational Science 5, 37-47 (2025) (linear probes
#: and zero-shot retrieval in its Results, training-cost ratios in its abstract), for the
#: report's comparison table.
PAPER_FIGURES = {
    "zero_shot_seen_top1": {"software": 66.1, "hardware": 67.42, "srnn_clip": 82.28,
                            "protonet": 56.9},
    "zero_shot_unseen_top1": {"software": 88.0, "hardware": 87.5, "srnn_clip": 74.0,
                              "protonet": 81.69},
    "probe_visual_top1": {"software": 89.11, "hardware": 89.66, "srnn": 96.96},
    "probe_audio_top1": {"software": 70.79, "hardware": 70.11, "srnn": 82.62},
    "training_cost_srnn_clip_ratio": 152.83,
    "training_cost_protonet_ratio": 393.07,
}


_PER_MODALITY = {"target_rate", "lsm", "framing"}
#: Readout windows of a run that names none: chosen per seed on the seen classes' training
#: samples.  Real speech says why (docs/TUNING.md, "Defaults from real data"): one total
#: count per neuron loses the order of an utterance's sounds, and one speaker's real
#: recordings read 5-6 points better in 3 windows; a fixed count fitted to those recordings
#: would be a constant fitted to the files, the choice is a procedure fitted to the data.
DEFAULT_WINDOWS = {"visual": "auto", "audio": "auto"}


@dataclass(frozen=True)
class PipelineConfig:
    """Data sources, seeds and settings of one run."""

    visual: str = "digits"
    audio: str = "speech"
    seeds: tuple[int, ...] = (0, 1, 2, 3, 4)
    target_rate: float | None = 0.05
    """Calibrate each reservoir to this firing rate; None keeps the paper's constants."""
    zeroshot: ZeroShotConfig = ZeroShotConfig()
    align_dim: int = 32
    """Canonical dimensions kept by CCA."""
    align_regs: tuple[float, ...] = (0.01, 0.1, 1.0)
    """Regularisation strengths tried for CCA and ridge (chosen on validation pairs)."""
    hardware_noise: bool = False
    """Hardware path with the golden model's read noise (its level: the devices'
    ``read_noise``)."""
    lsm_overrides: dict = field(default_factory=dict)
    """Changes to both reservoirs' preset configurations (e.g. ``device``, ``adc``,
    ``neurons``), applied before calibration: the sweeps' non-idealities."""
    deploy_device: dict = field(default_factory=dict)
    """Device field changes that happen *after* calibration and training (e.g. drift:
    ``{"drift_nu": 0.05, "drift_time_s": 3600}``): the hardware path runs the chip as
    deployed, with the weight scale, threshold and heads of the chip as calibrated."""
    recalibrate_deployed: bool = False
    """Re-pick the threshold register on the deployed chip for ``target_rate`` (from
    unlabelled training samples, as a macro can in the field); heads stay as trained."""
    head_features: str = "float"
    """What the heads are trained on: ``"float"`` (the software model's spike rates) or
    ``"golden"`` (the macro's counts, with its ADC and the configured read noise: heads fitted
    to what the hardware computes; the chip as calibrated, before any deployment drift)."""
    per_modality: dict = field(default_factory=dict)
    """Per-modality changes over the above (a tuned configuration,
    :mod:`rramlsm.sw.experiments.tune`):
    ``{"visual": {"target_rate": 0.08, "lsm": {"inputs": 512, "steps": 75}}, ...}``; a
    ``"framing"`` entry (how the data were framed) is recorded in the bundle, so that ``eval``
    and ``cosim`` frame new data the same way."""
    windows: dict = field(default_factory=lambda: dict(DEFAULT_WINDOWS))
    """Readout windows per modality: a count; ``"auto"`` to choose it per seed by
    cross-validation on the seen classes' training samples among the counts dividing the
    steps (:func:`~rramlsm.sw.readout.select_windows`); or ``None`` for the configuration's
    (the preset's 1, or a tuned ``per_modality`` count).  A modality not named takes
    :data:`DEFAULT_WINDOWS` (``"auto"``), as ``--windows m=W`` leaves the other one."""
    readout: dict = field(default_factory=dict)
    """What the windows hold per modality (default ``"count"``): ``"count"``, ``"trace"`` or
    ``"trace:K"`` (:func:`~rramlsm.sw.readout.parse_readout`)."""

    def __post_init__(self):
        if self.recalibrate_deployed and self.target_rate is None:
            raise ConfigError("PipelineConfig recalibrate_deployed needs a target_rate")
        if not self.seeds:
            raise ConfigError("PipelineConfig needs at least one seed")
        check_seeds("PipelineConfig", self.seeds)
        if self.target_rate is not None:
            check_real("PipelineConfig", "target_rate", self.target_rate, lo=0.0, hi=1.0,
                       lo_open=True, hi_open=True)
        check_int("PipelineConfig", "align_dim", self.align_dim, lo=1)
        for m, w in self.windows.items():
            if m not in ("visual", "audio"):
                raise ConfigError(f"PipelineConfig windows: unknown modality {m!r}")
            if w not in ("auto", None) and (isinstance(w, bool) or not isinstance(w, int)
                                            or w < 1):
                raise ConfigError(f"PipelineConfig {m} windows must be a positive integer, "
                                  f"'auto' or None, not {w!r}")
        object.__setattr__(self, "windows", {**DEFAULT_WINDOWS, **self.windows})
        for m, spec in self.readout.items():
            if m not in ("visual", "audio"):
                raise ConfigError(f"PipelineConfig readout: unknown modality {m!r}")
            try:
                parse_readout(spec)
            except ValueError as e:
                raise ConfigError(f"PipelineConfig {m} {e}") from None
        if self.head_features not in ("float", "golden"):
            raise ConfigError(f"PipelineConfig head_features must be 'float' or 'golden', not "
                              f"{self.head_features!r}")
        for m, changes in self.per_modality.items():
            if set(changes) - _PER_MODALITY:
                raise ConfigError(f"PipelineConfig per_modality {m}: unknown keys "
                                  f"{sorted(set(changes) - _PER_MODALITY)}")
            if "target_rate" in changes:
                check_real("PipelineConfig", f"{m} target_rate", changes["target_rate"],
                           lo=0.0, hi=1.0, lo_open=True, hi_open=True)
        # A fixed window count must divide its reservoir's steps: refused here, before any
        # data is read, with the counts that do.
        for m, w in self.windows.items():
            if w not in ("auto", None):
                check_windows(m, self.overrides(m).get("steps", PRESETS[m].steps), w)

    def rate(self, modality: str) -> float | None:
        """The firing rate ``modality``'s reservoir is calibrated to (None: paper constants)."""
        if self.target_rate is None:
            return None
        return self.per_modality.get(modality, {}).get("target_rate", self.target_rate)

    def overrides(self, modality: str) -> dict:
        """``lsm_overrides`` with ``modality``'s own changes on top."""
        return {**self.lsm_overrides, **self.per_modality.get(modality, {}).get("lsm", {})}

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


@dataclass
class SeedResult:
    seed: int
    configs: dict[str, LSMConfig]
    rates: dict[str, dict[str, float]]
    software: dict
    hardware: dict
    alignment: dict
    best_epoch: int
    history: list[dict]
    bundle: Bundle
    embeddings: dict = field(default_factory=dict)
    """Software and hardware embeddings and golden-model spike counts of every sample, and
    the split (for the report)."""
    train_seconds: float = 0.0
    """Wall time of the head training."""
    readout: dict = field(default_factory=dict)
    """Per modality: the readout windows used (and, when chosen, every candidate's
    cross-validated score)."""
    quantize_seconds: float = 0.0
    """Wall time of quantising the heads to int8 (both modalities)."""


@dataclass
class PipelineResult:
    config: PipelineConfig
    seeds: list[SeedResult]
    metrics: dict
    visual: EventDataset
    audio: EventDataset


def chip_seeds(seed: int, modalities: tuple[str, ...] = ("visual", "audio")) -> dict[str, int]:
    """Distinct chips per modality for run ``seed``: the first modality's macro is sampled
    with seed 2s, the second with 2s + 1 (every path that samples a run's chips uses this)."""
    return {m: 2 * seed + i for i, m in enumerate(modalities)}


#: Training samples the firing-rate calibration runs on, drawn evenly from the classes.
#: 16 hold the rate within about 3 % of the target on 256 other samples (measured on the
#: built-in digits and speech, docs/ARCHITECTURE.md) at an eighth of 128's cost.
CALIBRATION_SAMPLES = 16


def calibration_samples(ds, limit: int, seed: int, classes=None) -> np.ndarray:
    """``limit`` training samples of ``ds``, round-robin over the classes in a seeded order.

    Real datasets are often stored class by class (N-MNIST's ``Train/0/...`` first), so
    the first samples would all be one digit.  ``classes``: draw from these classes only
    (the zero-shot protocol's *seen* classes: no sample of an unseen class, labelled or
    not, may reach calibration); None: every class."""
    train = np.flatnonzero(ds.is_train)
    if classes is not None:
        train = train[np.isin(np.asarray(ds.labels)[train], list(classes))]
    if len(train) == 0:
        which = "" if classes is None else f" of classes {sorted(classes)}"
        raise ConfigError(f"{ds.name}: no training samples{which} to calibrate the reservoir on")
    rng = np.random.default_rng(seed)
    labels = np.asarray(ds.labels)[train]
    per_class = [rng.permutation(train[labels == c]) for c in np.unique(labels)]
    order = [i for rank in range(max(len(p) for p in per_class))
             for p in per_class if rank < len(p) for i in (p[rank],)]
    return np.sort(np.asarray(order[:limit], np.int64))


def calibration_on_training(cfg: LSMConfig, ds, seed: int, target: float | None, *,
                            limit: int = CALIBRATION_SAMPLES,
                            classes=None) -> Calibration | None:
    """The calibration of ``cfg`` to ``target`` firing on ``limit`` training samples of ``ds``
    (events or rasters; of ``classes`` only, :func:`calibration_samples`), with its cost
    (passes x samples); ``target`` None: none."""
    if target is None:
        return None
    train = calibration_samples(ds, limit, seed, classes)
    return calibrate_weight_scale(cfg, frame_dataset(ds, cfg, train), seed=seed,
                                  target_rate=target)


def calibrate_on_training(cfg: LSMConfig, ds, seed: int, target: float | None, *,
                          limit: int = CALIBRATION_SAMPLES, classes=None) -> LSMConfig:
    """``cfg`` with the weight scale that gives ``target`` firing on ``limit`` training
    samples of ``ds`` (:func:`calibration_on_training`); ``target`` None keeps ``cfg``."""
    cal = calibration_on_training(cfg, ds, seed, target, limit=limit, classes=classes)
    return cfg if cal is None else cal.config


def _calibrated(preset: str, ds: EventDataset, seed: int, target: float | None,
                overrides: dict | None = None, classes=None) -> LSMConfig:
    return calibrate_on_training(PRESETS[preset].replace(**(overrides or {})), ds, seed, target,
                                 classes=classes)


def _alignment(kind: str, rv, ra, v_labels, a_labels, split, cfg: PipelineConfig) -> dict:
    tv, ta = split.pairs(None)
    lv, la = v_labels[split.val_v], a_labels[split.val_a]
    best = None
    for reg in cfg.align_regs:
        if kind == "cca":
            fv, fa = fit_cca(rv[tv], ra[ta], cfg.align_dim, reg)
        else:
            fv, fa = fit_ridge(rv[tv], ra[ta], reg)
        ev, ea = fv(rv), fa(ra)
        val = retrieval_top1(ea[split.val_a], la, ev[split.val_v], lv)
        if best is None or val > best[0]:
            best = (val, reg, ev, ea)
    _, reg, ev, ea = best
    r = evaluate_embeddings(ev, ea, v_labels, a_labels, split)
    return {"reg": reg, "seen_top1": r["seen"]["a2v"], "unseen_top1": r["unseen"]["a2v"]}


def _zero_shot_summary(r: dict) -> dict:
    return {
        "seen_top1": r["seen"]["a2v"], "unseen_top1": r["unseen"]["a2v"],
        "v2a_seen_top1": r["seen"]["v2a"], "v2a_unseen_top1": r["unseen"]["v2a"],
        "prototype_seen_top1": r["seen"]["a2v_prototype"],
        "prototype_unseen_top1": r["unseen"]["a2v_prototype"],
    }


def raw_probes(data: dict, configs: dict, cache: dict | None = None) -> dict:
    """``raw_<modality>_top1``: a linear probe on each modality's raw input, binned like its
    reservoir's readout (``configs``: the same framing and windows), the reference for what
    the reservoir keeps.  Deterministic (the probe's solver is), so ``cache`` keeps them
    across seeds."""
    cache = {} if cache is None else cache
    out = {}
    for m, ds in data.items():
        cfg = configs[m]
        key = (m, cfg.inputs, cfg.steps, cfg.windows)
        if key not in cache:
            cache[key] = linear_probe(binned_input(ds, cfg), ds.labels, ds.is_train)
        out[f"raw_{m}_top1"] = cache[key]
    return out


def run_seed(seed: int, v: EventDataset, a: EventDataset, cfg: PipelineConfig,
             progress, raw_cache: dict | None = None, *,
             zero_shot_only: bool = False) -> SeedResult:
    """One seed of the protocol: calibration, features, heads, both paths' figures and the
    bundle.  ``zero_shot_only``: skip the linear probes and the closed-form alignments
    (a split rotation keeps only the zero-shot figures; their dicts stay empty)."""
    chip = chip_seeds(seed)
    # Calibration sees the seen classes' training samples only (unseen ones never do); so
    # does the choice of readout windows.
    seen = cfg.zeroshot.seen
    configs = {m: _calibrated(m, ds, chip[m], cfg.rate(m), cfg.overrides(m), seen)
               for m, ds in (("visual", v), ("audio", a))}
    data = {"visual": v, "audio": a}
    readout, known = {}, {}
    for m, ds in data.items():
        train = trains = None
        if cfg.windows.get(m) is None:
            readout[m] = {"windows": configs[m].windows, "steps": configs[m].steps}
        else:
            train = np.flatnonzero(ds.is_train & np.isin(ds.labels, seen))
            configs[m], readout[m] = readout_windows(
                configs[m], cfg.windows[m], lambda c=configs[m], ds=ds, i=train:
                frame_dataset(ds, c, i), ds.labels[train], seed=chip[m], keep_trains=True)
            trains = readout[m].pop("trains", None)
        if m in cfg.readout:
            configs[m] = with_readout(configs[m], cfg.readout[m])
        # The choice's float pass over the seen training samples is the feature
        # extraction's for them (the same reservoir; windows only sum its trains).
        known[m] = known_counts(train, trains, configs[m])
        readout[m].update(readout=configs[m].readout, trace_shift=configs[m].trace_shift,
                          **({"shared_pass": True} if known[m] is not None else {}))
    raw_probe = {} if zero_shot_only else raw_probes(data, configs, raw_cache)
    deployed = {m: configs[m].replace(device=dataclasses.replace(configs[m].device,
                                                                 **cfg.deploy_device))
                if cfg.deploy_device else configs[m] for m in data}
    if cfg.deploy_device and cfg.recalibrate_deployed:
        # Only the weight-scale / threshold ratio matters, so this re-picks the threshold
        # register (in ADC units) of the deployed chip; codes, heads and ADC stay.
        deployed = {m: calibrate_on_training(deployed[m], data[m], chip[m], cfg.rate(m),
                                             classes=seen) for m in data}
    counts = {m: {"float": lsm_counts(data[m], configs[m], seed=chip[m], path="float",
                                      known=known[m]),
                  "golden": lsm_counts(data[m], deployed[m], seed=chip[m], path="golden",
                                       noise=cfg.hardware_noise)} for m in data}
    # The heads train, and the int8 heads take their ranges, on one set of training
    # features: the float model's counts (those of the feature extraction: no further pass
    # over the training samples), or, hardware-aware, the golden model's counts of the chip
    # as it was when the heads were made (a pass of its own, counted in the training cost).
    fit_counts = {m: counts[m]["float"] if cfg.head_features == "float"
                  else counts[m]["golden"] if not cfg.deploy_device
                  else lsm_counts(data[m], configs[m], seed=chip[m], path="golden",
                                  noise=cfg.hardware_noise) for m in data}
    # Counts per readout window; a rate is a count over the window's steps.
    scale = {m: configs[m].feature_scale for m in data}
    rates = {m: {p: counts[m][p].astype(np.float32) / scale[m] for p in counts[m]} for m in data}
    zs = cfg.zeroshot
    split = make_split(v.labels, v.is_train, a.labels, a.is_train, zs, seed)
    t0 = time.perf_counter()
    fit = {m: fit_counts[m].astype(np.float32) / scale[m] for m in data}
    trained = train_heads(fit["visual"], fit["audio"], v.labels, a.labels, split, zs, seed=seed,
                          progress=progress)
    train_seconds = time.perf_counter() - t0
    heads = {"visual": trained.visual, "audio": trained.audio}

    # Software path.
    import torch

    with torch.no_grad():
        emb_sw = {m: heads[m](torch.as_tensor(rates[m]["float"])).numpy() for m in data}
    r_sw = evaluate_embeddings(emb_sw["visual"], emb_sw["audio"], v.labels, a.labels, split)

    def probes(path: str) -> dict:
        if zero_shot_only:
            return {}
        return {f"{m}_top1": linear_probe(rates[m][path], ds.labels, ds.is_train, seed=seed)
                for m, ds in data.items()} | raw_probe

    software = {"zero_shot": _zero_shot_summary(r_sw),
                "gzsl": generalized_zero_shot(emb_sw["visual"], emb_sw["audio"], v.labels,
                                              a.labels, split), "probe": probes("float")}
    hist = trained.history
    software["test_selected"] = {
        "seen_top1": max(h["test"]["seen"]["a2v"] for h in hist),
        "unseen_top1": max(h["test"]["unseen"]["a2v"] for h in hist),
        "unseen_epoch": int(np.argmax([h["test"]["unseen"]["a2v"] for h in hist])) + 1,
    }

    # Hardware path: integer heads on golden-model counts, calibrated on training samples.
    train_v, train_a = split.training_indices()
    calib = {"visual": train_v, "audio": train_a}
    t0 = time.perf_counter()
    iheads = {m: quantize_head(heads[m], fit_counts[m][calib[m]], scale[m]) for m in data}
    quantize_seconds = time.perf_counter() - t0
    emb_hw = {m: iheads[m](counts[m]["golden"]) for m in data}
    # The hardware figure is the macro's own arithmetic: the image keys enrolled as the
    # compare memory stores rows (unit length, int8), integer dot products with the int8
    # queries, ties to the lowest row.  Cosine on the same embeddings is kept, named so.
    r_hw = evaluate_embeddings(emb_hw["visual"], emb_hw["audio"], v.labels, a.labels, split,
                               integer=True)
    r_hw_cosine = evaluate_embeddings(emb_hw["visual"].astype(np.float64),
                                      emb_hw["audio"].astype(np.float64), v.labels, a.labels,
                                      split)
    hardware = {"zero_shot": _zero_shot_summary(r_hw),
                "zero_shot_cosine": _zero_shot_summary(r_hw_cosine),
                "gzsl": generalized_zero_shot(emb_hw["visual"], emb_hw["audio"], v.labels,
                                              a.labels, split, integer=True),
                "probe": probes("golden")}

    # The macro's classifier: prototypes from the other modality's integer embeddings
    # (seen and unseen classes), evaluated 9-way on the test split.
    classes = np.array(sorted((*zs.seen, *zs.unseen)))
    labels = {"visual": v.labels, "audio": a.labels}
    other = {"visual": "audio", "audio": "visual"}
    modalities = {}
    classifier = {}
    for m in data:
        o = other[m]
        protos = quantize_prototypes(class_prototypes(emb_hw[o].astype(np.float64), labels[o],
                                                      classes))
        lsm = quantize_reservoir(make_reservoir(deployed[m], seed=chip[m]),
                                 noise=cfg.hardware_noise, noise_seed=chip[m])
        framing = cfg.per_modality.get(m, {}).get("framing")
        mb = ModalityBundle(lsm, iheads[m], protos, classes,
                            {"lsm": dataclasses.asdict(configs[m]), "crossbar_seed": chip[m],
                             "prototypes_from": o, **({"framing": framing} if framing else {})})
        modalities[m] = mb
        test = np.flatnonzero(~data[m].is_train & np.isin(labels[m], classes))
        pred = mb.classify(counts[m]["golden"][test])
        classifier[f"{m}_top1"] = 100.0 * float((pred == labels[m][test]).mean())
    hardware["classifier"] = classifier

    alignment = {"clip": {"seen_top1": r_sw["seen"]["a2v"], "unseen_top1": r_sw["unseen"]["a2v"]}}
    for kind in () if zero_shot_only else ("cca", "ridge"):
        alignment[kind] = _alignment(kind, rates["visual"]["float"], rates["audio"]["float"],
                                     v.labels, a.labels, split, cfg)
    fire = {m: {"float": firing_rate(data[m], configs[m], counts[m]["float"], seed=chip[m]),
                "golden": firing_rate(data[m], deployed[m], counts[m]["golden"], seed=chip[m],
                                      path="golden", noise=cfg.hardware_noise)} for m in data}
    emb = {"software": emb_sw, "hardware": emb_hw, "split": split,
           "golden_counts": {m: counts[m]["golden"] for m in data}}
    bundle = Bundle(modalities, {"pipeline": cfg.to_dict(), "seed": seed})
    return SeedResult(seed, configs, fire, software, hardware, alignment, trained.best_epoch,
                      hist, bundle, emb, train_seconds, readout, quantize_seconds)


def chance_levels(zs: ZeroShotConfig) -> dict:
    """Chance (percent) of each headline figure: a uniform guess among the classes that
    compete (seen: the seen classes; unseen: the unseen ones; GZSL: all of them)."""
    n_seen, n_unseen = len(zs.seen), len(zs.unseen)
    every = 100.0 / (n_seen + n_unseen)
    return {"seen_top1": 100.0 / n_seen, "unseen_top1": 100.0 / n_unseen,
            "probe_top1": 10.0,
            "gzsl": {"seen": every, "unseen": every, "harmonic_mean": every}}


def aggregate_seeds(values: list) -> dict | float:
    """Mean over seeds of nested dicts of numbers, with ``*_sd`` (sample s.d.) and ``*_ci95``
    (95 % t interval of the mean, :func:`~rramlsm.sw.stats.t_interval`; None for one seed)
    siblings for the spread."""
    first = values[0]
    if isinstance(first, dict):
        out = {}
        for k in first:
            agg = aggregate_seeds([v[k] for v in values])
            out[k] = agg
            if not isinstance(agg, dict) and isinstance(first[k], float):
                out[f"{k}_sd"] = float(np.std([v[k] for v in values], ddof=1)) \
                    if len(values) > 1 else 0.0
                out[f"{k}_ci95"] = t_interval([v[k] for v in values])
        return out
    if isinstance(first, str):
        return first
    return float(np.mean(values))


def _seed_task(seed: int, v: EventDataset, a: EventDataset, cfg: PipelineConfig,
               raw_cache: dict) -> SeedResult:
    return run_seed(seed, v, a, cfg, None, raw_cache)


def run_pipeline(config: PipelineConfig = PipelineConfig(), *, progress: bool = True,
                 visual: EventDataset | None = None, audio: EventDataset | None = None,
                 cpus: int | None = 1) -> PipelineResult:
    """Run every seed and aggregate; ``visual`` / ``audio`` override the sources.

    ``cpus``: local CPUs (None: all).  Above 1, with several seeds, the seeds run as Ray
    tasks, one core each: a seed is thousands of small products that a second thread does
    not speed up, so two seeds at once take the time of one.  The figures are the same
    either way (a seed's run does not depend on the thread count; tested).
    """
    from tqdm.auto import tqdm

    t0 = time.perf_counter()
    v = visual if visual is not None else load_source(config.visual, progress=progress)
    a = audio if audio is not None else load_source(config.audio, progress=progress)
    if v.modality != "vision":
        raise ConfigError(f"--visual {config.visual!r} is an {v.modality} source")
    if a.modality != "audio":
        raise ConfigError(f"--audio {config.audio!r} is a {a.modality} source")
    # Deterministic (the probe's solver is), so computed once for every seed.
    raw_cache: dict = {}
    cpus = local_cpus(cpus)
    if cpus > 1 and len(config.seeds) > 1:
        data = {"visual": v, "audio": a}
        if not any(config.windows.get(m) is not None for m in data):
            # Here, while the workers start, rather than once in every task: the probe
            # needs only the framing and readout, which calibration does not change.
            raw_probes(data, {m: PRESETS[m].replace(**config.overrides(m)) for m in data},
                       raw_cache)
        bar = tqdm(total=len(config.seeds), desc="seeds", unit="seed", disable=not progress,
                   leave=False)
        seeds = map_runs(functools.partial(_seed_task, raw_cache=raw_cache),
                         [(s, config) for s in config.seeds], v, a, cpus, bar)
    else:
        bar = tqdm(total=len(config.seeds) * config.zeroshot.epochs, desc="training heads",
                   unit="epoch", disable=not progress, leave=False)
        seeds = [run_seed(s, v, a, config, bar, raw_cache) for s in config.seeds]
    bar.close()
    metrics = {
        "software": aggregate_seeds([s.software for s in seeds]),
        "hardware": aggregate_seeds([s.hardware for s in seeds]),
        "alignment": aggregate_seeds([s.alignment for s in seeds]),
        "firing_rate": aggregate_seeds([s.rates for s in seeds]),
        # The windows each seed's readout used (chosen on seen training samples with "auto").
        "readout": {m: {"windows": [s.readout[m]["windows"] for s in seeds],
                        "kind": seeds[0].readout[m]["readout"],
                        **({"trace_shift": [s.readout[m]["trace_shift"] for s in seeds]}
                           if seeds[0].readout[m]["readout"] == "trace" else {}),
                        **({"cv_top1": aggregate_seeds([s.readout[m]["scores"] for s in seeds])}
                           if "scores" in seeds[0].readout[m] else {})}
                    for m in seeds[0].readout},
        "chance": chance_levels(config.zeroshot),
        "protocol": {
            "selection": selection_protocol(config.zeroshot),
            "test_selected": "software.test_selected: best epoch on the test split "
                             "(the authors' scripts' protocol; optimistic, for comparison only)",
            "pools": "seen: test split; unseen: all samples (never trained on); "
                     f"at most {config.zeroshot.pool_per_class} per class and modality",
            "zero_shot_direction": "audio query -> image retrieved (v2a_* the other way)",
            "heads_trained_on": config.head_features,
            "seeds": list(config.seeds),
            "seen": list(config.zeroshot.seen),
            "unseen": list(config.zeroshot.unseen),
            "intervals": INTERVAL_METHOD,
            "gzsl": "generalized zero-shot: audio queries of seen and unseen classes retrieve "
                    "among one image pool of every class (gzsl.seen / gzsl.unseen: top-1 over "
                    "seen / unseen queries, harmonic_mean of the two; prototype_*: nearest of "
                    "all classes' image prototypes); hardware: int8, keys enrolled at unit "
                    "length, integer dot product, ties to the lowest row",
        },
        "sources": {"visual": v.name, "audio": a.name},
    }
    best = max(("clip", "cca", "ridge"), key=lambda k: metrics["alignment"][k]["unseen_top1"])
    metrics["alignment"]["best_unseen"] = best
    metrics["seconds"] = time.perf_counter() - t0
    return PipelineResult(config, seeds, metrics, v, a)
