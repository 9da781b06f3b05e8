"""LSM features of a whole dataset, computed once and cached on disk.

Features are the reservoir's integer spike counts (``[N, windows * neurons]``,
uint8, window-major, at most L = T / windows) from either implementation:
``"float"`` (the PyTorch model, the software path) or ``"golden"`` (the integer
golden model, the hardware path).  Spike rates are ``counts / L``.

The cache key hashes everything the counts depend on: the dataset's content
(events, labels, split), the framing, the full LSM configuration (device and
ADC included), the crossbar seed, the path and the read-noise setting, and a
version number bumped whenever the arithmetic changes.  A changed config
therefore never reuses stale features.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import warnings
from pathlib import Path
from typing import Literal

import numpy as np

from rramlsm.errors import ConfigError
from rramlsm.sw._io import atomic_path
from rramlsm.sw.datasets import load_source
from rramlsm.sw.datasets.base import EventDataset
from rramlsm.sw.datasets.builtin import cache_dir
from rramlsm.sw.datasets.cochlea import Cochlea, CochleaConfig
from rramlsm.sw.datasets.fsdd import load_wav_folder
from rramlsm.sw.datasets.raster import RasterDataset
from rramlsm.sw.datasets.sources import parse_source, source_modality
from rramlsm.sw.events import AudioFraming, VisionFraming, frame_audio, frame_vision
from rramlsm.sw.golden import golden_counts, quantize_reservoir
from rramlsm.sw.kernels import compute_device
from rramlsm.sw.lsm import PRESETS, LSMConfig, float_features, make_reservoir

__all__ = ["FEATURE_VERSION", "dataset_fingerprint", "framing_for", "frame_dataset",
           "frame_for_macro",
           "lsm_counts", "known_counts", "firing_rate", "feature_key", "window_sums",
           "binned_input",
           "frame_recorded", "sample_frames"]

#: Bump when the float or golden arithmetic changes.
FEATURE_VERSION = 1
Path_ = Literal["float", "golden"]
Dataset = EventDataset | RasterDataset


def dataset_fingerprint(ds: Dataset) -> str:
    """SHA-256 over a dataset's events, labels and split (memoised on the object)."""
    cached = getattr(ds, "_fingerprint", None)
    if cached:
        return cached
    h = hashlib.sha256()
    if isinstance(ds, RasterDataset):
        h.update(json.dumps([ds.modality, list(ds.frames.shape)]).encode())
        h.update(np.ascontiguousarray(ds.frames).tobytes())
    else:
        h.update(json.dumps([ds.modality, list(ds.sensor), len(ds)]).encode())
        for ev in ds.events:
            h.update(np.int64(len(ev)).tobytes())
            h.update(np.ascontiguousarray(ev).tobytes())
    h.update(ds.labels.astype(np.int64).tobytes())
    h.update(ds.is_train.astype(np.uint8).tobytes())
    ds._fingerprint = h.hexdigest()
    return ds._fingerprint


def framing_for(ds: Dataset, config: LSMConfig):
    """The framing that turns ``ds`` into ``config``'s input: T bins x ``inputs`` rows.

    Rasters are the input as they are: they must already have T bins and ``inputs``
    channels.
    """
    if isinstance(ds, RasterDataset):
        if (ds.bins, ds.channels) != (config.steps, config.inputs):
            raise ConfigError(f"LSM {config.name!r} takes {config.steps} steps x "
                             f"{config.inputs} inputs but {ds.name!r} has {ds.bins} bins x "
                             f"{ds.channels} channels")
        return f"raster({ds.bins}x{ds.channels})"
    if ds.modality == "vision":
        framing = VisionFraming(steps=config.steps)
    elif ds.sensor[0] > config.inputs:  # SHD's 700 channels pooled onto the inputs
        framing = AudioFraming(steps=config.steps, channels=config.inputs, sensor=ds.sensor[0])
    else:
        framing = AudioFraming(steps=config.steps)
    if framing.inputs != config.inputs:
        raise ConfigError(f"LSM {config.name!r} has {config.inputs} inputs but {ds.name!r} "
                         f"({ds.modality}) is framed into {framing.inputs}")
    return framing


def frame_dataset(ds: Dataset, config: LSMConfig, index=None) -> np.ndarray:
    if isinstance(ds, RasterDataset):
        framing_for(ds, config)
        return ds.frames if index is None else ds.frames[np.asarray(index)]
    events = ds.events if index is None else [ds.events[i] for i in index]
    framing = framing_for(ds, config)
    return (frame_vision if ds.modality == "vision" else frame_audio)(events, framing)


def known_counts(index, trains: np.ndarray, config: LSMConfig):
    """The ``known`` argument of :func:`lsm_counts` for samples ``index`` whose float-model
    spike trains ``[N, T, neurons]`` were recorded under ``config``'s reservoir (the
    readout's counts are their window sums), or ``None`` when ``config`` does not count
    spikes (a float trace is not a function of the train alone)."""
    if trains is None or config.readout != "count":
        return None
    return np.asarray(index), window_sums(trains, config.windows).astype(np.uint8)


def window_sums(frames: np.ndarray, windows: int) -> np.ndarray:
    """Counts of ``frames`` ``[N, T, C]`` in ``windows`` equal windows, ``[N, windows * C]``
    (window-major, the reservoir readout's layout)."""
    n, steps, channels = frames.shape
    length = steps // windows
    return frames.reshape(n, windows, length, channels).sum(2, dtype=np.int32).reshape(n, -1)


def binned_input(ds: Dataset, config: LSMConfig, *, chunk: int = 1024) -> np.ndarray:
    """The raw input binned like the reservoir's readout: event rates per input channel in
    each of ``config.windows`` windows, ``[len(ds), windows * inputs]`` (float32).

    A linear probe on these beside one on the reservoir's features shows what the
    reservoir keeps of its input and what it loses.
    """
    out = [window_sums(frame_dataset(ds, config, range(lo, min(lo + chunk, len(ds)))),
                       config.windows).astype(np.float32) / config.window_steps
           for lo in range(0, len(ds), chunk)]
    return np.concatenate(out) if out else np.zeros((0, config.windows * config.inputs),
                                                    np.float32)


def frame_for_macro(ds: Dataset, name: str, lsm, index=None, framing: dict | None = None
                    ) -> np.ndarray:
    """Frames of ``ds`` for an exported macro (:class:`~rramlsm.sw.golden.IntegerLSM`):
    the framing recorded with the macro (a tuned configuration, ``framing``), else only its
    input count and T decide."""
    if framing:
        return frame_recorded(ds, framing, lsm, index)

    cfg = PRESETS[name].replace(inputs=lsm.inputs, neurons=lsm.neurons, steps=lsm.steps)
    return frame_dataset(ds, cfg, index)


def feature_key(ds: Dataset, config: LSMConfig, *, seed: int, path: Path_,
                noise: bool = False) -> str:
    payload = {
        "version": FEATURE_VERSION,
        "data": dataset_fingerprint(ds),
        "framing": repr(framing_for(ds, config)),
        "lsm": _lsm_key(config),
        "seed": seed,
        "path": path,
        "noise": noise,
    }
    if path == "float" and compute_device().type != "cpu":
        # Golden counts are the same on every kernel and device; float ones may differ in
        # the last bit between a CPU and a GPU, so they are kept apart (CPU keys unchanged).
        payload["device"] = compute_device().type
    blob = json.dumps(payload, sort_keys=True, default=repr).encode()
    return hashlib.sha256(blob).hexdigest()[:32]


def _lsm_key(config: LSMConfig) -> dict:
    # One readout window is the count of older versions: their cache entries stay valid.
    # So is a count readout (the trace's fields did not exist before it).
    d = dataclasses.asdict(config)
    if d["windows"] == 1:
        del d["windows"]
    if d["readout"] == "count":
        del d["readout"], d["trace_shift"]
    return d


def _compute(ds: Dataset, config: LSMConfig, seed: int, path: Path_, noise: bool,
             chunk: int = 1024, known=None) -> np.ndarray:

    res = make_reservoir(config, seed=seed)
    lsm = quantize_reservoir(res, noise=noise, noise_seed=seed) if path == "golden" else None
    out = np.empty((len(ds), config.features), np.uint8)
    todo = np.arange(len(ds))
    if known is not None:
        # The float model's counts of some samples are known (a pass over them that chose
        # the readout windows): only the others run.
        idx, counts = known
        out[idx] = counts
        todo = np.setdiff1d(todo, idx)
    # Frame in chunks: a whole dataset of dense frames would not need to fit in memory.
    for lo in range(0, len(todo), chunk):
        part = todo[lo : lo + chunk]
        frames = frame_dataset(ds, config, part)
        if lsm is None:
            counts = np.rint(float_features(res, frames) * config.feature_scale)
        else:
            # Contiguous here (known counts are the float path's): the read noise is
            # seeded by the sample's index.
            counts = golden_counts(lsm, frames, first_sample=int(part[0]))
        out[part] = counts.astype(np.uint8)
    return out


def _read_cached(file: Path, shape: tuple[int, int]) -> tuple[np.ndarray | None, str | None]:
    """The cached counts, or ``None`` and what is wrong with the file."""
    try:
        counts = np.load(file, allow_pickle=False)
    except (ValueError, OSError, EOFError) as e:
        return None, f"unreadable: {e}"
    if counts.shape != shape or counts.dtype != np.uint8:
        return None, f"{counts.dtype} {list(counts.shape)}, expected uint8 {list(shape)}"
    return counts, None


def lsm_counts(ds: Dataset, config: LSMConfig, *, seed: int, path: Path_ = "float",
               noise: bool = False, cache: bool | Path = True, known=None) -> np.ndarray:
    """Spike counts ``[len(ds), windows * neurons]`` (uint8, window-major) of every sample,
    cached by content.

    ``cache``: ``True`` for ``$RRAMLSM_CACHE/features``, a folder, or ``False``.
    ``known``: ``(indices, counts)``, the float path's counts of some samples from a pass
    already made (:func:`known_counts`); those samples do not run again.
    """
    if path not in ("float", "golden"):
        raise ValueError(f"feature path must be 'float' or 'golden', not {path!r}")
    if noise and path != "golden":
        raise ValueError("read noise is part of the golden (hardware) path only")
    if known is not None:
        if path != "float" or config.readout != "count":
            raise ValueError("known counts are the float path's spike counts only")
        idx, counts = known
        if counts.dtype != np.uint8 or counts.shape != (len(idx), config.features):
            raise ValueError(f"known counts must be uint8 [{len(idx)}, {config.features}], "
                             f"not {counts.dtype} {list(counts.shape)}")
    if config.steps > 255:
        raise ValueError(f"LSM {config.name!r}: spike counts are 8-bit, T must be <= 255")
    if cache is False:
        return _compute(ds, config, seed, path, noise, known=known)
    if cache is True:

        folder = cache_dir() / "features"
    else:
        folder = Path(cache)
    key = feature_key(ds, config, seed=seed, path=path, noise=noise)
    file = folder / f"{config.name}-{path}-{key}.npy"
    if file.exists():
        counts, damage = _read_cached(file, (len(ds), config.features))
        if damage is None:
            return counts
        # A damaged entry (a crash of another writer, a full disk, bit rot) is recomputed,
        # never trusted; the warning says which file was replaced.
        warnings.warn(f"{file}: damaged feature cache entry ({damage}); recomputing",
                      RuntimeWarning, stacklevel=2)
    counts = _compute(ds, config, seed, path, noise, known=known)
    with atomic_path(file) as tmp, open(tmp, "wb") as f:
        np.save(f, counts, allow_pickle=False)
    return counts


def firing_rate(ds: Dataset, config: LSMConfig, counts: np.ndarray, *, seed: int,
                path: Path_ = "float", noise: bool = False) -> float:
    """Mean spikes per neuron and step of ``config``'s reservoir on ``ds``: from ``counts``
    (its readout, :func:`lsm_counts`) when the readout counts spikes; for a trace readout,
    whose samples are not rates, from the same reservoir's counts (another pass, cached)."""
    if config.readout != "count":
        counts = lsm_counts(ds, config.replace(readout="count"), seed=seed, path=path,
                            noise=noise)
    return float(np.asarray(counts, np.float64).mean()) / config.window_steps


#: The WAV source last framed through a recorded cochlea (:func:`frame_recorded`), so that
#: a command framing both splits of it runs the cochlea once.
_RELOADED: dict = {}


def frame_recorded(ds, framing: dict, lsm, index=None) -> np.ndarray:
    """Frames of ``ds`` as a tuned macro's recorded ``framing`` says (``{"vision": ...}`` or
    ``{"audio": ..., "cochlea": ...}``); a WAV source goes through the recorded cochlea again
    (its events from the default cochlea are not what the macro was made for)."""
    if "vision" in framing:
        fr = VisionFraming(**{**framing["vision"], "sensor": tuple(framing["vision"]["sensor"])})
    else:
        fr = AudioFraming(**framing["audio"])
    if getattr(ds, "frames", None) is not None:
        raise ConfigError(f"{ds.name}: rasters cannot be framed for a tuned macro")
    if "cochlea" in framing:
        if not str(ds.name).startswith("fsdd:"):
            raise ConfigError(f"{ds.name}: this macro was tuned on WAV recordings through its "
                              f"own cochlea; give it an fsdd:PATH source")
        key = (ds.name, json.dumps(framing["cochlea"], sort_keys=True))
        if key not in _RELOADED:
            _RELOADED.clear()
            _RELOADED[key] = load_wav_folder(parse_source(ds.name)[1], name=ds.name,
                                             cochlea=Cochlea(CochleaConfig(**framing["cochlea"])))
        ds = _RELOADED[key]
    if fr.inputs != lsm.inputs or fr.steps != lsm.steps:
        raise ConfigError(f"{ds.name}: the recorded framing gives {fr.steps} steps x "
                          f"{fr.inputs} inputs, the macro takes {lsm.steps} x {lsm.inputs}")
    events = ds.events if index is None else [ds.events[i] for i in index]
    return (frame_vision if "vision" in framing else frame_audio)(events, fr)


def sample_frames(bundle, sources: dict[str, str], n: int, *, seed: int = 0,
                  mismatch: str | None = None) -> dict:
    """``n`` test-split samples per modality of the bundle, framed for its reservoirs
    (past the test split, training samples: any sample checks the RTL).  ``mismatch``: the
    argument a framing that does not fit the bundle's macro is blamed on (``"--bundle"``,
    where the sources are the built-in data), and only that; a source that fails to load
    is the source's error."""
    frames = {}
    for m, spec in sources.items():
        if m not in bundle.modalities:
            continue
        want = "vision" if m == "visual" else "audio"
        if source_modality(spec) != want:
            raise ConfigError(f"source {spec!r} is not a {want} source (for the {m} macro)")
        ds = load_source(spec, progress=False)
        rng = np.random.default_rng(seed)
        test, train = np.flatnonzero(~ds.is_train), np.flatnonzero(ds.is_train)
        take_test = min(n, len(test))
        idx = np.sort(np.concatenate([
            rng.choice(test, take_test, replace=False),
            rng.choice(train, min(n - take_test, len(train)), replace=False)]).astype(np.int64))
        try:
            mb = bundle.modalities[m]
            frames[m] = frame_for_macro(ds, m, mb.lsm, idx, mb.config.get("framing"))
        except ValueError as e:  # the data's framing does not fit the bundle's macro
            raise ConfigError(f"{mismatch}: {e}" if mismatch else str(e)) from None
    return frames


def say_fewer_samples(frames: dict, sources: dict[str, str], n: int, say=print) -> None:
    """Say which modality of :func:`sample_frames` got fewer than the ``n`` samples asked
    for (all its source has): a figure over fewer samples must not pass for one over
    ``n``."""
    for m, fr in frames.items():
        if len(fr) < n:
            say(f"{m}: {len(fr)} samples, all that {sources[m]} has (--samples {n})")
