"""``rramlsm data build | info | show``: the built-in datasets, a source's summary, a sample
drawn to a PNG."""

from __future__ import annotations

import json
import time

from rramlsm.arguments import output_file, source_argument
from rramlsm.errors import RRAMLSMError
from rramlsm.sw.datasets import builtin
from rramlsm.sw.plots import plot_sample

__all__ = ["register"]


def _cmd_data_build(args) -> int:
    for name in args.names:
        t0 = time.perf_counter()
        ds = builtin.BUILTIN[name](rebuild=args.rebuild, progress=not args.quiet)
        info = ds.info()
        print(f"{name}: {info['samples']} samples ({info['train']} train / {info['test']} test), "
              f"{info['events_per_sample_mean']:.0f} events/sample, "
              f"{time.perf_counter() - t0:.1f} s")
    print(f"cache: {builtin.cache_dir()}")
    return 0


def _cmd_data_info(args) -> int:
    info = source_argument("source", args.source, progress=not args.json).info()
    if args.json:
        print(json.dumps(info))
    else:
        for k, v in info.items():
            print(f"{k:>24}: {v}")
    return 0


def _cmd_data_show(args) -> int:
    out = output_file("--out", args.out, f"sample{args.index}.png")
    ds = source_argument("source", args.source)
    if not 0 <= args.index < len(ds):
        raise RRAMLSMError(f"--index {args.index} is outside 0..{len(ds) - 1} of {args.source}")
    plot_sample(ds, args.index, out)
    print(f"wrote {out}")
    return 0


def register(sub) -> None:
    data = sub.add_parser("data", help="build, inspect and draw event datasets")
    dsub = data.add_subparsers(dest="data_command", required=True)
    b = dsub.add_parser("build", help="build the built-in datasets (digits, speech) into the cache")
    b.add_argument("names", nargs="*", default=["digits", "speech"],
                   choices=["digits", "speech"])
    b.add_argument("--rebuild", action="store_true", help="ignore an existing cache")
    b.add_argument("--quiet", action="store_true", help="no progress bars")
    b.set_defaults(func=_cmd_data_build)
    i = dsub.add_parser("info", help="summarise a source")
    i.add_argument("source", help="digits | speech | nmnist:PATH | ntidigits:FILE | fsdd:PATH | "
                                  "shd:FILE | ssc:FILE")
    i.add_argument("--json", action="store_true", help="print one JSON object")
    i.set_defaults(func=_cmd_data_info)
    s = dsub.add_parser("show", help="draw one sample to a PNG")
    s.add_argument("source")
    s.add_argument("--index", type=int, default=0)
    s.add_argument("--out", required=True,
                   help="output folder (writes sampleINDEX.png), or a file ending in .png")
    s.set_defaults(func=_cmd_data_show)
