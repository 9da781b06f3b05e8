"""Readers against the real recordings in ../shared/data, round trips, and every bad input."""

import numpy as np
import pytest
import tonic

from rramlsm.errors import EventDataError
from rramlsm.sw.datasets import (
    load_nmnist_folder,
    load_ntidigits,
    load_wav_folder,
    read_nmnist_file,
    write_nmnist_file,
    write_ntidigits,
)
from rramlsm.sw.events import make_audio_events, make_vision_events

TONIC_DTYPE = np.dtype([("x", int), ("y", int), ("t", int), ("p", int)])


# --- N-MNIST ---------------------------------------------------------------

def test_nmnist_reader_agrees_with_tonic_on_real_files(nmnist_dir):
    files = sorted(nmnist_dir.glob("Train/*/*.bin"))
    assert len(files) == 20
    for f in files:
        ours = read_nmnist_file(f)
        ref = tonic.io.read_mnist_file(str(f), dtype=TONIC_DTYPE)
        for k in "xytp":
            np.testing.assert_array_equal(ours[k], ref[k])
        assert ours.dtype.names == ("x", "y", "t", "p") and ours["t"].dtype == np.int64


def test_nmnist_known_file(nmnist_dir):
    ev = read_nmnist_file(nmnist_dir / "Train/5/00001.bin")
    assert len(ev) == 4681
    assert ev["x"].max() <= 33 and ev["y"].max() <= 33


def test_nmnist_folder(nmnist_dir):
    ds = load_nmnist_folder(nmnist_dir)
    assert len(ds) == 20 and ds.is_train.all()
    assert np.bincount(ds.labels).tolist() == [2] * 10


def test_nmnist_round_trip_with_overflow_markers(tmp_path, nmnist_dir):
    ev = read_nmnist_file(nmnist_dir / "Train/3/00008.bin")
    write_nmnist_file(tmp_path / "a.bin", ev)
    assert (tmp_path / "a.bin").read_bytes() == (nmnist_dir / "Train/3/00008.bin").read_bytes()
    late = ev.copy()
    late["t"] += (1 << 23) - 150_000  # crosses the 23-bit wrap mid-recording
    write_nmnist_file(tmp_path / "b.bin", late)
    raw = np.fromfile(tmp_path / "b.bin", np.uint8).reshape(-1, 5)
    assert (raw[:, 1] == 240).sum() == 1
    np.testing.assert_array_equal(read_nmnist_file(tmp_path / "b.bin"), late)


def _good_events():
    return make_vision_events([1, 2, 3], [4, 5, 6], [10, 20, 30], [0, 1, 0])


def test_nmnist_truncated_file(tmp_path):
    write_nmnist_file(tmp_path / "t.bin", _good_events())
    data = (tmp_path / "t.bin").read_bytes()
    (tmp_path / "t.bin").write_bytes(data[:-2])
    with pytest.raises(EventDataError, match=r"t\.bin: 13 bytes is not a multiple of 5"):
        read_nmnist_file(tmp_path / "t.bin")


def test_nmnist_coordinate_outside_sensor(tmp_path):
    rec = bytes([40, 3, 0, 0, 10])
    (tmp_path / "c.bin").write_bytes(rec)
    with pytest.raises(EventDataError, match=r"c\.bin: event 0 has x=40 outside the sensor"):
        read_nmnist_file(tmp_path / "c.bin")


def test_nmnist_time_backwards(tmp_path):
    (tmp_path / "b.bin").write_bytes(bytes([1, 1, 0, 0, 50, 2, 2, 0, 0, 10]))
    with pytest.raises(EventDataError, match=r"b\.bin: timestamps go backwards"):
        read_nmnist_file(tmp_path / "b.bin")


def test_nmnist_empty_and_missing(tmp_path):
    (tmp_path / "e.bin").write_bytes(b"")
    with pytest.raises(EventDataError, match=r"e\.bin: recording holds no events"):
        read_nmnist_file(tmp_path / "e.bin")
    with pytest.raises(EventDataError, match="cannot read N-MNIST file"):
        read_nmnist_file(tmp_path / "nope.bin")
    with pytest.raises(EventDataError, match="N-MNIST folder does not exist"):
        load_nmnist_folder(tmp_path / "nope")
    with pytest.raises(EventDataError, match="neither Train/ nor Test/"):
        load_nmnist_folder(tmp_path)


def test_nmnist_unknown_label_folder(tmp_path):
    write_nmnist_file(tmp_path / "Train" / "cat" / "00001.bin", _good_events())
    with pytest.raises(EventDataError, match="unknown label 'cat'"):
        load_nmnist_folder(tmp_path)


# --- N-TIDIGITS18 ----------------------------------------------------------

def _audio(n, seed=0):
    rng = np.random.default_rng(seed)
    return make_audio_events(rng.integers(0, 64, n), np.sort(rng.integers(0, 400_000, n)),
                             np.ones(n))


def test_ntidigits_round_trip_and_label_rules(tmp_path):
    recs = {
        "train": [("man-ae-1", _audio(50, 1)), ("woman-bc-z", _audio(40, 2)),
                  ("man-ae-o", _audio(30, 3)), ("man-ae-12z", _audio(20, 4))],
        "test": [("boy-cd-9", _audio(60, 5))],
    }
    write_ntidigits(tmp_path / "n.h5", recs)
    ds = load_ntidigits(tmp_path / "n.h5")
    # 'o' is left out, multi-digit '12z' skipped, 'z' is zero.
    assert ds.labels.tolist() == [1, 0, 9]
    assert ds.is_train.tolist() == [True, True, False]
    np.testing.assert_array_equal(ds.events[0]["x"], recs["train"][0][1]["x"])
    # Seconds <-> microseconds round trip within float precision.
    np.testing.assert_array_equal(ds.events[2]["t"], recs["test"][0][1]["t"])
    assert load_ntidigits(tmp_path / "n.h5", include_oh=True).labels.tolist() == [1, 0, 10, 9]


def test_ntidigits_bad_files(tmp_path):
    (tmp_path / "x.h5").write_bytes(b"not hdf5 at all")
    with pytest.raises(EventDataError, match=r"x\.h5: not an HDF5 file"):
        load_ntidigits(tmp_path / "x.h5")
    with pytest.raises(EventDataError, match="N-TIDIGITS file does not exist"):
        load_ntidigits(tmp_path / "missing.h5")
    write_ntidigits(tmp_path / "u.h5", {"train": [("man-ae-q", _audio(5))]})
    with pytest.raises(EventDataError, match="unknown label 'q'"):
        load_ntidigits(tmp_path / "u.h5")


def test_ntidigits_broken_group(tmp_path):
    import h5py

    write_ntidigits(tmp_path / "g.h5", {"train": [("man-ae-1", _audio(5))]})
    with h5py.File(tmp_path / "g.h5", "a") as f:
        del f["train_timestamps"]["man-ae-1"]
    with pytest.raises(EventDataError, match="man-ae-1: addresses or timestamps missing"):
        load_ntidigits(tmp_path / "g.h5")
    with h5py.File(tmp_path / "g.h5", "a") as f:
        del f["test_addresses"]
    with pytest.raises(EventDataError, match="missing HDF5 item 'test_addresses'"):
        load_ntidigits(tmp_path / "g.h5")


def test_ntidigits_channel_out_of_range(tmp_path):
    ev = _audio(5)
    ev["x"][2] = 70
    write_ntidigits(tmp_path / "c.h5", {"train": [("man-ae-3", ev)]})
    with pytest.raises(EventDataError, match="channel 70 outside 0..63"):
        load_ntidigits(tmp_path / "c.h5")


# --- FSDD / WAV folders ----------------------------------------------------

def test_fsdd_real_files(fsdd_dir):
    ds = load_wav_folder(fsdd_dir)
    assert len(ds) == 20 and not ds.is_train.any()  # indices 0-1: FSDD's test split
    assert set(ds.groups) == {"jackson"}
    for ev in ds.events:
        assert ev.dtype.names == ("x", "t", "p") and 500 < len(ev) < 50_000


def test_wav_folder_bad_inputs(tmp_path):
    from scipy.io import wavfile

    with pytest.raises(EventDataError, match="speech folder does not exist"):
        load_wav_folder(tmp_path / "none")
    with pytest.raises(EventDataError, match="no .wav files"):
        load_wav_folder(tmp_path)
    (tmp_path / "3_x_0.wav").write_bytes(b"RIFF....nonsense")
    with pytest.raises(EventDataError, match=r"3_x_0\.wav: not a readable WAV file"):
        load_wav_folder(tmp_path)
    (tmp_path / "3_x_0.wav").unlink()
    wavfile.write(tmp_path / "a_x_0.wav", 8000, np.zeros(800, np.int16))
    with pytest.raises(EventDataError, match="unknown label 'a'"):
        load_wav_folder(tmp_path)
    (tmp_path / "a_x_0.wav").unlink()
    wavfile.write(tmp_path / "weird.wav", 8000, np.zeros(800, np.int16))
    with pytest.raises(EventDataError, match=r"weird\.wav: name is not"):
        load_wav_folder(tmp_path)
    (tmp_path / "weird.wav").unlink()
    wavfile.write(tmp_path / "4_x_0.wav", 8000, np.zeros((800, 2), np.int16))
    with pytest.raises(EventDataError, match="2 channels; mono expected"):
        load_wav_folder(tmp_path)
    wavfile.write(tmp_path / "4_x_0.wav", 8000, np.zeros(800, np.int16))
    with pytest.raises(EventDataError, match="silent recording"):
        load_wav_folder(tmp_path)
