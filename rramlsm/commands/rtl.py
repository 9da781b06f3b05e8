"""``rramlsm rtl``: Verilog, interface description and memory files of a bundle's macro
(:mod:`rramlsm.hw.verilog`)."""

from __future__ import annotations

import time

from rramlsm.arguments import bundle_argument, check_lanes, output_folder
from rramlsm.hw.verilog import TOP, build_macro, lint, ports_md, write_verilog
from rramlsm.sw._io import write_atomic
from rramlsm.sw.bundle import write_mem_files

__all__ = ["register"]


def _cmd_rtl(args) -> int:
    t0 = time.perf_counter()
    bundle = bundle_argument(args.bundle)
    mbs = bundle.modalities.values()
    check_lanes("--lanes", args.lanes, [mb.lsm.neurons for mb in mbs])
    check_lanes("--head-lanes", args.head_lanes,
                [layer.weight.shape[1] for mb in mbs for layer in mb.head.layers])
    out = output_folder("--out", args.out)
    out.mkdir(parents=True, exist_ok=True)
    macro, images = build_macro(bundle, lanes=args.lanes, head_lanes=args.head_lanes)
    v = write_verilog(macro, out / f"{TOP}.v")
    write_atomic(out / "PORTS.md", ports_md(macro, images))
    mems = write_mem_files(bundle, out / "mem")
    print(f"wrote {v} ({v.stat().st_size // 1024} KiB), {out / 'PORTS.md'}, "
          f"{len(mems)} memory files")
    if not args.no_lint:
        lint(v)
        print("verilator --lint-only -Wall: clean (waivers in PORTS.md)")
    print(f"{time.perf_counter() - t0:.1f} s")
    return 0


def register(sub) -> None:
    r = sub.add_parser("rtl", help="Verilog of the macro for a bundle (+ PORTS.md, lint)")
    r.add_argument("--bundle", required=True)
    r.add_argument("--out", required=True)
    r.add_argument("--lanes", type=int, default=16, help="column parallelism P (default 16)")
    r.add_argument("--head-lanes", type=int, default=16, help="head MAC lanes (default 16)")
    r.add_argument("--no-lint", action="store_true", help="skip the Verilator lint check")
    r.set_defaults(func=_cmd_rtl)
