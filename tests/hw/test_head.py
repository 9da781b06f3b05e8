"""Head and classifier against their golden twins (:mod:`rramlsm.hw.reference`)."""

import dataclasses

import numpy as np
import pytest

from rramlsm.hw.head import MAC_STAGES, SCAN_STAGES, Classifier, Head
from rramlsm.hw.macro import Macro
from rramlsm.hw.params import CoreParams, head_bias_words, head_weight_words, prototype_words
from rramlsm.hw.reference import classify, head_embedding
from rramlsm.hw.verilog import lint, write_verilog
from tests.hw.hw_support import random_head, run


async def _head_pass(ctx, dut, counts, p):
    """One head pass on ``counts``, its count port served like the LIF bank's (data for the
    previous cycle's address); the embedding read back through ``emb``."""
    ctx.set(dut.ctrl.start, 1)
    await ctx.tick()
    ctx.set(dut.ctrl.start, 0)
    prev = 0
    while True:
        for k in range(p.lanes):
            i = prev * p.lanes + k
            ctx.set(dut.counts.data[k], int(counts[i]) if i < p.neurons else 0)
        prev = ctx.get(dut.counts.addr)
        await ctx.tick()
        if ctx.get(dut.ctrl.done):
            break
    emb = []
    for d in range(p.dim):
        ctx.set(dut.emb.addr, d)
        await ctx.tick()
        emb.append(int(ctx.get(dut.emb.data)))
    return emb


def _head(p, layer):
    return Head(p, {"weight": head_weight_words(layer.weight, p),
                    "bias": head_bias_words(layer.bias, p),
                    "lut": [int(x) & 0xFF for x in layer.lut]})


def test_head_and_classifier_match_the_integer_model():
    rng = np.random.default_rng(2)
    p = CoreParams(inputs=1, neurons=10, lanes=4, dim=6, head_lanes=4, classes=5)
    ih, counts = random_head(rng, 10, 6)
    layer = ih.layers[0]
    protos = rng.integers(-127, 128, size=(5, 6))
    protos[3] = protos[1]        # a tie: the lower row must win
    dut_head = _head(p, layer)
    samples = [np.zeros(10, np.uint8), np.full(10, 255, np.uint8), *counts[:6]]
    got_emb = []

    async def head_bench(ctx):
        ctx.set(dut_head.shift, layer.shift)
        for c in samples:
            got_emb.append(await _head_pass(ctx, dut_head, c, p))

    run(dut_head, head_bench)
    for c, emb in zip(samples, got_emb, strict=True):
        want = head_embedding(c, layer.weight, layer.bias, layer.shift, layer.lut)
        assert want.tolist() == ih(c[None])[0].tolist()      # the twin is the integer model
        assert emb == want.tolist()

    embs = [np.array(e) for e in got_emb] + [np.zeros(6, int), protos[1]]
    # All 5 classes in parallel; 2 lanes (3 groups, the last one part-filled); 1 lane.
    for class_lanes in (0, 2, 1):
        pc = dataclasses.replace(p, class_lanes=class_lanes)
        dut_cls = Classifier(pc, prototype_words(protos, pc))
        picks = []

        async def cls_bench(ctx, dut_cls=dut_cls, picks=picks):
            for e in embs:
                ctx.set(dut_cls.ctrl.start, 1)
                await ctx.tick()
                ctx.set(dut_cls.ctrl.start, 0)
                prev, cycles = 0, 1  # the embedding port answers one cycle after its address
                while not ctx.get(dut_cls.ctrl.done):
                    ctx.set(dut_cls.emb.data, int(e[prev]) if prev < 6 else 0)
                    prev = ctx.get(dut_cls.emb.addr)
                    await ctx.tick()
                    cycles += 1
                picks.append((int(ctx.get(dut_cls.best)), int(ctx.get(dut_cls.score)), cycles))

        run(dut_cls, cls_bench)
        for e, (best, score, cycles) in zip(embs, picks, strict=True):
            assert (best, score) == classify(e, protos)
            # The documented count: G * (dim + MAC_STAGES + 1 + SCAN_STAGES) + classes + 1,
            # and one more for the start cycle.
            assert cycles == (pc.class_groups * (6 + MAC_STAGES + 1 + SCAN_STAGES) + 5 + 1 + 1
                              ), class_lanes


def test_head_with_one_block_of_outputs():
    """dim <= head lanes: one block, whose bias address would be zero bits wide."""
    rng = np.random.default_rng(4)
    p = CoreParams(inputs=1, neurons=5, lanes=4, dim=3, head_lanes=4, classes=2)
    ih, counts = random_head(rng, 5, 3)
    layer = ih.layers[0]
    dut = _head(p, layer)
    got = []

    async def bench(ctx):
        ctx.set(dut.shift, layer.shift)
        for c in counts[:4]:
            got.append(await _head_pass(ctx, dut, c, p))

    run(dut, bench)
    assert got == ih(counts[:4]).tolist()


@pytest.mark.parametrize("dim,head_lanes", [(16, 16), (3, 4)])
def test_macro_with_one_head_block_lints_clean(tmp_path, dim, head_lanes):
    """A head of at most head_lanes outputs once wrote a [-1:0] bias address, which
    Verilator's lint rejects (ASCRANGE)."""
    p = CoreParams(inputs=8, neurons=12, lanes=4, dim=dim, head_lanes=head_lanes, classes=3)
    assert p.head_blocks == 1
    lint(write_verilog(Macro({"audio": p}), tmp_path / "macro.v"))
