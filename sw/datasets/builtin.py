"""The built-in datasets: generated offline, deterministic per seed, cached on disk.

* ``digits`` -- scikit-learn's 1,797 real handwritten digits (8 x 8), turned
  into N-MNIST-like events by the saccade + DVS model (:mod:`.dvs`).
* ``speech`` -- "zero" ... "nine" spoken by eSpeak NG over many accents,
  voice variants, rates and pitches (:mod:`.speech`), turned into
  N-TIDIGITS-like events by the cochlea model (:mod:`.cochlea`).  Train and
  test use disjoint voices.

The cache lives in ``$RRAMLSM_CACHE`` (default ``~/.cache/rramlsm``); a file's
name carries the generator version and a hash of every parameter, so a
changed generator never reuses a stale cache.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from rramlsm.sw.datasets.base import EventDataset
from rramlsm.sw.datasets.cochlea import Cochlea, CochleaConfig
from rramlsm.sw.datasets.dvs import DVSConfig, images_to_events
from rramlsm.sw.datasets.speech import DIGIT_WORDS, Utterance, synth_batch, voice_grid
from rramlsm.sw.events import COCHLEA_CHANNELS, NMNIST_SENSOR

__all__ = ["cache_dir", "build_digits", "build_speech", "BUILTIN", "DEFAULT_SOURCES",
           "GENERATOR_VERSION"]

#: Version of the built-in generators, in every cache key: 2 seeds eSpeak NG's random
#: generator per utterance (version 1's speech differed between builds).
GENERATOR_VERSION = 2


def cache_dir() -> Path:
    """Where built datasets and features are cached (``$RRAMLSM_CACHE`` overrides)."""
    env = os.environ.get("RRAMLSM_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "rramlsm"


def _key(kind: str, params: dict) -> Path:
    blob = json.dumps({"v": GENERATOR_VERSION, **params}, sort_keys=True, default=str)
    digest = hashlib.sha256(blob.encode()).hexdigest()[:12]
    return cache_dir() / "datasets" / f"{kind}-v{GENERATOR_VERSION}-{digest}.npz"


def _cached(kind: str, params: dict, build, *, rebuild: bool = False) -> EventDataset:
    path = _key(kind, params)
    if path.exists() and not rebuild:
        return EventDataset.load(path)
    ds = build()
    ds.save(path)
    return ds


def build_digits(
    *, seed: int = 0, test_fraction: float = 0.2, limit: int | None = None,
    dvs: DVSConfig = DVSConfig(), rebuild: bool = False, progress: bool = True,
) -> EventDataset:
    """The ``digits`` source: sklearn's handwritten digits through the DVS model.

    ``limit`` keeps the first ``limit`` images (tests use it to stay quick).
    The split is stratified by class and seeded.
    """
    params = {"seed": seed, "test_fraction": test_fraction, "limit": limit,
              "dvs": dataclasses.asdict(dvs)}

    def build():
        from sklearn.datasets import load_digits

        d = load_digits()
        images, labels = d.images / 16.0, d.target
        if limit is not None:
            images, labels = images[:limit], labels[:limit]
        steps = 3 * int(round(dvs.saccade_ms * 1000 / dvs.dt_us))
        with tqdm(total=steps, desc="digits: DVS saccades", disable=not progress,
                  unit="step") as bar:
            events = images_to_events(images, dvs, seed=seed, progress=bar.update)
        is_train = _stratified_train_mask(labels, test_fraction, seed)
        groups = [f"img{i}" for i in range(len(labels))]
        return EventDataset("digits", "vision", NMNIST_SENSOR, events, labels, is_train, groups)

    return _cached("digits", params, build, rebuild=rebuild)


def _stratified_train_mask(labels: np.ndarray, test_fraction: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    is_train = np.ones(len(labels), dtype=bool)
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        rng.shuffle(idx)
        is_train[idx[: int(round(len(idx) * test_fraction))]] = False
    return is_train


def build_speech(
    *, seed: int = 0, per_voice: int = 2, test_voice_fraction: float = 0.25,
    voices: int | None = None, cochlea: CochleaConfig = CochleaConfig(),
    rebuild: bool = False, progress: bool = True,
) -> EventDataset:
    """The ``speech`` source: eSpeak NG digits through the cochlea model.

    Each of the 160 voices (8 accents x 20 variants; ``voices`` keeps the
    first few) says every digit ``per_voice`` times at random rates (130-230
    words/min) and pitches (25-75), giving 320 utterances per digit by
    default.  A seeded ``test_voice_fraction`` of the voices is held out.
    """
    params = {"seed": seed, "per_voice": per_voice, "test_fraction": test_voice_fraction,
              "voices": voices, "cochlea": dataclasses.asdict(cochlea)}

    def build():
        rng = np.random.default_rng(seed)
        grid = voice_grid()[:voices] if voices else voice_grid()
        n_test = max(1, int(round(len(grid) * test_voice_fraction)))
        test_voices = set(rng.choice(len(grid), size=n_test, replace=False).tolist())
        utts, labels, is_train, groups = [], [], [], []
        for vi, voice in enumerate(grid):
            for digit, word in enumerate(DIGIT_WORDS):
                for _ in range(per_voice):
                    utts.append(Utterance(word, voice, int(rng.integers(130, 231)),
                                          int(rng.integers(25, 76))))
                    labels.append(digit)
                    is_train.append(vi not in test_voices)
                    groups.append(voice)
        with tqdm(total=len(utts), desc="speech: eSpeak NG", disable=not progress,
                  unit="utt") as bar:
            rate, waves = synth_batch(utts, progress=bar.update)
        model = Cochlea(cochlea)
        events = []
        chunk = 256  # bounded memory: the cochlea concatenates a chunk at a time
        for lo in tqdm(range(0, len(waves), chunk), desc="speech: cochlea",
                       disable=not progress, unit="chunk"):
            events += model(waves[lo : lo + chunk], rate)
        return EventDataset("speech", "audio", (COCHLEA_CHANNELS,), events, labels, is_train,
                            groups)

    return _cached("speech", params, build, rebuild=rebuild)


BUILTIN = {"digits": build_digits, "speech": build_speech}

#: The built-in source of each of the macro's cores: what the demo trains on and what
#: ``cosim``, ``energy``, ``fpga`` and ``run-fpga`` send through a bundle by default.
DEFAULT_SOURCES = {"visual": "digits", "audio": "speech"}
