"""Narrow weight codes: the cell width follows the devices' conductance levels through the
contract, the golden model, the bundle and the core's memory layout (issue 21)."""

import json

import numpy as np
import pytest

from rramlsm.errors import BundleError
from rramlsm.hw.params import CoreParams, crossbar_words, unpack_lanes
from rramlsm.sw import contract
from rramlsm.sw.bundle import Bundle, ModalityBundle, load_bundle, write_bundle
from rramlsm.sw.device import DeviceConfig
from rramlsm.sw.golden import IntegerLSM, quantize_reservoir
from rramlsm.sw.heads import IntegerHead, IntegerLayer
from rramlsm.sw.lsm import LSMConfig, make_reservoir


def test_weight_code_bits_follow_the_levels():
    assert [contract.weight_code_bits(n) for n in (2, 3, 4, 8, 9, 16, 17, 128, 256)] == \
        [2, 3, 3, 4, 5, 5, 6, 8, 9]
    assert contract.weight_code_bits(contract.MAX_LEVELS) == contract.WEIGHT_BITS
    for bad in (1, 257, True, 16.0):
        with pytest.raises(ValueError, match=r"2\.\.256"):
            contract.weight_code_bits(bad)


def _lsm(levels, pos_max=None):
    rng = np.random.default_rng(levels)
    pos = rng.integers(0, levels, (5, 3)).astype(np.uint8)
    neg = rng.integers(0, levels, (5, 3)).astype(np.uint8)
    if pos_max is not None:
        pos[0, 0] = pos_max
    return IntegerLSM(pos, neg, 2, 3, 10, 900, 100, 8, 0, levels=levels)


def test_golden_model_refuses_codes_beyond_the_levels():
    assert _lsm(16, 15).levels == 16
    with pytest.raises(ValueError, match=r"codes 0\.\.16, outside the 16-level device's 0\.\.15"):
        _lsm(16, 16)
    with pytest.raises(ValueError, match=r"2\.\.256"):
        _lsm(1)


def _bundle(levels):
    cfg = LSMConfig("visual", 8, 16, 20, device=DeviceConfig(levels=levels))
    lsm = quantize_reservoir(make_reservoir(cfg, seed=0))
    rng = np.random.default_rng(0)
    layer = IntegerLayer(rng.integers(-20, 20, (16, 4)).astype(np.int8), np.zeros(4, np.int32),
                         8, np.arange(-128, 128, dtype=np.int8), 1.0, 1.0)
    protos = rng.integers(-100, 100, (3, 4)).astype(np.int8)
    return Bundle({"visual": ModalityBundle(lsm, IntegerHead((layer,)), protos,
                                            np.array([0, 1, 2]))})


def test_bundle_keeps_the_levels_and_the_core_packs_narrow_cells(tmp_path):
    b = _bundle(16)
    lsm = b.modalities["visual"].lsm
    assert lsm.levels == 16 and int(lsm.pos.max()) < 16 and int(lsm.neg.max()) < 16
    path = write_bundle(tmp_path / "b", b)
    manifest = json.loads((path / "manifest.json").read_text())
    assert manifest["version"] == 4 and manifest["modalities"]["visual"]["lsm"]["levels"] == 16
    mb = load_bundle(path).modalities["visual"]
    assert mb.lsm.levels == 16
    p = CoreParams.from_bundle(mb, lanes=4, head_lanes=4)
    assert p.weight_bits == 5
    words = crossbar_words(mb.lsm.weight_codes, p)
    assert max(words) < 1 << (4 * 5)
    got = np.array([unpack_lanes(w, 4, 5) for w in words]).reshape(p.rows, -1)[:, :16]
    np.testing.assert_array_equal(got, mb.lsm.weight_codes)
    # A 256-level bundle keeps the 9-bit cells.
    assert CoreParams.from_bundle(_bundle(256).modalities["visual"]).weight_bits == 9


def test_older_bundle_loads_as_256_levels_and_a_false_level_count_is_refused(tmp_path):
    path = write_bundle(tmp_path / "b", _bundle(256))
    mf = path / "manifest.json"
    manifest = json.loads(mf.read_text())
    manifest["version"] = 2
    for field in ("levels", "trace_shift", "readout"):
        del manifest["modalities"]["visual"]["lsm"][field]
    mf.write_text(json.dumps(manifest))
    assert load_bundle(path).modalities["visual"].lsm.levels == 256
    manifest["version"] = 3
    manifest["modalities"]["visual"]["lsm"]["levels"] = 16      # but codes are up to ~120
    mf.write_text(json.dumps(manifest))
    with pytest.raises(BundleError, match=r"modality 'visual': IntegerLSM pos holds codes "
                                          r"\d+\.\.\d+, outside the 16-level device"):
        load_bundle(path)


def test_core_refuses_codes_wider_than_its_cells():
    p = CoreParams(2, 3, lanes=4, weight_bits=5)
    codes = np.zeros((5, 3), np.int64)
    codes[4, 2] = 16
    with pytest.raises(ValueError, match=r"weight codes 0\.\.16 do not fit the core's 5-bit "
                                         r"cells \(-16\.\.15\)"):
        crossbar_words(codes, p)
    codes[4, 2] = -16
    assert len(crossbar_words(codes, p)) == 5
    with pytest.raises(ValueError, match="weight_bits"):
        CoreParams(weight_bits=10)
