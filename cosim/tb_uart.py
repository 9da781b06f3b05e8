"""cocotb testbench of the board top's logic: the host driver over a bit-level UART.

Loaded by cocotb (:func:`rramlsm.cosim.uart.run_uart_top`).  The real host
driver, :class:`rramlsm.hw.hostlink.HostLink` -- the code ``rramlsm run-fpga``
runs against a board -- executes unchanged in a thread (``cocotb.task.bridge``);
its transport's ``write`` and ``read`` resume the simulation (``resume``) and
drive or sample the design's ``rx`` / ``tx`` pins as an 8N1 UART would, one
bit every ``divisor`` clock periods.  Results are compared with the golden
model in the runner.
"""

from __future__ import annotations

import json
import os
from collections import deque
from pathlib import Path

import cocotb
import numpy as np
from cocotb.task import bridge, resume
from cocotb.triggers import Event, FallingEdge, Timer, with_timeout

from rramlsm.hw.hostlink import HostLink
from rramlsm.hw.macro import Reg

JOB = json.loads(Path(os.environ["RRAMLSM_COSIM_JOB"]).read_text())
PERIOD_NS = 10          # the wrapper's clock


class UARTModel:
    """The host's side of the serial line: 8N1 at ``divisor`` clock periods per bit."""

    def __init__(self, dut, divisor: int):
        self.dut, self.bit_ns = dut, divisor * PERIOD_NS
        self.received: deque[int] = deque()
        self.arrived = Event()
        self.frame_errors = 0
        dut.rx.value = 1
        cocotb.start_soon(self._receive())

    async def send(self, data: bytes) -> None:
        for byte in data:
            for bit in (0, *((byte >> i) & 1 for i in range(8)), 1):
                self.dut.rx.value = bit
                await Timer(self.bit_ns, unit="ns")

    async def _receive(self) -> None:
        while True:
            await FallingEdge(self.dut.tx)
            await Timer(self.bit_ns // 2, unit="ns")          # middle of the start bit
            byte = 0
            for i in range(8):
                await Timer(self.bit_ns, unit="ns")
                byte |= int(self.dut.tx.value) << i
            await Timer(self.bit_ns, unit="ns")
            if not int(self.dut.tx.value):
                self.frame_errors += 1
            self.received.append(byte)
            self.arrived.set()

    async def recv(self, n: int) -> bytes:
        out = bytearray()
        while len(out) < n:
            while not self.received:
                self.arrived.clear()
                # A byte takes 10 bits; allow a long sample's compute time on top.
                await with_timeout(self.arrived.wait(), 2_000_000 * PERIOD_NS, "ns")
            out.append(self.received.popleft())
        return bytes(out)


class SimSerial:
    """A pyserial-like transport (``write``, ``read``) over :class:`UARTModel`, callable from
    the host driver's thread."""

    def __init__(self, uart: UARTModel):
        self._write = resume(uart.send)
        self._read = resume(uart.recv)

    def write(self, data: bytes) -> int:
        self._write(bytes(data))
        return len(data)

    def read(self, n: int) -> bytes:
        return self._read(n)


@cocotb.test()
async def run_test_host_driver(dut):
    """ID register, then every sample of every modality through HostLink."""
    uart = UARTModel(dut, JOB["divisor"])
    dut.rst.value = 1
    await Timer(5 * PERIOD_NS, unit="ns")
    dut.rst.value = 0
    await Timer(5 * PERIOD_NS, unit="ns")
    vectors = np.load(JOB["vectors"])

    @bridge
    def host():
        link = HostLink(SimSerial(uart))
        results = {"id": link.read(Reg.ID), "samples": {}}
        for m in JOB["modalities"]:
            results["samples"][m] = [
                {"label": r.label, "score": r.score, "cycles": r.cycles, "counts": r.counts,
                 "embedding": r.embedding}
                for r in (link.run(m, fr, dump=JOB["dump"]) for fr in vectors[m])]
        return results

    results = await host()
    results["overflow"] = int(dut.overflow.value)
    results["frame_errors"] = uart.frame_errors
    results["sim_time_ns"] = cocotb.utils.get_sim_time("ns")
    Path(JOB["results"]).write_text(json.dumps(results))
