"""What a host sends the macro, independent of the transport (simulator, cocotb, UART).

Everything is expressed as register-bus writes ``(address, data)`` and input
words, so the Amaranth tests, the cocotb testbenches and the board driver
share one definition of programming and configuration.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from rramlsm.hw.core import InKind, OutKind
from rramlsm.hw.macro import CORE_BASE, CoreReg, Reg, prog_target_word
from rramlsm.hw.program import CoreImage

__all__ = ["register_writes", "register_mismatches", "program_writes", "ctrl_word",
           "pack_input", "unpack_output", "SampleResult"]

_FIELDS = {"steps": CoreReg.STEPS, "decay_q": CoreReg.DECAY_Q,
           "threshold_q": CoreReg.THRESHOLD_Q, "adc_shift": CoreReg.ADC_SHIFT,
           "head_shift": CoreReg.HEAD_SHIFT, "noise_amp": CoreReg.NOISE_AMP,
           "noise_seed": CoreReg.NOISE_SEED}


def ctrl_word(modality: str, dump: bool = False) -> int:
    return (1 if modality == "audio" else 0) | (int(dump) << 1)


def register_writes(core: str, registers: dict[str, int]) -> list[tuple[int, int]]:
    """Bus writes that set a core's configuration registers."""
    return [(CORE_BASE[core] + _FIELDS[k], int(v) & 0xFFFFFFFF) for k, v in registers.items()]


def register_mismatches(read, core: str, registers: dict[str, int]) -> list[str]:
    """The configuration registers of ``core`` whose value on the macro (``read(address)``,
    e.g. :meth:`~rramlsm.hw.hostlink.HostLink.read`) is not the one in ``registers``, as
    ``"name board X, bundle Y"``.  A board whose bitstream was built from a bundle holds
    that bundle's values from reset (a register fixed at build time reads its built-in
    value), so a difference means another bundle, or registers written since."""
    out = []
    for name, value in registers.items():
        got = read(CORE_BASE[core] + _FIELDS[name])
        if got != int(value) & 0xFFFFFFFF:
            out.append(f"{name} board {got}, bundle {int(value) & 0xFFFFFFFF}")
    return out


def program_writes(core: str, image: CoreImage, staging_bits: int) -> list[tuple[int, int]]:
    """Bus writes that load every memory of a core through the programming path."""
    chunks = staging_bits // 32
    out = []
    last_target = None
    for target, addr, word in image.writes():
        if target != last_target:
            out += [(Reg.PROG_TARGET, prog_target_word(target, core)), (Reg.PROG_ADDR, addr)]
            last_target = target
        for k in reversed(range(chunks)):
            out.append((Reg.PROG_DATA, (word >> (32 * k)) & 0xFFFFFFFF))
        out.append((Reg.PROG_COMMIT, 0))
    return out


def pack_input(kind: InKind, row: int) -> int:
    """The 18-bit ``inp`` payload: ``row`` in bits 15:0, ``kind`` in bits 17:16."""
    return (kind.value << 16) | row


def unpack_output(payload: int) -> tuple[int, int, bool]:
    """``out`` payload -> ``(kind, data, last)``."""
    return (payload >> 32) & 0x7, payload & 0xFFFFFFFF, bool(payload >> 35)


def _signed32(x: int) -> int:
    return x - (1 << 32) if x >> 31 else x


@dataclass
class SampleResult:
    """One sample's output words, decoded (every testbench and the host driver fill one)."""

    counts: list[int] = field(default_factory=list)
    embedding: list[int] = field(default_factory=list)
    label: int = -1
    score: int = 0
    cycles: int = 0

    def add(self, kind, data: int) -> None:
        """Take one output word (``kind`` an :class:`OutKind` or its value)."""
        kind = OutKind(kind)
        data = int(data)
        if kind == OutKind.COUNT:
            self.counts.append(data)
        elif kind == OutKind.EMBED:
            self.embedding.append(_signed32(data))
        elif kind == OutKind.CLASS:
            self.label = data
        elif kind == OutKind.SCORE:
            self.score = _signed32(data)
        elif kind == OutKind.CYCLES:
            self.cycles = data
