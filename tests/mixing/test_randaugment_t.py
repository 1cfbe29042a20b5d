"""RandAugment-T: per-frame magnitudes interpolate between the end magnitudes; every op works."""

from __future__ import annotations

import pytest
import torch
from torchvision.transforms.v2 import functional as TF

from vimix_ssl.mixing.randaugment_t import OPS, RandAugmentT, RandAugmentTParams, apply_op


def _smooth_clip(frames: int = 6, size: int = 16) -> torch.Tensor:
    """Identical, structured RGB frames (C, T, H, W) in [0, 1]."""
    yy, xx = torch.meshgrid(torch.linspace(0, 1, size), torch.linspace(0, 1, size), indexing="ij")
    frame = torch.stack([xx, yy, (xx * yy).sqrt()]) * 0.8 + 0.1  # (3, H, W)
    return frame[:, None].expand(3, frames, size, size).contiguous()


@pytest.mark.parametrize("variant", ["spatial", "temporal", "temporal+", "mix"])
def test_per_frame_magnitudes_interpolate_between_end_magnitudes(variant: str) -> None:
    augment = RandAugmentT(magnitude=10.0, variant=variant, max_magnitude=30.0)
    for seed in range(20):
        m1, m2 = augment.end_magnitudes(torch.Generator().manual_seed(seed))
        params = augment.sample(9, torch.Generator().manual_seed(seed + 1000))
        mags = params.magnitudes
        assert torch.allclose(mags.diff().diff(), torch.zeros(7, dtype=torch.float64), atol=1e-9)  # linear
        first, last = float(mags[0]), float(mags[-1])
        if variant == "spatial":
            assert (m1, m2) == (10.0, 10.0) and first == last == 10.0
        elif variant == "temporal":
            assert m2 == 10.0 and 0.1 <= m1 <= 10.0 and last == 10.0 and 0.1 <= first <= 10.0
        else:
            assert (first + last) / 2 == pytest.approx(10.0)  # centred on M
            assert abs(first - 10.0) <= 5.0 + 1e-9  # δ ≤ 0.5 M
            if variant == "temporal+":
                assert m1 != m2


def test_temporal_plus_reverses_with_probability() -> None:
    augment = RandAugmentT(magnitude=10.0, variant="temporal+", reverse_probability=0.5)
    generator = torch.Generator().manual_seed(0)
    rising = sum(augment.end_magnitudes(generator)[0] < 10.0 for _ in range(200))
    assert 60 < rising < 140
    never = RandAugmentT(magnitude=10.0, variant="temporal+", reverse_probability=0.0)
    assert all(never.end_magnitudes(generator)[0] <= 10.0 for _ in range(50))


def test_frames_receive_their_own_magnitude() -> None:
    """Brightness with a linear magnitude ramp scales frame t by 1 + 0.9·M_t/30: linear in t."""
    augment = RandAugmentT(max_magnitude=30.0)
    clip = torch.full((3, 5, 4, 4), 0.4)
    mags = torch.linspace(0.0, 20.0, 5, dtype=torch.float64)
    out = augment.apply(clip, RandAugmentTParams(("brightness",), mags, (1.0,)))
    expected = 0.4 * (1 + 0.9 * mags / 30)
    torch.testing.assert_close(out.mean(dim=(0, 2, 3)).double(), expected, atol=1e-6, rtol=0)
    rotated = augment.apply(_smooth_clip(5), RandAugmentTParams(("rotate",), mags, (1.0,)))
    change = (rotated - _smooth_clip(5)).abs().mean(dim=(0, 2, 3))
    assert change[0] < 1e-6 and (change.diff() > 0).all()  # more rotation on later frames


@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize("dtype", [torch.float32, torch.uint8])
def test_every_op_keeps_shape_dtype_range_and_changes_the_clip(op: str, dtype: torch.dtype) -> None:
    clip = _smooth_clip(4)
    if dtype == torch.uint8:
        clip = (clip * 255).round().to(torch.uint8)
    augment = RandAugmentT(max_magnitude=30.0)
    out = augment.apply(clip, RandAugmentTParams((op,), torch.full((4,), 30.0, dtype=torch.float64), (1.0,)))
    assert out.shape == clip.shape and out.dtype == clip.dtype
    if dtype == torch.float32:
        assert out.min() >= 0 and out.max() <= 1
    if op != "identity":
        assert not torch.equal(out, clip), f"{op} left the clip unchanged"
    # spatial magnitudes: identical frames stay identical
    assert torch.equal(out, out[:, :1].expand_as(out))


def test_equalize_matches_torchvision() -> None:
    frames = (torch.rand(2, 3, 12, 12) ** 2 * 255).round().to(torch.uint8)
    ours = apply_op(frames.float() / 255, "equalize", torch.zeros(2))
    torch.testing.assert_close((ours * 255).round().to(torch.uint8), TF.equalize(frames), atol=1, rtol=0)


def test_batch_call_is_deterministic_and_per_clip() -> None:
    video = (torch.rand(3, 3, 4, 8, 8) * 255).to(torch.uint8)
    augment = RandAugmentT(num_ops=2, magnitude=10.0, variant="mix")
    a = augment(video, torch.Generator().manual_seed(7))
    b = augment(video, torch.Generator().manual_seed(7))
    assert torch.equal(a, b) and a.shape == video.shape and a.dtype == torch.uint8


@pytest.mark.parametrize("kwargs,match", [
    ({"variant": "reverse"}, "variant"), ({"magnitude": 40.0}, "magnitude"), ({"ops": ("blur",)}, "ops"),
])
def test_bad_settings_are_refused(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        RandAugmentT(**kwargs)


def test_two_channel_input_is_refused() -> None:
    with pytest.raises(ValueError, match="C in"):
        RandAugmentT()(torch.rand(2, 4, 8, 8))
