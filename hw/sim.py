"""Amaranth-simulator helpers: stream put/get and a transaction-level driver for a core.

Producer and consumer run as separate testbench coroutines; idle gaps on the
input and stalls on the output are drawn from seeded generators, so a test
can sweep them over every scenario.
"""

from __future__ import annotations

import numpy as np
from amaranth.sim import Simulator

from rramlsm.hw.core import InKind
from rramlsm.hw.host import SampleResult

__all__ = ["put", "get", "simulate_core"]


async def put(ctx, stream, **fields):
    """Offer one payload on ``stream`` and wait until it is taken."""
    for name, value in fields.items():
        ctx.set(getattr(stream.payload, name), value)
    ctx.set(stream.valid, 1)
    await ctx.tick().until(stream.ready)
    ctx.set(stream.valid, 0)


async def get(ctx, stream, *names):
    """Accept one payload from ``stream``; returns the named payload fields."""
    ctx.set(stream.ready, 1)
    values = await ctx.tick().sample(*(getattr(stream.payload, n) for n in names)).until(
        stream.valid)
    ctx.set(stream.ready, 0)
    return values


def simulate_core(core, registers: dict[str, int], samples: list[list[tuple[InKind, int]]], *,
                  dump: bool = True, idle: float = 0.0, stall: float = 0.0, seed: int = 0,
                  writes=(), abort_after: int | None = None, vcd: str | None = None,
                  gaps: list[list[int]] | None = None):
    """Run input words through ``core``; one :class:`~rramlsm.hw.host.SampleResult` per sample.

    ``writes``: programming writes ``(target, addr, data)`` issued first.
    ``idle`` / ``stall``: probability of an idle cycle before an input word /
    of a not-ready cycle on the output.  ``gaps``: instead of ``idle``, the idle
    cycles before each input word, per sample (as :func:`~rramlsm.hw.cycles.predict`
    takes them; a sample's first gap counts from the last word of the sample
    before).  ``abort_after``: pulse ``abort`` after
    that many input words of the first sample, then send all samples again
    from the start (the aborted partial sample must leave no trace).
    """
    rng_in, rng_out = np.random.default_rng(seed), np.random.default_rng(seed + 1)
    results: list[SampleResult] = []
    n_expected = len(samples)

    async def producer(ctx):
        for name, value in registers.items():
            ctx.set(getattr(core, name), value)
        ctx.set(core.dump, int(dump))
        for target, addr, data in writes:
            ctx.set(core.prog.target, target)
            ctx.set(core.prog.addr, addr)
            ctx.set(core.prog.data, data)
            ctx.set(core.prog.en, 1)
            await ctx.tick()
        ctx.set(core.prog.en, 0)
        if abort_after is not None:
            for kind, row in samples[0][:abort_after]:
                await put(ctx, core.inp, kind=kind, row=row)
            await ctx.tick().repeat(7)
            ctx.set(core.abort, 1)
            await ctx.tick()
            ctx.set(core.abort, 0)
        for n, words in enumerate(samples):
            for i, (kind, row) in enumerate(words):
                if gaps is not None:
                    for _ in range(gaps[n][i]):
                        await ctx.tick()
                else:
                    while rng_in.random() < idle:
                        await ctx.tick()
                await put(ctx, core.inp, kind=kind, row=row)

    async def consumer(ctx):
        current = SampleResult()
        while len(results) < n_expected:
            while rng_out.random() < stall:
                await ctx.tick()
            kind, data, last = await get(ctx, core.out, "kind", "data", "last")
            current.add(kind, data)
            if last:
                results.append(current)
                current = SampleResult()

    sim = Simulator(core)
    sim.add_clock(1e-8)
    sim.add_testbench(producer, background=True)
    sim.add_testbench(consumer)
    if vcd:
        with sim.write_vcd(vcd):
            sim.run()
    else:
        sim.run()
    return results
