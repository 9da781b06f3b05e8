"""The BMI task's data: attempted-handwriting neural recordings and letter images.

Real data: Willett et al. 2021 ("High-performance brain-to-text communication
via handwriting", Nature 593), ``singleLetters.mat`` -- one array
``neuralActivityCube_<letter>`` per letter, trials x 201 bins of 10 ms x 192
channels (threshold crossings of two 96-electrode Utah arrays in hand-knob
motor cortex).  :func:`read_single_letters` reads it (MATLAB v5 through SciPy,
v7.3 through h5py) and binarises the counts, as the paper does.

Built-in substitute (the real data cannot be shipped): a motor-cortex
population model.  Each letter's pen trajectory is traced along its glyph
outline in DejaVu Sans (matplotlib's ``TextPath``); every channel is a
cosine-tuned neuron (Georgopoulos et al., 1982) whose rate follows the pen
velocity, and spikes are Poisson per 10 ms bin, binarised.  Trials vary in
speed, size, slant, onset and gain.  Letter images come from the same glyphs
with random affine and elastic distortion (Simard et al., 2003) at 28 x 28,
rate-coded over 50 steps with ``p = 0.4 * pixel``.
"""

from __future__ import annotations

import functools
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rramlsm.errors import EventDataError
from rramlsm.sw._checks import check_int, check_real
from rramlsm.sw.datasets.raster import RasterDataset

__all__ = ["LETTERS", "UNSEEN_LETTERS", "glyph_contours", "pen_trajectory", "LetterImageConfig",
           "letter_images", "build_letter_images", "MotorCortexConfig", "build_neural",
           "read_single_letters", "write_single_letters", "load_single_letters", "CUBE_KEY"]

LETTERS = "abcdefghijklmnopqrstuvwxyz"
#: The paper's unseen letters.
UNSEEN_LETTERS = "stuv"
#: Variable name of one letter's trials in ``singleLetters.mat``.
CUBE_KEY = "neuralActivityCube_{}"


# -- Glyph geometry --------------------------------------------------------------------------

@functools.cache
def glyph_contours(letter: str) -> tuple[np.ndarray, ...]:
    """Outline contours of ``letter`` in DejaVu Sans, centred, largest side 1.

    DejaVu Sans ships with matplotlib, so the glyphs are the same on every machine.
    """
    from matplotlib.font_manager import FontProperties
    from matplotlib.textpath import TextPath

    if len(letter) != 1:
        raise ValueError(f"glyph_contours needs one character, not {letter!r}")
    path = TextPath((0, 0), letter, size=1, prop=FontProperties(family="DejaVu Sans"))
    polys = [np.asarray(p, np.float64) for p in path.to_polygons(closed_only=True) if len(p) > 2]
    if not polys:
        raise ValueError(f"no outline for {letter!r} in DejaVu Sans")
    allp = np.concatenate(polys)
    lo, hi = allp.min(0), allp.max(0)
    centre, size = (lo + hi) / 2, float((hi - lo).max())
    return tuple((p - centre) / size for p in polys)


def pen_trajectory(letter: str, points: int) -> np.ndarray:
    """``[points, 2]`` pen positions tracing the glyph's contours at constant speed.

    The pen travels each outline contour in turn and moves in a straight line
    between contours (a pen lift is still an arm movement the cortex encodes).
    """
    contours = glyph_contours(letter)
    path = [contours[0]]
    for c in contours[1:]:
        path.append(np.linspace(path[-1][-1], c[0], 8)[1:-1])
        path.append(c)
    xy = np.concatenate(path)
    seg = np.linalg.norm(np.diff(xy, axis=0), axis=1)
    s = np.concatenate([[0.0], np.cumsum(seg)])
    u = np.linspace(0.0, s[-1], points)
    return np.stack([np.interp(u, s, xy[:, 0]), np.interp(u, s, xy[:, 1])], axis=1)


@functools.cache
def _glyph_bitmap(letter: str, res: int = 112) -> np.ndarray:
    """Filled glyph on a ``res x res`` grid spanning [-0.75, 0.75]^2 (y up), float 0/1."""
    from matplotlib.path import Path as MplPath

    g = (np.arange(res) + 0.5) / res * 1.5 - 0.75
    xx, yy = np.meshgrid(g, g[::-1])
    pts = np.stack([xx.ravel(), yy.ravel()], axis=1)
    inside = np.zeros(len(pts), bool)
    # Even-odd fill: inner contours (the holes of a, b, d, e, ...) toggle back to empty.
    for c in glyph_contours(letter):
        inside ^= MplPath(c).contains_points(pts)
    return inside.reshape(res, res).astype(np.float64)


# -- Letter images ---------------------------------------------------------------------------

@dataclass(frozen=True)
class LetterImageConfig:
    """Distorted 28 x 28 letter images, rate-coded into binary rasters."""

    per_letter: int = 40
    """Images per letter."""
    test_fraction: float = 0.25
    """Share of each letter's images in the test split."""
    side: int = 28
    """Image side in pixels (input channels: side * side)."""
    steps: int = 50
    """Rate-coding steps T."""
    rate: float = 0.4
    """Spike probability per step of a fully inked pixel (Lin et al. 2025: p = 0.4 * pixel)."""
    letter_px: float = 20.0
    """Nominal letter size in pixels (MNIST-like: 20 px in a 28 px frame)."""
    rotation_deg: float = 12.0
    """Random rotation, uniform in +-this."""
    scale: tuple[float, float] = (0.8, 1.1)
    shear: float = 0.3
    """Random horizontal shear (slant), uniform in +-this."""
    shift_px: float = 2.0
    elastic_alpha_px: float = 2.0
    """Elastic distortion: displacement amplitude in pixels..."""
    elastic_sigma_px: float = 3.0
    """...of a random field smoothed with this Gaussian width."""
    seed: int = 0

    def __post_init__(self):
        check_int("LetterImageConfig", "per_letter", self.per_letter, lo=2)
        check_real("LetterImageConfig", "test_fraction", self.test_fraction, lo=0.0, hi=1.0,
                   lo_open=True, hi_open=True)
        check_int("LetterImageConfig", "side", self.side, lo=4)
        check_int("LetterImageConfig", "steps", self.steps, lo=1)
        check_real("LetterImageConfig", "rate", self.rate, lo=0.0, hi=1.0, lo_open=True)
        check_real("LetterImageConfig", "letter_px", self.letter_px, lo=0.0, lo_open=True)


def letter_images(letter: str, n: int, config: LetterImageConfig,
                  rng: np.random.Generator) -> np.ndarray:
    """``[n, side, side]`` float images in [0, 1] of ``letter``, each distorted at random."""
    from scipy.ndimage import gaussian_filter, map_coordinates

    base = _glyph_bitmap(letter)
    res, side = base.shape[0], config.side
    # Output pixel centres in glyph units (y up), the letter spanning letter_px pixels.
    px = (np.arange(side) + 0.5 - side / 2) / config.letter_px
    ox, oy = np.meshgrid(px, -px)
    out = np.empty((n, side, side))
    for i in range(n):
        # Elastic field (in output pixels), then the inverse affine map to glyph space.
        dx, dy = (gaussian_filter(rng.uniform(-1, 1, (side, side)), config.elastic_sigma_px,
                                  mode="constant") * config.elastic_alpha_px
                  * config.elastic_sigma_px for _ in range(2))
        x = ox + dx / config.letter_px
        y = oy + dy / config.letter_px
        a = np.deg2rad(rng.uniform(-config.rotation_deg, config.rotation_deg))
        s = rng.uniform(*config.scale)
        k = rng.uniform(-config.shear, config.shear)
        tx, ty = rng.uniform(-config.shift_px, config.shift_px, 2) / config.letter_px
        x, y = x - tx, y - ty
        x, y = (np.cos(a) * x + np.sin(a) * y) / s, (-np.sin(a) * x + np.cos(a) * y) / s
        x = x - k * y
        # Glyph coordinates -> bitmap rows/columns; outside the bitmap is blank paper.
        col = (x + 0.75) / 1.5 * res - 0.5
        row = (0.75 - y) / 1.5 * res - 0.5
        out[i] = map_coordinates(base, [row, col], order=1, mode="constant", cval=0.0)
    return np.clip(out, 0.0, 1.0)


def build_letter_images(config: LetterImageConfig = LetterImageConfig(), *,
                        letters: str = LETTERS) -> RasterDataset:
    """The built-in letter images, rate-coded: ``[N, steps, side * side]`` rasters."""
    rng = np.random.default_rng(config.seed)
    frames, labels, train = [], [], []
    n_test = max(1, round(config.test_fraction * config.per_letter))
    for c, letter in enumerate(letters):
        img = letter_images(letter, config.per_letter, config, rng).reshape(config.per_letter, -1)
        p = config.rate * img
        frames.append((rng.random((config.per_letter, config.steps, img.shape[1]))
                       < p[:, None, :]).astype(np.uint8))
        labels += [c] * config.per_letter
        train += [True] * (config.per_letter - n_test) + [False] * n_test
    return RasterDataset("letters", "letters", np.concatenate(frames), labels, train,
                         tuple(letters))


# -- Motor-cortex population model -----------------------------------------------------------

@dataclass(frozen=True)
class MotorCortexConfig:
    """Cosine-tuned, Poisson-spiking channels driven by a pen trajectory (attempted writing).

    Defaults follow Willett et al. 2021's task: 192 channels, 201 bins of
    10 ms, a go cue one second... into the trial, about a second of writing.
    """

    trials: int = 40
    """Trials per letter."""
    test_fraction: float = 0.25
    channels: int = 192
    bins: int = 201
    bin_s: float = 0.010
    go_bin: int = 50
    """Bin at which writing starts (before it: the delay period, baseline firing)."""
    duration_s: float = 1.0
    """Nominal time to write one letter."""
    speed_range: tuple[float, float] = (0.75, 1.3)
    """Trial-to-trial writing speed factor (duration / factor)."""
    size_range: tuple[float, float] = (0.8, 1.2)
    slant: float = 0.3
    """Horizontal shear of the trajectory, uniform in +-this."""
    onset_jitter_bins: int = 8
    baseline_hz: tuple[float, float] = (2.0, 20.0)
    """Baseline firing rate per channel, uniform in this range."""
    depth_hz: tuple[float, float] = (10.0, 60.0)
    """Modulation depth per channel at the nominal pen speed."""
    tuned_fraction: float = 0.8
    """Share of channels tuned to velocity (the rest fire at baseline)."""
    gain_sd: float = 0.15
    """Trial-to-trial multiplicative gain noise per channel (lognormal sigma)."""
    subject_seed: int = 0
    """Seeds the population's tuning: one subject, many trials."""
    seed: int = 1
    """Seeds the trials."""

    def __post_init__(self):
        check_int("MotorCortexConfig", "trials", self.trials, lo=2)
        check_real("MotorCortexConfig", "test_fraction", self.test_fraction, lo=0.0, hi=1.0,
                   lo_open=True, hi_open=True)
        check_int("MotorCortexConfig", "channels", self.channels, lo=1)
        check_int("MotorCortexConfig", "bins", self.bins, lo=2)
        check_real("MotorCortexConfig", "bin_s", self.bin_s, lo=0.0, lo_open=True)
        check_int("MotorCortexConfig", "go_bin", self.go_bin, lo=0, hi=self.bins - 1)
        check_real("MotorCortexConfig", "duration_s", self.duration_s, lo=0.0, lo_open=True)
        check_real("MotorCortexConfig", "tuned_fraction", self.tuned_fraction, lo=0.0, hi=1.0)


def _neural_trials(letter: str, n: int, cfg: MotorCortexConfig, tuning: dict,
                   rng: np.random.Generator) -> np.ndarray:
    T, C = cfg.bins, cfg.channels
    out = np.empty((n, T, C), np.uint8)
    nominal_bins = cfg.duration_s / cfg.bin_s
    for i in range(n):
        speed = rng.uniform(*cfg.speed_range)
        dur = max(4, int(round(nominal_bins / speed)))
        xy = pen_trajectory(letter, dur + 1) * rng.uniform(*cfg.size_range)
        xy[:, 0] += rng.uniform(-cfg.slant, cfg.slant) * xy[:, 1]
        vel = np.diff(xy, axis=0) / cfg.bin_s                      # letter sizes per second
        vel *= cfg.duration_s                                      # -> units of nominal speed
        v = np.zeros((T, 2))
        start = cfg.go_bin + int(rng.integers(-cfg.onset_jitter_bins,
                                              cfg.onset_jitter_bins + 1))
        start = min(max(start, 0), T - 1)
        stop = min(T, start + dur)
        v[start:stop] = vel[: stop - start]
        # Cosine tuning to velocity: rate = baseline + depth * (v . d_pref) / nominal path speed.
        drive = (v @ tuning["direction"].T) / tuning["path_speed"]  # [T, C]
        gain = np.exp(rng.normal(0.0, cfg.gain_sd, C))
        rate = np.maximum(tuning["baseline"] + tuning["depth"] * drive, 0.0) * gain
        p = 1.0 - np.exp(-rate * cfg.bin_s)                         # P(count > 0) of Poisson
        out[i] = rng.random((T, C)) < p
    return out


def build_neural(config: MotorCortexConfig = MotorCortexConfig(), *,
                 letters: str = LETTERS) -> RasterDataset:
    """Built-in attempted-handwriting recordings: ``[N, bins, channels]`` binary rasters."""
    sub = np.random.default_rng(config.subject_seed)
    C = config.channels
    theta = sub.uniform(0, 2 * np.pi, C)
    tuned = sub.random(C) < config.tuned_fraction
    # Mean pen speed over the alphabet (in nominal units), so depth_hz is the modulation
    # at typical writing speed.
    speeds = [np.linalg.norm(np.diff(pen_trajectory(ch, 101), axis=0), axis=1).sum()
              for ch in letters]
    tuning = {"direction": np.stack([np.cos(theta), np.sin(theta)], axis=1),
              "baseline": sub.uniform(*config.baseline_hz, C),
              "depth": sub.uniform(*config.depth_hz, C) * tuned,
              "path_speed": float(np.mean(speeds))}
    rng = np.random.default_rng(config.seed)
    n_test = max(1, round(config.test_fraction * config.trials))
    frames, labels, train = [], [], []
    for c, letter in enumerate(letters):
        frames.append(_neural_trials(letter, config.trials, config, tuning, rng))
        labels += [c] * config.trials
        train += [True] * (config.trials - n_test) + [False] * n_test
    return RasterDataset("neural-model", "neural", np.concatenate(frames), labels, train,
                         tuple(letters))


# -- singleLetters.mat -----------------------------------------------------------------------

def write_single_letters(path: Path, cubes: dict[str, np.ndarray]) -> Path:
    """Write ``{letter: [trials, bins, channels]}`` as ``singleLetters.mat`` (MATLAB v5)."""
    from scipy.io import savemat

    from rramlsm.sw._io import atomic_path

    path = Path(path)
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        savemat(f, {CUBE_KEY.format(k): np.asarray(v) for k, v in cubes.items()},
                do_compression=True)
    return path


#: MATLAB v5 data element type of a zlib-compressed element.
_MI_COMPRESSED = 15


def _check_v5_elements(path: Path) -> None:
    """Walk the top-level data elements of a MATLAB v5 file and decompress every compressed
    one in full before SciPy parses it.  SciPy decompresses as it parses, so a damaged
    stream reaches its parser before zlib's checksum is checked, and that parser can crash
    the process (a segmentation fault, found by fuzzing); zlib.decompress checks first."""
    data = path.read_bytes()
    if len(data) < 128 or data[124:126] == b"\x00\x02" or data[126:128] not in (b"IM", b"MI"):
        return  # not v5 (or v7.3, HDF5): SciPy or h5py say what it is
    order = "<" if data[126:128] == b"IM" else ">"
    pos = 128
    while pos < len(data):
        if pos + 8 > len(data):
            raise EventDataError(f"{path}: truncated MATLAB file (a data element at byte "
                                 f"{pos} is cut)")
        kind, size = struct.unpack(order + "2I", data[pos:pos + 8])
        if kind >> 16:          # a small data element: type, size and data in 8 bytes
            pos += 8
            continue
        if pos + 8 + size > len(data):
            raise EventDataError(f"{path}: truncated MATLAB file (the data element at byte "
                                 f"{pos} needs {size} bytes, {len(data) - pos - 8} remain)")
        if kind == _MI_COMPRESSED:
            try:
                zlib.decompress(data[pos + 8:pos + 8 + size])
            except zlib.error as e:
                raise EventDataError(f"{path}: damaged MATLAB file (the compressed element "
                                     f"at byte {pos}: {e})") from e
            pos += 8 + size
        else:                   # other elements are padded to 8 bytes
            pos += 8 + size + (-size % 8)


def _load_mat(path: Path) -> dict[str, np.ndarray]:
    """The ``neuralActivityCube_*`` arrays of a MATLAB v5 or v7.3 (HDF5) file."""
    import scipy.io

    _check_v5_elements(path)
    try:
        raw = scipy.io.loadmat(path)
    except NotImplementedError:                    # v7.3: an HDF5 file
        return _load_mat_v73(path)
    except Exception as e:
        # SciPy's parser meets a damaged file with whatever it hits first (MatReadError,
        # IndexError, zlib.error, struct.error, ...): all mean the same to the user.
        raise EventDataError(f"{path}: not a readable MATLAB file ({type(e).__name__}: "
                             f"{e})") from e
    return {k: v for k, v in raw.items() if k.startswith("neuralActivityCube_")}


def _load_mat_v73(path: Path) -> dict[str, np.ndarray]:
    import h5py

    try:
        # MATLAB writes column-major: h5py sees every array with its axes reversed.
        with h5py.File(path, "r") as f:
            return {k: np.asarray(f[k][()]).T for k in f if k.startswith("neuralActivityCube_")
                    and isinstance(f[k], h5py.Dataset)}
    except (OSError, KeyError, RuntimeError) as e:   # h5py's errors on a damaged file
        raise EventDataError(f"{path}: not a readable MATLAB v7.3 (HDF5) file "
                             f"({type(e).__name__}: {e})") from e


def read_single_letters(path: Path, *, letters: str = LETTERS) -> dict[str, np.ndarray]:
    """``{letter: [trials, bins, channels]}`` spike counts from ``singleLetters.mat``.

    Every letter of ``letters`` must be present with the same bins and channels;
    other variables (punctuation cubes, time series) are ignored.
    """
    path = Path(path)
    if not path.is_file():
        raise EventDataError(f"{path}: no such file")
    arrays = _load_mat(path)
    out, shape = {}, None
    for letter in letters:
        key = CUBE_KEY.format(letter)
        if key not in arrays:
            raise EventDataError(f"{path}: no variable {key!r} (letters present: "
                                 f"{''.join(k[-1] for k in sorted(arrays)) or 'none'})")
        cube = arrays[key]
        real = np.issubdtype(cube.dtype, np.integer) or np.issubdtype(cube.dtype, np.floating)
        if cube.ndim != 3 or min(cube.shape) < 1 or not real:
            raise EventDataError(f"{path}: {key} must be a real [trials, bins, channels] "
                                 f"array of spike counts, not {cube.dtype} of shape "
                                 f"{list(cube.shape)}")
        if not np.isfinite(cube).all() or (cube < 0).any():
            raise EventDataError(f"{path}: {key} holds negative or non-finite spike counts")
        if shape is not None and cube.shape[1:] != shape:
            raise EventDataError(f"{path}: {key} has {list(cube.shape[1:])} bins x channels "
                                 f"but earlier letters have {list(shape)}")
        shape = cube.shape[1:]
        out[letter] = cube
    return out


def load_single_letters(path: Path, *, test_fraction: float = 0.25,
                        letters: str = LETTERS) -> RasterDataset:
    """A ``singleLetters.mat`` file as binarised rasters, the last trials of each letter held
    out for testing (trials are in recording order, so the test split is later in time)."""
    check_real("load_single_letters", "test_fraction", test_fraction, lo=0.0, hi=1.0,
               lo_open=True, hi_open=True)
    cubes = read_single_letters(path, letters=letters)
    frames, labels, train = [], [], []
    for c, letter in enumerate(letters):
        cube = cubes[letter]
        n = len(cube)
        n_test = min(n - 1, max(1, round(test_fraction * n))) if n > 1 else 0
        frames.append((cube > 0).astype(np.uint8))
        labels += [c] * n
        train += [True] * (n - n_test) + [False] * n_test
    return RasterDataset(f"willett:{path}", "neural", np.concatenate(frames), labels, train,
                         tuple(letters))
