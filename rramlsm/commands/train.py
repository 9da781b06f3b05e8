"""``rramlsm train`` and ``rramlsm demo``: the paper's algorithm end to end
(:mod:`rramlsm.sw.experiments.audiovisual`), training cost, export bundles, ``metrics.json``
and ``report.html``, and a short RTL check of the bundle; with ``--task bmi`` the BMI task
(:mod:`rramlsm.sw.experiments.bmi`); with ``--config`` / ``--tune`` tuned settings
(:mod:`rramlsm.sw.experiments.tune`)."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

from rramlsm.arguments import (
    add_source_arguments,
    check_cpus,
    check_seeds,
    check_sources,
    input_file,
    require,
    run_folder,
)
from rramlsm.commands.tune import (
    add_train_arguments,
    check_tune_arguments,
    print_tune_summary,
    refuse_tune_options,
    settings_from_args,
)
from rramlsm.cosim.run import cosim_failures, rtl_check
from rramlsm.errors import ConfigError, RRAMLSMError
from rramlsm.sw import contract
from rramlsm.sw._io import write_json
from rramlsm.sw.bundle import write_bundle
from rramlsm.sw.datasets import load_source
from rramlsm.sw.datasets.letters import LETTERS
from rramlsm.sw.device import DeviceConfig
from rramlsm.sw.experiments._ray import local_cpus, ray_session
from rramlsm.sw.experiments.audiovisual import (
    PAPER_FIGURES,
    PipelineConfig,
    run_pipeline,
)
from rramlsm.sw.experiments.bmi import (
    BMI_TEMPERATURES,
    BMIConfig,
    bmi_training_cost,
    bmi_zeroshot_config,
    run_bmi,
    run_bmi_rotation,
)
from rramlsm.sw.experiments.report import summary_rows, write_bmi_report, write_report
from rramlsm.sw.experiments.split_rotation import (
    DEMO_SEEDS_PER_SPLIT,
    DEMO_UNSEEN_SPLITS,
    NO_ROTATION,
    check_unseen_splits,
    resolve_letter_groups,
    resolve_unseen_splits,
    run_split_rotation,
)
from rramlsm.sw.experiments.training_cost import pipeline_training_cost
from rramlsm.sw.experiments.tune import head_config, load_tuned, run_tune, tuned_inputs
from rramlsm.sw.readout import parse_readout
from rramlsm.sw.stats import fmt_figure
from rramlsm.sw.zeroshot import CHECKPOINTS, ZeroShotConfig

__all__ = ["register", "run_training", "run_bmi_training", "demo_rtl_check", "print_summary",
           "print_bmi_summary"]

#: Samples per modality of the audio-visual demo's RTL check on Verilator.
DEMO_RTL_SAMPLES = 5


def _per_modality(flag: str, spec: str | None, modalities: tuple[str, ...], value) -> dict:
    """``VALUE`` for every modality, or ``m=VALUE,m=VALUE`` per modality, each through
    ``value`` (which raises ConfigError)."""
    if spec is None:
        return {}
    if "=" not in spec:
        return {m: value(spec.strip()) for m in modalities}
    out = {}
    for part in spec.split(","):
        m, _, v = part.partition("=")
        if m.strip() not in modalities:
            raise ConfigError(f"{flag}: unknown modality {m.strip()!r}; expected "
                              f"{', '.join(modalities)}")
        if m.strip() in out:   # the last would silently win
            raise ConfigError(f"{flag}: {m.strip()} given twice in {spec!r}")
        out[m.strip()] = value(v.strip())
    return out


def parse_windows(spec: str | None, modalities: tuple[str, ...]) -> dict:
    """``--windows``: ``W`` or ``auto`` for every modality, or ``m=W,m=auto`` per modality."""
    def value(v: str):
        if v == "auto":
            return v
        if not v.isdigit() or not 1 <= int(v) <= contract.MAX_WINDOWS:
            raise ConfigError(f"--windows: {v!r} is not a window count (1..{contract.MAX_WINDOWS}) "
                              f"or auto")
        return int(v)

    return _per_modality("--windows", spec, modalities, value)


def parse_readout_arg(spec: str | None, modalities: tuple[str, ...]) -> dict:
    """``--readout``: ``count``, ``trace`` or ``trace:K`` for every modality, or per modality
    as ``m=trace:3,m=count``."""
    def value(v: str):
        try:
            parse_readout(v)
        except ValueError as e:
            raise ConfigError(f"--readout: {e}") from None
        return v

    return _per_modality("--readout", spec, modalities, value)


def parse_temperature(spec: str, *, task: str) -> float | str:
    """``--temperature``: a positive number, or ``auto`` with ``--task bmi``."""
    if spec == "auto":
        if task == "bmi":
            return spec
        raise ConfigError("--temperature auto applies to --task bmi (the audio-visual task's "
                          "temperature is searched by `rramlsm tune`)")
    try:
        t = float(spec)
    except ValueError:
        t = float("nan")
    require("--temperature", repr(spec), 0 < t < float("inf"),
            "a positive number" + (" or auto" if task == "bmi" else ""))
    return t


#: The configuration fields the command line sets, by the name their range errors give.
_FLAGS = {"ZeroShotConfig epochs": "--epochs", "ZeroShotConfig weight_decay": "--weight-decay",
          "ZeroShotConfig patience": "--patience", "PipelineConfig target_rate": "--target-rate",
          "BMIConfig target_rate": "--target-rate"}


def _settings_error(e: Exception) -> ConfigError:
    """A configuration class's range error, naming the option the user gave, not the
    class's field (``ZeroShotConfig epochs must be ...`` -> ``--epochs must be ...``)."""
    text = str(e)
    for field, flag in _FLAGS.items():
        if text.startswith(field + " "):
            return ConfigError(flag + text[len(field):])
    return ConfigError(text)


def _pipeline_config(args) -> PipelineConfig:
    try:
        zs = ZeroShotConfig(epochs=args.epochs,
                            temperature=1.0 if args.temperature is None else args.temperature,
                            weight_decay=args.weight_decay, patience=args.patience,
                            checkpoint=args.checkpoint or "best")
        overrides = {}
        if getattr(args, "neurons", None) is not None:
            if args.neurons < 1:
                raise ValueError(f"--neurons must be a positive integer, not {args.neurons}")
            overrides["neurons"] = args.neurons
        if getattr(args, "levels", None) is not None:
            # Both presets use the default device; only its level count changes.
            require("--levels", args.levels, 2 <= args.levels <= contract.MAX_LEVELS,
                    f"in 2..{contract.MAX_LEVELS} (8-bit device codes)")
            overrides["device"] = DeviceConfig(levels=args.levels)
        return PipelineConfig(visual=args.visual, audio=args.audio, seeds=tuple(args.seeds),
                              target_rate=_target_rate(args, PipelineConfig),
                              zeroshot=zs, hardware_noise=args.hardware_noise,
                              lsm_overrides=overrides, head_features=args.heads,
                              windows=parse_windows(getattr(args, "windows", None),
                                                    ("visual", "audio")),
                              readout=parse_readout_arg(getattr(args, "readout", None),
                                                        ("visual", "audio")))
    except (ValueError, TypeError) as e:
        raise _settings_error(e) from None


def run_training(config: PipelineConfig, out: Path, *, progress: bool = True,
                 rtl_samples: int = 0, visual=None, audio=None, extra: dict | None = None,
                 unseen_splits: str | None = None, seeds_per_split: int | None = None,
                 cpus: int | None = None) -> dict:
    """Pipeline + training cost + bundles + metrics.json + report.html in ``out``.

    The training-cost comparison gives SRNN-CLIP as many epochs as our heads.
    ``rtl_samples`` > 0 also runs that many samples per modality through the
    Verilated RTL of the bundle (``metrics["rtl_check"]``).  ``visual`` / ``audio``:
    datasets to use instead of the configured sources; ``extra``: entries added to
    ``metrics.json`` (``tuning``).  ``unseen_splits``: also repeat the protocol for these
    held-out pairs (:mod:`rramlsm.sw.experiments.split_rotation`,
    ``metrics["zero_shot_splits"]``; ``seeds_per_split`` of ``config``'s seeds each, all
    if None; on ``cpus`` local CPUs, all if None); the headline figures and the bundle stay
    those of ``config``'s split.
    """
    t0 = time.perf_counter()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    rotation = None
    if unseen_splits:
        # Resolved before any training: a bad split stops the run at once.
        visual = visual if visual is not None else load_source(config.visual, progress=progress)
        audio = audio if audio is not None else load_source(config.audio, progress=progress)
        rotation = resolve_unseen_splits(unseen_splits, visual.labels, audio.labels)
    cpus = local_cpus(cpus)
    with ray_session(cpus, len(config.seeds) > 1 or bool(rotation)):
        result = run_pipeline(config, progress=progress, visual=visual, audio=audio, cpus=cpus)
        metrics = result.metrics
        if rotation:
            metrics["zero_shot_splits"] = run_split_rotation(
                config, unseen_splits, *rotation, result.visual, result.audio,
                progress=progress, seeds_per_split=seeds_per_split, cpus=cpus)
    metrics.update(extra or {})
    # A search that chose the configuration is a step of the recipe: its cost is counted
    # (tuned.toml's [cost]; a file from before it was recorded says so in the figures).
    tuning = (extra or {}).get("tuning")
    cost = tuning and tuning.get("cost")
    metrics["training_cost"] = pipeline_training_cost(
        result, config.zeroshot.epochs,
        tuning=cost and {"flops": cost["flops"], "seconds": cost["trial_seconds"],
                         "trials": cost["trials"]})
    if tuning and not cost:
        metrics["training_cost"]["uncounted"] = ["tuning: the tuned configuration records "
                                                 "no cost"]
    for s in result.seeds:
        write_bundle(out / "models" / f"seed{s.seed}", s.bundle)
    # The exported bundle is the first seed's: choosing the "best" seed would need
    # a test figure, which selection never looks at.
    write_bundle(out / "bundle", result.seeds[0].bundle)
    metrics["bundle"] = {"path": str(out / "bundle"), "seed": result.seeds[0].seed}
    metrics["paper"] = PAPER_FIGURES
    if rtl_samples:
        metrics["rtl_check"] = demo_rtl_check(out / "bundle", rtl_samples)
    metrics["seconds"] = time.perf_counter() - t0
    write_report(out / "report.html", result, metrics)
    metrics["seconds"] = time.perf_counter() - t0
    write_json(out / "metrics.json", metrics)
    return metrics


def demo_rtl_check(bundle: Path, n: int) -> dict:
    """A short cosimulation of the exported bundle.  It is reported, and the demo runs to
    the end either way; a check that ran and did not pass (``passed`` false: mismatches,
    failed or missing cocotb tests) makes the command's exit status 1."""
    try:
        s = rtl_check(bundle, n)
    except (RRAMLSMError, ImportError, OSError, RuntimeError) as e:
        return {"ran": False, "reason": str(e)[:500]}
    failures = cosim_failures(s)
    return {"ran": True, "passed": not failures, "failures": failures,
            **{k: s.get(k) for k in ("samples", "mismatches", "failed_tests", "missing_runs",
                                     "cycles_per_sample_mean", "sim_cycles_per_s",
                                     "build_seconds")}}


def print_summary(metrics: dict) -> None:
    sw, hw = metrics["software"], metrics["hardware"]
    P = metrics.get("paper", {})

    print()
    print(f"{'top-1 %: mean ± s.d. [95 % t interval]':<38} {'software':>26} {'hardware':>26} "
          f"{'chance':>6} {'paper sw/RRAM':>13}")
    for label, grp, key, chance, pk in summary_rows(metrics):
        paper = (f"{P[pk]['software']:.1f}/{P[pk]['hardware']:.1f}" if pk and pk in P else "-")
        ch = "-" if chance is None else f"{chance:.1f}"
        print(f"{label:<38} {fmt_figure(sw.get(grp, {}), key):>26} "
              f"{fmt_figure(hw.get(grp, {}), key):>26} {ch:>6} {paper:>13}")
    ts, ch = sw["test_selected"], metrics["chance"]
    print(f"{'unseen, epoch chosen on TEST':<38} {fmt_figure(ts, 'unseen_top1'):>26} "
          f"{'':>26} {ch['unseen_top1']:>6.1f} {'paper protocol':>13}")
    print("  (the paper's single split, checkpoint selected on the test split: optimistic)")
    _print_rotation(metrics.get("zero_shot_splits"))
    al = metrics["alignment"]
    print("alignment (software, unseen a2v): " + ", ".join(
        f"{k} {al[k]['unseen_top1']:.1f} ± {al[k]['unseen_top1_sd']:.1f}"
        for k in ("clip", "cca", "ridge")) + f"; best: {al['best_unseen']}")
    c = metrics.get("training_cost")
    if c:
        print(f"training cost (FLOPs): SRNN-CLIP {c['srnn_clip_ratio']:.1f}x "
              f"(paper {P.get('training_cost_srnn_clip_ratio', '')}x), ProtoNet "
              f"{c['protonet_ratio']:.1f}x (paper {P.get('training_cost_protonet_ratio', '')}x); "
              f"wall time {c['srnn_clip_seconds_ratio']:.1f}x / {c['protonet_seconds_ratio']:.1f}x")
    fr = metrics["firing_rate"]
    print("firing rate float/golden: " + ", ".join(
        f"{m} {100 * fr[m]['float']:.1f}/{100 * fr[m]['golden']:.1f} %" for m in fr))
    rc = metrics.get("rtl_check")
    if rc and not rc["ran"]:
        print(f"RTL check skipped: {rc['reason']}")
    elif rc and rc["passed"]:
        print(f"RTL check (Verilator): {rc['samples']} samples, {rc['mismatches']} mismatches, "
              f"{rc['cycles_per_sample_mean']:.0f} cycles/sample")
    elif rc:
        print(f"RTL check (Verilator) FAILED: {'; '.join(rc['failures'])}")


def _print_rotation(rot: dict | None) -> None:
    """The split rotation's lines of the summary (none without one)."""
    if not rot:
        return
    ch = rot["chance"]
    print(f"split rotation ({rot['spec']}: {len(rot['splits'])} held-out groups x "
          f"{rot.get('seeds_per_split', len(rot['seeds']))} seed(s); chance seen "
          f"{ch['seen_top1']:.1f}, unseen {ch['unseen_top1']:.1f}"
          + (f", GZSL {ch['gzsl']:.1f}" if "gzsl" in ch else "") + " %):")
    # Mean, s.d. and interval over the split means: the units the verdict rests on.
    where = rot.get("verdict_basis", "aggregate")
    unit = "splits" if where == "over_splits" else "runs"
    print(f"  (mean ± s.d. [95 % t interval] over {unit})")
    for path in ("software", "hardware"):
        agg = rot[where][path]
        gz = agg.get("gzsl")
        print(f"  {path:<8} seen {fmt_figure(agg, 'seen_top1')}, unseen "
              f"{fmt_figure(agg, 'unseen_top1')} ({rot['unseen_vs_chance'][path]})"
              + (f", GZSL seen {gz['seen']:.1f}, unseen {gz['unseen']:.1f}, harmonic mean "
                 f"{fmt_figure(gz, 'harmonic_mean')}" if gz else ""))


def _bmi_config(args) -> BMIConfig:
    if getattr(args, "levels", None) is not None:
        raise ConfigError("--levels: the BMI task has no bundle for the macro; the level count "
                          "applies to the audio-visual task (--task av)")
    if args.heads != "float":
        raise ConfigError(f"--heads {args.heads}: the BMI task trains its heads on the float "
                          f"model's rates (its reservoirs have no macro to train on); "
                          f"--heads applies to the audio-visual task (--task av)")
    try:
        changes = {"epochs": args.epochs, "weight_decay": args.weight_decay,
                   "patience": args.patience}
        if args.checkpoint is not None:
            changes["checkpoint"] = args.checkpoint
        temperatures = ()
        if args.temperature == "auto":
            temperatures = BMI_TEMPERATURES
        elif args.temperature is not None:
            changes["temperature"] = args.temperature
        return BMIConfig(neural=args.neural, seeds=tuple(args.seeds),
                         neurons=2048 if args.neurons is None else args.neurons,
                         target_rate=_target_rate(args, BMIConfig),
                         zeroshot=bmi_zeroshot_config(**changes),
                         hardware_noise=args.hardware_noise, temperatures=temperatures,
                         **({"windows": {**BMIConfig().windows, **parse_windows(
                             args.windows, ("neural", "letters"))}}
                            if getattr(args, "windows", None) else {}),
                         **({"readout": {**BMIConfig().readout, **parse_readout_arg(
                             args.readout, ("neural", "letters"))}}
                            if getattr(args, "readout", None) else {}))
    except (ValueError, TypeError) as e:
        raise _settings_error(e) from None


def run_bmi_training(config: BMIConfig, out: Path, *, progress: bool = True,
                     unseen_splits: str | None = None, seeds_per_split: int | None = None,
                     cpus: int | None = None) -> dict:
    """The BMI task (:mod:`rramlsm.sw.experiments.bmi`): ``metrics.json`` and ``report.html``
    in ``out``; ``unseen_splits`` K: also K held-out groups of 4 letters
    (``metrics["zero_shot_splits"]``)."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    if unseen_splits:    # checked before any training: a bad K stops the run at once
        resolve_letter_groups(unseen_splits, len(LETTERS))
    cpus = local_cpus(cpus)
    with ray_session(cpus, len(config.seeds) > 1 or bool(unseen_splits)):
        result = run_bmi(config, progress=progress, cpus=cpus)
        if unseen_splits:
            result.metrics["zero_shot_splits"] = run_bmi_rotation(
                config, unseen_splits, result.neural, result.letters, progress=progress,
                seeds_per_split=seeds_per_split, cpus=cpus)
    result.metrics["training_cost"] = bmi_training_cost(result)
    write_bmi_report(out / "report.html", result, result.metrics)
    write_json(out / "metrics.json", result.metrics)
    return result.metrics


def print_bmi_summary(m: dict) -> None:
    sw, hw, P = m["software"], m["hardware"], m["paper"]

    def f(d, k):
        return f"{d[k]:5.1f} ± {d.get(k + '_sd', 0):4.1f}"

    print()
    print(f"{'BMI top-1 % (mean ± s.d. over seeds)':<40} {'software':>13} {'hardware':>13} "
          f"{'paper sw':>9}")
    pr = m["protocol"]
    for label, grp, key, pk in (
            (f"zero-shot seen ({len(pr['seen'])} letters)", "zero_shot", "seen_top1",
             "zero_shot_seen_top1"),
            (f"zero-shot unseen ({pr['unseen']})", "zero_shot", "unseen_top1",
             "zero_shot_unseen_top1"),
            ("linear probe neural (26 letters)", "probe", "neural_top1", None),
            ("linear probe letter images (26)", "probe", "letters_top1", None)):
        print(f"{label:<40} {f(sw[grp], key):>13} {f(hw[grp], key):>13} "
              f"{P[pk] if pk else '':>9}")
    print(f"{'unseen, epoch chosen on TEST':<40} {f(sw['test_selected'], 'unseen_top1'):>13}")
    ch, fr = m["chance"], m["firing_rate"]
    print(f"chance: seen {ch['seen_top1']:.1f} %, unseen {ch['unseen_top1']:.1f} %; "
          f"direction: {pr['direction']}")
    rot = m.get("zero_shot_splits")
    if rot:
        print(f"held-out letter groups: {', '.join(rot['letters'])}")
    _print_rotation(rot)
    print("firing rate float/golden: " + ", ".join(
        f"{k} {100 * fr[k]['float']:.1f}/{100 * fr[k]['golden']:.1f} %" for k in fr))
    if m.get("temperature_choice"):
        print("temperature per seed (chosen on held-out seen letters): " + ", ".join(
            str(t) for t in m["protocol"]["temperature"]))
    c = m.get("training_cost")
    if c:
        print(f"training cost (seed {m['protocol']['seeds'][0]}): {c['ours_flops'] / 1e9:.1f} "
              f"GFLOP in {c['ours_seconds']:.1f} s; SRNN-CLIP {c['srnn_clip_ratio']:.1f}x, "
              f"ProtoNet {c['protonet_ratio']:.1f}x the FLOPs")


def _cmd_train(args) -> int:
    check_cpus("--cpus", args.cpus)
    check_seeds("--seeds", args.seeds)
    if args.unseen_splits is not None:
        args.unseen_splits = check_unseen_splits(args.unseen_splits)
        if args.unseen_splits == NO_ROTATION:
            args.unseen_splits = None
        elif args.config or args.tune:
            # A tuned configuration saw every class but 8 and 9 as seen: other held-out
            # pairs would not be unseen to it.
            raise ConfigError("--unseen-splits applies without --config / --tune (tuning "
                              "saw the other pairs' classes; `rramlsm tune --unseen-splits` "
                              "tunes over held-out groups)")
        elif args.task == "bmi" and not args.unseen_splits.isdigit():
            raise ConfigError(f"--unseen-splits with --task bmi takes a number K of held-out "
                              f"groups of 4 letters, not {args.unseen_splits!r}")
    if args.seeds_per_split is not None:
        require("--seeds-per-split", args.seeds_per_split, args.seeds_per_split >= 1,
                "at least 1")
        if args.unseen_splits is None:
            raise ConfigError("--seeds-per-split applies to a split rotation (--unseen-splits)")
    refuse_tune_options(args)
    if args.temperature is not None:   # parsed once, before any tuning or features
        args.temperature = parse_temperature(args.temperature, task=args.task)
    run_folder("--out", args.out)
    if args.config or args.tune:
        return _train_tuned(args)
    if args.task == "bmi":
        if args.neural != "model":
            kind, _, path = args.neural.partition(":")
            if kind != "willett" or not path:
                raise ConfigError(f"--neural: {args.neural!r} is neither 'model' nor "
                                  f"'willett:PATH' (singleLetters.mat)")
            input_file("--neural", path)
        config = _bmi_config(args)
        metrics = run_bmi_training(config, Path(args.out), progress=not args.quiet,
                                   unseen_splits=args.unseen_splits,
                                   seeds_per_split=args.seeds_per_split, cpus=args.cpus)
        print_bmi_summary(metrics)
        print(f"wrote {args.out}/metrics.json, report.html ({metrics['seconds']:.0f} s)")
        return 0
    if args.visual is None or args.audio is None:
        raise ConfigError("train --task av needs --visual and --audio sources")
    check_sources(args)
    cfg = _pipeline_config(args)
    metrics = run_training(cfg, Path(args.out), progress=not args.quiet,
                           rtl_samples=getattr(args, "rtl_samples", 0),
                           unseen_splits=args.unseen_splits,
                           seeds_per_split=args.seeds_per_split, cpus=args.cpus)
    print_summary(metrics)
    print(f"wrote {args.out}/metrics.json, report.html, bundle/ ({metrics['seconds']:.0f} s)")
    rc = metrics.get("rtl_check")
    return 1 if rc and rc["ran"] and not rc["passed"] else 0


def _train_tuned(args) -> int:
    """``train --config tuned.toml`` / ``train --tune``: the pipeline with tuned settings;
    every figure in metrics.json still comes from the test split, which tuning never saw."""
    if args.task != "av":
        raise ConfigError("--config / --tune apply to the audio-visual task (--task av)")
    if args.config and args.tune:
        raise ConfigError("--config and --tune: give one (--tune writes OUT/tune/tuned.toml)")
    if args.paper_constants:
        raise ConfigError("--paper-constants: a tuned configuration calibrates the reservoirs "
                          "to its firing rates")
    if args.visual is None or args.audio is None:
        raise ConfigError("train --config / --tune needs --visual and --audio sources")
    for flag in ("windows", "readout"):
        if args.tune and getattr(args, flag, None):
            # The search scores its own readouts; another one after it would train a
            # configuration no trial scored.
            raise ConfigError(f"--{flag}: `train --tune` searches the readout; to set it, "
                              f"tune (`rramlsm tune`), then `train --config tuned.toml "
                              f"--{flag} ...`")
    check_tune_arguments(args)
    # The training's own settings (--epochs, --neurons, --levels, ...), checked before the
    # search, not after its minutes.
    base = _pipeline_config(args)
    out = Path(args.out)
    extra = {}
    if args.tune:
        s = run_tune(settings_from_args(args), out / "tune", address=args.address,
                     cpus=args.cpus, resume=True, progress=not args.quiet)
        print_tune_summary(s)
        path = out / "tune" / "tuned.toml"
    else:
        path = input_file("--config", args.config)
    tuned = load_tuned(path)
    rv, ra, per_modality, zs = tuned_inputs(tuned, args.visual, args.audio,
                                            progress=not args.quiet)
    # The tuned readout, unless the command line names one: a tuned count travels in
    # per_modality (None: the configuration's); "auto" chooses per seed as it did in the
    # trials; the readout kind is applied after the windows, whose length sets a trace's
    # time constant.
    mods = ("visual", "audio")
    windows = {m: "auto" if tuned.params[f"{m}.windows"] == "auto" else None for m in mods}
    readout = {m: tuned.params[f"{m}.readout"] for m in mods}
    cfg = dataclasses.replace(
        base, per_modality=per_modality, zeroshot=head_config(tuned.params, base.zeroshot),
        windows={**windows, **parse_windows(getattr(args, "windows", None), mods)},
        readout={**readout, **parse_readout_arg(getattr(args, "readout", None), mods)})
    extra["tuning"] = {**tuned.summary(), **({"summary": s} if args.tune else {})}
    metrics = run_training(cfg, out, progress=not args.quiet,
                           rtl_samples=getattr(args, "rtl_samples", 0), visual=rv, audio=ra,
                           extra=extra)
    print_summary(metrics)
    print(f"tuned configuration: {path}")
    print(f"wrote {args.out}/metrics.json, report.html, bundle/ ({metrics['seconds']:.0f} s)")
    rc = metrics.get("rtl_check")
    return 1 if rc and rc["ran"] and not rc["passed"] else 0


def _target_rate(args, config) -> float | None:
    """The calibration's firing rate: --target-rate, the config's default, or None with
    --paper-constants (which keeps the paper's weight scales: no calibration)."""
    if args.paper_constants:
        if args.target_rate is not None:
            raise ConfigError("--target-rate calibrates the reservoirs, --paper-constants "
                              "keeps the paper's scales uncalibrated: give one of them")
        return None
    return config.target_rate if args.target_rate is None else args.target_rate


def _cmd_train_sources(args) -> int:
    """``train``: the sources of the other task are refused, not ignored."""
    if args.task == "bmi" and (args.visual or args.audio):
        raise ConfigError(f"{'--visual' if args.visual else '--audio'} is a source of the "
                          f"audio-visual task; --task bmi reads --neural (and its letter "
                          f"images)")
    if args.task == "av" and args.neural != "model":
        raise ConfigError("--neural is the BMI task's source; add --task bmi, or give "
                          "--visual and --audio")
    return _cmd_train(args)


def _cmd_demo(args) -> int:
    if args.rtl_samples is None:
        args.rtl_samples = DEMO_RTL_SAMPLES if args.task == "av" else 0
    elif args.task == "bmi":
        raise ConfigError("--rtl-samples: the BMI reservoirs have no RTL to check "
                          "(docs/BMI.md); it applies to the audio-visual task")
    require("--rtl-samples", args.rtl_samples, args.rtl_samples >= 0, "at least 0")
    args.visual, args.audio, args.neural = "digits", "speech", "model"
    if args.out is None:
        args.out = "runs/demo-bmi" if args.task == "bmi" else "runs/demo"
    if args.unseen_splits is None and args.task == "av" and not (args.config or args.tune):
        # The demo's default: a split rotation with one seed per held-out pair.
        args.unseen_splits = DEMO_UNSEEN_SPLITS
        if args.seeds_per_split is None:
            args.seeds_per_split = DEMO_SEEDS_PER_SPLIT
    return _cmd_train(args)


def _add_training(p, default_out: str | None, *, demo: bool = False) -> None:
    p.add_argument("--out", default=default_out, required=default_out is None,
                   help="output folder")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4],
                   help="chip + head seeds (default 0 1 2 3 4)")
    p.add_argument("--epochs", type=int, default=100, help="head training epochs (default 100)")
    p.add_argument("--task", choices=("av", "bmi"), default="av",
                   help="av: audio-visual digits (default); bmi: neural activity and letters")
    p.add_argument("--temperature", default=None, metavar="T|auto",
                   help="contrastive temperature (default: av 1.0, bmi "
                        f"{bmi_zeroshot_config().temperature}); bmi also auto: chosen per seed "
                        f"among {' '.join(map(str, BMI_TEMPERATURES))} by retrieval of seen "
                        f"letters held out of training (class-disjoint validation, "
                        f"{BMIConfig.held_out_groups} groups; about "
                        f"{len(BMI_TEMPERATURES) * BMIConfig.held_out_groups}x the heads' "
                        f"training)")
    p.add_argument("--weight-decay", type=float, default=0.0)
    p.add_argument("--patience", type=int, default=None,
                   help="early stopping after this many epochs without validation gain")
    p.add_argument("--checkpoint", choices=CHECKPOINTS, default=None,
                   help="head weights kept: best (the epoch best on validation pairs) or "
                        "average (the mean over the epochs after the first tenth); default: "
                        "av best, bmi " + bmi_zeroshot_config().checkpoint)
    p.add_argument("--target-rate", type=float, default=None,
                   help="calibrate reservoirs to this firing rate (default 0.05)")
    p.add_argument("--paper-constants", action="store_true",
                   help="use the paper's weight scales instead of calibrating")
    p.add_argument("--read-noise", action="store_true", dest="hardware_noise",
                   help="hardware path with the golden model's read noise")
    p.add_argument("--neurons", type=int, default=None,
                   help="reservoir neurons per modality (default: the presets' 200; BMI "
                        "2048), e.g. a smaller macro for a smaller FPGA")
    p.add_argument("--levels", type=int, default=None, metavar="N",
                   help="conductance levels of the RRAM devices (2..256, default 256): the "
                        "macro stores bit_length(N - 1) + 1 bits per cell, e.g. 16 levels -> "
                        "5-bit cells, which an FPGA's block RAM holds more of (docs/FPGA.md)")
    p.add_argument("--windows", default=None, metavar="W|auto|m=W,...",
                   help="readout windows: spike counts per neuron in W equal time windows "
                        "(1..8, dividing the steps; default auto); auto chooses per seed by "
                        "cross-validation on the seen classes' training samples (1 is one "
                        "total count per neuron, the paper's readout); "
                        "per modality as visual=5,audio=auto")
    p.add_argument("--readout", default=None, metavar="count|trace[:K]|m=...",
                   help="what each readout window holds per neuron: its spike count "
                        "(default) or its exponential spike trace at the window's end, time "
                        "constant 2**K steps (K in 1..7; trace alone: the window's length); "
                        "per modality as visual=trace,audio=count")
    p.add_argument("--heads", choices=("float", "golden"), default="float",
                   help="train the heads on the float model's rates (default) or on the "
                        "golden model's counts, ADC and read noise included (hardware-aware)")
    p.add_argument("--unseen-splits", default=None, metavar="all|K|a,b|none",
                   help="also repeat the whole protocol for held-out pairs: all (every pair "
                        "of the classes in both modalities), K pairs drawn with a fixed seed, "
                        "one group a,b, or none (only the paper's split, 8 and 9 unseen; "
                        + (f"default: {DEMO_UNSEEN_SPLITS} pairs with --seeds-per-split "
                           f"{DEMO_SEEDS_PER_SPLIT}, audio-visual task)" if demo else
                           "the default)"))
    p.add_argument("--seeds-per-split", type=int, default=None, metavar="N",
                   help="seeds each held-out group runs, taken in turn from --seeds (default: "
                        + (f"{DEMO_SEEDS_PER_SPLIT}; " if demo else "")
                        + "all); the runs go to Ray tasks on --cpus local CPUs")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    add_train_arguments(p)


def register(sub) -> None:
    t = sub.add_parser("train", help="train heads and evaluate (software + hardware paths)")
    add_source_arguments(t, required=False)
    t.set_defaults(visual=None, audio=None)
    t.add_argument("--neural", default="model",
                   help="BMI neural source: model | willett:FILE (singleLetters.mat)")
    _add_training(t, None)
    t.set_defaults(func=_cmd_train_sources)

    d = sub.add_parser("demo", help="the main job on the built-in data")
    _add_training(d, "runs/demo", demo=True)
    # Output folder per task: runs/demo (av) or runs/demo-bmi, so one never overwrites the other.
    d.set_defaults(out=None)
    d.add_argument("--rtl-samples", type=int, default=None,
                   help=f"samples per modality for the RTL check on Verilator (0: skip; "
                        f"default {DEMO_RTL_SAMPLES}; audio-visual task)")
    d.set_defaults(func=_cmd_demo)
