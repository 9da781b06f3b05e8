"""``rramlsm rtl``: Verilog, interface description and memory files from a bundle."""

from __future__ import annotations

import time
from pathlib import Path

__all__ = ["register"]


def _cmd_rtl(args) -> int:
    from rramlsm.hw.verilog import TOP, build_macro, lint, ports_md, write_verilog
    from rramlsm.sw.bundle import load_bundle
    from rramlsm.sw.commands import write_mem_files

    t0 = time.perf_counter()
    bundle = load_bundle(args.bundle)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    macro, images = build_macro(bundle, lanes=args.lanes, head_lanes=args.head_lanes)
    v = write_verilog(macro, out / f"{TOP}.v")
    (out / "PORTS.md").write_text(ports_md(macro, images))
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
