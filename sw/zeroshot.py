"""The zero-shot protocol of Lin et al., Nature Computational Science 5, 37-47 (2025),
measured honestly.

Visual-audio task: heads are trained on *seen* classes (1-7) only, pairing
the i-th image with the i-th utterance of a class; *unseen* classes (8, 9)
never reach training.  Evaluation is top-1 cross-modal retrieval (the nearest
sample of the other modality by cosine similarity has the query's class) in
both directions, plus the class-prototype classifier the hardware computes.

Pools: seen classes use test-split samples only (up to ``pool_per_class``
each); unseen classes were never trained on, so their pools draw from all
their samples (train and test split), also up to ``pool_per_class``.  The
checkpoint is chosen on a validation split carved from the seen training
pairs.  The per-epoch test figures are kept as well, so the paper's
optimistic protocol (best epoch on the test split) can be reported *beside*
the honest figure, labelled as such.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
from dataclasses import dataclass, field

import numpy as np
import torch

from rramlsm.errors import ConfigError
from rramlsm.sw._checks import check_int, check_real
from rramlsm.sw.heads import HeadConfig, ProjectionHead, clip_loss, supcon_loss

__all__ = ["CHECKPOINTS", "selection_protocol", "ZeroShotConfig", "ZeroShotSplit", "make_split",
           "retrieval_top1", "prototype_top1",
           "integer_retrieval_top1", "integer_prototype_top1", "enrol_keys",
           "class_prototypes", "train_heads", "TrainedHeads", "evaluate_embeddings",
           "generalized_zero_shot", "held_out_class_groups", "held_out_split",
           "held_out_class_top1", "fit_cca", "fit_ridge", "linear_probe"]


#: The head weights :func:`train_heads` can keep (``ZeroShotConfig.checkpoint``).
CHECKPOINTS = ("best", "average")


def selection_protocol(config: ZeroShotConfig) -> str:
    """How the heads' weights were chosen, for ``metrics.json`` (``protocol.selection``)."""
    if config.checkpoint == "average":
        return (f"weights averaged over epochs {config.average_from}-{config.epochs} "
                f"(no choice among epochs; validation pairs carved from the seen training "
                f"data only for the training curve)")
    return "the epoch best on validation pairs carved from the seen training data"


@dataclass(frozen=True)
class ZeroShotConfig:
    """Protocol and head-training settings (defaults: Lin et al. 2025, plus re-pairing)."""

    seen: tuple[int, ...] = (1, 2, 3, 4, 5, 6, 7)
    unseen: tuple[int, ...] = (8, 9)
    val_fraction: float = 0.15
    """Share of each seen class's training pairs held out for model selection."""
    pool_per_class: int = 100
    """Test retrieval pool size per class and modality (at most)."""
    head: HeadConfig = HeadConfig()
    loss: str = "clip"
    """``"clip"`` (symmetric CLIP, the visual-audio task) or ``"supcon"`` (label-aware: every
    same-class pair in a batch is a positive, the BMI task)."""
    temperature: float = 1.0
    normalize: bool = True
    """L2-normalise embeddings inside the loss and for retrieval (cosine similarity)."""
    batch: int = 8
    lr: float = 1e-3
    weight_decay: float = 0.0
    epochs: int = 100
    patience: int | None = None
    """Stop after this many epochs without a validation improvement (None: run all)."""
    repair: bool = True
    """Re-pair images and utterances within a class every epoch (more distinct pairs)."""
    checkpoint: str = "best"
    """Which weights the heads keep: ``"best"``, the epoch with the best validation score
    (ties: the earlier), or ``"average"``, the mean of the weights after every epoch from
    the first tenth of the run on (stochastic weight averaging, Izmailov et al., UAI 2018):
    no choice among epochs, so nothing overfits a small validation split."""

    def __post_init__(self):
        if set(self.seen) & set(self.unseen):
            raise ConfigError(f"seen {self.seen} and unseen {self.unseen} classes overlap")
        if not self.seen or not self.unseen:
            raise ConfigError("the zero-shot protocol needs seen and unseen classes")
        check_real("ZeroShotConfig", "val_fraction", self.val_fraction, lo=0.0, hi=1.0,
                   lo_open=True, hi_open=True)
        check_int("ZeroShotConfig", "pool_per_class", self.pool_per_class, lo=1)
        if self.loss not in ("clip", "supcon"):
            raise ConfigError(f"ZeroShotConfig loss must be 'clip' or 'supcon', not {self.loss!r}")
        check_real("ZeroShotConfig", "temperature", self.temperature, lo=0.0, lo_open=True)
        check_int("ZeroShotConfig", "batch", self.batch, lo=2)
        check_real("ZeroShotConfig", "lr", self.lr, lo=0.0, lo_open=True)
        check_real("ZeroShotConfig", "weight_decay", self.weight_decay, lo=0.0)
        check_int("ZeroShotConfig", "epochs", self.epochs, lo=1)
        if self.patience is not None:
            check_int("ZeroShotConfig", "patience", self.patience, lo=1)
        if self.checkpoint not in CHECKPOINTS:
            raise ConfigError(f"ZeroShotConfig checkpoint must be one of {CHECKPOINTS}, not "
                              f"{self.checkpoint!r}")

    def replace(self, **changes) -> ZeroShotConfig:
        return dataclasses.replace(self, **changes)

    @property
    def average_from(self) -> int:
        """First epoch whose weights ``checkpoint="average"`` averages: after the first tenth
        of the epochs, when the heads have left their random start (averaging the first
        epochs would drag it back in)."""
        return self.epochs // 10 + 1


@dataclass
class ZeroShotSplit:
    """Indices into the visual (``v``) and audio (``a``) datasets."""

    train_v: dict[int, np.ndarray]
    """Seen class -> visual training indices (validation removed)."""
    train_a: dict[int, np.ndarray]
    val_v: np.ndarray
    """Validation pairs: ``val_v[i]`` pairs with ``val_a[i]`` (same class)."""
    val_a: np.ndarray
    pool_v: dict[str, np.ndarray] = field(default_factory=dict)
    """``"seen"`` / ``"unseen"`` -> visual test-pool indices."""
    pool_a: dict[str, np.ndarray] = field(default_factory=dict)

    def training_indices(self) -> tuple[np.ndarray, np.ndarray]:
        """Every visual and audio index that can reach training (validation included)."""
        v = np.concatenate([*self.train_v.values(), self.val_v])
        a = np.concatenate([*self.train_a.values(), self.val_a])
        return v, a

    def pairs(self, rng: np.random.Generator | None) -> tuple[np.ndarray, np.ndarray]:
        """Training pairs: by index within a class, or re-paired at random with ``rng``."""
        pv, pa = [], []
        for c in self.train_v:
            v, a = self.train_v[c], self.train_a[c]
            if rng is not None:
                v, a = rng.permutation(v), rng.permutation(a)
            n = min(len(v), len(a))
            pv.append(v[:n])
            pa.append(a[:n])
        return np.concatenate(pv), np.concatenate(pa)


def make_split(v_labels, v_train, a_labels, a_train, config: ZeroShotConfig,
               seed: int) -> ZeroShotSplit:
    """Carve training, validation and test pools; unseen classes never enter training."""
    rng = np.random.default_rng(seed)
    v_labels, a_labels = np.asarray(v_labels), np.asarray(a_labels)
    v_train, a_train = np.asarray(v_train, bool), np.asarray(a_train, bool)
    train_v, train_a, val_v, val_a = {}, {}, [], []
    for c in config.seen:
        v = np.flatnonzero((v_labels == c) & v_train)
        a = np.flatnonzero((a_labels == c) & a_train)
        n = min(len(v), len(a))
        if n < 4:
            raise ConfigError(f"seen class {c} has {len(v)} visual and {len(a)} audio training "
                              f"samples; the protocol needs at least 4 pairs per class")
        # Pair by index within the class, then hold some pairs out for validation.
        v, a = v[:n], a[:n]
        held = np.zeros(n, bool)
        held[rng.choice(n, max(1, round(config.val_fraction * n)), replace=False)] = True
        train_v[c], train_a[c] = v[~held], a[~held]
        val_v.append(v[held])
        val_a.append(a[held])
    split = ZeroShotSplit(train_v, train_a, np.concatenate(val_v), np.concatenate(val_a))
    for name, classes, only_test in (("seen", config.seen, True),
                                     ("unseen", config.unseen, False)):
        for labels, is_train, pools in ((v_labels, v_train, split.pool_v),
                                        (a_labels, a_train, split.pool_a)):
            idx = []
            for c in classes:
                cand = np.flatnonzero((labels == c) & (~is_train if only_test else True))
                if len(cand) == 0:
                    raise ConfigError(f"class {c} has no {'test ' if only_test else ''}samples "
                                      f"for the {name} retrieval pool")
                take = min(len(cand), config.pool_per_class)
                idx.append(np.sort(rng.choice(cand, take, replace=False)))
            pools[name] = np.concatenate(idx)
    return split


def _unit(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, np.float64)
    n = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.where(n > 0, n, 1.0)


def enrol_keys(keys) -> np.ndarray:
    """Keys as the macro's compare memory holds them: each row scaled to unit length and
    rounded to int8, as the classifier's class prototypes are
    (:func:`~rramlsm.sw.bundle.quantize_prototypes`).

    The memory holds what the host writes into it, and the host writes every row the same
    way.  Scaled to one length, keys compete on direction alone, as under cosine
    similarity; a raw int8 embedding with a larger norm would win every query that points
    roughly its way (BMI, 256-d: unseen letters 52 % by raw rows, 60 % by cosine).
    """
    from rramlsm.sw.bundle import quantize_prototypes

    return quantize_prototypes(np.asarray(keys, np.float64))


def _nearest(queries, keys, *, integer: bool = False) -> np.ndarray:
    """Row of the most similar key per query: cosine, or (``integer``) the macro's integer
    dot product of int8 queries against int8 keys as stored (:func:`enrol_keys`), ties to
    the lowest row (:func:`~rramlsm.sw.contract.argmax_first`)."""
    if integer:
        from rramlsm.sw.contract import argmax_first
        from rramlsm.sw.kernels import exact_int_matmul

        scores = exact_int_matmul(np.asarray(queries), np.asarray(keys).T)
        return argmax_first(scores, axis=1)
    return (_unit(queries) @ _unit(keys).T).argmax(1)


def retrieval_top1(queries, q_labels, keys, k_labels) -> float:
    """Percentage of queries whose most similar key (cosine) has the query's class."""
    best = _nearest(queries, keys)
    return 100.0 * float((np.asarray(k_labels)[best] == np.asarray(q_labels)).mean())


def class_prototypes(keys, k_labels, classes) -> np.ndarray:
    """Unit-length mean embedding per class, ``[len(classes), D]``."""
    k_labels = np.asarray(k_labels)
    return _unit(np.stack([_unit(keys)[k_labels == c].mean(0) for c in classes]))


def prototype_top1(queries, q_labels, keys, k_labels) -> float:
    """Percentage of queries classified correctly by the nearest class prototype of the keys."""
    classes = np.unique(k_labels)
    sim = _unit(queries) @ class_prototypes(keys, k_labels, classes).T
    return 100.0 * float((classes[sim.argmax(1)] == np.asarray(q_labels)).mean())


def integer_retrieval_top1(queries, q_labels, keys, k_labels) -> float:
    """:func:`retrieval_top1` in the macro's arithmetic: the keys' int8 embeddings enrolled
    as the compare memory stores rows (:func:`enrol_keys`), the int8 queries scored against
    them by integer dot product, ties to the lowest key row, as the RTL's classifier
    compares (:func:`~rramlsm.sw.contract.argmax_first`)."""
    best = _nearest(queries, enrol_keys(keys), integer=True)
    return 100.0 * float((np.asarray(k_labels)[best] == np.asarray(q_labels)).mean())


def integer_prototype_top1(queries, q_labels, keys, k_labels) -> float:
    """:func:`prototype_top1` in the macro's arithmetic: the class prototypes quantised to
    int8 as the bundle stores them, scored by integer dot product, ties to the lowest class."""
    from rramlsm.sw.bundle import quantize_prototypes

    classes = np.unique(k_labels)
    protos = quantize_prototypes(class_prototypes(keys, k_labels, classes))
    return integer_retrieval_top1(queries, q_labels, protos, classes)


def evaluate_embeddings(ev, ea, v_labels, a_labels, split: ZeroShotSplit, *,
                        integer: bool = False) -> dict:
    """Retrieval and prototype figures (percent) on the seen and unseen test pools.

    ``ev`` / ``ea``: embeddings of *every* visual / audio sample (indexed by the
    split).  Keys ``a2v`` (audio query, image retrieved: the paper's figure)
    and ``v2a``.  ``integer``: int8 embeddings compared as the macro does (keys enrolled at
    unit length, :func:`enrol_keys`; integer dot product, ties to the lowest row) instead
    of by cosine similarity.
    """
    retrieve, nearest = ((integer_retrieval_top1, integer_prototype_top1) if integer
                         else (retrieval_top1, prototype_top1))
    out = {}
    for name in ("seen", "unseen"):
        iv, ia = split.pool_v[name], split.pool_a[name]
        lv, la = np.asarray(v_labels)[iv], np.asarray(a_labels)[ia]
        out[name] = {
            "a2v": retrieve(ea[ia], la, ev[iv], lv),
            "v2a": retrieve(ev[iv], lv, ea[ia], la),
            "a2v_prototype": nearest(ea[ia], la, ev[iv], lv),
            "v2a_prototype": nearest(ev[iv], lv, ea[ia], la),
            "pool_v": len(iv),
            "pool_a": len(ia),
        }
    return out


def generalized_zero_shot(ev, ea, v_labels, a_labels, split: ZeroShotSplit, *,
                          integer: bool = False) -> dict:
    """Generalized zero-shot (GZSL) figures (percent): seen and unseen classes compete.

    Audio queries of every seen and unseen pool retrieve among *one* image pool holding
    every class (``seen`` / ``unseen``: top-1 over the queries of seen / unseen classes,
    ``harmonic_mean`` of the two), and are classified by the nearest of *all* classes'
    image prototypes (``prototype_*``).  ``integer``: int8 embeddings and int8 prototypes
    (:func:`~rramlsm.sw.bundle.quantize_prototypes`), the image keys enrolled
    (:func:`enrol_keys`), scored by integer dot product, ties to the lowest row, as the
    macro computes; otherwise cosine similarity.
    """
    from rramlsm.sw.stats import harmonic_mean

    v_labels, a_labels = np.asarray(v_labels), np.asarray(a_labels)
    iv = np.concatenate([split.pool_v["seen"], split.pool_v["unseen"]])
    ia = np.concatenate([split.pool_a["seen"], split.pool_a["unseen"]])
    lv, la = v_labels[iv], a_labels[ia]
    seen = np.isin(la, np.unique(a_labels[split.pool_a["seen"]]))
    classes = np.unique(lv)
    protos = class_prototypes(ev[iv], lv, classes)
    if integer:
        from rramlsm.sw.bundle import quantize_prototypes

        protos = quantize_prototypes(protos)
    keys = enrol_keys(ev[iv]) if integer else ev[iv]
    preds = {"": lv[_nearest(ea[ia], keys, integer=integer)],
             "prototype_": classes[_nearest(ea[ia], protos, integer=integer)]}
    out = {}
    for prefix, pred in preds.items():
        hit = pred == la
        s, u = 100.0 * float(hit[seen].mean()), 100.0 * float(hit[~seen].mean())
        out.update({f"{prefix}seen": s, f"{prefix}unseen": u,
                    f"{prefix}harmonic_mean": harmonic_mean(s, u)})
    return out


def _val_score(ev, ea, split: ZeroShotSplit, v_labels, a_labels) -> float:
    lv, la = np.asarray(v_labels)[split.val_v], np.asarray(a_labels)[split.val_a]
    return 0.5 * (retrieval_top1(ea[split.val_a], la, ev[split.val_v], lv)
                  + retrieval_top1(ev[split.val_v], lv, ea[split.val_a], la))


@dataclass
class TrainedHeads:
    visual: ProjectionHead
    audio: ProjectionHead
    best_epoch: int
    """The epoch kept (``checkpoint="best"``), or the last one averaged (``"average"``)."""
    history: list[dict]
    """Per epoch: loss, validation score, and the test figures (for the optimistic protocol)."""
    averaged: tuple[int, int] | None = None
    """First and last epoch whose weights were averaged (``checkpoint="average"``)."""


def _embed(head: ProjectionHead, x: torch.Tensor) -> np.ndarray:
    with torch.no_grad():
        return head(x).numpy()


@contextlib.contextmanager
def _one_thread():
    """Head training runs on one thread, whatever the caller set.  With two threads the
    weights of a 3,000-input head differed in the last bits from one thread's on an Intel
    Xeon (MKL; on the AMD EPYC hosts before, they did not), so a seed's heads would depend
    on the thread count and on the CPU.  Training is thousands of products
    of a batch of 8-32 rows: one thread is faster below a few thousand inputs (2 cores,
    200-input audio-visual heads: 1.3 s against 2.8 s with two) and costs 1.5 s per seed
    on the 16,384-input BMI heads (4.6 s against 3.1 s); seeds run in parallel as Ray
    tasks (one core each) anyway."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def train_heads(rates_v: np.ndarray, rates_a: np.ndarray, v_labels, a_labels,
                split: ZeroShotSplit, config: ZeroShotConfig, *, seed: int,
                progress=None) -> TrainedHeads:
    """Train the two heads with the contrastive loss; keep the best validation checkpoint,
    or the average of the weights (``config.checkpoint``).

    ``rates_*``: spike-rate features of every sample (indexed by ``split``).
    Ties in the validation score keep the earlier epoch.  Patience stops either rule.
    """
    with _one_thread():
        return _train_heads(rates_v, rates_a, v_labels, a_labels, split, config, seed=seed,
                            progress=progress)


def _train_heads(rates_v, rates_a, v_labels, a_labels, split, config, *, seed, progress):
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed + 7919)
    head_cfg = dataclasses.replace(config.head, inputs=rates_v.shape[1])
    hv = ProjectionHead(head_cfg)
    ha = ProjectionHead(dataclasses.replace(config.head, inputs=rates_a.shape[1]))
    # foreach: the multi-tensor update, the same arithmetic as the per-parameter loop (the
    # same weights, bit for bit) in about half the time on CPU, where PyTorch defaults to
    # the loop; it matters for wide heads (BMI: 16,384 inputs).  The fused update would be
    # faster still but is other arithmetic.
    opt = torch.optim.AdamW([*hv.parameters(), *ha.parameters()], lr=config.lr,
                            weight_decay=config.weight_decay, foreach=True)
    xv, xa = torch.as_tensor(rates_v, dtype=torch.float32), torch.as_tensor(rates_a,
                                                                            dtype=torch.float32)
    lab_v = torch.as_tensor(np.asarray(v_labels))
    best, best_state, best_epoch, history, since = -1.0, None, 0, [], 0
    fixed = split.pairs(None)
    average = _WeightAverage(config.average_from) if config.checkpoint == "average" else None
    for epoch in range(1, config.epochs + 1):
        pv, pa = split.pairs(rng) if config.repair else fixed
        order = rng.permutation(len(pv))
        total, steps = 0.0, 0
        hv.train()
        ha.train()
        for lo in range(0, len(order) - 1, config.batch):
            b = order[lo : lo + config.batch]
            if len(b) < 2:
                continue
            if config.loss == "supcon":
                loss = supcon_loss(hv(xv[pv[b]]), ha(xa[pa[b]]), lab_v[pv[b]],
                                   config.temperature, config.normalize)
            else:
                loss = clip_loss(hv(xv[pv[b]]), ha(xa[pa[b]]), config.temperature,
                                 config.normalize)
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.detach().item()
            steps += 1
        hv.eval()
        ha.eval()
        if average is not None:
            average.add(epoch, hv, ha)
        ev, ea = _embed(hv, xv), _embed(ha, xa)
        val = _val_score(ev, ea, split, v_labels, a_labels)
        history.append({"epoch": epoch, "loss": total / max(steps, 1), "val_top1": val,
                        "test": evaluate_embeddings(ev, ea, v_labels, a_labels, split)})
        if val > best:
            best, best_epoch, since = val, epoch, 0
            best_state = (copy.deepcopy(hv.state_dict()), copy.deepcopy(ha.state_dict()))
        else:
            since += 1
        if progress is not None:
            progress.update(1)
        if config.patience is not None and since >= config.patience:
            break
    if average is not None and average.count:
        state_v, state_a = average.states()
        hv.load_state_dict(state_v)
        ha.load_state_dict(state_a)
        return TrainedHeads(hv, ha, history[-1]["epoch"], history,
                            (average.first, history[-1]["epoch"]))
    hv.load_state_dict(best_state[0])
    ha.load_state_dict(best_state[1])
    return TrainedHeads(hv, ha, best_epoch, history)


def held_out_class_groups(seen, size: int, groups: int, seed: int) -> list[tuple[int, ...]]:
    """``groups`` disjoint groups of ``size`` seen classes, drawn with ``seed``: the pseudo-unseen
    classes of :func:`held_out_class_top1`."""
    seen = np.asarray(seen)
    check_int("held_out_class_groups", "size", size, lo=1)
    check_int("held_out_class_groups", "groups", groups, lo=1)
    if len(seen) - size * groups < 2:
        raise ConfigError(f"class-disjoint validation with {groups} held-out groups of {size} "
                          f"classes needs at least {size * groups + 2} seen classes (2 left to "
                          f"train on); there are {len(seen)}")
    order = np.random.default_rng(seed).permutation(seen)
    return [tuple(int(c) for c in order[g * size:(g + 1) * size]) for g in range(groups)]


def held_out_split(split: ZeroShotSplit, held, v_labels, a_labels) -> ZeroShotSplit:
    """``split`` with the seen classes ``held`` taken out of training and validation: their
    training samples become the pseudo-unseen pools, the other classes' validation pairs
    the pseudo-seen pools (no test sample is read).  What :func:`held_out_class_top1`
    trains and scores on for one group (and what the training cost counts)."""
    v_labels, a_labels = np.asarray(v_labels), np.asarray(a_labels)
    tv, ta = split.training_indices()
    keep = [c for c in split.train_v if c not in held]
    in_v, in_a = np.isin(v_labels[split.val_v], keep), np.isin(a_labels[split.val_a], keep)
    sub = ZeroShotSplit({c: split.train_v[c] for c in keep},
                        {c: split.train_a[c] for c in keep},
                        split.val_v[in_v & in_a], split.val_a[in_v & in_a])
    sub.pool_v["seen"], sub.pool_a["seen"] = sub.val_v, sub.val_a
    sub.pool_v["unseen"] = tv[np.isin(v_labels[tv], held)]
    sub.pool_a["unseen"] = ta[np.isin(a_labels[ta], held)]
    return sub


def held_out_class_top1(rates_v, rates_a, v_labels, a_labels, split: ZeroShotSplit,
                        config: ZeroShotConfig, groups, *, seed: int,
                        progress=None) -> list[float]:
    """Class-disjoint validation: zero-shot retrieval of seen classes held out of training.

    For each group of ``groups`` (seen classes, :func:`held_out_class_groups`) the heads train
    as :func:`train_heads` does on the other seen classes' training pairs of ``split`` (their
    validation pairs choose the epoch), and the held-out classes' training samples are
    retrieved (audio query, image retrieved, top-1 %), one figure per group.  Only training
    samples of seen classes are read: the model selection of zero-shot learning without the
    test split or the unseen classes (Xian et al., TPAMI 41, 2251-2265, 2019).  ``progress``:
    a bar that each training epoch advances, as in :func:`train_heads`.
    """
    v_labels, a_labels = np.asarray(v_labels), np.asarray(a_labels)
    xv, xa = (torch.as_tensor(x, dtype=torch.float32) for x in (rates_v, rates_a))
    scores = []
    for held in groups:
        sub = held_out_split(split, held, v_labels, a_labels)
        keep = tuple(sub.train_v)
        trained = train_heads(rates_v, rates_a, v_labels, a_labels, sub,
                              config.replace(seen=keep, unseen=tuple(held)), seed=seed,
                              progress=progress)
        # From the weights kept (the chosen epoch's, or the average's, which no epoch holds).
        ev, ea = _embed(trained.visual, xv), _embed(trained.audio, xa)
        iv, ia = sub.pool_v["unseen"], sub.pool_a["unseen"]
        scores.append(retrieval_top1(ea[ia], a_labels[ia], ev[iv], v_labels[iv]))
    return scores


class _WeightAverage:
    """Running mean of both heads' weights over the epochs from ``first`` on, in float64
    (a float32 running mean over 100 epochs would round differently from the plain mean)."""

    def __init__(self, first: int):
        self.first, self.count, self._sums = first, 0, None

    def add(self, epoch: int, *heads: ProjectionHead):
        if epoch < self.first:
            return
        states = [h.state_dict() for h in heads]
        if self._sums is None:
            self._sums = [{k: torch.zeros_like(v, dtype=torch.float64) for k, v in s.items()}
                          for s in states]
        for sums, state in zip(self._sums, states, strict=True):
            for k, v in state.items():
                sums[k] += v.double()
        self.count += 1

    def states(self) -> list[dict]:
        return [{k: (v / self.count).float() for k, v in sums.items()} for sums in self._sums]


# -- Closed-form linear alignments --------------------------------------------------------

def _standardize(x_fit: np.ndarray):
    mu, sd = x_fit.mean(0), x_fit.std(0)
    sd = np.where(sd > 1e-8, sd, 1.0)
    return lambda x: (np.asarray(x, np.float64) - mu) / sd


def fit_cca(xv_pairs, xa_pairs, dim: int, reg: float):
    """Regularised CCA: maps ``(f_v, f_a)`` to ``dim`` canonical coordinates each.

    Both sides are standardised, covariances get ``reg * I``, and the top
    ``dim`` singular directions of ``Cvv^-1/2 Cva Caa^-1/2`` are kept.
    """
    zv, za = _standardize(xv_pairs), _standardize(xa_pairs)
    v, a = zv(xv_pairs), za(xa_pairs)
    n = len(v)

    def inv_sqrt(c):
        w, u = np.linalg.eigh(c)
        return (u / np.sqrt(np.maximum(w, 1e-12))) @ u.T

    cvv = v.T @ v / n + reg * np.eye(v.shape[1])
    caa = a.T @ a / n + reg * np.eye(a.shape[1])
    kv, ka = inv_sqrt(cvv), inv_sqrt(caa)
    u, _, vt = np.linalg.svd(kv @ (v.T @ a / n) @ ka)
    pv, pa = kv @ u[:, :dim], ka @ vt.T[:, :dim]
    return (lambda x: zv(x) @ pv), (lambda x: za(x) @ pa)


def fit_ridge(xv_pairs, xa_pairs, reg: float):
    """Ridge regression from audio features onto (standardised) visual features.

    Returns ``(embed_v, embed_a)``: the visual side is the standardised
    feature, the audio side its linear prediction.
    """
    zv, za = _standardize(xv_pairs), _standardize(xa_pairs)
    v, a = zv(xv_pairs), za(xa_pairs)
    w = np.linalg.solve(a.T @ a + reg * len(a) * np.eye(a.shape[1]), a.T @ v)
    return zv, (lambda x: za(x) @ w)


# -- Linear probe --------------------------------------------------------------------------

def linear_probe(rates: np.ndarray, labels, is_train, *, seed: int = 0, c: float = 1.0,
                 cost: dict | None = None) -> float:
    """Test accuracy (percent) of a multinomial logistic regression on standardised features.

    ``cost``: a dict whose ``"flops"`` grows by the fit's and the test's matmul FLOPs (per
    L-BFGS iteration one loss-and-gradient evaluation, ``X W`` and ``X^T G``: ``4 n d k``)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    is_train = np.asarray(is_train, bool)
    labels = np.asarray(labels)
    if not is_train.any() or is_train.all():
        raise ConfigError("the linear probe needs both training and test samples")
    clf = make_pipeline(StandardScaler(), LogisticRegression(C=c, max_iter=2000,
                                                             random_state=seed))
    clf.fit(rates[is_train], labels[is_train])
    if cost is not None:
        d, k = rates.shape[1], len(clf.classes_)
        iters = int(np.max(clf[-1].n_iter_))
        cost["flops"] = cost.get("flops", 0) + 4 * int(is_train.sum()) * d * k * iters \
            + 2 * int((~is_train).sum()) * d * k
    return 100.0 * float(clf.score(rates[~is_train], labels[~is_train]))
