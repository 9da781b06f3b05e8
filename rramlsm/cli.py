"""The ``rramlsm`` command line (also ``python -m rramlsm``)."""

from __future__ import annotations

import argparse
import errno
import json
import sys
import time
import traceback

from rramlsm.errors import RRAMLSMError

__all__ = ["main", "build_parser"]


def _cmd_data_build(args) -> int:
    from rramlsm.sw.datasets import builtin

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
    from rramlsm.arguments import source_argument

    info = source_argument("source", args.source, progress=not args.json).info()
    if args.json:
        print(json.dumps(info))
    else:
        for k, v in info.items():
            print(f"{k:>24}: {v}")
    return 0


def _cmd_data_show(args) -> int:
    from rramlsm.arguments import output_file, source_argument
    from rramlsm.sw.plots import plot_sample

    out = output_file("--out", args.out, f"sample{args.index}.png")
    ds = source_argument("source", args.source)
    if not 0 <= args.index < len(ds):
        raise RRAMLSMError(f"--index {args.index} is outside 0..{len(ds) - 1} of {args.source}")
    plot_sample(ds, args.index, out)
    print(f"wrote {out}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="rramlsm", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)

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

    from rramlsm.cosim import commands as cosim_commands
    from rramlsm.hw import commands as hw_commands
    from rramlsm.sw import commands, nir_cli

    commands.register(sub)
    nir_cli.register(sub)
    hw_commands.register(sub)
    cosim_commands.register(sub)
    for name in COMPUTE_COMMANDS:
        if name in sub.choices:
            _add_compute(sub.choices[name])
    return p


#: Sub-commands that run the float or golden model on data.
COMPUTE_COMMANDS = ("train", "demo", "eval", "sweep", "tune", "energy", "baselines")


def _add_compute(p: argparse.ArgumentParser) -> None:
    from rramlsm.sw.golden import GOLDEN_KERNELS

    g = p.add_argument_group("compute (results are bit-identical whatever is chosen)")
    g.add_argument("--kernel", choices=("auto",) + GOLDEN_KERNELS, default=None,
                   help="golden-model kernel (default: $RRAMLSM_KERNEL or auto, the fastest "
                        "exact kernel on this machine, timed once per process)")
    g.add_argument("--device", default=None,
                   help="cpu (default) or cuda[:N]: where the float and golden models run")


#: Printed under the traceback of an exception that no user input explains.
BUG_NOTICE = "this is a bug in rramlsm, please report it (with the traceback above)"
#: OSErrors that mean the machine refused a write the user asked for, not a fault of ours.
_REFUSED_BY_THE_MACHINE = {errno.ENOSPC, errno.EDQUOT, errno.EACCES, errno.EPERM, errno.EROFS}


def main(argv: list[str] | None = None) -> int:
    """Run one sub-command.  Exit status 0: done; 1: ran and found a fault (a cosimulation
    mismatch) or an internal error; 2: bad input, with one line naming the argument (never a
    traceback: those are kept for bugs)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    prog = " ".join(["rramlsm", args.command] + [getattr(args, "data_command", None) or ""]).strip()
    try:
        if getattr(args, "kernel", None) or getattr(args, "device", None):
            from rramlsm.sw.kernels import set_compute

            set_compute(kernel=args.kernel, device=args.device)
        return int(args.func(args) or 0)
    except RRAMLSMError as e:
        print(f"{prog}: error: {e}", file=sys.stderr)
        return 2
    except OSError as e:
        # Arguments are checked before any work, so a missing file or a folder in the way
        # past that point is our fault (a bug, below); a full disk or a permission taken
        # away meanwhile is the user's to fix and needs no traceback.
        if e.errno not in _REFUSED_BY_THE_MACHINE:
            return _report_bug(prog)
        where = f"{e.filename}: " if e.filename else ""
        print(f"{prog}: error: {where}{e.strerror or e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130
    except Exception:
        return _report_bug(prog)


def _report_bug(prog: str) -> int:
    traceback.print_exc()
    print(f"{prog}: {BUG_NOTICE}", file=sys.stderr)
    return 1
