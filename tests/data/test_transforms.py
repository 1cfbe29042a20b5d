"""Clip-consistent geometry on the CPU and the batched photometric augmentation."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch
from torchvision.transforms.v2 import functional as TF

from vimix_ssl.data.transforms import (
    BatchPhotometric,
    ClipGeometry,
    adjust_brightness,
    adjust_contrast,
    adjust_hue,
    adjust_saturation,
    apply_geometry,
    centre_geometry,
    cpu_photometric_reference,
    gaussian_blur,
    sample_random_geometry,
)


def _textured(height: int, width: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


def test_geometry_is_constant_within_a_clip():
    frames = np.repeat(_textured(60, 80)[None], 8, axis=0)  # (8, 60, 80, 3), identical frames
    rng = np.random.default_rng(0)
    for _ in range(5):
        geometry = sample_random_geometry(60, 80, rng)
        out = apply_geometry(frames, geometry, 32)
        assert out.shape == (8, 32, 32, 3)
        assert all(np.array_equal(out[0], frame) for frame in out[1:])


def test_random_crop_respects_area_and_aspect_ranges():
    rng = np.random.default_rng(1)
    boxes = [sample_random_geometry(240, 320, rng) for _ in range(300)]
    areas = np.array([b.height * b.width for b in boxes])
    aspects = np.array([(b.width * 320) / (b.height * 240) for b in boxes])
    assert areas.min() >= 0.2 - 0.01 and areas.max() <= 1.0
    assert aspects.min() >= 3 / 4 - 0.02 and aspects.max() <= 4 / 3 + 0.02
    flips = np.mean([b.flip for b in boxes])
    assert 0.4 < flips < 0.6
    assert all(b.top + b.height <= 1 + 1e-9 and b.left + b.width <= 1 + 1e-9 for b in boxes)


def test_flip_mirrors_and_flow_flip_negates_dx():
    frames = np.random.default_rng(0).normal(size=(3, 16, 16, 2)).astype(np.float32)
    whole = ClipGeometry(0.0, 0.0, 1.0, 1.0, False)
    flipped = ClipGeometry(0.0, 0.0, 1.0, 1.0, True)
    plain = apply_geometry(frames, whole, 16, kind="flow")
    np.testing.assert_allclose(plain, frames, atol=1e-6)
    mirrored = apply_geometry(frames, flipped, 16, kind="flow")
    np.testing.assert_allclose(mirrored[..., 0], -frames[:, :, ::-1, 0], atol=1e-6)  # dx negated
    np.testing.assert_allclose(mirrored[..., 1], frames[:, :, ::-1, 1], atol=1e-6)  # dy kept
    image = apply_geometry(frames, flipped, 16, kind="image")
    np.testing.assert_allclose(image, frames[:, :, ::-1], atol=1e-6)


def test_same_relative_crop_on_modalities_of_different_sizes():
    # A smooth image and the same image at half resolution: the same box gives the same picture.
    y, x = np.mgrid[0:96, 0:128].astype(np.float32)
    big = np.stack([np.sin(x / 25) + np.cos(y / 20)] * 2, axis=-1)[None]  # (1, 96, 128, 2)
    small = cv2.resize(big[0], (64, 48), interpolation=cv2.INTER_AREA)[None]
    geometry = sample_random_geometry(96, 128, np.random.default_rng(3))
    a, b = apply_geometry(big, geometry, 24), apply_geometry(small, geometry, 24)
    assert np.abs(a - b).mean() < 0.05 * np.abs(a).mean()
    unrelated = apply_geometry(small, ClipGeometry(0.0, 0.0, 0.3, 0.3, not geometry.flip), 24)
    assert np.abs(a - unrelated).mean() > 4 * np.abs(a - b).mean()


def test_centre_geometry_is_short_side_resize_and_centre_crop():
    frame = _textured(60, 100)
    out = apply_geometry(frame[None], centre_geometry(60, 100), 60)[0]
    np.testing.assert_array_equal(out, frame[:, 20:80])


def test_whole_frame_resize_keeps_the_aspect_ratio_and_flow_flip_negates_dx():
    frame = _textured(60, 100).astype(np.float32)
    whole = ClipGeometry(0.0, 0.0, 1.0, 1.0, False)
    out = apply_geometry(frame[None], whole, 30, shape=(30, 50), channels_first=True)
    assert out.shape == (3, 1, 30, 50)
    expected = cv2.resize(frame, (50, 30), interpolation=cv2.INTER_AREA)
    np.testing.assert_allclose(out[:, 0].transpose(1, 2, 0), expected)
    flipped = apply_geometry(frame[None], ClipGeometry(0.0, 0.0, 1.0, 1.0, True), 30, kind="flow",
                             shape=(30, 50))[0]
    np.testing.assert_allclose(flipped[..., 0], -expected[:, ::-1, 0])
    np.testing.assert_allclose(flipped[..., 1:], expected[:, ::-1, 1:])


# ------------------------------------------------------------------------------ photometric

def _clips(batch: int = 4, frames: int = 3, side: int = 16) -> torch.Tensor:
    """uint8 (B, 3, T, H, W) whose frames within a clip are identical."""
    image = torch.from_numpy(_textured(side, side)).permute(2, 0, 1)  # (3, H, W)
    return image[None, :, None].expand(batch, 3, frames, side, side).contiguous()


ONLY = {
    "brightness": dict(contrast=0, saturation=0, hue=0),
    "contrast": dict(brightness=0, saturation=0, hue=0),
    "saturation": dict(brightness=0, contrast=0, hue=0),
    "hue": dict(brightness=0, contrast=0, saturation=0),
}


@pytest.mark.parametrize("op", ["brightness", "contrast", "saturation", "hue", "grayscale", "blur"])
def test_every_photometric_op_changes_a_video(op):
    off = dict(jitter_probability=0.0, grayscale_probability=0.0, blur_probability=0.0)
    if op in ONLY:
        kwargs = {**off, **ONLY[op], "jitter_probability": 1.0}
    else:
        kwargs = {**off, f"{op}_probability": 1.0}
    module = BatchPhotometric(**kwargs, mean=(0, 0, 0), std=(1, 1, 1))
    x = _clips()
    y = module(x, generator=torch.Generator().manual_seed(0))
    original = x.float() / 255
    changed = (y - original).abs().flatten(1).amax(dim=1)
    assert (changed > 1e-3).all(), f"{op} left some clip unchanged: {changed}"
    if op == "grayscale":
        assert torch.allclose(y[:, 0], y[:, 1]) and torch.allclose(y[:, 1], y[:, 2])


def test_parameters_constant_within_clip_and_independent_between_clips():
    module = BatchPhotometric()
    y = module(_clips(batch=6), generator=torch.Generator().manual_seed(1))
    assert torch.allclose(y[:, :, :1].expand_as(y), y, atol=1e-5)  # every frame equals frame 0
    per_clip = y[:, :, 0].flatten(1)
    assert len({tuple(v.round(decimals=4)[:20].tolist()) for v in per_clip}) > 1


def test_batched_ops_match_torchvision_per_clip():
    x = torch.rand(3, 3, 2, 12, 12)
    factor = torch.tensor([0.7, 1.0, 1.3])
    hue = torch.tensor([-0.1, 0.0, 0.07])
    sigma = torch.tensor([0.5, 1.0, 2.0])
    for i in range(3):
        frames = x[i].permute(1, 0, 2, 3)  # (T, 3, H, W): torchvision treats T as a batch
        expected = {
            "brightness": TF.adjust_brightness(frames, float(factor[i])),
            "contrast": TF.adjust_contrast(frames, float(factor[i])),
            "saturation": TF.adjust_saturation(frames, float(factor[i])),
            "hue": TF.adjust_hue(frames, float(hue[i])),
            "blur": TF.gaussian_blur(frames, [13, 13], [float(sigma[i])] * 2),
        }
        got = {
            "brightness": adjust_brightness(x, factor)[i], "contrast": adjust_contrast(x, factor)[i],
            "saturation": adjust_saturation(x, factor)[i], "hue": adjust_hue(x, hue)[i],
            "blur": gaussian_blur(x, sigma, 13)[i],
        }
        for name in expected:
            torch.testing.assert_close(got[name].permute(1, 0, 2, 3), expected[name], atol=1e-5, rtol=0,
                                       msg=f"{name} differs from torchvision for clip {i}")


def test_eval_mode_only_normalises_and_uint8_equals_float_input():
    module = BatchPhotometric(mean=(0.5, 0.4, 0.3), std=(0.2, 0.25, 0.5)).eval()
    x = _clips()
    expected = (x.float() / 255 - torch.tensor([0.5, 0.4, 0.3]).view(1, 3, 1, 1, 1)) / \
        torch.tensor([0.2, 0.25, 0.5]).view(1, 3, 1, 1, 1)
    torch.testing.assert_close(module(x), expected)
    module.train()
    a = module(x, generator=torch.Generator().manual_seed(5))
    b = module(x.float() / 255, generator=torch.Generator().manual_seed(5))
    torch.testing.assert_close(a, b)
    with pytest.raises(ValueError, match=r"expects \(B, 3, T, H, W\)"):
        module(torch.zeros(2, 2, 3, 8, 8))


def test_cpu_reference_is_clip_consistent_and_really_grayscales():
    gray_only = BatchPhotometric(jitter_probability=0.0, grayscale_probability=1.0, blur_probability=0.0)
    clip = _clips(batch=1)[0]  # (3, T, H, W)
    out = cpu_photometric_reference(gray_only)(clip)
    assert out.shape == clip.shape
    raw = out * gray_only.std.view(3, 1, 1, 1) + gray_only.mean.view(3, 1, 1, 1)  # undo normalisation
    assert torch.allclose(raw[0], raw[1], atol=1e-5) and torch.allclose(raw[1], raw[2], atol=1e-5)
    full = cpu_photometric_reference(BatchPhotometric(jitter_probability=1.0, blur_probability=1.0))
    torch.manual_seed(0)
    y = full(clip)
    assert torch.allclose(y[:, :1].expand_as(y), y, atol=1e-5)  # parameters constant over frames


# ------------------------------------------------------------------------ fused vs unfused path

def _hue_edge_cases() -> torch.Tensor:
    """Float (6, 3, 2, 8, 8) clips with grey pixels, ties between max channels, pure colours, 0 and 1."""
    x = torch.rand(6, 3, 2, 8, 8, generator=torch.Generator().manual_seed(7))
    x[0, :, :, :4] = x[0, :1, :, :4]  # grey: r = g = b (delta 0)
    x[1, 1] = x[1, 0]  # r = g
    x[2, 2] = x[2, 1]  # g = b
    x[3] = (x[3] > 0.5).float()  # pure colours, black and white
    x[4, :, :, :, :2] = 0.0
    return x


@pytest.mark.parametrize("block_bytes", [1, 1 << 30])  # one clip per block / the whole batch at once
def test_fused_path_equals_the_unfused_one_on_the_same_parameters(monkeypatch, block_bytes):
    import vimix_ssl.data.transforms as transforms

    monkeypatch.setattr(transforms, "BLOCK_BYTES", block_bytes)
    module = BatchPhotometric(jitter_probability=0.7, grayscale_probability=0.3, blur_probability=0.5)
    x = torch.cat([_hue_edge_cases(), torch.rand(10, 3, 2, 8, 8)])
    before = x.clone()
    for seed in range(4):
        params = module.sample_params(x.shape[0], generator=torch.Generator().manual_seed(seed))
        fused, unfused = module.augment(x, params), module.augment_unfused(x, params)
        assert (fused - unfused).abs().max() < 1e-5  # float rounding, far below one uint8 level
    u8 = (x * 255).round().to(torch.uint8)
    a = module(u8, generator=torch.Generator().manual_seed(9))
    b = module.forward_unfused(u8, generator=torch.Generator().manual_seed(9))
    assert (a - b).abs().max() < 1e-4  # normalised units
    assert torch.equal(x, before)  # the input is left as it was
    torch.testing.assert_close(module.eval()(u8), module.forward_unfused(u8))


def test_fused_hue_matches_torchvision_at_ties_and_grey_pixels():
    from vimix_ssl.data.transforms import _hue_

    x = _hue_edge_cases()
    shift = torch.tensor([-0.5, -0.1, 0.0, 0.05, 0.3, 0.5])
    y = x.clone()
    _hue_(y, shift)
    for i in range(x.shape[0]):
        expected = TF.adjust_hue(x[i].permute(1, 0, 2, 3), float(shift[i])).permute(1, 0, 2, 3)
        torch.testing.assert_close(y[i], expected, atol=1e-5, rtol=0)


def test_scale_jitter_geometry_is_resize_then_random_crop() -> None:
    """Seed 002 baseline: short side -> S ~ U[160, 200] (rounded), then a random 160² crop of that frame."""
    from vimix_ssl.data.transforms import sample_scale_jitter_geometry

    height, width, size = 240, 320, 160
    for seed in range(50):
        geometry = sample_scale_jitter_geometry(height, width, np.random.default_rng(seed), (160, 200), size)
        reference = np.random.default_rng(seed)  # the same draws, done in the resized frame
        short = int(round(reference.uniform(160, 200)))
        resized_h, resized_w = short, short * width / height
        y, x = reference.uniform(0, resized_h - size), reference.uniform(0, resized_w - size)
        flip = bool(reference.random() < 0.5)
        expected = (y / resized_h, x / resized_w, size / resized_h, size / resized_w, flip)
        got = (geometry.top, geometry.left, geometry.height, geometry.width, geometry.flip)
        assert got[:4] == pytest.approx(expected[:4], abs=1e-12) and got[4] == expected[4]
