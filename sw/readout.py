"""The reservoir's readout: spike counts in time windows, and choosing how many.

A total spike count per neuron throws away *when* the neuron fired; for inputs
whose classes differ in their order of events (handwriting strokes, syllables)
that is most of the information.  The readout therefore counts each neuron's
spikes in ``W`` equal windows of ``L = T / W`` steps (``W = 1``: the total
count), as the macro's counter bank does (:func:`rramlsm.sw.contract.window_steps`).

Instead of a count, a window can hold each neuron's exponential spike trace sampled
at the window's end (``readout = "trace"``, :func:`rramlsm.sw.contract.trace_readout`):
a spike late in the window then weighs more than an early one, so the readout also
keeps *where in the window* a neuron fired.  :func:`parse_readout` reads the user's
``count`` / ``trace`` / ``trace:K``; a bare ``trace`` takes the time constant of the
window's length (:func:`trace_shift_for`).

How many windows suit a dataset is a property of the data, so :func:`select_windows`
chooses ``W`` by cross-validation on training samples only (in a zero-shot run:
of the seen classes), never on the test split.  A window count must divide the
steps; a recording whose bins are not a multiple of ``W`` is read over its first
``T - T mod W`` bins (:func:`readout_steps`), which the selection accounts for.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from rramlsm.errors import ConfigError
from rramlsm.sw import contract
from rramlsm.sw.features import window_sums
from rramlsm.sw.lsm import LSMConfig, float_features, make_reservoir

__all__ = ["readout_steps", "fit_windows", "check_windows", "WindowChoice", "select_windows",
           "readout_windows", "parse_readout", "trace_shift_for", "with_readout"]


def readout_steps(bins: int, windows: int) -> int:
    """Steps a ``windows``-window readout uses of a ``bins``-bin recording: the largest
    multiple of ``windows`` not above ``bins``."""
    if windows < 1 or windows > bins:
        raise ValueError(f"readout windows must be in [1, {bins}] for {bins} bins, "
                         f"not {windows}")
    return bins - bins % windows


def check_windows(name: str, steps: int, windows: int) -> None:
    """Refuse a fixed window count that does not divide reservoir ``name``'s ``steps``
    (:class:`~rramlsm.errors.ConfigError`, naming the counts that do)."""
    try:
        contract.window_steps(steps, windows)
    except ValueError as e:
        raise ConfigError(f"the {name} reservoir's {e} (--windows per modality: m=W or "
                          f"m=auto)") from None


def fit_windows(steps: int, at_most: int) -> int:
    """The largest window count not above ``at_most`` that divides ``steps`` (a search over
    steps and windows together keeps every pair valid this way: 129 steps, 4 windows ->
    3)."""
    if at_most < 1:
        raise ValueError(f"readout windows must be at least 1, not {at_most}")
    return max(w for w in range(1, min(at_most, contract.MAX_WINDOWS) + 1) if steps % w == 0)


@dataclass(frozen=True)
class WindowChoice:
    """The result of :func:`select_windows`."""

    windows: int
    """The window count chosen."""
    steps: int
    """Steps the readout uses (:func:`readout_steps`)."""
    scores: dict[int, float]
    """Cross-validated accuracy (percent) of every candidate."""
    errors: dict[int, float]
    """Standard error of each score over the folds."""
    samples: int
    folds: int


def select_windows(trains: np.ndarray, labels, *, candidates=None, folds: int = 3,
                   seed: int = 0, alpha: float = 1.0) -> WindowChoice:
    """Choose the readout window count for spike trains ``[N, T, neurons]`` of training
    samples with ``labels``.

    Every candidate (default: 1 .. :data:`~rramlsm.sw.contract.MAX_WINDOWS`) is scored by
    a stratified ``folds``-fold cross-validated ridge classifier on standardised window
    rates.  The one-standard-error rule (Breiman et al. 1984) picks the *fewest* windows
    whose mean accuracy is within one standard error (over folds) of the best: more windows
    cost counters and head inputs in hardware, and a gain inside the noise of the
    estimate is not worth them.  A ridge classifier is closed-form, so the search costs
    seconds even at 2,048 neurons x 8 windows.
    """
    from sklearn.linear_model import RidgeClassifier
    from sklearn.model_selection import StratifiedKFold, cross_val_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    trains = np.asarray(trains)
    labels = np.asarray(labels)
    if trains.ndim != 3 or len(trains) != len(labels):
        raise ValueError(f"select_windows takes trains [N, T, neurons] with N labels, not "
                         f"{list(trains.shape)} and {len(labels)} labels")
    steps = trains.shape[1]
    if candidates is None:
        candidates = range(1, min(contract.MAX_WINDOWS, steps) + 1)
    _, per_class = np.unique(labels, return_counts=True)
    folds = int(min(folds, per_class.min()))
    if folds < 2:
        raise ValueError("select_windows needs at least two training samples of every class")
    cv = StratifiedKFold(folds, shuffle=True, random_state=seed)
    scores, errors = {}, {}
    for w in candidates:
        t = readout_steps(steps, w)
        x = window_sums(trains[:, :t], w).astype(np.float32) / (t // w)
        clf = make_pipeline(StandardScaler(), RidgeClassifier(alpha=alpha))
        acc = 100.0 * cross_val_score(clf, x, labels, cv=cv)
        scores[int(w)] = float(acc.mean())
        errors[int(w)] = float(acc.std(ddof=1) / np.sqrt(folds))
    top = max(scores, key=lambda w: (scores[w], -w))
    chosen = min(w for w in scores if scores[w] >= scores[top] - errors[top])
    return WindowChoice(chosen, readout_steps(steps, chosen), scores, errors, len(labels),
                        folds)


def readout_windows(cfg: LSMConfig, windows, frames, labels, *, seed: int,
                    crop: bool = False, keep_trains: bool = False) -> tuple[LSMConfig, dict]:
    """``cfg`` read out in ``windows`` windows (a count, or ``"auto"``), and what the choice
    saw and cost.

    ``"auto"``: :func:`select_windows` on the float model's spike trains of ``frames()``
    (a callable giving binary ``[N, T, inputs]``: called only then, so a fixed count frames
    nothing) with ``labels``; the caller passes training samples of the seen classes only.
    ``crop``: the recording may be read over its first ``T - T mod W`` bins (``steps`` becomes
    :func:`readout_steps`; the BMI rasters); otherwise only counts dividing the steps are
    candidates (the audio-visual framing).  The dict holds ``windows`` and ``steps``, and for
    ``"auto"`` every candidate's ``scores`` and ``errors``, ``samples``, ``folds``, the
    ``seconds`` the choice took (a step of the training recipe) and ``forward_seconds``, its
    float-model pass; with ``keep_trains`` also that pass's spike ``trains`` ``[N, T,
    neurons]`` (the caller takes them out: the feature extraction need not run these
    samples again, :func:`~rramlsm.sw.features.known_counts`).
    """
    if windows != "auto":
        if not crop:
            check_windows(cfg.name, cfg.steps, windows)
        steps = readout_steps(cfg.steps, windows) if crop else cfg.steps
        return cfg.replace(steps=steps, windows=windows), {"windows": windows, "steps": steps}
    t0 = time.perf_counter()
    _, trains = float_features(make_reservoir(cfg, seed=seed), frames(), record=True)
    forward = time.perf_counter() - t0
    candidates = None if crop else [w for w in range(1, contract.MAX_WINDOWS + 1)
                                    if cfg.steps % w == 0]
    choice = select_windows(trains, labels, seed=seed, candidates=candidates)
    steps = choice.steps if crop else cfg.steps
    return cfg.replace(steps=steps, windows=choice.windows), {
        "windows": choice.windows, "steps": steps, "scores": choice.scores,
        "errors": choice.errors, "samples": choice.samples, "folds": choice.folds,
        "seconds": time.perf_counter() - t0, "forward_seconds": forward,
        **({"trains": trains[:, :steps]} if keep_trains else {})}


def parse_readout(spec: str) -> tuple[str, int | None]:
    """``"count"``, ``"trace"`` or ``"trace:K"`` -> (readout, trace shift or None for the
    window's own, :func:`trace_shift_for`); a ``ValueError`` names what is wrong."""
    kind, colon, shift = str(spec).partition(":")
    if kind not in contract.READOUTS or (colon and kind != "trace") or (colon and not shift):
        raise ValueError(f"readout must be count, trace or trace:K (K in 1.."
                         f"{contract.MAX_TRACE_SHIFT}), not {spec!r}")
    if not shift:
        return kind, None
    try:
        k = int(shift)
    except ValueError:
        k = shift
    contract.check_readout(kind, k)
    return kind, k


def trace_shift_for(window_steps: int) -> int:
    """The trace shift whose time constant ``2**k`` is nearest the window's length (so a
    window's sample mostly reflects that window), within ``1..MAX_TRACE_SHIFT``."""
    k = round(np.log2(max(window_steps, 1)))
    return int(min(max(k, 1), contract.MAX_TRACE_SHIFT))


def with_readout(cfg: LSMConfig, spec: str) -> LSMConfig:
    """``cfg`` with the readout ``spec`` (:func:`parse_readout`) applied; its windows are
    settled first (a bare ``trace`` takes its shift from their length)."""
    kind, shift = parse_readout(spec)
    if kind == "count":
        return cfg.replace(readout="count")
    return cfg.replace(readout="trace",
                       trace_shift=shift if shift is not None else trace_shift_for(
                           cfg.window_steps))
