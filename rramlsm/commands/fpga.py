"""``rramlsm fpga``: a bitstream and its resource / Fmax report for a board
(:mod:`rramlsm.hw.fpga`); ``rramlsm run-fpga``: built-in samples through a programmed board
over its UART (:class:`rramlsm.hw.hostlink.HostLink`), checked against the golden model."""

from __future__ import annotations

import dataclasses

from rramlsm.arguments import beside_bundle, bundle_argument, check_cpus, output_folder, require
from rramlsm.errors import ConfigError, RRAMLSMError
from rramlsm.hw.cycles import cycles_per_sample
from rramlsm.hw.fpga import BOARDS, SYNTHESIS, build
from rramlsm.hw.host import register_mismatches
from rramlsm.hw.hostlink import HostLink
from rramlsm.hw.macro import MAGIC, Reg
from rramlsm.hw.params import bundle_registers
from rramlsm.sw._io import write_atomic, write_json
from rramlsm.sw.datasets.builtin import DEFAULT_SOURCES
from rramlsm.sw.experiments._ray import local_cpus, map_calls
from rramlsm.sw.features import sample_frames, say_fewer_samples
from rramlsm.sw.golden import golden_counts

__all__ = ["register", "fpga_table", "MAX_SEEDS"]

#: The most nextpnr seeds one build places and routes (each takes a core for minutes).
MAX_SEEDS = 64
#: Largest ``run-fpga --baud`` (the serial driver's C int).
MAX_BAUD = 2**31 - 1


def _seed_list(seeds: dict, failed: dict) -> str:
    return ", ".join(f"{s}: {f:.1f} MHz" if f else f"{s}: {'failed' if s in failed else '-'}"
                     for s, f in seeds.items())


def fpga_table(r: dict) -> str:
    """The report of :func:`rramlsm.hw.fpga.build` (with throughput) as aligned text."""
    rows = [("board", f"{r['board']} ({r['device']})"),
            ("cores", f"{', '.join(r['cores'])}; "
                      + ", ".join(f"{m} P = {p}" + (f" (crossbar {r['crossbar_lanes'][m]})"
                                                    if r["crossbar_lanes"][m] != p else "")
                                  for m, p in r["lanes"].items())
                      + f" lanes, {r['head_lanes']} head lanes, "
                      f"{r.get('class_lanes', 'all')} classifier lanes"),
            ("LUTs", f"{r['luts']} / {r['luts_total']}"),
            ("flip-flops", f"{r['ffs']} / {r['ffs_total']}"),
            ("block RAMs", f"{r['brams']} / {r['brams_total']}"),
            ("multipliers", f"{r['dsps']} / {r['dsps_total']}"),
            ("synthesis", f"{r['synthesis']}; nextpnr seed {r['seed']}"
                          + (f", the fastest of {_seed_list(r['seeds'], r.get('seeds_failed', {}))}"
                             if len(r["seeds"]) > 1 else "")),
            ("Fmax", f"{r['fmax_mhz']:.1f} MHz (target {r['target_mhz']:.0f} MHz, "
                     f"{'met' if r['timing_met'] else 'MISSED'})")]
    for m, c in r["cycles_per_sample"].items():
        rows.append((f"{m} samples/s", f"{r['samples_per_s'][m]:,.0f} at Fmax "
                                       f"({c:,.0f} cycles per sample)"))
    w = max(len(a) for a, _ in rows)
    return "\n".join(f"{a:<{w}}  {b}" for a, b in rows)


def _cmd_fpga(args) -> int:
    if args.board not in BOARDS:
        raise ConfigError(f"--board: unknown board {args.board!r}; choose one of "
                          f"{', '.join(BOARDS)}")
    board = BOARDS[args.board]
    if args.bank_words is not None:
        require("--bank-words", args.bank_words,
                args.bank_words >= 0 and not args.bank_words & (args.bank_words - 1),
                "a power of two, or 0 for the depth of fewest block RAMs")
        board = dataclasses.replace(board, crossbar_bank_words=args.bank_words)
    require("--seed", args.seed, 1 <= args.seed < 2**31, "a nextpnr seed, 1 to 2^31 - 1")
    require("--seeds", args.seeds, 1 <= args.seeds <= MAX_SEEDS and args.seed + args.seeds <= 2**31,
            f"1 to {MAX_SEEDS}, with --seed + --seeds at most 2^31")
    check_cpus("--cpus", args.cpus)
    cpus = local_cpus(args.cpus)
    bundle = bundle_argument(args.bundle)
    out = output_folder("--out", args.out or beside_bundle(args.bundle) / f"fpga-{board.name}")
    cores = None if args.cores is None else tuple(c.strip() for c in args.cores.split(","))
    if cores is not None and "" in cores:
        raise ConfigError(f"--cores: an empty name in {args.cores!r}; give visual, audio or "
                          f"visual,audio")
    if cores is not None and len(set(cores)) != len(cores):
        raise ConfigError(f"--cores names a core twice: {args.cores!r}")
    seeds = tuple(range(args.seed, args.seed + args.seeds))
    r = build(board, bundle, out, cores=cores, synthesis=args.synthesis, seeds=seeds,
              parallel=lambda fn, calls: map_calls(fn, calls, cpus))
    lanes, crossbar_lanes = board.lane_maps()
    cyc = cycles_per_sample(bundle, tuple(r["cores"]), lanes, board.head_lanes,
                            class_lanes=board.class_lanes, crossbar_lanes=crossbar_lanes)
    r["cycles_source"] = cyc.pop("source")
    clock = r["fmax_mhz"] or board.clock_mhz
    # Per core: one build answers for both modalities.
    r["cycles_per_sample"] = cyc
    r["samples_per_s"] = {m: clock * 1e6 / c for m, c in cyc.items()}
    write_json(out / "fpga.json", r)
    table = fpga_table(r)
    write_atomic(out / "fpga.txt", table + "\n\n" + r["configuration"] + "\n")
    print(table)
    print(f"\n{r['configuration']}\n\nwrote {r['bitstream']}, {out / 'fpga.json'}, "
          f"{out / 'fpga.txt'} ({r['build_seconds']:.0f} s)")
    return 0


def _cmd_run_fpga(args) -> int:
    """Send built-in test samples to a board (its bitstream holds the bundle's weights) and
    compare class and score with the golden model.  The bundle must be noise-free or the
    board freshly reset: read noise is numbered by the board's sample counter."""
    require("--samples", args.samples, args.samples >= 1, "at least 1")
    require("--baud", args.baud, 1 <= args.baud <= MAX_BAUD, f"1 to {MAX_BAUD}")
    require("--timeout", args.timeout, args.timeout > 0, "positive (seconds)")
    try:
        import serial  # the optional [fpga] extra: only this command needs it
    except ImportError as e:  # pragma: no cover - pyserial is a dependency
        raise RRAMLSMError("run-fpga needs pyserial (`make setup`)") from e
    bundle = bundle_argument(args.bundle)
    if args.modality and len(set(args.modality)) != len(args.modality):
        raise ConfigError(f"--modality names a core twice: {' '.join(args.modality)}")
    missing = [m for m in args.modality or () if m not in bundle.modalities]
    if missing:
        raise ConfigError(f"--modality {' '.join(missing)}: the bundle has no such core (it "
                          f"has {', '.join(bundle.modalities)})")
    mods = list(args.modality or bundle.modalities)
    try:
        port = serial.Serial(args.port, args.baud, timeout=args.timeout)
    except (OSError, ValueError) as e:   # SerialException is an OSError
        raise RRAMLSMError(f"--port {args.port}: cannot open ({e})") from None
    with port:
        frames = sample_frames(bundle, {m: DEFAULT_SOURCES[m] for m in mods}, args.samples,
                               mismatch="--bundle")
        say_fewer_samples(frames, DEFAULT_SOURCES, args.samples)
        try:
            return _run_on_board(args, port, bundle, frames)
        except OSError as e:   # pyserial's SerialException is one
            # The link lost mid-run (a cable pulled, the board reset): the samples so far
            # are printed; the rest cannot be compared.
            raise RRAMLSMError(f"--port {args.port}: the link failed ({e})") from None


def _run_on_board(args, port, bundle, frames: dict) -> int:
    """The built-in samples ``frames`` (per core) through an open ``port``: 0 if every one
    agrees with the golden model, 1 otherwise."""
    mods = list(frames)
    link = HostLink(port)
    ident = link.read(Reg.ID)
    if ident != MAGIC:
        raise RRAMLSMError(f"--port {args.port}: no rramlsm macro answers (ID {ident:#x})")
    for m in mods:
        # The bitstream holds a bundle's weights and register values: registers that
        # differ from --bundle's mean another bundle (or writes since), whose results
        # would all differ from this golden model.
        differ = register_mismatches(link.read, m, bundle_registers(bundle.modalities[m]))
        if differ:
            raise RRAMLSMError(f"--bundle {args.bundle}: the board's {m} core was not "
                               f"built from this bundle ({'; '.join(differ)}); program "
                               f"the bitstream `rramlsm fpga --bundle {args.bundle}` "
                               f"wrote")
    wrong = 0
    for m in mods:
        mb = bundle.modalities[m]
        counts = golden_counts(mb.lsm, frames[m])
        labels, scores = mb.classify(counts), mb.scores(counts).max(1)
        for i, fr in enumerate(frames[m]):
            got = link.run(m, fr)
            ok = (got.label, got.score) == (int(labels[i]), int(scores[i]))
            wrong += not ok
            print(f"{m} sample {i}: class {got.label}, score {got.score}, "
                  f"{got.cycles} cycles" + ("" if ok else
                                            f"  MISMATCH (golden model: class "
                                            f"{int(labels[i])}, score {int(scores[i])})"))
    print(f"{sum(len(frames[m]) for m in mods)} samples, {wrong} differ from the golden "
          f"model")
    return 1 if wrong else 0


def register(sub) -> None:
    f = sub.add_parser("fpga", help="bitstream + resource/Fmax report for a board "
                                    "(Yosys/nextpnr from the YoWASP wheels)")
    f.add_argument("--board", default="ulx3s-25f", help=f"one of {', '.join(BOARDS)}")
    f.add_argument("--bundle", required=True)
    f.add_argument("--cores", default=None, metavar="visual,audio",
                   help="the cores to build (default: the board's; both on the ULX3S boards)")
    f.add_argument("--synthesis", default="auto", choices=("auto", *SYNTHESIS),
                   help="how Yosys synthesises: auto tries the ways in turn while Yosys 0.70 "
                        "stops on its abc9 assertions (default); the others force one")
    f.add_argument("--bank-words", type=int, default=None, metavar="N",
                   help="words per crossbar bank, each bank's word registered beside its "
                        "block RAMs (a power of two; 0: the depth of fewest block RAMs; "
                        "default: the board's, docs/FPGA.md; one deeper than a crossbar makes it "
                        "one bank)")
    f.add_argument("--seed", type=int, default=1, help="nextpnr's placement seed (default 1)")
    f.add_argument("--seeds", type=int, default=1,
                   help="place and route with this many seeds from --seed on (one synthesis; "
                        "the seeds as Ray tasks) and keep the fastest (default 1)")
    f.add_argument("--cpus", type=int, default=None,
                   help="local CPUs for the seeds (default: all this process may use)")
    f.add_argument("--out", default=None, help="output folder (default: beside the bundle)")
    f.set_defaults(func=_cmd_fpga)

    r = sub.add_parser("run-fpga", help="run samples on a programmed board over its UART")
    r.add_argument("--port", required=True, help="serial device, e.g. /dev/ttyUSB0")
    r.add_argument("--bundle", required=True, help="the bundle the bitstream was built from")
    r.add_argument("--baud", type=int, default=1_000_000)
    r.add_argument("--samples", type=int, default=10)
    r.add_argument("--modality", action="append", choices=("visual", "audio"))
    r.add_argument("--timeout", type=float, default=5.0)
    r.set_defaults(func=_cmd_run_fpga)
