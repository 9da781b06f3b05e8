"""8N1 UART receiver and transmitter (the board's host link).

``divisor`` is clock cycles per bit (e.g. 100 MHz / 3 Mbaud ~ 33).  The
receiver samples each bit in its middle after detecting the start bit's
falling edge; it has no back-pressure (a UART cannot be stalled), so whatever
consumes it must keep up or buffer.  The transmitter sends one byte per
stream transfer.
"""

from __future__ import annotations

from amaranth import Module, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

__all__ = ["UARTRx", "UARTTx", "check_divisor"]


def check_divisor(divisor: int) -> None:
    """Clock cycles per bit: an integer of at least 4 (the receiver samples mid-bit)."""
    if not isinstance(divisor, int) or divisor < 4:
        raise ValueError(f"UART divisor must be an integer >= 4, not {divisor!r}")


class UARTRx(wiring.Component):
    """``rx`` pin -> byte stream (``valid`` for one cycle per byte, no ``ready``)."""

    def __init__(self, divisor: int):
        check_divisor(divisor)
        self.divisor = divisor
        super().__init__({"rx": In(1, init=1),
                          "data": Out(stream.Signature(8, always_ready=True)),
                          "frame_error": Out(1)})

    def elaborate(self, platform):
        m = Module()
        d = self.divisor
        rx = Signal(init=1)
        rx_prev = Signal(init=1)
        m.d.sync += [rx.eq(self.rx), rx_prev.eq(rx)]        # synchroniser
        timer = Signal(range(d + d // 2 + 1))
        bit = Signal(range(9))
        shift = Signal(8)
        m.d.sync += self.data.valid.eq(0)
        with m.FSM():
            with m.State("IDLE"):
                with m.If(rx_prev & ~rx):
                    # Wait 1.5 bits: into the middle of data bit 0.
                    m.d.sync += [timer.eq(d + d // 2 - 1), bit.eq(0)]
                    m.next = "DATA"
            with m.State("DATA"):
                with m.If(timer == 0):
                    m.d.sync += [shift.eq((rx << 7) | (shift >> 1)), bit.eq(bit + 1),
                                 timer.eq(d - 1)]
                    with m.If(bit == 7):
                        m.next = "STOP"
                with m.Else():
                    m.d.sync += timer.eq(timer - 1)
            with m.State("STOP"):
                with m.If(timer == 0):
                    m.d.sync += [self.data.payload.eq(shift), self.data.valid.eq(rx),
                                 self.frame_error.eq(~rx)]
                    m.next = "IDLE"
                with m.Else():
                    m.d.sync += timer.eq(timer - 1)
        return m


class UARTTx(wiring.Component):
    """Byte stream -> ``tx`` pin."""

    def __init__(self, divisor: int):
        check_divisor(divisor)
        self.divisor = divisor
        super().__init__({"data": In(stream.Signature(8)), "tx": Out(1, init=1)})

    def elaborate(self, platform):
        m = Module()
        d = self.divisor
        timer = Signal(range(d))
        bits = Signal(10)
        count = Signal(range(11))
        m.d.comb += self.data.ready.eq(count == 0)
        with m.If(count == 0):
            with m.If(self.data.valid):
                # start bit, 8 data bits LSB first, stop bit
                m.d.sync += [bits.eq((1 << 9) | (self.data.payload << 1)), count.eq(10),
                             timer.eq(d - 1), self.tx.eq(0)]
        with m.Else():
            with m.If(timer == 0):
                m.d.sync += [bits.eq(bits >> 1), self.tx.eq(bits[1]), count.eq(count - 1),
                             timer.eq(d - 1)]
                with m.If(count == 1):
                    m.d.sync += self.tx.eq(1)
            with m.Else():
                m.d.sync += timer.eq(timer - 1)
        return m
