"""InfoNCE and the i-Mix loss against hand computation; the Table 1 input mixers' (λ, perm) contract."""

from __future__ import annotations

import math

import pytest
import torch

from vimix_ssl.ssl.losses import dominant_targets, imix_loss, info_nce, pretext_accuracy


def _ce(row: list[float], target: int) -> float:
    return -row[target] + math.log(sum(math.exp(v) for v in row))


def test_info_nce_equals_hand_computed_value():
    logits = torch.tensor([[2.0, 0.5, -1.0], [0.0, 1.0, 3.0]])
    expected = (_ce([2.0, 0.5, -1.0], 0) + _ce([0.0, 1.0, 3.0], 0)) / 2
    assert info_nce(logits).item() == pytest.approx(expected, rel=1e-6)
    targets = torch.tensor([1, 2])
    expected = (_ce([2.0, 0.5, -1.0], 1) + _ce([0.0, 1.0, 3.0], 2)) / 2
    assert info_nce(logits, targets).item() == pytest.approx(expected, rel=1e-6)


def test_imix_loss_equals_hand_computed_value_with_offset():
    rows = [[0.3, 1.0, -0.5, 2.0, 0.1], [1.5, -1.0, 0.2, 0.0, 0.7]]
    logits = torch.tensor(rows)
    lam, perm, offset = torch.tensor([0.7, 0.25]), torch.tensor([1, 0]), 2
    # sample 0: own key at 2, partner key at 3; sample 1: own at 3, partner at 2
    expected = (0.7 * _ce(rows[0], 2) + 0.3 * _ce(rows[0], 3)
                + 0.25 * _ce(rows[1], 3) + 0.75 * _ce(rows[1], 2)) / 2
    assert imix_loss(logits, lam, perm, offset).item() == pytest.approx(expected, rel=1e-6)


def test_imix_loss_at_lambda_one_is_info_nce_over_the_same_logits():
    generator = torch.Generator().manual_seed(0)
    logits = torch.randn(6, 6 + 10, generator=generator)
    perm = torch.randperm(6, generator=generator)
    own = torch.arange(6)
    assert torch.allclose(imix_loss(logits, torch.ones(6), perm), info_nce(logits, own))
    assert torch.allclose(imix_loss(logits, 1.0, perm), info_nce(logits, own))
    # λ = 0 puts all the weight on the partner's key
    assert torch.allclose(imix_loss(logits, torch.zeros(6), perm), info_nce(logits, perm))


def test_imix_loss_rejects_a_wrong_permutation_shape():
    with pytest.raises(ValueError, match="perm must have shape"):
        imix_loss(torch.zeros(4, 8), torch.ones(4), torch.arange(3))


def test_pretext_accuracy_and_dominant_targets():
    logits = torch.tensor([[0.0, 5.0, 1.0], [9.0, 0.0, 1.0]])
    assert pretext_accuracy(logits, torch.tensor([1, 2])).item() == 0.5
    targets = dominant_targets(torch.tensor([0.8, 0.3]), torch.tensor([1, 0]), offset=4)
    assert targets.tolist() == [4, 4]


TABLE1_MIXERS = ["mixup", "videomix", "temporal_cutmix", "st_cutmix"]


@pytest.mark.parametrize("name", TABLE1_MIXERS)
def test_mixer_lambda_is_the_share_of_own_voxels(name):
    from vimix_ssl.mixing.registry import build_mixer

    batch, shape = 6, (1, 8, 12, 10)
    generator = torch.Generator().manual_seed(3)
    fold = {"fold_lambda": True} if name == "mixup" else {}
    mixer = build_mixer(name, alpha=1.0, per_sample=True, **fold)
    if name == "mixup":
        x = torch.randn(batch, 3, 4, 6, 6, generator=generator)
        mixed = mixer(x, generator=generator)
        lam = mixed.lam.view(-1, 1, 1, 1, 1)
        assert torch.allclose(mixed.x, lam * x + (1 - lam) * x[mixed.perm], atol=1e-6)
        assert bool((mixed.lam >= 0.5).all()), "i-Mix mixup folds λ to max(λ, 1−λ)"
    else:
        # each sample is filled with its own id, so the own-voxel share is countable
        x = torch.arange(batch, dtype=torch.float32).view(-1, 1, 1, 1, 1).expand(batch, *shape).clone()
        mixed = mixer(x, generator=generator)
        for i in range(batch):
            own = (mixed.x[i] == i).float().mean().item()
            if mixed.perm[i] != i:
                assert mixed.lam[i].item() == pytest.approx(own, abs=1e-6), (name, i)
    assert sorted(mixed.perm.tolist()) == list(range(batch))
    assert mixed.lam.shape == (batch,)


@pytest.mark.parametrize("name", TABLE1_MIXERS)
def test_mixer_at_lambda_one_is_the_identity(name):
    from vimix_ssl.mixing.registry import build_mixer

    x = torch.randn(4, 3, 4, 8, 8)
    mixed = build_mixer(name, per_sample=True, lam=1.0)(x)
    assert torch.equal(mixed.x, x)
    assert torch.all(mixed.lam == 1)
