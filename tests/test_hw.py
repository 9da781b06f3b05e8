"""The Amaranth RTL against the golden model, block by block and end to end (Amaranth simulator)."""

import dataclasses

import numpy as np
import pytest
from amaranth.sim import Simulator

from rramlsm.hw.core import InKind, LSMCore, OutKind, ProgTarget
from rramlsm.hw.crossbar import Crossbar
from rramlsm.hw.cycles import event_bound, fixed_overhead, predict
from rramlsm.hw.head import MAC_STAGES, Classifier, Head
from rramlsm.hw.params import (
    CoreParams,
    crossbar_words,
    head_bias_words,
    head_weight_words,
    prototype_words,
)
from rramlsm.hw.periphery import ADC, LIFBank, ReadNoise
from rramlsm.hw.program import core_image, encode_frames
from rramlsm.hw.sim import simulate_core
from rramlsm.sw import contract
from rramlsm.sw.bundle import ModalityBundle, quantize_prototypes
from rramlsm.sw.golden import IntegerLSM, golden_counts
from rramlsm.sw.heads import HeadConfig, ProjectionHead, quantize_head


def _run(dut, bench):
    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()


# -- Blocks ----------------------------------------------------------------------------------

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
            for g in range(p.groups):
                seq = rows or [0]
                for j, r in enumerate(seq):
                    ctx.set(dut.rd_valid, 1)
                    ctx.set(dut.rd_row, r)
                    ctx.set(dut.rd_group, g)
                    ctx.set(dut.rd_first, j == 0)
                    ctx.set(dut.rd_last, j == len(seq) - 1)
                    ctx.set(dut.rd_empty, not rows)
                    await ctx.tick()
                ctx.set(dut.rd_valid, 0)
                (sums,), = [await ctx.tick().sample(dut.sums).until(dut.sum_valid)]
                got.append([int(s) for s in sums])

    _run(dut, bench)
    k = 0
    padded = np.zeros((p.rows, p.groups * p.lanes), np.int64)
    padded[:, : p.neurons] = codes
    for rows in passes:
        expect = padded[rows].sum(0) if rows else np.zeros(p.groups * p.lanes, np.int64)
        for g in range(p.groups):
            assert got[k] == expect[g * p.lanes : (g + 1) * p.lanes].tolist()
            k += 1


def test_crossbar_programming_port_rewrites_words():
    p = CoreParams(inputs=3, neurons=4, lanes=4)
    dut = Crossbar(p, crossbar_words(np.ones((p.rows, 4), int), p))
    new = crossbar_words(-np.arange(p.rows * 4).reshape(p.rows, 4) % 255, p)
    sums = []

    async def bench(ctx):
        for addr, word in enumerate(new):
            ctx.set(dut.prog_en, 1)
            ctx.set(dut.prog_addr, addr)
            ctx.set(dut.prog_data, word)
            await ctx.tick()
        ctx.set(dut.prog_en, 0)
        for r in range(p.rows):
            ctx.set(dut.rd_valid, 1)
            ctx.set(dut.rd_row, r)
            ctx.set(dut.rd_first, r == 0)
            ctx.set(dut.rd_last, r == p.rows - 1)
            await ctx.tick()
        ctx.set(dut.rd_valid, 0)
        (s,), = [await ctx.tick().sample(dut.sums).until(dut.sum_valid)]
        sums.extend(int(x) for x in s)

    _run(dut, bench)
    assert sums == (-np.arange(p.rows * 4).reshape(p.rows, 4) % 255).sum(0).tolist()


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
            assert got == contract.adc(sums, bits, shift).tolist(), (sums, shift)

    sim = Simulator(dut)
    sim.add_testbench(bench)
    sim.run()


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
            cols = np.arange(g * 4, g * 4 + 4)
            assert got == contract.read_noise(seed, sample, step, cols, amp).tolist()

    sim = Simulator(dut)
    sim.add_testbench(bench)
    sim.run()


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
            ctx.set(dut.cnt_addr, g)
            await ctx.tick()
            counts.extend(int(c) for c in ctx.get(dut.cnt_data))

    _run(dut, bench)
    v, s = np.zeros(8, np.int64), np.zeros(8, bool)
    total = np.zeros(8, np.int64)
    for t in range(steps):
        v, s = contract.lif_step(v, s, codes[t], decay_q, theta)
        total += s
        for g in range(2):
            lanes = [bool(x) for x in s[g * 4 : g * 4 + 4]]
            if g == 1:
                lanes[2:] = [False, False]                 # padding lanes never spike
            assert masks[2 * t + g] == sum(b << k for k, b in enumerate(lanes)), (t, g)
    assert counts[:6] == np.minimum(total, 255)[:6].tolist()
    if theta == contract.MEMBRANE_MAX:
        assert total[:6].min() > 0   # reached only through saturation at MEMBRANE_MAX


def _random_head(rng, n, dim, hidden=()):
    import torch

    torch.manual_seed(int(rng.integers(1 << 30)))
    head = ProjectionHead(HeadConfig(inputs=n, dim=dim, hidden=hidden))
    counts = rng.integers(0, 60, size=(50, n)).astype(np.uint8)
    return quantize_head(head, counts, steps=50), counts


def test_head_and_classifier_match_the_integer_model():
    rng = np.random.default_rng(2)
    p = CoreParams(inputs=1, neurons=10, lanes=4, dim=6, head_lanes=4, classes=5)
    ih, counts = _random_head(rng, 10, 6)
    layer = ih.layers[0]
    protos = rng.integers(-127, 128, size=(5, 6))
    protos[3] = protos[1]        # a tie: the lower row must win
    dut_head = Head(p, {"weight": head_weight_words(layer.weight, p),
                        "bias": head_bias_words(layer.bias, p),
                        "lut": [int(x) & 0xFF for x in layer.lut]})
    samples = [np.zeros(10, np.uint8), np.full(10, 255, np.uint8), *counts[:6]]
    got_emb = []

    async def head_bench(ctx):
        ctx.set(dut_head.shift, layer.shift)
        for c in samples:
            ctx.set(dut_head.start, 1)
            await ctx.tick()
            ctx.set(dut_head.start, 0)
            # Serve the count port like the LIF bank: data for the previous cycle's address.
            prev = 0
            while True:
                for k in range(4):
                    i = prev * 4 + k
                    ctx.set(dut_head.cnt_data[k], int(c[i]) if i < 10 else 0)
                prev = ctx.get(dut_head.cnt_addr)
                await ctx.tick()
                if ctx.get(dut_head.done):
                    break
            emb = []
            for d in range(6):
                ctx.set(dut_head.emb_addr, d)
                await ctx.tick()
                emb.append(int(ctx.get(dut_head.emb_data)))
            got_emb.append(emb)

    _run(dut_head, head_bench)
    for c, emb in zip(samples, got_emb, strict=True):
        assert emb == ih(c[None])[0].tolist()

    embs = [np.array(e) for e in got_emb] + [np.zeros(6, int), protos[1]]
    # All 5 classes in parallel; 2 lanes (3 groups, the last one part-filled); 1 lane.
    for class_lanes in (0, 2, 1):
        pc = dataclasses.replace(p, class_lanes=class_lanes)
        dut_cls = Classifier(pc, prototype_words(protos, pc))
        picks = []

        async def cls_bench(ctx, dut_cls=dut_cls, picks=picks):
            for e in embs:
                ctx.set(dut_cls.start, 1)
                await ctx.tick()
                ctx.set(dut_cls.start, 0)
                prev, cycles = 0, 1  # the embedding port answers one cycle after its address
                while not ctx.get(dut_cls.done):
                    ctx.set(dut_cls.emb_data, int(e[prev]) if prev < 6 else 0)
                    prev = ctx.get(dut_cls.emb_addr)
                    await ctx.tick()
                    cycles += 1
                picks.append((int(ctx.get(dut_cls.best)), int(ctx.get(dut_cls.score)), cycles))

        _run(dut_cls, cls_bench)
        for e, (best, score, cycles) in zip(embs, picks, strict=True):
            scores = np.asarray(e, np.int64) @ protos.T
            assert best == int(contract.argmax_first(scores)) and score == scores.max()
            # The documented count: G * (dim + MAC_STAGES + 1) + classes + 1, and one
            # more for the start cycle.
            assert cycles == pc.class_groups * (6 + MAC_STAGES + 1) + 5 + 1 + 1, class_lanes


# -- The core, end to end ----------------------------------------------------------------------

def _small_bundle(rng, *, inputs=12, neurons=10, steps=8, dim=6, classes=3, noise=0,
                  decay_q=900, theta=150, adc_bits=8, shift=1):
    rows = inputs + neurons
    pos = rng.integers(40, 140, size=(rows, neurons)).astype(np.uint8)
    neg = rng.integers(40, 140, size=(rows, neurons)).astype(np.uint8)
    lsm = IntegerLSM(pos, neg, inputs, neurons, steps, decay_q, theta, adc_bits, shift, noise, 5)
    ih, _ = _random_head(rng, neurons, dim)
    protos = quantize_prototypes(rng.normal(size=(classes, dim)))
    return ModalityBundle(lsm, ih, protos, np.arange(1, classes + 1) * 2)


def _expect(mb, frames, first_sample=0):
    counts = golden_counts(mb.lsm, frames, first_sample=first_sample)
    return counts, mb.embed(counts), mb.classify(counts), mb.scores(counts).max(1)


def _check(results, mb, frames, params, first_sample=0, first_ready=False, **predict_kw):
    counts, emb, labels, scores = _expect(mb, frames, first_sample)
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


def _frames(rng, n, steps, inputs, p=0.3):
    x = (rng.random((n, steps, inputs)) < p).astype(np.uint8)
    x[0] = 0                          # no input at all
    if n > 1:
        x[1] = 1                      # every input, every step
    if n > 2:
        x[2, ::2] = 0                 # alternate empty steps
    return x


@pytest.mark.parametrize("lanes,idle,stall,class_lanes", [
    (4, 0.0, 0.0, 0), (3, 0.3, 0.5, 0), (16, 0.1, 0.2, 0), (4, 0.0, 0.0, 2)])
def test_core_equals_golden_model(lanes, idle, stall, class_lanes):
    rng = np.random.default_rng(lanes)
    mb = _small_bundle(rng)
    img = core_image(mb, lanes=lanes, head_lanes=4, class_lanes=class_lanes)
    frames = _frames(rng, 5, 8, 12)
    res = simulate_core(LSMCore(img.params, img.init()), img.registers,
                        [encode_frames(f) for f in frames], idle=idle, stall=stall, seed=lanes)
    if idle == 0:
        _check(res, mb, frames, img.params)
    else:
        # Idle input cycles cost cycles; the results are the same.
        counts, emb, labels, _ = _expect(mb, frames)
        assert [r.counts for r in res] == counts.tolist()
        assert [r.label for r in res] == labels.tolist()


@pytest.mark.parametrize("lanes,stall,first_gap", [(4, 0.0, 3), (3, 0.5, 0), (16, 0.3, 40)])
def test_cycle_model_is_exact_with_input_gaps_and_output_back_pressure(lanes, stall,
                                                                        first_gap):
    """The RTL's CYCLES word against :func:`predict` given the host's idle cycles: short
    gaps everywhere, long ones now and then (the engine waits for the loader), the first
    word before, during and after the clearing, and a stalled output."""
    rng = np.random.default_rng(20 + lanes)
    mb = _small_bundle(rng)
    img = core_image(mb, lanes=lanes, head_lanes=4)
    frames = _frames(rng, 4, 8, 12)
    words = [encode_frames(f) for f in frames]
    gaps = [(rng.geometric(0.6, len(w)) - 1 + 25 * (rng.random(len(w)) < 0.05)).tolist()
            for w in words]
    gaps[0][0] = first_gap
    for g in gaps[1:]:
        g[0] = 0          # sent at once: the word waits for the core's START
    res = simulate_core(LSMCore(img.params, img.init()), img.registers, words, gaps=gaps,
                        stall=stall, seed=lanes)
    counts, _, labels, _ = _expect(mb, frames)
    assert [r.counts for r in res] == counts.tolist()
    assert [r.label for r in res] == labels.tolist()
    _, trains = golden_counts(mb.lsm, frames, record=True)
    for n, r in enumerate(res):
        assert r.cycles == predict(frames[n], trains[n], img.params, gaps=gaps[n]), n
    # The gaps cost cycles: without them the model (and the RTL) count fewer.
    assert sum(r.cycles for r in res) > sum(
        predict(f, s, img.params) for f, s in zip(frames, trains, strict=True))
    with pytest.raises(ValueError, match="one count >= 0 per input word"):
        predict(frames[0], trains[0], img.params, gaps=gaps[0][:-1])


def test_core_corner_cases_t1_saturated_counts_and_clipping_adc():
    rng = np.random.default_rng(7)
    # T = 1; then T = 255 with threshold 1: every neuron spikes every step whose
    # input drives it: counters reach their maximum; a 3-bit ADC clips hard.
    for kw in (dict(steps=1), dict(steps=255, theta=1, decay_q=1023, adc_bits=3, shift=0)):
        mb = _small_bundle(rng, **kw)
        img = core_image(mb, lanes=4, head_lanes=4)
        frames = _frames(rng, 3, kw["steps"], 12, 0.5)
        res = simulate_core(LSMCore(img.params, img.init()), img.registers,
                            [encode_frames(f) for f in frames])
        _check(res, mb, frames, img.params)
    assert max(max(r.counts) for r in res) == 255


def test_core_read_noise_mode():
    rng = np.random.default_rng(11)
    mb = _small_bundle(rng, noise=900)
    img = core_image(mb, lanes=4, head_lanes=4)
    assert img.params.noise
    frames = _frames(rng, 4, 8, 12)
    res = simulate_core(LSMCore(img.params, img.init()), img.registers,
                        [encode_frames(f) for f in frames])
    _check(res, mb, frames, img.params)     # sample k uses noise index k
    quiet = _expect(_small_bundle(np.random.default_rng(11)), frames)[0]
    assert [r.counts for r in res] != quiet.tolist()


def test_core_stream_protocol_duplicates_bad_rows_early_eos_and_extra_bins():
    rng = np.random.default_rng(3)
    mb = _small_bundle(rng)
    img = core_image(mb, lanes=4, head_lanes=4)
    frames = _frames(rng, 3, 8, 12)
    words = []
    for f in frames:
        w = encode_frames(f)
        # every event twice, plus a row past the inputs (ignored)
        w = [x for ev in w for x in ([ev, ev] if ev[0] == InKind.EVENT else [ev])]
        words.append([(InKind.EVENT, 40)] + w)
    core = LSMCore(img.params, img.init())
    res = simulate_core(core, img.registers, words)
    counts = _expect(mb, frames)[0]
    assert [r.counts for r in res] == counts.tolist()
    # EOS after 5 bins: steps 5..7 run without input.
    short = frames.copy()
    short[:, 5:] = 0
    early = [encode_frames(f[:5])[:-2] + [(InKind.EOS, 0)] for f in frames]
    res = simulate_core(LSMCore(img.params, img.init()), img.registers, early)
    _, trains = golden_counts(mb.lsm, short, record=True)
    assert [r.counts for r in res] == _expect(mb, short)[0].tolist()
    for n, r in enumerate(res):
        assert r.cycles == predict(short[n, :5], trains[n], img.params, early_eos=True)
    # Two bins too many: their events are dropped, the result is that of the first T bins.
    extra = [encode_frames(np.concatenate([f, np.ones((2, 12), np.uint8)])) for f in frames]
    res = simulate_core(LSMCore(img.params, img.init()), img.registers, extra)
    assert [r.counts for r in res] == counts.tolist()


def test_core_abort_mid_sample_returns_to_idle_cleanly():
    rng = np.random.default_rng(5)
    mb = _small_bundle(rng, noise=500)
    img = core_image(mb, lanes=4, head_lanes=4)
    frames = _frames(rng, 3, 8, 12)
    words = [encode_frames(f) for f in frames]
    res = simulate_core(LSMCore(img.params, img.init()), img.registers, words,
                        abort_after=len(words[0]) // 2)
    _check(res, mb, frames, img.params)


def test_core_programming_path_and_reprogramming():
    rng = np.random.default_rng(9)
    first, second = _small_bundle(rng), _small_bundle(rng)
    img1 = core_image(first, lanes=4, head_lanes=4)
    img2 = core_image(second, lanes=4, head_lanes=4)
    frames = _frames(rng, 3, 8, 12)
    # An empty core programmed through the port computes the first bundle...
    res = simulate_core(LSMCore(img1.params), img1.registers, [encode_frames(f) for f in frames],
                        writes=list(img1.writes()))
    _check(res, first, frames, img1.params, first_ready=True)   # idle while programmed
    # ... and reprogrammed, the second one.
    res = simulate_core(LSMCore(img1.params, img1.init()), img2.registers,
                        [encode_frames(f) for f in frames], writes=list(img2.writes()))
    _check(res, second, frames, img2.params, first_ready=True)
    assert ProgTarget.CROSSBAR in img1.memories


def test_core_on_built_in_samples_at_paper_size(demo_run, digits, speech):
    from rramlsm.sw.bundle import load_bundle
    from rramlsm.sw.features import frame_dataset
    from rramlsm.sw.lsm import PRESETS

    bundle = load_bundle(demo_run / "bundle")
    for m, ds in (("visual", digits), ("audio", speech)):
        mb = bundle.modalities[m]
        img = core_image(mb, lanes=16, head_lanes=16)
        idx = np.flatnonzero(~ds.is_train)[:2]
        frames = frame_dataset(ds, PRESETS[m].replace(steps=mb.lsm.steps), idx)
        res = simulate_core(LSMCore(img.params, img.init()), img.registers,
                            [encode_frames(f) for f in frames])
        _check(res, mb, frames, img.params)
        _, trains = golden_counts(mb.lsm, frames, record=True)
        fixed = fixed_overhead(img.params, mb.lsm.steps)
        for n, r in enumerate(res):
            assert r.cycles <= 1.1 * event_bound(frames[n], trains[n], img.params) + fixed


def test_macro_register_bank_programming_and_modality_switch():
    from rramlsm.hw.host import ctrl_word, program_writes, register_writes
    from rramlsm.hw.macro import CORE_BASE, MAGIC, CoreReg, Macro, Reg
    from rramlsm.hw.sim import get, put

    rng = np.random.default_rng(21)
    mbs = {"visual": _small_bundle(rng), "audio": _small_bundle(rng, inputs=5, noise=300)}
    imgs = {m: core_image(mb, lanes=4, head_lanes=4) for m, mb in mbs.items()}
    # Empty memories and zero registers: everything arrives over the bus.
    dut = Macro({m: i.params for m, i in imgs.items()})
    frames = {"visual": _frames(rng, 2, 8, 12), "audio": _frames(rng, 2, 8, 5)}
    got = {"visual": [], "audio": []}
    reads = {}

    async def write(ctx, addr, data):
        ctx.set(dut.bus_addr, addr)
        ctx.set(dut.bus_wdata, data)
        ctx.set(dut.bus_we, 1)
        await ctx.tick()
        ctx.set(dut.bus_we, 0)

    async def read(ctx, addr):
        ctx.set(dut.bus_addr, addr)
        await ctx.tick()
        return int(ctx.get(dut.bus_rdata))

    async def bench(ctx):
        reads["id"] = await read(ctx, Reg.ID)
        for m, img in imgs.items():
            for a, d in register_writes(m, img.registers) + program_writes(m, img,
                                                                           dut.staging_bits):
                await write(ctx, a, d)
        reads["threshold"] = await read(ctx, CORE_BASE["audio"] + CoreReg.THRESHOLD_Q)
        for m in ("audio", "visual"):
            await write(ctx, Reg.CTRL, ctrl_word(m, dump=True))
            for f in frames[m]:
                for kind, row in encode_frames(f):
                    await put(ctx, dut.inp, kind=kind, row=row)
                counts = []
                while True:
                    kind, data, last = await get(ctx, dut.out, "kind", "data", "last")
                    if kind == OutKind.COUNT:
                        counts.append(int(data))
                    if kind == OutKind.CLASS:
                        label = int(data)
                    if last:
                        break
                got[m].append((counts, label))
        reads["samples"] = await read(ctx, CORE_BASE["visual"] + CoreReg.PERF_SAMPLES)

    _run(dut, bench)
    assert reads["id"] == MAGIC
    assert reads["threshold"] == imgs["audio"].registers["threshold_q"]
    assert reads["samples"] == 2
    for m, mb in mbs.items():
        counts, _, labels, _ = _expect(mb, frames[m])
        assert [c for c, _ in got[m]] == counts.tolist()
        assert [lab for _, lab in got[m]] == labels.tolist()


def test_rtl_command_writes_lint_clean_verilog(demo_run, tmp_path, capsys):
    from rramlsm.cli import main

    assert main(["rtl", "--bundle", str(demo_run / "bundle"), "--out", str(tmp_path)]) == 0
    text = (tmp_path / "rramlsm_macro.v").read_text()
    assert "module rramlsm_macro(" in text
    ports = (tmp_path / "PORTS.md").read_text()
    assert "| `inp__payload` | input | 18 |" in ports and "PROG_COMMIT" in ports
    assert "clean" in capsys.readouterr().out
    assert (tmp_path / "mem" / "audio" / "crossbar_pos.mem").exists()
