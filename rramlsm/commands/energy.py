"""``rramlsm energy``: energy and latency per sample, the macro against digital hardware
(:func:`rramlsm.sw.energy.energy_report`, latency from :func:`rramlsm.hw.cycles.macro_cycles`);
``--task bmi``: the BMI task's reservoirs (:func:`rramlsm.sw.experiments.bmi.bmi_energy`)."""

from __future__ import annotations

from functools import partial
from pathlib import Path

from rramlsm.arguments import beside_bundle, bundle_argument, check_lanes, output_file, require
from rramlsm.errors import ConfigError
from rramlsm.hw.cycles import macro_cycles
from rramlsm.sw._io import write_json
from rramlsm.sw.datasets.builtin import DEFAULT_SOURCES
from rramlsm.sw.energy import ASSUMPTION_SOURCES, PAPER_RATIOS, energy_report, measured_energy
from rramlsm.sw.experiments.bmi import bmi_energy
from rramlsm.sw.features import sample_frames, say_fewer_samples
from rramlsm.sw.lsm import LSMConfig, float_features, make_reservoir

__all__ = ["register"]

#: Head MAC lanes of the macro whose latency is reported.
HEAD_LANES = 16


def _energy_bmi(args, out: Path) -> int:
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
    if args.samples < 1:
        raise ConfigError(f"--samples must be at least 1, not {args.samples}")
    require("--lanes", args.lanes, args.lanes >= 1, "at least 1")
    require("--clock-mhz", args.clock_mhz, 0 < args.clock_mhz < float("inf"), "positive")
    if args.task == "bmi":
        if args.bundle:
            raise ConfigError("--bundle: --task bmi measures the built-in BMI reservoirs, "
                              "not a bundle; leave one of them out")
        return _energy_bmi(args, output_file("--out", args.out or "runs/energy-bmi.json",
                                             "energy.json"))
    if not args.bundle:
        raise ConfigError("energy needs --bundle (or --task bmi)")
    bundle = bundle_argument(args.bundle)
    out = output_file("--out", args.out or beside_bundle(args.bundle), "energy.json")
    check_lanes("--lanes", args.lanes, [mb.lsm.neurons for mb in bundle.modalities.values()])
    # A bundle made for other inputs than the built-in data is the --bundle's error.
    frames = sample_frames(bundle, {m: DEFAULT_SOURCES[m] for m in bundle.modalities},
                           args.samples, mismatch="--bundle")
    say_fewer_samples(frames, DEFAULT_SOURCES, args.samples)
    r = energy_report(bundle, frames, clock_mhz=args.clock_mhz, lanes=args.lanes,
                      head_lanes=HEAD_LANES,
                      rtl_cycles=partial(macro_cycles, lanes=args.lanes, head_lanes=HEAD_LANES))
    # Measured digital energy where the machine exposes it: the float LSM on this CPU/GPU.
    meas = {}
    for m, fr in frames.items():
        lsm = bundle.modalities[m].lsm
        res = make_reservoir(LSMConfig(m, lsm.inputs, lsm.neurons, lsm.steps,
                                       windows=lsm.windows, readout=lsm.readout,
                                       trace_shift=lsm.trace_shift), seed=0)
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


def register(sub) -> None:
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
