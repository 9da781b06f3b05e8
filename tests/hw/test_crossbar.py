"""The crossbar block against its golden twin (:func:`rramlsm.hw.reference.crossbar_sums`)."""

import numpy as np

from rramlsm.hw.crossbar import Crossbar
from rramlsm.hw.params import CoreParams, crossbar_words
from rramlsm.hw.reference import crossbar_sums
from tests.hw.hw_support import run


async def _pass(ctx, dut, rows, group):
    """One column-group pass over ``rows`` (one token with rd_empty if none); its sums."""
    seq = rows or [0]
    for j, r in enumerate(seq):
        ctx.set(dut.rd_valid, 1)
        ctx.set(dut.rd_row, r)
        ctx.set(dut.rd_group, group)
        ctx.set(dut.rd_first, j == 0)
        ctx.set(dut.rd_last, j == len(seq) - 1)
        ctx.set(dut.rd_empty, not rows)
        await ctx.tick()
    ctx.set(dut.rd_valid, 0)
    (sums,), = [await ctx.tick().sample(dut.sums).until(dut.sum_valid)]
    return [int(s) for s in sums]


def test_crossbar_column_sums_match_the_contract():
    p = CoreParams(inputs=7, neurons=10, lanes=4)
    rng = np.random.default_rng(0)
    codes = rng.integers(-255, 256, size=(p.rows, p.neurons))
    dut = Crossbar(p, crossbar_words(codes, p))
    passes = [[], list(range(p.rows))] + [
        sorted(int(r) for r in rng.choice(p.rows, rng.integers(1, 8), replace=False))
        for _ in range(12)]
    got = []

    async def bench(ctx):
        for rows in passes:
            got.append([await _pass(ctx, dut, rows, g) for g in range(p.groups)])

    run(dut, bench)
    for rows, sums in zip(passes, got, strict=True):
        assert sums == crossbar_sums(codes, rows, p).tolist(), rows


def test_crossbar_programming_port_rewrites_words():
    p = CoreParams(inputs=3, neurons=4, lanes=4)
    dut = Crossbar(p, crossbar_words(np.ones((p.rows, 4), int), p))
    codes = -np.arange(p.rows * 4).reshape(p.rows, 4) % 255
    sums = []

    async def bench(ctx):
        for addr, word in enumerate(crossbar_words(codes, p)):
            ctx.set(dut.prog.en, 1)
            ctx.set(dut.prog.addr, addr)
            ctx.set(dut.prog.data, word)
            await ctx.tick()
        ctx.set(dut.prog.en, 0)
        sums.extend(await _pass(ctx, dut, list(range(p.rows)), 0))

    run(dut, bench)
    assert sums == crossbar_sums(codes, range(p.rows), p)[0].tolist()
    assert sums == codes.sum(0).tolist()
