"""Two recurrent LIF reservoirs written in other frameworks, as NIR for ``rramlsm import-nir``.

    python examples/nir_reservoirs.py --out runs/nir        # writes snntorch.nir, norse.nir

Each is a random recurrent LIF population on the 64 channels of an audio source
(``--source``, default the built-in ``speech``) with a linear readout of its spike
counts, fitted by ridge regression on the source's training split in the framework
itself -- the kind of model a researcher brings to the macro:

- snnTorch: ``nn.Linear(64, N, bias=False)`` -> ``snn.RLeaky(beta, all-to-all, reset to
  zero, reset_delay=False)`` -> ``nn.Linear(N, 10)``, written by ``export_to_nir`` (the
  flat layout, ``lif.lif <-> lif.w_rec``).
- Norse: ``nn.Linear`` -> ``LIFBoxCell`` with a recurrent ``nn.Linear`` -> ``nn.Linear``,
  each layer written by Norse's own exporter into the nested layout (Norse has no
  recurrent-cell exporter; its 1.1 exporter writes the LIF's ``tau`` as ``dt / tau_mem_inv``,
  so the LIF node is written here with ``tau = 1 / tau_mem_inv``).

``reset_delay=False``: snnTorch's default (True) discards the input of the step after a
spike, which is not the LIF its NIR export describes.
"""

from __future__ import annotations

import argparse
import warnings
from pathlib import Path

import nir
import numpy as np
import torch

STEPS, NEURONS, CLASSES = 100, 128, 10


def _frames(source: str):
    from rramlsm.sw.datasets import load_source
    from rramlsm.sw.features import frame_dataset
    from rramlsm.sw.lsm import PRESETS

    ds = load_source(source, progress=False)
    keep = np.flatnonzero(ds.labels < CLASSES)
    ds = ds.subset(keep)
    return frame_dataset(ds, PRESETS["audio"].replace(steps=STEPS)).astype(np.float32), ds


def _ridge(counts: np.ndarray, labels: np.ndarray, lam: float = 10.0):
    x = np.hstack([counts, np.ones((len(counts), 1))])
    y = np.eye(CLASSES)[labels]
    w = np.linalg.solve(x.T @ x + lam * np.eye(x.shape[1]), x.T @ y)
    return w[:-1].T, w[-1] / STEPS        # per-step readout: logits = counts W^T + T b


def _readout(counts: np.ndarray, ds):
    """The readout layer, fitted on the training split's counts: ``(layer, W, b)``."""
    w, b = _ridge(counts[ds.is_train], ds.labels[ds.is_train])
    out = torch.nn.Linear(NEURONS, CLASSES)
    with torch.no_grad():
        out.weight.copy_(torch.as_tensor(w))
        out.bias.copy_(torch.as_tensor(b))
    return out, w, b


def _run(step, x: np.ndarray) -> np.ndarray:
    out = []
    with torch.no_grad():
        for lo in range(0, len(x), 256):
            xb = torch.as_tensor(x[lo:lo + 256])
            out.append(step(xb).numpy())
    return np.concatenate(out)


def snntorch_model(frames, ds, seed=0):
    import snntorch as snn

    torch.manual_seed(seed)
    fc = torch.nn.Linear(64, NEURONS, bias=False)
    lif = snn.RLeaky(beta=0.95, linear_features=NEURONS, threshold=1.0, reset_mechanism="zero",
                     reset_delay=False)
    with torch.no_grad():
        fc.weight.normal_(0.0, 0.25)
        lif.recurrent.weight.normal_(0.0, 0.08)
        lif.recurrent.bias.zero_()

    def counts(xb):
        spk, mem = lif.reset_mem()
        total = torch.zeros(xb.shape[0], NEURONS)
        for t in range(xb.shape[1]):
            spk, mem = lif(fc(xb[:, t]), spk, mem)
            total += spk
        return total

    c = _run(counts, frames)
    out, w, b = _readout(c, ds)

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.fc, self.lif, self.out = fc, lif, out

        def forward(self, x):
            spk, _ = self.lif(self.fc(x))
            return self.out(spk)

    from snntorch.export_nir import export_to_nir

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        graph = export_to_nir(Net(), torch.zeros(64))
    return graph, c, w, b


def norse_model(frames, ds, seed=1, dt=1e-3):
    import norse.torch as norse
    from norse.torch.utils.export_nir import _extract_norse_module

    from rramlsm.sw.nir_import import nested_graph

    torch.manual_seed(seed)
    tau = dt / (1 - 0.95)
    gain = tau / dt                      # LIFBox integrates dt/tau of its input
    fc = torch.nn.Linear(64, NEURONS, bias=False)
    rec = torch.nn.Linear(NEURONS, NEURONS, bias=False)
    with torch.no_grad():
        fc.weight.normal_(0.0, 0.25 * gain)
        rec.weight.normal_(0.0, 0.08 * gain)
    lif = norse.LIFBoxCell(norse.LIFBoxParameters(tau_mem_inv=torch.tensor(1.0 / tau),
                                                  v_th=torch.tensor(1.0)), dt=dt)

    def counts(xb):
        z, state = torch.zeros(xb.shape[0], NEURONS), None
        total = torch.zeros_like(z)
        for t in range(xb.shape[1]):
            z, state = lif(fc(xb[:, t]) + rec(z), state)
            total += z
        return total

    c = _run(counts, frames)
    out, w, b = _readout(c, ds)
    n = NEURONS
    cell = nir.LIF(tau=np.full(n, 1.0 / float(lif.p.tau_mem_inv)), r=np.ones(n),
                   v_leak=np.zeros(n), v_threshold=np.full(n, float(lif.p.v_th)))
    graph = nested_graph(_extract_norse_module(fc), cell, _extract_norse_module(rec, dt=dt),
                         _extract_norse_module(out))
    return graph, c, w, b


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default="runs/nir")
    p.add_argument("--source", default="speech")
    args = p.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    frames, ds = _frames(args.source)
    for name, make in (("snntorch", snntorch_model), ("norse", norse_model)):
        graph, counts, w, b = make(frames, ds)
        nir.write(out / f"{name}.nir", graph)
        test = ~ds.is_train
        acc = (np.argmax(counts[test] @ w.T + STEPS * b, 1) == ds.labels[test]).mean()
        print(f"{name}: firing rate {counts.mean() / STEPS:.3f}, readout {100 * acc:.1f} % on "
              f"{test.sum()} test samples; wrote {out / f'{name}.nir'}")


if __name__ == "__main__":
    main()
