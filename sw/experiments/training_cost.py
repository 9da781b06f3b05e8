"""Training cost of each method: FLOPs counted by PyTorch, plus wall time measured in one run.

What is counted, for every method alike: the floating-point operations that
``torch.utils.flop_counter.FlopCounterMode`` attributes to matrix products
(forward and backward), on real batches of the real data, multiplied by the
number of such batches in the method's whole training recipe.  Elementwise
work (LIF updates, activations, optimiser updates) is not counted for any
method; it is a small share of each and would only favour ours further,
since our encoder has no backward pass.

* **ours** = every step of the recipe, each counted on its own line:
  ``calibration`` (the firing-rate search: its forward passes of both LSMs over
  the calibration samples, :func:`~rramlsm.sw.lsm.calibrate_weight_scale`),
  ``feature_extraction`` (one forward pass of both LSMs over every training
  sample), ``head_training`` (forward and backward of both heads, batch and
  epochs of :class:`~rramlsm.sw.zeroshot.ZeroShotConfig`), and any further steps
  the caller ran (``extra``: hardware-aware head training, tuning), with their
  FLOPs and seconds;
* **SRNN-CLIP** = forward and backward through time of both SRNNs and heads
  for ``epochs`` epochs of the same pairs (:class:`BaselineConfig`);
* **ProtoNet** = forward and backward through time of both SRNN encoders for
  ``episodes`` episodes of ``n_way * (shot + query)`` samples.

Wall time: ours is measured, step by step;
for the baselines the time of a few real optimisation steps is measured in
the same run and multiplied by the step count (``estimated``), unless a full
run's measured time is passed in.
"""

from __future__ import annotations

import math
import time
from dataclasses import replace

import numpy as np
import torch
from torch.utils.flop_counter import FlopCounterMode

from rramlsm.sw.experiments.audiovisual import PipelineResult, calibration_on_training, chip_seeds
from rramlsm.sw.experiments.baselines import (
    BaselineConfig,
    clip_step_loss,
    make_encoders,
    proto_step_loss,
    sample_episode,
)
from rramlsm.sw.features import frame_dataset
from rramlsm.sw.golden import golden_counts, quantize_reservoir
from rramlsm.sw.heads import ProjectionHead, clip_loss
from rramlsm.sw.lsm import PRESETS, Reservoir, float_features, make_reservoir
from rramlsm.sw.zeroshot import ZeroShotConfig, ZeroShotSplit

__all__ = ["count_flops", "lsm_forward_flops", "head_training_flops", "quantization_flops",
           "readout_selection_flops", "readout_selection_cost", "golden_pass_cost",
           "training_cost", "pipeline_training_cost"]


def count_flops(fn) -> int:
    """Matmul FLOPs of running ``fn()`` (forward and, if it calls it, backward)."""
    with FlopCounterMode(display=False) as counter:
        fn()
    return int(counter.get_total_flops())


def _timed(fn, repeats: int = 3, enough_s: float = 2.0) -> float:
    """Mean seconds of ``fn()`` over up to ``repeats`` calls, fewer once ``enough_s`` have
    passed (a step of seconds, as the BMI task's SRNN's through 201 steps, is timed well by
    one call).  The caller has run ``fn`` once before (its FLOP count): the warm-up."""
    t0, calls = time.perf_counter(), 0
    while calls < repeats and (calls == 0 or time.perf_counter() - t0 < enough_s):
        fn()
        calls += 1
    return (time.perf_counter() - t0) / calls


def lsm_forward_flops(config, steps: int | None = None) -> int:
    """Dense-basis matmul FLOPs of one LSM forward pass over one sample (input and
    recurrent products, every step; ``steps``, if given, instead of the config's): the
    basis every method is counted on."""
    steps = config.steps if steps is None else steps
    return 2 * steps * (config.inputs + config.neurons) * config.neurons


def head_training_flops(zs: ZeroShotConfig, inputs: dict[str, int], pairs: int,
                        epochs: int | None = None) -> int:
    """Matmul FLOPs of training both heads (``inputs``: each head's input width, every
    readout feature): forward and backward of both heads and the contrastive loss for each
    batch of ``zs.batch`` of ``pairs`` pairs, ``epochs`` (default ``zs.epochs``) times."""
    hv = ProjectionHead(replace(zs.head, inputs=inputs["visual"]))
    ha = ProjectionHead(replace(zs.head, inputs=inputs["audio"]))
    xv, xa = torch.rand(zs.batch, inputs["visual"]), torch.rand(zs.batch, inputs["audio"])
    step = count_flops(lambda: clip_loss(hv(xv), ha(xa), zs.temperature).backward())
    return step * (zs.epochs if epochs is None else epochs) * math.ceil(pairs / zs.batch)


def training_cost(frames: dict[str, np.ndarray], reservoirs: dict[str, Reservoir],
                  split: ZeroShotSplit, zs: ZeroShotConfig, baseline: BaselineConfig,
                  *, our_seconds: dict[str, float],
                  calibration: dict[str, dict] | None = None,
                  extra: dict[str, dict] | None = None,
                  measured: dict[str, float] | None = None) -> dict:
    """FLOPs and seconds of ours, SRNN-CLIP and ProtoNet, and the ratios.

    ``frames``: each modality's binary input ``[N, T, inputs]`` of the whole
    dataset (indexed by ``split``); ``our_seconds``: measured wall time of each of
    our steps (``calibration``, ``feature_extraction``, ``head_training``);
    ``calibration``: per modality the ``passes`` and ``samples`` of the firing-rate
    search, and the ``steps`` each pass ran if not the reservoir's (None: not calibrated,
    e.g. the paper's constants); ``extra``: further
    steps of our recipe, ``{name: {"flops": ..., "seconds": ...}}``; ``measured``:
    measured total seconds of full baseline runs (``srnn_clip``, ``protonet``).
    """
    train_v, train_a = split.training_indices()
    n_train = {"visual": len(train_v), "audio": len(train_a)}
    n_pairs = len(split.pairs(None)[0])

    # Ours: LSM forward over the training data, counted as the dense matmuls
    # (input and recurrent, every step), the same basis as the SRNN's: the
    # float model's sparse gather-sum of the input drive is an implementation
    # speed-up, not less work in the recipe being compared ...
    lsm_flops = sum(lsm_forward_flops(res.config) * n_train[m] for m, res in reservoirs.items())
    # The calibration's passes over its samples, on the same basis (the reservoir it
    # searches has the final one's size) ...
    calibration = calibration or {}
    cal_flops = sum(lsm_forward_flops(reservoirs[m].config, c.get("steps"))
                    * c["passes"] * c["samples"] for m, c in calibration.items())
    # ... plus the heads' training steps.
    head_flops = head_training_flops(zs, {m: res.config.features for m, res in reservoirs.items()},
                                     n_pairs)
    steps = {
        "calibration": {"flops": cal_flops, "seconds": our_seconds.get("calibration", 0.0),
                        "passes": {m: c["passes"] for m, c in calibration.items()},
                        "samples": {m: c["samples"] for m, c in calibration.items()}},
        "feature_extraction": {"flops": lsm_flops,
                               "seconds": our_seconds.get("feature_extraction", 0.0)},
        "head_training": {"flops": head_flops,
                          "seconds": our_seconds.get("head_training", 0.0)},
        **{name: {"flops": int(v.get("flops", 0)), "seconds": float(v.get("seconds", 0.0)),
                  **{k: x for k, x in v.items() if k not in ("flops", "seconds")}}
           for name, v in (extra or {}).items()},
    }
    ours = sum(v["flops"] for v in steps.values())
    ours_s = sum(v["seconds"] for v in steps.values())

    # SRNN-CLIP: one real step (forward + BPTT) on real frames, times the recipe's steps.
    rng = np.random.default_rng(0)
    widths = {m: reservoirs[m].config.neurons for m in reservoirs}
    enc_v, enc_a = make_encoders(reservoirs, baseline, widths)
    pv, pa = split.pairs(rng)
    b = rng.choice(len(pv), min(baseline.batch, len(pv)), replace=False)
    fv, fa = torch.as_tensor(frames["visual"][pv[b]]), torch.as_tensor(frames["audio"][pa[b]])

    def srnn_step():
        clip_step_loss(enc_v, enc_a, fv, fa, baseline).backward()

    srnn_step_flops = count_flops(srnn_step)
    srnn_steps = baseline.epochs * math.ceil(n_pairs / baseline.batch)
    srnn = srnn_step_flops * srnn_steps

    # Only the episode's size matters here: classes with few samples may repeat them.
    sup, qry = sample_episode(split, baseline, rng, repeats=True)
    sv, qa = torch.as_tensor(frames["visual"][sup]), torch.as_tensor(frames["audio"][qry])

    def proto_step():
        proto_step_loss(enc_v, enc_a, sv, qa, baseline.n_way).backward()

    proto_step_flops = count_flops(proto_step)
    proto = proto_step_flops * baseline.episodes

    measured = measured or {}
    srnn_s = (measured["srnn_clip"] if "srnn_clip" in measured
              else _timed(srnn_step, 2) * srnn_steps)
    proto_s = (measured["protonet"] if "protonet" in measured
               else _timed(proto_step, 2) * baseline.episodes)
    return {
        "what": "matmul FLOPs (forward + backward) by torch FlopCounterMode on real batches, "
                "times the batches of each method's whole training recipe",
        "ours": steps,
        "ours_flops": ours,
        "ours_lsm_forward_flops": lsm_flops,
        "ours_head_training_flops": head_flops,
        "srnn_clip_flops": srnn,
        "protonet_flops": proto,
        "srnn_clip_ratio": srnn / ours,
        "protonet_ratio": proto / ours,
        "ours_seconds": ours_s,
        "srnn_clip_seconds": srnn_s,
        "protonet_seconds": proto_s,
        "srnn_clip_seconds_ratio": srnn_s / ours_s,
        "protonet_seconds_ratio": proto_s / ours_s,
        "seconds_basis": {k: ("measured" if k in measured else "estimated from timed steps")
                          for k in ("srnn_clip", "protonet")},
        "recipe": {"head_epochs": zs.epochs, "head_batch": zs.batch,
                   "srnn_clip_epochs": baseline.epochs, "srnn_clip_batch": baseline.batch,
                   "protonet_episodes": baseline.episodes,
                   "protonet_episode": f"{baseline.n_way}-way {baseline.shot}-shot "
                                       f"{baseline.query}-query",
                   "training_pairs": n_pairs, "training_samples": n_train},
    }


def quantization_flops(head, samples: int) -> int:
    """Matmul FLOPs of quantising ``head`` (an :class:`~rramlsm.sw.heads.IntegerHead`) on
    ``samples`` calibration samples: every layer's integer product over them, once."""
    return sum(2 * samples * layer.weight.shape[0] * layer.weight.shape[1]
               for layer in head.layers)


def readout_selection_flops(config, readout: dict, shared: int = 0,
                            steps: int | None = None) -> int:
    """Matmul FLOPs of choosing the readout windows (:func:`~rramlsm.sw.readout.select_windows`):
    one float-model pass over its samples, less the readout's part of that pass over the
    ``shared`` ones (whose counts the feature extraction took from it, and counts), and per
    candidate and fold the ridge fit's Gram product (``2 n d min(n, d)`` for ``n`` fitting
    samples of ``d = W x neurons`` features); ``steps``: the bins the pass ran, if more than
    the readout's (the config's)."""
    n = readout["samples"]
    fit = n - n // readout["folds"]
    ridge = sum(2 * fit * d * min(fit, d) * readout["folds"]
                for d in (int(w) * config.neurons for w in readout["scores"]))
    return lsm_forward_flops(config, steps) * n - lsm_forward_flops(config) * shared + ridge


def readout_selection_cost(configs: dict, chosen: dict[str, dict], shared: dict[str, int],
                           steps: dict[str, int] | None = None) -> dict:
    """The ``readout_selection`` step of a recipe: the windows' choices ``chosen`` (each
    modality's ``readout`` record of a ``windows auto`` run), with ``shared`` samples per
    modality whose pass the feature extraction counts (:func:`readout_selection_flops`);
    the seconds are the choice's less that shared part of its float pass."""
    steps = steps or {}
    return {"flops": sum(readout_selection_flops(configs[m], r, shared[m], steps.get(m))
                         for m, r in chosen.items()),
            "seconds": sum(r["seconds"] - r["forward_seconds"] * shared[m] / r["samples"]
                           for m, r in chosen.items()),
            "samples": {m: r["samples"] for m, r in chosen.items()}}


def golden_pass_cost(reservoirs: dict[str, Reservoir], frames: dict[str, np.ndarray],
                     train: dict[str, np.ndarray], noise: float, chip: dict[str, int]) -> dict:
    """The ``golden_feature_extraction`` step: the golden model's pass over the training
    samples (the counts hardware-aware heads train on, or int8 heads are calibrated on),
    timed here (runs take these counts from the feature cache), FLOPs as the float pass's."""
    t0 = time.perf_counter()
    for m, res in reservoirs.items():
        golden_counts(quantize_reservoir(res, noise=noise, noise_seed=chip[m]),
                      frames[m][train[m]])
    return {"flops": sum(lsm_forward_flops(res.config) * len(train[m])
                         for m, res in reservoirs.items()),
            "seconds": time.perf_counter() - t0}


def pipeline_training_cost(result: PipelineResult, baseline_epochs: int, *,
                           tuning: dict | None = None) -> dict:
    """:func:`training_cost` of a pipeline run, in seed 0's setting: the calibration run
    again as the pipeline ran it (deterministic: the same passes) and one feature extraction,
    both timed, with the heads' measured training time; the baselines get
    ``baseline_epochs``.

    Steps the run took besides these are counted too: the int8 quantisation of the heads,
    the choice of readout windows (``--windows auto``), the golden model's pass over the
    training samples (hardware-aware heads, ``--heads golden``) and ``tuning`` (``{"flops",
    "seconds", "trials"}`` of the search that chose the configuration, if one did).
    """
    s0 = result.seeds[0]
    cfg = result.config
    data = {"visual": result.visual, "audio": result.audio}
    frames = {m: frame_dataset(data[m], s0.configs[m]) for m in data}
    chip = chip_seeds(s0.seed)
    t0 = time.perf_counter()
    cals = {m: calibration_on_training(PRESETS[m].replace(**cfg.overrides(m)), data[m], chip[m],
                                       cfg.rate(m), classes=cfg.zeroshot.seen) for m in data}
    seconds = {"calibration": time.perf_counter() - t0}
    calibration = {m: {"passes": c.passes, "samples": c.samples}
                   for m, c in cals.items() if c is not None}
    reservoirs = {m: make_reservoir(s0.configs[m], seed=chip[m]) for m in data}
    split = s0.embeddings["split"]
    train = dict(zip(("visual", "audio"), split.training_indices(), strict=True))
    t0 = time.perf_counter()
    for m in data:
        float_features(reservoirs[m], frames[m][train[m]])
    seconds["feature_extraction"] = time.perf_counter() - t0
    seconds["head_training"] = s0.train_seconds

    extra = {"quantization": {
        "flops": sum(quantization_flops(s0.bundle.modalities[m].head, len(train[m]))
                     for m in data),
        "seconds": s0.quantize_seconds}}
    chosen = {m: r for m, r in s0.readout.items() if "samples" in r}
    if chosen:
        # The choice's float pass over the seen training samples gave the pipeline their
        # counts (``shared_pass``): the part the feature extraction above counts (the
        # training samples) is not counted twice; the rest (seen samples no pair uses) is.
        shared = {m: min(r["samples"], len(train[m])) if r.get("shared_pass") else 0
                  for m, r in chosen.items()}
        extra["readout_selection"] = readout_selection_cost(s0.configs, chosen, shared)
    if cfg.head_features == "golden":
        # The golden model's counts of the training samples, which the heads train on.
        extra["golden_feature_extraction"] = golden_pass_cost(
            reservoirs, frames, train, cfg.hardware_noise, chip)
    if tuning:
        extra["tuning"] = {"flops": int(tuning["flops"]), "seconds": float(tuning["seconds"]),
                           "trials": int(tuning["trials"])}
    return training_cost(frames, reservoirs, split, cfg.zeroshot,
                         BaselineConfig(epochs=baseline_epochs), our_seconds=seconds,
                         calibration=calibration, extra=extra)
