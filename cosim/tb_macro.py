"""cocotb testbench of the generated macro (``rramlsm_macro``) against the golden model.

Loaded by cocotb inside the simulator; the job (bundle, samples, patterns, where
to write results) comes from the JSON file named by ``RRAMLSM_COSIM_JOB``
(written by :func:`rramlsm.cosim.run.run_cosim`).

:class:`MacroTB` owns the clock, the drivers and ``reset()``.  It works at
transaction level: one await per input word (the ready flag is stable at the
falling edge, where the next word is driven), long waits on a signal edge
instead of cycle by cycle, and a monitor that queues whole sample results.
``model()`` predicts each sample from the golden model; the checker compares
counts, embedding, class, score and (where the input had no gaps) cycles.
Scenarios are ``run_test_<scenario>``; the idle and back-pressure patterns are
swept over each of them.
"""

from __future__ import annotations

import json
import os
import random
import time
from pathlib import Path

import cocotb
import numpy as np
from cocotb.triggers import ClockCycles, FallingEdge, RisingEdge

from rramlsm.hw.host import (
    SampleResult,
    ctrl_word,
    pack_input,
    program_writes,
    register_writes,
    unpack_output,
)
from rramlsm.hw.macro import Reg, staging_bits
from rramlsm.hw.program import core_image, encode_frames

JOB = json.loads(Path(os.environ["RRAMLSM_COSIM_JOB"]).read_text())
PATTERNS = [tuple(p) for p in JOB.get("patterns", [[0.0, 0.0]])]
#: A hung design fails its test instead of hanging the run: 1 ms (100,000 cycles) per
#: sample of simulated time is ten times what any sample of the paper's sizes needs, plus
#: time for programming over the bus.
TIMEOUT_MS = 100 + 2 * sum(len(v) for v in np.load(JOB["vectors"]).values())


class Model:
    """Golden-model and cycle-model predictions for the job's samples, for each bundle."""

    def __init__(self):
        from rramlsm.sw.bundle import load_bundle

        vec = np.load(JOB["vectors"], allow_pickle=False)
        self.frames = {m: vec[m] for m in ("visual", "audio") if m in vec}
        self.bundles = [load_bundle(b) for b in JOB["bundles"]]
        self.images = [{m: core_image(b.modalities[m], lanes=JOB["lanes"],
                                      head_lanes=JOB["head_lanes"],
                                      crossbar_lanes=JOB["crossbar_lanes"].get(m, 0))
                        for m in self.frames}
                       for b in self.bundles]

    def model(self, which: int, modality: str, n: int, sample_number: int,
              ready_core: bool = False) -> SampleResult:
        """Sample ``n`` as the core's ``sample_number``-th since reset (read-noise index)."""
        from rramlsm.hw.cycles import predict
        from rramlsm.sw.golden import golden_counts

        mb = self.bundles[which].modalities[modality]
        frames = self.frames[modality][n : n + 1]
        counts, trains = golden_counts(mb.lsm, frames, first_sample=sample_number, record=True)
        cycles = predict(frames[0], trains[0], self.images[which][modality].params,
                         ready_core=ready_core)
        return SampleResult(counts[0].tolist(), mb.embed(counts)[0].tolist(),
                            int(mb.classify(counts)[0]), int(mb.scores(counts).max()), cycles)


MODEL = Model()


class MacroTB:
    def __init__(self, dut, idle: float = 0.0, stall: float = 0.0, seed: int = 0):
        self.dut = dut
        self.idle, self.stall = idle, stall
        self.rng = random.Random(seed)
        self.results: list[SampleResult] = []
        self.cycles = 0
        self.mismatches: list[str] = []
        self.samples_done = {"visual": 0, "audio": 0}
        # The clock is generated in the HDL wrapper (10 ns): no callback per half period.
        # Every input is driven before the first clock: undriven inputs are 0 in
        # Verilator but Z in Icarus.
        dut.inp__valid.value = 0
        dut.inp__payload.value = 0
        dut.out__ready.value = 0
        dut.bus_we.value = 0
        dut.bus_addr.value = 0
        dut.bus_wdata.value = 0
        dut.rst.value = 0

    async def reset(self):
        self.dut.rst.value = 1
        await ClockCycles(self.dut.clk, 3)
        await FallingEdge(self.dut.clk)
        self.dut.rst.value = 0
        self.samples_done = {"visual": 0, "audio": 0}
        await self.settle()

    async def settle(self):
        """Let both cores finish clearing (the cycle model's ``ready_core``)."""
        await ClockCycles(self.dut.clk, 64, rising=False)

    async def write(self, addr: int, data: int):
        await FallingEdge(self.dut.clk)
        self.dut.bus_addr.value = int(addr)
        self.dut.bus_wdata.value = int(data) & 0xFFFFFFFF
        self.dut.bus_we.value = 1
        await FallingEdge(self.dut.clk)
        self.dut.bus_we.value = 0

    async def read(self, addr: int) -> int:
        await FallingEdge(self.dut.clk)
        self.dut.bus_addr.value = int(addr)
        await FallingEdge(self.dut.clk)
        return int(self.dut.bus_rdata.value)

    async def program(self, which: int):
        """Load bundle ``which`` over the register bus (programming path)."""
        # The RTL's macro holds every core of the job; its staging register fits them all.
        images = MODEL.images[which]
        staging = staging_bits(img.params for img in images.values())
        for m, img in images.items():
            for a, d in register_writes(m, img.registers) + program_writes(m, img, staging):
                await self.write(a, d)

    async def send(self, words, stop_after: int | None = None):
        """Drive input words; one await per accepted word."""
        dut, clk = self.dut, self.dut.clk
        payload, valid, ready = dut.inp__payload, dut.inp__valid, dut.inp__ready
        falling = FallingEdge(clk)
        words = [pack_input(kind, row) for kind, row in words[:stop_after]]
        valid.value = 1
        for word in words:
            if self.idle and self.rng.random() < self.idle:
                valid.value = 0
                await ClockCycles(clk, self.rng.randint(1, 4), rising=False)
                valid.value = 1
            payload.value = word
            while not ready.value:
                # Not ready: sleep until it rises, then drive at the next falling edge.
                await RisingEdge(ready)
                await falling
            await falling                   # the rising edge in between took the word
        valid.value = 0

    async def receive(self) -> SampleResult:
        """Collect one sample's output words (with random back-pressure)."""
        dut, clk = self.dut, self.dut.clk
        ready, valid, out = dut.out__ready, dut.out__valid, dut.out__payload
        falling = FallingEdge(clk)
        r = SampleResult()
        while True:
            stall = self.stall and self.rng.random() < self.stall
            ready.value = 0 if stall else 1
            if not valid.value:
                await RisingEdge(valid)
                await falling
                continue
            # Sample the word while it is offered; the next rising edge takes it.
            payload = int(out.value)
            await falling
            if stall:
                continue
            kind, data, last = unpack_output(payload)
            r.add(kind, data)
            if last:
                ready.value = 0
                return r

    async def run_sample(self, which: int, modality: str, n: int, *, check_cycles: bool,
                         ready_core: bool = False):
        words = encode_frames(MODEL.frames[modality][n])
        receiver = cocotb.start_soon(self.receive())
        await self.send(words)
        got = await receiver
        want = MODEL.model(which, modality, n, self.samples_done[modality], ready_core)
        self.samples_done[modality] += 1
        self.results.append(got)
        self.cycles += got.cycles
        for f in ("counts", "embedding", "label", "score"):
            if getattr(got, f) != getattr(want, f):
                self.mismatches.append(f"{modality} sample {n} (bundle {which}): {f} differs")
        if check_cycles and got.cycles != want.cycles:
            self.mismatches.append(f"{modality} sample {n}: {got.cycles} cycles, model "
                                   f"{want.cycles}")

    async def run_all(self, which: int = 0, count: int | None = None):
        for m, frames in MODEL.frames.items():
            await self.write(Reg.CTRL, ctrl_word(m, dump=True))
            for n in range(min(count or len(frames), len(frames))):
                # The first sample of a core finds it idle (it cleared long before).
                await self.run_sample(which, m, n, check_cycles=self.idle == 0,
                                      ready_core=n == 0)


def _record(tb: MacroTB, name: str, wall: float, sim_ns: float):
    out = Path(JOB["results"])
    data = json.loads(out.read_text()) if out.exists() else {}
    data[name] = {"samples": len(tb.results), "mismatches": tb.mismatches,
                  "cycles": [r.cycles for r in tb.results], "wall_s": wall,
                  "sim_cycles": sim_ns / 10.0}
    out.write_text(json.dumps(data))
    assert not tb.mismatches, tb.mismatches[:10]


def _sim_ns() -> float:
    return cocotb.simtime.get_sim_time("ns")


@cocotb.test(timeout_time=TIMEOUT_MS, timeout_unit="ms")
@cocotb.parametrize(pattern=PATTERNS)
async def run_test_samples(dut, pattern):
    """Every sample of both modalities, exact."""
    tb = MacroTB(dut, *pattern, seed=1)
    await tb.reset()
    t0, s0 = time.perf_counter(), _sim_ns()
    await tb.run_all()
    _record(tb, f"samples_{pattern[0]}_{pattern[1]}", time.perf_counter() - t0, _sim_ns() - s0)


@cocotb.test(skip="abort" not in JOB.get("scenarios", []), timeout_time=TIMEOUT_MS,
             timeout_unit="ms")
@cocotb.parametrize(pattern=PATTERNS)
async def run_test_abort_mid_sample(dut, pattern):
    """An ABORT write in the middle of a sample, then samples again; a reset the same way."""
    tb = MacroTB(dut, *pattern, seed=2)
    await tb.reset()
    t0, s0 = time.perf_counter(), _sim_ns()
    m = next(iter(MODEL.frames))
    await tb.write(Reg.CTRL, ctrl_word(m, dump=True))
    words = encode_frames(MODEL.frames[m][0])
    await tb.send(words, stop_after=len(words) // 2)
    await ClockCycles(dut.clk, 50)
    await tb.write(Reg.ABORT, 1)
    tb.samples_done = {"visual": 0, "audio": 0}     # abort restarts the noise numbering
    await tb.settle()
    await tb.run_all(count=3)
    # A reset mid-sample: registers return to the bundle's values, memories are kept.
    await tb.write(Reg.CTRL, ctrl_word(m, dump=True))
    await tb.send(words, stop_after=len(words) // 3)
    await tb.reset()
    await tb.run_all(count=3)
    _record(tb, f"abort_{pattern[0]}_{pattern[1]}", time.perf_counter() - t0, _sim_ns() - s0)


@cocotb.test(skip="reprogram" not in JOB.get("scenarios", []) or len(JOB["bundles"]) < 2,
             timeout_time=TIMEOUT_MS, timeout_unit="ms")
@cocotb.parametrize(pattern=PATTERNS)
async def run_test_reprogram(dut, pattern):
    """Program a second bundle over the bus, check; program the first back, check."""
    tb = MacroTB(dut, *pattern, seed=3)
    await tb.reset()
    t0, s0 = time.perf_counter(), _sim_ns()
    for which in (1, 0):
        await tb.program(which)
        await tb.run_all(which, count=3)
    _record(tb, f"reprogram_{pattern[0]}_{pattern[1]}", time.perf_counter() - t0,
            _sim_ns() - s0)

