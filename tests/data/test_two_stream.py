"""Two-stream RGB + flow samples: same frame indices, shared crop/flip (dx negated), RGB-only photometric."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch.utils.data import default_collate

from vimix_ssl.data.config import VideoDataConfig
from vimix_ssl.data.datasets import VideoDataset
from vimix_ssl.data.flow import quantize_flow
from vimix_ssl.data.flow_extract import FlowExtractSpec, extract_flow_store
from vimix_ssl.data.flow_store import (
    FlowStoreSource,
    encode_flow_field,
    flow_file_meta,
    flow_file_path,
    write_flow_file,
)
from vimix_ssl.data.sources import FrameStoreSource, RawVideoSource
from vimix_ssl.data.splits import VideoEntry, VideoList, load_video_list
from vimix_ssl.data.store import encode_image, store_file_path, write_manifest, write_store_file
from vimix_ssl.data.synthetic_video import SynthVideoConfig, generate_synthetic_ucf
from vimix_ssl.data.transforms import BatchPhotometric
from vimix_ssl.data.two_stream import FlowDataConfig, ModalityPhotometric, build_two_stream_dataset

FRAMES, HEIGHT, WIDTH = 6, 24, 32


@pytest.fixture
def coded_stores(tmp_path: Path) -> tuple[FrameStoreSource, FlowStoreSource]:
    """An RGB store whose frame t is ``40 t + x`` (a left-to-right ramp) and a flow store whose
    field t is uniform ``(dx, dy) = (t + 1, -(t + 1))``: the content names the frame index."""
    rgb, flow = tmp_path / "rgb", tmp_path / "flow"
    write_manifest(rgb, {"modality": "rgb", "codec": "png"})
    write_manifest(flow, {"modality": "flow", "field_kind": "flow", "method": "tvl1", "bound": 20.0})
    ramp = np.arange(WIDTH, dtype=np.uint8)[None, :, None].repeat(HEIGHT, 0).repeat(3, 2)  # (H, W, 3)
    frames = [encode_image(ramp + np.uint8(40 * t), "png") for t in range(FRAMES)]
    write_store_file(store_file_path(rgb, "c/v.avi"), frames, {})
    fields = [encode_flow_field(quantize_flow(np.full((HEIGHT, WIDTH, 2), (t + 1, -(t + 1)), np.float32)))
              for t in range(FRAMES - 1)]
    write_flow_file(flow_file_path(flow, "c/v.avi"), fields,
                    flow_file_meta("c/v.avi", "tvl1", 20.0, HEIGHT, WIDTH, FRAMES, None))
    return FrameStoreSource(rgb), FlowStoreSource(flow)


def test_rgb_and_flow_share_frame_indices_crop_and_flip(coded_stores) -> None:
    rgb_source, flow_source = coded_stores
    videos = VideoList([VideoEntry("c/v.avi", 0)], ["c"])
    dataset = VideoDataset(videos, {"rgb": rgb_source, "flow": flow_source}, train=True, clip_len=3,
                           views=2, size=8, seed=0)
    flips = set()
    for epoch in range(12):
        dataset.set_epoch(epoch)
        sample = dataset[0]
        for rgb, flow in zip(sample["rgb"], sample["flow"]):  # (3, T, 8, 8) uint8, (2, T, 8, 8) float32
            assert rgb.dtype == torch.uint8 and flow.dtype == torch.float32 and flow.shape == (2, 3, 8, 8)
            for t in range(3):
                frame = rgb[0, t].float()
                rgb_index = int(frame.mean() // 40)
                flow_index = round(flow[1, t].mean().item() * -1) - 1  # dy = -(t + 1) is never flipped
                assert rgb_index == flow_index, "RGB frame and flow field come from different indices"
                assert rgb_index <= FRAMES - 2  # the last RGB frame has no outgoing field
                rgb_flipped = bool(frame[:, 0].mean() > frame[:, -1].mean())  # the ramp runs right to left
                assert np.isclose(abs(flow[0, t].mean().item()), flow_index + 1, atol=0.08)
                assert rgb_flipped == bool(flow[0, t].mean() < 0), "flip not shared (or dx not negated)"
                flips.add(rgb_flipped)
    assert flips == {True, False}


@pytest.fixture
def translating_right(tmp_path: Path) -> tuple[Path, Path]:
    """Three synthetic 'TranslateRight' clips (UCF101 layout) and their DIS flow store."""
    config = SynthVideoConfig(classes=1, per_class=3, clips_per_group=1, frames_min=10, frames_max=10,
                              width=48, height=36, seed=1)
    result = generate_synthetic_ucf(tmp_path / "videos", config)
    spec = FlowExtractSpec(source="raw", source_root=str(result.root), out_dir=str(tmp_path / "flow"),
                           method="dis")
    summary = extract_flow_store(result.train + result.test, spec, workers=1)
    assert not summary.failed, summary.format()
    return result.root, tmp_path / "flow"


def _dataset(root: Path, flow: Path, flip_probability: float) -> VideoDataset:
    videos = load_video_list("ucf101", root, subset="train")
    sources = {"rgb": RawVideoSource(root), "flow": FlowStoreSource(flow)}
    return VideoDataset(videos, sources, train=True, clip_len=4, views=1, size=32, seed=5,
                        crop_area=(1.0, 1.0), crop_aspect=(4 / 3, 4 / 3), flip_probability=flip_probability)


def test_flip_mirrors_rgb_and_negates_flow_dx_of_real_motion(translating_right) -> None:
    root, flow = translating_right
    plain, flipped = _dataset(root, flow, 0.0)[0], _dataset(root, flow, 1.0)[0]
    rgb, rgb_f = plain["rgb"][0], flipped["rgb"][0]
    flow_p, flow_f = plain["flow"][0], flipped["flow"][0]  # (2, T, 32, 32) pixels
    assert torch.equal(rgb_f, rgb.flip(-1))  # same frames, same crop, mirrored
    assert torch.equal(flow_f[0], -flow_p[0].flip(-1)) and torch.equal(flow_f[1], flow_p[1].flip(-1))
    moving = flow_p.norm(dim=0) > 0.3
    assert moving.float().mean() > 0.02, "the synthetic object should move"
    assert flow_p[0][moving].mean() > 0.3  # translating right: dx > 0 ...
    assert flow_f[0][moving.flip(-1)].mean() < -0.3  # ... and < 0 after the flip


def test_photometric_applies_to_rgb_only(translating_right) -> None:
    root, flow = translating_right
    batch = default_collate([_dataset(root, flow, 0.5)[i] for i in range(2)])
    photometric = BatchPhotometric(jitter_probability=1.0, grayscale_probability=0.0, blur_probability=0.0)
    config = FlowDataConfig(store=str(flow))
    out = ModalityPhotometric(photometric, config.photometric_modalities)(batch)
    assert torch.equal(out["flow"][0], batch["flow"][0])  # flow untouched
    plain = photometric.eval()(batch["rgb"][0])  # normalisation only
    photometric.train()
    assert out["rgb"][0].shape == batch["rgb"][0].shape and not torch.allclose(out["rgb"][0], plain)
    with pytest.raises(KeyError, match="depth"):
        ModalityPhotometric(photometric, ("depth",))(batch)


def test_build_two_stream_dataset_from_configs(translating_right) -> None:
    root, flow = translating_right
    data = VideoDataConfig(dataset="ucf101", root=str(root), clip_len=4, size=16)
    dataset = build_two_stream_dataset(data, FlowDataConfig(store=str(flow), units="normalized", channels=3,
                                                            third_channel_value=0.25), "train", train=False)
    sample = dataset[0]
    assert set(sample) >= {"rgb", "flow", "label", "index", "video_id"}
    rgb, flow_clips = sample["rgb"], sample["flow"]  # dense windows (N, C, T, 16, 16)
    assert rgb.shape[0] == flow_clips.shape[0] and rgb.shape[1:] == (3, 4, 16, 16)
    assert flow_clips.shape[1:] == (3, 4, 16, 16)
    assert (flow_clips[:, 2] == 0.25).all() and flow_clips[:, :2].abs().max() <= 1.0
    with pytest.raises(ValueError, match="flow.store"):
        build_two_stream_dataset(data, FlowDataConfig(), "train", train=False)
