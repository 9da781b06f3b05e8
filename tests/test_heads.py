"""Projection heads, the contrastive losses, and the integer head arithmetic."""

import math

import numpy as np
import pytest
import torch

from rramlsm.sw import contract
from rramlsm.sw.heads import (
    HeadConfig,
    ProjectionHead,
    clip_loss,
    quantize_head,
    supcon_loss,
)


def test_clip_loss_matches_hand_computation():
    a = torch.tensor([[1.0, 0.0], [0.0, 2.0]])
    b = torch.tensor([[3.0, 0.0], [1.0, 1.0]])
    # Normalised: a = [[1,0],[0,1]], b = [[1,0],[s,s]] with s = 1/sqrt(2); T = 0.5.
    s = 1 / math.sqrt(2)
    logits = np.array([[1, s], [0, s]]) / 0.5

    def ce(rows):
        return np.mean([-(r[i] - np.log(np.exp(r).sum())) for i, r in enumerate(rows)])

    expected = 0.5 * (ce(logits) + ce(logits.T))
    assert clip_loss(a, b, temperature=0.5).item() == pytest.approx(expected, rel=1e-6)


def test_clip_loss_is_symmetric_and_rewards_alignment():
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(8, 16, generator=g), torch.randn(8, 16, generator=g)
    assert clip_loss(a, b).item() == pytest.approx(clip_loss(b, a).item(), rel=1e-6)
    assert clip_loss(a, a, temperature=0.1) < clip_loss(a, b, temperature=0.1)


def test_supcon_equals_clip_for_distinct_labels():
    g = torch.Generator().manual_seed(1)
    a, b = torch.randn(6, 4, generator=g), torch.randn(6, 4, generator=g)
    assert supcon_loss(a, b, torch.arange(6), 0.5).item() == pytest.approx(
        clip_loss(a, b, 0.5).item(), rel=1e-6)
    # With two samples per class the target is uniform over 2 positives, so the loss is
    # bounded below by its entropy ln 2, reached by embeddings clustered by class.
    lab = torch.tensor([0, 0, 1, 1, 2, 2])
    clustered = torch.nn.functional.one_hot(lab, 3).float()
    assert supcon_loss(clustered, clustered, lab, 0.05).item() == pytest.approx(math.log(2),
                                                                                abs=1e-4)
    assert supcon_loss(a, b, lab, 0.05).item() > math.log(2) + 0.1


def test_loss_errors_name_the_problem():
    with pytest.raises(ValueError, match="one shape"):
        clip_loss(torch.zeros(2, 3), torch.zeros(3, 3))
    with pytest.raises(ValueError, match="temperature must be > 0"):
        clip_loss(torch.zeros(2, 3), torch.zeros(2, 3), temperature=0.0)
    with pytest.raises(ValueError, match="HeadConfig dim must be an integer >= 1, not 0"):
        HeadConfig(dim=0)


def test_requantize_rounds_half_up_and_saturates():
    acc = np.array([-1000, -3, -2, -1, 0, 1, 2, 3, 1000])
    assert contract.requantize(acc, 1).tolist() == [-128, -1, -1, 0, 0, 1, 1, 2, 127]
    assert contract.requantize(acc, 0).tolist() == [-128, -3, -2, -1, 0, 1, 2, 3, 127]
    with pytest.raises(ValueError, match="shift"):
        contract.requantize(acc, 40)


def test_gelu_lut_hand_values():
    lut = contract.gelu_lut(0.05)
    assert lut.dtype == np.int8 and lut.shape == (256,)
    assert lut[128] == 0  # gelu(0) = 0
    assert lut[128 + 20] == round(0.5 * 1.0 * (1 + math.erf(1 / math.sqrt(2))) / 0.05)  # z=1.0
    assert lut[255] == 127 or lut[255] == round(0.5 * 6.35 * (1 + math.erf(6.35 / 2 ** 0.5))
                                                / 0.05)
    assert lut[0] == 0  # gelu(-6.4) ~ -5e-10
    assert lut.min() >= -4  # gelu's minimum is -0.17 = -3.4 steps
    with pytest.raises(ValueError, match="scale"):
        contract.gelu_lut(0.0)


@pytest.mark.parametrize("hidden", [(), (32,)])
def test_integer_head_tracks_the_float_head(hidden):
    torch.manual_seed(0)
    head = ProjectionHead(HeadConfig(inputs=40, dim=16, hidden=hidden))
    rng = np.random.default_rng(0)
    counts = rng.binomial(50, 0.08, size=(300, 40)).astype(np.uint8)
    ihead = quantize_head(head, counts[:200], scale=50)
    e_int = ihead(counts[200:])
    assert e_int.dtype == np.int8
    with torch.no_grad():
        e_float = head(torch.as_tensor(counts[200:] / 50.0, dtype=torch.float32)).numpy()
    approx = e_int * ihead.out_scale
    cos = (approx * e_float).sum(1) / (np.linalg.norm(approx, axis=1)
                                       * np.linalg.norm(e_float, axis=1))
    assert cos.min() > 0.97, cos.min()


def test_integer_layer_is_the_contract_step_by_step():
    torch.manual_seed(3)
    head = ProjectionHead(HeadConfig(inputs=5, dim=3))
    counts = np.random.default_rng(3).integers(0, 51, size=(20, 5)).astype(np.uint8)
    layer = quantize_head(head, counts, scale=50).layers[0]
    for x in counts:
        for j in range(3):
            acc = sum(int(x[i]) * int(layer.weight[i, j]) for i in range(5)) + int(layer.bias[j])
            z = acc if layer.shift == 0 else (acc + (1 << (layer.shift - 1))) >> layer.shift
            z = max(-128, min(127, z))
            assert layer(x[None])[0, j] == layer.lut[z + 128]


def test_integer_head_rejects_float_input():
    torch.manual_seed(0)
    head = ProjectionHead(HeadConfig(inputs=4, dim=2))
    ih = quantize_head(head, np.ones((3, 4), np.uint8), scale=10)
    with pytest.raises(TypeError, match="integer spike counts"):
        ih(np.ones((1, 4)))
    with pytest.raises(ValueError, match=r"shape \[N, 4\]"):
        quantize_head(head, np.ones((3, 5), np.uint8), scale=10)
