"""Bad input, fuzzed: every reader either loads a file correctly or raises the project's typed
error naming the file -- never another exception, never a silent partial result.

Readers: N-MNIST ``.bin`` (and folders), N-TIDIGITS18 HDF5, FSDD/WAV folders,
``singleLetters.mat`` (MATLAB v5 and v7.3), the export bundle and sweep configs.  Inputs:
random bytes, random truncation and byte changes of good files (the real recordings in
../shared/data where present), fields out of range, empty files.  Example counts come from
the Hypothesis profile (tests/conftest.py): few in ``make test``, many in ``make fuzz``.
"""

from __future__ import annotations

import functools
import json
import math
import re
import shutil
import struct
import tempfile
import tomllib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import h5py
import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from rramlsm.errors import BundleError, ConfigError, EventDataError
from rramlsm.sw.bundle import load_bundle
from rramlsm.sw.datasets import (
    load_nmnist_folder,
    load_ntidigits,
    load_wav_folder,
    read_nmnist_file,
    read_wav,
    write_nmnist_file,
    write_ntidigits,
)
from rramlsm.sw.datasets.letters import CUBE_KEY, read_single_letters, write_single_letters
from rramlsm.sw.datasets.shd import SHD_CHANNELS, load_shd, write_shd
from rramlsm.sw.events import COCHLEA_CHANNELS, NMNIST_SENSOR, make_vision_events
from rramlsm.sw.experiments.sweep import SweepConfig, load_sweep_config
from tests.conftest import REPO, SHARED_DATA
from tests.test_cosim import _noise_bundle


@contextmanager
def scratch() -> Iterator[Path]:
    """A fresh folder per example (pytest's tmp_path is one per test, not per example)."""
    with tempfile.TemporaryDirectory(prefix="rramlsm-fuzz-") as d:
        yield Path(d)


def _names(error: Exception, path: Path) -> None:
    assert str(path) in str(error), f"the error does not name {path}: {error}"


def _load_or_named_error(read, path: Path, error: type = EventDataError):
    """``read(path)``, or None when it raised the project's ``error`` naming ``path``: the
    only two outcomes a reader may have."""
    try:
        return read(path)
    except error as e:
        _names(e, path)
        return None


def _damage(data: bytes, cut: int, flips: list[tuple[int, int]]) -> bytes:
    """``data`` truncated to ``cut`` bytes (modulo its length + 1), then bytes replaced."""
    out = bytearray(data[: cut % (len(data) + 1)])
    for pos, value in flips:
        if out:
            out[pos % len(out)] = value
    return bytes(out)


damage = st.tuples(st.integers(0, 1 << 30),
                   st.lists(st.tuples(st.integers(0, 1 << 30), st.integers(0, 255)), max_size=4))


# --- N-MNIST ----------------------------------------------------------------------------------

@st.composite
def nmnist_records(draw) -> bytes:
    """Records that are mostly valid: coordinates near the sensor's edge, timestamps mostly
    rising, some overflow markers (y = 240)."""
    n = draw(st.integers(0, 30))
    t = np.cumsum(draw(st.lists(st.integers(-5, 5000), min_size=n, max_size=n)) or [0])
    out = bytearray()
    for i in range(n):
        marker = draw(st.booleans().map(lambda b: b and draw(st.integers(0, 9)) == 0))
        x = draw(st.integers(0, 36))
        y = 240 if marker else draw(st.integers(0, 36))
        ts = int(t[i]) % (1 << 23)
        out += bytes([x, y, (draw(st.integers(0, 1)) << 7) | (ts >> 16), (ts >> 8) & 255,
                      ts & 255])
    return bytes(out)


def _check_nmnist(path: Path, expected=None) -> None:
    """Loads every event of the file (a recording cut at a record boundary is a shorter
    recording, so no ``expected``), or names the file."""
    raw = path.read_bytes()
    ev = _load_or_named_error(read_nmnist_file, path)
    if ev is None:
        return
    rec = np.frombuffer(raw, np.uint8).reshape(-1, 5)
    # Nothing dropped: one event per record that is not an overflow marker.
    assert len(ev) == int((rec[:, 1] != 240).sum()) > 0
    assert ev["x"].max() < NMNIST_SENSOR[0] and ev["y"].max() < NMNIST_SENSOR[1]
    assert (np.diff(ev["t"]) >= 0).all() and set(np.unique(ev["p"])) <= {0, 1}


@given(x=st.integers(0, 255), y=st.integers(0, 255).filter(lambda v: v != 240),
       at=st.integers(0, 4))
def test_nmnist_out_of_range_coordinates(x, y, at):
    ev = make_vision_events(np.arange(5) % 34, np.arange(5) % 34, np.arange(5) * 10,
                            np.zeros(5))
    with scratch() as d:
        write_nmnist_file(d / "r.bin", ev)
        raw = bytearray((d / "r.bin").read_bytes())
        raw[5 * at], raw[5 * at + 1] = x, y
        (d / "r.bin").write_bytes(bytes(raw))
        if x < 34 and y < 34:
            assert read_nmnist_file(d / "r.bin")[at][["x", "y"]].tolist() == (x, y)
        else:
            with pytest.raises(EventDataError, match="outside the sensor") as e:
                read_nmnist_file(d / "r.bin")
            _names(e.value, d / "r.bin")


@given(files=st.lists(st.tuples(st.sampled_from("0123456789x"), nmnist_records()),
                      min_size=1, max_size=3))
def test_nmnist_folder_of_random_recordings(files):
    with scratch() as d:
        for i, (label, raw) in enumerate(files):
            (d / "Train" / label).mkdir(parents=True, exist_ok=True)
            (d / "Train" / label / f"{i:05d}.bin").write_bytes(raw)
        ds = _load_or_named_error(load_nmnist_folder, d)
        if ds is None:
            return
        assert len(ds) == len(files)  # every recording, or an error


# --- N-TIDIGITS18 -----------------------------------------------------------------------------

def _ntidigits_file(path: Path, n: int = 3) -> None:
    rng = np.random.default_rng(n)
    recs = []
    for i in range(n):
        k = 5 + i
        ev = np.empty(k, dtype=[("x", np.int16), ("t", np.int64), ("p", np.int8)])
        ev["x"], ev["t"], ev["p"] = rng.integers(0, 64, k), np.sort(rng.integers(0, 10**6, k)), 1
        recs.append((f"man-a{i}-{i + 1}", ev))
    write_ntidigits(path, {"train": recs[:-1], "test": recs[-1:]})


def _check_audio_file(read, channels: int, path: Path, expected=None) -> None:
    ds = _load_or_named_error(read, path)
    if ds is None:
        return
    for ev in ds.events:
        assert len(ev) and 0 <= ev["x"].min() and ev["x"].max() < channels
        assert (np.diff(ev["t"]) >= 0).all() and ev["t"][0] >= 0
    if expected is not None:  # a damaged file that loads must load in full
        assert ds.labels.tolist() == expected.labels.tolist()
        for a, b in zip(ds.events, expected.events, strict=True):
            np.testing.assert_array_equal(a, b)


_check_ntidigits = functools.partial(_check_audio_file, load_ntidigits, COCHLEA_CHANNELS)


h5_values = st.one_of(
    hnp.arrays(st.sampled_from([np.int8, np.uint8, np.int16, np.int64, np.float64, np.float32]),
               hnp.array_shapes(min_dims=0, max_dims=2, min_side=0, max_side=6)),
    hnp.arrays(np.float64, st.integers(0, 6)),
    st.just(np.array([b"ab", b"c"])),
)


@given(addresses=h5_values, timestamps=h5_values,
       label=st.sampled_from(["man-a-1", "man-a-z", "5", "x", "man-a-12", "a/b-3", "-"]),
       group_is_dataset=st.booleans())
def test_ntidigits_fields_out_of_range(addresses, timestamps, label, group_is_dataset):
    with scratch() as d:
        path = d / "n.h5"
        with h5py.File(path, "w") as f:
            for split in ("train", "test"):
                f.create_dataset(f"{split}_labels",
                                 data=np.array([label.encode()] if split == "train" else [],
                                               dtype="S"))
                if group_is_dataset and split == "train":
                    f.create_dataset(f"{split}_addresses", data=addresses)
                    f.create_dataset(f"{split}_timestamps", data=timestamps)
                    continue
                ga, gt = f.create_group(f"{split}_addresses"), f.create_group(f"{split}_timestamps")
                if split == "train" and "/" not in label:
                    ga.create_dataset(label, data=addresses)
                    gt.create_dataset(label, data=timestamps)
        ds = _load_or_named_error(load_ntidigits, path)
        if ds is None:
            return
        # Loaded: exactly the values written (no cast, no rounding of a channel).
        ev = ds.events[0]
        np.testing.assert_array_equal(ev["x"], addresses)
        np.testing.assert_allclose(ev["t"], np.asarray(timestamps, np.float64) * 1e6, atol=0.5)


# --- FSDD / WAV -------------------------------------------------------------------------------

def _wav_bytes(fmt: int, channels: int, rate: int, bits: int, data: bytes,
               declared: int | None = None) -> bytes:
    block = channels * bits // 8
    fmt_chunk = struct.pack("<HHIIHH", fmt, channels, rate, rate * block & 0xFFFFFFFF,
                            block & 0xFFFF, bits)
    size = len(data) if declared is None else declared
    body = (b"WAVE" + b"fmt " + struct.pack("<I", len(fmt_chunk)) + fmt_chunk + b"data"
            + struct.pack("<I", size & 0xFFFFFFFF) + data)
    return b"RIFF" + struct.pack("<I", len(body)) + body


wav_headers = st.builds(
    _wav_bytes,
    fmt=st.sampled_from([1, 3, 0, 2, 0xFFFE]),
    channels=st.integers(0, 3),
    rate=st.one_of(st.sampled_from([0, 1, 8000, 44100]), st.integers(0, 2**32 - 1)),
    bits=st.sampled_from([0, 1, 8, 16, 24, 32, 64, 12]),
    data=st.binary(max_size=64),
    declared=st.one_of(st.none(), st.integers(0, 2**32 - 1)))


def _check_wav(path: Path, expected: np.ndarray | None = None) -> None:
    result = _load_or_named_error(read_wav, path)
    if result is None:
        return
    x, rate = result
    assert x.ndim == 1 and len(x) > 0 and rate > 0 and np.isfinite(x).all()
    if expected is not None:
        np.testing.assert_array_equal(x, expected)


@given(files=st.lists(st.tuples(st.sampled_from(["3_a_0", "7_b_12", "x_c_1", "4-d-2"]),
                                st.one_of(wav_headers, st.just(b""))), min_size=1, max_size=3,
                      unique_by=lambda f: f[0]))
def test_wav_folder_of_random_files(files):
    with scratch() as d:
        for name, raw in files:
            (d / f"{name}.wav").write_bytes(raw)
        ds = _load_or_named_error(load_wav_folder, d)
        if ds is None:
            return
        assert len(ds) == len(files)


# --- singleLetters.mat ------------------------------------------------------------------------

LETTERS = "ab"


def _check_letters(path: Path, expected: dict | None = None) -> None:
    cubes = _load_or_named_error(lambda p: read_single_letters(p, letters=LETTERS), path)
    if cubes is None:
        return
    assert sorted(cubes) == list(LETTERS)
    for cube in cubes.values():
        assert cube.ndim == 3 and min(cube.shape) >= 1
        assert np.isfinite(cube).all() and (cube >= 0).all()
    if expected is not None:
        for k in LETTERS:
            np.testing.assert_array_equal(cubes[k], expected[k])


def _good_cubes() -> dict:
    rng = np.random.default_rng(0)
    return {k: rng.poisson(0.5, (2, 4, 3)).astype(np.float64) for k in LETTERS}


cube_values = hnp.arrays(
    st.sampled_from([np.float64, np.float32, np.int8, np.uint8, np.int32, np.complex128,
                     np.bool_]),
    hnp.array_shapes(min_dims=1, max_dims=4, min_side=0, max_side=3))


@given(a=cube_values, b=cube_values, v73=st.booleans())
def test_letters_fields_out_of_range(a, b, v73):
    with scratch() as d:
        path = d / "singleLetters.mat"
        if v73:
            # MATLAB v7.3: an HDF5 file (with MATLAB's 512-byte user block), axes reversed.
            with h5py.File(path, "w", userblock_size=512) as f:
                for k, cube in zip(LETTERS, (a, b), strict=True):
                    f.create_dataset(CUBE_KEY.format(k), data=cube.T)
            with open(path, "r+b") as f:
                f.write(b"MATLAB 7.3 MAT-file".ljust(124, b" ") + b"\x00\x02IM")
        else:
            write_single_letters(path, {"a": a, "b": b})
        _check_letters(path)


# --- the export bundle ------------------------------------------------------------------------

@pytest.fixture(scope="module")
def good_bundle(tmp_path_factory):
    path = _noise_bundle(tmp_path_factory.mktemp("fuzz-bundle") / "bundle", noise=0)
    return path, sorted(p.relative_to(path) for p in path.rglob("*") if p.is_file())


def _check_bundle(path: Path, original=None) -> None:
    b = _load_or_named_error(load_bundle, path, BundleError)
    if b is None:
        return
    counts = np.random.default_rng(0).integers(0, 10, (4, 12)).astype(np.uint8)
    for m, mb in b.modalities.items():
        mb.classify(counts)  # a bundle that loads can be used
        if original is not None:
            o = original.modalities[m]
            np.testing.assert_array_equal(mb.lsm.pos, o.lsm.pos)
            np.testing.assert_array_equal(mb.classify(counts), o.classify(counts))


@given(which=st.integers(0, 100), how=damage)
def test_bundle_damaged_file(good_bundle, which, how):
    src, files = good_bundle
    rel = files[which % len(files)]
    with scratch() as d:
        shutil.copytree(src, d / "b")
        f = d / "b" / rel
        data = f.read_bytes()
        f.write_bytes(_damage(data, *how))
        assume(f.read_bytes() != data)
        # Every array is hashed; a manifest that still parses must describe the same bundle
        # (a changed free-text field is harmless, a changed number is caught below).
        _check_bundle(d / "b", load_bundle(src) if rel.suffix == ".npy" else None)


json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70),
              st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=5)),
    lambda inner: st.one_of(st.lists(inner, max_size=3),
                            st.dictionaries(st.text(max_size=5), inner, max_size=3)),
    max_leaves=6)


def _paths(node, prefix=()):
    """Every position in a JSON document, as a key path."""
    yield prefix
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _paths(v, (*prefix, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _paths(v, (*prefix, i))


@given(which=st.integers(0, 10**6), value=json_values, delete=st.booleans())
def test_bundle_manifest_fields_out_of_range(good_bundle, which, value, delete):
    src, _ = good_bundle
    with scratch() as d:
        shutil.copytree(src, d / "b")
        mf = d / "b" / "manifest.json"
        manifest = json.loads(mf.read_text())
        paths = list(_paths(manifest))[1:]
        key = paths[which % len(paths)]
        parent = manifest
        for k in key[:-1]:
            parent = parent[k]
        if delete:
            del parent[key[-1]]
        else:
            parent[key[-1]] = value
        mf.write_text(json.dumps(manifest))
        _check_bundle(d / "b")


def test_bundle_empty_files(good_bundle):
    src, files = good_bundle
    for rel in files:
        with scratch() as d:
            shutil.copytree(src, d / "b")
            (d / "b" / rel).write_bytes(b"")
            with pytest.raises(BundleError) as e:
                load_bundle(d / "b")
            _names(e.value, d / "b")


# --- sweep configs ----------------------------------------------------------------------------

def _toml(value) -> str:
    """A TOML value (inline form) for what the strategies draw."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return ("nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
                if math.isinf(value) else repr(value))
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    return "{" + ", ".join(f"{json.dumps(k)} = {_toml(v)}" for k, v in value.items()) + "}"


toml_values = st.recursive(
    st.one_of(st.booleans(), st.integers(-2**63, 2**63 - 1), st.floats(),
              st.text(st.characters(exclude_categories=("Cs", "Cc")), max_size=6),
              st.sampled_from(["digits", "speech", "stuck", "lsm", "srnn", "nmnist:/nope"])),
    lambda inner: st.one_of(st.lists(inner, max_size=4),
                            st.dictionaries(st.sampled_from(["g_std_us", "drift_nu", "x"]),
                                            inner, max_size=2)),
    max_leaves=6)
SWEEP_KEYS = ["parameter", "values", "seeds", "epochs", "device", "visual", "audio", "model",
              "srnn_epochs", "recalibrate"]
#: Values each key takes in some valid config (so that mutations reach deep checks).
SWEEP_TYPICAL = st.sampled_from(["stuck", "adc_bits", "neurons", "drift_time_s", "srnn", "lsm",
                                 "digits", "speech", 0, 1, 3, 8, 0.05, [0.0, 0.05], [4, 6],
                                 [0, 1], {"drift_nu": 0.05}, True, False])
#: A good config; each example changes, adds or deletes some keys of it.
GOOD_SWEEP = {"parameter": "stuck", "values": [0.0, 0.05], "seeds": [0, 1], "epochs": 3}
sweep_documents = st.builds(
    lambda changes, deleted: {**{k: v for k, v in GOOD_SWEEP.items() if k not in deleted},
                              **changes},
    st.dictionaries(st.sampled_from([*SWEEP_KEYS, "extra"]),
                    st.one_of(SWEEP_TYPICAL, toml_values), max_size=3),
    st.sets(st.sampled_from(list(GOOD_SWEEP))))


def _check_sweep(path: Path, expected=None) -> None:
    cfg = _load_or_named_error(load_sweep_config, path, ConfigError)
    if cfg is None:
        return
    assert isinstance(cfg, SweepConfig)
    assert isinstance(cfg.values, tuple) and cfg.values
    assert all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in cfg.values)
    assert all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in cfg.seeds)
    assert isinstance(cfg.epochs, int) and not isinstance(cfg.epochs, bool)
    assert isinstance(cfg.device, dict)


@given(doc=sweep_documents)
def test_sweep_config_fields_out_of_range(doc):
    text = "".join(f"{json.dumps(k)} = {_toml(v)}\n" for k, v in doc.items())
    assert tomllib.loads(text) is not None  # the generator writes valid TOML
    with scratch() as d:
        (d / "s.toml").write_text(text)
        _check_sweep(d / "s.toml")


# --- tune configs (tuned.toml, `rramlsm train --config`) --------------------------------------

def _good_tuned_doc() -> dict:
    from rramlsm.sw.experiments.tune import DEFAULTS

    doc = {"data": {"visual_modality": "vision", "visual_kind": "events",
                    "visual_sensor": [34, 34], "audio_modality": "audio",
                    "audio_kind": "events", "audio_sensor": [64]}}
    for name, value in DEFAULTS.items():
        section, key = name.split(".", 1)
        doc.setdefault(section, {})[key] = value
    return doc


def _tuned_text(doc: dict) -> str:
    top = [f"{json.dumps(k)} = {_toml(v)}" for k, v in doc.items() if not isinstance(v, dict)]
    tables = [f"[{json.dumps(k)}]\n" + "".join(f"{json.dumps(n)} = {_toml(x)}\n"
                                                for n, x in v.items())
              for k, v in doc.items() if isinstance(v, dict)]
    return "\n".join(top) + "\n" + "".join(tables)


def _check_tuned(path: Path, expected=None) -> None:
    from rramlsm.sw.experiments.tune import DEFAULTS, load_tuned

    cfg = _load_or_named_error(load_tuned, path, ConfigError)
    if cfg is None:
        return
    assert set(cfg.params) == set(DEFAULTS) and isinstance(cfg.data, dict)
    if expected is not None:
        assert cfg.params == expected


def _good_tune(which: int) -> tuple[bytes, None]:
    # Like any TOML file, one cut at a line end may still parse: no expected result.
    return _tuned_text(_good_tuned_doc()).encode(), None


def test_the_good_tune_config_loads():
    """The base the tune cases change is itself valid (or they would test nothing)."""
    from rramlsm.sw.experiments.tune import DEFAULTS, load_tuned

    with scratch() as d:
        (d / "tuned.toml").write_text(_tuned_text(_good_tuned_doc()))
        assert load_tuned(d / "tuned.toml").params == DEFAULTS


@pytest.mark.parametrize("section, key, value, message", [
    ("visual", "steps", 2.5, "visual.steps must be a whole number, not 2.5"),
    ("head", "epochs", "100", "head.epochs must be a whole number, not '100'"),
    ("head", "temperature", True, "head.temperature must be a number, not True"),
    ("audio", "windows", 2.0, "audio.windows must be a whole number or 'auto', not 2.0"),
    ("head", "loss", 3, "head.loss must be a string, not 3"),
    # Beyond the RTL's windows: "at most 9" would be cut to 8 (or fewer) unsaid.
    ("visual", "windows", 9, "visual.windows 9 exceeds the RTL's limit of 8 readout windows")])
def test_tune_config_values_of_another_type_are_refused_not_cut(section, key, value, message):
    """A value of another type than the setting's (the classes would cut 2.5 steps to 2,
    or take "100" or true for a number) is refused, naming the setting."""
    from rramlsm.sw.experiments.tune import load_tuned

    doc = _good_tuned_doc()
    doc[section][key] = value
    with scratch() as d:
        (d / "tuned.toml").write_text(_tuned_text(doc))
        with pytest.raises(ConfigError, match=re.escape(message)):
            load_tuned(d / "tuned.toml")


@given(section=st.sampled_from(["data", "visual", "audio", "cochlea", "head", "score", "x"]),
       key=st.one_of(st.sampled_from(["target_rate", "steps", "reduce", "polarity", "epochs",
                                      "visual_sensor", "audio_kind", "delta"]),
                     st.text(max_size=3)),
       value=st.one_of(SWEEP_TYPICAL, toml_values), whole_section=st.booleans())
def test_tune_config_fields_out_of_range(section, key, value, whole_section):
    doc = _good_tuned_doc()
    if whole_section or not isinstance(doc.get(section, {}), dict):
        doc[section] = value
    else:
        doc.setdefault(section, {})[key] = value
    with scratch() as d:
        (d / "tuned.toml").write_text(_tuned_text(doc))
        _check_tuned(d / "tuned.toml")


# --- every single-file reader: random bytes, and a good file truncated or changed ------------

def _good_nmnist(which: int) -> tuple[bytes, None]:
    files = sorted((SHARED_DATA / "nmnist").glob("Train/*/*.bin"))
    if not files:
        pytest.skip(f"real N-MNIST recordings not found under {SHARED_DATA}")
    return files[which % len(files)].read_bytes(), None


def _good_wav(which: int) -> tuple[bytes, np.ndarray]:
    files = sorted((SHARED_DATA / "fsdd").glob("*.wav"))
    if not files:
        pytest.skip(f"real FSDD recordings not found under {SHARED_DATA}")
    return files[which % len(files)].read_bytes(), read_wav(files[which % len(files)])[0]


@functools.cache
def _good_ntidigits(which: int = 0):
    # Without checksums, HDF5 cannot tell a changed data byte from a real value; a
    # truncated file, though, must never load as a shorter dataset.
    with scratch() as d:
        _ntidigits_file(d / "good.h5")
        return (d / "good.h5").read_bytes(), load_ntidigits(d / "good.h5")


@functools.cache
def _good_shd(which: int = 0):
    rng = np.random.default_rng(0)
    recs = []
    for i in range(3):
        ev = np.empty(5 + i, dtype=[("x", np.int16), ("t", np.int64), ("p", np.int8)])
        ev["x"], ev["t"], ev["p"] = (rng.integers(0, SHD_CHANNELS, 5 + i),
                                     np.sort(rng.integers(0, 10**6, 5 + i)), 1)
        recs.append((ev, i, i))
    with scratch() as d:
        write_shd(d / "good.h5", recs)
        return (d / "good.h5").read_bytes(), load_shd(d / "good.h5")


@functools.cache
def _good_letters(which: int = 0):
    # Compressed MATLAB v5 data carries a checksum: a changed byte is caught as well.
    with scratch() as d:
        write_single_letters(d / "good.mat", _good_cubes())
        return (d / "good.mat").read_bytes(), _good_cubes()


def _good_sweep(which: int) -> tuple[bytes, None]:
    # A TOML file cut at a line end is still valid TOML: that it loads as what it says is
    # all a reader can promise; anything else must be a ConfigError.
    configs = sorted((REPO / "configs" / "sweeps").glob("*.toml"))
    return configs[which % len(configs)].read_bytes(), None


#: reader -> (file name, check(path, expected), good(which) -> (bytes, expected), bytes that
#: get further into the parser than random ones)
FILE_READERS = {
    "nmnist": ("r.bin", _check_nmnist, _good_nmnist, nmnist_records()),
    "ntidigits": ("n.h5", _check_ntidigits, _good_ntidigits, st.nothing()),
    "shd": ("shd.h5", functools.partial(_check_audio_file, load_shd, SHD_CHANNELS), _good_shd,
            st.nothing()),
    "wav": ("3_x_0.wav", _check_wav, _good_wav, wav_headers),
    # a MATLAB header claiming v7.3, so SciPy hands the file to h5py
    "letters": ("singleLetters.mat", _check_letters, _good_letters, st.binary(max_size=40).map(
        lambda b: b"MATLAB 7.3 MAT-file".ljust(124, b" ") + b"\x00\x02IM" + b)),
    "sweep": ("s.toml", _check_sweep, _good_sweep, st.nothing()),
    "tune": ("tuned.toml", _check_tuned, _good_tune, st.nothing()),
}
READER_PARAMS = list(FILE_READERS)


@pytest.mark.parametrize("reader", READER_PARAMS)
@given(data=st.data())
def test_random_bytes(reader, data):
    name, check, _, special = FILE_READERS[reader]
    raw = data.draw(st.one_of(st.binary(max_size=300), special), label="raw")
    with scratch() as d:
        (d / name).write_bytes(raw)
        check(d / name)


@pytest.mark.parametrize("reader", READER_PARAMS)
@given(which=st.integers(0, 100), how=damage)
def test_good_file_truncated_or_changed(reader, which, how):
    """A truncated file never loads as a shorter one; a changed byte is caught or gives
    valid data (a format without checksums cannot tell it from a real value)."""
    name, check, good, _ = FILE_READERS[reader]
    raw, expected = good(which)
    cut, flips = how
    with scratch() as d:
        (d / name).write_bytes(_damage(raw, cut, flips))
        check(d / name, None if flips else expected)


@pytest.mark.parametrize("name, read", [
    ("r.bin", read_nmnist_file), ("n.h5", load_ntidigits), ("shd.h5", load_shd),
    ("3_x_0.wav", read_wav),
    ("singleLetters.mat", read_single_letters), ("s.toml", load_sweep_config)])
def test_empty_file(name, read):
    with scratch() as d:
        (d / name).write_bytes(b"")
        with pytest.raises((EventDataError, ConfigError)) as e:
            read(d / name)
        _names(e.value, d / name)
