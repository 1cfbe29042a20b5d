"""Multi-view test protocol against loop-based references (pySlowFast's rules written out here)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from vimix_ssl.eval.multiview import PRESETS, average_softmax, clip_starts, crop_boxes, parse_protocol


def reference_starts(num_frames: int, span: int, clips: int) -> list[int]:
    """pySlowFast ``get_start_end_idx`` (no offset): start = delta * i / N; one clip = the centre."""
    delta = max(num_frames - span, 0)
    if clips == 1:
        return [delta // 2]
    starts = []
    for i in range(clips):
        starts.append(int(delta * i / clips))
    return starts


def reference_crops(height: int, width: int, crops: int) -> list[tuple[int, int, int]]:
    """pySlowFast ``uniform_crop`` after a short-side resize: (top, left, side) in source pixels."""
    side = min(height, width)
    boxes = []
    indices = [1] if crops == 1 else [0, 1, 2]
    for index in indices:
        y = int(np.ceil((height - side) / 2))
        x = int(np.ceil((width - side) / 2))
        if height > width:
            y = 0 if index == 0 else height - side if index == 2 else y
        else:
            x = 0 if index == 0 else width - side if index == 2 else x
        boxes.append((y, x, side))
    return boxes


@pytest.mark.parametrize("num_frames,span,clips", [(300, 63, 10), (64, 64, 10), (20, 63, 10), (101, 32, 1),
                                                     (250, 61, 7)])
def test_clip_starts_follow_pyslowfast(num_frames, span, clips):
    assert clip_starts(num_frames, span, clips) == reference_starts(num_frames, span, clips)


@pytest.mark.parametrize("height,width,crops", [(240, 320, 3), (320, 240, 3), (256, 341, 1), (128, 128, 3)])
def test_crop_boxes_follow_pyslowfast(height, width, crops):
    boxes = crop_boxes(height, width, crops)
    pixels = [(round(b.top * height), round(b.left * width), round(b.height * height)) for b in boxes]
    assert pixels == reference_crops(height, width, crops)
    assert all(round(b.width * width) == round(b.height * height) and not b.flip for b in boxes)


def test_average_softmax_is_the_mean_of_the_views_softmax():
    torch.manual_seed(0)
    logits = torch.randn(3, 30, 5)  # (B, V, K)
    expected = torch.zeros(3, 5)
    for b in range(3):
        for v in range(30):
            row = logits[b, v].exp()
            expected[b] += row / row.sum() / 30
    torch.testing.assert_close(average_softmax(logits), expected)


def test_presets_and_specs():
    assert {k: (p.clips, p.crops, p.size) for k in PRESETS for p in [parse_protocol(k)]} == {
        "centre": (1, 1, 0), "seed000": (2, 3, 256), "seed002": (10, 1, 0), "seed003": (10, 3, 256)}
    record = parse_protocol("seed003").record(224)
    assert (record["views"], record["size"], record["name"]) == (30, 256, "seed003")
    assert parse_protocol("4x1").record(160)["size"] == 160
    for bad in ("ten", "10x2", "0x1", "10x3@0"):
        with pytest.raises(ValueError, match="test_views"):
            parse_protocol(bad)
