"""``rramlsm import-nir``: a NIR graph -> a bundle, with the fidelity report (import.json,
import.html); the work is in :mod:`rramlsm.sw.nir_import`."""

from __future__ import annotations

import math

import numpy as np

from rramlsm.arguments import (
    input_file,
    output_folder,
    replaced_folder,
    require,
    source_argument,
)
from rramlsm.errors import ConfigError, naming
from rramlsm.sw import contract
from rramlsm.sw._io import write_json
from rramlsm.sw.bundle import is_bundle_folder, write_bundle
from rramlsm.sw.nir_import import (
    FRAMEWORKS,
    check_macro_ranges,
    fidelity,
    frame_for_graph,
    import_graph,
    parse_graph,
    read_graph,
    write_report_html,
)

__all__ = ["register"]


def _cmd_import_nir(args) -> int:
    graph_path = input_file("graph", args.graph)
    out = output_folder("--out", args.out)
    if out.is_dir() and not is_bundle_folder(out):
        raise ConfigError(f"--out: {out}: exists and is not a bundle; refusing to replace it")
    replaced = replaced_folder("--out", out, {"graph": graph_path})
    # The macro's ranges, checked before the graph is read so that the message names the
    # argument (the import checks the same ranges, from the graph's metadata too).
    check_macro_ranges(levels=args.levels, adc_bits=args.adc_bits, steps=args.steps)
    require("--samples", args.samples, args.samples >= 1, "a positive integer")
    if args.framework and not args.calibrate:
        raise ConfigError("--framework compares on data: it needs --calibrate SOURCE")
    if args.adc_shift is not None and not 0 <= args.adc_shift <= contract.COLUMN_SUM_BITS:
        raise ConfigError(f"--adc-shift must be in 0..{contract.COLUMN_SUM_BITS}, "
                          f"not {args.adc_shift}")
    if not (args.dt > 0 and math.isfinite(args.dt)):
        raise ConfigError(f"--dt must be a positive number of seconds, not {args.dt}")
    with naming("graph"):
        graph = read_graph(graph_path)
        spec = parse_graph(graph, dt=args.dt)
    frames = test_frames = labels = None
    if args.calibrate:
        ds = source_argument("--calibrate", args.calibrate, progress=False)
        steps = int(args.steps or spec.hardware.get("steps", 100))
        # The code range is chosen on training samples, the fidelity measured on test ones
        # (on the same samples when the source has no test split).
        rng = np.random.default_rng(0)
        split = {}
        for name, pool in (("train", np.flatnonzero(ds.is_train)),
                           ("test", np.flatnonzero(~ds.is_train))):
            take = min(args.samples, len(pool))
            split[name] = np.sort(rng.choice(pool, take, replace=False)) if take else pool
        if not len(split["test"]):
            split["test"] = split["train"]
        if not len(split["train"]):
            split["train"] = split["test"]
        with naming("--calibrate"):
            frames = frame_for_graph(ds.subset(split["train"]), spec.inputs, steps)
            test_frames = frame_for_graph(ds.subset(split["test"]), spec.inputs, steps)
        labels = ds.labels[split["test"]]
    with naming("graph"):
        bundle, record = import_graph(graph, steps=args.steps, levels=args.levels,
                                      adc_bits=args.adc_bits, adc_shift=args.adc_shift,
                                      dt=args.dt, modality=args.modality,
                                      calibration=frames, source=str(graph_path))
    mb = bundle.modalities[args.modality]
    if frames is not None:
        record["fidelity"] = fidelity(spec, mb, test_frames, labels, framework=args.framework,
                                      dt=args.dt, keep_counts=True)
        record["calibrated_on"] = {"source": args.calibrate, "train_samples": len(frames),
                                   "test_samples": len(test_frames)}
    counts = (record.get("fidelity") or {}).pop("counts", None)
    write_bundle(out, bundle)
    write_json(out / "import.json", record)
    write_report_html(out / "import.html", record, counts)
    q = record["quantisation"]
    print(f"{graph_path}: {record['inputs']} inputs x {record['neurons']} neurons"
          f"{', readout ' + str(record['readout']) if record['readout'] else ''}; decay_q "
          f"{record['decay_q']}, threshold_q {record['threshold_q']}, code step "
          f"{q['code_step']:.4g} ({'exact' if q['exact_grid'] else 'rounded'}), ADC "
          f"{record['adc_bits']} bits >> {record['adc_shift']}")
    fid = record.get("fidelity")
    if fid:
        a = fid["golden_vs_float"]
        print(f"on {fid['samples']} test samples of {args.calibrate}: golden vs float "
              f"{100 * a['exact_counts']:.1f} % exact counts, feature correlation "
              f"{a['feature_correlation']:.4f}")
        if "golden_vs_framework" in fid:
            b = fid["golden_vs_framework"]
            print(f"golden vs {fid['framework']}: {100 * b['exact_counts']:.1f} % exact counts, "
                  f"feature correlation {b['feature_correlation']:.4f}")
        for k, v in (fid.get("accuracy") or {}).items():
            print(f"accuracy {k}: {v:.1f} %")
    print(f"{'replaced' if replaced else 'wrote'} {out} (bundle, import.json, import.html)")
    return 0


def register(sub) -> None:
    """The ``import-nir`` sub-command."""
    p = sub.add_parser("import-nir", help="compile a NIR graph (recurrent LIF reservoir from "
                                          "snnTorch, Norse or rramlsm) into a bundle")
    p.add_argument("graph", help="the NIR file (nir.write / HDF5)")
    p.add_argument("--out", required=True, help="the bundle folder to write")
    p.add_argument("--modality", choices=("audio", "visual"), default="audio",
                   help="which of the macro's cores runs the graph (default audio)")
    p.add_argument("--steps", type=int, default=None,
                   help="time steps T per sample (default: the graph's rramlsm metadata, or 100)")
    p.add_argument("--levels", type=int, default=None,
                   help="device conductance levels (default: metadata, or 256)")
    p.add_argument("--adc-bits", type=int, default=None,
                   help="column ADC bits (default: metadata, or 10)")
    p.add_argument("--adc-shift", type=int, default=None,
                   help="ADC shift (default: metadata, or 0; chosen with --calibrate)")
    p.add_argument("--dt", type=float, default=1e-4,
                   help="the graph's time step in s (snnTorch writes 1e-4, Norse 1e-3)")
    p.add_argument("--calibrate", default=None,
                   help="a data source: choose code range and ADC shift on it and report the "
                        "fidelity (import.json)")
    p.add_argument("--samples", type=int, default=200,
                   help="training samples of --calibrate that choose the code range, and test "
                        "samples that measure the fidelity (default 200 each)")
    p.add_argument("--framework", choices=FRAMEWORKS, default=None,
                   help="also run the graph in this framework and compare (with --calibrate)")
    p.set_defaults(func=_cmd_import_nir)
