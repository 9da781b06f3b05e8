"""The core end to end against the golden model and the cycle model (Amaranth simulator)."""

import dataclasses
from types import SimpleNamespace

import numpy as np
import pytest

from rramlsm.hw.core import InKind, LSMCore, ProgTarget
from rramlsm.hw.cycles import event_bound, fixed_overhead, predict
from rramlsm.hw.program import core_image, encode_frames
from rramlsm.hw.sim import simulate_core
from rramlsm.sw import contract
from rramlsm.sw.bundle import load_bundle
from rramlsm.sw.features import frame_dataset
from rramlsm.sw.golden import golden_counts
from rramlsm.sw.lsm import PRESETS
from tests.hw.hw_support import check, check_early_eos, expect, random_frames, small_bundle


@pytest.mark.parametrize("lanes,idle,stall,class_lanes", [
    (4, 0.0, 0.0, 0), (3, 0.3, 0.5, 0), (16, 0.1, 0.2, 0), (4, 0.0, 0.0, 2)])
def test_core_equals_golden_model(lanes, idle, stall, class_lanes):
    rng = np.random.default_rng(lanes)
    mb = small_bundle(rng)
    img = core_image(mb, lanes=lanes, head_lanes=4, class_lanes=class_lanes)
    frames = random_frames(rng, 5, 8, 12)
    res = simulate_core(LSMCore(img.params, img.init()), img.registers,
                        [encode_frames(f) for f in frames], idle=idle, stall=stall, seed=lanes)
    if idle == 0:
        check(res, mb, frames, img.params)
    else:
        # Idle input cycles cost cycles; the results are the same.
        counts, emb, labels, _ = expect(mb, frames)
        assert [r.counts for r in res] == counts.tolist()
        assert [r.label for r in res] == labels.tolist()


@pytest.mark.parametrize("lanes,stall,first_gap", [(4, 0.0, 3), (3, 0.5, 0), (16, 0.3, 40)])
def test_cycle_model_is_exact_with_input_gaps_and_output_back_pressure(lanes, stall,
                                                                        first_gap):
    """The RTL's CYCLES word against :func:`predict` given the host's idle cycles: short
    gaps everywhere, long ones now and then (the engine waits for the loader), the first
    word before, during and after the clearing, and a stalled output."""
    rng = np.random.default_rng(20 + lanes)
    mb = small_bundle(rng)
    img = core_image(mb, lanes=lanes, head_lanes=4)
    frames = random_frames(rng, 4, 8, 12)
    words = [encode_frames(f) for f in frames]
    gaps = [(rng.geometric(0.6, len(w)) - 1 + 25 * (rng.random(len(w)) < 0.05)).tolist()
            for w in words]
    gaps[0][0] = first_gap
    for g in gaps[1:]:
        g[0] = 0          # sent at once: the word waits for the core's START
    res = simulate_core(LSMCore(img.params, img.init()), img.registers, words, gaps=gaps,
                        stall=stall, seed=lanes)
    counts, _, labels, _ = expect(mb, frames)
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
        mb = small_bundle(rng, **kw)
        img = core_image(mb, lanes=4, head_lanes=4)
        frames = random_frames(rng, 3, kw["steps"], 12, 0.5)
        res = simulate_core(LSMCore(img.params, img.init()), img.registers,
                            [encode_frames(f) for f in frames])
        check(res, mb, frames, img.params)
    assert max(max(r.counts) for r in res) == 255


def test_core_read_noise_mode():
    rng = np.random.default_rng(11)
    mb = small_bundle(rng, noise=900)
    img = core_image(mb, lanes=4, head_lanes=4)
    assert img.params.noise
    frames = random_frames(rng, 4, 8, 12)
    res = simulate_core(LSMCore(img.params, img.init()), img.registers,
                        [encode_frames(f) for f in frames])
    check(res, mb, frames, img.params)     # sample k uses noise index k
    quiet = expect(small_bundle(np.random.default_rng(11)), frames)[0]
    assert [r.counts for r in res] != quiet.tolist()


def test_core_stream_protocol_duplicates_bad_rows_early_eos_and_extra_bins():
    rng = np.random.default_rng(3)
    mb = small_bundle(rng)
    img = core_image(mb, lanes=4, head_lanes=4)
    frames = random_frames(rng, 3, 8, 12)
    words = []
    for f in frames:
        w = encode_frames(f)
        # every event twice, plus a row past the inputs (ignored)
        w = [x for ev in w for x in ([ev, ev] if ev[0] == InKind.EVENT else [ev])]
        words.append([(InKind.EVENT, 40)] + w)
    core = LSMCore(img.params, img.init())
    res = simulate_core(core, img.registers, words)
    counts = expect(mb, frames)[0]
    assert [r.counts for r in res] == counts.tolist()
    # EOS after 5 bins: steps 5..7 run without input.
    check_early_eos(mb, img, frames, 5)
    # Two bins too many: their events are dropped, the result is that of the first T bins.
    extra = [encode_frames(np.concatenate([f, np.ones((2, 12), np.uint8)])) for f in frames]
    res = simulate_core(LSMCore(img.params, img.init()), img.registers, extra)
    assert [r.counts for r in res] == counts.tolist()


def test_core_drops_duplicates_one_two_and_many_words_apart():
    """The loader's duplicate check against the words still in its registers and the seen
    bitmap: each bin repeats its rows two words behind their first copy, right behind that
    and after all of them, over 40 inputs (a bitmap wider than one 16-bit slice, so the
    two-level read of it, the slice and then the bit, is covered across slices)."""
    rng = np.random.default_rng(31)
    mb = small_bundle(rng, inputs=40)
    img = core_image(mb, lanes=4, head_lanes=4)
    frames = random_frames(rng, 3, 8, 40)
    words = []
    for f in frames:
        # encode_frames: each bin's EVENT words, then its marker.
        out, evs = [], []
        for w in encode_frames(f):
            if w[0] == InKind.EVENT:
                evs.append(w)
                continue
            for i, ev in enumerate(evs):
                # ev, another word (a duplicate from further back, or a row past the
                # inputs), ev two words after its first copy, ev right behind that.
                out += [ev, evs[i - 1] if i else (InKind.EVENT, 45), ev, ev]
            out += evs + [w]
            evs = []
        words.append(out)
    res = simulate_core(LSMCore(img.params, img.init()), img.registers, words)
    assert [r.counts for r in res] == expect(mb, frames)[0].tolist()


@pytest.mark.parametrize("neurons", [4, 8])
def test_core_accum_flags_on_lists_of_none_one_and_two_rows(neurons):
    """ACCUM's last-row and empty flags, registered a cycle ahead of it: bins of 0, 1 and 2
    input rows, with recurrent rows appended in REC (one group, or two with spikes in the
    last), also after an early EOS: counts and cycles as the golden and cycle models say."""
    from rramlsm.hw.cycles import step_rows

    rng = np.random.default_rng(40 + neurons)
    mb = small_bundle(rng, inputs=6, neurons=neurons, steps=12, theta=60)
    img = core_image(mb, lanes=4, head_lanes=4)
    pattern = [0, 1, 2, 0, 0, 1, 0, 2, 1, 0, 0, 1]
    frames = np.zeros((4, 12, 6), np.uint8)
    for n in range(4):
        for t, k in enumerate(pattern):
            frames[n, t, rng.choice(6, size=k, replace=False)] = 1
    _, trains = golden_counts(mb.lsm, frames, record=True)
    rows = np.stack([step_rows(frames[n], trains[n]) for n in range(4)])
    # The lists ACCUM meets: empty, one row, two rows, and one row that is recurrent
    # (appended in REC, by the last group's spikes when there are two groups).
    assert {0, 1, 2} <= set(rows.ravel().tolist())
    last = trains[:, :-1, (img.params.groups - 1) * 4:].sum(2)
    assert ((frames.sum(2)[:, 1:] == 0) & (last > 0)).any()
    res = simulate_core(LSMCore(img.params, img.init()), img.registers,
                        [encode_frames(f) for f in frames])
    check(res, mb, frames, img.params)
    # EOS after 7 bins: the tail steps' lists hold recurrent rows only.
    check_early_eos(mb, img, frames, 7)


def test_core_abort_mid_sample_returns_to_idle_cleanly():
    rng = np.random.default_rng(5)
    mb = small_bundle(rng, noise=500)
    img = core_image(mb, lanes=4, head_lanes=4)
    frames = random_frames(rng, 3, 8, 12)
    words = [encode_frames(f) for f in frames]
    res = simulate_core(LSMCore(img.params, img.init()), img.registers, words,
                        abort_after=len(words[0]) // 2)
    check(res, mb, frames, img.params)


@pytest.mark.parametrize("levels,bits", [(16, 5), (2, 2)])
def test_core_with_narrow_weight_codes_equals_golden_model(levels, bits):
    """A bundle of ``levels``-level devices: the crossbar stores ``bits``-bit cells (the
    extreme codes +-(levels - 1) included), from its image and through the programming
    path, and computes what the golden model does."""
    rng = np.random.default_rng(100 + levels)
    mb = small_bundle(rng, levels=levels, theta=40, shift=0)
    img = core_image(mb, lanes=3, head_lanes=4)
    assert img.params.weight_bits == bits
    assert LSMCore.prog_width(img.params) >= 3 * bits
    frames = random_frames(rng, 4, 8, 12)
    counts, *_ = expect(mb, frames)
    assert counts.any() and not counts.all()       # the reservoir fires, not everywhere
    res = simulate_core(LSMCore(img.params, img.init()), img.registers,
                        [encode_frames(f) for f in frames])
    check(res, mb, frames, img.params)
    res = simulate_core(LSMCore(img.params), img.registers, [encode_frames(f) for f in frames],
                        writes=list(img.writes()))
    check(res, mb, frames, img.params, first_ready=True)


@pytest.mark.parametrize("crossbar_lanes", [0, 6])
def test_core_column_sums_at_their_bound(crossbar_lanes):
    """Every cell at the largest code (+15 of 16 levels) and every row active: each column
    sums to rows x 15 = 330, which the accumulators (``sum_bits`` = 10: +-512) hold
    exactly; one bit fewer would wrap it."""
    import dataclasses

    from rramlsm.hw.params import CoreParams
    from rramlsm.sw.golden import IntegerLSM

    rng = np.random.default_rng(7)
    base = small_bundle(rng, levels=16)
    rows = 12 + 10
    lsm = IntegerLSM(np.full((rows, 10), 15, np.uint8), np.zeros((rows, 10), np.uint8), 12,
                     10, 8, 900, 150, 12, 0, 0, 5, 1, 16)
    mb = dataclasses.replace(base, lsm=lsm)
    params = dataclasses.replace(core_image(mb, lanes=2, head_lanes=4).params,
                                 crossbar_lanes=crossbar_lanes)
    assert params.sum_bits == 10 and rows * 15 == 330 < 1 << (params.sum_bits - 1)
    assert CoreParams(256, 200, weight_bits=4).sum_bits == 13      # the paper's, 8 levels
    frames = np.ones((2, 8, 12), np.uint8)
    _, trains = golden_counts(lsm, frames, record=True)
    assert trains[:, :-1].all()          # every neuron fires every step: all rows active
    img = core_image(mb, params)
    res = simulate_core(LSMCore(params, img.init()), img.registers,
                        [encode_frames(f) for f in frames])
    check(res, mb, frames, params)


def test_core_programming_path_and_reprogramming():
    rng = np.random.default_rng(9)
    first, second = small_bundle(rng), small_bundle(rng)
    img1 = core_image(first, lanes=4, head_lanes=4)
    img2 = core_image(second, lanes=4, head_lanes=4)
    frames = random_frames(rng, 3, 8, 12)
    # An empty core programmed through the port computes the first bundle...
    res = simulate_core(LSMCore(img1.params), img1.registers, [encode_frames(f) for f in frames],
                        writes=list(img1.writes()))
    check(res, first, frames, img1.params, first_ready=True)   # idle while programmed
    # ... and reprogrammed, the second one.
    res = simulate_core(LSMCore(img1.params, img1.init()), img2.registers,
                        [encode_frames(f) for f in frames], writes=list(img2.writes()))
    check(res, second, frames, img2.params, first_ready=True)
    assert ProgTarget.CROSSBAR in img1.memories


@pytest.mark.paper_size
def test_core_on_built_in_samples_at_paper_size(demo_run, digits, speech):
    """The paper's whole configuration in Amaranth's simulator (about 1.5 min: `make cosim`,
    not `make test`, which runs the same RTL at this size under Verilator in
    tests/test_cosim.py, cycles included)."""
    bundle = load_bundle(demo_run / "bundle")
    for m, ds in (("visual", digits), ("audio", speech)):
        mb = bundle.modalities[m]
        img = core_image(mb, lanes=16, head_lanes=16)
        idx = np.flatnonzero(~ds.is_train)[:1]
        frames = frame_dataset(ds, PRESETS[m].replace(steps=mb.lsm.steps), idx)
        res = simulate_core(LSMCore(img.params, img.init()), img.registers,
                            [encode_frames(f) for f in frames])
        check(res, mb, frames, img.params)


def test_paper_size_cycles_stay_near_the_event_bound(demo_run, digits, speech):
    """The cycle model (exact against the RTL's counter: the tests above, and the paper-size
    cosimulation) within 10 % of the events' bound at the paper's size, 20 test samples of
    each modality."""
    bundle = load_bundle(demo_run / "bundle")
    for m, ds in (("visual", digits), ("audio", speech)):
        mb = bundle.modalities[m]
        params = core_image(mb, lanes=16, head_lanes=16).params
        idx = np.flatnonzero(~ds.is_train)[:20]
        frames = frame_dataset(ds, PRESETS[m].replace(steps=mb.lsm.steps), idx)
        _, trains = golden_counts(mb.lsm, frames, record=True)
        fixed = fixed_overhead(params, mb.lsm.steps)
        for n in range(len(frames)):
            bound = event_bound(frames[n], trains[n], params)
            assert bound + fixed <= predict(frames[n], trains[n], params) <= 1.1 * bound + fixed


@pytest.mark.parametrize("windows,steps,lanes,head_lanes", [
    (2, 8, 4, 4), (3, 9, 3, 4), (4, 8, 5, 3), (5, 10, 16, 4), (8, 8, 4, 4)])
def test_core_readout_windows_equal_golden_and_cycle_models(windows, steps, lanes, head_lanes):
    """W counters per neuron (the counter bank) and a head over W x N counts: counts
    (window-major), embedding, class, score and cycles against the golden and cycle
    models, back to back samples; lanes 5 makes the last neuron end a full group, lanes 16
    one group; W = 8 has one step per window."""
    rng = np.random.default_rng(100 + windows)
    mb = small_bundle(rng, steps=steps, windows=windows)
    img = core_image(mb, lanes=lanes, head_lanes=head_lanes)
    assert img.params.windows == windows and img.params.head_inputs == windows * 10
    frames = random_frames(rng, 4, steps, 12)
    res = simulate_core(LSMCore(img.params, img.init()), img.registers,
                        [encode_frames(f) for f in frames])
    check(res, mb, frames, img.params)
    assert all(len(r.counts) == windows * 10 for r in res)
    # The windows cost head cycles only: W x N inputs instead of N.
    one = core_image(small_bundle(np.random.default_rng(0), steps=steps), lanes=lanes,
                     head_lanes=head_lanes).params
    _, trains = golden_counts(mb.lsm, frames, record=True)
    blocks = img.params.head_blocks
    assert (predict(frames[1], trains[1], img.params) - predict(frames[1], trains[1], one)
            == blocks * (windows - 1) * 10)


@pytest.mark.parametrize("readout", ["count", "trace"])
def test_core_readout_windows_with_gaps_stalls_early_eos_and_abort(readout):
    """W = 3, counts or traces (k = 2): the cycle model stays exact with input gaps and
    output back-pressure; an early EOS (the windows still cover T steps, the traces keep
    fading over them) and an abort leave nothing behind for the next sample."""
    rng = np.random.default_rng(33)
    mb = small_bundle(rng, steps=9, windows=3, noise=400, readout=readout, trace_shift=2)
    img = core_image(mb, lanes=3, head_lanes=4)
    frames = random_frames(rng, 3, 9, 12)
    words = [encode_frames(f) for f in frames]
    gaps = [(rng.geometric(0.6, len(w)) - 1 + 25 * (rng.random(len(w)) < 0.05)).tolist()
            for w in words]
    for g in gaps[1:]:
        g[0] = 0
    res = simulate_core(LSMCore(img.params, img.init()), img.registers, words, gaps=gaps,
                        stall=0.4, seed=3)
    counts, emb, labels, scores = expect(mb, frames)
    _, trains = golden_counts(mb.lsm, frames, record=True)
    for n, r in enumerate(res):
        assert r.counts == counts[n].tolist() and r.embedding == emb[n].tolist(), n
        assert (r.label, r.score) == (int(labels[n]), int(scores[n])), n
        assert r.cycles == predict(frames[n], trains[n], img.params, gaps=gaps[n]), n
    check_early_eos(mb, img, frames, 4, abort_midway=True)


@pytest.mark.parametrize("windows,steps,shift,lanes", [
    (1, 8, 2, 4), (2, 8, 1, 3), (3, 9, 3, 4), (4, 12, 7, 5), (8, 8, 4, 16)])
def test_core_trace_readout_equals_golden_and_cycle_models(windows, steps, shift, lanes):
    """The exponential-trace readout: the traces beside the membranes, each window's sample
    written at its last step.  Samples (window-major), embedding, class, score and cycles
    against the golden and cycle models, back to back samples (the traces restart at 0);
    shifts 1 and 7 are the ends of the range, W = 8 with T = 8 samples every step."""
    rng = np.random.default_rng(300 + windows)
    mb = small_bundle(rng, steps=steps, windows=windows, readout="trace", trace_shift=shift,
                      theta=120)
    img = core_image(mb, lanes=lanes, head_lanes=4)
    assert (img.params.readout, img.params.trace_shift) == ("trace", shift)
    frames = random_frames(rng, 4, steps, 12)
    counts, *_ = expect(mb, frames)
    # The samples are not the counts: a spike's weight depends on when it came.
    count_mb = small_bundle(np.random.default_rng(300 + windows), steps=steps,
                            windows=windows, theta=120)
    assert not np.array_equal(counts, expect(count_mb, frames)[0])
    assert counts.max() > 0 and counts.max() <= contract.TRACE_SCALE
    res = simulate_core(LSMCore(img.params, img.init()), img.registers,
                        [encode_frames(f) for f in frames])
    check(res, mb, frames, img.params)


def test_core_refuses_a_bundle_of_another_readout():
    """The readout kind and the trace's shift are built in: a core refuses a bundle that
    asks for another, naming both."""
    from rramlsm.errors import BundleError

    rng = np.random.default_rng(18)
    trace = core_image(small_bundle(rng, readout="trace", trace_shift=3), lanes=4).params
    count = core_image(small_bundle(rng), lanes=4).params
    with pytest.raises(BundleError, match=r"built for the trace \(shift 3\) readout; it cannot "
                                          r"run a macro with the trace \(shift 4\) readout"):
        core_image(small_bundle(rng, readout="trace", trace_shift=4), trace)
    with pytest.raises(BundleError, match=r"built for the count readout; it cannot run a macro "
                                          r"with the trace \(shift 3\) readout"):
        core_image(small_bundle(rng, readout="trace", trace_shift=3), count)
    with pytest.raises(BundleError, match=r"built for the trace \(shift 3\) readout; it cannot "
                                          r"run a macro with the count readout"):
        core_image(small_bundle(rng), trace)


def test_core_refuses_windows_beyond_the_rtl_limits():
    from rramlsm.errors import BundleError
    from rramlsm.hw.params import CoreParams

    with pytest.raises(ValueError, match=r"CoreParams windows must be at most 8 "
                                         r"\(contract.MAX_WINDOWS, the RTL's counter bank\)"):
        CoreParams(windows=9)
    with pytest.raises(ValueError, match="programming path's 16-bit address"):
        CoreParams(inputs=64, neurons=960, windows=8, dim=160, head_lanes=16)
    mb = small_bundle(np.random.default_rng(1), steps=8, windows=4)
    assert CoreParams.from_bundle(mb, lanes=4).head_inputs == 40
    # A bundle-sized view of a macro whose head would not fit: 8 x 960 x 10 words.
    big = SimpleNamespace(lsm=SimpleNamespace(inputs=64, neurons=960, adc_bits=10, windows=8,
                                              noise_amplitude=0, levels=256),
                          head=SimpleNamespace(layers=[SimpleNamespace(
                              weight=np.zeros((8 * 960, 160), np.int8))]),
                          classes=np.arange(9))
    with pytest.raises(BundleError, match=r"the RTL cannot hold this bundle's macro \(8 readout "
                                          r"windows\): .*16-bit address"):
        CoreParams.from_bundle(big)


@pytest.mark.parametrize("decay_q,lanes", [(0, 4), (512, 3), (683, 4), (900, 16), (1023, 4)])
def test_core_with_fixed_decay_equals_golden_and_cycle_models(decay_q, lanes):
    """A decay fixed at build time (shifts and adds instead of the multiplier): counts,
    embedding, class, score and cycles as the golden and cycle models say, the decay
    register driven with another value (the core does not use it); 512 is one signed digit,
    683 six, the most a 10-bit decay has."""
    rng = np.random.default_rng(200 + decay_q)
    mb = small_bundle(rng, decay_q=decay_q, theta=120)
    img = core_image(mb, lanes=lanes, head_lanes=4, fixed_decay=True)
    assert img.params.fixed_decay_q == decay_q
    frames = random_frames(rng, 4, 8, 12)
    counts, *_ = expect(mb, frames)
    assert counts.any() and not counts.all()       # the reservoir fires, not everywhere
    registers = dict(img.registers, decay_q=(decay_q + 512) % 1024)
    res = simulate_core(LSMCore(img.params, img.init()), registers,
                        [encode_frames(f) for f in frames])
    check(res, mb, frames, img.params)


def test_core_with_fixed_decay_refuses_a_bundle_of_another_decay():
    """The decay of a fixed-decay core cannot be programmed: the host side refuses a
    bundle (or registers) with another decay, naming both values."""
    from rramlsm.errors import BundleError, RRAMLSMError
    from rramlsm.hw.params import CoreParams
    from rramlsm.hw.program import CoreImage

    rng = np.random.default_rng(17)
    built, other = small_bundle(rng, decay_q=900), small_bundle(rng, decay_q=901)
    img = core_image(built, lanes=4, head_lanes=4, fixed_decay=True)
    assert core_image(small_bundle(rng, decay_q=900), img.params).params.fixed_decay_q == 900
    message = r"decay fixed at decay_q = 900 \(fixed_decay\); it cannot run decay_q = 901"
    with pytest.raises(BundleError, match=message) as e:
        core_image(other, img.params)
    assert isinstance(e.value, RRAMLSMError) and isinstance(e.value, ValueError)
    with pytest.raises(BundleError, match=message):
        CoreImage(img.params, img.memories, dict(img.registers, decay_q=901))
    with pytest.raises(BundleError, match=message):
        img.params.check_fixed({"decay_q": 901})
    # Without the option the decay stays a register (any value programs).
    assert core_image(other, core_image(built, lanes=4, head_lanes=4).params)
    with pytest.raises(ValueError, match=r"fixed_decay_q must be an integer <= 1023, not 1024"):
        CoreParams(fixed_decay_q=1024)


@pytest.mark.parametrize("shift,lanes,head_shift_0", [(0, 4, True), (1, 3, False), (2, 4, False)])
def test_core_with_fixed_shifts_equals_golden_and_cycle_models(shift, lanes, head_shift_0):
    """ADC and head shifts fixed at build time (wiring instead of barrel shifters): counts,
    embedding, class, score and cycles as the golden and cycle models say, with the shift
    registers driven with other values (the core does not use them).  Both shifts 0 in
    one case: no rounding constant, no shift."""
    rng = np.random.default_rng(300 + shift)
    mb = small_bundle(rng, shift=shift, theta=120 << shift >> 1)
    if head_shift_0:
        # Weights and biases scaled down so that the accumulators, unshifted, mostly fall
        # inside the int8 range instead of saturating (a rounding error must show).
        layer = mb.head.layers[0]
        layer = dataclasses.replace(layer, shift=0, weight=layer.weight >> 5,
                                    bias=layer.bias >> 5)
        mb = dataclasses.replace(mb, head=dataclasses.replace(
            mb.head, layers=(layer, *mb.head.layers[1:])))
    img = core_image(mb, lanes=lanes, head_lanes=4, fixed_shifts=True)
    head_shift = int(mb.head.layers[0].shift)
    assert img.params.fixed_registers == {"adc_shift": shift, "head_shift": head_shift}
    frames = random_frames(rng, 4, 8, 12)
    counts, *_ = expect(mb, frames)
    assert counts.any() and not counts.all()       # the reservoir fires, not everywhere
    if head_shift_0:
        acc = counts.astype(np.int64) @ layer.weight + layer.bias
        inside = (acc > contract.ACT_MIN) & (acc < contract.ACT_MAX)
        assert inside.mean() > 0.5
    registers = dict(img.registers, adc_shift=shift + 3, head_shift=(head_shift + 4) % 16)
    res = simulate_core(LSMCore(img.params, img.init()), registers,
                        [encode_frames(f) for f in frames])
    check(res, mb, frames, img.params)


@pytest.mark.parametrize("field", ["adc_shift", "head_shift"])
def test_core_with_fixed_shifts_refuses_registers_of_other_shifts(field):
    """A core whose shifts are fixed takes only bundles (or registers) of those shifts;
    the refusal names the register, both values and the option."""
    from rramlsm.errors import BundleError
    from rramlsm.hw.params import CoreParams
    from rramlsm.hw.program import CoreImage

    rng = np.random.default_rng(18)
    img = core_image(small_bundle(rng, shift=1), lanes=4, head_lanes=4, fixed_shifts=True)
    built = img.registers[field]
    what = {"adc_shift": "ADC shift", "head_shift": "head shift"}[field]
    message = (rf"built with its {what} fixed at {field} = {built} \(fixed_shifts\); it "
               rf"cannot run {field} = {built + 1}: rebuild it for this bundle")
    with pytest.raises(BundleError, match=message):
        CoreImage(img.params, img.memories, dict(img.registers, **{field: built + 1}))
    if field == "adc_shift":
        with pytest.raises(BundleError, match=message):
            core_image(small_bundle(rng, shift=2), img.params)
    img.params.check_fixed(dict(img.registers))        # its own values pass
    # Without the option the shifts stay registers (any value programs).
    free = core_image(small_bundle(rng, shift=1), lanes=4, head_lanes=4)
    assert CoreImage(free.params, free.memories, dict(free.registers, **{field: built + 1}))
    with pytest.raises(ValueError, match=r"fixed_adc_shift must be an integer <= 20, not 21"):
        CoreParams(fixed_adc_shift=21)
    with pytest.raises(ValueError, match=r"fixed_head_shift must be an integer <= 31, not 32"):
        CoreParams(fixed_head_shift=32)


@pytest.mark.parametrize("bank_words,lanes", [(4, 4), (16, 3)])
def test_core_with_a_banked_crossbar_equals_golden_and_cycle_models(bank_words, lanes):
    """The crossbar in banks behind its two-level output mux (the first level registered)
    takes the cycles of a single memory: results and cycles as the golden and cycle
    models say, from the image and reprogrammed through the programming path."""
    import dataclasses

    rng = np.random.default_rng(300 + bank_words)
    mb, other = small_bundle(rng), small_bundle(rng)
    params = dataclasses.replace(core_image(mb, lanes=lanes, head_lanes=4).params,
                                 crossbar_bank_words=bank_words)
    img = core_image(mb, params)
    assert params.rows * params.groups > 4 * bank_words       # more than one first-level mux
    frames = random_frames(rng, 4, 8, 12)
    res = simulate_core(LSMCore(params, img.init()), img.registers,
                        [encode_frames(f) for f in frames])
    check(res, mb, frames, params)
    img2 = core_image(other, params)
    res = simulate_core(LSMCore(params, img.init()), img2.registers,
                        [encode_frames(f) for f in frames], writes=list(img2.writes()))
    check(res, other, frames, params, first_ready=True)


@pytest.mark.parametrize("lanes,crossbar_lanes,windows,noise", [
    (2, 6, 1, 0),     # G = 5 LIF groups, K = 3 per pass: the last pass's third is padding
    (3, 6, 2, 400),   # read noise keyed by the LIF group; two readout windows
    (2, 4, 1, 0),     # K = 2, three passes, the last one half padding
    (1, 8, 1, 0)])    # K = MAX_FOLD: ten LIF groups from two passes of eight
def test_core_with_a_crossbar_wider_than_the_lif_bank(lanes, crossbar_lanes, windows, noise):
    """A crossbar of Px = K x P lanes before a LIF bank of P (``crossbar_lanes``): results
    and cycles as the golden and cycle models say, back to back, with input gaps and output
    back-pressure, an early EOS, and reprogrammed through the programming path (words of
    Px cells).  Empty steps make passes shorter than K (their padding)."""
    import dataclasses

    from rramlsm.hw.params import crossbar_words

    rng = np.random.default_rng(400 + crossbar_lanes + lanes)
    mb, other = (small_bundle(rng, noise=noise, windows=windows) for _ in range(2))
    params = dataclasses.replace(core_image(mb, lanes=lanes, head_lanes=4).params,
                                 crossbar_lanes=crossbar_lanes)
    assert params.fold == crossbar_lanes // lanes and params.xgroups < params.groups
    img = core_image(mb, params)
    assert len(img.memories[ProgTarget.CROSSBAR]) == params.rows * params.xgroups
    assert crossbar_words(mb.lsm.weight_codes, params) == img.memories[ProgTarget.CROSSBAR]
    frames = random_frames(rng, 4, 8, 12)
    res = simulate_core(LSMCore(params, img.init()), img.registers,
                        [encode_frames(f) for f in frames])
    check(res, mb, frames, params)
    # The same core with the LIF bank's width of crossbar takes more cycles for the same
    # results (the event-driven part shrinks by about K).
    _, trains = golden_counts(mb.lsm, frames, record=True)
    narrow = dataclasses.replace(params, crossbar_lanes=0)
    assert predict(frames[1], trains[1], params) < predict(frames[1], trains[1], narrow)
    words = [encode_frames(f) for f in frames]
    gaps = [(rng.geometric(0.6, len(w)) - 1 + 25 * (rng.random(len(w)) < 0.05)).tolist()
            for w in words]
    for g in gaps[1:]:
        g[0] = 0
    res = simulate_core(LSMCore(params, img.init()), img.registers, words, gaps=gaps,
                        stall=0.4, seed=lanes)
    counts, _, labels, _ = expect(mb, frames)
    assert [r.counts for r in res] == counts.tolist()
    assert [r.label for r in res] == labels.tolist()
    for n, r in enumerate(res):
        assert r.cycles == predict(frames[n], trains[n], params, gaps=gaps[n]), n
    check_early_eos(mb, img, frames, 5)
    img2 = core_image(other, params)
    res = simulate_core(LSMCore(params, img.init()), img2.registers,
                        [encode_frames(f) for f in frames], writes=list(img2.writes()))
    check(res, other, frames, params, first_ready=True)


def test_core_refuses_a_crossbar_that_is_not_a_multiple_of_the_lif_bank():
    from rramlsm.hw.params import CoreParams

    with pytest.raises(ValueError, match=r"crossbar_lanes must be a multiple of lanes \(4\) "
                                         r"and at most 8 times it \(MAX_FOLD\), not 6"):
        CoreParams(lanes=4, crossbar_lanes=6)
    with pytest.raises(ValueError, match="at most 8 times it"):
        CoreParams(lanes=4, crossbar_lanes=36)
    assert CoreParams(lanes=4, crossbar_lanes=32).fold == 8
    assert CoreParams(lanes=4).xlanes == 4
