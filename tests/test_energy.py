"""Energy and latency model: hand-checked counts and energies, and `rramlsm energy`."""

from __future__ import annotations

import json

import numpy as np
import pytest

from rramlsm.cli import main
from rramlsm.sw.energy import (
    OpEnergies,
    analog_latency_ns,
    count_events,
    digital_energy,
    macro_energy,
    measured_energy,
)
from rramlsm.sw.golden import IntegerLSM


def _lsm(inputs=3, neurons=2, steps=4):
    rows = inputs + neurons
    z = np.zeros((rows, neurons), np.uint8)
    return IntegerLSM(z, z, inputs, neurons, steps, 900, 100, 8, 0)


def test_counts_by_hand():
    lsm = _lsm()
    frames = np.zeros((1, 4, 3), np.uint8)
    frames[0, 0, :2] = 1          # step 0: 2 input rows
    frames[0, 2, 0] = 1           # step 2: 1 input row
    trains = np.zeros((1, 4, 2), np.uint8)
    trains[0, 1, :] = 1           # two spikes at step 1 -> 2 recurrent rows at step 2
    c = count_events(lsm, head_dim=4, classes=3, frames=frames, trains=trains)
    assert c.active_rows == 2 + 0 + (1 + 2) + 0
    assert c.active_steps == 2 and c.spikes == 2
    assert c.cell_reads == 5 * 2 and c.adc_conversions == 2 * 2
    assert c.lif_updates == 4 * 2 and c.head_macs == 2 * 4 and c.classifier_macs == 4 * 3
    assert c.dense_macs == (3 + 2) * 2 * 4


def test_energies_by_hand():
    e = OpEnergies()
    # 0.2 V^2 x (2 x 34.06 uS) x 10 ns = 27.2 fJ per cell pair.
    assert e.cell_read_pj == pytest.approx(0.04 * 68.12e-6 * 10e-9 * 1e12)
    assert e.adc_pj(10) == pytest.approx(20e-3 * 1024)
    lsm = _lsm()
    frames = np.ones((2, 4, 3), np.uint8)
    trains = np.zeros((2, 4, 2), np.uint8)
    c = count_events(lsm, 4, 3, frames, trains)
    mac = macro_energy(c, e)
    assert mac["cell_reads"] == pytest.approx(12 * 2 * e.cell_read_pj)
    assert mac["adc"] == pytest.approx(4 * 2 * e.adc_pj(8))
    dense, event = digital_energy(c, e), digital_energy(c, e, event_driven=True)
    assert dense["lsm_macs"] == pytest.approx(40 * e.mac8_pj)
    assert event["weight_fetch"] == pytest.approx(24 * e.sram_pj_per_byte)
    # The head, classifier and LIF cost the same on both sides: only the array differs.
    for k in ("lif", "head", "classifier"):
        assert mac[k] == dense[k]
    assert analog_latency_ns(c, e, head_lanes=4, clock_mhz=100.0) == pytest.approx(
        4 * (10 + 50) + (1 * 2 + 4) * 10)
    with pytest.raises(ValueError, match="OpEnergies adc_fom_fj must be > 0"):
        OpEnergies(adc_fom_fj=0.0)


def test_measurement_says_why_it_is_missing():
    r = measured_energy(lambda: sum(range(1000)))
    assert r["seconds"] >= 0
    for dev in ("cpu_rapl", "gpu_nvml"):
        assert r[dev]["available"] or r[dev]["reason"]


def test_energy_command(demo_run, capsys):
    out = demo_run / "energy.json"
    assert main(["energy", "--bundle", str(demo_run / "bundle"), "--samples", "8",
                 "--out", str(out)]) == 0
    r = json.loads(out.read_text())
    for k in ("macro_nj_per_sample", "digital_nj_per_sample", "ratio"):
        assert r[k] > 0
    assert r["ratio"] == pytest.approx(r["digital_nj_per_sample"] / r["macro_nj_per_sample"])
    # The dense digital LSM does strictly more work than the event-driven macro.
    assert r["ratio"] > 1
    assert set(r["modalities"]) == {"visual", "audio"}
    assert r["assumptions"]["sources"]["digital"].startswith("M. Horowitz")
    text = capsys.readouterr().out
    assert "assumptions:" in text and "23.34x and 160.0x" in text
    assert main(["energy", "--bundle", str(demo_run / "bundle"), "--samples", "0"]) == 2


def test_energy_of_the_bmi_reservoirs(tmp_path, capsys):
    out = tmp_path / "energy-bmi.json"
    assert main(["energy", "--task", "bmi", "--samples", "4", "--out", str(out)]) == 0
    r = json.loads(out.read_text())
    assert set(r["modalities"]) == {"neural", "letters"}
    for v in r["modalities"].values():
        assert v["tiles"] == 3 and v["samples"] == 4
        # Bigger arrays: each ADC conversion stands for more dense MACs than at 200 neurons.
        assert v["ratio"] > 20 and v["macro_nj_per_sample"] > 0
    assert "2048 neurons, tiled" in capsys.readouterr().out
    assert main(["energy"]) == 2          # the audio-visual task needs a bundle
