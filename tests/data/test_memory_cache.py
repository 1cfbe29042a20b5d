"""The memory cache and its batched sampler, against VideoDataset's per-sample rules."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from vimix_ssl.data.datasets import VideoDataset
from vimix_ssl.data.memory_cache import (
    MemoryBatchLoader,
    MemoryClips,
    crop_resize_flip,
    random_boxes,
    use_memory_cache,
)
from vimix_ssl.data.splits import VideoEntry, VideoList
from vimix_ssl.data.transforms import ClipGeometry, apply_geometry, sample_random_geometry

HEIGHT, WIDTH = 24, 32


class EncodedSource:
    """Frames whose blue channel is 10 + 7 t, red a horizontal ramp, green a vertical ramp."""

    def __init__(self, lengths: dict[str, int]):
        self.lengths = lengths

    def __repr__(self) -> str:
        return f"EncodedSource({sorted(self.lengths.items())})"

    def num_frames(self, video_id: str) -> int:
        return self.lengths[video_id]

    def read(self, video_id, indices):
        y, x = np.mgrid[0:HEIGHT, 0:WIDTH]
        frame = np.stack([x * 255 // (WIDTH - 1), y * 255 // (HEIGHT - 1), 0 * x], axis=-1)
        frames = np.repeat(frame[None], len(indices), axis=0).astype(np.uint8)
        frames[..., 2] = (10 + 7 * np.asarray(indices))[:, None, None]
        return frames  # (T, H, W, 3)


class FlowLike:
    """One frame fewer than RGB; dx = +1 everywhere, dy = 0."""

    field_kind = "flow"

    def __init__(self, rgb: EncodedSource):
        self.rgb = rgb

    def __repr__(self) -> str:
        return f"FlowLike({self.rgb!r})"

    def num_frames(self, video_id: str) -> int:
        return self.rgb.num_frames(video_id) - 1

    def read(self, video_id, indices):
        return np.stack([np.ones((len(indices), HEIGHT, WIDTH), np.float32),
                         np.zeros((len(indices), HEIGHT, WIDTH), np.float32)], axis=-1)


LENGTHS = {f"c{i % 2}/v{i}": 12 + i for i in range(8)} | {"c0/short": 3}


def _dataset(flow: bool = False) -> VideoDataset:
    rgb = EncodedSource(LENGTHS)
    entries = [VideoEntry(v, int(v[1])) for v in LENGTHS]
    sources = {"rgb": rgb, **({"flow": FlowLike(rgb)} if flow else {})}
    return VideoDataset(VideoList(entries, ["c0", "c1"]), sources, clip_len=4, size=16, seed=0)


def _loader(dataset: VideoDataset, **kwargs) -> MemoryBatchLoader:
    options = dict(clip_len=4, stride=2, views=2, size=16, pad_mode="loop", crop_area=(0.2, 1.0),
                   crop_aspect=(3 / 4, 4 / 3), flip_probability=0.5, seed=3)
    return MemoryBatchLoader(MemoryClips(dataset), 3, **{**options, **kwargs})


def test_boxes_follow_the_per_sample_random_resized_crop_distribution():
    draws = 3000
    generator = torch.Generator().manual_seed(0)
    boxes, flips = random_boxes(draws, 240, 320, generator, (0.2, 1.0), (3 / 4, 4 / 3), 0.5)
    rng = np.random.default_rng(0)
    reference = [sample_random_geometry(240, 320, rng) for _ in range(draws)]  # the per-sample rule
    ref_area = np.array([g.height * g.width for g in reference])
    ref_aspect = np.array([g.width * 320 / (g.height * 240) for g in reference])
    area = (boxes[:, 2] * boxes[:, 3]).numpy()
    aspect = (boxes[:, 3] * 320 / (boxes[:, 2] * 240)).numpy()
    assert area.mean() == pytest.approx(ref_area.mean(), abs=0.015)
    assert np.quantile(area, 0.1) == pytest.approx(np.quantile(ref_area, 0.1), abs=0.02)
    assert np.log(aspect).std() == pytest.approx(np.log(ref_aspect).std(), abs=0.02)
    assert area.min() >= 0.2 - 0.01 and (boxes[:, 0] + boxes[:, 2]).max() <= 1 + 1e-6
    assert (boxes[:, 1] + boxes[:, 3]).max() <= 1 + 1e-6 and 0.45 < flips.float().mean() < 0.55
    # a frame no crop of the allowed aspect fits: the centre fallback of the per-sample rule
    thin, _ = random_boxes(5, 10, 400, torch.Generator().manual_seed(1), (0.9, 1.0), (3 / 4, 4 / 3), 0.0)
    g = sample_random_geometry(10, 400, np.random.default_rng(1), (0.9, 1.0))
    torch.testing.assert_close(thin[0], torch.tensor([g.top, g.left, g.height, g.width]).float())


def test_batched_crop_resize_flip_agrees_with_the_per_sample_geometry():
    y, x = np.mgrid[0:HEIGHT, 0:WIDTH].astype(np.float32)
    smooth = np.stack([np.sin(x / 6), np.cos(y / 5), x / WIDTH], axis=-1)[None].repeat(2, 0)  # (T, H, W, 3)
    clips = torch.from_numpy(smooth).permute(3, 0, 1, 2)[None].repeat(2, 1, 1, 1, 1)  # (2, 3, T, H, W)
    boxes = torch.tensor([[0.25, 0.125, 0.5, 0.5], [0.0, 0.0, 1.0, 1.0]])
    out = crop_resize_flip(clips, boxes, torch.tensor([False, True]), 20)
    for i, (top, left, h, w) in enumerate(boxes.tolist()):
        expected = apply_geometry(smooth, ClipGeometry(top, left, h, w, bool(i)), 20)  # (T, S, S, 3)
        got = out[i].permute(1, 2, 3, 0).numpy()
        assert np.abs(got - expected).mean() < 0.02  # bilinear sampling vs OpenCV's, same box
    flow = crop_resize_flip(torch.ones(1, 2, 1, 8, 8), torch.tensor([[0.0, 0.0, 1.0, 1.0]]),
                            torch.tensor([True]), 8, kind="flow")
    assert torch.all(flow[:, 0] == -1) and torch.all(flow[:, 1] == 1)  # dx negated, dy kept


def test_batches_windows_labels_and_resume():
    dataset = _dataset(flow=True)
    loader = _loader(dataset)
    assert loader.steps_per_epoch == len(LENGTHS) // 3
    loader.set_epoch(2)
    batches = list(loader)
    first = batches[0]
    assert len(first["rgb"]) == 2 and first["rgb"][0].shape == (3, 3, 4, 16, 16)
    assert first["flow"][0].shape == (3, 2, 4, 16, 16)
    assert first["label"].tolist() == [int(v[1]) for v in (list(LENGTHS)[i] for i in first["index"].tolist())]
    for batch in batches:
        for view in batch["rgb"]:
            blue = view[:, 2].mean(dim=(-2, -1)) * 255  # (B, T)
            frames = ((blue - 10) / 7).round().long()
            for i, row in zip(batch["index"].tolist(), frames.tolist()):
                usable = LENGTHS[list(LENGTHS)[i]] - 1  # flow is one shorter: windows stay in it
                expected = [(row[0] + 2 * t) % usable for t in range(4)]  # stride 2, loop padding
                assert row == expected and 0 <= row[0] < usable
        mirrored = batch["flow"][0][:, 0].mean(dim=(1, 2, 3))  # -1 where the view was flipped
        red = batch["rgb"][0][:, 0]
        rising = (red[..., -1] > red[..., 0]).float().mean(dim=(1, 2))
        assert torch.equal(mirrored < 0, rising < 0.5)  # RGB and flow of a view share the flip
    loader.set_epoch(2, start_batch=1)  # resumed mid-epoch: the same later batches
    resumed = list(loader)
    assert len(resumed) == len(batches) - 1
    torch.testing.assert_close(resumed[0]["rgb"][1], batches[1]["rgb"][1])
    loader.set_epoch(3)
    assert not torch.equal(next(iter(loader))["rgb"][0], batches[0]["rgb"][0])


def test_auto_mode_follows_the_budget_and_bad_modes_are_errors():
    dataset = _dataset()
    size = sum(LENGTHS.values()) * HEIGHT * WIDTH * 3
    assert use_memory_cache("auto", dataset, budget_mib=1)  # ~20 KiB of frames
    assert not use_memory_cache("auto", dataset, budget_mib=0)
    assert use_memory_cache("memory", dataset, 0) and not use_memory_cache("none", dataset, 1)
    with pytest.raises(ValueError, match="data.cache"):
        use_memory_cache("disk", dataset, 1)
    with pytest.raises(MemoryError, match="budget"):
        MemoryClips(_dataset(flow=True), budget_bytes=size // 2)
    assert math.isclose(MemoryClips(dataset).nbytes, size)


class Unreadable(EncodedSource):
    """One video fails to decode."""

    def read(self, video_id, indices):
        from vimix_ssl.data.video import VideoReadError

        if video_id == "c1/v3":
            raise VideoReadError(video_id, "corrupt stream")
        return super().read(video_id, indices)


def test_memory_loader_falls_back_in_auto_mode_and_fails_clearly_in_memory_mode():
    from vimix_ssl.config import ConfigError
    from vimix_ssl.data.config import VideoDataConfig
    from vimix_ssl.data.memory_cache import memory_loader

    entries = [VideoEntry(v, int(v[1])) for v in LENGTHS]
    sources = {"rgb": Unreadable(LENGTHS)}
    dataset = VideoDataset(VideoList(entries, ["c0", "c1"]), sources, clip_len=4, size=16)
    data = VideoDataConfig(batch_size=3, clip_len=4, size=16, cache="auto")
    with pytest.warns(RuntimeWarning, match="not cached .*corrupt stream"):
        assert memory_loader(dataset, data, 0, "cpu") is None  # the per-sample loader takes over
    with pytest.raises(ConfigError, match="data.cache: .*c1/v3"):
        memory_loader(dataset, VideoDataConfig(cache="memory"), 0, "cpu")
    with pytest.raises(ConfigError, match="data.cache_budget_mib"):
        memory_loader(_dataset(), VideoDataConfig(cache="memory", cache_budget_mib=0), 0, "cpu")
    assert isinstance(memory_loader(_dataset(), data, 0, "cpu"), MemoryBatchLoader)
    assert memory_loader(_dataset(), VideoDataConfig(cache="none"), 0, "cpu") is None


class Resized(EncodedSource):
    """Videos stored at two sizes."""

    def __repr__(self) -> str:
        return "Resized()"

    def read(self, video_id, indices):
        frames = super().read(video_id, indices)
        return frames[:, ::2] if video_id.endswith("v2") else frames


def test_frames_of_different_sizes_are_not_cached_in_auto_mode():
    from vimix_ssl.config import ConfigError
    from vimix_ssl.data.config import VideoDataConfig
    from vimix_ssl.data.memory_cache import memory_loader

    entries = [VideoEntry(v, int(v[1])) for v in LENGTHS]
    dataset = VideoDataset(VideoList(entries, ["c0", "c1"]), {"rgb": Resized(LENGTHS)}, clip_len=4, size=16)
    with pytest.warns(RuntimeWarning, match="differ in size"):
        assert memory_loader(dataset, VideoDataConfig(batch_size=3, cache="auto"), 0, "cpu") is None
    with pytest.raises(ConfigError, match="differ in size"):
        memory_loader(dataset, VideoDataConfig(batch_size=3, cache="memory"), 0, "cpu")
