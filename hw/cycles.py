"""Cycle model of :class:`~rramlsm.hw.core.LSMCore`: cycles per sample from event counts.

Exact, also with gaps in the input stream (the host's idle cycles before each
word, :func:`predict`'s ``gaps``) and under output back-pressure.  The RTL's
``CYCLES`` word counts from the cycle its first input word is taken to
``LABEL``: waiting for the host before the first word does not enter, gaps
after it do, and back-pressure never does (the count stops before the first
output word; a stalled output delays the next sample's start, not its count).
Timeline, cycle 0 being ``START`` (where a waiting first word is taken):

* clearing the LIF bank: the engine first waits in ``WAIT`` at cycle G + 2;
* loader, per bin k (buffer k mod 2, once freed): ``n_k`` event words + 1
  marker word, one per cycle plus the host's gaps; the buffer is full
  ``1 + LOADER_STAGES`` = three cycles after the marker is taken, and takes words
  again two cycles after the engine frees it (the free is registered);
* engine, per step t, from the ``WAIT`` cycle that sees the buffer full:
  1 + R_t + A_t + DRAIN cycles, with ``R_t = sum_g max(1, spikes of group g at t-1)``
  (appending recurrent rows, g over the LIF bank's G groups), ``A_t = Gx * max(1, rows_t)``
  (one pass per crossbar column group over the ``rows_t`` active rows: inputs plus
  recurrent) and ``DRAIN`` = 13 cycles of pipeline drain; steps after an early ``EOS``
  skip the ``WAIT`` cycle.  A crossbar K = Px / P times as wide as the LIF bank
  (``params.crossbar_lanes``) makes each pass but the last take ``max(K, rows_t)``
  cycles and adds :func:`fold_drain` to the drain;
* head: ``B * (W * N + L + 3 + HEAD_MAC_STAGES + LUT_STAGES)`` (W readout windows: the head
  reads ``W x N`` counts), classifier: ``dim + classes + MAC_STAGES + SCAN_STAGES``
  (and per further group of classes ``dim + MAC_STAGES + 1 + SCAN_STAGES``), plus 7
  cycles of hand-over (one of them the head's registered start).  The windows cost
  nothing else: the counter bank needs no clearing.

The event-driven bound is ``sum_t rows_t * Gx``; everything else is overhead:
``G + 2`` per sample for clearing, ``G + 13`` per step (one REC cycle per
group, WAIT and drain), the spikes appended (one cycle each) and the loader's
input words where the engine waits for them, and the head and classifier.
"""

from __future__ import annotations

import numpy as np

from rramlsm.hw.core import LOADER_STAGES
from rramlsm.hw.crossbar import SUM_LATENCY
from rramlsm.hw.head import HEAD_MAC_STAGES, LUT_STAGES, MAC_STAGES, SCAN_STAGES
from rramlsm.hw.params import CoreParams
from rramlsm.hw.periphery import LIF_LATENCY
from rramlsm.sw.datasets.builtin import DEFAULT_SOURCES
from rramlsm.sw.features import sample_frames
from rramlsm.sw.golden import golden_counts

#: Engine cycles per step after its last issue: list read, the list's word register and
#: the row register (3), the crossbar (its SUM_LATENCY), then the ADC and the LIF bank.
DRAIN = 3 + SUM_LATENCY + LIF_LATENCY

__all__ = ["predict", "event_bound", "step_rows", "fixed_overhead", "mean_cycles",
           "macro_cycles", "cycles_per_sample", "fold_drain"]


def step_rows(frames: np.ndarray, trains: np.ndarray) -> np.ndarray:
    """Active rows per step: inputs at t plus neurons that spiked at t - 1."""
    frames, trains = np.asarray(frames), np.asarray(trains)
    rec = np.concatenate([[0], trains[:-1].sum(1)]) if len(trains) else np.zeros(0, int)
    return frames.sum(1).astype(np.int64) + rec


def event_bound(frames: np.ndarray, trains: np.ndarray, params: CoreParams) -> int:
    """``sum_t active_rows_t * ceil(columns / Px)`` for one sample (Px the crossbar's
    lanes)."""
    return int(step_rows(frames, trains).sum()) * params.xgroups


def predict(frames: np.ndarray, trains: np.ndarray, params: CoreParams, *,
            words_per_bin: list[int] | None = None, early_eos: bool = False,
            ready_core: bool = False, gaps: list[int] | None = None) -> int:
    """Cycles of one sample: ``frames`` ``[T, inputs]`` (binary), ``trains`` ``[T, neurons]``.

    ``words_per_bin``: event words the host sends per bin (default: one per
    active row, as :func:`~rramlsm.hw.program.encode_frames` sends); with
    ``early_eos`` the last bin of ``frames`` is closed by ``EOS`` instead of
    ``BIN`` and the steps after it run without input (``trains`` still covers
    all T steps).  ``ready_core``: the core had finished clearing before the first
    word arrived (it sat idle in ``WAIT``), e.g. the first sample after reset, an
    abort or a pause of the host longer than G + 2 cycles.

    ``gaps``: idle cycles the host leaves before each input word, in the order sent
    (every bin's event words, then its ``BIN``; the ``EOS``): ``gaps[0]`` counts from
    ``START`` (0 when the word was already waiting there, as it is whenever the host
    sends the next sample at once), each later one from the cycle the word before it
    was taken.  Without it the host sends a word every cycle.  Output back-pressure
    needs no input: the count stops at ``LABEL``, before the first output word.
    """
    p = params
    frames, trains = np.asarray(frames), np.asarray(trains)
    steps = len(trains)
    G = p.groups
    active_in = frames.sum(1).astype(np.int64)
    words = list(words_per_bin) if words_per_bin is not None else active_in.tolist()
    n_bins = len(words)
    # Bins as sent: every bin closed by BIN, then an empty bin closed by EOS
    # (or, with early_eos, the last bin closed by EOS).
    bins = [(w, False) for w in words] + [(0, True)]
    if early_eos:
        bins = [(w, False) for w in words[:-1]] + [(words[-1], True)]
    n_sent = sum(w + 1 for w, _ in bins)
    gaps = [0] * n_sent if gaps is None else [int(g) for g in gaps]
    if len(gaps) != n_sent or min(gaps) < 0:
        raise ValueError(f"gaps: one count >= 0 per input word ({n_sent}), not {len(gaps)}")
    if ready_core:
        gaps[0] = max(gaps[0], G + 2)
    padded = np.zeros((steps, p.groups * p.lanes), np.int64)
    padded[:, : p.neurons] = trains
    pops = padded.reshape(steps, G, p.lanes).sum(2)       # spikes per group and step

    GX, K = p.xgroups, p.fold
    drain = DRAIN + fold_drain(p)

    def engine_step(t: int) -> int:
        rec = np.maximum(1, pops[t - 1]).sum() if t else G
        rows = max(1, (active_in[t] if t < n_bins else 0) + (pops[t - 1].sum() if t else 0))
        # GX passes of max(K, rows) cycles; the step's drain counts from the last pass's
        # last row (its padding, if any, ends before the drain does).
        return int(rec) + (GX - 1) * max(K, int(rows)) + int(rows) + drain

    # Cycle 0 is START.  A word is offered its gap after the one before it was taken (the
    # first, its gap after START) and taken when offered, except that a bin's first word
    # also waits for its buffer to be free; the buffer is full 1 + LOADER_STAGES cycles
    # after the marker is taken (the loader's registers).
    free_at = [0, 0]
    loader = 0                     # the earliest cycle the next word can be offered
    wait = G + 2
    t = 0
    head = None
    sent = 0
    arrival = None
    for k, (n_words, eos) in enumerate(bins):
        b = k % 2
        bin_gaps = gaps[sent: sent + n_words + 1]
        sent += n_words + 1
        taken = max(loader + bin_gaps[0], free_at[b])
        if arrival is None:
            arrival = taken        # cycles are counted from the first word taken
        for g in bin_gaps[1:]:
            taken += 1 + g
        full_at = taken + 1 + LOADER_STAGES
        loader = taken + 1
        w = max(wait, full_at)
        if t >= steps:
            free_at[b] = w + 2
            wait = w + 1
            if eos:
                head = w + 1
                break
            continue
        end = w + 1 + engine_step(t) - 1
        t += 1
        if eos:
            while t < steps:
                end += engine_step(t)
                t += 1
            head = end + 1
            break
        free_at[b] = end + 2
        wait = end + 1
    return head + _head_and_classifier(p) - arrival


def fold_drain(params: CoreParams) -> int:
    """Cycles a crossbar wider than the LIF bank adds to each step's drain: the fold
    register (1), then the last pass's LIF groups before the last one (``G - 1 - (Gx - 1)
    * K``); 0 when the crossbar is as wide as the LIF bank."""
    p = params
    return 0 if p.fold == 1 else 1 + (p.groups - 1) - (p.xgroups - 1) * p.fold


def mean_cycles(frames: np.ndarray, trains: np.ndarray, params: CoreParams) -> float:
    """Mean of :func:`predict` over samples ``frames`` ``[N, T, inputs]`` with their spike
    trains ``[N, T, neurons]``."""
    return float(np.mean([predict(f, s, params) for f, s in zip(frames, trains, strict=True)]))


def fixed_overhead(params: CoreParams, steps: int) -> int:
    """Cycles per sample that do not depend on the data: clearing, per-step REC/WAIT/drain
    (``G + 1 + DRAIN``), head, classifier and hand-over."""
    p = params
    return (p.groups + 2 + steps * (p.groups + 1 + DRAIN + fold_drain(p))
            + _head_and_classifier(p))


def _head_and_classifier(p: CoreParams) -> int:
    """Head passes, classifier and hand-over: ``B * (W * N + L + 3 + HEAD_MAC_STAGES
    + LUT_STAGES) + dim + classes + MAC_STAGES + 7``, plus ``dim + MAC_STAGES + 1`` per
    further group of classes when the classifier has fewer lanes than classes, plus
    ``SCAN_STAGES`` per group (the scan's registered candidate)."""
    return (p.head_blocks * (p.head_inputs + p.head_lanes + 3 + HEAD_MAC_STAGES + LUT_STAGES)
            + p.dim + p.classes + MAC_STAGES + 7
            + (p.class_groups - 1) * (p.dim + MAC_STAGES + 1)
            + p.class_groups * SCAN_STAGES)


def macro_cycles(mb, frames: np.ndarray, trains: np.ndarray | None = None, *, lanes: int = 16,
                 head_lanes: int = 16, class_lanes: int = 0, crossbar_lanes: int = 0) -> float:
    """Mean cycles per sample of the core of ``mb`` (a :class:`~rramlsm.sw.bundle.
    ModalityBundle`) on ``frames``, its spike ``trains`` from the golden model when not given."""
    p = CoreParams.from_bundle(mb, lanes=lanes, head_lanes=head_lanes, class_lanes=class_lanes,
                               crossbar_lanes=crossbar_lanes)
    if trains is None:
        _, trains = golden_counts(mb.lsm, frames, record=True)
    return mean_cycles(frames, trains, p)


def cycles_per_sample(bundle, modalities, lanes: int | dict[str, int], head_lanes: int,
                      n: int = 200, *,
                      class_lanes: int = 0, crossbar_lanes: dict[str, int] | None = None
                      ) -> dict:
    """Mean cycles per sample of each core on ``n`` built-in test samples (the cycle model,
    which the tests hold exactly to the RTL's cycle counter); ``"source"`` says which.
    ``lanes``: the LIF bank's lanes of every core, or per modality; ``crossbar_lanes``: per
    modality, a crossbar wider than the LIF bank (0 or absent: as wide)."""
    out = {}
    try:
        frames = sample_frames(bundle, {m: DEFAULT_SOURCES[m] for m in modalities}, n)
        out["source"] = "built-in test samples"
    except ValueError:
        # A bundle whose reservoirs do not take the built-in data's framing (a test-sized
        # one): random inputs, 10 % of rows active per step.
        rng = np.random.default_rng(0)
        frames = {m: (rng.random((min(n, 20), bundle.modalities[m].lsm.steps,
                                  bundle.modalities[m].lsm.inputs)) < 0.1).astype(np.uint8)
                  for m in modalities}
        out["source"] = "random frames, 10 % active (the bundle does not fit the built-in data)"
    for m, fr in frames.items():
        out[m] = macro_cycles(bundle.modalities[m], fr,
                              lanes=lanes if isinstance(lanes, int) else lanes[m],
                              head_lanes=head_lanes,
                              class_lanes=class_lanes,
                              crossbar_lanes=(crossbar_lanes or {}).get(m, 0))
    return out
