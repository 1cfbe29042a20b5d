"""RandAugment-T: per-frame magnitudes interpolate between the end magnitudes; every op works;
the ``paper`` convention reproduces the peer's (taeoh-kim/temporal_data_augmentation) values."""

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
        mags = params.magnitudes[0]
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


@pytest.mark.parametrize("convention,factor", [("timm", lambda m: 1 + 0.9 * m / 30),
                                               ("paper", lambda m: 0.1 + 1.8 * m / 30)])
def test_frames_receive_their_own_magnitude(convention, factor) -> None:
    """Brightness with a linear magnitude ramp scales frame t by its factor at M_t: linear in t."""
    augment = RandAugmentT(max_magnitude=30.0, magnitude_convention=convention)
    clip = torch.full((3, 5, 4, 4), 0.4)
    mags = torch.linspace(0.0, 20.0, 5, dtype=torch.float64)
    out = augment.apply(clip, RandAugmentTParams(("brightness",), (mags,), (1.0,)))
    expected = 0.4 * factor(mags)
    torch.testing.assert_close(out.mean(dim=(0, 2, 3)).double(), expected, atol=1e-6, rtol=0)
    rotated = augment.apply(_smooth_clip(5), RandAugmentTParams(("rotate",), (mags,), (1.0,)))
    change = (rotated - _smooth_clip(5)).abs().mean(dim=(0, 2, 3))
    assert change[0] < 1e-6 and (change.diff() > 0).all()  # more rotation on later frames


@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize("dtype", [torch.float32, torch.uint8])
@pytest.mark.parametrize("convention,magnitude", [("paper", 10.0), ("timm", 30.0)])
def test_every_op_keeps_shape_dtype_range_and_changes_the_clip(op: str, dtype: torch.dtype, convention: str,
                                                               magnitude: float) -> None:
    clip = _smooth_clip(4)
    if dtype == torch.uint8:
        clip = (clip * 255).round().to(torch.uint8)
    augment = RandAugmentT(max_magnitude=30.0, magnitude_convention=convention, ops=OPS)
    mags = (torch.full((4,), magnitude, dtype=torch.float64),)
    out = augment.apply(clip, RandAugmentTParams((op,), mags, (1.0,)))
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
    ({"magnitude_convention": "tf"}, "magnitude_convention"), ({"draw_per": "frame"}, "draw_per"),
    ({"op_ranges": {"rotate": 10.0}}, "op_ranges applies to magnitude_convention='timm'"),
])
def test_bad_settings_are_refused(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        RandAugmentT(**kwargs)


def test_two_channel_input_is_refused() -> None:
    with pytest.raises(ValueError, match="C in"):
        RandAugmentT()(torch.rand(2, 4, 8, 8))


# --- the peer's values (taeoh-kim/temporal_data_augmentation data/augment.py) ------------------------
# augment_list: (op, min, max); value = (M / max_severity) * (max - min) + min with max_severity 30;
# Posterize keeps max(1, int(value)) bits; Solarize inverts levels >= value; enhance ops take the
# factor as is (unsigned); Rotate, Shear*, Translate*abs (pixels) get a random sign.
PEER_AUGMENT_LIST = [("rotate", 0, 30), ("posterize", 0, 4), ("solarize", 0, 256), ("color", 0.1, 1.9),
                     ("contrast", 0.1, 1.9), ("brightness", 0.1, 1.9), ("sharpness", 0.1, 1.9),
                     ("shear_x", 0.0, 0.3), ("shear_y", 0.0, 0.3), ("translate_x", 0.0, 100),
                     ("translate_y", 0.0, 100)]
PEER_SIGNED = {"rotate", "shear_x", "shear_y", "translate_x", "translate_y"}


def _peer_value(op: str, low: float, high: float, m: float) -> float:
    value = (float(m) / 30) * float(high - low) + low
    return float(max(1, int(value))) if op == "posterize" else value


@pytest.mark.parametrize("magnitude", [3.0, 5.0, 10.0, 20.0, 30.0])
@pytest.mark.parametrize("sign", [1.0, -1.0])
def test_paper_convention_matches_the_peer_value_table(magnitude: float, sign: float) -> None:
    augment = RandAugmentT(magnitude=magnitude, variant="spatial")
    mags = torch.full((4,), magnitude, dtype=torch.float64)
    for op, low, high in PEER_AUGMENT_LIST:
        expected = _peer_value(op, low, high, magnitude) * (sign if op in PEER_SIGNED else 1.0)
        values = augment.op_values(op, mags, sign, size=(160, 160))
        torch.testing.assert_close(values, torch.full((4,), expected, dtype=torch.float64), msg=op)
    no_value = {"identity", "autocontrast", "equalize", "invert"}
    assert set(augment.ops) == {op for op, _, _ in PEER_AUGMENT_LIST} | no_value


def test_the_issue_numbers_at_magnitude_10() -> None:
    """M = 10, W = 160: solarize 85.3 (timm 170.7), 1 bit (timm 7), factor 0.7 (timm 1.3), 33 px (timm 24)."""
    mags = torch.full((1,), 10.0, dtype=torch.float64)
    paper, timm = RandAugmentT(), RandAugmentT(magnitude_convention="timm")
    pairs = {op: (float(paper.op_values(op, mags, 1.0, (160, 160))[0]),
                  float(timm.op_values(op, mags, 1.0, (160, 160))[0]))
             for op in ("solarize", "posterize", "brightness", "translate_x")}
    assert pairs["solarize"] == pytest.approx((256 / 3, 256 * 2 / 3))
    assert pairs["posterize"] == (1.0, 7.0)
    assert pairs["brightness"] == pytest.approx((0.7, 1.3))
    assert pairs["translate_x"] == pytest.approx((100 / 3, 0.45 / 3 * 160))


def test_peer_ops_match_pil() -> None:
    """Solarize, posterize, invert and brightness against PIL.ImageOps / ImageEnhance (the peer's calls)."""
    from PIL import Image, ImageEnhance, ImageOps

    array = (torch.arange(256, dtype=torch.uint8).view(16, 16)[None].expand(3, 16, 16)).contiguous()
    image = Image.fromarray(array.permute(1, 2, 0).numpy())
    frames = array[None].float() / 255  # (T=1, C, H, W)

    def ours(op: str, value: float) -> torch.Tensor:
        out = apply_op(frames, op, torch.tensor([value], dtype=torch.float64))
        return (out[0] * 255).round().to(torch.uint8).permute(1, 2, 0)

    def pil(result) -> torch.Tensor:
        return torch.from_numpy(__import__("numpy").asarray(result).copy())

    assert torch.equal(ours("solarize", 256 / 3), pil(ImageOps.solarize(image, 256 / 3)))
    assert torch.equal(ours("posterize", 1.0), pil(ImageOps.posterize(image, 1)))
    assert torch.equal(ours("invert", 0.0), pil(ImageOps.invert(image)))
    diff = ours("brightness", 0.7).int() - pil(ImageEnhance.Brightness(image).enhance(0.7)).int()
    assert diff.abs().max() <= 1  # PIL rounds its blend per pixel


def test_peer_posterize_truncates_the_end_values_before_interpolating() -> None:
    """M from 3 to 27 over 5 frames: ends max(1, int(0.4)) = 1 and int(3.6) = 3, frames int(1 + 2 t / 4)."""
    values = RandAugmentT().op_values("posterize", torch.linspace(3.0, 27.0, 5, dtype=torch.float64), 1.0)
    assert values.tolist() == [1.0, 1.0, 2.0, 2.0, 3.0]


def test_temporal_plus_draws_delta_per_op_as_the_peer_or_per_clip() -> None:
    per_op = RandAugmentT(num_ops=3, magnitude=10.0, variant="temporal+")
    per_clip = RandAugmentT(num_ops=3, magnitude=10.0, variant="temporal+", draw_per="clip")
    distinct_ops = 0
    for seed in range(20):
        ramps = per_op.sample(6, torch.Generator().manual_seed(seed)).magnitudes
        distinct_ops += len({(float(r[0]), float(r[-1])) for r in ramps}) == 3
        assert all(abs(float(r[0] + r[-1]) / 2 - 10.0) < 1e-9 and abs(float(r[0]) - 10) <= 5 for r in ramps)
        shared = per_clip.sample(6, torch.Generator().manual_seed(seed)).magnitudes
        assert all(torch.equal(r, shared[0]) for r in shared)
    assert distinct_ops == 20
