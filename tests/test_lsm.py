"""Float LSM and integer golden model: hand-checked cases, corners, and agreement."""

import numpy as np
import pytest
import torch

from rramlsm.sw import contract
from rramlsm.sw.device import ADCConfig, DeviceConfig
from rramlsm.sw.golden import (
    IntegerLSM,
    compare_float_integer,
    golden_counts,
    quantize_reservoir,
)
from rramlsm.sw.kernels import event_drive, event_lif_available, sum_active_rows
from rramlsm.sw.lsm import (
    PRESETS,
    LSMConfig,
    calibrate_weight_scale,
    float_features,
    float_lif_step,
    make_reservoir,
    run_lif,
)


def test_presets_take_the_papers_numbers():
    v, a, n, l = (PRESETS[k] for k in ("visual", "audio", "neural", "letters"))
    assert (v.inputs, v.neurons, v.steps, v.decay, v.threshold, v.weight_scale) == \
        (256, 200, 50, 0.9, 5.0, 0.3)
    assert (a.inputs, a.neurons, a.steps, a.decay, a.threshold, a.weight_scale) == \
        (64, 200, 129, 0.97, 5.3, 0.1)
    assert (n.inputs, n.neurons, n.steps) == (192, 2048, 201)
    assert (l.inputs, l.neurons, l.steps) == (784, 2048, 50)


def test_float_lif_hand_checked():
    # One input, two neurons; neuron 0 excites neuron 1 through the recurrent weight.
    w_in = torch.tensor([[3.0, 0.0]])
    w_rec = torch.tensor([[0.0, 5.0], [0.0, 0.0]])
    x = torch.tensor([[[1.0], [1.0], [0.0], [1.0]]])
    counts, train = run_lif(x, w_in, w_rec, decay=0.5, threshold=4.0, record=True)
    # u0: 3, 1.5+3=4.5 (spike), reset -> 0, then 3 -> no; neuron 1 gets 5 at t=2: spike.
    assert train[0, :, 0].tolist() == [0, 1, 0, 0]
    assert train[0, :, 1].tolist() == [0, 0, 1, 0]
    assert counts.tolist() == [[1.0, 1.0]]


@pytest.mark.parametrize("density", [0.1, 0.5])   # input drive: gather-sum and matmul paths
def test_run_lif_is_float_lif_step_in_a_loop(density):
    """run_lif (in place, step-major) is float_lif_step stepped over time, bit for bit."""
    cfg = PRESETS["visual"].replace(inputs=40, neurons=30, steps=25, threshold=2.0)
    w_in, w_rec = make_reservoir(cfg, seed=5).float_weights()
    x = torch.from_numpy((np.random.default_rng(5).random((7, 25, 40)) < density)
                         .astype(np.float32))
    counts, train = run_lif(x, w_in, w_rec, cfg.decay, cfg.threshold, record=True)
    s = u = torch.zeros(7, 30)
    for t in range(25):
        u, s = float_lif_step(x[:, t] @ w_in, s, u, w_rec, cfg.decay, cfg.threshold)
        assert torch.equal(train[:, t], s.to(torch.uint8)), t
    assert counts.sum() > 0 and torch.equal(counts, train.sum(1).float())


def _tiny_integer(codes_in, codes_rec, **kw):
    pos = np.concatenate([np.maximum(codes_in, 0), np.maximum(codes_rec, 0)]).astype(np.uint8)
    neg = np.concatenate([np.maximum(-codes_in, 0), np.maximum(-codes_rec, 0)]).astype(np.uint8)
    args = dict(inputs=codes_in.shape[0], neurons=codes_in.shape[1], steps=4, decay_q=512,
                threshold_q=4 << 6, adc_bits=8, adc_shift=0)
    args.update(kw)
    return IntegerLSM(pos, neg, **args)


def test_golden_hand_checked():
    lsm = _tiny_integer(np.array([[3, 0]]), np.array([[0, 5], [0, 0]]))
    x = np.array([[[1], [1], [0], [1]]], np.uint8)
    counts, train = golden_counts(lsm, x, record=True)
    # Membrane in Q.6: 3<<6=192; (512*192)>>10 + 192 = 288 = 4.5 -> spike (>= 256).
    assert train[0, :, 0].tolist() == [0, 1, 0, 0]
    assert train[0, :, 1].tolist() == [0, 0, 1, 0]
    assert counts.tolist() == [[1, 1]]


def test_golden_decay_rounds_toward_minus_infinity():
    # v0 = -1 << 6 = -64; v1 = floor(1000 * -64 / 1024) = floor(-62.5) = -63;
    # v2 = floor(1000 * -63 / 1024) + 64 = floor(-61.52) + 64 = 2 (truncation toward
    # zero would give 3, round-to-nearest -62 then 3).
    x = np.array([[[1, 0], [0, 0], [0, 1]]], np.uint8)
    codes = np.array([[-1], [1]])
    fires_at_2 = _tiny_integer(codes, np.array([[0]]), decay_q=1000, threshold_q=2, steps=3)
    silent_at_3 = _tiny_integer(codes, np.array([[0]]), decay_q=1000, threshold_q=3, steps=3)
    assert golden_counts(fires_at_2, x).tolist() == [[1]]
    assert golden_counts(silent_at_3, x).tolist() == [[0]]


def test_adc_clips_and_shifts():
    # Column sum 200 with shift 2 -> 50, clipped by a 6-bit ADC to 31 (31<<6 = 1984).
    lsm = _tiny_integer(np.array([[200]]), np.array([[0]]), adc_bits=6,
                        adc_shift=2, threshold_q=1984, steps=1)
    assert golden_counts(lsm, np.ones((1, 1, 1), np.uint8)).tolist() == [[1]]
    lsm2 = _tiny_integer(np.array([[200]]), np.array([[0]]), adc_bits=6, adc_shift=2,
                         threshold_q=1985, steps=1)
    assert golden_counts(lsm2, np.ones((1, 1, 1), np.uint8)).tolist() == [[0]]
    # Negative sums shift toward minus infinity: -5 >> 1 = -3, so -3 << 6 = -192.
    neg = _tiny_integer(np.array([[-5], [7]]), np.array([[0]]), adc_shift=1, decay_q=1023,
                        threshold_q=1, steps=2)
    # t0: a = -3 -> v = -192; t1: a = 7 >> 1 = 3 -> v = floor(1023 * -192 / 1024) + 192 = 0.
    x = np.array([[[1, 0], [0, 1]]], np.uint8)
    assert golden_counts(neg, x).tolist() == [[0]]


def test_membrane_saturates_instead_of_growing_without_bound():
    # 100 steps of a column sum of -4080 with decay 1023/1024 would take an
    # unbounded membrane to about -8.5e7; the 24-bit membrane stops at -2**23,
    # from where 100 steps of +4080 recover past the threshold (an unbounded
    # membrane would still be negative after them).
    codes = np.array([[-255]] * 16 + [[255]] * 16)
    lsm = _tiny_integer(codes, np.array([[0]]), decay_q=1023, adc_bits=16, threshold_q=64,
                        steps=200)
    x = np.zeros((1, 200, 32), np.uint8)
    x[0, :100, :16] = 1
    x[0, 100:, 16:] = 1
    counts, train = golden_counts(lsm, x, record=True)
    assert train[0, :100].sum() == 0
    first = 100 + int(np.flatnonzero(train[0, 100:, 0])[0])
    assert 100 < first < 140 and counts[0, 0] > 0


def _frames(rng, n, T, inputs, p=0.1):
    return (rng.random((n, T, inputs)) < p).astype(np.uint8)


def test_corner_cases_no_input_all_inputs():
    cfg = PRESETS["visual"]
    r = make_reservoir(cfg, seed=0)
    lsm = quantize_reservoir(r)
    zero = np.zeros((2, cfg.steps, cfg.inputs), np.uint8)
    assert golden_counts(lsm, zero).sum() == 0
    assert float_features(r, zero).sum() == 0
    ones = np.ones((2, cfg.steps, cfg.inputs), np.uint8)
    c = golden_counts(lsm, ones)
    assert c.max() <= cfg.steps and c.sum() > 0
    assert (c[0] == c[1]).all()


def test_t_equals_one():
    cfg = LSMConfig(inputs=16, neurons=8, steps=1, threshold=1.0)
    r = make_reservoir(cfg, seed=0)
    x = np.ones((1, 1, 16), np.uint8)
    f = float_features(r, x)
    g = golden_counts(quantize_reservoir(r), x)
    assert set(np.unique(g)) <= {0, 1}
    np.testing.assert_array_equal((f[0] > 0), (g[0] > 0))


def test_batching_and_sample_numbering_do_not_change_results():
    cfg = PRESETS["audio"].replace(device=DeviceConfig(read_noise=0.02))
    r = make_reservoir(cfg, seed=1)
    lsm = quantize_reservoir(r, noise=True, noise_seed=7)
    assert lsm.noise_amplitude > 0
    x = _frames(np.random.default_rng(0), 10, cfg.steps, cfg.inputs, 0.25)
    whole = golden_counts(lsm, x)
    parts = np.concatenate([golden_counts(lsm, x[:3], batch=2),
                            golden_counts(lsm, x[3:], first_sample=3, batch=4)])
    np.testing.assert_array_equal(whole, parts)
    quiet = golden_counts(quantize_reservoir(r), x)
    assert (whole != quiet).any()  # the noise does act


def test_golden_matches_a_scalar_reference_with_noise():
    rng = np.random.default_rng(5)
    cfg = LSMConfig(inputs=12, neurons=6, steps=9, threshold=2.0, decay=0.8,
                    device=DeviceConfig(read_noise=0.05), adc=ADCConfig(bits=7, shift=1))
    r = make_reservoir(cfg, seed=3)
    lsm = quantize_reservoir(r, noise=True, noise_seed=11)
    x = _frames(rng, 3, cfg.steps, cfg.inputs, 0.3)
    got = golden_counts(lsm, x, first_sample=5)
    w = lsm.weight_codes.tolist()
    for n in range(3):
        v = [0] * 6
        s = [0] * 6
        cnt = [0] * 6
        for t in range(cfg.steps):
            active = [i for i in range(12) if x[n, t, i]] + [12 + j for j in range(6) if s[j]]
            new_s = []
            for j in range(6):
                col = sum(w[i][j] for i in active)
                col += int(contract.column_noise(11, 5 + n, t, j, lsm.noise_amplitude))
                a = min(max(col >> 1, -64), 63)
                rj = 0 if s[j] else v[j]
                v[j] = min(max(((lsm.decay_q * rj) >> 10) + (a << 6), contract.MEMBRANE_MIN),
                           contract.MEMBRANE_MAX)
                new_s.append(int(v[j] >= lsm.threshold_q))
            s = new_s
            cnt = [c + k for c, k in zip(cnt, s, strict=True)]
        assert got[n].tolist() == cnt


def test_read_noise_distribution():
    z = contract.column_noise(1, 0, np.arange(256)[:, None], np.arange(256)[None, :], 600)
    assert z.min() >= -600 and z.max() < 600
    assert z.std() == pytest.approx(600 / np.sqrt(6), rel=0.05)
    assert abs(z.mean()) < 5


def test_float_and_integer_models_agree_closely():
    cfg = PRESETS["visual"]
    r = make_reservoir(cfg, seed=0)
    x = _frames(np.random.default_rng(1), 64, cfg.steps, cfg.inputs)
    m = compare_float_integer(r, x)
    assert m["feature_correlation"] > 0.97
    assert m["spike_agreement"] > 0.9
    assert m["integer_rate"] == pytest.approx(m["float_rate"], rel=0.1)


def test_only_the_ratio_of_scale_to_threshold_matters():
    cfg = PRESETS["visual"]
    x = _frames(np.random.default_rng(2), 16, cfg.steps, cfg.inputs)
    a = float_features(make_reservoir(cfg, seed=0), x)
    b = float_features(make_reservoir(cfg.replace(weight_scale=0.6, threshold=10.0), seed=0), x)
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("target", [0.02, 0.05, 0.2])
def test_calibration_hits_the_target_rate_in_few_passes(target):
    cfg = PRESETS["visual"]
    x = _frames(np.random.default_rng(3), 32, cfg.steps, cfg.inputs)
    result = calibrate_weight_scale(cfg, x, seed=0, target_rate=target)
    cal, rate = result  # unpacks as (config, rate)
    assert rate == pytest.approx(target, rel=0.05)
    assert 1 <= result.passes <= 8 and result.samples == 32
    assert float_features(make_reservoir(cal, seed=0), x).mean() == pytest.approx(rate)


def test_calibration_stops_at_its_pass_budget_with_the_best_point():
    cfg = PRESETS["visual"]
    x = _frames(np.random.default_rng(3), 8, cfg.steps, cfg.inputs)
    result = calibrate_weight_scale(cfg, x, seed=0, target_rate=0.05, tolerance=1e-9,
                                    max_passes=3)
    assert result.passes == 3
    with pytest.raises(ValueError, match="max_passes must be at least 2"):
        calibrate_weight_scale(cfg, x, seed=0, max_passes=1)


def test_calibration_samples_cover_every_class_of_a_class_sorted_dataset():
    """Stored class by class (as N-MNIST's folders are), the first samples would all be one
    digit; the calibration draws round-robin over the classes, training samples only."""
    from types import SimpleNamespace

    from rramlsm.sw.experiments.audiovisual import calibration_samples

    labels = np.repeat(np.arange(10), 30)
    is_train = np.ones(300, bool)
    is_train[::5] = False
    ds = SimpleNamespace(labels=labels, is_train=is_train, name="sorted")
    pick = calibration_samples(ds, 20, seed=0)
    assert len(pick) == 20 and is_train[pick].all()
    np.testing.assert_array_equal(np.bincount(labels[pick], minlength=10), np.full(10, 2))
    np.testing.assert_array_equal(pick, calibration_samples(ds, 20, seed=0))


@pytest.mark.parametrize("kwargs,exc,message", [
    ({"neurons": 0}, ValueError, "LSMConfig neurons must be a positive integer, not 0"),
    ({"inputs": 2.0}, TypeError, "LSMConfig inputs must be an integer, not float"),
    ({"decay": 1.0}, ValueError, r"LSMConfig decay must be in \[0, 1\), not 1.0"),
    ({"threshold": float("inf")}, ValueError, "LSMConfig threshold must be finite, not inf"),
    ({"weight_scale": -1.0}, ValueError, "LSMConfig weight_scale must be positive, not -1.0"),
])
def test_lsm_config_validation_messages(kwargs, exc, message):
    with pytest.raises(exc, match=message):
        LSMConfig(**kwargs)


def test_shape_and_value_errors_reach_no_model():
    cfg = PRESETS["visual"]
    r = make_reservoir(cfg, seed=0)
    with pytest.raises(ValueError, match=r"frames must have shape \[N, 50, 256\]"):
        float_features(r, np.zeros((1, 50, 64), np.uint8))
    with pytest.raises(ValueError, match="frames contain NaN or inf"):
        float_features(r, np.full((1, 50, 256), np.nan, np.float32))
    lsm = quantize_reservoir(r)
    with pytest.raises(ValueError, match="frames must be binary"):
        golden_counts(lsm, np.full((1, 50, 256), 2, np.uint8))
    with pytest.raises(ValueError, match="IntegerLSM pos must have shape"):
        IntegerLSM(lsm.pos[:10], lsm.neg, 256, 200, 50, 900, 100, 8, 0)


def test_large_batches_match_the_scalar_path():
    # The batch size changes the kernels' shapes (int8 needs more than 16 rows); the
    # per-sample results must not depend on it.
    cfg = PRESETS["visual"]
    lsm = quantize_reservoir(make_reservoir(cfg, seed=4))
    x = _frames(np.random.default_rng(9), 40, cfg.steps, cfg.inputs)
    big = golden_counts(lsm, x, batch=40)
    small = np.concatenate([golden_counts(lsm, x[i : i + 4], batch=4) for i in range(0, 40, 4)])
    np.testing.assert_array_equal(big, small)


def test_golden_is_the_contracts_adc_and_lif_step():
    """The golden model is a plain loop over contract.adc and contract.lif_step."""
    rng = np.random.default_rng(8)
    cfg = LSMConfig(inputs=20, neurons=9, steps=12, threshold=3.0, decay=0.85,
                    device=DeviceConfig(read_noise=0.05), adc=ADCConfig(bits=6, shift=2))
    lsm = quantize_reservoir(make_reservoir(cfg, seed=4), noise=True, noise_seed=3)
    x = _frames(rng, 5, cfg.steps, cfg.inputs, 0.3)
    got = golden_counts(lsm, x, first_sample=2)
    w = lsm.weight_codes.astype(np.int64)
    for n in range(len(x)):
        v, s = np.zeros(9, np.int64), np.zeros(9, bool)
        counts = np.zeros(9, np.int64)
        for t in range(cfg.steps):
            col = np.concatenate([x[n, t], s]).astype(np.int64) @ w
            col += contract.column_noise(3, 2 + n, t, np.arange(9), lsm.noise_amplitude)
            v, s = contract.lif_step(v, s, contract.adc(col, 6, 2), lsm.decay_q, lsm.threshold_q)
            counts += s
        np.testing.assert_array_equal(got[n], counts)


@pytest.mark.parametrize("density", [0.0, 0.05, 0.5])
@pytest.mark.parametrize("counts", [False, True])
def test_input_drive_is_the_matmul_whether_sparse_or_dense(density, counts):
    """Every drive path (compiled event loop, gather-sum, matmul) gives x @ w_in, step-major."""
    from rramlsm.sw.lsm import _input_drive

    rng = np.random.default_rng(3)
    x = torch.from_numpy((rng.random((30, 10, 64)) < density).astype(np.uint8))
    x[::7] = 0  # empty samples: their drive is zero, not skipped
    if counts:  # counts, not only spikes: the event loop hands over to the gather-sum
        x[5, 2, :3] = torch.tensor([2, 3, 1], dtype=torch.uint8)
    w = torch.randn(64, 40)
    want = torch.einsum("btk,kn->tbn", x.to(torch.float64), w.to(torch.float64))
    got = _input_drive(x, w)
    assert got.shape == (10, 30, 40) and got.dtype == torch.float32
    np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-5, atol=1e-5)
    assert not got[:, ::7].any()


@pytest.mark.skipif(not event_lif_available(), reason="numba is not installed")
@pytest.mark.parametrize("dtype", [np.uint8, np.float32])
def test_event_drive_is_the_gather_sum_bit_for_bit(dtype):
    """The compiled drive loop adds the active rows in the gather-sum's order with its
    roundings: the float model's spikes do not depend on which of the two runs."""
    rng = np.random.default_rng(11)
    x = (rng.random((64, 20, 256)) < 0.1).astype(dtype)
    w = torch.from_numpy(rng.normal(0, 0.3, (256, 200)).astype(np.float32))
    got = event_drive(x, w.numpy())
    flat = torch.from_numpy(x).transpose(0, 1).reshape(20 * 64, 256)
    want = sum_active_rows(flat, w).reshape(20, 64, 200)
    assert torch.equal(torch.from_numpy(got), want)
    # ... and is the plain ascending float32 sum the float model is defined by.
    b, t = 3, 7
    acc = np.zeros(200, np.float32)
    for k in np.flatnonzero(x[b, t]):
        acc = acc + w.numpy()[k]
    np.testing.assert_array_equal(got[t, b], acc)
    x[1, 2, 3] = 2
    assert event_drive(x, w.numpy()) is None   # not binary: the caller's general path


def test_golden_counts_reach_255_without_wrapping():
    """Counts accumulate in uint8; 255 steps (the cap) of an always-firing neuron give 255."""
    cfg = PRESETS["audio"].replace(steps=255, inputs=8, neurons=6, threshold=0.5)
    lsm = quantize_reservoir(make_reservoir(cfg, seed=1))
    x = np.ones((3, 255, 8), np.uint8)
    counts, train = golden_counts(lsm, x, record=True)
    np.testing.assert_array_equal(counts, train.sum(1))
    assert counts.max() == 255 and counts.dtype == np.int32
