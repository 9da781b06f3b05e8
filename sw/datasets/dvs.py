"""Static images -> N-MNIST-like events, the way N-MNIST was recorded.

Orchard et al. (2015) showed each MNIST digit on a monitor and moved an ATIS
camera along three saccades (a triangle, ~100 ms each).  We do the same in
simulation, vectorised over a whole batch of images:

1. each image is upscaled into a 34 x 34 field (digit ~22 px tall, as an
   MNIST digit inside the 28 x 28 box centred in the sensor), slightly blurred
   (optics);
2. the image moves along the triangle ``(0,0) -> (2,4) -> (4,0) -> (0,0)``
   pixels, one leg per saccade, sampled every ``dt_us``;
3. a DVS pixel model on ``log(I + eps)``: a pixel emits one event per
   contrast threshold crossed since its last event (ON for brighter, OFF for
   darker); thresholds vary per pixel (mismatch), a pixel that fired is
   blind for a refractory period, and background-activity noise events
   arrive as a Poisson process.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rramlsm.sw.events import NMNIST_SENSOR, make_vision_events

__all__ = ["DVSConfig", "images_to_events", "SACCADE_VERTICES"]

#: Saccade path in pixels (x, y); three legs like N-MNIST's triangle.
SACCADE_VERTICES = np.array([[0.0, 0.0], [2.0, 4.0], [4.0, 0.0], [0.0, 0.0]])


@dataclass(frozen=True)
class DVSConfig:
    """Parameters of the saccade + DVS pixel model (documented in ``docs/DATA.md``)."""

    saccade_ms: float = 100.0
    """Duration of each of the three saccades (ms)."""
    dt_us: int = 1000
    """Simulation step (us); event times are jittered uniformly within a step."""
    digit_px: int = 22
    """Height of the upscaled digit in pixels."""
    blur_px: float = 0.7
    """Gaussian optical blur sigma (pixels)."""
    eps: float = 0.1
    """Offset of the log intensity ``log(I + eps)`` (I in [0, 1])."""
    threshold: float = 0.3
    """Mean contrast threshold (log units)."""
    threshold_sigma: float = 0.03
    """Per-pixel threshold mismatch (standard deviation, log units)."""
    refractory_us: int = 1000
    """Time a pixel stays blind after it fires (us)."""
    noise_hz: float = 0.2
    """Background-activity rate per pixel (Hz), half ON and half OFF."""

    def __post_init__(self):
        if self.threshold <= 0 or self.threshold_sigma < 0:
            raise ValueError(f"DVSConfig threshold must be positive, not {self.threshold}")
        if self.dt_us <= 0 or self.saccade_ms <= 0:
            raise ValueError("DVSConfig dt_us and saccade_ms must be positive")


def _place(images: np.ndarray, cfg: DVSConfig) -> np.ndarray:
    """Upscale [N, h, w] images in [0, 1] into the 34 x 34 field at the start position."""
    from scipy import ndimage  # here, not at import: the command line need not load it

    n, h, w = images.shape
    zoom = cfg.digit_px / h
    up = ndimage.zoom(images, (1, zoom, zoom), order=1)
    up = np.clip(up, 0, 1)
    field = np.zeros((n, NMNIST_SENSOR[1], NMNIST_SENSOR[0]))
    # Centre the digit in the field, minus half the saccade excursion so the
    # whole path stays on the sensor.
    span = SACCADE_VERTICES.max(axis=0)
    oy = (NMNIST_SENSOR[1] - up.shape[1] - int(span[1])) // 2
    ox = (NMNIST_SENSOR[0] - up.shape[2] - int(span[0])) // 2
    field[:, oy : oy + up.shape[1], ox : ox + up.shape[2]] = up
    if cfg.blur_px > 0:
        field = ndimage.gaussian_filter(field, (0, cfg.blur_px, cfg.blur_px))
    return field


#: Samples processed together in one step: the step's dozen array passes then stay in the
#: CPU's cache (about 1 MB of float64 per array) instead of streaming the whole batch.
_CHUNK = 64


def _padded(base: np.ndarray) -> tuple[np.ndarray, int]:
    """``base`` [N, H, W] in a zero margin wide enough for every shift along the path."""
    margin = int(np.ceil(np.abs(SACCADE_VERTICES).max())) + 2
    return np.pad(base, ((0, 0), (margin, margin), (margin, margin))), margin


def _shift(padded: np.ndarray, margin: int, dx: float, dy: float) -> np.ndarray:
    """Bilinear sub-pixel shift (content moves by +dx, +dy) of a batch held in a zero
    margin (:func:`_padded`): the four neighbours are views of it, no copies."""
    ix, iy = int(np.floor(dx)), int(np.floor(dy))
    fx, fy = dx - ix, dy - iy
    H, W = padded.shape[1] - 2 * margin, padded.shape[2] - 2 * margin

    def moved(sx, sy):
        return padded[:, margin - sy : margin - sy + H, margin - sx : margin - sx + W]

    return ((1 - fx) * (1 - fy) * moved(ix, iy) + fx * (1 - fy) * moved(ix + 1, iy)
            + (1 - fx) * fy * moved(ix, iy + 1) + fx * fy * moved(ix + 1, iy + 1))


def images_to_events(images: np.ndarray, cfg: DVSConfig = DVSConfig(), *, seed: int = 0,
                     progress=None) -> list[np.ndarray]:
    """Convert a batch of grey images ``[N, h, w]`` in [0, 1] into vision event arrays."""
    rng = np.random.default_rng(seed)
    images = np.asarray(images, dtype=np.float64)
    if images.ndim != 3:
        raise ValueError(f"images must be [N, h, w], not shape {images.shape}")
    n = images.shape[0]
    if n == 0:
        return []
    base = _place(images, cfg)
    padded, margin = _padded(base)
    steps_per_leg = int(round(cfg.saccade_ms * 1000 / cfg.dt_us))
    legs = len(SACCADE_VERTICES) - 1
    thr = rng.normal(cfg.threshold, cfg.threshold_sigma, size=(n,) + base.shape[1:])
    thr = np.maximum(thr, 0.05 * cfg.threshold)  # a physical threshold is never <= 0
    ref = np.log(base + cfg.eps)
    blind_until = np.zeros(base.shape, dtype=np.int64)
    out = {k: [] for k in "sxytp"}
    total_steps = legs * steps_per_leg
    chunks = [slice(a, min(a + _CHUNK, n)) for a in range(0, n, _CHUNK)]
    for k in range(1, total_steps + 1):
        u = k / steps_per_leg  # position along the path, in legs
        leg = min(int(u), legs - 1)
        a, b = SACCADE_VERTICES[leg], SACCADE_VERTICES[leg + 1]
        pos = a + (b - a) * (u - leg)
        t_now = k * cfg.dt_us
        fired = {key: [] for key in "syxcg"}
        for c in chunks:
            # Every operation is per pixel, so a chunk of samples gives exactly the batch's
            # values; chunks in order give the batch's (s, y, x) order of events.
            now = np.log(_shift(padded[c], margin, pos[0], pos[1]) + cfg.eps)
            diff = now - ref[c]
            count = np.floor(np.abs(diff) / thr[c]).astype(np.int64)
            count[blind_until[c] > t_now] = 0
            s, y, x = np.nonzero(count)
            cnt = count[s, y, x]
            sign = np.sign(diff[s, y, x])
            ref[c][s, y, x] += sign * cnt * thr[c][s, y, x]
            blind_until[c][s, y, x] = t_now + cfg.refractory_us
            for key, v in zip("syxcg", (s + c.start, y, x, cnt, sign), strict=True):
                fired[key].append(v)
        s, y, x, cnt, sign = (np.concatenate(fired[key]) for key in "syxcg")
        rep = np.repeat(np.arange(len(s)), cnt)
        for key, v in zip("sxy", (s, x, y), strict=True):
            out[key].append(v[rep])
        out["p"].append((sign[rep] > 0).astype(np.int8))
        out["t"].append(t_now - cfg.dt_us + rng.integers(0, cfg.dt_us, size=len(rep)))
        if progress is not None:
            progress(1)
    # Background activity: Poisson events uniformly over pixels and time.
    duration = total_steps * cfg.dt_us
    n_pix = base.shape[1] * base.shape[2]
    n_noise = rng.poisson(cfg.noise_hz * duration * 1e-6 * n_pix, size=n)
    s = np.repeat(np.arange(n), n_noise)
    out["s"].append(s)
    out["x"].append(rng.integers(0, NMNIST_SENSOR[0], size=len(s)))
    out["y"].append(rng.integers(0, NMNIST_SENSOR[1], size=len(s)))
    out["t"].append(rng.integers(0, duration, size=len(s)))
    out["p"].append(rng.integers(0, 2, size=len(s)).astype(np.int8))
    cat = {k: np.concatenate(v) for k, v in out.items()}
    order = np.lexsort((cat["x"], cat["y"], cat["t"], cat["s"]))
    cat = {k: v[order] for k, v in cat.items()}
    bounds = np.searchsorted(cat["s"], np.arange(n + 1))
    return [
        make_vision_events(cat["x"][a:b], cat["y"][a:b], cat["t"][a:b], cat["p"][a:b])
        for a, b in zip(bounds[:-1], bounds[1:], strict=True)
    ]
