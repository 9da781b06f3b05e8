"""Sub-commands of ``rramlsm`` beyond ``data`` (registered by :mod:`rramlsm.cli`).

``train`` / ``demo``: the paper's algorithm end to end (:mod:`rramlsm.sw.experiments.audiovisual`),
training cost, export bundles, ``metrics.json`` and ``report.html``; with
``--task bmi`` the BMI task (:mod:`rramlsm.sw.experiments.bmi`).
``eval``: a bundle on data, hardware path.  ``export``: copy a verified
bundle, optionally as memory-initialisation files.  ``baselines``: SRNN-CLIP
and ProtoNet trained in full.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from rramlsm.errors import ConfigError
from rramlsm.sw._io import atomic_path, write_atomic

__all__ = ["register", "run_training", "write_json"]


def write_json(path: Path, obj) -> Path:
    """Write JSON atomically (temporary file in the same folder, then rename)."""
    path = Path(path)
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, default=_json_default))
    return path


def _json_default(o):
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    return repr(o)


def _pipeline_config(args):
    from rramlsm.sw.experiments.audiovisual import PipelineConfig
    from rramlsm.sw.zeroshot import ZeroShotConfig

    try:
        zs = ZeroShotConfig(epochs=args.epochs,
                            temperature=1.0 if args.temperature is None else args.temperature,
                            weight_decay=args.weight_decay, patience=args.patience)
        overrides = {}
        if getattr(args, "neurons", None) is not None:
            if args.neurons < 1:
                raise ValueError(f"--neurons must be a positive integer, not {args.neurons}")
            overrides["neurons"] = args.neurons
        return PipelineConfig(visual=args.visual, audio=args.audio, seeds=tuple(args.seeds),
                              target_rate=None if args.paper_constants else args.target_rate,
                              zeroshot=zs, read_noise=args.read_noise,
                              lsm_overrides=overrides, head_features=args.heads)
    except (ValueError, TypeError) as e:
        raise ConfigError(str(e)) from None


def _cost(result, baseline_epochs: int) -> dict:
    """Training cost of seed 0's setting (see :mod:`rramlsm.sw.experiments.training_cost`)."""
    from rramlsm.sw.experiments.baselines import BaselineConfig
    from rramlsm.sw.experiments.training_cost import training_cost
    from rramlsm.sw.features import frame_dataset
    from rramlsm.sw.lsm import PRESETS, float_features, make_reservoir
    from rramlsm.sw.experiments.audiovisual import calibration_on_training, chip_seeds

    s0 = result.seeds[0]
    cfg = result.config
    data = {"visual": result.visual, "audio": result.audio}
    frames = {m: frame_dataset(data[m], s0.configs[m]) for m in data}
    chip = chip_seeds(s0.seed)
    # The calibration again, as the pipeline ran it (deterministic: same passes), timed.
    t0 = time.perf_counter()
    cals = {m: calibration_on_training(PRESETS[m].replace(**cfg.overrides(m)), data[m], chip[m],
                                       cfg.rate(m), classes=cfg.zeroshot.seen) for m in data}
    seconds = {"calibration": time.perf_counter() - t0}
    calibration = {m: {"passes": c.passes, "samples": c.samples}
                   for m, c in cals.items() if c is not None}
    reservoirs = {m: make_reservoir(s0.configs[m], seed=chip[m]) for m in data}
    split = s0.embeddings["split"]
    tv, ta = split.training_indices()
    t0 = time.perf_counter()
    float_features(reservoirs["visual"], frames["visual"][tv])
    float_features(reservoirs["audio"], frames["audio"][ta])
    seconds["feature_extraction"] = time.perf_counter() - t0
    seconds["head_training"] = s0.train_seconds
    return training_cost(frames, reservoirs, split, cfg.zeroshot,
                         BaselineConfig(epochs=baseline_epochs), our_seconds=seconds,
                         calibration=calibration)


def run_training(config, out: Path, *, progress: bool = True, rtl_samples: int = 0,
                 visual=None, audio=None, extra: dict | None = None,
                 unseen_splits: str | None = None) -> dict:
    """Pipeline + training cost + bundles + metrics.json + report.html in ``out``.

    The training-cost comparison gives SRNN-CLIP as many epochs as our heads.
    ``rtl_samples`` > 0 also runs that many samples per modality through the
    Verilated RTL of the bundle (``metrics["rtl_check"]``).  ``visual`` / ``audio``:
    datasets to use instead of the configured sources; ``extra``: entries added to
    ``metrics.json`` (``tuning``).  ``unseen_splits``: also repeat the protocol for these
    held-out pairs (:mod:`rramlsm.sw.experiments.split_rotation`, ``metrics["zero_shot_splits"]``); the
    headline figures and the bundle stay those of ``config``'s split.
    """
    from rramlsm.sw.bundle import write_bundle
    from rramlsm.sw.experiments.audiovisual import PAPER_FIGURES, run_pipeline
    from rramlsm.sw.experiments.report import write_report

    t0 = time.perf_counter()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    rotation = None
    if unseen_splits:
        from rramlsm.sw.datasets import load_source
        from rramlsm.sw.experiments.split_rotation import resolve_unseen_splits

        # Resolved before any training: a bad split stops the run at once.
        visual = visual if visual is not None else load_source(config.visual, progress=progress)
        audio = audio if audio is not None else load_source(config.audio, progress=progress)
        rotation = resolve_unseen_splits(unseen_splits, visual.labels, audio.labels)
    result = run_pipeline(config, progress=progress, visual=visual, audio=audio)
    metrics = result.metrics
    if rotation:
        from rramlsm.sw.experiments.split_rotation import run_split_rotation

        metrics["zero_shot_splits"] = run_split_rotation(
            config, unseen_splits, *rotation, result.visual, result.audio, progress=progress)
    metrics.update(extra or {})
    metrics["training_cost"] = _cost(result, config.zeroshot.epochs)
    for s in result.seeds:
        write_bundle(out / "models" / f"seed{s.seed}", s.bundle)
    # The exported bundle is the first seed's: choosing the "best" seed would need
    # a test figure, which selection never looks at.
    write_bundle(out / "bundle", result.seeds[0].bundle)
    metrics["bundle"] = {"path": str(out / "bundle"), "seed": result.seeds[0].seed}
    metrics["paper"] = PAPER_FIGURES
    if rtl_samples:
        metrics["rtl_check"] = _rtl_check(out / "bundle", rtl_samples)
    metrics["seconds"] = time.perf_counter() - t0
    write_report(out / "report.html", result, metrics)
    metrics["seconds"] = time.perf_counter() - t0
    write_json(out / "metrics.json", metrics)
    return metrics


def _rtl_check(bundle: Path, n: int) -> dict:
    """A short cosimulation of the exported bundle.  It is reported, and the demo runs to
    the end either way; a check that ran and did not pass (``passed`` false: mismatches,
    failed or missing cocotb tests) makes the command's exit status 1."""
    from rramlsm.errors import RRAMLSMError

    try:
        from rramlsm.cosim.commands import rtl_check
        from rramlsm.cosim.run import cosim_failures

        s = rtl_check(bundle, n)
    except (RRAMLSMError, ImportError, OSError, RuntimeError) as e:
        return {"ran": False, "reason": str(e)[:500]}
    failures = cosim_failures(s)
    return {"ran": True, "passed": not failures, "failures": failures,
            **{k: s.get(k) for k in ("samples", "mismatches", "failed_tests", "missing_runs",
                                     "cycles_per_sample_mean", "sim_cycles_per_s",
                                     "build_seconds")}}


def print_summary(metrics: dict) -> None:
    from rramlsm.sw.experiments.report import summary_rows
    from rramlsm.sw.stats import fmt_figure

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
    rot = metrics.get("zero_shot_splits")
    if rot:
        print(f"split rotation ({rot['spec']}: {len(rot['splits'])} held-out groups x "
              f"{len(rot['seeds'])} seeds; chance seen {rot['chance']['seen_top1']:.1f}, "
              f"unseen {rot['chance']['unseen_top1']:.1f}, GZSL {rot['chance']['gzsl']:.1f} %):")
        for path in ("software", "hardware"):
            agg = rot["aggregate"][path]
            print(f"  {path:<8} seen {fmt_figure(agg, 'seen_top1')}, unseen "
                  f"{fmt_figure(agg, 'unseen_top1')} ({rot['unseen_vs_chance'][path]}), "
                  f"GZSL harmonic mean {fmt_figure(agg['gzsl'], 'harmonic_mean')}")
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


def _bmi_config(args):
    from rramlsm.sw.experiments.bmi import BMIConfig, bmi_zeroshot_config

    try:
        changes = {"epochs": args.epochs, "weight_decay": args.weight_decay,
                   "patience": args.patience}
        if args.temperature is not None:
            changes["temperature"] = args.temperature
        return BMIConfig(neural=args.neural, seeds=tuple(args.seeds),
                         neurons=2048 if args.neurons is None else args.neurons,
                         target_rate=None if args.paper_constants else args.target_rate,
                         zeroshot=bmi_zeroshot_config(**changes), read_noise=args.read_noise)
    except (ValueError, TypeError) as e:
        raise ConfigError(str(e)) from None


def run_bmi_training(config, out: Path, *, progress: bool = True) -> dict:
    """The BMI task (:mod:`rramlsm.sw.experiments.bmi`): ``metrics.json`` and ``report.html`` in ``out``."""
    from rramlsm.sw.experiments.bmi import run_bmi
    from rramlsm.sw.experiments.report import write_bmi_report

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    result = run_bmi(config, progress=progress)
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
    print("firing rate float/golden: " + ", ".join(
        f"{k} {100 * fr[k]['float']:.1f}/{100 * fr[k]['golden']:.1f} %" for k in fr))


def _check_sources(args) -> None:
    """Both sources well formed and present, before the first is loaded (or built)."""
    from rramlsm.arguments import check_source_argument

    check_source_argument("--visual", args.visual, "vision")
    check_source_argument("--audio", args.audio, "audio")


def _cmd_train(args) -> int:
    if args.unseen_splits is not None:
        from rramlsm.sw.experiments.split_rotation import check_unseen_splits

        check_unseen_splits(args.unseen_splits)
        if args.task != "av" or args.config or args.tune:
            raise ConfigError("--unseen-splits applies to the audio-visual task without "
                              "--config / --tune")
    if args.config or args.tune:
        from rramlsm.sw.experiments.tune import train_tuned

        return train_tuned(args)
    from rramlsm.arguments import input_file, output_folder

    output_folder("--out", args.out)
    if args.task == "bmi":
        if args.neural != "model":
            kind, _, path = args.neural.partition(":")
            if kind != "willett" or not path:
                raise ConfigError(f"--neural: {args.neural!r} is neither 'model' nor "
                                  f"'willett:PATH' (singleLetters.mat)")
            input_file("--neural", path)
        config = _bmi_config(args)
        metrics = run_bmi_training(config, Path(args.out), progress=not args.quiet)
        print_bmi_summary(metrics)
        print(f"wrote {args.out}/metrics.json, report.html ({metrics['seconds']:.0f} s)")
        return 0
    if args.visual is None or args.audio is None:
        raise ConfigError("train --task av needs --visual and --audio sources")
    _check_sources(args)
    cfg = _pipeline_config(args)
    metrics = run_training(cfg, Path(args.out), progress=not args.quiet,
                           rtl_samples=getattr(args, "rtl_samples", 0),
                           unseen_splits=args.unseen_splits)
    print_summary(metrics)
    print(f"wrote {args.out}/metrics.json, report.html, bundle/ ({metrics['seconds']:.0f} s)")
    rc = metrics.get("rtl_check")
    return 1 if rc and rc["ran"] and not rc["passed"] else 0


def _cmd_demo(args) -> int:
    from rramlsm.arguments import require

    require("--rtl-samples", args.rtl_samples, args.rtl_samples >= 0, "at least 0")
    args.visual, args.audio, args.neural = "digits", "speech", "model"
    if args.out is None:
        args.out = "runs/demo-bmi" if args.task == "bmi" else "runs/demo"
    return _cmd_train(args)


def _load_pair(args):
    from rramlsm.arguments import source_argument

    _check_sources(args)
    return (source_argument("--visual", args.visual, "vision", progress=False),
            source_argument("--audio", args.audio, "audio", progress=False))


def evaluate_bundle(bundle, data: dict) -> dict:
    """The bundle's 9-way classifier per modality on the test split (golden model)."""
    from rramlsm.sw.features import frame_for_macro
    from rramlsm.sw.golden import golden_counts

    out = {}
    for m, ds in data.items():
        mb = bundle.modalities.get(m)
        if mb is None:
            raise ConfigError(f"the bundle has no {m!r} macro")
        test = np.flatnonzero(~ds.is_train & np.isin(ds.labels, mb.classes))
        if len(test) == 0:
            raise ConfigError(f"{ds.name}: no test samples of classes {list(mb.classes)}")
        counts = golden_counts(mb.lsm, frame_for_macro(ds, m, mb.lsm, test,
                                                       mb.config.get("framing")))
        pred = mb.classify(counts)
        out[m] = {"top1": 100.0 * float((pred == ds.labels[test]).mean()), "samples": len(test),
                  "firing_rate": float(counts.mean() / mb.lsm.steps)}
    return out


def _cmd_eval(args) -> int:
    from rramlsm.arguments import bundle_argument, output_file

    bundle = bundle_argument(args.bundle)
    out = output_file("--out", args.out or Path(args.bundle).parent, "eval.json")
    v, a = _load_pair(args)
    # A bundle of one macro (rramlsm import-nir) is evaluated on that modality alone.
    res = evaluate_bundle(bundle, {m: ds for m, ds in (("visual", v), ("audio", a))
                                   if m in bundle.modalities})
    for m, r in res.items():
        print(f"{m}: {r['top1']:.1f} % top-1 over {r['samples']} test samples "
              f"({len(bundle.modalities[m].classes)}-way classifier, integer path), firing rate "
              f"{100 * r['firing_rate']:.1f} %")
    write_json(out, {"bundle": str(args.bundle), "sources": {"visual": v.name, "audio": a.name},
                     **res})
    print(f"wrote {out}")
    return 0


def write_mem_files(bundle, folder: Path) -> list[Path]:
    """Every array as a ``$readmemh`` file: one two's-complement word per line, row-major."""
    from rramlsm.sw.bundle import _arrays

    written = []
    for m, mb in bundle.modalities.items():
        (folder / m).mkdir(parents=True, exist_ok=True)
        for key, arr in _arrays(mb).items():
            bits = arr.dtype.itemsize * 8
            words = arr.astype(np.int64).ravel() & ((1 << bits) - 1)
            path = folder / m / f"{key}.mem"
            write_atomic(path, "".join(f"{w:0{bits // 4}x}\n" for w in words))
            written.append(path)
    return written


def write_nir_files(bundle, folder: Path) -> list[Path]:
    """Each modality's reservoir as a NIR graph (``<modality>.nir``, HDF5; see
    :func:`rramlsm.sw.nir_export.to_nir`), for snnTorch and other NIR tools."""
    import nir

    from rramlsm.sw._io import atomic_path
    from rramlsm.sw.nir_export import bundle_to_nir

    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for m, mb in bundle.modalities.items():
        path = folder / f"{m}.nir"
        with atomic_path(path) as tmp:
            nir.write(tmp, bundle_to_nir(mb))
        written.append(path)
    return written


def _cmd_export(args) -> int:
    from rramlsm.arguments import bundle_argument, naming, output_folder
    from rramlsm.sw.bundle import write_bundle

    bundle = bundle_argument(args.bundle)  # verifies every hash and shape
    out = output_folder("--out", args.out)
    if out.resolve() == Path(args.bundle).resolve():
        raise ConfigError("--out must differ from --bundle")
    with naming("--out"):
        write_bundle(out, bundle)
    msg = f"wrote bundle {out}"
    if args.mem:
        files = write_mem_files(bundle, out / "mem")
        msg += f" and {len(files)} memory-initialisation files in {out / 'mem'}"
    if args.nir:
        files = write_nir_files(bundle, out / "nir")
        msg += f" and {len(files)} NIR graphs in {out / 'nir'}"
    print(msg)
    return 0


def _cmd_baselines(args) -> int:
    from tqdm.auto import tqdm

    from rramlsm.arguments import output_folder, require
    from rramlsm.sw.experiments.baselines import BaselineConfig, train_protonet, train_srnn_clip
    from rramlsm.sw.features import frame_dataset, lsm_counts
    from rramlsm.sw.lsm import make_reservoir
    from rramlsm.sw.experiments.audiovisual import _calibrated, chip_seeds
    from rramlsm.sw.zeroshot import ZeroShotConfig, make_split

    output_folder("--out", args.out)
    require("--target-rate", args.target_rate, 0 < args.target_rate < 1, "in (0, 1)")
    require("--seeds", args.seeds, all(s >= 0 for s in args.seeds), "integers >= 0")
    v, a = _load_pair(args)
    try:
        bc = BaselineConfig(epochs=args.epochs, episodes=args.episodes)
    except (ValueError, TypeError) as e:
        raise ConfigError(str(e)) from None
    zs = ZeroShotConfig()
    runs = {"srnn_clip": [], "protonet_srnn": [], "protonet_lsm": []}
    for seed in args.seeds:
        chip = chip_seeds(seed)
        cfgs = {"visual": _calibrated("visual", v, chip["visual"], args.target_rate,
                                      classes=zs.seen),
                "audio": _calibrated("audio", a, chip["audio"], args.target_rate,
                                     classes=zs.seen)}
        res = {m: make_reservoir(cfgs[m], seed=chip[m]) for m in cfgs}
        fv, fa = frame_dataset(v, cfgs["visual"]), frame_dataset(a, cfgs["audio"])
        split = make_split(v.labels, v.is_train, a.labels, a.is_train, zs, seed)
        bar = tqdm(total=bc.epochs + 2 * bc.episodes, desc=f"baselines seed {seed}",
                   disable=args.quiet, leave=False)
        runs["srnn_clip"].append(train_srnn_clip(fv, fa, v.labels, a.labels, split, res, bc,
                                                 seed=seed, progress=bar))
        runs["protonet_srnn"].append(train_protonet(fv, fa, v.labels, a.labels, split, res, bc,
                                                    seed=seed, progress=bar))
        rv = lsm_counts(v, cfgs["visual"], seed=chip["visual"]) / cfgs["visual"].steps
        ra = lsm_counts(a, cfgs["audio"], seed=chip["audio"]) / cfgs["audio"].steps
        runs["protonet_lsm"].append(train_protonet(rv.astype(np.float32), ra.astype(np.float32),
                                                   v.labels, a.labels, split, None, bc,
                                                   seed=seed, progress=bar))
        bar.close()
        # Rewritten after every seed: a long run that is stopped keeps what it finished.
        _baseline_summary(runs, args, bc, v, a, quiet=True)
    _baseline_summary(runs, args, bc, v, a, quiet=False)
    return 0


def _baseline_summary(runs, args, bc, v, a, *, quiet: bool) -> dict:
    from rramlsm.sw.experiments.audiovisual import aggregate_seeds

    summary = {}
    for name, rs in runs.items():
        summary[name] = {**aggregate_seeds([r.zero_shot for r in rs]),
                         "seconds_mean": float(np.mean([r.seconds for r in rs])),
                         "steps": rs[0].steps}
        z = summary[name]
        if not quiet:
            print(f"{name:<14} seen {z['seen_top1']:5.1f} ± {z['seen_top1_sd']:4.1f}  unseen "
                  f"{z['unseen_top1']:5.1f} ± {z['unseen_top1_sd']:4.1f}  "
                  f"({z['seconds_mean']:.0f} s per seed)")
    out = Path(args.out) / "baselines.json"
    done = list(args.seeds)[: len(runs["srnn_clip"])]
    write_json(out, {"seeds": done, "recipe":
                     {"epochs": bc.epochs, "episodes": bc.episodes, "batch": bc.batch,
                      "n_way": bc.n_way, "shot": bc.shot, "query": bc.query},
                     "sources": {"visual": v.name, "audio": a.name}, **summary})
    if not quiet:
        print(f"wrote {out}")
    return summary


def energy_report(bundle, frames: dict, *, clock_mhz: float = 100.0, lanes: int = 16,
                  head_lanes: int = 16, energies=None) -> dict:
    """Energy and latency per sample of each macro of ``bundle`` on ``frames`` (per modality),
    against the digital baseline; see :mod:`rramlsm.sw.energy`."""
    import dataclasses as dc

    from rramlsm.hw.cycles import mean_cycles
    from rramlsm.hw.params import CoreParams
    from rramlsm.sw.energy import (
        ASSUMPTION_SOURCES,
        PAPER_RATIOS,
        OpEnergies,
        analog_latency_ns,
        count_events,
        energy_figures,
    )
    from rramlsm.sw.golden import golden_counts

    e = energies or OpEnergies()
    out = {"modalities": {}}
    for m, fr in frames.items():
        mb = bundle.modalities[m]
        _, trains = golden_counts(mb.lsm, fr, record=True)
        c = count_events(mb.lsm, mb.head.layers[-1].weight.shape[1], len(mb.classes), fr, trains)
        p = CoreParams.from_bundle(mb, lanes=lanes, head_lanes=head_lanes)
        cycles = mean_cycles(fr, trains, p)
        out["modalities"][m] = {
            "samples": len(fr),
            "events": {k: getattr(c, k) for k in ("active_rows", "active_steps", "spikes",
                                                  "cell_reads", "adc_conversions",
                                                  "lif_updates", "head_macs",
                                                  "classifier_macs", "dense_macs")},
            **energy_figures(c, e),
            "latency_rtl_us": cycles / clock_mhz,
            "latency_analog_us": analog_latency_ns(c, e, head_lanes=head_lanes,
                                                   clock_mhz=clock_mhz) / 1e3,
            "rtl_cycles_per_sample": cycles,
        }
    mods = out["modalities"]
    first = "visual" if "visual" in mods else next(iter(mods))
    out.update({
        "modality": first,
        "macro_nj_per_sample": mods[first]["macro_nj_per_sample"],
        "digital_nj_per_sample": mods[first]["digital_nj_per_sample"],
        "ratio": mods[first]["ratio"],
        "paper_ratios": list(PAPER_RATIOS),
        "clock_mhz": clock_mhz, "lanes": lanes,
        "assumptions": {"energies": dc.asdict(e), "cell_read_pj": e.cell_read_pj,
                        "sources": ASSUMPTION_SOURCES},
    })
    return out


def _energy_bmi(args, out: Path) -> int:
    from rramlsm.sw.experiments.bmi import bmi_energy
    from rramlsm.sw.energy import ASSUMPTION_SOURCES, PAPER_RATIOS

    r = bmi_energy(args.samples)
    r["paper_ratios"] = list(PAPER_RATIOS)
    r["assumptions"] = {"sources": ASSUMPTION_SOURCES}
    first = r["modalities"]["neural"]
    r.update(modality="neural", macro_nj_per_sample=first["macro_nj_per_sample"],
             digital_nj_per_sample=first["digital_nj_per_sample"], ratio=first["ratio"])
    print(f"BMI reservoirs (2048 neurons, tiled), {args.samples} built-in samples each:")
    for m, v in r["modalities"].items():
        print(f"{m:<8} macro {v['macro_nj_per_sample']:,.0f} nJ, digital dense "
              f"{v['digital_nj_per_sample']:,.0f} nJ ({v['ratio']:.1f}x), event-driven "
              f"{v['digital_event_driven_nj_per_sample']:,.0f} nJ "
              f"({v['ratio_event_driven']:.1f}x); analog latency "
              f"{v['latency_analog_us']:.1f} us; {v['tiles']} tiles, firing "
              f"{100 * v['firing_rate']:.1f} %")
    print("assumptions: " + "; ".join(f"{k}: {v}" for k, v in ASSUMPTION_SOURCES.items()))
    write_json(out, r)
    print(f"wrote {out}")
    return 0


def _cmd_energy(args) -> int:
    from rramlsm.arguments import bundle_argument, output_file, require
    from rramlsm.cosim.commands import _DEFAULT_SOURCES, sample_frames
    from rramlsm.sw.energy import measured_energy
    from rramlsm.sw.lsm import LSMConfig, float_features, make_reservoir

    if args.samples < 1:
        raise ConfigError(f"--samples must be at least 1, not {args.samples}")
    require("--lanes", args.lanes, args.lanes >= 1, "at least 1")
    require("--clock-mhz", args.clock_mhz, 0 < args.clock_mhz < float("inf"), "positive")
    if args.task == "bmi":
        return _energy_bmi(args, output_file("--out", args.out or "runs/energy-bmi.json",
                                             "energy.json"))
    if not args.bundle:
        raise ConfigError("energy needs --bundle (or --task bmi)")
    bundle = bundle_argument(args.bundle)
    out = output_file("--out", args.out or Path(args.bundle).parent, "energy.json")
    frames = sample_frames(bundle, {m: _DEFAULT_SOURCES[m] for m in bundle.modalities},
                           args.samples)
    r = energy_report(bundle, frames, clock_mhz=args.clock_mhz, lanes=args.lanes)
    # Measured digital energy where the machine exposes it: the float LSM on this CPU/GPU.
    meas = {}
    for m, fr in frames.items():
        lsm = bundle.modalities[m].lsm
        res = make_reservoir(LSMConfig(m, lsm.inputs, lsm.neurons, lsm.steps), seed=0)
        meas[m] = measured_energy(lambda res=res, fr=fr: float_features(res, fr))
    r["measured_digital"] = meas
    print(f"{'per sample':<24}" + "".join(f"{m:>16}" for m in r["modalities"]))
    rows = [("macro (nJ)", "macro_nj_per_sample"), ("digital dense (nJ)",
                                                    "digital_nj_per_sample"),
            ("digital event-driven (nJ)", "digital_event_driven_nj_per_sample"),
            ("ratio dense / macro", "ratio"), ("ratio event / macro", "ratio_event_driven"),
            ("latency RTL (us)", "latency_rtl_us"), ("latency analog (us)",
                                                     "latency_analog_us")]
    for label, k in rows:
        print(f"{label:<24}" + "".join(f"{v[k]:>16,.2f}" for v in r["modalities"].values()))
    for m, v in r["modalities"].items():
        parts = ", ".join(f"{k} {x / 1e3:.1f}" for k, x in v["macro_pj"].items())
        print(f"{m} macro breakdown (nJ): {parts}")
    print(f"paper: {r['paper_ratios'][0]}x and {r['paper_ratios'][1]}x against digital "
          f"hardware")
    print("assumptions: " + "; ".join(f"{k}: {v}" for k, v in r["assumptions"]["sources"].items()))
    for m, v in meas.items():
        for dev in ("cpu_rapl", "gpu_nvml"):
            d = v.get(dev, {})
            if d.get("available"):
                print(f"measured {dev} ({m}, float LSM, {len(frames[m])} samples): "
                      f"{d['joules'] / len(frames[m]) * 1e9:,.0f} nJ per sample")
            else:
                print(f"measured {dev} ({m}): not available ({d.get('reason', '')})")
    write_json(out, r)
    print(f"wrote {out}")
    return 0


def _cmd_sweep(args) -> int:
    from rramlsm.arguments import input_file, naming, output_folder, require
    from rramlsm.sw.experiments.sweep import load_sweep_config, run_sweep

    if args.cpus is not None:  # Ray with no CPU waits for one forever
        require("--cpus", args.cpus, args.cpus >= 1, "at least 1")
    config = input_file("config", args.config)
    with naming("config"):
        cfg = load_sweep_config(config)
    s = run_sweep(cfg, output_folder("--out", args.out), address=args.address, cpus=args.cpus,
                  progress=not args.quiet)
    print(f"{s['parameter']} ({s['meaning']}), hardware path, mean ± s.d. over "
          f"{len(s['seeds'])} chips:")
    print(f"{'value':>10} {'seen':>13} {'unseen':>13} {'probe vis':>13} {'probe aud':>13}")
    for r in s["rows"]:
        print(f"{json.dumps(r['value']):>10} " + " ".join(
            f"{r[m]:6.1f} ± {r[m + '_sd']:4.1f}" for m in (
                "seen_top1", "unseen_top1", "probe_visual_top1", "probe_audio_top1")))
    print("falls 2 points below the ideal at: " + ", ".join(
        f"{k} {v if v is not None else 'never'}" for k, v in s["falls_2_points_at"].items()))
    if "at_5_percent_stuck" in s:
        s5 = s["at_5_percent_stuck"]
        print("at 5 % stuck-at (target: loss <= 2 points): " + ", ".join(
            f"{k} {v:.1f} ± {s5['loss_sem_paired'][k]:.1f} ({s5['verdict'][k]})"
            for k, v in s5["loss_points"].items()))
    print(f"wrote {args.out}/results.jsonl, summary.json, sweep.png, report.html")
    return 0


def _add_sources(p, required: bool) -> None:
    p.add_argument("--visual", default=None if required else "digits", required=required,
                   help="vision source: digits | nmnist:PATH")
    p.add_argument("--audio", default=None if required else "speech", required=required,
                   help="audio source: speech | fsdd:PATH | ntidigits:FILE")


def _add_training(p, default_out: str | None) -> None:
    p.add_argument("--out", default=default_out, required=default_out is None,
                   help="output folder")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4],
                   help="chip + head seeds (default 0 1 2 3 4)")
    p.add_argument("--epochs", type=int, default=100, help="head training epochs (default 100)")
    p.add_argument("--task", choices=("av", "bmi"), default="av",
                   help="av: audio-visual digits (default); bmi: neural activity and letters")
    p.add_argument("--temperature", type=float, default=None,
                   help="contrastive temperature (default: av 1.0, bmi 0.5)")
    p.add_argument("--weight-decay", type=float, default=0.0)
    p.add_argument("--patience", type=int, default=None,
                   help="early stopping after this many epochs without validation gain")
    p.add_argument("--target-rate", type=float, default=0.05,
                   help="calibrate reservoirs to this firing rate (default 0.05)")
    p.add_argument("--paper-constants", action="store_true",
                   help="use the paper's weight scales instead of calibrating")
    p.add_argument("--read-noise", action="store_true",
                   help="hardware path with the golden model's read noise")
    p.add_argument("--neurons", type=int, default=None,
                   help="reservoir neurons per modality (default: the presets' 200; BMI "
                        "2048), e.g. a smaller macro for a smaller FPGA")
    p.add_argument("--heads", choices=("float", "golden"), default="float",
                   help="train the heads on the float model's rates (default) or on the "
                        "golden model's counts, ADC and read noise included (hardware-aware)")
    p.add_argument("--unseen-splits", default=None, metavar="all|K|a,b",
                   help="also repeat the whole protocol for held-out pairs: all (every pair "
                        "of the classes in both modalities), K pairs drawn with a fixed seed, "
                        "or one group a,b (default: only the paper's split, 8 and 9 unseen)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    from rramlsm.sw.experiments.tune import add_train_arguments

    add_train_arguments(p)


def register(sub) -> None:
    t = sub.add_parser("train", help="train heads and evaluate (software + hardware paths)")
    _add_sources(t, required=False)
    t.set_defaults(visual=None, audio=None)
    t.add_argument("--neural", default="model",
                   help="BMI neural source: model | willett:FILE (singleLetters.mat)")
    _add_training(t, None)
    t.set_defaults(func=_cmd_train)

    d = sub.add_parser("demo", help="the main job on the built-in data")
    _add_training(d, "runs/demo")
    # Output folder per task: runs/demo (av) or runs/demo-bmi, so one never overwrites the other.
    d.set_defaults(out=None)
    d.add_argument("--rtl-samples", type=int, default=5,
                   help="samples per modality for the RTL check on Verilator (0: skip)")
    d.set_defaults(func=_cmd_demo)

    e = sub.add_parser("eval", help="evaluate an export bundle on data (integer path)")
    e.add_argument("--bundle", required=True)
    _add_sources(e, required=False)
    e.add_argument("--out", default=None,
                   help="output folder (writes eval.json there; default: beside the bundle), or "
                        "a file ending in .json")
    e.set_defaults(func=_cmd_eval)

    x = sub.add_parser("export", help="verify a bundle and copy it (optionally as .mem files "
                                      "and NIR graphs)")
    x.add_argument("--bundle", required=True)
    x.add_argument("--out", required=True, help="output folder (the copied bundle)")
    x.add_argument("--mem", action="store_true", help="also write $readmemh files")
    x.add_argument("--nir", action="store_true",
                   help="also write each reservoir as a NIR graph (nir/<modality>.nir)")
    x.set_defaults(func=_cmd_export)

    sw = sub.add_parser("sweep", help="Monte Carlo sweep of a device non-ideality on Ray "
                                      "(resumable)")
    sw.add_argument("config", help="sweep TOML (see configs/sweeps/)")
    sw.add_argument("--out", required=True, help="results folder (resumes what it holds)")
    sw.add_argument("--address", default=None,
                    help="an existing Ray cluster (default: embedded local Ray)")
    sw.add_argument("--cpus", type=int, default=None, help="local Ray CPUs (default: all)")
    sw.add_argument("--quiet", action="store_true")
    sw.set_defaults(func=_cmd_sweep)

    en = sub.add_parser("energy", help="energy and latency per sample: macro vs digital")
    en.add_argument("--bundle", default=None, help="the macro's bundle (audio-visual task)")
    en.add_argument("--task", choices=("av", "bmi"), default="av",
                    help="bmi: the BMI task's 2048-neuron reservoirs (no bundle)")
    en.add_argument("--samples", type=int, default=100, help="built-in samples per modality")
    en.add_argument("--clock-mhz", type=float, default=100.0)
    en.add_argument("--lanes", type=int, default=16, help="RTL column lanes (latency)")
    en.add_argument("--out", default=None,
                    help="output folder (writes energy.json there; default: beside the bundle), "
                         "or a file ending in .json")
    en.set_defaults(func=_cmd_energy)

    b = sub.add_parser("baselines", help="train SRNN-CLIP and ProtoNet baselines in full")
    _add_sources(b, required=False)
    b.add_argument("--out", default="runs/baselines", help="output folder")
    b.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    b.add_argument("--epochs", type=int, default=100, help="SRNN-CLIP epochs")
    b.add_argument("--episodes", type=int, default=1250, help="ProtoNet episodes")
    b.add_argument("--target-rate", type=float, default=0.05)
    b.add_argument("--quiet", action="store_true")
    b.set_defaults(func=_cmd_baselines)

    from rramlsm.sw.experiments.tune import register as register_tune

    register_tune(sub)
