"""Finetune: ten-crop / dense-clip averaging, parameter groups, mixer training, two-stream fusion."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from vimix_ssl.eval.finetune import (
    FinetuneConfig,
    FinetuneModel,
    build_optimizer,
    collate_by_frame_shape,
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


def test_five_crops_of_a_non_square_frame_match_a_loop_reference():
    height, width, size = 10, 14, 8

    def reference():  # every top-left corner a size² box can take; the four extremes, then the middle
        tops = [t for t in range(height) if t + size <= height]
        lefts = [left for left in range(width) if left + size <= width]
        corners = [(t, left) for t in (tops[0], tops[-1]) for left in (lefts[0], lefts[-1])]
        return corners + [((tops[-1] - tops[0]) // 2, (lefts[-1] - lefts[0]) // 2)]

    assert crop_positions(height, width, size) == reference() == [(0, 0), (0, 6), (2, 0), (2, 6), (1, 3)]
    assert crop_positions(width, height, size) == [(0, 0), (0, 2), (6, 0), (6, 2), (3, 1)]  # portrait
    clips = torch.randn(1, 2, 3, height, width)
    views = ten_crop(clips, size, flow=True, crops=10)
    for k, (top, left) in enumerate(reference()):
        box = clips[0, :, :, top:top + size, left:left + size]
        torch.testing.assert_close(views[k], box)
        mirrored = box.flip(-1).clone()
        mirrored[0] = -mirrored[0]  # flow: a mirror negates dx
        torch.testing.assert_close(views[5 + k], mirrored)


class _EdgeFrames:
    """A frame source: ``height`` x ``width`` frames, 0 except the 4 leftmost columns (255)."""

    def __init__(self, shapes):
        self.shapes = shapes  # video id -> (height, width)

    def num_frames(self, video_id):
        return 4

    def read(self, video_id, indices):
        height, width = self.shapes[video_id]
        frames = np.zeros((len(indices), height, width, 3), np.uint8)
        frames[:, :, :4] = 255
        return frames


class _Recorder(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(3, 2)
        self.seen = []

    def forward(self, x):
        self.seen.append(x.clone())
        return self.fc(x.mean(dim=(2, 3, 4)))


@pytest.mark.parametrize("test_frame", ["square", "full"])
def test_full_frame_test_crops_see_the_frame_edges(test_frame):
    from vimix_ssl.data.datasets import VideoDataset
    from vimix_ssl.data.splits import VideoEntry, VideoList

    shapes = {"wide": (20, 40), "wide2": (20, 40), "tall": (40, 20)}
    videos = VideoList([VideoEntry(v, 0) for v in shapes], ["a"])
    dataset = VideoDataset(videos, {"rgb": _EdgeFrames(shapes)}, train=False, clip_len=2, size=10,
                           eval_windows="centre")
    dataset.eval_frame = test_frame
    samples = [dataset[i] for i in range(3)]
    groups = collate_by_frame_shape(samples, "rgb")
    if test_frame == "square":
        assert [tuple(g["clips"].shape[-2:]) for g in groups] == [(10, 10)]
    else:  # short side 10, aspect ratio kept; the differently shaped video runs on its own, in order
        assert [tuple(g["clips"].shape[-2:]) for g in groups] == [(10, 20), (20, 10)]
        assert [g["video_id"] for g in groups] == [["wide", "wide2"], ["tall"]]
    model = _Recorder()
    config = FinetuneConfig(test_crops=5, test_frame=test_frame)
    probabilities = predict_videos(model, ((g["clips"].float() / 255, g["counts"]) for g in groups), 8,
                                   config, torch.device("cpu"))
    assert probabilities.shape == (3, 2)
    views = torch.cat(model.seen)  # (videos × 5, 3, T, 8, 8)
    assert views.shape == (15, 3, 2, 8, 8)
    left_edge = views[..., 0].amax(dim=(1, 2, 3))  # the first column of each crop
    if test_frame == "square":  # wide videos: the centre square cuts the bright left columns off
        assert float(views[:10].max()) == 0
    else:  # wide videos: the left corner crops (0 and 2) start at the frame's bright left edge
        assert left_edge[[0, 2, 5, 7]].min() > 0.9
        assert left_edge[[1, 3, 4, 6, 8, 9]].max() == 0  # right corners and centre do not
        # tall: 10 px wide after the resize, bright columns 0-1; left corners and centre (left 1) see them
        assert views[10:].amax(dim=(1, 2, 3, 4)).tolist() == [1, 0, 1, 0, 1]


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
