"""NIR export: the graph survives a file round trip and its parameters reproduce our model.

The check simulates the exported NIR graph with forward-Euler at the export's
``dt`` (NIR's LIF semantics), reading every number from the graph itself.
Importing into snnTorch is not verified: snnTorch 1.0's importer (through
nirtorch 2.6) turns the ``lsm.lif <-> lsm.w_rec`` cycle into a graph that feeds
the external input through ``w_rec`` (``lsm_w_rec(input + lif_prev)``), so even
a reservoir with zero recurrent weights disagrees from step 0.  Norse's
``from_nir`` expects ``r = 1``: ``to_nir(..., unit_r=True)`` exports that
equivalent encoding, and Norse then reproduces our spike counts exactly.
"""

import nir
import numpy as np
import pytest
import torch

from rramlsm.sw.lsm import PRESETS, make_reservoir, run_lif
from rramlsm.sw.nir_export import DEFAULT_DT, to_nir


def _simulate_nir(graph: nir.NIRGraph, x: np.ndarray, dt: float) -> np.ndarray:
    lif = graph.nodes["lsm.lif"]
    w_in = graph.nodes["w_in"].weight
    w_rec = graph.nodes["lsm.w_rec"].weight
    assert ("lsm.w_rec", "lsm.lif") in graph.edges and ("lsm.lif", "lsm.w_rec") in graph.edges
    keep = 1 - dt / lif.tau
    gain = dt / lif.tau * lif.r
    v = np.zeros((x.shape[0], w_in.shape[0]), np.float32)
    s = np.zeros_like(v)
    counts = np.zeros_like(v)
    for t in range(x.shape[1]):
        current = x[:, t] @ w_in.T + s @ w_rec.T
        v = (keep * v + (1 - keep) * lif.v_leak + gain * current).astype(np.float32)
        s = (v >= lif.v_threshold).astype(np.float32)
        v = v * (1 - s)  # reset to zero after a spike
        counts += s
    return counts


def test_nir_graph_round_trips_through_a_file(tmp_path):
    r = make_reservoir(PRESETS["audio"], seed=1)
    g = to_nir(r)
    nir.write(tmp_path / "lsm.nir", g)
    back = nir.read(tmp_path / "lsm.nir")
    np.testing.assert_array_equal(back.nodes["w_in"].weight, g.nodes["w_in"].weight)
    np.testing.assert_allclose(back.nodes["lsm.lif"].tau, g.nodes["lsm.lif"].tau)
    assert sorted(back.edges) == sorted(g.edges)


def test_nir_parameters_reproduce_the_float_model():
    cfg = PRESETS["visual"]
    r = make_reservoir(cfg, seed=0)
    g = to_nir(r)
    lif = g.nodes["lsm.lif"]
    np.testing.assert_allclose(1 - DEFAULT_DT / lif.tau, cfg.decay)
    np.testing.assert_allclose(DEFAULT_DT / lif.tau * lif.r, 1.0)
    x = (np.random.default_rng(0).random((16, cfg.steps, cfg.inputs)) < 0.1).astype(np.float32)
    w_in, w_rec = r.float_weights()
    ours = run_lif(torch.from_numpy(x), w_in, w_rec, cfg.decay, cfg.threshold).numpy()
    theirs = _simulate_nir(g, x, DEFAULT_DT)
    # Same spikes up to float rounding of the decay (lam is recovered as 1 - dt/tau):
    # allow a few flipped spikes in the chaotic reservoir, not a different model.
    assert np.abs(ours - theirs).sum() <= 0.02 * ours.sum()
    assert theirs.sum() > 0


def test_decay_zero_exports_tau_equal_to_dt():
    """lam = 0 (no memory) is tau = dt, r = 1: finite, and still our model."""
    cfg = PRESETS["visual"].replace(inputs=20, neurons=12, steps=15, decay=0.0, threshold=2.0)
    r = make_reservoir(cfg, seed=2)
    g = to_nir(r)
    np.testing.assert_allclose(g.nodes["lsm.lif"].tau, DEFAULT_DT)
    np.testing.assert_allclose(g.nodes["lsm.lif"].r, 1.0)
    x = (np.random.default_rng(0).random((6, 15, 20)) < 0.3).astype(np.float32)
    w_in, w_rec = r.float_weights()
    want = run_lif(torch.as_tensor(x), w_in, w_rec, 0.0, 2.0).numpy()
    np.testing.assert_array_equal(_simulate_nir(g, x, DEFAULT_DT), want)


@pytest.mark.filterwarnings("ignore::DeprecationWarning:nirtorch.*")
def test_unit_r_encoding_is_the_same_model_and_round_trips_through_norse():
    """r = 1 with weights / (1 - lam): Norse's convention; its import gives our counts."""
    norse = pytest.importorskip("norse.torch")
    cfg = PRESETS["visual"].replace(inputs=20, neurons=12, steps=15, threshold=2.0)
    r = make_reservoir(cfg, seed=2)
    g = to_nir(r, unit_r=True)
    np.testing.assert_allclose(g.nodes["lsm.lif"].r, 1.0)
    x = (np.random.default_rng(0).random((6, 15, 20)) < 0.3).astype(np.float32)
    w_in, w_rec = r.float_weights()
    want = run_lif(torch.as_tensor(x), w_in, w_rec, cfg.decay, cfg.threshold).numpy()
    assert np.abs(_simulate_nir(g, x, DEFAULT_DT) - want).sum() <= 0.02 * want.sum()
    net = norse.from_nir(g, dt=DEFAULT_DT)
    state, counts = None, torch.zeros(6, 12)
    with torch.no_grad():
        for t in range(15):
            out, state = net(torch.as_tensor(x[:, t]), state)
            counts += out
    np.testing.assert_array_equal(counts.numpy(), want)
    assert want.sum() > 0
