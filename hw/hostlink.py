"""Host side of the board link (:mod:`rramlsm.hw.bridge`): program a macro, run samples.

``HostLink`` speaks the bridge's byte protocol over any transport with
``write(bytes)`` and ``read(n) -> bytes`` -- a pyserial ``Serial`` for a real
board, or a simulated UART in the tests.
"""

from __future__ import annotations

import struct

from rramlsm.errors import RRAMLSMError
from rramlsm.hw.bridge import Command, Reply
from rramlsm.hw.host import (
    SampleResult,
    ctrl_word,
    pack_input,
    program_writes,
    register_writes,
    unpack_output,
)
from rramlsm.hw.macro import Reg
from rramlsm.hw.program import encode_frames

__all__ = ["HostLink", "encode_write", "encode_read", "encode_input", "decode_output"]


def encode_write(addr: int, data: int) -> bytes:
    return struct.pack("<BBI", Command.WRITE.value, int(addr), int(data) & 0xFFFFFFFF)


def encode_read(addr: int) -> bytes:
    return struct.pack("<BB", Command.READ.value, int(addr))


def encode_input(kind, row: int) -> bytes:
    return bytes([Command.INPUT.value]) + pack_input(kind, row).to_bytes(3, "little")


def decode_output(payload: int, into: SampleResult) -> bool:
    """Add one output word (36-bit payload) to a sample's result; True on its last word."""
    kind, data, last = unpack_output(payload)
    into.add(kind, data)
    return last


class HostLink:
    def __init__(self, transport):
        self.t = transport

    def _expect(self, tag: Reply, n: int) -> bytes:
        got = self.t.read(1 + n)
        if not got:
            # pyserial returns what came before its timeout: nothing means no answer.
            raise RRAMLSMError("board link: no reply within the port's timeout (--timeout): "
                               "is the board programmed and on this port, at this baud rate?")
        if len(got) != 1 + n or got[0] != tag.value:
            raise RRAMLSMError(f"board link: expected {chr(tag.value)!r} + {n} bytes, "
                               f"got {got!r}")
        return got[1:]

    def write(self, addr: int, data: int) -> None:
        self.t.write(encode_write(addr, data))

    def read(self, addr: int) -> int:
        self.t.write(encode_read(addr))
        return int.from_bytes(self._expect(Reply.READ, 4), "little")

    def program(self, core: str, image, staging_bits: int) -> None:
        """Registers and every memory of a core over the link."""
        self.t.write(b"".join(encode_write(a, d) for a, d in
                              register_writes(core, image.registers)
                              + program_writes(core, image, staging_bits)))

    def run(self, modality: str, frames, *, dump: bool = False) -> SampleResult:
        """One sample through the board; its decoded result."""
        self.write(Reg.CTRL, ctrl_word(modality, dump))
        self.t.write(b"".join(encode_input(k, r) for k, r in encode_frames(frames)))
        out = SampleResult()
        while not decode_output(int.from_bytes(self._expect(Reply.OUTPUT, 5), "little"), out):
            pass
        return out
