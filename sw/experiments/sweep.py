"""Monte Carlo sweeps of device non-idealities on Ray, resumable, with plots and a report.

A sweep varies one non-ideality of both crossbars (programming spread, read
noise, stuck-at faults, ADC bits, conductance levels, drift time, reservoir
size) over a list of values; every (value, seed) pair is one **trial**: a
freshly sampled pair of chips, calibrated, run through the golden model
(hardware path) and the float model, heads trained, figures measured
(:func:`rramlsm.sw.experiments.audiovisual.run_seed`).  Trials are Ray tasks -- an embedded
local Ray by default, an existing cluster with ``address`` -- and each result
is appended to ``results.jsonl`` as it finishes, so an interrupted sweep
resumes where it stopped.

Config (TOML)::

    parameter = "stuck"            # see PARAMETERS
    values = [0.0, 0.01, 0.02, 0.05, 0.1]
    seeds = [0, 1, 2, 3, 4]
    epochs = 100                   # head training epochs per trial
    model = "lsm"                  # or "srnn": trained SRNN-CLIP weights written onto the
                                   # same devices (the contrast;
                                   # rramlsm.sw.experiments.srnn_transfer)
    srnn_epochs = 30               # SRNN-CLIP training epochs per chip (model = "srnn")
    recalibrate = false            # drift sweeps: re-pick the threshold after deployment
    [device]                       # optional: base device settings (e.g. drift_nu = 0.05)

With ``model = "srnn"`` each chip seed's SRNN-CLIP is trained once in software
(cached, shared by every value and every sweep) and then written onto the
devices of each value; ``g_std_us`` is then the write error of a targeted
conductance (0 unless set: an exact write-verify), not the electroforming
spread that makes the LSM's random weights.
"""

from __future__ import annotations

import base64
import dataclasses
import html
import json
import math
import time
import tomllib
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from rramlsm.errors import ConfigError
from rramlsm.sw._checks import MAX_SEED
from rramlsm.sw._io import atomic_path, read_run_record, write_atomic
from rramlsm.sw.datasets import load_source
from rramlsm.sw.datasets.sources import check_source
from rramlsm.sw.device import ADCConfig, DeviceConfig
from rramlsm.sw.experiments._ray import start_ray
from rramlsm.sw.experiments.audiovisual import PipelineConfig, run_seed
from rramlsm.sw.experiments.srnn_transfer import train_srnn_for_chip, transfer_metrics
from rramlsm.sw.plots import png_base64, pyplot
from rramlsm.sw.zeroshot import ZeroShotConfig

__all__ = ["PARAMETERS", "MODELS", "SweepConfig", "load_sweep_config", "run_sweep", "summarize",
           "overrides_for", "deploy_for", "METRICS"]

#: parameter -> what it changes (for people and error messages).
PARAMETERS = {
    "g_std_us": "programming spread: sd of the device conductance (uS)",
    "read_noise": "multiplicative read noise per read (fraction), hardware path with noise",
    "stuck": "stuck-at fault fraction, half stuck on and half stuck off",
    "stuck_on": "stuck-at-on fault fraction",
    "stuck_off": "stuck-at-off fault fraction",
    "adc_bits": "column ADC bits (same full-scale range: low bits dropped)",
    "levels": "programmable conductance levels",
    "drift_time_s": "time since calibration and training (s), with the config's drift_nu",
    "neurons": "reservoir neurons (both modalities)",
}
#: What a sweep puts on the devices: the random LSM, or a trained SRNN's weights.
MODELS = ("lsm", "srnn")
#: Figures kept per trial (hardware path unless prefixed sw_).
METRICS = ("seen_top1", "unseen_top1", "probe_visual_top1", "probe_audio_top1",
           "sw_seen_top1", "sw_unseen_top1", "firing_rate_visual", "firing_rate_audio")
#: Figures only the SRNN contrast has: heads retrained on each faulty chip's features.
SRNN_METRICS = ("heads_retrained_seen_top1", "heads_retrained_unseen_top1")


@dataclasses.dataclass(frozen=True)
class SweepConfig:
    parameter: str
    values: tuple
    seeds: tuple[int, ...] = (0, 1, 2, 3, 4)
    epochs: int = 100
    device: dict = dataclasses.field(default_factory=dict)
    visual: str = "digits"
    audio: str = "speech"
    model: str = "lsm"
    srnn_epochs: int = 30
    recalibrate: bool = False
    """After deployment (drift), re-pick the threshold on the deployed chip."""

    def __post_init__(self):
        if not isinstance(self.recalibrate, bool):
            raise ConfigError(f"sweep recalibrate must be true or false, not {self.recalibrate!r}")
        if self.recalibrate and (self.parameter != "drift_time_s" or self.model != "lsm"):
            raise ConfigError("sweep recalibrate applies to an LSM drift_time_s sweep only")
        if self.model not in MODELS:
            raise ConfigError(f"sweep model {self.model!r} is not one of {', '.join(MODELS)}")
        if not _is_int(self.srnn_epochs) or self.srnn_epochs < 1:
            raise ConfigError(f"sweep srnn_epochs must be a positive integer, not "
                              f"{self.srnn_epochs!r}")
        if self.model == "srnn" and self.parameter == "neurons":
            raise ConfigError("sweep model 'srnn' cannot sweep neurons: the trained weights "
                              "fix the size")
        if self.parameter not in PARAMETERS:
            raise ConfigError(f"sweep parameter {self.parameter!r} is not one of "
                              f"{', '.join(PARAMETERS)}")
        if not self.values:
            raise ConfigError("sweep values must not be empty")
        if not self.seeds:
            raise ConfigError("sweep seeds must not be empty")
        if not all(_is_int(s) and 0 <= s <= MAX_SEED for s in self.seeds):
            raise ConfigError(f"sweep seeds must be integers in 0..{MAX_SEED}, not "
                              f"{list(self.seeds)}")
        if len(set(self.seeds)) != len(self.seeds):   # one chip counted as two
            raise ConfigError(f"sweep seeds repeat: {list(self.seeds)}")
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in self.values):
            raise ConfigError(f"sweep values must be numbers, not {list(self.values)}")
        if not isinstance(self.device, dict):
            raise ConfigError(f"sweep device must be a table of device settings, not "
                              f"{self.device!r}")
        # [device] is the base the sweep varies one setting of: the same setting there
        # would be overwritten by every value unsaid.
        varied = ("stuck_on", "stuck_off") if self.parameter == "stuck" else (self.parameter,)
        fixed = [k for k in varied if k in self.device]
        if fixed:
            raise ConfigError(f"sweep device sets {fixed[0]}, which this sweep varies "
                              f"(parameter {self.parameter!r}); leave it out of [device]")
        if self.parameter == "drift_time_s" and not self.device.get("drift_nu"):
            raise ConfigError("sweep drift_time_s needs a drift exponent: set drift_nu > 0 "
                              "in [device] (with drift_nu 0 the conductances do not drift "
                              "and every value measures the same chip)")
        for key in ("visual", "audio"):
            if not isinstance(getattr(self, key), str):
                raise ConfigError(f"sweep {key} must be a data source name, not "
                                  f"{getattr(self, key)!r}")
        if len(set(self.values)) != len(self.values):
            raise ConfigError(f"sweep values repeat: {list(self.values)}")
        if not _is_int(self.epochs) or self.epochs < 1:
            raise ConfigError(f"sweep epochs must be a positive integer, not {self.epochs!r}")
        for v in self.values:
            overrides_for(self, v)            # every value must make a valid configuration

    def to_dict(self) -> dict:
        return {**dataclasses.asdict(self), "values": list(self.values),
                "seeds": list(self.seeds)}


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)  # TOML's true is no count


def load_sweep_config(path: Path) -> SweepConfig:

    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise ConfigError(f"{path}: cannot read ({e.strerror})") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise ConfigError(f"{path}: not valid TOML ({e})") from None
    known = {f.name for f in dataclasses.fields(SweepConfig)}
    unknown = set(raw) - known
    if unknown:
        raise ConfigError(f"{path}: unknown keys {sorted(unknown)}; expected {sorted(known)}")
    if "parameter" not in raw or "values" not in raw:
        raise ConfigError(f"{path}: needs 'parameter' and 'values'")
    for key in ("values", "seeds"):
        if not isinstance(raw.get(key, []), list):
            # tuple() of a string would make a list of its characters
            raise ConfigError(f"{path}: {key} must be a list, not {raw[key]!r}")
    try:
        cfg = SweepConfig(**{**raw, "values": tuple(raw["values"]),
                             "seeds": tuple(raw.get("seeds", (0, 1, 2, 3, 4)))})
        # The sources too, now: run_sweep loads them only after it has set up its folder.
        check_source(cfg.visual, "vision")
        check_source(cfg.audio, "audio")
    except (TypeError, ValueError) as e:
        raise ConfigError(f"{path}: {e}") from None
    return cfg


def overrides_for(cfg: SweepConfig, value) -> dict:
    """``lsm_overrides`` of the pipeline for one value of the swept parameter."""

    dev = dict(cfg.device)
    out = {}
    p = cfg.parameter
    try:
        if p == "stuck":
            dev.update(stuck_on=value / 2, stuck_off=value / 2)
        elif p in ("g_std_us", "read_noise", "stuck_on", "stuck_off", "levels"):
            dev[p] = value
        elif p == "drift_time_s":
            # Drift happens after deployment: the chip is calibrated and the heads trained
            # at t0, the hardware path then runs the drifted chip (see deploy_for).
            DeviceConfig(**{**dev, "drift_time_s": value})
        elif p == "adc_bits":
            # Fewer bits over the same full-scale range: the shift drops the low bits (a
            # narrower ADC at shift 0 would clip the column sums instead, and the
            # reservoir would fall silent for a reason no designer would accept).
            base = ADCConfig()
            out["adc"] = ADCConfig(bits=value, shift=base.shift + max(0, base.bits - value))
        elif p == "neurons":
            if not _is_int(value) or value < 1:
                raise ConfigError("a reservoir needs a positive whole number of neurons")
            out["neurons"] = value
        out["device"] = DeviceConfig(**dev)
        if "adc" in out:
            ADCConfig(**dataclasses.asdict(out["adc"]))
    except (TypeError, ValueError) as e:
        raise ConfigError(f"sweep {p} = {value!r}: {e}") from None
    return out


def deploy_for(cfg: SweepConfig, value) -> dict:
    """Device changes after calibration and training (``PipelineConfig.deploy_device``)."""
    if cfg.parameter == "drift_time_s":
        return {**cfg.device, "drift_time_s": value}
    return {}


def _key(value, seed: int) -> str:
    return json.dumps([value, seed])


def _trial(cfg: SweepConfig, value, seed: int, v, a) -> dict:
    """One (value, seed): the pipeline for one seed; runs in a Ray worker."""


    torch.set_num_threads(1)             # one trial per core
    pc = PipelineConfig(seeds=(seed,), zeroshot=ZeroShotConfig(epochs=cfg.epochs),
                        hardware_noise=cfg.parameter == "read_noise" and value > 0,
                        lsm_overrides=overrides_for(cfg, value),
                        deploy_device=deploy_for(cfg, value),
                        recalibrate_deployed=cfg.recalibrate,
                        # One total count per neuron (the preset's readout), as every sweep
                        # in docs/SWEEPS.md was measured: a sweep's resumed results stay
                        # comparable, and a non-ideality is not confounded with a window
                        # choice that moves with it.
                        windows={"visual": None, "audio": None})
    t0 = time.perf_counter()
    r = run_seed(seed, v, a, pc, None)
    hw, sw = r.hardware, r.software
    metrics = {"seen_top1": hw["zero_shot"]["seen_top1"],
               "unseen_top1": hw["zero_shot"]["unseen_top1"],
               "probe_visual_top1": hw["probe"]["visual_top1"],
               "probe_audio_top1": hw["probe"]["audio_top1"],
               "sw_seen_top1": sw["zero_shot"]["seen_top1"],
               "sw_unseen_top1": sw["zero_shot"]["unseen_top1"],
               "firing_rate_visual": r.rates["visual"]["golden"],
               "firing_rate_audio": r.rates["audio"]["golden"]}
    return {"key": _key(value, seed), "parameter": cfg.parameter, "value": value, "seed": seed,
            "metrics": metrics, "seconds": time.perf_counter() - t0}


def _train_srnn(cfg: SweepConfig, seed: int, v, a):
    """One chip's SRNN-CLIP (model = "srnn"); a Ray task every trial of that seed waits on."""


    torch.set_num_threads(1)
    return train_srnn_for_chip(seed, v, a, epochs=cfg.srnn_epochs)


def _srnn_trial(cfg: SweepConfig, value, seed: int, v, a, trained) -> dict:
    """One (value, seed) of the contrast: the trained SRNN written onto the devices."""


    torch.set_num_threads(1)
    over = overrides_for(cfg, value)
    dev = dataclasses.replace(over["device"], **deploy_for(cfg, value))
    # Targeted writes: the electroforming spread is not a write error (see the module doc).
    write_sd = dev.g_std_us if cfg.parameter == "g_std_us" or "g_std_us" in cfg.device else 0.0
    t0 = time.perf_counter()
    metrics = transfer_metrics(trained, v, a, dev, adc=over.get("adc"), write_sd_us=write_sd,
                               hardware_noise=cfg.parameter == "read_noise" and value > 0,
                               retrain_epochs=cfg.epochs)
    return {"key": _key(value, seed), "parameter": cfg.parameter, "value": value, "seed": seed,
            "model": "srnn", "metrics": metrics, "seconds": time.perf_counter() - t0}


def _identity(settings: dict) -> dict:
    """What makes two sweeps' results one set: every setting but the values and seeds (a
    resumed sweep may extend those); settings an older snapshot lacks take their defaults."""
    defaults = {f.name: f.default_factory() if f.default_factory is not dataclasses.MISSING
                else f.default for f in dataclasses.fields(SweepConfig)}
    full = {**defaults, **settings}
    return {k: full[k] for k in defaults if k not in ("values", "seeds")}


def _read_results(path: Path, cfg: SweepConfig) -> dict[str, dict]:
    done = {}
    if not path.exists():
        return done
    lines = path.read_text().splitlines()
    for i, line in enumerate(lines):
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:
            if i == len(lines) - 1:       # a line cut by an interruption: that trial reruns
                print(f"{path}: last line incomplete (interrupted write); its trial reruns")
                continue
            raise ConfigError(f"{path}: line {i + 1} is not JSON; fix or remove the file") \
                from None
        if rec.get("parameter") != cfg.parameter:
            raise ConfigError(f"{path} holds a sweep of {rec.get('parameter')!r}, not "
                              f"{cfg.parameter!r}: use another --out")
        done[rec["key"]] = rec
    # Rewrite without the cut line so appends start on a fresh line.
    with atomic_path(path) as tmp:
        tmp.write_text("".join(json.dumps(r) + "\n" for r in done.values()))
    return done


def run_sweep(cfg: SweepConfig, out: Path, *, address: str | None = None,
              cpus: int | None = None, progress: bool = True) -> dict:
    """Run every missing trial on Ray, appending to ``out/results.jsonl``; then summarise,
    plot and report.  Returns the summary."""
    # Here, not at the top: `import ray` takes 0.6 s (python -X importtime), which every
    # `rramlsm` command would pay, since the command line imports this module.
    import ray

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    results = out / "results.jsonl"
    snapshot = out / "sweep.json"
    if snapshot.exists():
        old, new = _identity(read_run_record(snapshot)), _identity(cfg.to_dict())
        if old != new:
            diff = ", ".join(f"{k} {old[k]!r} (here {new[k]!r})" for k in new if old[k] != new[k])
            raise ConfigError(f"{out} holds a different sweep ({diff}): use another --out")
    with atomic_path(snapshot) as tmp:
        tmp.write_text(json.dumps(cfg.to_dict(), indent=2))
    done = _read_results(results, cfg)
    todo = [(v, s) for v in cfg.values for s in cfg.seeds if _key(v, s) not in done]
    if todo:
        v_ds = load_source(cfg.visual, progress=progress)
        a_ds = load_source(cfg.audio, progress=progress)
        started_here = start_ray(cpus=cpus, address=address)
        try:
            v_ref, a_ref = ray.put(v_ds), ray.put(a_ds)
            if cfg.model == "srnn":
                # One training task per chip; its trials start when it is done.
                train = ray.remote(num_cpus=1)(_train_srnn)
                trained = {s: train.remote(cfg, s, v_ref, a_ref) for s in {s for _, s in todo}}
                remote = ray.remote(num_cpus=1)(_srnn_trial)
                pending = {remote.remote(cfg, v, s, v_ref, a_ref, trained[s]): (v, s)
                           for v, s in todo}
            else:
                remote = ray.remote(num_cpus=1)(_trial)
                pending = {remote.remote(cfg, v, s, v_ref, a_ref): (v, s) for v, s in todo}
            bar = tqdm(total=len(todo) + len(done), initial=len(done), desc="trials",
                       unit="trial", disable=not progress)
            with open(results, "a") as f:
                while pending:
                    ready, _ = ray.wait(list(pending), num_returns=1)
                    for ref in ready:
                        pending.pop(ref)
                        rec = ray.get(ref)
                        f.write(json.dumps(rec) + "\n")
                        f.flush()
                        done[rec["key"]] = rec
                        bar.update(1)
            bar.close()
        finally:
            if started_here:
                ray.shutdown()
    summary = summarize(cfg, list(done.values()))
    with atomic_path(out / "summary.json") as tmp:
        tmp.write_text(json.dumps(summary, indent=2))
    write_sweep_report(out, cfg, summary)
    return summary


def summarize(cfg: SweepConfig, records: list[dict]) -> dict:
    """Mean and s.d. per value; where each figure first falls 2 points below the ideal (the
    first value)."""
    per = {}
    kept = METRICS + (SRNN_METRICS if cfg.model == "srnn" else ())
    for v in cfg.values:
        recs = [r for r in records if r["value"] == v]
        per[json.dumps(v)] = {
            "value": v, "trials": len(recs),
            **{m: float(np.mean([r["metrics"][m] for r in recs])) if recs else math.nan
               for m in kept},
            **{f"{m}_sd": float(np.std([r["metrics"][m] for r in recs], ddof=1))
               if len(recs) > 1 else 0.0 for m in kept},
        }
    rows = [per[json.dumps(v)] for v in cfg.values]
    ideal = rows[0]
    falls = {}
    for m in ("seen_top1", "unseen_top1", "probe_visual_top1", "probe_audio_top1"):
        first = next((r["value"] for r in rows[1:] if r[m] < ideal[m] - 2.0), None)
        falls[m] = first
    out = {"parameter": cfg.parameter, "meaning": PARAMETERS[cfg.parameter],
           "ideal_value": cfg.values[0], "rows": rows, "falls_2_points_at": falls,
           "seeds": list(cfg.seeds), "epochs": cfg.epochs, "model": cfg.model}
    if cfg.parameter in ("stuck", "stuck_on", "stuck_off") and 0.05 in cfg.values:
        r5 = per[json.dumps(0.05)]
        figures = ("seen_top1", "unseen_top1", "probe_visual_top1", "probe_audio_top1")
        loss = {m: ideal[m] - r5[m] for m in figures}
        # Paired by chip seed (the same split and training seed at 0 and 5 %): the standard
        # error of the mean loss tells a real loss from chip-to-chip variation.
        by = {(r["value"], r["seed"]): r["metrics"] for r in records}
        pairs = [s for s in cfg.seeds if (cfg.values[0], s) in by and (0.05, s) in by]
        sem = {m: float(np.std([by[(cfg.values[0], s)][m] - by[(0.05, s)][m] for s in pairs],
                               ddof=1) / math.sqrt(len(pairs))) if len(pairs) > 1 else math.nan
               for m in figures}
        verdict = {m: "met" if loss[m] <= 2.0 else
                   "within noise" if loss[m] - 2 * sem[m] <= 2.0 else "missed" for m in figures}
        out["at_5_percent_stuck"] = {"loss_points": loss, "loss_sem_paired": sem,
                                     "verdict": verdict,
                                     "target_met": all(x <= 2.0 for x in loss.values())}
    return out


def write_sweep_report(out: Path, cfg: SweepConfig, summary: dict) -> Path:
    """``out/sweep.png`` and ``out/report.html`` (the sweep's section of the report)."""
    plt = pyplot()
    rows = summary["rows"]
    xs = [r["value"] for r in rows]
    figures = [("seen_top1", "zero-shot seen"), ("unseen_top1", "zero-shot unseen"),
               ("probe_visual_top1", "probe visual"), ("probe_audio_top1", "probe audio")]
    if cfg.model == "srnn":
        figures += [("heads_retrained_seen_top1", "seen, heads retrained on the chip"),
                    ("heads_retrained_unseen_top1", "unseen, heads retrained on the chip")]
    fig, ax = plt.subplots(figsize=(6.5, 4))
    for m, label in figures:
        ax.errorbar(xs, [r[m] for r in rows], yerr=[r[f"{m}_sd"] for r in rows], marker="o",
                    capsize=3, label=label)
    ax.set_xlabel(f"{cfg.parameter}: {PARAMETERS[cfg.parameter]}")
    what = ("trained SRNN written onto the devices" if cfg.model == "srnn"
            else "LSM, hardware path")
    ax.set_ylabel(f"top-1 % ({what})")
    ax.set_title(f"{len(cfg.seeds)} chips per point, mean ± s.d.", fontsize=10)
    ax.legend(fontsize=8)
    png = png_base64(fig)
    write_atomic(out / "sweep.png", base64.b64decode(png))
    head = ("<tr><th>value</th><th>trials</th>"
            + "".join(f"<th>{html.escape(label)}</th>" for _, label in figures)
            + "<th>firing visual</th></tr>")
    body = "".join(
        f"<tr><td>{html.escape(json.dumps(r['value']))}</td><td>{r['trials']}</td>"
        + "".join(f"<td>{r[m]:.1f} ± {r[m + '_sd']:.1f}</td>" for m, _ in figures)
        + f"<td>{100 * r['firing_rate_visual']:.1f} %</td></tr>" for r in rows)
    falls = ", ".join(f"{k}: {v if v is not None else 'never (within the range)'}"
                      for k, v in summary["falls_2_points_at"].items())
    extra = ""
    if "at_5_percent_stuck" in summary:
        s5 = summary["at_5_percent_stuck"]
        extra = ("<p>At 5 % stuck-at faults the loss (paired by chip, ± s.e.m.) is "
                 + ", ".join(f"{k} {v:.1f} ± {s5['loss_sem_paired'][k]:.1f} "
                             f"({s5['verdict'][k]})" for k, v in s5["loss_points"].items())
                 + " points: target (≤ 2) "
                 + ("met" if s5["target_met"] else "not met on every figure") + ".</p>")
    if cfg.model == "srnn":
        intro = (f"Contrast: SRNN-CLIP trained in software ({cfg.srnn_epochs} epochs) per chip "
                 f"seed ({list(cfg.seeds)}), its weights written onto the devices of each "
                 "value and run on the golden model with its own trained float heads; "
                 "sw_ figures are the software model before the transfer.")
    else:
        intro = (f"{len(cfg.seeds)} sampled chip pairs per value (seeds {list(cfg.seeds)}), "
                 f"heads trained {cfg.epochs} epochs per trial; hardware path (golden model, "
                 "int8 heads) unless noted.")
    doc = f"""<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>rramlsm sweep: {html.escape(cfg.parameter)}</title>
<style>body{{font-family:sans-serif;max-width:1000px;margin:auto}}
table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:3px 8px}}</style></head>
<body><h1>Sweep: {html.escape(PARAMETERS[cfg.parameter])}</h1>
<p>{intro}
Falls 2 points below the ideal ({html.escape(json.dumps(cfg.values[0]))}) at: {html.escape(falls)}.
</p>{extra}
<table>{head}{body}</table>
<img src="data:image/png;base64,{png}">
</body></html>"""
    path = out / "report.html"
    with atomic_path(path) as tmp:
        tmp.write_text(doc)
    return path
