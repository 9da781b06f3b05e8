"""SHD and SSC sources: files in the real HDF5 layout, written here, and the bad ones."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest

from rramlsm.cli import main
from rramlsm.errors import EventDataError
from rramlsm.sw.datasets import load_source
from rramlsm.sw.datasets.shd import SHD_CHANNELS, load_shd, write_shd
from rramlsm.sw.events import make_audio_events
from rramlsm.sw.features import frame_dataset
from rramlsm.sw.lsm import PRESETS


def _recordings(n=6, seed=0, speakers=(0, 1, 2, 3, 4)):
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        k = 40 + i
        ev = make_audio_events(rng.integers(0, SHD_CHANNELS, k),
                               np.sort(rng.integers(0, 800_000, k)), np.ones(k, np.int8))
        out.append((ev, i % 20, speakers[i % len(speakers)]))
    return out


def test_reads_the_real_layout_and_data_info(tmp_path, capsys):
    recs = _recordings(10)
    write_shd(tmp_path / "shd.h5", recs)
    with h5py.File(tmp_path / "shd.h5") as f:  # the layout of the published files
        assert f["spikes/times"].dtype.metadata["vlen"] == np.float32
        assert f["spikes/units"].dtype.metadata["vlen"] == np.uint16
        assert set(f) == {"spikes", "labels", "extra"}
    ds = load_source(f"shd:{tmp_path / 'shd.h5'}")
    assert ds.modality == "audio" and ds.sensor == (SHD_CHANNELS,) and len(ds) == 10
    for (ev, label, _), got, lab in zip(recs, ds.events, ds.labels, strict=True):
        np.testing.assert_array_equal(got["x"], ev["x"])
        np.testing.assert_array_equal(got["t"], ev["t"])  # us -> float32 s -> us
        assert lab == label and (got["p"] == 1).all()
    # One file: every fifth speaker (sorted) is test; speakers never straddle the split.
    assert set(np.array(ds.groups)[~ds.is_train]) == {"4"}
    assert main(["data", "info", f"ssc:{tmp_path / 'shd.h5'}", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["samples"] == 10 and info["modality"] == "audio" and info["test"] == 2
    assert 0 < info["active_fraction"] < 1


def test_train_and_test_files_make_the_split(tmp_path):
    write_shd(tmp_path / "shd_train.h5", _recordings(5, 1))
    write_shd(tmp_path / "shd_test.h5", _recordings(3, 2))
    for name in ("shd_train.h5", "shd_test.h5"):
        ds = load_shd(tmp_path / name)
        assert len(ds) == 8 and ds.is_train.sum() == 5


def test_framing_pools_700_units_onto_the_inputs(tmp_path):
    ev = make_audio_events(np.array([0, 10, 699, 350]), np.array([0, 1000, 2000, 2500]),
                           np.ones(4, np.int8))
    write_shd(tmp_path / "s.h5", [(ev, 3, 0)])
    ds = load_shd(tmp_path / "s.h5")
    cfg = PRESETS["audio"].replace(steps=3)
    fr = frame_dataset(ds, cfg)
    assert fr.shape == (1, 3, 64)
    # unit u -> input u * 64 // 700; 1 ms raster of 3 bins, one bin per step
    assert {(t, c) for _, t, c in zip(*np.nonzero(fr), strict=True)} == {
        (0, 0), (1, 0), (2, 63), (2, 32)}


def _write(path, **items):
    with h5py.File(path, "w") as f:
        for k, v in items.items():
            if isinstance(v, list):
                d = f.create_dataset(k, (len(v),), dtype=h5py.vlen_dtype(np.asarray(v[0]).dtype))
                for i, a in enumerate(v):
                    d[i] = a
            else:
                f.create_dataset(k, data=v)


GOOD = {"spikes/times": [np.array([0.1, 0.2], np.float32)],
        "spikes/units": [np.array([3, 4], np.uint16)], "labels": np.array([1], np.uint16)}


@pytest.mark.parametrize("change, message", [
    ({"spikes/units": None}, "missing HDF5 dataset 'spikes/units'"),
    ({"labels": None}, "missing HDF5 dataset 'labels'"),
    ({"spikes/units": [np.array([3, 700], np.uint16)]}, "channel 700 outside 0..699"),
    ({"spikes/units": [np.array([3, -1], np.int32)]}, "channel -1 outside"),
    ({"spikes/times": [np.array([0.2, 0.1], np.float32)]}, "time"),
    ({"spikes/times": [np.array([0.1, np.nan], np.float32)]}, "non-finite"),
    ({"spikes/units": [np.array([3], np.uint16)]}, "differ"),
    ({"spikes/units": [np.array([3.5, 4], np.float32)]}, "whole numbers"),
    ({"labels": np.array([1, 2], np.uint16)}, "truncated"),
    ({"labels": np.array([1.5])}, "whole numbers"),
])
def test_bad_files_raise_naming_the_file(tmp_path, change, message):
    items = {**GOOD, **change}
    path = tmp_path / "bad.h5"
    _write(path, **{k: v for k, v in items.items() if v is not None})
    with pytest.raises(EventDataError, match=message) as e:
        load_shd(path)
    assert str(path) in str(e.value)


def test_truncated_and_foreign_files(tmp_path):
    write_shd(tmp_path / "good.h5", _recordings(4))
    raw = (tmp_path / "good.h5").read_bytes()
    for cut in (100, len(raw) // 2, len(raw) - 10):
        (tmp_path / "t.h5").write_bytes(raw[:cut])
        with pytest.raises(EventDataError) as e:
            load_shd(tmp_path / "t.h5")
        assert str(tmp_path / "t.h5") in str(e.value)
    (tmp_path / "x.h5").write_text("not hdf5")
    with pytest.raises(EventDataError, match="not an HDF5 file"):
        load_shd(tmp_path / "x.h5")
    assert main(["data", "info", f"shd:{tmp_path / 'x.h5'}"]) == 2


def test_an_imported_700_input_graph_calibrates_on_an_shd_file(tmp_path, capsys):
    """SHD's 700 channels straight into a 700-input graph (no pooling), through import-nir,
    and pooled onto a 64-input macro by eval's framing."""
    import nir

    from rramlsm.sw.features import frame_for_macro
    from rramlsm.sw.golden import IntegerLSM

    rng = np.random.default_rng(0)
    n = 24
    g = nir.NIRGraph(
        nodes={"input": nir.Input(input_type=np.array([SHD_CHANNELS])),
               "fc": nir.Linear(weight=rng.normal(0, 0.5, (n, SHD_CHANNELS))),
               "lif": nir.LIF(tau=np.full(n, 2e-4), r=np.full(n, 2.0), v_leak=np.zeros(n),
                              v_threshold=np.ones(n)),
               "w": nir.Linear(weight=rng.normal(0, 0.2, (n, n))),
               "ro": nir.Linear(weight=rng.normal(size=(3, n))),
               "output": nir.Output(output_type=np.array([3]))},
        edges=[("input", "fc"), ("fc", "lif"), ("lif", "w"), ("w", "lif"), ("lif", "ro"),
               ("ro", "output")])
    nir.write(tmp_path / "g.nir", g)
    recs = [(ev, label % 3, spk) for ev, label, spk in _recordings(12)]
    write_shd(tmp_path / "shd_train.h5", recs[:8])
    write_shd(tmp_path / "shd_test.h5", recs[8:])
    out = tmp_path / "b"
    assert main(["import-nir", str(tmp_path / "g.nir"), "--out", str(out), "--steps", "20",
                 "--calibrate", f"shd:{tmp_path / 'shd_train.h5'}"]) == 0, \
        capsys.readouterr().err
    rec = json.loads((out / "import.json").read_text())
    assert rec["inputs"] == SHD_CHANNELS and rec["calibrated_on"]["test_samples"] == 4
    assert rec["fidelity"]["golden_vs_float"]["feature_correlation"] > 0.8
    ds = load_shd(tmp_path / "shd_test.h5")
    lsm = IntegerLSM(np.zeros((64 + 8, 8), np.uint8), np.zeros((64 + 8, 8), np.uint8), 64, 8,
                     20, 900, 100, 10, 0)
    assert frame_for_macro(ds, "audio", lsm).shape == (12, 20, 64)
