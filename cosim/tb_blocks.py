"""cocotb testbenches of single blocks in their generated Verilog: crossbar, column ADC
with read noise (:class:`rramlsm.cosim.blocks.NoisyADC`), LIF bank, head, classifier.

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

from rramlsm.hw.params import (
    CoreParams,
    head_bias_words,
    head_weight_words,
    pack_lanes,
    prototype_words,
    unpack_lanes,
)
from rramlsm.hw.reference import (
    LIFBankModel,
    adc_codes,
    classify,
    crossbar_sums,
    head_embedding,
    read_noise,
)
from rramlsm.sw import contract

JOB = json.loads(Path(os.environ["RRAMLSM_COSIM_JOB"]).read_text())
IDLE = JOB.get("idle", [0.0, 0.3])
PARAMS = CoreParams(**JOB["params"])


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
        #: The random cases: the same for every idle pattern.
        self.cases = np.random.default_rng(JOB["seed"])
        for name, value in self.IDLE_INPUTS.items():
            getattr(dut, name).value = value
        cocotb.start_soon(Clock(dut.clk, 10, unit="ns").start())

    @classmethod
    async def started(cls, dut, idle: float, salt: int):
        """A testbench out of reset; its idle cycles drawn from ``idle`` and ``salt``."""
        tb = cls(dut, idle, seed=int(idle * 100) + salt)
        await tb.reset()
        return tb

    async def reset(self):
        self.dut.rst.value = 1
        await ClockCycles(self.dut.clk, 2)
        await FallingEdge(self.dut.clk)
        self.dut.rst.value = 0

    async def gap(self):
        if self.idle and self.rng.random() < self.idle:
            await ClockCycles(self.dut.clk, self.rng.randint(1, 3), rising=False)

    async def pulse(self, name: str):
        """``name`` high for one cycle (from a falling edge to the next)."""
        getattr(self.dut, name).value = 1
        await FallingEdge(self.dut.clk)
        getattr(self.dut, name).value = 0

    async def until(self, name: str):
        """Waits for the rising edge after which ``name`` is high; returns in its read-only
        phase (outputs of that cycle readable, nothing writable)."""
        while True:
            await RisingEdge(self.dut.clk)
            await ReadOnly()
            if getattr(self.dut, name).value:
                return

    async def write(self, port: str, words: list[int]):
        """``words`` at addresses 0, 1, ... through the memory write port ``port``
        (``en``/``addr``/``data``), with random idle cycles between the writes."""
        en, addr, data = (getattr(self.dut, f"{port}__{x}") for x in ("en", "addr", "data"))
        for a, word in enumerate(words):
            en.value, addr.value, data.value = 1, a, word
            await FallingEdge(self.dut.clk)
            en.value = 0
            await self.gap()

    def serve(self, port: str) -> list[int]:
        """Answers the block's read port ``port`` like a memory (block RAM timing: the word
        at the address of the previous cycle).  Returns the memory: a list the caller
        fills and changes between passes."""
        memory: list[int] = []

        async def answer():
            addr, data = getattr(self.dut, f"{port}__addr"), getattr(self.dut, f"{port}__data")
            pending = 0
            while True:
                await FallingEdge(self.dut.clk)
                data.value = memory[pending] if pending < len(memory) else 0
                pending = int(addr.value)

        cocotb.start_soon(answer())
        return memory


def _block_test(block: str):
    """A cocotb test of ``block`` (skipped in the other blocks' runs), swept over the idle
    patterns, with a simulated-time limit."""
    def wrap(test):
        return cocotb.test(skip=JOB["block"] != block, timeout_time=5, timeout_unit="ms")(
            cocotb.parametrize(idle=IDLE)(test))
    return wrap


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
        await self.until("sum_valid")
        word = int(d.sums.value)
        await FallingEdge(d.clk)
        # The accumulators are as wide as the rows can sum (CoreParams.sum_bits), not wider.
        return unpack_lanes(word, PARAMS.xlanes, PARAMS.sum_bits)


class NoisyADCTB(BlockTB):
    """Drives one group's column sums and noise key; reads the P ADC codes."""

    IDLE_INPUTS = dict.fromkeys(("valid", "sums", "shift", "seed", "sample", "step", "group",
                                 "amplitude"), 0)

    async def convert(self, sums: list[int], shift: int,
                      key: dict[str, int]) -> list[int] | None:
        d = self.dut
        d.valid.value, d.shift.value = 1, shift
        d.sums.value = pack_lanes([sums], contract.COLUMN_SUM_BITS)[0]
        for name, value in key.items():
            getattr(d, name).value = value
        await FallingEdge(d.clk)
        d.valid.value = 0
        # One cycle of latency: the codes were registered at the rising edge just passed.
        valid = bool(d.codes_valid.value)
        codes = unpack_lanes(int(d.codes.value), PARAMS.lanes, PARAMS.adc_bits)
        await self.gap()
        return codes if valid else None


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
        d.upd_valid.value, d.upd_group.value = 1, group
        d.upd_codes.value = pack_lanes([codes], PARAMS.adc_bits)[0]
        await FallingEdge(d.clk)
        d.upd_valid.value = 0
        await self.until("spk_valid")
        mask = int(d.spk_mask.value)
        await FallingEdge(d.clk)
        await self.gap()
        return mask

    async def counts(self, group: int) -> list[int]:
        d = self.dut
        d.counts__addr.value = group
        await FallingEdge(d.clk)
        await FallingEdge(d.clk)
        return unpack_lanes(int(d.counts__data.value), PARAMS.lanes, contract.COUNTER_BITS,
                            signed=False)


class HeadTB(BlockTB):
    """Programs the head's memories, runs passes on spike counts, reads the embedding."""

    IDLE_INPUTS = {**dict.fromkeys(("ctrl__start", "shift", "counts__data", "emb__addr",
                                    *(f"{port}__{x}" for port in ("weight", "bias", "lut")
                                      for x in ("en", "addr", "data"))), 0),
                   "emb__en": 1}

    def __init__(self, dut, idle: float, seed: int):
        super().__init__(dut, idle, seed)
        self.counts = self.serve("counts")     # the LIF bank's count port

    async def program(self, layer: dict):
        self.dut.shift.value = layer["shift"]
        await self.write("weight", head_weight_words(np.array(layer["weight"]), PARAMS))
        await self.write("bias", head_bias_words(np.array(layer["bias"]), PARAMS))
        await self.write("lut", [x & 0xFF for x in layer["lut"]])

    async def run_pass(self, counts: np.ndarray) -> list[int]:
        padded = np.zeros(PARAMS.groups * PARAMS.lanes, np.int64)
        padded[: PARAMS.neurons] = counts
        self.counts[:] = pack_lanes(padded.reshape(PARAMS.groups, PARAMS.lanes),
                                    contract.COUNTER_BITS)
        await self.pulse("ctrl__start")
        await self.until("ctrl__done")
        await FallingEdge(self.dut.clk)
        emb = []
        for i in range(PARAMS.dim):
            self.dut.emb__addr.value = i
            await FallingEdge(self.dut.clk)
            emb.append(self.dut.emb__data.value.to_signed())
            await self.gap()
        return emb


class ClassifierTB(BlockTB):
    """Programs the prototypes, scores embeddings, reads the best row and its score."""

    IDLE_INPUTS = dict.fromkeys(("ctrl__start", "emb__data", "prototypes__en",
                                 "prototypes__addr", "prototypes__data"), 0)

    def __init__(self, dut, idle: float, seed: int):
        super().__init__(dut, idle, seed)
        self.emb = self.serve("emb")           # the head's embedding port

    async def classify(self, emb: np.ndarray) -> tuple[int, int]:
        self.emb[:] = [int(e) & 0xFF for e in emb]
        await self.pulse("ctrl__start")
        await self.until("ctrl__done")
        got = int(self.dut.best.value), self.dut.score.value.to_signed()
        await FallingEdge(self.dut.clk)
        await self.gap()
        return got


@_block_test("crossbar")
async def run_test_crossbar_column_sums(dut, idle):
    tb = await CrossbarTB.started(dut, idle, 0)
    rows = PARAMS.rows
    codes = np.array(JOB["codes"], np.int64)
    passes = [[], list(range(rows))] + [
        sorted(int(r) for r in tb.cases.choice(rows, tb.cases.integers(1, rows), replace=False))
        for _ in range(30)]
    failures = []
    for rows_ in passes:
        want = crossbar_sums(codes, rows_, PARAMS)
        for g in range(PARAMS.groups):
            got = await tb.run_pass(rows_, g)
            if got != want[g].tolist():
                failures.append(f"rows {rows_} group {g}: {got}")
    _record(f"crossbar_{idle}", failures)


@_block_test("lif")
async def run_test_lif_bank(dut, idle):
    tb = await LIFBankTB.started(dut, idle, 1)
    lanes, groups, neurons = PARAMS.lanes, PARAMS.groups, PARAMS.neurons
    decay_q, theta = JOB["decay_q"], JOB["threshold_q"]
    dut.decay_q.value = decay_q
    dut.threshold_q.value = theta & ((1 << contract.MEMBRANE_BITS) - 1)
    await tb.clear()
    hi = (1 << (PARAMS.adc_bits - 1)) - 1
    model = LIFBankModel(PARAMS, decay_q, theta)
    failures = []
    for t in range(JOB["steps"]):
        codes = tb.cases.integers(-hi - 1, hi + 1, groups * lanes)
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


@_block_test("adc")
async def run_test_adc_with_read_noise(dut, idle):
    tb = await NoisyADCTB.started(dut, idle, 2)
    top = 1 << (contract.COLUMN_SUM_BITS - 1)
    bits = PARAMS.adc_bits
    failures = []
    for n in range(150):
        # Sums and amplitudes at their extremes first, then at random; keys over 32 bits.
        if n < 6:
            sums = [top - 1, -top, 0, -1] * PARAMS.lanes
            amplitude = (0, (1 << contract.NOISE_AMP_BITS) - 1)[n % 2]
        else:
            sums = tb.cases.integers(-top, top, PARAMS.lanes).tolist()
            amplitude = int(tb.cases.integers(0, 1 << contract.NOISE_AMP_BITS))
        key = {"seed": int(tb.cases.integers(0, 1 << contract.NOISE_SEED_BITS)),
               "sample": int(tb.cases.integers(0, 1 << contract.NOISE_KEY_BITS)),
               "step": int(tb.cases.integers(0, 1 << contract.STEP_BITS)),
               "group": int(tb.cases.integers(0, PARAMS.groups)), "amplitude": amplitude}
        sums, shift = sums[: PARAMS.lanes], int(tb.cases.integers(0, contract.COLUMN_SUM_BITS + 1))
        noise = read_noise(key["seed"], key["sample"], key["step"], key["group"], amplitude,
                           PARAMS)
        want = adc_codes(np.array(sums) + noise, bits, shift).tolist()
        got = await tb.convert(sums, shift, key)
        if got != want:
            failures.append(f"sums {sums} shift {shift} {key}: {got}, want {want}")
    _record(f"adc_{idle}", failures)


@_block_test("head")
async def run_test_head_embedding(dut, idle):
    """The initial image's layer, then a second one written through the write ports."""
    tb = await HeadTB.started(dut, idle, 3)
    cmax = (1 << contract.COUNTER_BITS) - 1
    samples = [np.zeros(PARAMS.head_inputs, np.int64), np.full(PARAMS.head_inputs, cmax)]
    samples += list(tb.cases.integers(0, cmax + 1, (6, PARAMS.head_inputs)))
    failures = []
    for n, layer in enumerate(JOB["layers"]):
        if n:
            await tb.program(layer)
        else:
            dut.shift.value = layer["shift"]
        for counts in samples:
            want = head_embedding(counts, layer["weight"], layer["bias"], layer["shift"],
                                  np.array(layer["lut"])).tolist()
            got = await tb.run_pass(counts)
            if got != want:
                failures.append(f"layer {n} counts {counts.tolist()}: {got}, want {want}")
    await tb.program(JOB["layers"][0])      # the image back for the next idle pattern
    _record(f"head_{idle}", failures)


@_block_test("classifier")
async def run_test_classifier(dut, idle):
    """The initial prototypes, then a second set written through the write port."""
    tb = await ClassifierTB.started(dut, idle, 4)
    failures = []
    for n, protos in enumerate(np.array(JOB["prototypes"])):
        if n:
            await tb.write("prototypes", prototype_words(protos, PARAMS))
        embs = [np.zeros(PARAMS.dim, np.int64), np.full(PARAMS.dim, contract.ACT_MIN),
                np.full(PARAMS.dim, contract.ACT_MAX), protos[1], *tb.cases.integers(
                    contract.ACT_MIN, contract.ACT_MAX + 1, (8, PARAMS.dim))]
        for e in embs:
            want = classify(e, protos)
            got = await tb.classify(e)
            if got != want:
                failures.append(f"prototypes {n} embedding {e.tolist()}: {got}, want {want}")
    # The image back for the next idle pattern.
    await tb.write("prototypes", prototype_words(np.array(JOB["prototypes"][0]), PARAMS))
    _record(f"classifier_{idle}", failures)


__all__ = ["CrossbarTB", "NoisyADCTB", "LIFBankTB", "HeadTB", "ClassifierTB"]
