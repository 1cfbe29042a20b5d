"""Finetune: ten-crop / dense-clip averaging, parameter groups, mixer training, two-stream fusion."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from vimix_ssl.eval.finetune import (
    FinetuneConfig,
    FinetuneModel,
    build_optimizer,
    crop_positions,
    fuse_two_stream,
    predict_videos,
    save_predictions,
    ten_crop,
    train_finetune,
)


class _Pooled(nn.Module):
    """A tiny 'encoder': global mean of each channel -> Linear, (B, C, T, H, W) -> (B, 4)."""

    feature_dim = 4

    def __init__(self, channels=3):
        super().__init__()
        self.fc = nn.Linear(channels, 4)

    def forward(self, x):
        return self.fc(x.mean(dim=(2, 3, 4)))


def test_ten_crop_shapes_positions_and_flips():
    clips = torch.arange(2 * 2 * 1 * 6 * 7, dtype=torch.float32).view(2, 2, 1, 6, 7)  # (N, C, T, H, W)
    views = ten_crop(clips, 4)
    assert views.shape == (20, 2, 1, 4, 4)
    positions = crop_positions(6, 7, 4)
    assert positions == [(0, 0), (0, 3), (2, 0), (2, 3), (1, 1)]
    torch.testing.assert_close(views[4], clips[0, :, :, 1:5, 1:5])  # centre crop of clip 0
    torch.testing.assert_close(views[5], clips[0, :, :, 0:4, 0:4].flip(-1))  # first mirrored crop
    torch.testing.assert_close(views[10], clips[1, :, :, 0:4, 0:4])  # clip 1 starts at 10
    flow = ten_crop(clips, 4, flow=True)
    torch.testing.assert_close(flow[5, 0], -clips[0, 0, :, 0:4, 0:4].flip(-1))  # dx negated
    assert ten_crop(clips, 4, crops=1).shape == (2, 2, 1, 4, 4)
    with pytest.raises(ValueError, match="larger than"):
        ten_crop(clips, 8)


def test_predictions_average_softmax_over_windows_and_crops():
    torch.manual_seed(0)
    model = FinetuneModel(_Pooled(), 4, 3, dropout=0.5)
    clips = torch.randn(5, 3, 2, 6, 6)  # video 0: 2 windows, video 1: 3 windows
    config = FinetuneConfig(clips_per_forward=7)
    probabilities = predict_videos(model, [(clips, torch.tensor([2, 3]))], 4, config, torch.device("cpu"))
    assert probabilities.shape == (2, 3)
    torch.testing.assert_close(probabilities.sum(1), torch.ones(2))
    with torch.no_grad():
        manual = model.eval()(ten_crop(clips[2:], 4)).softmax(1).mean(0)
    torch.testing.assert_close(probabilities[1], manual)
    again = predict_videos(model, [(clips, torch.tensor([2, 3]))], 4, config, torch.device("cpu"))
    assert torch.equal(probabilities, again)  # eval mode: dropout off, deterministic


def test_backbone_trains_at_a_tenth_of_the_rate():
    model = FinetuneModel(_Pooled(), 4, 3, dropout=0.0)
    groups = build_optimizer(model, FinetuneConfig(lr=0.01)).param_groups
    assert [g["name"] for g in groups] == ["backbone", "classifier"]
    assert groups[0]["lr"] == pytest.approx(0.001) and groups[1]["lr"] == pytest.approx(0.01)


@pytest.mark.parametrize("mixer", ["", "mixup", "cutmix"])
def test_training_lowers_the_loss(mixer):
    torch.manual_seed(0)
    labels = torch.arange(12) % 3
    clips = torch.randn(12, 3, 2, 8, 8) * 0.1 + labels.view(-1, 1, 1, 1, 1).float()  # class = brightness
    model = FinetuneModel(_Pooled(), 4, 3, dropout=0.0)
    config = FinetuneConfig(epochs=40, lr=0.05, optimizer="adam", milestones=[], mixer=mixer, weight_decay=0)
    history = train_finetune(model, lambda epoch: [(clips, labels)], 3, config, torch.device("cpu"))
    assert history[-1]["loss"] < history[0]["loss"]


def test_two_stream_fusion_is_the_mean(tmp_path):
    labels = torch.tensor([0, 1, 2])
    a = torch.tensor([[0.9, 0.05, 0.05], [0.5, 0.4, 0.1], [0.1, 0.1, 0.8]])
    b = torch.tensor([[0.2, 0.7, 0.1], [0.1, 0.8, 0.1], [0.2, 0.2, 0.6]])
    ids = ["x", "y", "z"]
    first = save_predictions(tmp_path / "rgb.npz", ids, labels, a, "rgb")
    second = save_predictions(tmp_path / "flow.npz", ids, labels, b, "flow")
    fused = fuse_two_stream(first, second)
    torch.testing.assert_close(fused["probabilities"], (a + b) / 2)
    assert fused["metrics"]["top1"] == pytest.approx(1.0)  # rgb alone: 2/3, flow alone: 2/3
    assert fused["streams"]["first"]["top1"] == pytest.approx(2 / 3)
    other = save_predictions(tmp_path / "other.npz", ["x", "z", "y"], labels, b, "flow")
    with pytest.raises(ValueError, match="different videos"):
        fuse_two_stream(first, other)
    with pytest.raises(FileNotFoundError, match="missing.npz"):
        fuse_two_stream(first, tmp_path / "missing.npz")
