"""``rramlsm eval``: a bundle on data, hardware path (:func:`rramlsm.sw.bundle.evaluate_bundle`);
``rramlsm export``: a verified copy of a bundle, optionally with memory-initialisation files
and NIR graphs."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from rramlsm.arguments import (
    beside_bundle,
    bundle_argument,
    check_source_argument,
    output_file,
    output_folder,
    replaced_folder,
    source_argument,
)
from rramlsm.errors import ConfigError, naming
from rramlsm.sw._io import write_json
from rramlsm.sw.bundle import evaluate_bundle, is_bundle_folder, write_bundle, write_mem_files
from rramlsm.sw.datasets.builtin import DEFAULT_SOURCES
from rramlsm.sw.nir_export import reservoir_from_bundle, write_nir_files

__all__ = ["register"]

#: The source kind each macro reads.
_KIND = {"visual": "vision", "audio": "audio"}


def _cmd_eval(args) -> int:
    bundle = bundle_argument(args.bundle)
    out = output_file("--out", args.out or beside_bundle(args.bundle), "eval.json")
    # A bundle of one macro (rramlsm import-nir) is evaluated on that modality alone; a
    # source named for a macro the bundle lacks is refused, not silently left out.
    specs = {"visual": args.visual, "audio": args.audio}
    for m, spec in specs.items():
        if spec is not None and m not in bundle.modalities:
            raise ConfigError(f"--{m}: the bundle has no {m} macro (it has "
                              f"{', '.join(bundle.modalities)})")
    specs = {m: specs[m] or DEFAULT_SOURCES[m] for m in bundle.modalities}
    for m, spec in specs.items():
        check_source_argument(f"--{m}", spec, _KIND[m])
    data = {}
    for m, spec in specs.items():
        ds = source_argument(f"--{m}", spec, _KIND[m], progress=False)
        classes = bundle.modalities[m].classes
        if not np.any(~ds.is_train & np.isin(ds.labels, classes)):
            raise ConfigError(f"--{m}: {spec}: no test samples of the bundle's classes "
                              f"{' '.join(str(int(c)) for c in classes)}")
        data[m] = ds
    with naming("--bundle"):    # a bundle made for other data (inputs, steps) is refused
        res = evaluate_bundle(bundle, data)
    for m, r in res.items():
        print(f"{m}: {r['top1']:.1f} % top-1 over {r['samples']} test samples "
              f"({len(bundle.modalities[m].classes)}-way classifier, integer path), firing rate "
              f"{100 * r['firing_rate']:.1f} %")
    write_json(out, {"bundle": str(args.bundle),
                     "sources": {m: ds.name for m, ds in data.items()}, **res})
    print(f"wrote {out}")
    return 0


def _cmd_export(args) -> int:
    bundle = bundle_argument(args.bundle)  # verifies every hash and shape
    out = output_folder("--out", args.out)
    if out.resolve() == Path(args.bundle).resolve():
        raise ConfigError("--out must differ from --bundle")
    if out.is_dir() and not is_bundle_folder(out):
        raise ConfigError(f"--out: {out}: exists and is not a bundle; refusing to replace it")
    replaced = replaced_folder("--out", out, {"--bundle": args.bundle})
    if args.nir:
        # Checked before anything is written: a failed export leaves --out as it was.
        with naming("--bundle"):
            for mb in bundle.modalities.values():
                reservoir_from_bundle(mb)
    with naming("--out"):
        write_bundle(out, bundle)
    msg = f"{'replaced the' if replaced else 'wrote'} bundle {out}"
    if args.mem:
        files = write_mem_files(bundle, out / "mem")
        msg += f" and {len(files)} memory-initialisation files in {out / 'mem'}"
    if args.nir:
        files = write_nir_files(bundle, out / "nir")
        msg += f" and {len(files)} NIR graphs in {out / 'nir'}"
    print(msg)
    return 0


def register_eval(sub) -> None:
    e = sub.add_parser("eval", help="evaluate an export bundle on data (integer path)")
    e.add_argument("--bundle", required=True)
    e.add_argument("--visual", default=None,
                   help="vision source: digits | nmnist:PATH (default: digits, if the bundle "
                        "has a visual macro)")
    e.add_argument("--audio", default=None,
                   help="audio source: speech | fsdd:PATH | ntidigits:FILE (default: speech, "
                        "if the bundle has an audio macro)")
    e.add_argument("--out", default=None,
                   help="output folder (writes eval.json there; default: beside the bundle), or "
                        "a file ending in .json")
    e.set_defaults(func=_cmd_eval)


def register_export(sub) -> None:
    x = sub.add_parser("export", help="verify a bundle and copy it (optionally as .mem files "
                                      "and NIR graphs)")
    x.add_argument("--bundle", required=True)
    x.add_argument("--out", required=True, help="output folder (the copied bundle)")
    x.add_argument("--mem", action="store_true", help="also write $readmemh files")
    x.add_argument("--nir", action="store_true",
                   help="also write each reservoir as a NIR graph (nir/<modality>.nir)")
    x.set_defaults(func=_cmd_export)


def register(sub) -> None:
    register_eval(sub)
    register_export(sub)
