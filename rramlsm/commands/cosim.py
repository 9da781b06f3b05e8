"""``rramlsm cosim``: N samples per modality through the simulated RTL, checked bit for bit
against the golden model (:func:`rramlsm.cosim.run.run_cosim`)."""

from __future__ import annotations

from contextlib import nullcontext

from rramlsm.arguments import (
    beside_bundle,
    bundle_argument,
    check_lanes,
    check_source_argument,
    output_file,
    require,
)
from rramlsm.cosim.build import SIMULATORS
from rramlsm.cosim.run import cosim_failures, run_cosim
from rramlsm.errors import ConfigError, naming
from rramlsm.hw.params import MAX_FOLD
from rramlsm.sw.datasets.builtin import DEFAULT_SOURCES
from rramlsm.sw.datasets.sources import source_modality
from rramlsm.sw.features import sample_frames, say_fewer_samples

__all__ = ["register"]


def _cmd_cosim(args) -> int:
    if args.samples < 1:
        raise ConfigError(f"--samples must be at least 1, not {args.samples}")
    require("--lanes", args.lanes, args.lanes >= 1, "at least 1")
    require("--crossbar-lanes", args.crossbar_lanes,
            args.crossbar_lanes == 0 or (args.crossbar_lanes > 0
                                         and args.crossbar_lanes % args.lanes == 0
                                         and args.crossbar_lanes <= MAX_FOLD * args.lanes),
            f"0 or a multiple of --lanes ({args.lanes}), at most {MAX_FOLD} times it")
    require("--seed", args.seed, args.seed >= 0, "at least 0")
    out = output_file("--out", args.out or beside_bundle(args.bundle), "cosim.json")
    sources, given = dict(DEFAULT_SOURCES), {}
    for spec in args.source or []:
        check_source_argument("--source", spec)
        m = "visual" if source_modality(spec) == "vision" else "audio"
        if m in given:   # one source per core: a second would silently replace the first
            raise ConfigError(f"--source: two {m} sources, {given[m]!r} and {spec!r}")
        sources[m] = given[m] = spec
    bundle = bundle_argument(args.bundle)
    check_lanes("--lanes", args.lanes, [mb.lsm.neurons for mb in bundle.modalities.values()])
    for m, spec in given.items():
        if m not in bundle.modalities:   # it would be silently left out
            raise ConfigError(f"--source {spec}: the bundle has no {m} macro (it has "
                              f"{', '.join(bundle.modalities)})")
    sources = {m: spec for m, spec in sources.items() if m in bundle.modalities}
    frames = {}
    for m, spec in sources.items():
        # A source that does not fit its macro: the user's --source, or, for a built-in
        # default, the bundle (made for other data).
        with naming("--source") if m in given else nullcontext():
            frames.update(sample_frames(bundle, {m: spec}, args.samples, seed=args.seed,
                                        mismatch=None if m in given else "--bundle"))
    say_fewer_samples(frames, sources, args.samples)
    patterns = [(0.0, 0.0)] + ([(0.2, 0.3)] if args.stalls else [])
    s = run_cosim(args.bundle, frames, out=out, lanes=args.lanes, patterns=patterns,
                  crossbar_lanes={m: args.crossbar_lanes for m in frames},
                  scenarios=("abort",) if args.stalls else (), waves=args.waves, sim=args.sim)
    for line in s["mismatch_details"]:
        print(f"MISMATCH {line}")
    per = ", ".join(f"{k} {v}" for k, v in s["samples_per_modality"].items())
    print(f"{s['samples']} samples ({per} per pattern): {s['mismatches']} mismatches; "
          f"{s['cycles_per_sample_mean']:.0f} cycles per sample; "
          f"{s['sim_cycles_per_s'] / 1e3:.0f} k simulated cycles/s ({s['simulator']})")
    print(f"wrote {out}" + (f" and {s['waves']}" if "waves" in s else ""))
    return 1 if cosim_failures(s) else 0


def register(sub) -> None:
    c = sub.add_parser("cosim", help="run samples through the Verilated RTL against the golden "
                                     "model")
    c.add_argument("--bundle", required=True)
    c.add_argument("--samples", type=int, default=20, help="samples per modality (default 20)")
    c.add_argument("--source", action="append",
                   help="data source (repeatable; default digits and speech)")
    c.add_argument("--out", default=None,
                   help="output folder (writes cosim.json there; default: beside the bundle), "
                        "or a file ending in .json")
    c.add_argument("--lanes", type=int, default=16)
    c.add_argument("--crossbar-lanes", type=int, default=0,
                   help="crossbar lanes of every core, a multiple of --lanes wider than the "
                        "LIF bank (default 0: as many as --lanes)")
    c.add_argument("--stalls", action="store_true",
                   help="also sweep random input gaps and output back-pressure, and aborts")
    c.add_argument("--waves", action="store_true", help="write an FST trace (cosim.fst)")
    c.add_argument("--seed", type=int, default=0)
    c.add_argument("--sim", choices=SIMULATORS, default=None,
                   help="simulator (default: $SIM, else verilator)")
    c.set_defaults(func=_cmd_cosim)
