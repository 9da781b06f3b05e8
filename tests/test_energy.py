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


def _tiny_bundle():
    """3 inputs, 2 neurons, T = 4, all-zero codes: no column sum ever moves a membrane,
    so no neuron spikes and every count below follows from the input frames alone."""
    from rramlsm.sw import contract
    from rramlsm.sw.bundle import Bundle, ModalityBundle
    from rramlsm.sw.heads import IntegerHead, IntegerLayer

    z = np.zeros((5, 2), np.uint8)
    layer = IntegerLayer(np.ones((2, 3), np.int8), np.zeros(3, np.int32), 2,
                         contract.gelu_lut(0.1), 0.1, 0.1)
    return Bundle({"visual": ModalityBundle(IntegerLSM(z, z, 3, 2, 4, 900, 100, 8, 0),
                                            IntegerHead((layer,)),
                                            np.array([[1, 0, 0], [0, 1, 0]], np.int8),
                                            np.array([1, 2]))})


def test_energy_report_of_a_tiny_bundle_by_hand():
    from functools import partial

    from rramlsm.hw.cycles import macro_cycles
    from rramlsm.sw.energy import energy_report

    frames = np.zeros((1, 4, 3), np.uint8)
    frames[0, 0, :2] = 1          # step 0: 2 active rows
    frames[0, 2, 0] = 1           # step 2: 1 active row; steps 1 and 3 read nothing
    r = energy_report(_tiny_bundle(), {"visual": frames}, lanes=2, head_lanes=3,
                      rtl_cycles=partial(macro_cycles, lanes=2, head_lanes=3))
    v = r["modalities"]["visual"]
    assert v["events"]["spikes"] == 0 and v["events"]["active_rows"] == 3
    # Per operation (pJ), from the documented defaults:
    # cell pair 0.2 V^2 x 68.12 uS x 10 ns = 0.027248; 8-bit ADC 20 fJ x 256 = 5.12;
    # LIF update 0.8 + 2 x 0.1 + 0.03 = 1.03; int8 MAC 0.2 + 0.1 = 0.3; SRAM 1.25 per byte.
    assert v["macro_pj"] == pytest.approx({
        "cell_reads": 3 * 2 * 0.027248,          # 3 active rows x 2 columns
        "adc": 2 * 2 * 5.12,                     # 2 steps with input x 2 columns
        "lif": 4 * 2 * 1.03,                     # every neuron, every step
        "lif_state_sram": 4 * 2 * 8 * 1.25,      # 8 bytes moved per update
        "head": 2 * 3 * (0.3 + 1.25),            # 2 x 3 MACs, each with its weight fetched
        "classifier": 3 * 2 * (0.3 + 1.25)})     # 3 dims x 2 classes
    assert v["macro_nj_per_sample"] == pytest.approx(0.127483488)
    # Dense digital: (3 + 2) rows x 2 columns x 4 steps = 40 MACs, each fetching its weight.
    assert v["digital_pj"]["lsm_macs"] == pytest.approx(12.0)
    assert v["digital_pj"]["weight_fetch"] == pytest.approx(50.0)
    assert v["digital_nj_per_sample"] == pytest.approx(0.16884)
    # Event-driven digital: only the 6 cell reads the macro makes.
    assert v["digital_event_driven_nj_per_sample"] == pytest.approx(0.11614)
    assert v["ratio"] == pytest.approx(1.3244068, rel=1e-6)
    assert v["ratio_event_driven"] == pytest.approx(0.9110199, rel=1e-6)
    assert r["ratio"] == v["ratio"] and r["modality"] == "visual"


def test_measurement_reads_the_counters_or_says_why_not(tmp_path, monkeypatch):
    import sys
    import types

    import rramlsm.sw.energy as energy

    rapl = tmp_path / "energy_uj"
    rapl.write_text("1000000\n")
    gpu_mj = iter([1000, 4000])
    fake_nvml = types.SimpleNamespace(
        nvmlInit=lambda: None, nvmlDeviceGetHandleByIndex=lambda i: "gpu0",
        nvmlDeviceGetTotalEnergyConsumption=lambda handle: next(gpu_mj))
    monkeypatch.setattr(energy, "_RAPL", str(rapl))
    monkeypatch.setitem(sys.modules, "pynvml", fake_nvml)
    r = measured_energy(lambda: rapl.write_text("3500000\n"))     # 2.5 J used meanwhile
    assert r["cpu_rapl"]["available"] and r["cpu_rapl"]["joules"] == pytest.approx(2.5)
    assert r["gpu_nvml"]["available"] and r["gpu_nvml"]["joules"] == pytest.approx(3.0)
    # Unreadable counters: not available, and the reason names what failed.
    monkeypatch.setattr(energy, "_RAPL", str(tmp_path / "missing"))
    monkeypatch.setitem(sys.modules, "pynvml", None)                # import fails
    r = measured_energy(lambda: None)
    assert r["cpu_rapl"] == {"available": False,
                             "reason": f"{tmp_path / 'missing'}: FileNotFoundError"}
    assert not r["gpu_nvml"]["available"] and "pynvml" in r["gpu_nvml"]["reason"]


def test_energy_command(demo_run, capsys):
    out = demo_run / "energy.json"
    assert main(["energy", "--bundle", str(demo_run / "bundle"), "--samples", "8",
                 "--out", str(out)]) == 0
    r = json.loads(out.read_text())
    for k in ("macro_nj_per_sample", "digital_nj_per_sample", "ratio"):
        assert r[k] > 0
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
