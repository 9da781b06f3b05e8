import numpy as np
import pytest

from rramlsm.sw.device import (
    ADCConfig,
    DeviceConfig,
    EchoStateGraphDevice,
    FittedInputArrayDevice,
    RandomProjectionDevice,
    ReadNoiseDevice,
    sample_crossbar,
)


def test_sampling_is_seeded_and_yields_integer_codes():
    a = sample_crossbar(64, 32, seed=3)
    b = sample_crossbar(64, 32, seed=3)
    c = sample_crossbar(64, 32, seed=4)
    assert a.pos.dtype == np.uint8 and a.pos.shape == (64, 32)
    np.testing.assert_array_equal(a.pos, b.pos)
    np.testing.assert_array_equal(a.neg, b.neg)
    assert (a.pos != c.pos).any()


def test_code_statistics_follow_the_device_preset():
    dev = RandomProjectionDevice()
    xb = sample_crossbar(400, 400, dev, seed=0)
    g = xb.pos * dev.g_lsb_us + dev.g_min_us
    assert g.mean() == pytest.approx(34.06, abs=0.1)
    assert g.std() == pytest.approx(5.32, abs=0.1)
    w = xb.weights_us
    assert w.mean() == pytest.approx(0.0, abs=0.1)
    assert w.std() == pytest.approx(5.32 * np.sqrt(2), rel=0.03)


def test_weight_presets_reproduce_the_paper_spreads():
    for dev, sd in ((ReadNoiseDevice(), 6.35), (FittedInputArrayDevice(), 6.61)):
        w = sample_crossbar(300, 300, dev, seed=1).weights_us
        assert w.std() == pytest.approx(sd, rel=0.03)
    g = sample_crossbar(300, 300, EchoStateGraphDevice(), seed=1)
    assert (g.pos * EchoStateGraphDevice().g_lsb_us).mean() == pytest.approx(14.25, abs=0.1)


def test_lognormal_option_matches_mean_and_spread():
    dev = DeviceConfig(distribution="lognormal")
    g = sample_crossbar(300, 300, dev, seed=2).pos * dev.g_lsb_us
    assert g.mean() == pytest.approx(34.06, abs=0.2)
    assert g.std() == pytest.approx(5.32, rel=0.05)


def test_stuck_faults_pin_codes_at_the_window_edges():
    dev = DeviceConfig(stuck_on=0.1, stuck_off=0.2)
    xb = sample_crossbar(200, 200, dev, seed=0)
    assert (xb.pos == 255).mean() == pytest.approx(0.1, abs=0.01)
    assert (xb.pos == 0).mean() == pytest.approx(0.2, abs=0.01)


def test_drift_lowers_conductance_by_the_power_law():
    dev = DeviceConfig(drift_nu=0.05, drift_time_s=1e4)
    g0 = sample_crossbar(100, 100, DeviceConfig(), seed=0).pos.mean()
    g1 = sample_crossbar(100, 100, dev, seed=0).pos.mean()
    assert g1 / g0 == pytest.approx((1e4) ** -0.05, rel=0.01)


@pytest.mark.parametrize("kwargs,exc,message", [
    ({"levels": 1}, ValueError, "DeviceConfig levels must be an integer >= 2, not 1"),
    ({"levels": 2.5}, TypeError, "DeviceConfig levels must be an integer, not float"),
    ({"stuck_on": 1.5}, ValueError, "DeviceConfig stuck_on must be <= 1, not 1.5"),
    ({"stuck_off": -0.1}, ValueError, "DeviceConfig stuck_off must be >= 0, not -0.1"),
    ({"g_std_us": float("nan")}, ValueError, "DeviceConfig g_std_us must be finite, not nan"),
    ({"g_min_us": 50.0, "g_max_us": 10.0}, ValueError, "needs 0 <= g_min_us < g_max_us"),
    ({"distribution": "uniform"}, ValueError, "distribution must be 'gaussian' or 'lognormal'"),
])
def test_device_validation_messages(kwargs, exc, message):
    with pytest.raises(exc, match=message):
        DeviceConfig(**kwargs)


def test_adc_and_crossbar_validation_messages():
    with pytest.raises(ValueError, match="ADCConfig bits must be an integer >= 1, not 0"):
        ADCConfig(bits=0)
    with pytest.raises(ValueError, match="CrossbarArrays rows must be an integer >= 1, not -3"):
        sample_crossbar(-3, 4, seed=0)
    with pytest.raises(TypeError, match="CrossbarArrays device must be a DeviceConfig, not dict"):
        sample_crossbar(3, 4, {}, seed=0)
