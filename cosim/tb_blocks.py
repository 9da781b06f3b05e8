"""cocotb testbenches of single blocks (crossbar, LIF bank) in their generated Verilog.

Loaded by cocotb; the job (block sizes, memory image, seed) comes from the JSON
file named by ``RRAMLSM_COSIM_JOB`` (:func:`rramlsm.cosim.blocks.run_block`).
Each TB class owns clock, drivers and ``reset()``; random idle cycles between
transactions are swept over every scenario.  References are the blocks' golden
twins in :mod:`rramlsm.hw.reference` (the same the Amaranth-simulator tests use).
"""

from __future__ import annotations

import json
import os
import random
from pathlib import Path

import cocotb
import numpy as np
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, FallingEdge, ReadOnly, RisingEdge

from rramlsm.hw.params import CoreParams, unpack_lanes
from rramlsm.hw.reference import LIFBankModel, crossbar_sums
from rramlsm.sw import contract

JOB = json.loads(Path(os.environ["RRAMLSM_COSIM_JOB"]).read_text())
IDLE = JOB.get("idle", [0.0, 0.3])
PARAMS = CoreParams(JOB["inputs"], JOB["neurons"], JOB["lanes"], JOB["adc_bits"])


def _record(name: str, failures: list[str]):
    out = Path(JOB["results"])
    data = json.loads(out.read_text()) if out.exists() else {}
    data[name] = failures
    out.write_text(json.dumps(data))
    assert not failures, failures[:5]


class BlockTB:
    #: Control inputs and their idle values, driven before the first clock: an
    #: undriven input is 0 in Verilator but Z in Icarus, and Z reaches the state.
    IDLE_INPUTS: dict[str, int] = {}

    def __init__(self, dut, idle: float, seed: int):
        self.dut, self.idle = dut, idle
        self.rng = random.Random(seed)
        for name, value in self.IDLE_INPUTS.items():
            getattr(dut, name).value = value
        cocotb.start_soon(Clock(dut.clk, 10, unit="ns").start())

    async def reset(self):
        self.dut.rst.value = 1
        await ClockCycles(self.dut.clk, 2)
        await FallingEdge(self.dut.clk)
        self.dut.rst.value = 0

    async def gap(self):
        if self.idle and self.rng.random() < self.idle:
            await ClockCycles(self.dut.clk, self.rng.randint(1, 3), rising=False)


class CrossbarTB(BlockTB):
    """Drives row passes per column group; reads the P column sums."""

    IDLE_INPUTS = dict.fromkeys(("rd_valid", "rd_row", "rd_group", "rd_first", "rd_last",
                                 "rd_empty", "prog__en"), 0)

    async def run_pass(self, rows: list[int], group: int) -> list[int]:
        d = self.dut
        seq = rows or [0]
        for j, r in enumerate(seq):
            d.rd_valid.value = 1
            d.rd_row.value, d.rd_group.value = r, group
            d.rd_first.value, d.rd_last.value = int(j == 0), int(j == len(seq) - 1)
            d.rd_empty.value = int(not rows)
            await FallingEdge(d.clk)
            d.rd_valid.value = 0
            if j < len(seq) - 1:          # gaps inside a pass only: the sums follow the last row
                await self.gap()
        while True:
            await RisingEdge(d.clk)
            await ReadOnly()
            if d.sum_valid.value:
                word = int(d.sums.value)
                await FallingEdge(d.clk)
                return unpack_lanes(word, JOB["lanes"], contract.COLUMN_SUM_BITS)


class LIFBankTB(BlockTB):
    """Clears the bank, updates groups with ADC codes, reads spike masks and counts."""

    # The count port's read enable is an input of the block alone (the core leaves it at 1).
    IDLE_INPUTS = {**dict.fromkeys(("upd_valid", "upd_group", "upd_codes", "counts__addr",
                                    "clear", "decay_q", "threshold_q"), 0), "counts__en": 1}

    async def clear(self):
        d = self.dut
        d.clear.value = 1
        await FallingEdge(d.clk)
        d.clear.value = 0
        while True:
            await FallingEdge(d.clk)
            if not d.busy.value:
                return

    async def update(self, group: int, codes: list[int]) -> int:
        d = self.dut
        word = 0
        for k, c in enumerate(codes):
            word |= (c & ((1 << JOB["adc_bits"]) - 1)) << (k * JOB["adc_bits"])
        d.upd_valid.value, d.upd_group.value, d.upd_codes.value = 1, group, word
        await FallingEdge(d.clk)
        d.upd_valid.value = 0
        while True:
            await RisingEdge(d.clk)
            await ReadOnly()
            if d.spk_valid.value:
                mask = int(d.spk_mask.value)
                await FallingEdge(d.clk)
                await self.gap()
                return mask

    async def counts(self, group: int) -> list[int]:
        d = self.dut
        d.counts__addr.value = group
        await FallingEdge(d.clk)
        await FallingEdge(d.clk)
        return unpack_lanes(int(d.counts__data.value), JOB["lanes"], contract.COUNTER_BITS,
                            signed=False)


@cocotb.test(skip=JOB["block"] != "crossbar", timeout_time=5, timeout_unit="ms")
@cocotb.parametrize(idle=IDLE)
async def run_test_crossbar_column_sums(dut, idle):
    tb = CrossbarTB(dut, idle, seed=int(idle * 100))
    await tb.reset()
    rows = PARAMS.rows
    codes = np.array(JOB["codes"], np.int64)
    rng = np.random.default_rng(JOB["seed"])
    passes = [[], list(range(rows))] + [sorted(int(r) for r in rng.choice(rows, rng.integers(
        1, rows), replace=False)) for _ in range(30)]
    failures = []
    for rows_ in passes:
        want = crossbar_sums(codes, rows_, PARAMS)
        for g in range(PARAMS.groups):
            got = await tb.run_pass(rows_, g)
            if got != want[g].tolist():
                failures.append(f"rows {rows_} group {g}: {got}")
    _record(f"crossbar_{idle}", failures)


@cocotb.test(skip=JOB["block"] != "lif", timeout_time=5, timeout_unit="ms")
@cocotb.parametrize(idle=IDLE)
async def run_test_lif_bank(dut, idle):
    tb = LIFBankTB(dut, idle, seed=int(idle * 100) + 1)
    await tb.reset()
    lanes, groups, neurons = PARAMS.lanes, PARAMS.groups, PARAMS.neurons
    decay_q, theta = JOB["decay_q"], JOB["threshold_q"]
    dut.decay_q.value = decay_q
    dut.threshold_q.value = theta & ((1 << contract.MEMBRANE_BITS) - 1)
    await tb.clear()
    rng = np.random.default_rng(JOB["seed"])
    hi = (1 << (JOB["adc_bits"] - 1)) - 1
    model = LIFBankModel(PARAMS, decay_q, theta)
    failures = []
    for t in range(JOB["steps"]):
        codes = rng.integers(-hi - 1, hi + 1, groups * lanes)
        codes[neurons:] = 0
        want = model.step(codes)
        for g in range(groups):
            mask = await tb.update(g, codes[g * lanes : (g + 1) * lanes].tolist())
            if mask != want[g]:
                failures.append(f"step {t} group {g}: mask {mask:x}, want {want[g]:x}")
    counts = model.counts
    for g in range(groups):
        got = await tb.counts(g)
        for k in range(lanes):
            n = g * lanes + k
            if n < neurons and got[k] != counts[n]:
                failures.append(f"count of neuron {n}: {got[k]}, want {counts[n]}")
    _record(f"lif_{idle}", failures)


__all__ = ["CrossbarTB", "LIFBankTB"]
