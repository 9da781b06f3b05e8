"""The ``rramlsm`` command line (also ``python -m rramlsm``)."""

from __future__ import annotations

import argparse
import errno
import sys
import traceback

from rramlsm.commands import (
    baselines,
    bundle,
    cosim,
    data,
    energy,
    fpga,
    nir,
    rtl,
    sweep,
    train,
    tune,
)
from rramlsm.errors import RRAMLSMError
from rramlsm.sw.golden import GOLDEN_KERNELS
from rramlsm.sw.kernels import set_compute

__all__ = ["main", "build_parser", "COMMAND_GROUPS"]

#: The command groups in the order ``rramlsm --help`` lists their sub-commands.
COMMAND_GROUPS = (data, train, bundle, sweep, energy, baselines, tune, nir, rtl, fpga, cosim)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="rramlsm", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)
    for group in COMMAND_GROUPS:
        group.register(sub)
    for name in COMPUTE_COMMANDS:
        if name in sub.choices:
            _add_compute(sub.choices[name])
    return p


#: Sub-commands that run the float or golden model on data.
COMPUTE_COMMANDS = ("train", "demo", "eval", "sweep", "tune", "energy", "baselines")


def _add_compute(p: argparse.ArgumentParser) -> None:
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
    except MemoryError as e:
        # numpy's allocation error names the size: a setting (--neurons, steps) asks for
        # more than this machine holds.  The user's to change, not a bug.
        print(f"{prog}: error: out of memory ({e or 'an allocation failed'}): the settings ask "
              f"for more than this machine has (--neurons, the steps, --samples?)",
              file=sys.stderr)
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
