"""Baselines on the same data and protocol: SRNN-CLIP and prototypical networks.

* **SRNN-CLIP** (the paper's fully trained model): per modality a spiking
  RNN of the LSM's size (same LIF, decay and threshold, hard reset) whose
  input and recurrent weights are trained end to end with BPTT through a
  surrogate gradient, followed by the same head, under the same CLIP loss.
* **ProtoNet**: cross-modal prototypical networks -- each episode picks
  ``n_way`` seen classes, embeds ``shot`` images per class as prototypes and
  classifies ``query`` utterances per class by negative squared distance.
  The encoder is either a trainable SRNN + head or fixed LSM features + head.

The SRNN starts from the same sampled crossbar weights as the LSM (a fair
start at the same firing rate).  Selection uses the validation pairs, as for
our heads.  :func:`training_step_flops` counts what one optimisation step
costs for the training-cost comparison in :mod:`rramlsm.sw.experiments.training_cost`.
"""

from __future__ import annotations

import copy
import dataclasses
import time
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from rramlsm.errors import ConfigError
from rramlsm.sw._checks import check_int, check_real
from rramlsm.sw.heads import HeadConfig, ProjectionHead, clip_loss
from rramlsm.sw.lsm import Reservoir
from rramlsm.sw.zeroshot import ZeroShotSplit, evaluate_embeddings, retrieval_top1

__all__ = ["BaselineConfig", "SpikingRNN", "Encoder", "train_srnn_clip", "train_protonet",
           "BaselineResult"]


@dataclass(frozen=True)
class BaselineConfig:
    """Training recipe of the baselines (also what the training-cost count assumes)."""

    epochs: int = 100
    """SRNN-CLIP epochs over the seen training pairs (Lin et al. 2025: 100)."""
    batch: int = 32
    lr: float = 1e-3
    temperature: float = 1.0
    surrogate_slope: float = 5.0
    """Slope of the fast-sigmoid surrogate derivative, in units of 1/threshold."""
    n_way: int = 7
    """Classes per ProtoNet episode: all seen classes (Snell et al. train with more ways
    than they test with)."""
    shot: int = 5
    query: int = 15
    """Queries per class and episode (Snell et al.'s 15)."""
    episodes: int = 1250
    """ProtoNet episodes: 1,250 x 140 samples is about as many sample presentations as
    100 SRNN-CLIP epochs of ~860 pairs of two samples."""
    head: HeadConfig = HeadConfig()

    def __post_init__(self):
        for name in ("epochs", "batch", "n_way", "shot", "query", "episodes"):
            check_int("BaselineConfig", name, getattr(self, name), lo=1)
        check_real("BaselineConfig", "lr", self.lr, lo=0.0, lo_open=True)
        check_real("BaselineConfig", "temperature", self.temperature, lo=0.0, lo_open=True)

    def replace(self, **changes) -> BaselineConfig:
        return dataclasses.replace(self, **changes)


class _Spike(torch.autograd.Function):
    """Heaviside forward, fast-sigmoid derivative backward (SuperSpike)."""

    @staticmethod
    def forward(ctx, x, slope):
        ctx.save_for_backward(x)
        ctx.slope = slope
        return (x >= 0).to(x.dtype)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad / (ctx.slope * x.abs() + 1.0) ** 2, None


class SpikingRNN(nn.Module):
    """The LSM's LIF network with trainable weights: frames ``[B, T, in]`` -> rates ``[B, N]``."""

    def __init__(self, reservoir: Reservoir, slope: float = 5.0):
        super().__init__()
        cfg = reservoir.config
        w_in, w_rec = reservoir.float_weights()
        self.w_in = nn.Parameter(w_in.clone())
        self.w_rec = nn.Parameter(w_rec.clone())
        self.decay, self.threshold, self.slope = cfg.decay, cfg.threshold, slope

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, T, _ = x.shape
        drive = x.to(self.w_in.dtype) @ self.w_in
        s = torch.zeros(B, self.w_in.shape[1], dtype=self.w_in.dtype)
        u = torch.zeros_like(s)
        total = torch.zeros_like(s)
        for t in range(T):
            u = self.decay * u * (1.0 - s) + drive[:, t] + s @ self.w_rec
            s = _Spike.apply(u / self.threshold - 1.0, self.slope)
            total = total + s
        return total / T


class Encoder(nn.Module):
    """SRNN + head (trainable end to end) or a head alone on fixed LSM features."""

    def __init__(self, head: ProjectionHead, srnn: SpikingRNN | None = None):
        super().__init__()
        self.srnn, self.head = srnn, head

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.srnn(x) if self.srnn is not None else x)


@dataclass
class BaselineResult:
    name: str
    zero_shot: dict
    """Validation-selected figures on the test pools (same keys as our pipeline)."""
    best_epoch: int
    steps: int
    """Optimisation steps run."""
    seconds: float
    encoders: tuple | None = dataclasses.field(default=None, repr=False)
    """``(visual, audio)`` encoders at the selected epoch (SRNN-CLIP), for transfer."""


def _embed_all(enc: Encoder, inputs: np.ndarray, batch: int = 256) -> np.ndarray:
    enc.eval()
    with torch.no_grad():
        out = [enc(torch.as_tensor(inputs[i : i + batch])).numpy()
               for i in range(0, len(inputs), batch)]
    enc.train()
    return np.concatenate(out)


def _needed(split: ZeroShotSplit) -> tuple[np.ndarray, np.ndarray]:
    """Indices whose embeddings evaluation needs (validation and test pools)."""
    v = np.unique(np.concatenate([split.val_v, *split.pool_v.values()]))
    a = np.unique(np.concatenate([split.val_a, *split.pool_a.values()]))
    return v, a


def _evaluate(enc_v, enc_a, in_v, in_a, v_labels, a_labels, split) -> tuple[float, dict]:
    iv, ia = _needed(split)
    ev = np.zeros((len(in_v), enc_v.head.config.dim), np.float32)
    ea = np.zeros((len(in_a), enc_a.head.config.dim), np.float32)
    ev[iv], ea[ia] = _embed_all(enc_v, in_v[iv]), _embed_all(enc_a, in_a[ia])
    lv, la = v_labels[split.val_v], a_labels[split.val_a]
    val = retrieval_top1(ea[split.val_a], la, ev[split.val_v], lv)
    return val, evaluate_embeddings(ev, ea, v_labels, a_labels, split)


def _summary(r: dict) -> dict:
    return {"seen_top1": r["seen"]["a2v"], "unseen_top1": r["unseen"]["a2v"],
            "prototype_seen_top1": r["seen"]["a2v_prototype"],
            "prototype_unseen_top1": r["unseen"]["a2v_prototype"]}


def make_encoders(reservoirs: dict[str, Reservoir] | None, config: BaselineConfig,
                  widths: dict[str, int]) -> tuple[Encoder, Encoder]:
    """Visual and audio encoders: SRNN + head when ``reservoirs`` is given, else head only."""
    encs = []
    for m in ("visual", "audio"):
        srnn = SpikingRNN(reservoirs[m], config.surrogate_slope) if reservoirs else None
        head = ProjectionHead(dataclasses.replace(config.head, inputs=widths[m]))
        encs.append(Encoder(head, srnn))
    return encs[0], encs[1]


def clip_step_loss(enc_v, enc_a, xv, xa, config: BaselineConfig):
    return clip_loss(enc_v(xv), enc_a(xa), config.temperature)


def proto_step_loss(enc_v, enc_a, support, query, n_way: int):
    """Prototypical loss: support images ``[n_way * shot]``, queries ``[n_way * query]``."""
    protos = enc_v(support).reshape(n_way, -1, enc_v.head.config.dim).mean(1)
    q = enc_a(query)
    logits = -torch.cdist(q, protos) ** 2
    target = torch.arange(n_way).repeat_interleave(len(q) // n_way)
    return nn.functional.cross_entropy(logits, target)


def train_srnn_clip(in_v, in_a, v_labels, a_labels, split: ZeroShotSplit,
                    reservoirs: dict[str, Reservoir], config: BaselineConfig, *, seed: int,
                    progress=None) -> BaselineResult:
    """SRNN-CLIP: both SRNNs and heads trained end to end; frames in, embeddings out."""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed + 104729)
    widths = {"visual": reservoirs["visual"].config.neurons,
              "audio": reservoirs["audio"].config.neurons}
    enc_v, enc_a = make_encoders(reservoirs, config, widths)
    opt = torch.optim.Adam([*enc_v.parameters(), *enc_a.parameters()], lr=config.lr)
    best, state, best_epoch, steps = -1.0, None, 0, 0
    t0 = time.perf_counter()
    for epoch in range(1, config.epochs + 1):
        pv, pa = split.pairs(rng)
        order = rng.permutation(len(pv))
        for lo in range(0, len(order) - 1, config.batch):
            b = order[lo : lo + config.batch]
            if len(b) < 2:
                continue
            loss = clip_step_loss(enc_v, enc_a, torch.as_tensor(in_v[pv[b]]),
                                  torch.as_tensor(in_a[pa[b]]), config)
            opt.zero_grad()
            loss.backward()
            opt.step()
            steps += 1
        val, r = _evaluate(enc_v, enc_a, in_v, in_a, v_labels, a_labels, split)
        if val > best:
            best, best_epoch, result = val, epoch, r
            state = copy.deepcopy((enc_v.state_dict(), enc_a.state_dict()))
        if progress is not None:
            progress.update(1)
    enc_v.load_state_dict(state[0])
    enc_a.load_state_dict(state[1])
    return BaselineResult("srnn_clip", _summary(result), best_epoch, steps,
                          time.perf_counter() - t0, encoders=(enc_v.eval(), enc_a.eval()))


def sample_episode(split: ZeroShotSplit, config: BaselineConfig, rng, *,
                   repeats: bool = False):
    """One ``n_way``-way episode: ``shot`` visual supports and ``query`` audio queries per
    class, drawn without replacement.  A class with fewer training samples than that is
    refused, naming how many it has and needs, unless ``repeats`` (only the episode's size
    matters, as when its cost is counted) lets its samples repeat."""
    classes = rng.choice(list(split.train_v), config.n_way, replace=False)

    def draw(pool, c, k, what):
        if len(pool[c]) < k and not repeats:
            raise ConfigError(f"ProtoNet episodes need {k} {what} training samples of every "
                              f"seen class, but class {c} has {len(pool[c])}")
        return rng.choice(pool[c], k, replace=len(pool[c]) < k)

    sup = np.concatenate([draw(split.train_v, c, config.shot, "visual") for c in classes])
    qry = np.concatenate([draw(split.train_a, c, config.query, "audio") for c in classes])
    return sup, qry


def train_protonet(in_v, in_a, v_labels, a_labels, split: ZeroShotSplit,
                   reservoirs: dict[str, Reservoir] | None, config: BaselineConfig, *,
                   seed: int, eval_every: int = 100, progress=None) -> BaselineResult:
    """Cross-modal ProtoNet; ``reservoirs=None`` trains heads on fixed LSM features."""
    if config.n_way > len(split.train_v):
        raise ValueError(f"n_way {config.n_way} exceeds the {len(split.train_v)} seen classes")
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed + 15485863)
    widths = ({m: reservoirs[m].config.neurons for m in reservoirs} if reservoirs
              else {"visual": in_v.shape[-1], "audio": in_a.shape[-1]})
    enc_v, enc_a = make_encoders(reservoirs, config, widths)
    opt = torch.optim.Adam([*enc_v.parameters(), *enc_a.parameters()], lr=config.lr)
    best, best_ep, result = -1.0, 0, None
    t0 = time.perf_counter()
    for ep in range(1, config.episodes + 1):
        sup, qry = sample_episode(split, config, rng)
        loss = proto_step_loss(enc_v, enc_a, torch.as_tensor(in_v[sup]),
                               torch.as_tensor(in_a[qry]), config.n_way)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if ep % eval_every == 0 or ep == config.episodes:
            val, r = _evaluate(enc_v, enc_a, in_v, in_a, v_labels, a_labels, split)
            if val > best:
                best, best_ep, result = val, ep, r
        if progress is not None:
            progress.update(1)
    name = "protonet_srnn" if reservoirs else "protonet_lsm"
    return BaselineResult(name, _summary(result), best_ep, config.episodes,
                          time.perf_counter() - t0)
