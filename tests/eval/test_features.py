"""Evaluation features: per-video averaging, flips, encoder loading errors, determinism, cache."""

from __future__ import annotations

import pytest
import torch

from vimix_ssl.eval.features import (
    FeatureConfig,
    average_per_video,
    cached_features,
    collate_eval,
    extract_features,
    load_eval_encoder,
    with_flips,
)
from vimix_ssl.models.export import export_encoder
from vimix_ssl.models.registry import build_encoder
from vimix_ssl.utils.checkpoint import CheckpointError, save_checkpoint, training_payload

TINY = {"width": 0.125, "conv_init_std": None}  # torch default init: non-vanishing features


def _encoder(seed=0):
    torch.manual_seed(seed)
    return build_encoder("s3d_small", **TINY)


class _Videos(torch.utils.data.Dataset):
    """Evaluation-mode samples: dense windows (N_i, 3, 8, 32, 32) uint8, N_i varies per video."""

    def __init__(self, counts=(2, 1, 3)):
        g = torch.Generator().manual_seed(0)
        self.clips = [torch.randint(0, 256, (n, 3, 8, 32, 32), generator=g, dtype=torch.uint8)
                      for n in counts]

    def __len__(self):
        return len(self.clips)

    def __getitem__(self, i):
        return {"rgb": self.clips[i], "label": i % 2, "index": i, "video_id": f"v{i}.avi"}


def _prepare(x):
    return x.float() / 255


def test_average_per_video_is_mean_of_normalised_rows():
    rows = torch.tensor([[3.0, 4.0], [0.0, 2.0], [1.0, 0.0]])
    out = average_per_video(rows, [2, 1])
    torch.testing.assert_close(out, torch.tensor([[0.3, 0.9], [1.0, 0.0]]))
    torch.testing.assert_close(average_per_video(rows, [1, 2], normalise=False),
                               torch.tensor([[3.0, 4.0], [0.5, 1.0]]))
    with pytest.raises(ValueError, match="do not partition"):
        average_per_video(rows, [2, 2])


def test_flips_mirror_width_and_negate_flow_dx():
    clips = torch.randn(2, 2, 3, 4, 5)  # (N, C=dx/dy, T, H, W)
    rgb = with_flips(clips)
    assert rgb.shape == (4, 2, 3, 4, 5)
    torch.testing.assert_close(rgb[1], clips[0].flip(-1))
    flow = with_flips(clips, flow=True)
    torch.testing.assert_close(flow[1, 0], -clips[0, 0].flip(-1))  # dx negated
    torch.testing.assert_close(flow[1, 1], clips[0, 1].flip(-1))  # dy kept
    torch.testing.assert_close(flow[2], clips[1])


def test_collate_concatenates_dense_windows_and_centre_clips():
    dense = collate_eval(list(_Videos((2, 3))), "rgb")
    assert dense["clips"].shape == (5, 3, 8, 32, 32)
    assert dense["counts"].tolist() == [2, 3]
    single = collate_eval([{"joint": torch.zeros(3, 50, 25, 2), "label": 1, "index": 0, "video_id": "a"}],
                          "joint")
    assert single["clips"].shape == (1, 3, 50, 25, 2)
    with pytest.raises(ValueError, match="training views"):
        collate_eval([{"rgb": [torch.zeros(3, 4, 16, 16)], "label": 0, "index": 0, "video_id": "x"}], "rgb")


def test_extraction_shapes_and_bit_identical_repeats():
    encoder, data = _encoder(), _Videos()
    config = FeatureConfig(videos_per_batch=2, clips_per_forward=2, device="cpu", flip=True)
    a = extract_features(encoder, data, "rgb", config, _prepare)
    b = extract_features(encoder, data, "rgb", config, _prepare)
    assert a.features.shape == (3, encoder.feature_dim)
    assert a.clip_counts.tolist() == [4, 2, 6]  # windows × 2 flips
    assert torch.equal(a.features, b.features) and torch.equal(a.clip_features, b.clip_features)
    assert a.video_ids == ["v0.avi", "v1.avi", "v2.avi"] and a.labels.tolist() == [0, 1, 0]
    # the per-video feature is the mean of that video's L2-normalised clip features
    torch.testing.assert_close(a.features[1], a.clip_features[4:6].mean(0))
    torch.testing.assert_close(a.clip_features.norm(dim=1), torch.ones(12))
    # batching does not change the numbers beyond float error
    c = extract_features(encoder, data, "rgb", FeatureConfig(videos_per_batch=3, device="cpu", flip=True),
                         _prepare)
    torch.testing.assert_close(a.features, c.features, atol=1e-5, rtol=1e-5)


def test_loading_errors_are_clear(tmp_path):
    missing = tmp_path / "nope.pt"
    with pytest.raises(FileNotFoundError, match="nope.pt"):
        load_eval_encoder(missing)
    encoder = _encoder()
    path = export_encoder(tmp_path / "rgb.pt", "s3d_small", TINY, encoder.state_dict(), "rgb")
    with pytest.raises(CheckpointError, match="'rgb' encoder, expected modality 'flow'"):
        load_eval_encoder(path, "flow")
    entry = {"name": "s3d_small", "kwargs": TINY, "state_dict": encoder.state_dict()}
    checkpoint = save_checkpoint(tmp_path / "train.pt", training_payload(
        config={}, epoch=1, step=1, stage=0, model={}, optimizer=None, scheduler=None, scaler=None,
        rng={}, encoders={"rgb": entry}))
    with pytest.raises(CheckpointError, match=r"no 'joint' encoder; it holds \['rgb'\]"):
        load_eval_encoder(checkpoint, "joint")
    loaded = load_eval_encoder(checkpoint, "rgb")
    assert loaded.kind == "checkpoint" and not loaded.encoder.training
    for key, value in encoder.state_dict().items():
        assert torch.equal(loaded.encoder.state_dict()[key], value)
    exported = load_eval_encoder(path)
    assert exported.kind == "exported" and exported.modality == "rgb" and len(exported.sha256) == 64


def test_cache_is_keyed_by_encoder_hash_and_protocol(tmp_path):
    data = _Videos()
    first = load_eval_encoder(export_encoder(tmp_path / "a.pt", "s3d_small", TINY, _encoder(0).state_dict(),
                                             "rgb"))
    config = FeatureConfig(device="cpu", cache_dir=str(tmp_path / "cache"))
    features, record = cached_features(first, data, "rgb", config, {"split": "test"}, _prepare)
    assert not record["hit"]
    again, record2 = cached_features(first, data, "rgb", config, {"split": "test"}, _prepare)
    assert record2["hit"] and record2["cache"] == record["cache"]
    assert torch.equal(again.features, features.features) and again.video_ids == features.video_ids
    _, other_protocol = cached_features(first, data, "rgb", config, {"split": "train"}, _prepare)
    assert other_protocol["cache"] != record["cache"]
    second = load_eval_encoder(export_encoder(tmp_path / "b.pt", "s3d_small", TINY, _encoder(1).state_dict(),
                                              "rgb"))
    other, other_encoder = cached_features(second, data, "rgb", config, {"split": "test"}, _prepare)
    assert other_encoder["cache"] != record["cache"] and not other_encoder["hit"]
    assert not torch.equal(other.features, features.features)
