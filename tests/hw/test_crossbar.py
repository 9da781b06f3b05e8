"""The crossbar block against its golden twin (:func:`rramlsm.hw.reference.crossbar_sums`)."""

import numpy as np
import pytest

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


async def _program(ctx, dut, words):
    """Every word through the programming port, one per cycle from address 0."""
    for addr, word in enumerate(words):
        ctx.set(dut.prog.en, 1)
        ctx.set(dut.prog.addr, addr)
        ctx.set(dut.prog.data, word)
        await ctx.tick()
    ctx.set(dut.prog.en, 0)


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
        await _program(ctx, dut, crossbar_words(codes, p))
        sums.extend(await _pass(ctx, dut, list(range(p.rows)), 0))

    run(dut, bench)
    assert sums == crossbar_sums(codes, range(p.rows), p)[0].tolist()
    assert sums == codes.sum(0).tolist()


def test_banked_crossbar_sums_and_programming_match_the_contract():
    """A deep array in banks (here of 4 words: 11 banks, the last one short), behind the
    two-level output mux: the same sums, with the same latency, from the image and after
    the programming port rewrote every bank."""
    p = CoreParams(inputs=7, neurons=10, lanes=4, crossbar_bank_words=4)
    assert p.rows * p.groups == 51
    rng = np.random.default_rng(1)
    codes = rng.integers(-255, 256, size=(p.rows, p.neurons))
    again = rng.integers(-255, 256, size=(p.rows, p.neurons))
    dut = Crossbar(p, crossbar_words(codes, p))
    passes = [[], list(range(p.rows))] + [
        sorted(int(r) for r in rng.choice(p.rows, rng.integers(1, 8), replace=False))
        for _ in range(8)]
    got, rewritten = [], []

    async def bench(ctx):
        for rows in passes:
            got.append([await _pass(ctx, dut, rows, g) for g in range(p.groups)])
        await _program(ctx, dut, crossbar_words(again, p))
        for rows in passes:
            rewritten.append([await _pass(ctx, dut, rows, g) for g in range(p.groups)])

    run(dut, bench)
    for rows, sums, sums2 in zip(passes, got, rewritten, strict=True):
        assert sums == crossbar_sums(codes, rows, p).tolist(), rows
        assert sums2 == crossbar_sums(again, rows, p).tolist(), rows


def test_crossbar_bank_depth_follows_the_block_ram_geometry():
    assert CoreParams(lanes=4, weight_bits=9).bank_words == 512      # 36-bit words
    assert CoreParams(lanes=16, weight_bits=9).bank_words == 512     # 144 bits: 4 side by side
    assert CoreParams(lanes=2, weight_bits=9).bank_words == 1024
    # The configuration with the fewest blocks for the whole array (456 rows x 200 columns
    # by default), not the narrowest that holds one word: 5-bit cells in 1-bit-wide blocks
    # take 5 x 6 = 30 blocks, in 9-bit-wide ones 45.
    assert CoreParams(lanes=1, weight_bits=5).bank_words == 16384
    assert CoreParams(lanes=1, weight_bits=3).bank_words == 16384    # 3 x 6 = 18, not 23
    assert CoreParams(lanes=4, weight_bits=4).bank_words == 1024     # the 25F's: 23 blocks
    # A crossbar wider than the LIF bank: its own words (80 bits, 456 x 10 deep) decide.
    assert CoreParams(lanes=4, weight_bits=4, crossbar_lanes=20).bank_words == 1024  # 25
    assert CoreParams(lanes=32, weight_bits=4).bank_words == 512     # 4 x 7 = 28, not 32
    assert CoreParams(crossbar_bank_words=64).bank_words == 64
    with pytest.raises(ValueError, match="crossbar_bank_words must be a power of two"):
        CoreParams(crossbar_bank_words=48)
