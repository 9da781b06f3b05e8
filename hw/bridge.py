"""The board's host link: the macro behind a UART byte protocol.

Host -> device (one command each, little-endian fields)::

    'W' addr data[4]    register write
    'R' addr            register read; the device answers 'R' data[4]
    'I' word[3]         one input-stream word (18 bits: row, kind << 16)

Device -> host: every output-stream word as ``'O' payload[5]`` (36 bits:
data, kind << 32, last << 35).

Received bytes go through a FIFO so the command parser can wait on the
macro's input ready without losing bytes (the UART cannot be stalled).
Register slices cut the paths from the FIFO's block RAM to the parser, from
the parser to the macro's bus and input stream, and from the macro's output
stream to the reply serializer (timing only: the macro's cycle count starts
at its own first input word and stops before its first output word).  The same byte
protocol is spoken by :class:`rramlsm.hw.hostlink.HostLink`.
"""

from __future__ import annotations

from amaranth import Cat, Module, Signal
from amaranth.lib import enum, wiring
from amaranth.lib.fifo import SyncFIFOBuffered
from amaranth.lib.wiring import In, Out

from rramlsm.hw.core import IN_WORD
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

        # Register slices on both sides of the parser (timing, not protocol): the FIFO's
        # output byte is registered before it is decoded (a block RAM's output is slow),
        # and the parser drives the macro only through registers: the bus (address, data,
        # write enable) and a one-word input slot.  A byte takes two cycles at most and a
        # word waits at most one cycle more, against 10 bit times of the UART per byte.
        rx_byte, rx_full = Signal(8), Signal()
        m.d.comb += fifo.r_en.eq(~rx_full)
        with m.If(fifo.r_rdy & ~rx_full):
            m.d.sync += [rx_byte.eq(fifo.r_data), rx_full.eq(1)]
        bus_addr, bus_wdata, bus_we = Signal(8), Signal(32), Signal()
        inp_word, inp_full = Signal(IN_WORD), Signal()
        m.d.comb += [macro.bus_addr.eq(bus_addr), macro.bus_wdata.eq(bus_wdata),
                     macro.bus_we.eq(bus_we),
                     macro.inp.payload.eq(inp_word), macro.inp.valid.eq(inp_full)]
        m.d.sync += bus_we.eq(0)
        with m.If(macro.inp.valid & macro.inp.ready):
            m.d.sync += inp_full.eq(0)

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
                with m.If(rx_full):
                    m.d.sync += [cmd.eq(rx_byte), got.eq(0), rx_full.eq(0)]
                    with m.Switch(rx_byte):
                        for command in Command:
                            with m.Case(command):
                                m.d.sync += need.eq(command.arg_bytes)
                                m.next = "ARGS"
                        # Unknown bytes are skipped (resynchronisation on the next command).
            with m.State("ARGS"):
                with m.If(rx_full):
                    m.d.sync += [buf.word_select(got, 8).eq(rx_byte), got.eq(got + 1),
                                 rx_full.eq(0)]
                    with m.If(got + 1 == need):
                        m.next = "ACT"
            with m.State("ACT"):
                with m.Switch(cmd):
                    with m.Case(Command.WRITE):
                        m.d.sync += [bus_addr.eq(buf[:8]), bus_wdata.eq(buf[8:40]),
                                     bus_we.eq(1)]
                        m.next = "CMD"
                    with m.Case(Command.READ):
                        m.d.sync += bus_addr.eq(buf[:8])
                        m.next = "READ_ADDR"
                    with m.Case(Command.INPUT):
                        # The slot takes the word once the one before it has gone in.
                        with m.If(~inp_full):
                            m.d.sync += [inp_word.eq(buf[:18]), inp_full.eq(1)]
                            m.next = "CMD"
                    with m.Default():
                        m.next = "CMD"
            with m.State("READ_ADDR"):
                # The address reaches the macro's bus this cycle; bus_rdata follows.
                m.next = "READ"
            with m.State("READ"):
                # bus_rdata is valid one cycle after the address; wait for a free serializer.
                with m.If(tx_left == 0):
                    m.d.comb += read_reply.eq(1)
                    m.d.sync += [tx_buf.eq(Cat(Reply.READ, macro.bus_rdata)), tx_left.eq(5)]
                    m.next = "CMD"

        # Output words: into a one-word slot whenever it is empty, so that the macro's ready
        # is a register of its own (the serializer's state and the read replies' arbitration
        # do not reach into the cores' result FSMs), and from the slot to the serializer
        # whenever it is free and no read reply waits.  A word waits at most one cycle more,
        # against the 60 bit times of the UART it takes to send.
        out_word, out_full = Signal.like(macro.out.payload), Signal()
        m.d.comb += macro.out.ready.eq(~out_full)
        with m.If(macro.out.valid & ~out_full):
            m.d.sync += [out_word.eq(macro.out.payload), out_full.eq(1)]
        with m.If((tx_left == 0) & out_full & ~read_reply):
            m.d.sync += [tx_buf.eq(Cat(Reply.OUTPUT, out_word)), tx_left.eq(6), out_full.eq(0)]
        return m
