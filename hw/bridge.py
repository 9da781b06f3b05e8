"""The board's host link: the macro behind a UART byte protocol.

Host -> device (one command each, little-endian fields)::

    'W' addr data[4]    register write
    'R' addr            register read; the device answers 'R' data[4]
    'I' word[3]         one input-stream word (18 bits: row, kind << 16)

Device -> host: every output-stream word as ``'O' payload[5]`` (36 bits:
data, kind << 32, last << 35).

Received bytes go through a FIFO so the command parser can wait on the
macro's input ready without losing bytes (the UART cannot be stalled).  The
same byte protocol is spoken by :class:`rramlsm.hw.hostlink.HostLink`.
"""

from __future__ import annotations

from amaranth import Cat, Module, Signal
from amaranth.lib import enum, wiring
from amaranth.lib.fifo import SyncFIFOBuffered
from amaranth.lib.wiring import In, Out

from rramlsm.hw.macro import Macro
from rramlsm.hw.uart import UARTRx, UARTTx

__all__ = ["Command", "Reply", "BridgedMacro"]


class Command(enum.Enum, shape=8):
    """Host -> device command bytes (with the argument bytes that follow each)."""

    WRITE = ord("W")     # addr data[4]
    READ = ord("R")      # addr
    INPUT = ord("I")     # word[3]

    @property
    def arg_bytes(self) -> int:
        return {Command.WRITE: 5, Command.READ: 1, Command.INPUT: 3}[self]


class Reply(enum.Enum, shape=8):
    """Device -> host tag bytes."""

    READ = ord("R")      # data[4]
    OUTPUT = ord("O")    # payload[5]


class BridgedMacro(wiring.Component):
    """:class:`~rramlsm.hw.macro.Macro` with a UART host link: two pins, ``rx`` and ``tx``."""

    def __init__(self, macro: Macro, divisor: int, fifo_depth: int = 1024):
        self.macro = macro
        self.divisor = divisor
        self.fifo_depth = fifo_depth
        super().__init__({"rx": In(1, init=1), "tx": Out(1, init=1), "overflow": Out(1)})

    def elaborate(self, platform):
        m = Module()
        m.submodules.macro = macro = self.macro
        m.submodules.urx = urx = UARTRx(self.divisor)
        m.submodules.utx = utx = UARTTx(self.divisor)
        m.submodules.fifo = fifo = SyncFIFOBuffered(width=8, depth=self.fifo_depth)
        m.d.comb += [urx.rx.eq(self.rx), self.tx.eq(utx.tx),
                     fifo.w_data.eq(urx.data.payload), fifo.w_en.eq(urx.data.valid)]
        with m.If(urx.data.valid & ~fifo.w_rdy):
            m.d.sync += self.overflow.eq(1)

        # Command parser: gathers a command's bytes, then acts.
        buf = Signal(40)                # up to 5 argument bytes, first in the low bits
        need = Signal(range(6))
        got = Signal(range(6))
        cmd = Signal(8)                 # a Command (a plain byte: it resets to 0)
        # Response serializer: up to 6 bytes.
        tx_buf = Signal(48)
        tx_left = Signal(range(7))
        m.d.comb += [utx.data.payload.eq(tx_buf[:8]), utx.data.valid.eq(tx_left != 0)]
        with m.If(utx.data.valid & utx.data.ready):
            m.d.sync += [tx_buf.eq(tx_buf >> 8), tx_left.eq(tx_left - 1)]

        read_reply = Signal()          # a read reply takes the serializer this cycle
        with m.FSM():
            with m.State("CMD"):
                m.d.comb += fifo.r_en.eq(1)
                with m.If(fifo.r_rdy):
                    m.d.sync += [cmd.eq(fifo.r_data), got.eq(0)]
                    with m.Switch(fifo.r_data):
                        for command in Command:
                            with m.Case(command):
                                m.d.sync += need.eq(command.arg_bytes)
                                m.next = "ARGS"
                        # Unknown bytes are skipped (resynchronisation on the next command).
            with m.State("ARGS"):
                m.d.comb += fifo.r_en.eq(1)
                with m.If(fifo.r_rdy):
                    m.d.sync += [buf.word_select(got, 8).eq(fifo.r_data), got.eq(got + 1)]
                    with m.If(got + 1 == need):
                        m.next = "ACT"
            with m.State("ACT"):
                with m.Switch(cmd):
                    with m.Case(Command.WRITE):
                        m.d.comb += [macro.bus_addr.eq(buf[:8]), macro.bus_wdata.eq(buf[8:40]),
                                     macro.bus_we.eq(1)]
                        m.next = "CMD"
                    with m.Case(Command.READ):
                        m.d.comb += macro.bus_addr.eq(buf[:8])
                        m.next = "READ"
                    with m.Case(Command.INPUT):
                        m.d.comb += [macro.inp.payload.eq(buf[:18]), macro.inp.valid.eq(1)]
                        with m.If(macro.inp.ready):
                            m.next = "CMD"
            with m.State("READ"):
                # bus_rdata is valid one cycle after the address; wait for a free serializer.
                m.d.comb += macro.bus_addr.eq(buf[:8])
                with m.If(tx_left == 0):
                    m.d.comb += read_reply.eq(1)
                    m.d.sync += [tx_buf.eq(Cat(Reply.READ, macro.bus_rdata)), tx_left.eq(5)]
                    m.next = "CMD"

        # Output words: forwarded whenever the serializer is free and no read reply waits.
        with m.If((tx_left == 0) & macro.out.valid & ~read_reply):
            m.d.comb += macro.out.ready.eq(1)
            m.d.sync += [tx_buf.eq(Cat(Reply.OUTPUT, macro.out.payload)), tx_left.eq(6)]
        return m
