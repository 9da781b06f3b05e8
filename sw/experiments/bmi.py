"""The BMI task: zero-shot alignment of attempted-handwriting neural activity and letter images.

The third showcase of Lin et al., Nature Computational Science 5, 37-47 (2025): two 2048-neuron
reservoirs -- one fed
with 192 channels of binarised motor-cortex activity over 201 bins, one with
28 x 28 letter images rate-coded over 50 steps -- and two heads 2048 -> 256
trained with the label-aware contrastive loss (temperature 0.5) on 22 seen
letters; the 4 unseen letters (s, t, u, v) are recognised by retrieval.

The protocol is :mod:`rramlsm.sw.zeroshot`'s with the letter images in the
role of the visual modality and the neural recordings as the queries:
figures are *neural query -> letter image retrieved*, checkpoint chosen on
validation pairs of seen letters, seen pools from the test split, unseen
pools from every sample.

Hardware path: the golden model's arithmetic on each reservoir (an array of
192 + 2048 rows spans three 1,024-row crossbar tiles whose partial sums add
exactly, :data:`~rramlsm.sw.contract.TILE_ROWS`) and int8 heads.  The RTL
core stops at one tile: see ``docs/BMI.md`` for why this task stays off the
generated macro, with numbers.
"""

from __future__ import annotations

import dataclasses
import functools
import time
from dataclasses import dataclass, field

import numpy as np

from rramlsm.errors import ConfigError
from rramlsm.sw import contract
from rramlsm.sw._checks import check_int, check_real, check_seeds
from rramlsm.sw.datasets.letters import (
    LETTERS,
    UNSEEN_LETTERS,
    LetterImageConfig,
    MotorCortexConfig,
    build_letter_images,
    build_neural,
    load_single_letters,
)
from rramlsm.sw.datasets.raster import RasterDataset
from rramlsm.sw.experiments._ray import local_cpus, map_runs
from rramlsm.sw.experiments.split_rotation import (
    ZERO_SHOT_KEYS,
    resolve_letter_groups,
    run_rotation,
)
from rramlsm.sw.features import binned_input, firing_rate, known_counts, lsm_counts
from rramlsm.sw.heads import HeadConfig, quantize_head
from rramlsm.sw.lsm import PRESETS, LSMConfig, float_features, make_reservoir
from rramlsm.sw.readout import parse_readout, readout_windows, with_readout
from rramlsm.sw.zeroshot import (
    ZeroShotConfig,
    evaluate_embeddings,
    held_out_class_groups,
    held_out_class_top1,
    held_out_split,
    linear_probe,
    make_split,
    selection_protocol,
    train_heads,
)

__all__ = ["BMI_TEMPERATURES", "BMIConfig", "choose_temperature", "BMIResult", "run_bmi",
           "load_neural_source", "PAPER_BMI", "bmi_energy", "bmi_zeroshot_config",
           "run_bmi_rotation", "bmi_training_cost"]

#: What ``--temperature auto`` chooses among: the paper's BMI temperature (0.5), its CLIP
#: temperature of the audio-visual task (1.0), and twice that.
BMI_TEMPERATURES = (0.5, 1.0, 2.0)

#: The BMI figures (software) of Lin et al., Nature Computational Science 5, 37-47 (2025).
PAPER_BMI = {"zero_shot_seen_top1": 52.27, "zero_shot_unseen_top1": 70.83}


def bmi_zeroshot_config(**changes) -> ZeroShotConfig:
    """The paper's BMI protocol: 22 seen letters, s/t/u/v unseen, 2048 -> 256 heads,
    label-aware loss at temperature 0.5.

    The batch is 32 pairs (the paper does not state it): with 22 classes a batch
    of 8 rarely holds two pairs of one letter, and the label-aware loss then
    degenerates to CLIP.  ``BMIConfig.temperatures`` chooses the temperature per seed
    instead (class-disjoint validation, :func:`choose_temperature`).
    """
    unseen = tuple(LETTERS.index(c) for c in UNSEEN_LETTERS)
    seen = tuple(i for i in range(len(LETTERS)) if i not in unseen)
    base = ZeroShotConfig(seen=seen, unseen=unseen, head=HeadConfig(inputs=2048, dim=256),
                          loss="supcon", temperature=0.5, batch=32)
    return base.replace(**changes)


@dataclass(frozen=True)
class BMIConfig:
    """Data, reservoirs, seeds and protocol of one BMI run."""

    neural: str = "model"
    """``"model"`` (the built-in motor-cortex model) or ``"willett:PATH"`` (singleLetters.mat)."""
    seeds: tuple[int, ...] = (0, 1, 2, 3, 4)
    neurons: int = 2048
    """Reservoir neurons of both LSMs (Lin et al. 2025: 2048)."""
    target_rate: float | None = 0.05
    """Calibrate each reservoir to this firing rate; None keeps the paper's constants."""
    zeroshot: ZeroShotConfig = field(default_factory=bmi_zeroshot_config)
    neural_model: MotorCortexConfig = MotorCortexConfig()
    images: LetterImageConfig = LetterImageConfig()
    hardware_noise: bool = False
    """Hardware path with the golden model's read noise."""
    windows: dict = field(default_factory=lambda: {"neural": "auto", "letters": "auto"})
    """Readout windows per reservoir: a count, or ``"auto"`` to choose it per seed by
    cross-validation on the seen letters' training trials
    (:func:`~rramlsm.sw.readout.select_windows`)."""
    readout: dict = field(default_factory=lambda: {"neural": "count", "letters": "count"})
    """What each reservoir's windows hold: ``"count"``, ``"trace"`` or ``"trace:K"``
    (:func:`~rramlsm.sw.readout.parse_readout`)."""
    temperatures: tuple[float, ...] = ()
    """Two or more candidate temperatures of the contrastive loss, one chosen per seed by
    class-disjoint validation (:func:`choose_temperature`); empty: ``zeroshot.temperature``."""
    held_out_groups: int = 3
    """Groups of seen letters (as many as the unseen ones) that class-disjoint validation
    holds out in turn."""

    def __post_init__(self):
        if not self.seeds:
            raise ConfigError("BMIConfig needs at least one seed")
        if set(self.windows) != {"neural", "letters"}:
            raise ConfigError(f"BMIConfig windows must name 'neural' and 'letters', not "
                              f"{sorted(self.windows)}")
        for m, w in self.windows.items():
            if w != "auto":
                try:
                    check_int("BMIConfig", f"{m} windows", w, lo=1, hi=contract.MAX_WINDOWS)
                except (TypeError, ValueError) as e:
                    raise ConfigError(f"{e} (or 'auto')") from None
        if set(self.readout) != {"neural", "letters"}:
            raise ConfigError(f"BMIConfig readout must name 'neural' and 'letters', not "
                              f"{sorted(self.readout)}")
        for m, spec in self.readout.items():
            try:
                parse_readout(spec)
            except ValueError as e:
                raise ConfigError(f"BMIConfig {m} {e}") from None
        check_seeds("BMIConfig", self.seeds)
        for t in self.temperatures:
            check_real("BMIConfig", "temperature", t, lo=0.0, lo_open=True)
        check_int("BMIConfig", "held_out_groups", self.held_out_groups, lo=1)
        if len(set(self.temperatures)) != len(self.temperatures):
            raise ConfigError(f"BMIConfig temperatures: {list(self.temperatures)} names one "
                              f"twice")
        if len(self.temperatures) == 1:
            raise ConfigError("BMIConfig temperatures: one candidate is no choice; set "
                              "zeroshot.temperature")
        if self.temperatures:   # refused here, not after the reservoirs ran
            try:
                held_out_class_groups(self.zeroshot.seen, len(self.zeroshot.unseen),
                                      self.held_out_groups, 0)
            except ConfigError as e:
                raise ConfigError(f"BMIConfig held_out_groups: {e}") from None
        check_int("BMIConfig", "neurons", self.neurons, lo=1)
        if self.target_rate is not None:
            check_real("BMIConfig", "target_rate", self.target_rate, lo=0.0, hi=1.0,
                       lo_open=True, hi_open=True)
        if not (self.neural == "model" or self.neural.startswith("willett:")):
            raise ConfigError(f"BMI neural source must be 'model' or 'willett:PATH', not "
                              f"{self.neural!r}")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


@dataclass
class BMIResult:
    config: BMIConfig
    metrics: dict
    neural: RasterDataset
    letters: RasterDataset
    seeds: list[dict]
    """Per seed: figures, history and the first seed's embeddings (for the report)."""


def load_neural_source(spec: str, config: MotorCortexConfig | None = None) -> RasterDataset:
    """``"model"`` (built-in, ``config``) or ``"willett:PATH"``."""
    config = config or MotorCortexConfig()
    if spec == "model":
        return build_neural(config)
    kind, _, path = spec.partition(":")
    if kind != "willett" or not path:
        raise ConfigError(f"BMI neural source must be 'model' or 'willett:PATH', not {spec!r}")
    from pathlib import Path

    return load_single_letters(Path(path).expanduser(), test_fraction=config.test_fraction)


def _lsm_config(preset: str, ds: RasterDataset, neurons: int) -> LSMConfig:
    """The preset, sized to the data (a real file decides bins and channels)."""
    cfg = PRESETS[preset].replace(inputs=ds.channels, steps=ds.bins, neurons=neurons)
    if ds.bins > 255:
        raise ConfigError(f"{ds.name}: {ds.bins} time bins; 8-bit spike counts allow at most "
                          f"255")
    return cfg


def _calibrated(cfg: LSMConfig, ds: RasterDataset, seed: int, target: float | None,
                classes=None) -> tuple[LSMConfig, dict | None]:
    """``cfg`` calibrated to ``target`` firing, and the calibration's cost (``passes`` x
    ``samples`` and ``seconds``; None when not calibrated)."""
    from rramlsm.sw.experiments.audiovisual import calibration_on_training

    # 64 samples: 2048-neuron reservoirs over 201 steps make each bisection step costly.
    # ``classes``: the seen letters (unseen letters never reach calibration).
    t0 = time.perf_counter()
    cal = calibration_on_training(cfg, ds, seed, target, limit=64, classes=classes)
    if cal is None:
        return cfg, None
    return cal.config, {"passes": cal.passes, "samples": cal.samples,
                        "seconds": time.perf_counter() - t0}


def choose_temperature(rates_letters, rates_neural, letters, neural, split, zs, cfg: BMIConfig,
                       seed: int, progress=None) -> tuple[float, dict]:
    """The temperature of ``cfg.temperatures`` whose heads retrieve held-out seen letters
    best (mean top-1 over ``cfg.held_out_groups`` groups; ties: the earlier candidate),
    and the scores per candidate.  Training trials of seen letters only."""
    groups = held_out_class_groups(zs.seen, len(zs.unseen), cfg.held_out_groups, seed)
    scores = {t: held_out_class_top1(rates_letters, rates_neural, letters.labels, neural.labels,
                                     split, zs.replace(temperature=t), groups, seed=seed,
                                     progress=progress)
              for t in cfg.temperatures}
    best = max(cfg.temperatures, key=lambda t: float(np.mean(scores[t])))
    return best, {"candidates": list(cfg.temperatures), "chosen": best,
                  "held_out": ["".join(LETTERS[c] for c in g) for g in groups],
                  "held_out_top1": {str(t): v for t, v in scores.items()}}


def _summary(r: dict) -> dict:
    return {"seen_top1": r["seen"]["a2v"], "unseen_top1": r["unseen"]["a2v"],
            "image_query_seen_top1": r["seen"]["v2a"],
            "image_query_unseen_top1": r["unseen"]["v2a"],
            "prototype_seen_top1": r["seen"]["a2v_prototype"],
            "prototype_unseen_top1": r["unseen"]["a2v_prototype"]}


def _run_seed(seed: int, neural: RasterDataset, letters: RasterDataset, cfg: BMIConfig,
              progress, keep_embeddings: bool) -> dict:
    import torch

    from rramlsm.sw.experiments.audiovisual import chip_seeds

    data = {"letters": letters, "neural": neural}
    chip = chip_seeds(seed, ("neural", "letters"))
    calibrated = {m: _calibrated(_lsm_config(m, data[m], cfg.neurons), data[m], chip[m],
                                 cfg.target_rate, cfg.zeroshot.seen) for m in data}
    configs = {m: c for m, (c, _) in calibrated.items()}
    calibration = {m: c for m, (_, c) in calibrated.items() if c is not None}
    readout, known = {}, {}
    for m, ds in data.items():
        train = np.flatnonzero(ds.is_train & np.isin(ds.labels, cfg.zeroshot.seen))
        configs[m], readout[m] = readout_windows(
            configs[m], cfg.windows[m], lambda ds=ds, i=train: ds.frames[i], ds.labels[train],
            seed=chip[m], crop=True, keep_trains=True)
        configs[m] = with_readout(configs[m], cfg.readout[m])
        # The choice's float pass gives the seen training trials' counts (the reservoir is
        # causal: its trains over the first T - T mod W bins are those of the cut frames).
        known[m] = known_counts(train, readout[m].pop("trains", None), configs[m])
        readout[m].update(readout=configs[m].readout, trace_shift=configs[m].trace_shift)
        if configs[m].steps != ds.bins:      # read over the first T - T mod W bins
            data[m] = dataclasses.replace(ds, frames=ds.frames[:, :configs[m].steps])
    letters, neural = data["letters"], data["neural"]
    counts = {m: {p: lsm_counts(data[m], configs[m], seed=chip[m], path=p,
                                noise=cfg.hardware_noise and p == "golden",
                                known=known[m] if p == "float" else None)
                  for p in ("float", "golden")} for m in data}
    scale = {m: configs[m].feature_scale for m in data}
    rates = {m: {p: counts[m][p].astype(np.float32) / scale[m] for p in counts[m]} for m in data}
    zs = cfg.zeroshot.replace(head=dataclasses.replace(cfg.zeroshot.head, inputs=cfg.neurons))
    # Letter images play the visual role, neural trials the queries ("audio" slot).
    split = make_split(letters.labels, letters.is_train, neural.labels, neural.is_train, zs,
                       seed)
    t0 = time.perf_counter()
    choice = None
    if cfg.temperatures:
        best, choice = choose_temperature(rates["letters"]["float"], rates["neural"]["float"],
                                          letters, neural, split, zs, cfg, seed, progress)
        zs = zs.replace(temperature=best)
    choice_seconds = time.perf_counter() - t0
    t0 = time.perf_counter()
    trained = train_heads(rates["letters"]["float"], rates["neural"]["float"], letters.labels,
                          neural.labels, split, zs, seed=seed, progress=progress)
    train_seconds = time.perf_counter() - t0
    heads = {"letters": trained.visual, "neural": trained.audio}
    with torch.no_grad():
        emb_sw = {m: heads[m](torch.as_tensor(rates[m]["float"])).numpy() for m in data}
    r_sw = evaluate_embeddings(emb_sw["letters"], emb_sw["neural"], letters.labels,
                               neural.labels, split)
    hist = trained.history
    # The raw input binned like the readout: what a linear decoder reads without a reservoir.
    raw_probe = {f"raw_{m}_top1": linear_probe(binned_input(data[m], configs[m]), data[m].labels,
                                               data[m].is_train, seed=seed) for m in data}
    software = {
        "zero_shot": _summary(r_sw),
        "probe": {**{f"{m}_top1": linear_probe(rates[m]["float"], data[m].labels,
                                               data[m].is_train, seed=seed) for m in data},
                  **raw_probe},
        "test_selected": {"seen_top1": max(h["test"]["seen"]["a2v"] for h in hist),
                          "unseen_top1": max(h["test"]["unseen"]["a2v"] for h in hist)},
    }
    train_l, train_n = split.training_indices()
    calib = {"letters": train_l, "neural": train_n}
    t0 = time.perf_counter()
    iheads = {m: quantize_head(heads[m], counts[m]["golden"][calib[m]], scale[m]) for m in data}
    quantize_seconds = time.perf_counter() - t0
    emb_hw = {m: iheads[m](counts[m]["golden"]) for m in data}
    # The macro's arithmetic (keys enrolled at unit length, integer dot product) is the
    # hardware figure; cosine beside it.
    r_hw = evaluate_embeddings(emb_hw["letters"], emb_hw["neural"], letters.labels,
                               neural.labels, split, integer=True)
    r_hw_cosine = evaluate_embeddings(emb_hw["letters"].astype(np.float64),
                                      emb_hw["neural"].astype(np.float64), letters.labels,
                                      neural.labels, split)
    hardware = {
        "zero_shot": _summary(r_hw),
        "zero_shot_cosine": _summary(r_hw_cosine),
        "probe": {**{f"{m}_top1": linear_probe(rates[m]["golden"], data[m].labels,
                                               data[m].is_train, seed=seed) for m in data},
                  **raw_probe},
    }
    tiles = {m: contract.tiles(configs[m].inputs + configs[m].neurons) for m in data}
    out = {
        "seed": seed, "software": software, "hardware": hardware,
        "firing_rate": {m: {p: firing_rate(data[m], configs[m], counts[m][p], seed=chip[m],
                                           path=p, noise=cfg.hardware_noise and p == "golden")
                            for p in counts[m]} for m in data},
        "weight_scale": {m: configs[m].weight_scale for m in data},
        "readout": readout,
        "tiles": tiles, "best_epoch": trained.best_epoch, "train_seconds": train_seconds,
        "calibration": calibration, "quantize_seconds": quantize_seconds,
        "temperature": zs.temperature,
        **({"temperature_choice": {**choice, "seconds": choice_seconds}} if choice else {}),
        "history": [{"epoch": h["epoch"], "loss": h["loss"], "val_top1": h["val_top1"],
                     "test_seen_top1": h["test"]["seen"]["a2v"],
                     "test_unseen_top1": h["test"]["unseen"]["a2v"]} for h in hist],
    }
    if keep_embeddings:
        # Also what the training cost of this seed's recipe is counted on.
        out["embeddings"] = {"software": emb_sw, "hardware": emb_hw, "split": split,
                             "configs": configs, "chip": chip, "zeroshot": zs,
                             "heads": iheads}
    return out


def rotation_run(seed: int, neural: RasterDataset, letters: RasterDataset,
                 cfg: BMIConfig) -> dict:
    """One (letter group, seed) run of a split rotation: its zero-shot figures."""
    out = _run_seed(seed, neural, letters, cfg, None, keep_embeddings=False)
    return {path: {k: out[path]["zero_shot"][k] for k in ZERO_SHOT_KEYS}
            for path in ("software", "hardware")}


def run_bmi_rotation(config: BMIConfig, spec: str, neural: RasterDataset,
                     letters: RasterDataset, *, progress: bool = True,
                     seeds_per_split: int | None = None, cpus: int | None = 1) -> dict:
    """The protocol repeated for ``spec`` = K held-out groups of 4 letters
    (:func:`~rramlsm.sw.experiments.split_rotation.resolve_letter_groups`): the
    ``zero_shot_splits`` of ``metrics.json`` (no GZSL: the BMI task has none)."""
    classes, groups = resolve_letter_groups(spec, len(LETTERS))
    rot = run_rotation(rotation_run, config, spec, classes, groups, neural, letters,
                       progress=progress, seeds_per_split=seeds_per_split, cpus=cpus)
    rot["letters"] = ["".join(LETTERS[c] for c in g) for g in groups]
    return rot


def _seed_task(seed: int, neural: RasterDataset, letters: RasterDataset, cfg: BMIConfig,
               keep_embeddings_of: int) -> dict:
    return _run_seed(seed, neural, letters, cfg, None,
                     keep_embeddings=(seed == keep_embeddings_of))


def run_bmi(config: BMIConfig = BMIConfig(), *, progress: bool = True,
            neural: RasterDataset | None = None, letters: RasterDataset | None = None,
            cpus: int | None = 1) -> BMIResult:
    """Every seed of the BMI task, aggregated to mean and s.d. (``neural`` / ``letters``
    override the sources).  ``cpus``: local CPUs (None: all); above 1, with several seeds,
    the seeds run as Ray tasks, one core each (the same figures: tested for the
    audio-visual task, whose seeds take the same path)."""
    from tqdm.auto import tqdm

    from rramlsm.sw.experiments.audiovisual import aggregate_seeds

    t0 = time.perf_counter()
    n = neural if neural is not None else load_neural_source(config.neural, config.neural_model)
    li = letters if letters is not None else build_letter_images(config.images)
    if n.class_names != li.class_names:
        raise ConfigError(f"neural classes {''.join(n.class_names)!r} and letter-image classes "
                          f"{''.join(li.class_names)!r} differ")
    cpus = local_cpus(cpus)
    if cpus > 1 and len(config.seeds) > 1:
        bar = tqdm(total=len(config.seeds), desc="seeds", unit="seed", disable=not progress,
                   leave=False)
        seeds = map_runs(functools.partial(_seed_task, keep_embeddings_of=config.seeds[0]),
                         [(s, config) for s in config.seeds], n, li, cpus, bar)
    else:
        # Each seed trains its heads once, and once per candidate and held-out group before.
        trainings = 1 + len(config.temperatures) * config.held_out_groups
        bar = tqdm(total=len(config.seeds) * config.zeroshot.epochs * trainings,
                   desc="training heads",
                   unit="epoch", disable=not progress, leave=False)
        seeds = [_run_seed(s, n, li, config, bar, keep_embeddings=(i == 0))
                 for i, s in enumerate(config.seeds)]
    bar.close()
    zs = config.zeroshot
    metrics = {
        "task": "bmi",
        "zero_shot": aggregate_seeds([s["software"]["zero_shot"] for s in seeds]),
        "software": aggregate_seeds([s["software"] for s in seeds]),
        "hardware": aggregate_seeds([s["hardware"] for s in seeds]),
        "firing_rate": aggregate_seeds([s["firing_rate"] for s in seeds]),
        "weight_scale": aggregate_seeds([s["weight_scale"] for s in seeds]),
        # Windows and steps each seed's readout used (chosen on seen training trials).
        "readout": {m: {"windows": [s["readout"][m]["windows"] for s in seeds],
                        "steps": [s["readout"][m]["steps"] for s in seeds],
                        "kind": seeds[0]["readout"][m]["readout"],
                        **({"trace_shift": [s["readout"][m]["trace_shift"] for s in seeds]}
                           if seeds[0]["readout"][m]["readout"] == "trace" else {}),
                        **({"cv_top1": aggregate_seeds([s["readout"][m]["scores"]
                                                        for s in seeds])}
                           if "scores" in seeds[0]["readout"][m] else {})}
                    for m in seeds[0]["readout"]},
        "tiles": seeds[0]["tiles"],
        # Per seed: candidates, held-out letters, their retrieval per candidate, the choice.
        **({"temperature_choice": [s["temperature_choice"] for s in seeds]}
           if config.temperatures else {}),
        "chance": {"seen_top1": 100.0 / len(zs.seen), "unseen_top1": 100.0 / len(zs.unseen)},
        "protocol": {
            "selection": selection_protocol(zs),
            "test_selected": "software.test_selected: best epoch on the test split "
                             "(optimistic, for comparison only)",
            "direction": "neural query -> letter image retrieved (image_query_* the other way)",
            "seen": "".join(LETTERS[c] for c in zs.seen),
            "unseen": "".join(LETTERS[c] for c in zs.unseen),
            "loss": f"{zs.loss}, temperature "
                    + (f"chosen per seed among {list(config.temperatures)} by class-disjoint "
                       f"validation ({config.held_out_groups} groups of seen letters held out)"
                       if config.temperatures else str(zs.temperature))
                    + f", batch {zs.batch}",
            "temperature": [s["temperature"] for s in seeds],
            "seeds": list(config.seeds),
        },
        "sources": {"neural": n.name, "letters": li.name},
        "samples": {"neural": len(n), "letters": len(li)},
        "paper": PAPER_BMI,
    }
    metrics["seconds"] = time.perf_counter() - t0
    return BMIResult(config, metrics, n, li, seeds)


def bmi_training_cost(result: BMIResult, baseline_epochs: int | None = None) -> dict:
    """The training cost of the first seed's recipe
    (:func:`~rramlsm.sw.experiments.training_cost.training_cost`), every step on its own line:
    the firing-rate calibration, the choice of readout windows (``windows auto``), one float
    feature extraction over the training trials (timed by the windows' choice, whose pass
    made it, or run again here: the run took its counts from the feature cache), the head
    trainings of the temperature choice (``--temperature auto``), the heads' training, the
    golden model's pass over the training trials their int8 quantisation is calibrated on,
    and the quantisation; beside it SRNN-CLIP and ProtoNet on the same pairs
    (``baseline_epochs``: the heads' epochs).
    Letter images take the visual slot, neural trials the audio one, as in the protocol.
    """
    from rramlsm.sw.experiments.baselines import BaselineConfig
    from rramlsm.sw.experiments.training_cost import (
        golden_pass_cost,
        head_training_flops,
        quantization_flops,
        readout_selection_cost,
        training_cost,
    )

    s0, cfg = result.seeds[0], result.config
    kept = s0["embeddings"]
    configs, chip, split, zs = kept["configs"], kept["chip"], kept["split"], kept["zeroshot"]
    data = {"letters": result.letters, "neural": result.neural}
    frames = {m: data[m].frames[:, :configs[m].steps] for m in data}
    reservoirs = {m: make_reservoir(configs[m], seed=chip[m]) for m in data}
    train = dict(zip(("letters", "neural"), split.training_indices(), strict=True))
    chosen = {m: r for m, r in s0["readout"].items() if "samples" in r}
    # The feature extraction's time: the windows' choice made it (its float pass over the
    # seen training trials gave their counts) and timed it; otherwise it runs again here
    # (the run took its counts from the feature cache).
    extraction = 0.0
    for m in data:
        r = chosen.get(m)
        if r is not None and r["samples"] >= len(train[m]):
            extraction += r["forward_seconds"] * len(train[m]) / r["samples"]
        else:
            t0 = time.perf_counter()
            float_features(reservoirs[m], frames[m][train[m]])
            extraction += time.perf_counter() - t0
    seconds = {"calibration": sum(c["seconds"] for c in s0["calibration"].values()),
               "feature_extraction": extraction, "head_training": s0["train_seconds"]}
    inputs = {"visual": configs["letters"].features, "audio": configs["neural"].features}
    extra = {"quantization": {
        "flops": sum(quantization_flops(kept["heads"][m], len(train[m])) for m in data),
        "seconds": s0["quantize_seconds"]}}
    # The calibration and the windows' choice ran over the whole recordings (T bins), the
    # readout over the first T - T mod W of them (``configs``).
    bins = {m: data[m].bins for m in data}
    # The int8 heads are calibrated on the golden model's counts of the training trials
    # (quantize_head in _run_seed): a pass of the golden model over them, timed again here
    # (the run took them from the feature cache).
    extra["golden_feature_extraction"] = golden_pass_cost(
        reservoirs, frames, train, cfg.hardware_noise, chip)
    if chosen:
        # That pass gave the seen training trials' counts: the feature extraction counts
        # them (over the readout's bins), so only the choice's own work is added (as in the
        # audio-visual task), with the bins the pass ran beyond the readout's.
        shared = {m: min(r["samples"], len(train[m])) for m, r in chosen.items()}
        extra["readout_selection"] = readout_selection_cost(configs, chosen, shared, bins)
    choice = s0.get("temperature_choice")
    if choice:
        groups = held_out_class_groups(zs.seen, len(zs.unseen), cfg.held_out_groups,
                                       s0["seed"])
        pairs = [len(held_out_split(split, g, result.letters.labels,
                                    result.neural.labels).pairs(None)[0]) for g in groups]
        extra["temperature_choice"] = {
            "flops": sum(head_training_flops(zs, inputs, p) for p in pairs)
                     * len(choice["candidates"]),
            "seconds": choice["seconds"], "trainings": len(pairs) * len(choice["candidates"])}
    calibration = {m: {"passes": c["passes"], "samples": c["samples"], "steps": bins[m]}
                   for m, c in s0["calibration"].items()}
    slots = {"letters": "visual", "neural": "audio"}
    cost = training_cost({slots[m]: f for m, f in frames.items()},
                         {slots[m]: r for m, r in reservoirs.items()}, split, zs,
                         BaselineConfig(epochs=baseline_epochs or zs.epochs),
                         our_seconds=seconds,
                         calibration={slots[m]: c for m, c in calibration.items()},
                         extra=extra)
    cost["slots"] = slots
    return cost


def bmi_energy(samples: int = 32, *, seed: int = 0, target_rate: float = 0.05,
               energies=None) -> dict:
    """Energy per sample of the BMI task's two 2048-neuron reservoirs (tiled arrays) with
    their 2048 -> 256 heads, macro against the dense digital baseline, on ``samples``
    built-in samples per modality (no bundle: the BMI task stays off the RTL)."""
    from rramlsm.sw.energy import OpEnergies, analog_latency_ns, count_events, energy_figures
    from rramlsm.sw.experiments.audiovisual import chip_seeds
    from rramlsm.sw.golden import golden_counts, quantize_reservoir

    e = energies or OpEnergies()
    data = {"neural": build_neural(MotorCortexConfig(trials=max(2, -(-samples // 26)))),
            "letters": build_letter_images(LetterImageConfig(per_letter=max(2, -(-samples
                                                                                // 26))))}
    out = {"modalities": {}}
    chip = chip_seeds(seed, tuple(data))
    for m, ds in data.items():
        cfg, _ = _calibrated(_lsm_config(m, ds, 2048), ds, chip[m], target_rate)
        lsm = quantize_reservoir(make_reservoir(cfg, seed=chip[m]))
        fr = ds.frames[:samples]
        _, trains = golden_counts(lsm, fr, record=True)
        c = count_events(lsm, 256, len(LETTERS), fr, trains)
        out["modalities"][m] = {
            "samples": len(fr), "tiles": lsm.tiles, "firing_rate": float(trains.mean()),
            **energy_figures(c, e), "latency_analog_us": analog_latency_ns(c, e) / 1e3,
        }
    return out
