"""The export bundle: everything the hardware needs, versioned and self-describing.

A bundle is a folder::

    manifest.json            schema, version, contract constants, per-modality
                             parameters, the config that produced it, and for
                             every array its file, shape, dtype and SHA-256
    visual/crossbar_pos.npy  G+ codes of the stacked input + recurrent array (uint8)
    visual/crossbar_neg.npy  G- codes (uint8)
    visual/head0_weight.npy  int8 [in, out] per head layer (the first layer reads
                             windows x neurons counts or trace samples, window-major),
                             with head0_bias.npy
                             (int32) and head0_lut.npy (GELU table, int8[256])
    visual/prototypes.npy    int8 [classes, dim]: the class prototypes this
                             modality's embeddings are compared against
    audio/...                the same for the audio macro

Arrays are ``.npy`` files written with ``allow_pickle=False`` and read the
same way.  The folder is written next to its destination under a temporary
name and renamed into place, so a crash never leaves a half-written bundle
where a good one was.  :func:`load_bundle` checks the schema, the version,
every file's presence, hash, dtype and shape, and the shapes against the
declared sizes, and names what is wrong.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from rramlsm import __version__
from rramlsm.errors import BundleError, ConfigError
from rramlsm.sw import contract
from rramlsm.sw._io import default_mode, write_atomic
from rramlsm.sw.features import frame_for_macro
from rramlsm.sw.golden import IntegerLSM, golden_counts
from rramlsm.sw.heads import IntegerHead, IntegerLayer
from rramlsm.sw.kernels import exact_int_matmul

__all__ = ["SCHEMA", "SCHEMA_VERSION", "ModalityBundle", "Bundle", "is_bundle_folder",
           "write_bundle", "load_bundle", "quantize_prototypes", "check_fits_rtl",
           "write_mem_files", "evaluate_bundle"]

SCHEMA = "rramlsm-bundle"
#: Version 2 added the readout windows (``lsm.windows``); version 1 bundles load with one
#: window, which is what they computed.
#: Version 3 added the devices' conductance levels (``lsm.levels``), which set the width of
#: the hardware's weight codes; older bundles load with 256 levels (9-bit cells), what they
#: were built for.
#: Version 4 added the readout kind (``lsm.readout``: ``"count"`` or ``"trace"``, with
#: ``lsm.trace_shift``); older bundles load as counts, what they computed.
SCHEMA_VERSION = 4
READABLE_VERSIONS = (1, 2, 3, 4)
_LSM_FIELDS_V1 = ("inputs", "neurons", "steps", "decay_q", "threshold_q", "adc_bits",
                  "adc_shift", "noise_amplitude", "noise_seed")
_LSM_FIELDS_V2 = _LSM_FIELDS_V1 + ("windows",)
_LSM_FIELDS_V3 = _LSM_FIELDS_V2 + ("levels",)
_LSM_FIELDS = _LSM_FIELDS_V3 + ("trace_shift",)
_LSM_FIELDS_BY_VERSION = {1: _LSM_FIELDS_V1, 2: _LSM_FIELDS_V2, 3: _LSM_FIELDS_V3,
                          4: _LSM_FIELDS}
#: Text fields of the manifest's ``lsm`` (the integer ones above), by the version that added
#: them.
_LSM_TEXT_FIELDS_BY_VERSION = {1: (), 2: (), 3: (), 4: ("readout",)}


def quantize_prototypes(prototypes: np.ndarray) -> np.ndarray:
    """Unit-length float prototypes ``[C, D]`` -> int8 (``round(127 * p)``)."""
    p = np.asarray(prototypes, np.float64)
    n = np.linalg.norm(p, axis=1, keepdims=True)
    p = p / np.where(n > 0, n, 1.0)
    return np.clip(np.floor(p * contract.ACT_MAX + 0.5), -127, 127).astype(np.int8)


@dataclass
class ModalityBundle:
    """One macro: reservoir, head and classifier."""

    lsm: IntegerLSM
    head: IntegerHead
    prototypes: np.ndarray
    """int8 ``[len(classes), dim]``."""
    classes: np.ndarray
    """The class label of each prototype row."""
    config: dict = field(default_factory=dict)
    """The float configuration this macro was made from (for people; not used to compute)."""

    def __post_init__(self):
        check_fits_rtl(self)

    def embed(self, counts: np.ndarray) -> np.ndarray:
        return self.head(counts)

    def scores(self, counts: np.ndarray) -> np.ndarray:
        """Classifier scores ``[N, classes]`` (int64; the RTL's are 32-bit, never overflowing)."""
        return exact_int_matmul(self.embed(counts), self.prototypes.T)

    def classify(self, counts: np.ndarray) -> np.ndarray:
        """Predicted class labels: highest score, ties to the lowest row."""
        return self.classes[contract.argmax_first(self.scores(counts), axis=1)]


@dataclass
class Bundle:
    modalities: dict[str, ModalityBundle]
    config: dict = field(default_factory=dict)
    """The pipeline configuration that produced the bundle."""


def _check_range(field_name: str, values, lo: int, hi: int, what: str) -> None:
    """Every one of ``values`` (a number or an array) in ``lo..hi``, or a BundleError."""
    v = np.asarray(values, np.int64).ravel()
    bad = v[(v < lo) | (v > hi)]
    if bad.size:
        raise BundleError(f"{field_name} = {bad[0]} does not fit {what} ({lo}..{hi})")


def check_fits_rtl(mb: ModalityBundle) -> None:
    """Refuse values wider than the RTL's registers and memories.

    The golden model computes in wider integers and would silently disagree with
    the hardware on them; :class:`~rramlsm.errors.BundleError` names the field and
    its limit.  (The LSM's own ranges -- steps, decay, threshold, ADC bits -- are
    checked by :class:`~rramlsm.sw.golden.IntegerLSM`.)
    """
    lsm = mb.lsm
    _check_range("adc_shift", lsm.adc_shift, 0, contract.COLUMN_SUM_BITS,
                 "the RTL's ADC shift register")
    _check_range("noise_amplitude", lsm.noise_amplitude, 0, (1 << contract.NOISE_AMP_BITS) - 1,
                 f"the RTL's {contract.NOISE_AMP_BITS}-bit noise_amp register")
    acc_lo, acc_hi = -(1 << (contract.ACC_BITS - 1)), (1 << (contract.ACC_BITS - 1)) - 1
    # The first layer reads spike counts 0..L, or trace samples 0..TRACE_SCALE.
    x_lo, x_hi = 0, lsm.feature_scale
    for i, layer in enumerate(mb.head.layers):
        _check_range(f"head layer {i} shift", layer.shift, 0, contract.ACC_BITS - 1,
                     f"the RTL's requantisation shift of the {contract.ACC_BITS}-bit "
                     f"accumulator")
        w = np.asarray(layer.weight, np.int64)
        _check_range(f"head layer {i} weight", w, contract.ACT_MIN, contract.ACT_MAX,
                     "the RTL's int8 weight memory")
        # The extreme accumulators over all inputs in range: bias plus, per weight, the
        # larger (smaller) of its products with the smallest and largest input.
        b = np.asarray(layer.bias, np.int64)
        hi = b + np.maximum(w * x_lo, w * x_hi).sum(0)
        lo = b + np.minimum(w * x_lo, w * x_hi).sum(0)
        worst = int(np.argmax(np.maximum(hi - acc_hi, acc_lo - lo))) if len(b) else 0
        if len(b) and not (acc_lo <= lo[worst] and hi[worst] <= acc_hi):
            raise BundleError(
                f"head layer {i} bias[{worst}] = {b[worst]} lets the accumulator reach "
                f"{lo[worst]}..{hi[worst]}, outside the RTL's {contract.ACC_BITS}-bit "
                f"accumulator ({acc_lo}..{acc_hi})")
        x_lo, x_hi = contract.ACT_MIN, contract.ACT_MAX
    _check_range("class label", mb.classes, 0, 255, "the RTL's 8-bit label memory")
    _check_range("prototype", mb.prototypes, contract.ACT_MIN, contract.ACT_MAX,
                 "the RTL's int8 prototype memory")


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _arrays(mb: ModalityBundle) -> dict[str, np.ndarray]:
    arrays = {"crossbar_pos": mb.lsm.pos, "crossbar_neg": mb.lsm.neg,
              "prototypes": mb.prototypes}
    for i, layer in enumerate(mb.head.layers):
        arrays[f"head{i}_weight"] = layer.weight
        arrays[f"head{i}_bias"] = layer.bias
        arrays[f"head{i}_lut"] = layer.lut
    return arrays


def is_bundle_folder(path: str | Path) -> bool:
    """Whether ``path`` is a folder whose ``manifest.json`` says it is a bundle (its schema
    field; a broken or foreign manifest is not one)."""
    try:
        manifest = json.loads((Path(path) / "manifest.json").read_text())
    except (OSError, ValueError):
        return False
    return isinstance(manifest, dict) and manifest.get("schema") == SCHEMA


def write_bundle(path: str | Path, bundle: Bundle, *, overwrite: bool = True) -> Path:
    """Write ``bundle`` to the folder ``path`` atomically (temporary folder, then rename)."""
    path = Path(path)
    if path.exists() and not overwrite:
        raise BundleError(f"{path}: exists (pass overwrite=True to replace it)")
    if path.exists() and not is_bundle_folder(path):
        raise BundleError(f"{path}: exists and is not a bundle; refusing to replace it")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.tmp-"))
    os.chmod(tmp, default_mode(directory=True))
    try:
        manifest = {
            "schema": SCHEMA,
            "version": SCHEMA_VERSION,
            "producer": f"rramlsm {__version__}",
            "contract": {k: getattr(contract, k) for k in _CONTRACT_KEYS},
            "modalities": {},
            "arrays": {},
            "config": bundle.config,
        }
        for name, mb in bundle.modalities.items():
            (tmp / name).mkdir()
            manifest["modalities"][name] = {
                "lsm": {**{k: int(getattr(mb.lsm, k)) for k in _LSM_FIELDS},
                        "readout": mb.lsm.readout},
                "head": {"layers": [{"inputs": int(layer.weight.shape[0]),
                                     "outputs": int(layer.weight.shape[1]),
                                     "shift": int(layer.shift),
                                     "in_scale": layer.in_scale,
                                     "weight_scale": layer.weight_scale,
                                     "out_scale": layer.out_scale}
                                    for layer in mb.head.layers]},
                "classes": [int(c) for c in mb.classes],
                "config": mb.config,
            }
            for key, arr in _arrays(mb).items():
                rel = f"{name}/{key}.npy"
                np.save(tmp / rel, np.ascontiguousarray(arr), allow_pickle=False)
                manifest["arrays"][f"{name}/{key}"] = {
                    "file": rel, "shape": list(arr.shape), "dtype": str(arr.dtype),
                    "sha256": _sha256(tmp / rel)}
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2, default=repr))
        if path.exists():
            old = path.with_name(f".{path.name}.old-{os.getpid()}")
            path.rename(old)
            tmp.rename(path)
            shutil.rmtree(old)
        else:
            tmp.rename(path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return path


#: The arithmetic contract's constants every manifest records (and a reader checks).
_CONTRACT_KEYS = ("DECAY_FRAC_BITS", "MEMBRANE_FRAC_BITS", "MEMBRANE_BITS", "COUNTER_BITS",
                  "COLUMN_SUM_BITS", "HEAD_WEIGHT_BITS", "ACT_BITS", "ACC_BITS")


def _whole(value) -> int:
    """A manifest's integer field: a JSON integer, never a fraction or a bool cut to one."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{value!r} is not an integer")
    return value


def _scale(value) -> float:
    """A manifest's scale: a finite positive number (JSON has no NaN; a NaN written by hand
    would be copied into every export)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) \
            or not math.isfinite(value) or value <= 0:
        raise ValueError(f"{value!r} is not a finite positive number")
    return float(value)


def _expect(cond: bool, where: Path, what: str) -> None:
    if not cond:
        raise BundleError(f"{where}: {what}")


def load_bundle(path: str | Path) -> Bundle:
    """Read and verify a bundle; :class:`~rramlsm.errors.BundleError` names any defect."""
    path = Path(path)
    try:
        return _read_bundle(path)
    except BundleError:
        raise
    except (KeyError, IndexError, TypeError, ValueError, AttributeError, OverflowError) as e:
        # A manifest whose structure is not the schema's (a field missing or of another
        # type): every value read here comes from the files, so these are their faults.
        raise BundleError(f"{path / 'manifest.json'}: malformed manifest ({type(e).__name__}: "
                          f"{e})") from None


def _read_bundle(path: Path) -> Bundle:
    mf = path / "manifest.json"
    _expect(path.is_dir(), path, "no such bundle folder")
    _expect(not mf.is_dir(), mf, "is a folder, not the bundle's manifest file")
    _expect(mf.is_file(), mf, "missing (not a bundle folder?)")
    try:
        manifest = json.loads(mf.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise BundleError(f"{mf}: not valid JSON ({e})") from None
    _expect(isinstance(manifest, dict) and manifest.get("schema") == SCHEMA, mf,
            f"schema is {manifest.get('schema') if isinstance(manifest, dict) else None!r}, "
            f"expected {SCHEMA!r}")
    version = manifest.get("version")
    _expect(version in READABLE_VERSIONS, mf,
            f"bundle version {version!r} is not supported (this rramlsm reads versions "
            f"{', '.join(map(str, READABLE_VERSIONS))})")
    recorded = manifest.get("contract")
    _expect(isinstance(recorded, dict) and set(_CONTRACT_KEYS) <= set(recorded), mf,
            f"the arithmetic contract's constants ({', '.join(_CONTRACT_KEYS)}) are not all "
            f"recorded")
    for k, v in recorded.items():
        _expect(getattr(contract, k, None) == v, mf,
                f"contract constant {k} = {v} differs from this rramlsm's "
                f"{getattr(contract, k, None)}")

    arrays_meta = manifest.get("arrays", {})

    def array(key: str, dtype: str, shape: tuple[int, ...]) -> np.ndarray:
        meta = arrays_meta.get(key)
        _expect(meta is not None, mf, f"array {key!r} is not listed")
        file = path / meta["file"]
        _expect(file.is_file(), file, "missing")
        digest = _sha256(file)
        _expect(digest == meta["sha256"], file,
                f"SHA-256 mismatch (corrupted or modified): {digest[:16]}... != "
                f"{meta['sha256'][:16]}...")
        try:
            arr = np.load(file, allow_pickle=False)
        except (ValueError, OSError) as e:
            raise BundleError(f"{file}: unreadable ({e})") from None
        _expect(str(arr.dtype) == dtype == meta["dtype"], file,
                f"dtype {arr.dtype} (manifest {meta['dtype']}), expected {dtype}")
        _expect(tuple(arr.shape) == tuple(shape) == tuple(meta["shape"]), file,
                f"shape {list(arr.shape)} (manifest {meta['shape']}), expected {list(shape)}")
        return arr

    modalities = {}
    for name, m in manifest.get("modalities", {}).items():
        try:
            p = {k: m["lsm"][k] for k in _LSM_FIELDS_BY_VERSION[version]}
            p.update({k: str(m["lsm"][k]) for k in _LSM_TEXT_FIELDS_BY_VERSION[version]})
            layers_meta = m["head"]["layers"]
            classes = m["classes"]
        except (KeyError, TypeError) as e:
            raise BundleError(f"{mf}: modality {name!r} lacks field {e}") from None
        try:
            for k in _LSM_FIELDS_BY_VERSION[version]:
                p[k] = _whole(p[k])
        except ValueError as e:
            raise BundleError(f"{mf}: modality {name!r} lsm.{k}: {e}") from None
        _expect(isinstance(classes, list), mf, f"modality {name!r} classes: not a list")
        try:
            classes = np.asarray([_whole(c) for c in classes], np.int64)
        except ValueError as e:
            raise BundleError(f"{mf}: modality {name!r} classes: {e}") from None
        _expect(len(set(classes.tolist())) == len(classes), mf,
                f"modality {name!r} classes repeat: {classes.tolist()}")
        rows = p["inputs"] + p["neurons"]
        pos = array(f"{name}/crossbar_pos", "uint8", (rows, p["neurons"]))
        neg = array(f"{name}/crossbar_neg", "uint8", (rows, p["neurons"]))
        try:
            lsm = IntegerLSM(pos, neg, **p)
        except (ValueError, TypeError) as e:
            raise BundleError(f"{mf}: modality {name!r}: {e}") from None
        layers, width = [], lsm.features
        for i, lm in enumerate(layers_meta):
            _expect(lm["inputs"] == width, mf,
                    f"{name} head layer {i} takes {lm['inputs']} inputs, expected {width}")
            w = array(f"{name}/head{i}_weight", "int8", (width, lm["outputs"]))
            b = array(f"{name}/head{i}_bias", "int32", (lm["outputs"],))
            lut = array(f"{name}/head{i}_lut", "int8", (256,))
            try:
                _whole(lm["inputs"]), _whole(lm["outputs"])
                shift = _whole(lm["shift"])
                scales = _scale(lm["in_scale"]), _scale(lm["weight_scale"])
            except ValueError as e:
                raise BundleError(f"{mf}: {name} head layer {i}: {e}") from None
            _expect(0 <= shift < contract.ACC_BITS, mf,
                    f"{name} head layer {i} shift {shift} out of range")
            layers.append(IntegerLayer(w, b, shift, lut, *scales))
            width = lm["outputs"]
        _expect(len(layers) > 0, mf, f"modality {name!r} has no head layers")
        protos = array(f"{name}/prototypes", "int8", (len(classes), width))
        try:
            modalities[name] = ModalityBundle(lsm, IntegerHead(tuple(layers)), protos,
                                              classes, m.get("config", {}))
        except BundleError as e:
            raise BundleError(f"{mf}: modality {name!r}: {e}") from None
    _expect(len(modalities) > 0, mf, "no modalities")
    return Bundle(modalities, manifest.get("config", {}))


def write_mem_files(bundle: Bundle, folder: Path) -> list[Path]:
    """Every array as a ``$readmemh`` file: one two's-complement word per line, row-major."""
    written = []
    for m, mb in bundle.modalities.items():
        (folder / m).mkdir(parents=True, exist_ok=True)
        for key, arr in _arrays(mb).items():
            bits = arr.dtype.itemsize * 8
            words = arr.astype(np.int64).ravel() & ((1 << bits) - 1)
            path = folder / m / f"{key}.mem"
            write_atomic(path, "".join(f"{w:0{bits // 4}x}\n" for w in words))
            written.append(path)
    return written


def evaluate_bundle(bundle: Bundle, data: dict) -> dict:
    """The bundle's classifier per modality on the test split of ``data`` (modality ->
    dataset), on the golden model: top-1 %, samples and firing rate."""
    out = {}
    for m, ds in data.items():
        mb = bundle.modalities.get(m)
        if mb is None:
            raise ConfigError(f"the bundle has no {m!r} macro")
        test = np.flatnonzero(~ds.is_train & np.isin(ds.labels, mb.classes))
        if len(test) == 0:
            raise ConfigError(f"{ds.name}: no test samples of classes {list(mb.classes)}")
        counts, trains = golden_counts(mb.lsm, frame_for_macro(ds, m, mb.lsm, test,
                                                               mb.config.get("framing")),
                                       record=True)
        pred = mb.classify(counts)
        # The spikes' rate: the readout is a count per window, or a trace sample.
        out[m] = {"top1": 100.0 * float((pred == ds.labels[test]).mean()), "samples": len(test),
                  "firing_rate": float(trains.mean())}
    return out
