"""Helpers of the block and core tests: simulator runs, small random bundles and checks."""

from __future__ import annotations

import numpy as np
from amaranth.sim import Simulator

from rramlsm.hw.cycles import predict
from rramlsm.sw.bundle import ModalityBundle, quantize_prototypes
from rramlsm.sw.golden import IntegerLSM, golden_counts
from rramlsm.sw.heads import HeadConfig, ProjectionHead, quantize_head


def run(dut, bench, clock: bool = True, domains: tuple[str, ...] = ()):
    """Run one async testbench on ``dut`` (clocked at 100 MHz unless ``clock`` is False;
    ``domains``: more clock domains, with edges at the same instants as sync's)."""
    sim = Simulator(dut)
    if clock:
        sim.add_clock(1e-8)
    for domain in domains:
        sim.add_clock(1e-8, domain=domain)
    sim.add_testbench(bench)
    sim.run()


def random_head(rng, n, dim, hidden=()):
    import torch

    torch.manual_seed(int(rng.integers(1 << 30)))
    head = ProjectionHead(HeadConfig(inputs=n, dim=dim, hidden=hidden))
    counts = rng.integers(0, 60, size=(50, n)).astype(np.uint8)
    return quantize_head(head, counts, scale=50), counts


def small_bundle(rng, *, inputs=12, neurons=10, steps=8, dim=6, classes=3, noise=0,
                 decay_q=900, theta=150, adc_bits=8, shift=1, windows=1, levels=256,
                 readout="count", trace_shift=4):
    """A random bundle; with ``levels`` < 256, device codes over the whole range
    ``0..levels-1``, both extreme differences ``+-(levels-1)`` included."""
    rows = inputs + neurons
    lo, hi = (40, 140) if levels == 256 else (0, levels)
    pos = rng.integers(lo, hi, size=(rows, neurons)).astype(np.uint8)
    neg = rng.integers(lo, hi, size=(rows, neurons)).astype(np.uint8)
    if levels < 256:
        pos[0, 0], neg[0, 0], pos[1, 1], neg[1, 1] = levels - 1, 0, 0, levels - 1
    lsm = IntegerLSM(pos, neg, inputs, neurons, steps, decay_q, theta, adc_bits, shift, noise, 5,
                     windows, levels, readout, trace_shift)
    ih, _ = random_head(rng, windows * neurons, dim)
    protos = quantize_prototypes(rng.normal(size=(classes, dim)))
    return ModalityBundle(lsm, ih, protos, np.arange(1, classes + 1) * 2)


def expect(mb, frames, first_sample=0):
    """The golden model's counts, embeddings, labels and best scores."""
    counts = golden_counts(mb.lsm, frames, first_sample=first_sample)
    return counts, mb.embed(counts), mb.classify(counts), mb.scores(counts).max(1)


def check(results, mb, frames, params, first_sample=0, first_ready=False, **predict_kw):
    """Core results against the golden model, and their cycles against the cycle model."""
    counts, emb, labels, scores = expect(mb, frames, first_sample)
    _, trains = golden_counts(mb.lsm, frames, first_sample=first_sample, record=True)
    assert len(results) == len(frames)
    for n, r in enumerate(results):
        if r.counts:
            assert r.counts == counts[n].tolist(), n
            assert r.embedding == emb[n].tolist(), n
        assert (r.label, r.score) == (int(labels[n]), int(scores[n])), n
        ready = first_ready and n == 0
        assert r.cycles == predict(frames[n], trains[n], params, ready_core=ready,
                                   **predict_kw), n


def random_frames(rng, n, steps, inputs, p=0.3):
    """Random binary frames; the first sample empty, the second full, the third with
    empty steps."""
    x = (rng.random((n, steps, inputs)) < p).astype(np.uint8)
    x[0] = 0                          # no input at all
    if n > 1:
        x[1] = 1                      # every input, every step
    if n > 2:
        x[2, ::2] = 0                 # alternate empty steps
    return x


def check_early_eos(mb, img, frames, bins: int, *, abort_midway: bool = False) -> None:
    """Each sample sent with ``EOS`` after its first ``bins`` bins (the remaining steps run
    without input): counts and cycles as the golden and cycle models say.  ``abort_midway``:
    the host aborts halfway through the first sample's words and sends it again (the abort
    must leave nothing behind)."""
    from rramlsm.hw.core import InKind, LSMCore
    from rramlsm.hw.program import encode_frames
    from rramlsm.hw.sim import simulate_core

    short = frames.copy()
    short[:, bins:] = 0
    early = [encode_frames(f[:bins])[:-2] + [(InKind.EOS, 0)] for f in frames]
    res = simulate_core(LSMCore(img.params, img.init()), img.registers, early,
                        **({"abort_after": len(early[0]) // 2} if abort_midway else {}))
    counts, trains = golden_counts(mb.lsm, short, record=True)
    assert [r.counts for r in res] == counts.tolist()
    for n, r in enumerate(res):
        assert r.cycles == predict(short[n, :bins], trains[n], img.params, early_eos=True), n
