"""Read noise, column ADC and LIF bank against their golden twins (:mod:`rramlsm.hw.reference`)."""

import numpy as np
import pytest

from rramlsm.hw.params import CoreParams
from rramlsm.hw.periphery import ADC, LIFBank, ReadNoise
from rramlsm.hw.reference import LIFBankModel, adc_codes, read_noise
from rramlsm.sw import contract
from tests.hw.hw_support import run


@pytest.mark.parametrize("bits", [1, 6, 10])
def test_adc_matches_the_contract(bits):
    p = CoreParams(inputs=1, neurons=4, lanes=4, adc_bits=bits)
    dut = ADC(p)
    rng = np.random.default_rng(bits)
    cases = [(rng.integers(-(1 << 20), 1 << 20, 4), int(rng.integers(0, 21))) for _ in range(60)]
    cases += [([(1 << 20) - 1, -(1 << 20), 0, -1], 0), ([5, -5, 1, -1], 20)]

    async def bench(ctx):
        for sums, shift in cases:
            for k in range(4):
                ctx.set(dut.sums[k], int(sums[k]))
            ctx.set(dut.shift, shift)
            await ctx.delay(1e-9)
            got = [int(ctx.get(dut.codes[k])) for k in range(4)]
            assert got == adc_codes(sums, bits, shift).tolist(), (sums, shift)

    run(dut, bench, clock=False)


def test_read_noise_matches_the_contract():
    p = CoreParams(inputs=1, neurons=10, lanes=4, noise=True)
    dut = ReadNoise(p)
    rng = np.random.default_rng(1)

    async def bench(ctx):
        for _ in range(40):
            seed, sample = int(rng.integers(0, 1 << 32)), int(rng.integers(0, 1 << 20))
            step, g, amp = int(rng.integers(0, 256)), int(rng.integers(0, 3)), int(
                rng.integers(0, 1 << 16))
            for name, v in (("seed", seed), ("sample", sample), ("step", step), ("group", g),
                            ("amplitude", amp)):
                ctx.set(getattr(dut, name), v)
            await ctx.delay(1e-9)
            got = [int(ctx.get(dut.noise[k])) for k in range(4)]
            assert got == read_noise(seed, sample, step, g, amp, p).tolist()

    run(dut, bench, clock=False)


@pytest.mark.parametrize("decay_q,theta", [(922, 300), (1023, contract.MEMBRANE_MAX), (0, 1),
                                           (512, 64)])
def test_lif_bank_matches_the_contract(decay_q, theta):
    p = CoreParams(inputs=1, neurons=6, lanes=4, adc_bits=10)   # 2 groups, last one half full
    dut = LIFBank(p)
    rng = np.random.default_rng(decay_q)
    # Saturating drive for the largest threshold, so the membrane clamps at MEMBRANE_MAX
    # (about 300 steps of the largest code at decay 1023/1024).
    steps = 400 if theta == contract.MEMBRANE_MAX else 40
    hi = 511 if theta == contract.MEMBRANE_MAX else 200
    codes = rng.integers(-150, hi + 1, size=(steps, 8))
    codes[:, :] = np.where(theta == contract.MEMBRANE_MAX, 511, codes)
    masks, counts = [], []

    async def bench(ctx):
        ctx.set(dut.decay_q, decay_q)
        ctx.set(dut.threshold_q, theta)
        ctx.set(dut.clear, 1)
        await ctx.tick()
        ctx.set(dut.clear, 0)
        await ctx.tick().until(~dut.busy)
        for t in range(steps):
            for g in range(2):
                ctx.set(dut.upd_valid, 1)
                ctx.set(dut.upd_group, g)
                for k in range(4):
                    ctx.set(dut.upd_codes[k], int(codes[t, g * 4 + k]))
                await ctx.tick()
                ctx.set(dut.upd_valid, 0)
                mask, = await ctx.tick().sample(dut.spk_mask).until(dut.spk_valid)
                masks.append(int(mask))
        for g in range(2):
            ctx.set(dut.counts.addr, g)
            await ctx.tick()
            counts.extend(int(c) for c in ctx.get(dut.counts.data))

    run(dut, bench)
    model = LIFBankModel(p, decay_q, theta)
    for t in range(steps):
        # The padding lanes (codes 6, 7) are driven too; they must never spike.
        assert masks[2 * t : 2 * t + 2] == model.step(codes[t]), t
    assert counts[:6] == model.counts.tolist()
    if theta == contract.MEMBRANE_MAX:
        assert model.counts.min() > 0   # reached only through saturation at MEMBRANE_MAX


def test_lif_bank_counter_bank_counts_per_window_without_clearing():
    """W = 3 windows of unequal length (the bank does not care): each update counts into
    its window; a window's first step starts its counter afresh, so a second sample after
    ``clear`` (which clears window 0 only) counts from zero in every window."""
    p = CoreParams(inputs=1, neurons=6, lanes=4, adc_bits=10, windows=3)
    dut = LIFBank(p)
    rng = np.random.default_rng(3)
    plan = [0] * 4 + [1] * 3 + [2] * 5
    codes = rng.integers(-100, 300, size=(2, len(plan), 8))
    masks, counts = [], []

    async def bench(ctx):
        ctx.set(dut.decay_q, 900)
        ctx.set(dut.threshold_q, 300)
        for sample in range(2):
            ctx.set(dut.clear, 1)
            await ctx.tick()
            ctx.set(dut.clear, 0)
            await ctx.tick().until(~dut.busy)
            for t, w in enumerate(plan):
                for g in range(2):
                    ctx.set(dut.upd_valid, 1)
                    ctx.set(dut.upd_group, g)
                    ctx.set(dut.upd_window, w)
                    ctx.set(dut.upd_fresh, t == 0 or plan[t - 1] != w)
                    for k in range(4):
                        ctx.set(dut.upd_codes[k], int(codes[sample, t, g * 4 + k]))
                    await ctx.tick()
                    ctx.set(dut.upd_valid, 0)
                    mask, = await ctx.tick().sample(dut.spk_mask).until(dut.spk_valid)
                    masks.append(int(mask))
            got = []
            for w in range(3):
                for g in range(2):
                    # Counter word: window in the high bits, group (1 bit) in the low.
                    ctx.set(dut.counts.addr, w * 2 + g)
                    await ctx.tick()
                    got.append([int(c) for c in ctx.get(dut.counts.data)])
            counts.append(got)

    run(dut, bench)
    assert p.count_words == 6
    for sample in range(2):
        model = LIFBankModel(p, 900, 300)
        for t, w in enumerate(plan):
            at = 2 * (sample * len(plan) + t)
            assert masks[at: at + 2] == model.step(codes[sample, t], w), (sample, t)
        got = np.array(counts[sample]).reshape(3, 8)[:, :6].reshape(-1)
        assert got.tolist() == model.counts.tolist(), sample
        assert model.counts.reshape(3, 6).sum(1).min() > 0      # every window counted
