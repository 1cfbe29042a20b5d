"""SV-Mix: gradient routing of the disentangled training, mask shapes, λ tracking, EMA."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from vimix_ssl.mixing.svmix import SVMix, VolumeSelector
from vimix_ssl.models.base import StagedEncoder


class TinyEncoder(StagedEncoder):
    """Two conv stages (B, C, T, H, W) -> (B, 8, T/2, H/4, W/4) -> pooled (B, 8)."""

    def __init__(self, in_channels: int = 3) -> None:
        super().__init__()
        self.stages["a"] = nn.Sequential(nn.Conv3d(in_channels, 6, 3, stride=(1, 2, 2), padding=1), nn.ReLU())
        self.stages["b"] = nn.Sequential(nn.Conv3d(6, 8, 3, stride=2, padding=1), nn.BatchNorm3d(8),
                                         nn.ReLU())
        self.stage_channels = {"a": 6, "b": 8}
        self.mixable = ["a", "b"]
        self.feature_dim = 8

    def pool(self, x: torch.Tensor) -> torch.Tensor:
        return x.mean(dim=(2, 3, 4))


def _setup(**kwargs) -> tuple[TinyEncoder, nn.Linear, SVMix]:
    torch.manual_seed(0)
    encoder, head = TinyEncoder(), nn.Linear(8, 4)
    return encoder, head, SVMix(encoder, head, attention_dim=16, **kwargs)


def _grads(loss: torch.Tensor, modules: dict[str, nn.Module]) -> dict[str, bool]:
    """name -> whether any parameter of the module receives a non-zero gradient from ``loss``."""
    out = {}
    for name, module in modules.items():
        params = [p for p in module.parameters() if p.requires_grad]
        if not params:
            out[name] = False
            continue
        grads = torch.autograd.grad(loss, params, retain_graph=True, allow_unused=True)
        out[name] = any(g is not None and g.abs().sum() > 0 for g in grads)
    return out


@pytest.mark.parametrize("temporal_probability", [0.0, 1.0])
def test_gradients_are_disentangled(temporal_probability: float) -> None:
    encoder, head, svmix = _setup(temporal_probability=temporal_probability)
    x, labels = torch.randn(4, 3, 4, 8, 8), torch.tensor([0, 1, 2, 3])
    out = svmix.losses(encoder, head, x, labels, 4, generator=torch.Generator().manual_seed(0))
    modules = {"selector": svmix.selector, "student": nn.ModuleList([encoder, head])}
    assert _grads(out["loss_teacher"], modules) == {"selector": True, "student": False}
    assert _grads(out["loss_mask"], modules) == {"selector": True, "student": False}
    assert _grads(out["loss_student"], modules) == {"selector": False, "student": True}
    teacher = [*svmix.teacher_encoder.parameters(), *svmix.teacher_head.parameters()]
    assert not any(p.requires_grad for p in teacher)  # the teacher only moves by EMA
    out["loss"].backward()
    assert all(p.grad is None for p in teacher)


def test_mask_shapes_and_partitions() -> None:
    selector = VolumeSelector(in_channels=8, attention_dim=16)
    f_i, f_j, lam = torch.randn(2, 8, 2, 3, 3), torch.randn(2, 8, 2, 3, 3), torch.tensor([0.3, 0.8])
    spatial = selector(f_i, f_j, lam, "spatial", (4, 12, 12))
    temporal = selector(f_i, f_j, lam, "temporal", (4, 12, 12))
    for mask in (spatial, temporal):
        assert mask.shape == (2, 1, 4, 12, 12) and mask.min() >= 0 and mask.max() <= 1
    assert torch.equal(temporal, temporal[..., :1, :1].expand_as(temporal))  # one weight per frame
    assert not torch.equal(spatial, spatial[..., :1, :1].expand_as(spatial))  # varies across patches


def test_mixed_clip_is_mask_blend_of_the_pair() -> None:
    encoder, head, svmix = _setup()
    x = torch.randn(3, 3, 4, 8, 8)
    mixed, mask, _ = svmix.mix(x, torch.Generator().manual_seed(1))
    torch.testing.assert_close(mixed.x, mask * x + (1 - mask) * x[mixed.perm])
    assert mixed.lam.shape == (3,) and sorted(mixed.perm.tolist()) == [0, 1, 2]


def test_mean_mask_tracks_lambda_after_training() -> None:
    encoder, head, svmix = _setup(mask_loss_weight=10.0, momentum=0.9)
    optimizer = torch.optim.Adam([{"params": svmix.selector.parameters(), "lr": 0.1},
                                  {"params": [*encoder.parameters(), *head.parameters()]}], lr=1e-2)
    generator = torch.Generator().manual_seed(0)
    x, labels = torch.randn(8, 3, 4, 8, 8), torch.arange(8) % 4

    def gap() -> float:
        with torch.no_grad():
            errors = []
            for _ in range(6):
                mixed, mask, _ = svmix.mix(x, generator)
                errors.append((mixed.lam - mask.mean(dim=(1, 2, 3, 4))).abs().mean())
            return float(torch.stack(errors).mean())

    before = gap()
    for _ in range(80):
        out = svmix.losses(encoder, head, x, labels, 4, generator=generator)
        optimizer.zero_grad()
        out["loss"].backward()
        optimizer.step()
        svmix.update_teacher(encoder, head)
    after = gap()
    assert after < 0.08 and after < before / 2, (before, after)


def test_ema_momentum_zero_copies_and_one_keeps() -> None:
    encoder, head, svmix = _setup(momentum=1.0)
    with torch.no_grad():
        for p in [*encoder.parameters(), *head.parameters()]:
            p.add_(1.0)
    kept = [p.clone() for p in svmix.teacher_encoder.parameters()]
    svmix.update_teacher(encoder, head)
    assert all(torch.equal(a, b) for a, b in zip(kept, svmix.teacher_encoder.parameters()))
    svmix.momentum = 0.0
    svmix.update_teacher(encoder, head)
    assert all(torch.equal(a, b) for a, b in zip(encoder.parameters(), svmix.teacher_encoder.parameters()))


def test_bad_feature_cut_is_refused() -> None:
    with pytest.raises(ValueError, match="cut 5 out of range"):
        SVMix(TinyEncoder(), nn.Linear(8, 4), feature_cut=5)


def _dropout_classifier(teacher_mode: str):
    """A classifier with dropout, drop-path and BatchNorm (what made the train-mode teacher noisy)."""
    from vimix_ssl.methods.supervised import SupervisedMethod
    from vimix_ssl.models.registry import build_encoder

    torch.manual_seed(0)
    encoder = build_encoder("r3d_rs_small", width=0.0625, drop_path_rate=0.5)
    method = SupervisedMethod(encoder, 5, mixer="svmix", dropout=0.5,
                              mixer_kwargs={"attention_dim": 8, "teacher_mode": teacher_mode})
    return method.train()


def test_teacher_forwards_of_the_same_clip_are_identical_by_default() -> None:
    method = _dropout_classifier("eval")
    teacher = method.svmix
    assert method.training and method.encoder.training and teacher.selector.training
    assert not teacher.teacher_encoder.training and not teacher.teacher_head.training
    x = torch.randn(2, 3, 4, 32, 32)
    with torch.no_grad():
        first, second = (teacher.teacher_head(teacher.teacher_encoder(x)) for _ in range(2))
    assert torch.equal(first, second)
    method.training_step({"rgb": x, "label": torch.tensor([0, 1])})  # a step keeps the teacher in eval mode
    assert not teacher.teacher_encoder.training


def test_train_mode_teacher_is_the_option_and_differs() -> None:
    teacher = _dropout_classifier("train").svmix
    assert teacher.teacher_encoder.training
    x = torch.randn(2, 3, 4, 32, 32)
    with torch.no_grad():
        first, second = (teacher.teacher_head(teacher.teacher_encoder(x)) for _ in range(2))
    assert not torch.equal(first, second)


def test_lambda_uses_the_partitions_alpha() -> None:
    """Per-module α (seed 000: 0.8 temporal, 1.0 spatial): partition drawn first, then λ ~ Beta(α, α)."""
    from vimix_ssl.mixing import boxes

    x = torch.randn(64, 3, 4, 8, 8)
    for probability, partition, alpha in ((1.0, "temporal", 0.8), (0.0, "spatial", 1.0)):
        _, _, svmix = _setup(temporal_probability=probability)
        assert svmix.alpha == {"temporal": 0.8, "spatial": 1.0}
        mixed, _, drawn = svmix.mix(x, torch.Generator().manual_seed(3))
        reference = torch.Generator().manual_seed(3)
        boxes.sample_uniform(1, reference)  # the partition draw
        expected = boxes.sample_lam(64, alpha, True, None, reference)
        assert drawn == partition and torch.allclose(mixed.lam, expected.float())
        _, _, custom = _setup(temporal_probability=probability, alpha_temporal=0.2, alpha_spatial=3.0)
        spread = custom.mix(x, torch.Generator().manual_seed(3))[0].lam.std()
        assert (spread > 0.35) if probability else (spread < 0.3)  # Beta(0.2) is U-shaped, Beta(3) peaked
    with pytest.raises(ValueError, match="alpha_temporal and alpha_spatial"):
        _setup(alpha_spatial=0.0)
