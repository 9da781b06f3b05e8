"""Fit the flow to the user's data: a validation-scored search on Ray Tune (Optuna's TPE).

``rramlsm tune --visual SRC --audio SRC --out DIR`` searches the settings that
decide how well the method does on a given data set -- the firing rate each
reservoir is calibrated to, how vision events are framed (pooled or cropped,
polarities merged or split, time bins), the cochlea of WAV sources (level step,
reference amplitude, channels), the audio time bins and the head training
(epochs, early stopping, weight decay, temperature, batch, learning rate, loss).

**What a trial sees.** Only the training split of the *seen* classes ever enters
tuning: the sources are cut down to it before anything is framed, so test
recordings and unseen classes cannot reach a score.  Each trial is scored by
k-fold cross-validation on that data (``folds``, stratified by class, each fold
on its own pair of sampled chips): the reservoirs are calibrated on the fold's
fitting part, the heads are trained there (checkpoint chosen on pairs carved
from the fitting part), and the held-out fold gives the figures:

* ``zero_shot``: audio -> image top-1 retrieval among the held-out samples;
* ``probe_visual`` / ``probe_audio``: a logistic-regression probe fitted on the
  fitting part, scored on the held-out fold (seen classes).

The score is their mean (``objective = "mean"``; one of them alone on request),
averaged over folds, with the spread over folds beside it.

**With a split rotation** (``unseen_splits``, as ``train --unseen-splits``): the tuning
data are the training split of every class present in both modalities, and a trial is
scored once per held-out group, on the data *without that group's classes* (cut before
anything is framed: framing, calibration, heads and probes of that score never see them);
the score is the mean over the groups (``splits`` in the result: each group's score).

The defaults are scored the same way, as trial 0, so the gain is measured, not assumed.

**Why TPE.** A trial is cheap (seconds to a minute) and the space mixes
categorical and log-scaled settings with interactions (a framing changes the
best firing rate).  TPE models good and bad regions per setting from the trials
so far and needs no gradient or smoothness; successive halving (ASHA) would stop
trials early on the head-training curve, but most of a trial's settings act
before training starts, so early epochs say little about them.

Outputs: ``trials.jsonl`` (one record per finished trial, appended as trials
finish; an interrupted tune resumes without redoing them, and a line cut by the
interruption is detected and its trial rerun), ``tuned.toml`` (the winner as a
complete, readable configuration with its score and the defaults' score) and
``report.html``.  ``rramlsm train --config tuned.toml`` runs with it.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import math
import os
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from rramlsm.errors import ConfigError, naming
from rramlsm.sw import contract
from rramlsm.sw._checks import check_real
from rramlsm.sw._io import atomic_path, read_run_record, write_atomic
from rramlsm.sw.datasets.sources import check_source
from rramlsm.sw.experiments._ray import start_ray
from rramlsm.sw.readout import fit_windows, readout_windows, with_readout

__all__ = ["DEFAULTS", "BEFORE_SEARCHED", "complete", "OBJECTIVES", "TuneSettings",
           "TuningData", "TunedConfig", "tuning_data",
           "evaluate", "search_space", "run_tune", "load_tuned", "write_tuned", "tuned_inputs",
           "needed_per_class", "read_trials"]

#: Every tuned setting and its default (the values the flow uses without tuning).
DEFAULTS = {
    "visual.target_rate": 0.05,
    "visual.steps": 50,
    "visual.reduce": "pool",
    "visual.polarity": "on",
    "audio.target_rate": 0.05,
    "audio.steps": 129,
    "visual.windows": "auto",
    "audio.windows": "auto",
    "visual.readout": "count",
    "audio.readout": "count",
    "cochlea.delta": 0.75,
    "cochlea.r0": 0.01,
    "cochlea.channels": 64,
    "head.epochs": 100,
    "head.patience": 0,
    "head.weight_decay": 0.0,
    "head.temperature": 1.0,
    "head.batch": 8,
    "head.lr": 1e-3,
    "head.loss": "clip",
    "head.checkpoint": "best",
}
#: Settings that records and tuned.toml files written before they were searched lack, and
#: the value the flow used then (one readout window per neuron), which differs from
#: today's default: such a file or record means that value, not the new default.
BEFORE_SEARCHED = {"visual.windows": 1, "audio.windows": 1}


def complete(config: dict) -> dict:
    """Every setting of a trial's ``config`` or a tuned.toml: the ones it names, the value
    the flow used then for settings searched only later (:data:`BEFORE_SEARCHED`), else the
    default."""
    return {**DEFAULTS, **BEFORE_SEARCHED, **config}


#: What each setting means (tuned.toml comments, the report).
MEANING = {
    "visual.target_rate": "firing rate the visual reservoir is calibrated to",
    "visual.steps": "time bins T of a vision recording",
    "visual.reduce": "pool: 2x2 OR-pooling of the central 32x32; crop: centre 16x16",
    "visual.polarity": "on: ON events; any: both polarities merged; both: split rows",
    "audio.target_rate": "firing rate the audio reservoir is calibrated to",
    "audio.steps": "time bins T of an utterance",
    "visual.windows": "readout windows W of the visual reservoir (at most this many: the "
                      "largest count dividing T; auto: chosen by cross-validation on the "
                      "training samples)",
    "audio.windows": "readout windows W of the audio reservoir (at most this many: the "
                     "largest count dividing T; auto: chosen by cross-validation on the "
                     "training samples)",
    "visual.readout": "count: spikes per window; trace: the exponential spike trace at the "
                      "window's end (time constant about the window's length)",
    "audio.readout": "count: spikes per window; trace: the exponential spike trace at the "
                     "window's end (time constant about the window's length)",
    "cochlea.delta": "level-crossing step of the cochlea (log units): its threshold",
    "cochlea.r0": "reference amplitude of the log compression: its inverse gain",
    "cochlea.channels": "cochlea band-pass channels (audio reservoir inputs)",
    "head.epochs": "head training epochs (at most)",
    "head.patience": "stop after this many epochs without validation gain (0: never)",
    "head.weight_decay": "AdamW weight decay",
    "head.temperature": "contrastive temperature",
    "head.batch": "pairs per batch",
    "head.lr": "learning rate",
    "head.loss": "clip: symmetric CLIP; supcon: every same-class pair a positive",
    "head.checkpoint": "best: the epoch best on validation pairs; average: the mean of the "
                       "weights over the epochs after the first tenth",
}
OBJECTIVES = ("mean", "zero_shot", "probe_visual", "probe_audio")
#: Settings kept in a tuned.toml and compared with the data it is used on.
_DATA_FIELDS = ("visual_modality", "visual_kind", "visual_sensor", "audio_modality",
                "audio_kind", "audio_sensor")


def needed_per_class(folds: int) -> int:
    """Training samples per seen class and modality that ``folds``-fold validation needs:
    at least 2 held out per fold and 5 left to fit on (4 training pairs + 1 to choose the
    checkpoint on)."""
    n = 2 * folds
    while n - math.ceil(n / folds) < 5:
        n += 1
    return n


@dataclass(frozen=True)
class TuneSettings:
    """One tuning run: sources, validation scheme, budget."""

    visual: str
    audio: str
    folds: int = 3
    """k of the k-fold cross-validation on the seen training data."""
    objective: str = "mean"
    max_per_class: int | None = None
    """Use at most this many training samples per seen class and modality (speed)."""
    trials: int = 40
    """Trials besides the defaults."""
    time_budget_s: float | None = None
    seed: int = 0
    seen: tuple[int, ...] = (1, 2, 3, 4, 5, 6, 7)
    unseen_splits: str | None = None
    """``all`` / ``K`` / ``a,b`` (:mod:`~rramlsm.sw.experiments.split_rotation`): score every
    trial on each held-out group's seen classes; :func:`tuning_data` resolves it into
    ``seen`` (every class in both modalities) and ``groups``."""
    groups: tuple[tuple[int, ...], ...] = ()
    """The held-out groups of the rotation (resolved); empty: one split, ``seen`` only."""

    def __post_init__(self):
        if isinstance(self.folds, bool) or not isinstance(self.folds, int) or self.folds < 2:
            raise ConfigError(f"--folds must be an integer >= 2, not {self.folds!r}")
        if self.objective not in OBJECTIVES:
            raise ConfigError(f"--objective {self.objective!r} is not one of "
                              f"{', '.join(OBJECTIVES)}")
        if self.max_per_class is not None and self.max_per_class < needed_per_class(self.folds):
            raise ConfigError(f"--max-per-class {self.max_per_class}: {self.folds}-fold "
                              f"validation needs at least {needed_per_class(self.folds)}")
        if not isinstance(self.trials, int) or self.trials < 0:
            raise ConfigError(f"--trials must be a non-negative integer, not {self.trials!r}")
        if self.time_budget_s is not None and not self.time_budget_s > 0:
            raise ConfigError(f"--time-budget must be positive, not {self.time_budget_s}")

    def identity(self) -> dict:
        """What makes two runs' trials comparable (the budget may change on a resume)."""
        d = dataclasses.asdict(self)
        # No rotation: the keys are left out, as before rotations (old runs still resume).
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in d.items()
                if k not in ("trials", "time_budget_s")
                and not (k in ("unseen_splits", "groups") and not v)}


# -- The data a trial sees -------------------------------------------------------------------

@dataclass
class ModalityData:
    """One modality's tuning samples: the seen classes' training split only."""

    spec: str
    modality: str
    kind: str
    """``"events"`` (framed per trial) or ``"wav"`` (the cochlea runs per trial)."""
    sensor: tuple[int, ...]
    labels: np.ndarray
    fold: np.ndarray
    """Fold of each sample (stratified by class)."""
    events: list = field(default_factory=list)
    waves: list = field(default_factory=list)
    rates: list = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.labels)


@dataclass
class TuningData:
    visual: ModalityData
    audio: ModalityData
    settings: TuneSettings


def _source_kind(spec: str) -> str:
    from rramlsm.sw.datasets.sources import parse_source

    return "wav" if parse_source(spec)[0] == "fsdd" else "events"


def _pick(labels: np.ndarray, is_train: np.ndarray, settings: TuneSettings, spec: str,
          rng) -> tuple[np.ndarray, np.ndarray]:
    """Indices of the tuning samples (seen classes, training split, at most
    ``max_per_class`` each) and their folds; refuses too few samples per class."""
    need = needed_per_class(settings.folds)
    idx, folds = [], []
    for c in settings.seen:
        cand = np.flatnonzero((labels == c) & is_train)
        if len(cand) < need:
            raise ConfigError(
                f"{spec}: seen class {c} has {len(cand)} training samples; {settings.folds}-fold "
                f"validation needs at least {need} per class (classes {list(settings.seen)}, "
                f"training split only)")
        cand = rng.permutation(cand)
        if settings.max_per_class is not None:
            cand = cand[:settings.max_per_class]
        idx.append(np.sort(cand))
        folds.append(rng.permutation(np.arange(len(cand)) % settings.folds))
    return np.concatenate(idx), np.concatenate(folds)


def _wav_files(spec: str) -> tuple[list[Path], np.ndarray, np.ndarray]:
    """The WAV files of an FSDD-layout folder, their labels and split (no audio read)."""
    from rramlsm.errors import EventDataError
    from rramlsm.sw.datasets.fsdd import FSDD_NAME, FSDD_TEST_INDICES
    from rramlsm.sw.datasets.sources import parse_source

    root = parse_source(spec)[1]
    if not root.is_dir():
        raise EventDataError(f"{root}: speech folder does not exist")
    files, labels, train = [], [], []
    for f in sorted(root.glob("*.wav")):
        m = FSDD_NAME.match(f.stem)
        if not m or m["label"] not in {str(d) for d in range(10)}:
            raise EventDataError(f"{f}: name is not {{digit}}_{{speaker}}_{{index}}.wav")
        files.append(f)
        labels.append(int(m["label"]))
        train.append(int(m["index"]) not in FSDD_TEST_INDICES)
    if not files:
        raise EventDataError(f"{root}: no .wav files")
    return files, np.array(labels, np.int64), np.array(train, bool)


def _labels(spec: str, given, modality: str, progress: bool):
    """The labels of a source (a WAV folder's from its file names) and the dataset if one
    was loaded."""
    from rramlsm.sw.datasets import load_source

    if given is None:
        check_source(spec, modality)
        if _source_kind(spec) == "wav":
            return _wav_files(spec)[1], None
        given = load_source(spec, progress=progress)
    return given.labels, given


def tuning_data(settings: TuneSettings, *, visual=None, audio=None,
                progress: bool = False) -> TuningData:
    """Load both sources and keep only what tuning may see (``visual`` / ``audio``: loaded
    event datasets to use instead of the sources).  A split rotation
    (``settings.unseen_splits``) is resolved here: the data are every class in both
    modalities, and the returned data's settings hold the groups."""
    from rramlsm.sw.experiments.split_rotation import NO_ROTATION, resolve_unseen_splits

    if settings.unseen_splits not in (None, NO_ROTATION) and not settings.groups:
        with naming("--visual"):
            lv, visual = _labels(settings.visual, visual, "vision", progress)
        with naming("--audio"):
            la, audio = _labels(settings.audio, audio, "audio", progress)
        classes, groups = resolve_unseen_splits(settings.unseen_splits, lv, la)
        settings = dataclasses.replace(settings, seen=tuple(classes), groups=tuple(groups))
    rng = np.random.default_rng(settings.seed)
    out = {}
    for m, spec, given, modality in (("visual", settings.visual, visual, "vision"),
                                     ("audio", settings.audio, audio, "audio")):
        with naming(f"--{m}"):
            out[m] = _modality_data(m, spec, given, modality, settings, rng, progress)
    return TuningData(out["visual"], out["audio"], settings)


def _modality_data(m, spec, given, modality, settings, rng, progress) -> ModalityData:
    from rramlsm.sw.datasets import load_source
    from rramlsm.sw.datasets.fsdd import read_wav
    from rramlsm.sw.events import COCHLEA_CHANNELS

    if given is None:
        check_source(spec, modality)
    kind = "events" if given is not None else _source_kind(spec)
    if kind == "wav":
        files, labels, train = _wav_files(spec)
        idx, folds = _pick(labels, train, settings, spec, rng)
        waves = [read_wav(files[i]) for i in idx]
        return ModalityData(spec, "audio", "wav", (COCHLEA_CHANNELS,), labels[idx], folds,
                            waves=[w for w, _ in waves], rates=[r for _, r in waves])
    ds = given if given is not None else load_source(spec, progress=progress)
    if ds.modality != modality:
        raise ConfigError(f"{spec!r} is an {ds.modality} source, not {modality}")
    idx, folds = _pick(ds.labels, ds.is_train, settings, spec, rng)
    return ModalityData(spec, modality, "events", tuple(ds.sensor), ds.labels[idx], folds,
                        events=[ds.events[i] for i in idx])


def _reservoir_config(modality: str, inputs: int, steps: int, params: dict):
    """The preset of ``modality`` at the framed size, read out as ``params`` say: the most
    windows up to ``{modality}.windows`` that divide the steps (one window for ``"auto"``,
    until :func:`_auto_windows` chooses), and ``{modality}.readout`` (a trial and the tuned
    configuration make their reservoirs this one way)."""
    from rramlsm.sw.lsm import PRESETS

    w = params[f"{modality}.windows"]
    cfg = PRESETS[modality].replace(inputs=inputs, steps=steps,
                                    windows=1 if w == "auto" else fit_windows(steps, int(w)))
    return with_readout(cfg, params[f"{modality}.readout"])


def _trial_features(cfg, modality: str, params: dict, frames, fit, labels, seed: int):
    """A trial's float features of ``frames`` with ``cfg``'s reservoir, read out in the
    windows ``{modality}.windows`` names: for ``"auto"``, chosen on the fold's fitting
    samples ``fit`` as ``train`` chooses on its training split, then ``{modality}.readout``
    applied at the chosen length (the choice's pass gives the fitting samples' counts).
    Returns the config, the features and the choice's matmul FLOPs besides the feature
    extraction (0 for a fixed count)."""
    from rramlsm.sw.experiments.training_cost import readout_selection_flops
    from rramlsm.sw.features import known_counts
    from rramlsm.sw.lsm import float_features, make_reservoir

    if params[f"{modality}.windows"] != "auto":
        return cfg, float_features(make_reservoir(cfg, seed=seed), frames), 0
    cfg, choice = readout_windows(cfg, "auto", lambda: frames[fit], labels[fit], seed=seed,
                                  keep_trains=True)
    cfg = with_readout(cfg, params[f"{modality}.readout"])
    known = known_counts(fit, choice.pop("trains"), cfg)
    res = make_reservoir(cfg, seed=seed)
    if known is None:
        return cfg, float_features(res, frames), readout_selection_flops(cfg, choice)
    feats = np.empty((len(frames), cfg.features), np.float32)
    feats[fit] = known[1].astype(np.float32) / cfg.feature_scale
    rest = np.setdiff1d(np.arange(len(frames)), fit)
    feats[rest] = float_features(res, frames[rest])
    return cfg, feats, readout_selection_flops(cfg, choice, shared=len(fit))


# -- The search space --------------------------------------------------------------------------

def search_space(data: TuningData) -> dict:
    """Optuna distributions of the settings that apply to these sources."""
    from optuna.distributions import CategoricalDistribution as Cat
    from optuna.distributions import FloatDistribution as Float

    space = {
        "visual.target_rate": Float(0.01, 0.3, log=True),
        "audio.target_rate": Float(0.01, 0.3, log=True),
        "visual.steps": Cat([25, 35, 50, 75, 100]),
        "audio.steps": Cat([64, 96, 129, 160, 200]),
        "visual.windows": Cat(["auto", 1, 2, 4, 5, 8]),
        "audio.windows": Cat(["auto", 1, 2, 4, 5, 8]),
        "visual.readout": Cat(["count", "trace"]),
        "audio.readout": Cat(["count", "trace"]),
        "head.epochs": Cat([30, 60, 100, 150]),
        "head.patience": Cat([0, 10, 25]),
        "head.weight_decay": Float(1e-5, 0.3, log=True),
        "head.temperature": Float(0.03, 2.0, log=True),
        "head.batch": Cat([8, 16, 32, 64]),
        "head.lr": Float(1e-4, 1e-2, log=True),
        "head.loss": Cat(["clip", "supcon"]),
        "head.checkpoint": Cat(["best", "average"]),
    }
    if min(data.visual.sensor) >= 32:
        space["visual.reduce"] = Cat(["pool", "crop"])
    space["visual.polarity"] = Cat(["on", "any", "both"])
    if data.audio.kind == "wav":
        space["cochlea.delta"] = Float(0.25, 2.0, log=True)
        space["cochlea.r0"] = Float(1e-3, 0.1, log=True)
        space["cochlea.channels"] = Cat([32, 64])
    return space


# -- One trial ---------------------------------------------------------------------------------

def _cochlea_config(p: dict):
    from rramlsm.sw.datasets.cochlea import CochleaConfig

    return CochleaConfig(channels=int(p["cochlea.channels"]), delta=float(p["cochlea.delta"]),
                         r0=float(p["cochlea.r0"]))


def vision_framing(p: dict, sensor):
    from rramlsm.sw.events import VisionFraming

    return VisionFraming(steps=int(p["visual.steps"]), reduce=p["visual.reduce"],
                         polarity=p["visual.polarity"], sensor=tuple(sensor))


def audio_framing(p: dict, kind: str):
    from rramlsm.sw.events import COCHLEA_CHANNELS, AudioFraming

    return AudioFraming(steps=int(p["audio.steps"]),
                        channels=int(p["cochlea.channels"]) if kind == "wav" else COCHLEA_CHANNELS)


def _frames(d: ModalityData, p: dict) -> np.ndarray:
    from rramlsm.sw.datasets.cochlea import Cochlea
    from rramlsm.sw.events import frame_audio, frame_vision

    if d.modality == "vision":
        return frame_vision(d.events, vision_framing(p, d.sensor))
    events = Cochlea(_cochlea_config(p))(d.waves, d.rates) if d.kind == "wav" else d.events
    return frame_audio(events, audio_framing(p, d.kind))


def head_config(p: dict, base=None):
    """The :class:`~rramlsm.sw.zeroshot.ZeroShotConfig` of settings ``p``."""
    from rramlsm.sw.zeroshot import ZeroShotConfig

    return (base or ZeroShotConfig()).replace(
        epochs=int(p["head.epochs"]), patience=int(p["head.patience"]) or None,
        weight_decay=float(p["head.weight_decay"]), temperature=float(p["head.temperature"]),
        batch=int(p["head.batch"]), lr=float(p["head.lr"]), loss=str(p["head.loss"]),
        checkpoint=str(p["head.checkpoint"]))


def _fold_split(data: TuningData, f: int, rng):
    """Heads' split of fold ``f``: fitting part (minus pairs to choose the checkpoint on) and
    the held-out fold as the only pool."""
    from rramlsm.sw.zeroshot import ZeroShotSplit

    v, a = data.visual, data.audio
    train_v, train_a, val_v, val_a = {}, {}, [], []
    for c in data.settings.seen:
        fv = np.flatnonzero((v.labels == c) & (v.fold != f))
        fa = np.flatnonzero((a.labels == c) & (a.fold != f))
        n = min(len(fv), len(fa))
        held = np.zeros(n, bool)
        held[rng.choice(n, max(1, round(0.15 * n)), replace=False)] = True
        val_v.append(fv[:n][held])
        val_a.append(fa[:n][held])
        train_v[c] = np.setdiff1d(fv, fv[:n][held])
        train_a[c] = np.setdiff1d(fa, fa[:n][held])
    hv, ha = np.flatnonzero(v.fold == f), np.flatnonzero(a.fold == f)
    return ZeroShotSplit(train_v, train_a, np.concatenate(val_v), np.concatenate(val_a),
                         {"seen": hv, "unseen": hv}, {"seen": ha, "unseen": ha})


def _without(d: ModalityData, classes) -> ModalityData:
    """``d`` without the samples of ``classes``."""
    keep = np.flatnonzero(~np.isin(d.labels, list(classes)))

    def pick(items):
        return [items[i] for i in keep] if items else items

    return dataclasses.replace(d, labels=d.labels[keep], fold=d.fold[keep],
                               events=pick(d.events), waves=pick(d.waves), rates=pick(d.rates))


def held_out(data: TuningData, group) -> TuningData:
    """What a trial sees for held-out ``group``: the tuning data without its classes."""
    settings = dataclasses.replace(data.settings, groups=(),
                                   seen=tuple(c for c in data.settings.seen if c not in group))
    return TuningData(_without(data.visual, group), _without(data.audio, group), settings)


def evaluate(params: dict, data: TuningData) -> dict:
    """Score settings ``params`` (missing ones: :data:`DEFAULTS`) by k-fold validation on the
    tuning data.  Returns the score, its spread over folds, each figure and the validation
    curve (held-out top-1 per epoch, averaged over folds).  With held-out groups
    (``data.settings.groups``): each group scored on the data without its classes, and the
    mean over groups (``splits``: each group's score; the spread is over groups x folds)."""
    if not data.settings.groups:
        return _evaluate_split(params, data)
    t0 = time.perf_counter()
    parts = [_evaluate_split(params, held_out(data, g)) for g in data.settings.groups]
    scores = [x for r in parts for x in r["folds"]]
    n = max(len(r["curve"]) for r in parts)
    return {
        "score": float(np.mean([r["score"] for r in parts])),
        "score_sd": float(np.std(scores, ddof=1)) if len(scores) > 1 else 0.0,
        "folds": scores,
        "splits": [{"unseen": list(g), "score": r["score"]}
                   for g, r in zip(data.settings.groups, parts, strict=True)],
        "metrics": {k: float(np.mean([r["metrics"][k] for r in parts]))
                    for k in parts[0]["metrics"]},
        "firing_rate": {m: float(np.mean([r["firing_rate"][m] for r in parts]))
                        for m in parts[0]["firing_rate"]},
        "curve": [float(np.mean([r["curve"][min(i, len(r["curve"]) - 1)] for r in parts]))
                  for i in range(n)],
        "flops": sum(r["flops"] for r in parts),
        "flops_by_step": {k: sum(r["flops_by_step"][k] for r in parts)
                          for k in parts[0]["flops_by_step"]},
        "seconds": time.perf_counter() - t0,
    }


def _evaluate_split(params: dict, data: TuningData) -> dict:
    """:func:`evaluate` on one split: k-fold validation on ``data.settings.seen``."""
    import torch

    from rramlsm.sw.experiments.audiovisual import chip_seeds
    from rramlsm.sw.experiments.training_cost import head_training_flops, lsm_forward_flops
    from rramlsm.sw.lsm import calibrate_weight_scale
    from rramlsm.sw.zeroshot import linear_probe, retrieval_top1, train_heads

    torch.set_num_threads(1)
    t0 = time.perf_counter()
    s = data.settings
    p = {**DEFAULTS, **params}
    mods = {"visual": data.visual, "audio": data.audio}
    frames = {m: _frames(d, p) for m, d in mods.items()}
    zs = head_config(p)
    figures, curves, rates = [], [], []
    # The trial's matmul FLOPs on the basis of the training-cost comparison
    # (:mod:`rramlsm.sw.experiments.training_cost`): tuning is a step of the recipe.
    probe_cost = {"flops": 0}
    flops = dict.fromkeys(("calibration", "readout_selection", "feature_extraction",
                           "head_training"), 0)
    for f in range(s.folds):
        chip = chip_seeds(s.seed + f)
        feats, fire = {}, {}
        for m, d in mods.items():
            fit = np.flatnonzero(d.fold != f)
            steps = frames[m].shape[1]
            cfg = _reservoir_config(m, frames[m].shape[2], steps, p)
            cal = calibrate_weight_scale(cfg, frames[m][fit[:128]], seed=chip[m],
                                         target_rate=float(p[f"{m}.target_rate"]))
            cfg, feats[m], choice_flops = _trial_features(cal.config, m, p, frames[m], fit,
                                                          d.labels, chip[m])
            flops["readout_selection"] += choice_flops
            flops["calibration"] += lsm_forward_flops(cfg) * cal.passes * cal.samples
            flops["feature_extraction"] += lsm_forward_flops(cfg) * len(frames[m])
            # A trace readout's samples are not rates: then the calibration's measured rate.
            fire[m] = float(feats[m].mean()) if cfg.readout == "count" else cal.rate
        split = _fold_split(data, f, np.random.default_rng(s.seed + 1000 + f))
        trained = train_heads(feats["visual"], feats["audio"], data.visual.labels,
                              data.audio.labels, split, zs, seed=s.seed + f)
        with torch.no_grad():
            ev = trained.visual(torch.as_tensor(feats["visual"])).numpy()
            ea = trained.audio(torch.as_tensor(feats["audio"])).numpy()
        flops["head_training"] += head_training_flops(zs, {m: feats[m].shape[1] for m in mods},
                                     len(split.pairs(None)[0]), epochs=len(trained.history))
        hv, ha = split.pool_v["seen"], split.pool_a["seen"]
        fig = {"zero_shot": retrieval_top1(ea[ha], data.audio.labels[ha], ev[hv],
                                           data.visual.labels[hv])}
        for m, d in mods.items():
            fig[f"probe_{m}"] = linear_probe(feats[m], d.labels, d.fold != f, seed=s.seed + f,
                                             cost=probe_cost)
        fig["mean"] = float(np.mean([fig["zero_shot"], fig["probe_visual"], fig["probe_audio"]]))
        figures.append(fig)
        curves.append([h["test"]["seen"]["a2v"] for h in trained.history])
        rates.append(fire)
    scores = [fig[s.objective] for fig in figures]
    n = max(len(c) for c in curves)
    curve = [float(np.mean([c[min(i, len(c) - 1)] for c in curves])) for i in range(n)]
    return {
        "score": float(np.mean(scores)),
        "score_sd": float(np.std(scores, ddof=1)) if len(scores) > 1 else 0.0,
        "folds": scores,
        "metrics": {k: float(np.mean([fig[k] for fig in figures])) for k in figures[0]},
        "firing_rate": {m: float(np.mean([r[m] for r in rates])) for m in mods},
        "curve": curve,
        "flops": sum(flops.values()) + probe_cost["flops"],
        "flops_by_step": {**flops, "probes": probe_cost["flops"]},
        "seconds": time.perf_counter() - t0,
    }


# -- trials.jsonl ---------------------------------------------------------------------------

def _recover_config(line: str) -> dict | None:
    """What a record cut short says about its trial: ``config`` and ``defaults`` are written
    first, so they usually survive."""
    i = line.find('"config": ')
    if i < 0:
        return None
    try:
        cfg, _ = json.JSONDecoder().raw_decode(line, i + len('"config": '))
    except json.JSONDecodeError:
        return None
    if not isinstance(cfg, dict):
        return None
    return {"config": cfg, "defaults": '"defaults": true' in line[:i]}


def read_trials(path: Path) -> tuple[list[dict], dict | None]:
    """Finished trials in ``path`` and what a last line cut by an interruption held
    (``{"config": ..., "defaults": ...}``, or ``{}`` when nothing survived; that trial
    reruns); the file is rewritten without the cut line.  A damaged line elsewhere is an
    error."""
    path = Path(path)
    if not path.exists():
        return [], None
    lines = path.read_text().splitlines()
    done, cut, numbers = [], None, set()
    for i, line in enumerate(lines):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
            number = rec.get("number") if isinstance(rec, dict) else None
            if isinstance(number, bool) or not isinstance(number, int) or "config" not in rec:
                raise ValueError
        except ValueError:
            if i == len(lines) - 1:
                cut = _recover_config(line) or {}
                print(f"{path}: last line incomplete (interrupted write); its trial reruns")
                continue
            raise ConfigError(f"{path}: line {i + 1} is not a trial record; fix or remove "
                              f"the file") from None
        # A record the search writes has a finite score (None: the trial failed) and a
        # number of its own; anything else is an edit, which would decide the winner or
        # count one trial twice.
        score = rec.get("score")
        if score is not None:
            try:
                check_real(f"{path}: line {i + 1}:", "score", score)
            except (TypeError, ValueError) as e:
                raise ConfigError(f"{e}; fix or remove the file") from None
        if rec["number"] in numbers:
            raise ConfigError(f"{path}: line {i + 1} repeats trial {rec['number']}; fix or "
                              f"remove the file")
        numbers.add(rec["number"])
        done.append(rec)
    if cut is not None:
        with atomic_path(path) as tmp:
            tmp.write_text("".join(json.dumps(r) + "\n" for r in done))
    return done, cut


def _check_trials_match(path: Path, done: list[dict], settings: TuneSettings) -> None:
    """Each scored trial of ``path`` was scored as ``settings`` score: as many folds, the
    score its metrics give for the objective.  ``tune.json`` says so for the whole run, but
    a run folder without it (deleted, copied in part) would otherwise adopt the trials of
    another tuning and compare scores of different kinds."""
    for r in done:
        if r.get("score") is None:
            continue
        folds, metrics = r.get("folds"), r.get("metrics")
        if isinstance(folds, list) and len(folds) != settings.folds:
            raise ConfigError(f"{path}: trial {r['number']} was scored on {len(folds)} folds, "
                              f"this tuning on {settings.folds}: use another --out")
        if isinstance(metrics, dict) and settings.objective in metrics and not math.isclose(
                r["score"], metrics[settings.objective], rel_tol=1e-9, abs_tol=1e-9):
            raise ConfigError(f"{path}: trial {r['number']}'s score is not its "
                              f"{settings.objective} figure (another objective): use another "
                              f"--out")


def _record(number: int, config: dict, result: dict | None, error: str | None = None,
            defaults: bool = False) -> dict:
    # "config" first: a line cut short still names its trial's settings (and which it was).
    rec = {"number": number, "defaults": defaults, "config": config}
    if result is not None:
        rec.update(result)
    else:
        rec.update(score=None, error=error)
    rec["finished"] = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
    return rec


# -- The search on Ray Tune ---------------------------------------------------------------------

def _trainable(config: dict, data=None):
    from ray import tune

    result = evaluate(config, data)
    tune.report({"score": result["score"], "result": json.dumps(result)})


def _defaults_task(data):
    return evaluate({}, data)


def _study(space: dict, done: list[dict], rerun: dict | None, seed: int):
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = optuna.storages.InMemoryStorage()
    study = optuna.create_study(storage=storage, study_name="rramlsm-tune", direction="maximize",
                                sampler=optuna.samplers.TPESampler(seed=seed))
    for rec in done:
        if rec.get("defaults") or rec.get("score") is None:
            continue
        params = {k: v for k, v in rec["config"].items() if k in space}
        if set(params) != set(space) or not all(space[k]._contains(space[k].to_internal_repr(v))
                                                for k, v in params.items()):
            continue
        study.add_trial(optuna.trial.create_trial(params=params, distributions=space,
                                                  value=rec["score"]))
    if rerun:
        params = {k: v for k, v in rerun.items() if k in space}
        try:
            if all(space[k]._contains(space[k].to_internal_repr(v)) for k, v in params.items()):
                study.enqueue_trial(params)
        except (ValueError, TypeError):
            pass                               # not in this space: a fresh trial instead
    return storage


class _Progress:
    """Ray Tune callback (in the driver): appends each finished trial to trials.jsonl and
    shows the best score so far."""

    def __init__(self, path: Path, done: list[dict], total: int, progress: bool):
        from tqdm.auto import tqdm

        self.path, self.done = path, done
        self.next = max([r["number"] for r in done] + [0]) + 1
        self.bar = tqdm(total=total, initial=min(len(done), total), desc="tune", unit="trial",
                        disable=not progress)
        self._show()

    def _show(self):
        scores = [r["score"] for r in self.done if r.get("score") is not None]
        if scores:
            self.bar.set_postfix_str(f"best {max(scores):.1f}")

    def add(self, rec: dict) -> None:
        with open(self.path, "a") as f:
            f.write(json.dumps(rec) + "\n")
            f.flush()
        self.done.append(rec)
        self.bar.update(1)
        self._show()

    def finished(self, config: dict, result: dict | None, error: str | None = None) -> None:
        self.add(_record(self.next, config, result, error))
        self.next += 1


def _callback(progress: _Progress):
    from ray import tune

    class Callback(tune.Callback):
        def on_trial_complete(self, iteration, trials, trial, **info):
            last = trial.last_result or {}
            if "result" in last:
                progress.finished(dict(trial.config), json.loads(last["result"]))

        def on_trial_error(self, iteration, trials, trial, **info):
            progress.finished(dict(trial.config), None, str(trial.error_file or "error"))

    return Callback()


def run_tune(settings: TuneSettings, out: Path, *, address: str | None = None,
             cpus: int | None = None, resume: bool = False, progress: bool = True,
             visual=None, audio=None) -> dict:
    """Run the search into ``out`` (trials.jsonl, tuned.toml, report.html); returns the
    summary.  ``resume``: continue what ``out`` holds (it must be the same tuning)."""
    import shutil
    import tempfile

    out = Path(out)
    trials_path, snapshot = out / "trials.jsonl", out / "tune.json"
    if snapshot.exists() or trials_path.exists():
        if not resume:
            raise ConfigError(f"{out} already holds a tuning run: add --resume to continue it, "
                              f"or use another --out")
        old = read_run_record(snapshot) if snapshot.exists() else settings.identity()
        new = settings.identity()
        if old != new:
            diff = ", ".join(f"{k} {old.get(k)!r} (here {new[k]!r})" for k in new
                             if old.get(k) != new[k])
            raise ConfigError(f"{out} holds a different tuning ({diff}): use another --out")
    done, cut = read_trials(trials_path)
    _check_trials_match(trials_path, done, settings)
    t0 = time.perf_counter()
    data = tuning_data(settings, visual=visual, audio=audio, progress=progress)

    def begin():
        # Only once the data have loaded and Ray has started: a run that fails before
        # leaves no tune.json that a re-run would have to --resume.
        out.mkdir(parents=True, exist_ok=True)
        with atomic_path(snapshot) as tmp:
            tmp.write_text(json.dumps(settings.identity(), indent=2))

    space = search_space(data)
    has_defaults = any(r.get("defaults") for r in done)
    searched = sum(1 for r in done if not r.get("defaults"))
    todo = max(0, settings.trials - searched)
    rerun = cut.get("config") if cut and not cut.get("defaults") else None
    if rerun is not None and todo == 0:
        todo = 1
    book = _Progress(trials_path, done, settings.trials + 1, progress)
    if todo or not has_defaults:
        import ray

        os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
        os.environ.setdefault("TUNE_DISABLE_AUTO_CALLBACK_LOGGERS", "1")
        os.environ.setdefault("RAY_DEDUP_LOGS", "0")
        from ray import tune
        from ray.tune.search.optuna import OptunaSearch

        started_here = start_ray(cpus=cpus, address=address)
        storage_dir = tempfile.mkdtemp(prefix="rramlsm-tune-")
        try:
            begin()
            data_ref = ray.put(data)
            defaults_ref = None
            if not has_defaults:
                defaults_ref = ray.remote(num_cpus=1)(_defaults_task).remote(data_ref)
            if todo:
                search = OptunaSearch(space=space, metric="score", mode="max",
                                      study_name="rramlsm-tune",
                                      storage=_study(space, done, rerun, settings.seed))
                budget = settings.time_budget_s
                tuner = tune.Tuner(
                    tune.with_resources(tune.with_parameters(_trainable, data=data), {"cpu": 1}),
                    tune_config=tune.TuneConfig(search_alg=search, num_samples=todo,
                                                time_budget_s=budget,
                                                max_concurrent_trials=max(
                                                    1, int(ray.available_resources().get(
                                                        "CPU", 1)))),
                    run_config=tune.RunConfig(storage_path=storage_dir, verbose=0,
                                              callbacks=[_callback(book)], log_to_file=True))
                tuner.fit()
            if defaults_ref is not None:
                book.add(_record(0, dict(DEFAULTS), ray.get(defaults_ref), defaults=True))
        finally:
            shutil.rmtree(storage_dir, ignore_errors=True)
            if started_here:
                ray.shutdown()
    else:
        begin()
    book.bar.close()
    # The settings as resolved with the data (a rotation's classes and groups).
    settings = data.settings
    summary = summarize(settings, data, book.done, space)
    summary["seconds"] = time.perf_counter() - t0
    write_tuned(out / "tuned.toml", settings, data, summary)
    write_tune_report(out / "report.html", settings, summary, book.done, space)
    return summary


# -- Summary, importance, tuned.toml -----------------------------------------------------------

def _importance(records: list[dict], space: dict) -> dict[str, float]:
    """Share of the score's variance each setting explains on its own: epsilon squared (eta
    squared corrected for the number of groups, so a setting does not look important only
    because every trial has its own value), trials grouped by value, numbers in three
    quantile bins.  Needs 8 scored trials."""
    rec = [r for r in records if r.get("score") is not None and not r.get("defaults")]
    if len(rec) < 8:
        return {}
    y = np.array([r["score"] for r in rec])
    total = float(((y - y.mean()) ** 2).sum())
    out = {}
    for k in space:
        vals = [complete(r["config"])[k] for r in rec]
        if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in vals) \
                and len(set(vals)) > 3:
            x = np.log(np.maximum(np.array(vals, float), 1e-12))
            groups = np.digitize(x, np.quantile(x, [1 / 3, 2 / 3]))
        else:
            groups = np.array([json.dumps(v) for v in vals])
        labels = np.unique(groups)
        between = sum(float((groups == g).sum()) * (y[groups == g].mean() - y.mean()) ** 2
                      for g in labels)
        within = (total - between) / max(len(y) - len(labels), 1)
        out[k] = max(0.0, (between - (len(labels) - 1) * within) / total) if total > 0 else 0.0
    return dict(sorted(out.items(), key=lambda kv: -kv[1]))


def summarize(settings: TuneSettings, data: TuningData, records: list[dict],
              space: dict) -> dict:
    scored = [r for r in records if r.get("score") is not None]
    if not scored:
        raise ConfigError("no tuning trial finished: raise --time-budget or --trials")
    best = max(scored, key=lambda r: (r["score"], -r["number"]))
    default = next((r for r in scored if r.get("defaults")), None)
    return {
        "settings": settings.identity(),
        "objective": settings.objective,
        "trials": len([r for r in records if not r.get("defaults")]),
        "failed": len([r for r in records if r.get("score") is None]),
        "samples": {"visual": len(data.visual), "audio": len(data.audio)},
        "best": {k: best[k] for k in ("number", "score", "score_sd", "metrics", "config")},
        "defaults": None if default is None else
        {k: default[k] for k in ("score", "score_sd", "metrics")},
        "importance": _importance(records, space),
        "data": _data_fields(data),
        "cost": tuning_cost(records),
    }


def tuning_cost(records: list[dict]) -> dict:
    """What the search cost: matmul FLOPs and seconds summed over its trials (the defaults'
    run included; failed trials count their seconds only).  ``uncounted``: trials recorded
    without FLOPs (by a version before they were counted)."""
    ran = [r for r in records if r.get("seconds") is not None or r.get("flops") is not None]
    return {"flops": int(sum(r.get("flops") or 0 for r in ran)),
            "trial_seconds": float(sum(r.get("seconds") or 0.0 for r in ran)),
            "trials": len(records),
            "uncounted": sum(1 for r in records
                             if r.get("score") is not None and r.get("flops") is None)}


def _data_fields(data: TuningData) -> dict:
    return {"visual": data.visual.spec, "audio": data.audio.spec,
            "visual_modality": data.visual.modality, "visual_kind": data.visual.kind,
            "visual_sensor": list(data.visual.sensor),
            "audio_modality": data.audio.modality, "audio_kind": data.audio.kind,
            "audio_sensor": list(data.audio.sensor)}


def _toml_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    if isinstance(v, float):
        return repr(float(v))
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{k} = {_toml_value(x)}" for k, x in v.items()) + " }"
    raise TypeError(f"cannot write {v!r} to TOML")


#: The first line of every tuned.toml that ``tune`` writes: such a file without its
#: ``[score]`` section, which follows every setting, was cut short.
WRITTEN_BY = "# rramlsm tuned configuration, written by `rramlsm tune`"


def write_tuned(path: Path, settings: TuneSettings, data: TuningData, summary: dict) -> Path:
    """The winner as a complete, commented TOML configuration."""
    best, default = summary["best"], summary["defaults"]
    cfg = complete(best["config"])
    lines = [
        f"{WRITTEN_BY} on "
        + datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC") + ".",
        "# Use it with: rramlsm train --config tuned.toml --visual SRC --audio SRC --out DIR",
        f"# Scores are validation top-1 % ({settings.objective}), {settings.folds}-fold on the "
        "training split of the seen classes; the test split and the unseen classes were never "
        "used.",
        *([f"# Split rotation: each score is the mean over held-out groups "
           f"{[list(g) for g in settings.groups]}, each scored without its classes."]
          if settings.groups else []),
        "",
        "[data]",
        "# What the configuration was tuned on; `train --config` refuses data that differ.",
    ]
    lines += [f"{k} = {_toml_value(v)}" for k, v in summary["data"].items()]
    for section in ("visual", "audio", "cochlea", "head"):
        keys = [k for k in DEFAULTS if k.startswith(section + ".")]
        if section == "cochlea" and data.audio.kind != "wav":
            continue
        lines += ["", f"[{section}]"]
        for k in keys:
            note = MEANING[k] + ("" if cfg[k] == DEFAULTS[k] else
                                 f" (default {_toml_value(DEFAULTS[k])})")
            lines.append(f"{k.split('.', 1)[1]} = {_toml_value(cfg[k])}  # {note}")
    lines += ["", "[score]",
              f"objective = {_toml_value(settings.objective)}",
              f"folds = {settings.folds}",
              f"trials = {summary['trials']}",
              f"winner = {best['score']:.2f}",
              f"winner_sd = {best['score_sd']:.2f}",
              f"winner_trial = {best['number']}",
              "winner_metrics = "
              + _toml_value({k: round(v, 2) for k, v in best["metrics"].items()})]
    if default is not None:
        lines += [f"defaults = {default['score']:.2f}",
                  f"defaults_sd = {default['score_sd']:.2f}",
                  "defaults_metrics = "
                  + _toml_value({k: round(v, 2) for k, v in default["metrics"].items()})]
    cost = summary["cost"]
    lines += ["", "[cost]",
              "# What the search cost, a step of the training recipe (`train` counts it in "
              "training_cost.ours.tuning).",
              f"flops = {cost['flops']}  # matmul FLOPs of every trial, on the training-cost "
              "basis",
              f"trial_seconds = {cost['trial_seconds']:.1f}  # summed over trials",
              f"seconds = {summary.get('seconds', cost['trial_seconds']):.1f}  # wall time of "
              "the last `tune` run",
              f"trials = {cost['trials']}",
              f"uncounted = {cost['uncounted']}  # trials recorded without FLOPs"]
    text = "\n".join(lines) + "\n"
    tomllib.loads(text)                       # what we write must read back
    with atomic_path(path) as tmp:
        tmp.write_text(text)
    return path


@dataclass
class TunedConfig:
    path: Path
    params: dict
    data: dict
    score: dict
    cost: dict | None = None
    """What the search cost (``[cost]``); None for a file written before it was recorded."""

    def summary(self) -> dict:
        return {"path": str(self.path), "config": self.params, "data": self.data,
                "score": self.score, "cost": self.cost}


def _kind_error(name: str, value) -> str | None:
    """What ``value`` of the setting ``name`` should be, where its type is not its default's
    (a whole number for ``steps = 2.5``, a number for ``epochs = "100"`` or ``temperature =
    true``), which the configuration classes would otherwise cut or take; None if fine."""
    default = DEFAULTS[name]
    whole = isinstance(value, int) and not isinstance(value, bool)
    if name.endswith(".windows"):
        return None if value == "auto" or whole else "a whole number or 'auto'"
    if isinstance(default, int):
        return None if whole else "a whole number"
    if isinstance(default, float):
        return None if whole or isinstance(value, float) else "a number"
    if isinstance(default, str):
        return None if isinstance(value, str) else "a string"
    return None


def load_tuned(path) -> TunedConfig:
    """Read a tuned.toml (every missing setting takes its default)."""
    path = Path(path)
    try:
        text = path.read_bytes().decode("utf-8")
        raw = tomllib.loads(text)
    except OSError as e:
        raise ConfigError(f"--config: {path}: cannot read ({e.strerror})") from None
    except UnicodeDecodeError as e:
        raise ConfigError(f"--config: {path}: not UTF-8 text ({e.reason} at byte "
                          f"{e.start})") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"--config: {path}: not valid TOML ({e})") from None
    for name, section in raw.items():
        if not isinstance(section, dict):
            raise ConfigError(f"--config: {path}: {name} must be a table ([{name}]), not "
                              f"{type(section).__name__}")
    if text.startswith(WRITTEN_BY) and "winner" not in raw.get("score", {}):
        # Settings missing from a hand-written file take their defaults; from a cut one,
        # they would be trained with in silence.
        raise ConfigError(f"--config: {path}: written by rramlsm tune but cut short (no "
                          f"[score] winner after the settings); tune again or restore the file")
    known = {"data", "visual", "audio", "cochlea", "head", "score", "cost"}
    unknown = set(raw) - known
    if unknown:
        raise ConfigError(f"--config: {path}: unknown sections {sorted(unknown)}; expected "
                          f"{sorted(known)}")
    given = {}
    for section in ("visual", "audio", "cochlea", "head"):
        for k, v in raw.get(section, {}).items():
            name = f"{section}.{k}"
            if name not in DEFAULTS:
                raise ConfigError(f"--config: {path}: unknown setting {name}")
            kind = _kind_error(name, v)
            if kind:
                raise ConfigError(f"--config: {path}: {name} must be {kind}, not {v!r}")
            given[name] = v
    params = complete(given)
    data = raw.get("data", {})
    missing = [k for k in _DATA_FIELDS if k not in data]
    if missing:
        raise ConfigError(f"--config: {path}: [data] lacks {missing}")
    try:
        head_config(params)
        vision_framing(params, data["visual_sensor"])
        audio_framing(params, data["audio_kind"])
        if data["audio_kind"] == "wav":
            _cochlea_config(params)
        for m in ("visual", "audio"):
            r = params[f"{m}.target_rate"]
            if not isinstance(r, (int, float)) or not 0 < r < 1:
                raise ValueError(f"{m}.target_rate must be in (0, 1), not {r!r}")
            w = params[f"{m}.windows"]
            if w != "auto" and (isinstance(w, bool) or not isinstance(w, int) or w < 1):
                raise ValueError(f"{m}.windows must be a positive integer or 'auto', not "
                                 f"{w!r}")
            if w != "auto" and w > contract.MAX_WINDOWS:
                # "At most W" below the limit is the setting's meaning; above it, the
                # windows would be cut to the RTL's limit without a word.
                raise ValueError(f"{m}.windows {w} exceeds the RTL's limit of "
                                 f"{contract.MAX_WINDOWS} readout windows")
            if params[f"{m}.readout"] not in ("count", "trace"):
                raise ValueError(f"{m}.readout must be count or trace, not "
                                 f"{params[f'{m}.readout']!r}")
    except (ValueError, TypeError, OverflowError) as e:
        raise ConfigError(f"--config: {path}: {e}") from None
    cost = raw.get("cost")
    if cost is not None:
        bad = [k for k in ("flops", "trial_seconds", "trials")
               if isinstance(cost.get(k), bool) or not isinstance(cost.get(k), (int, float))
               or cost[k] < 0]
        if bad:
            raise ConfigError(f"--config: {path}: [cost] {bad[0]} must be a non-negative "
                              f"number, not {cost.get(bad[0])!r}")
    return TunedConfig(path, params, data, raw.get("score", {}), cost)


def check_matches(tuned: TunedConfig, fields: dict, only=_DATA_FIELDS) -> None:
    """Refuse data unlike those the configuration was tuned on, naming the field."""
    for k in only:
        a, b = tuned.data[k], fields[k]
        if (list(a) if isinstance(a, (list, tuple)) else a) != \
                (list(b) if isinstance(b, (list, tuple)) else b):
            src = fields["visual" if k.startswith("visual") else "audio"]
            raise ConfigError(f"--config: {tuned.path}: data.{k} is {a!r} but the data here "
                              f"give {b!r} ({src}): tune on these data instead")


def tuned_inputs(tuned: TunedConfig, visual: str, audio: str, *, progress: bool = True):
    """The two datasets as the tuned configuration frames them (every sample, both splits:
    the test figures of ``train`` come from them), and the pipeline settings.

    Returns ``(visual_rasters, audio_rasters, per_modality, zeroshot)``.
    """
    from rramlsm.sw.datasets import load_source
    from rramlsm.sw.datasets.cochlea import Cochlea
    from rramlsm.sw.datasets.fsdd import load_wav_folder
    from rramlsm.sw.datasets.raster import RasterDataset
    from rramlsm.sw.datasets.sources import parse_source, source_modality
    from rramlsm.sw.events import frame_audio, frame_vision

    p = tuned.params
    a_kind = _source_kind(audio)
    # What the source names tell, before anything is loaded; the sensors after.
    check_matches(tuned, {"visual": visual, "audio": audio,
                          "visual_modality": source_modality(visual), "visual_kind": "events",
                          "audio_modality": source_modality(audio), "audio_kind": a_kind},
                  only=("visual_modality", "visual_kind", "audio_modality", "audio_kind"))
    v_ds = load_source(visual, progress=progress)
    if a_kind == "wav" and tuned.data["audio_kind"] == "wav":
        a_ds = load_wav_folder(parse_source(audio)[1], cochlea=Cochlea(_cochlea_config(p)),
                               name=audio)
    else:
        a_ds = load_source(audio, progress=progress)
    fields = {"visual": visual, "audio": audio,
              "visual_modality": v_ds.modality, "visual_kind": "events",
              "visual_sensor": list(v_ds.sensor), "audio_modality": a_ds.modality,
              "audio_kind": a_kind, "audio_sensor": list(a_ds.sensor)}
    check_matches(tuned, fields)
    fv = frame_vision(v_ds.events, vision_framing(p, v_ds.sensor))
    fa = frame_audio(a_ds.events, audio_framing(p, a_kind))
    rv = RasterDataset(v_ds.name, "vision", fv, v_ds.labels, v_ds.is_train, groups=v_ds.groups)
    ra = RasterDataset(a_ds.name, "audio", fa, a_ds.labels, a_ds.is_train, groups=a_ds.groups)
    framing = {"visual": {"vision": dataclasses.asdict(vision_framing(p, v_ds.sensor))},
               "audio": {"audio": dataclasses.asdict(audio_framing(p, a_kind))}}
    if a_kind == "wav":
        framing["audio"]["cochlea"] = dataclasses.asdict(_cochlea_config(p))
    per_modality = {}
    for m, x in (("visual", fv), ("audio", fa)):
        lsm = _reservoir_config(m, int(x.shape[2]), int(x.shape[1]), p)
        per_modality[m] = {"target_rate": float(p[f"{m}.target_rate"]),
                           "lsm": {k: getattr(lsm, k) for k in ("inputs", "steps", "windows",
                                                                 "readout", "trace_shift")},
                           "framing": framing[m]}
    return rv, ra, per_modality, head_config(p)


# -- Report ----------------------------------------------------------------------------------

def write_tune_report(path: Path, settings: TuneSettings, summary: dict, records: list[dict],
                      space: dict) -> Path:
    """What was tried, the validation curves, which settings mattered."""
    import base64
    import html

    from rramlsm.sw.plots import png_base64, pyplot

    plt = pyplot()

    scored = sorted((r for r in records if r.get("score") is not None),
                    key=lambda r: r["number"])
    best = summary["best"]
    default = next((r for r in scored if r.get("defaults")), None)
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    ax = axes[0]
    xs = [r["number"] for r in scored]
    ys = [r["score"] for r in scored]
    ax.errorbar(xs, ys, yerr=[r["score_sd"] for r in scored], fmt="o", ms=4, alpha=0.6,
                capsize=2, label="trial (± s.d. over folds)")
    ax.plot(xs, np.maximum.accumulate(ys), "-", color="C3", label="best so far")
    if default is not None:
        ax.axhline(default["score"], color="grey", ls="--", label="defaults")
    ax.set_xlabel("trial")
    ax.set_ylabel(f"validation score ({settings.objective}, %)")
    ax.legend(fontsize=8)
    ax = axes[1]
    best_rec = next(r for r in scored if r["number"] == best["number"])
    for rec, label in ((best_rec, f"winner (trial {best['number']})"), (default, "defaults")):
        if rec is not None:
            ax.plot(range(1, len(rec["curve"]) + 1), rec["curve"], label=label)
    ax.set_xlabel("head training epoch")
    ax.set_ylabel("held-out zero-shot top-1 % (mean over folds)")
    ax.legend(fontsize=8)
    png = png_base64(fig)
    write_atomic(path.parent / "tune.png", base64.b64decode(png))
    keys = list(space)
    imp = summary["importance"]
    imp_rows = "".join(f"<tr><td>{html.escape(k)}</td><td>{100 * v:.0f} %</td>"
                       f"<td>{html.escape(MEANING[k])}</td></tr>" for k, v in imp.items())
    head = ("<tr><th>trial</th><th>score</th><th>s.d.</th><th>zero-shot</th><th>probe v</th>"
            "<th>probe a</th>" + "".join(f"<th>{html.escape(k)}</th>" for k in keys) + "</tr>")

    def cell(v):
        return f"{v:.3g}" if isinstance(v, float) else html.escape(str(v))

    bold = ' style="font-weight:bold"'
    body = "".join(
        f"<tr{bold if r['number'] == best['number'] else ''}>"
        f"<td>{r['number']}{' (defaults)' if r.get('defaults') else ''}</td>"
        f"<td>{r['score']:.1f}</td><td>{r['score_sd']:.1f}</td>"
        + "".join(f"<td>{r['metrics'][k]:.1f}</td>" for k in
                  ("zero_shot", "probe_visual", "probe_audio"))
        + "".join(f"<td>{cell(complete(r['config'])[k])}</td>" for k in keys) + "</tr>"
        for r in sorted(scored, key=lambda r: -r["score"]))
    d = summary["defaults"]
    rotation = (f" Split rotation: every score is the mean over the held-out groups "
                f"{[list(g) for g in settings.groups]}, each scored on these data without "
                f"its classes." if settings.groups else "")
    vs = (f"defaults {d['score']:.1f} ± {d['score_sd']:.1f}" if d else "defaults not scored")
    doc = f"""<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>rramlsm tune</title>
<style>body{{font-family:sans-serif;max-width:1200px;margin:auto}}
table{{border-collapse:collapse;font-size:90%}}td,th{{border:1px solid #ccc;padding:2px 6px}}
</style></head><body><h1>Tuning: {html.escape(settings.visual)} + {html.escape(settings.audio)}</h1>
<p>{summary['trials']} trials (Ray Tune, Optuna TPE) plus the defaults, each scored by
{settings.folds}-fold cross-validation on the training split of the seen classes
{list(settings.seen)} ({summary['samples']['visual']} visual and
{summary['samples']['audio']} audio samples); the test split and the unseen classes never
entered tuning.{rotation} Score: {html.escape(settings.objective)} of the held-out zero-shot
(audio&rarr;image) top-1 and the two linear probes, in %.</p>
<p><b>Winner: trial {best['number']}, {best['score']:.1f} ± {best['score_sd']:.1f}</b>;
{vs}. Written to tuned.toml.</p>
<img src="data:image/png;base64,{png}">
<h2>Which settings mattered</h2>
<p>Share of the score's variance across trials explained by each setting alone (trials
grouped by value; numbers in three bins). Settings are sampled together, so this is a guide,
not a controlled experiment.</p>
<table><tr><th>setting</th><th>variance explained</th><th>meaning</th></tr>{imp_rows}</table>
<h2>Every trial, best first</h2>
<table>{head}{body}</table>
</body></html>"""
    with atomic_path(path) as tmp:
        tmp.write_text(doc)
    return path
