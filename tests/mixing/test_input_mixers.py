"""Property tests for every input mixer (random shapes, λ and sampling modes)."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from vimix_ssl.mixing import MIXERS, FadeMixUp, build_mixer, list_mixers, soft_targets
from vimix_ssl.mixing.boxes import box_mask, box_share, cut_fractions, sample_boxes

NAMES = [n for n in MIXERS if n != "random"]
CUT = ["videomix", "temporal_cutmix", "st_cutmix"]
BLEND = ["mixup", "fademixup", "cutmixup", "framecutmixup", "cubecutmixup"]
CUTOUT = ["cutout", "framecutout", "cubecutout"]
FULL_BLEND = {"blend_lam": 1.0, "mixup_probability": 1.0}  # box = whole clip, blend weight 1
SETTINGS = settings(max_examples=8, deadline=None)

shapes = st.tuples(st.integers(2, 5), st.integers(1, 3), st.integers(1, 7), st.integers(1, 7),
                   st.integers(1, 7))


def index_batch(shape: tuple[int, ...], dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """x[i] == i + 1 everywhere: the value of a voxel names the clip it came from."""
    b = shape[0]
    return (torch.arange(b, dtype=dtype) + 1).view(b, 1, 1, 1, 1).expand(*shape).contiguous()


def own_weight(out: torch.Tensor, x: torch.Tensor, perm: torch.Tensor, i: int) -> torch.Tensor:
    """Per-voxel weight w of clip i's own content in ``out[i] = w x[i] + (1 - w) x[perm[i]]``."""
    return (out[i] - x[perm[i]]) / (x[i] - x[perm[i]])


def build(name: str, **kwargs) -> object:
    if name in CUTOUT or name == "none":
        kwargs.pop("alpha", None)
        kwargs.pop("per_sample", None)
    return build_mixer(name, **kwargs)


@pytest.mark.parametrize("name", NAMES)
@SETTINGS
@given(shape=shapes, per_sample=st.booleans(), alpha=st.sampled_from([0.4, 1.0, 2.0]),
       seed=st.integers(0, 2**16), dtype=st.sampled_from([torch.float32, torch.float64]))
def test_contract(name: str, shape, per_sample: bool, alpha: float, seed: int, dtype: torch.dtype) -> None:
    mixer = build(name, alpha=alpha, per_sample=per_sample)
    x = torch.rand(shape, dtype=dtype)
    out = mixer(x, torch.Generator().manual_seed(seed))
    assert out.x.shape == x.shape and out.x.dtype == x.dtype
    assert out.lam.shape == (shape[0],) and out.lam.dtype == torch.float32
    assert out.perm.dtype == torch.int64 and sorted(out.perm.tolist()) == list(range(shape[0]))
    assert ((out.lam >= 0) & (out.lam <= 1)).all()
    targets = soft_targets(torch.randint(0, 4, (shape[0],)), 4, out)
    torch.testing.assert_close(targets.sum(1), torch.ones(shape[0]))
    again = mixer(x, torch.Generator().manual_seed(seed))
    assert torch.equal(again.x, out.x) and torch.equal(again.lam, out.lam)  # deterministic


@pytest.mark.parametrize("name", CUT + BLEND)
@SETTINGS
@given(shape=shapes, per_sample=st.booleans(), seed=st.integers(0, 2**16))
def test_lam_is_share_of_own_content(name: str, shape, per_sample: bool, seed: int) -> None:
    x = index_batch(shape)
    out = build(name, per_sample=per_sample)(x, torch.Generator().manual_seed(seed))
    for i in range(shape[0]):
        if out.perm[i] == i:
            continue  # mixed with itself: content is all its own whatever lam says
        weight = own_weight(out.x, x, out.perm, i)
        assert float(weight.mean()) == pytest.approx(float(out.lam[i]), abs=1e-5)
        if name in CUT:  # cut mixers copy voxels: weights are exactly 0 or 1
            assert set(weight.unique().tolist()) <= {0.0, 1.0}


@pytest.mark.parametrize("name", CUT)
@SETTINGS
@given(shape=shapes, per_sample=st.booleans(), seed=st.integers(0, 2**16))
def test_box_on_the_right_axes_and_pasted_in_place(name: str, shape, per_sample: bool, seed: int) -> None:
    mixer = build(name, per_sample=per_sample)
    x_index = index_batch(shape)
    marked = mixer(x_index, torch.Generator().manual_seed(seed))
    x = torch.rand(shape, dtype=torch.float64)
    out = mixer(x, torch.Generator().manual_seed(seed))  # same draws: same boxes and perm
    axes = MIXERS[name].fixed["axes"]
    for i in range(shape[0]):
        pasted = (own_weight(marked.x, x_index, marked.perm, i) == 0) if marked.perm[i] != i else None
        if pasted is None:
            continue
        region = pasted.all(dim=0)  # (T, H, W): same for every channel
        assert torch.equal(pasted, region.expand_as(pasted))
        t_any, h_any, w_any = region.any(2).any(1), region.any(2).any(0), region.any(1).any(0)
        box = t_any[:, None, None] & h_any[None, :, None] & w_any[None, None, :]
        assert torch.equal(region, box), "pasted region is not a box"
        if region.any():
            for axis, proj in zip("thw", (t_any, h_any, w_any)):
                if axis not in axes:  # an uncut axis is spanned entirely (spatial box: all frames)
                    assert proj.all(), f"{name}: box does not span the whole {axis} axis"
        expected = torch.where(region, x[out.perm[i]], x[i])
        assert torch.equal(out.x[i], expected)


@pytest.mark.parametrize("name", NAMES)
@SETTINGS
@given(shape=shapes, seed=st.integers(0, 2**16))
def test_batch_mode_keeps_pixel_and_label_mass(name: str, shape, seed: int) -> None:
    """pytorchvideo's check: one λ/box per batch keeps the total mass of a 0/1 batch and its labels."""
    if name in CUTOUT:
        return
    x = torch.zeros(shape, dtype=torch.float64)
    x[: shape[0] // 2 + 1] = 1.0
    out = build(name, per_sample=False)(x, torch.Generator().manual_seed(seed))
    assert float(out.x.sum()) == pytest.approx(float(x.sum()), rel=1e-9)
    labels = torch.arange(shape[0]) % 3
    targets = soft_targets(labels, 3, out)
    torch.testing.assert_close(targets.sum(0), torch.nn.functional.one_hot(labels, 3).float().sum(0))


@pytest.mark.parametrize("name,kwargs", [
    ("mixup", {"lam": 1.0}), ("fademixup", {"lam": 1.0}), ("videomix", {"lam": 1.0}),
    ("temporal_cutmix", {"lam": 1.0}), ("st_cutmix", {"lam": 1.0, "per_sample": True}),
    ("cutmixup", FULL_BLEND), ("framecutmixup", FULL_BLEND), ("cubecutmixup", FULL_BLEND),
    ("cutout", {"spatial_fraction": 0.0}),
    ("framecutout", {"temporal_fraction": 0.0}), ("none", {}),
])
def test_lambda_one_is_identity(name: str, kwargs: dict) -> None:
    x = torch.randn(4, 2, 5, 6, 7)  # 2-channel (flow-like) input
    out = build_mixer(name, **kwargs)(x, torch.Generator().manual_seed(3))
    assert torch.equal(out.x, x)
    assert torch.equal(out.lam, torch.ones(4))


@SETTINGS
@given(shape=shapes, per_sample=st.booleans(), seed=st.integers(0, 2**16))
def test_fademixup_frame_weights_ramp_linearly_and_average_to_lam(shape, per_sample: bool, seed: int) -> None:
    x = index_batch(shape)
    out = FadeMixUp(per_sample=per_sample)(x, torch.Generator().manual_seed(seed))
    for i in range(shape[0]):
        if out.perm[i] == i:
            continue
        weight = own_weight(out.x, x, out.perm, i)  # (C, T, H, W)
        per_frame = weight[0, :, 0, 0]  # (T,)
        assert torch.allclose(weight, per_frame.view(1, -1, 1, 1).expand_as(weight))
        if len(per_frame) > 2:
            curvature = per_frame.diff().diff()
            assert torch.allclose(curvature, torch.zeros_like(curvature), atol=1e-9)
        assert float(per_frame.mean()) == pytest.approx(float(out.lam[i]), abs=1e-6)
        assert ((per_frame >= -1e-9) & (per_frame <= 1 + 1e-9)).all()


def test_fademixup_ramp_bounded_by_min_lam() -> None:
    mixer = FadeMixUp(per_sample=True)
    lam = torch.tensor([0.1, 0.5, 0.9, 1.0], dtype=torch.float64)
    weights = mixer.frame_weights(lam, 8, torch.Generator().manual_seed(0))
    half_range = (weights[:, -1] - weights[:, 0]).abs() / 2
    assert (half_range <= torch.minimum(lam, 1 - lam) + 1e-12).all()
    torch.testing.assert_close(weights.mean(1), lam)


@pytest.mark.parametrize("name,axes", [("cutout", "hw"), ("framecutout", "t"), ("cubecutout", "thw")])
@pytest.mark.parametrize("fill", ["zero", "mean"])
def test_cutout_erases_a_box_and_reports_its_share(name: str, axes: str, fill: str) -> None:
    # no voxel is 0 or equal to a clip mean
    x = index_batch((3, 2, 8, 10, 10), torch.float32) + torch.rand(3, 2, 8, 10, 10)
    erased, share = build_mixer(name, fill=fill).erase(x, torch.Generator().manual_seed(1))
    changed = (erased != x).all(dim=1)  # (B, T, H, W)
    assert torch.allclose(changed.double().mean((1, 2, 3)), share.double())
    assert (share > 0).all()
    for i in range(3):
        fill_value = x[i].mean((1, 2, 3)) if fill == "mean" else torch.zeros(2)
        assert torch.allclose(erased[i][:, changed[i]], fill_value[:, None].expand(2, int(changed[i].sum())))
        if "t" not in axes:
            assert torch.equal(changed[i], changed[i][:1].expand_as(changed[i]))  # same box in every frame
        if axes == "t":
            assert torch.equal(changed[i], changed[i][:, :1, :1].expand_as(changed[i]))  # whole frames


def test_cutmixup_label_follows_seed002_eq1() -> None:
    """Blend inside the box, the less-favoured pure clip outside; label of eq. 1 from the box share m."""
    x = index_batch((4, 1, 6, 8, 8))
    for blend_lam in (0.2, 0.8):
        out = build_mixer("cutmixup", lam=0.75, blend_lam=blend_lam)(x, torch.Generator().manual_seed(0))
        i = int((out.perm != torch.arange(4)).nonzero()[0])
        weight = own_weight(out.x, x, out.perm, i)
        in_box = (weight - blend_lam).abs() < 1e-9
        m = float(in_box.double().mean())
        assert 0 < m < 1
        outside = weight[~in_box]
        assert (outside == (1.0 if blend_lam < 0.5 else 0.0)).all()
        expected = blend_lam * m + (1 - m) if blend_lam < 0.5 else blend_lam * m
        assert float(out.lam[i]) == pytest.approx(expected, abs=1e-6)


def test_mixup_per_sample_and_fold() -> None:
    out = build_mixer("mixup", per_sample=True, fold_lambda=True)(torch.rand(16, 3, 2, 4, 4),
                                                                   torch.Generator().manual_seed(0))
    assert len(out.lam.unique()) > 1 and (out.lam >= 0.5).all()
    shared = build_mixer("mixup")(torch.rand(16, 3, 2, 4, 4), torch.Generator().manual_seed(0))
    assert len(shared.lam.unique()) == 1


def test_cut_mixers_accept_uint8_and_blends_refuse_it() -> None:
    x = torch.randint(0, 255, (3, 3, 4, 8, 8), dtype=torch.uint8)
    assert build_mixer("videomix")(x).x.dtype == torch.uint8
    with pytest.raises(TypeError, match="floating-point"):
        build_mixer("mixup")(x)


def test_random_choice_mixer_follows_probabilities() -> None:
    x = torch.rand(4, 2, 4, 6, 6)
    always = build_mixer("random", mixers={"none": 0.0, "framecutmix": 1.0},
                         mixer_kwargs={"framecutmix": {"lam": 0.5}})
    for seed in range(20):  # 'none' (p = 0) would return lam = 1; a clipped 2-frame cut gives 0.5 or 0.75
        lam = always(x, torch.Generator().manual_seed(seed)).lam
        assert ((lam == 0.5) | (lam == 0.75)).all(), lam
    mixer = build_mixer("random", mixers={"none": 0.25, "mixup": 0.75})
    generator = torch.Generator().manual_seed(0)
    picks = [mixer.choose(generator) for _ in range(400)]
    assert 0.65 < sum(picks) / 400 < 0.85


def test_boxes_helpers() -> None:
    frac = cut_fractions(torch.tensor([0.25, 0.0, 1.0], dtype=torch.float64), "hw")
    torch.testing.assert_close(frac[:, 1], torch.tensor([0.5, 0.0, 1.0], dtype=torch.float64))
    assert (frac[:, 0] == 1).all()  # uncut T axis spans everything
    starts, ends = sample_boxes((4, 8, 8), frac, "hw", torch.Generator().manual_seed(0))
    mask = box_mask(starts, ends, (4, 8, 8))
    torch.testing.assert_close(mask.double().mean((1, 2, 3, 4)), box_share(starts, ends, (4, 8, 8)))


@pytest.mark.parametrize("bad,match", [
    (lambda: build_mixer("warpmix"), "unknown mixer 'warpmix'"),
    (lambda: build_mixer("cutmix", sigma=1), "unknown argument"),
    (lambda: build_mixer("cutmix", axes="t"), "fixes"),
    (lambda: build_mixer("mixup", alpha=0), "alpha must be > 0"),
    (lambda: build_mixer("mixup")(torch.rand(2, 3, 4, 4)), r"\(B, C, T, H, W\)"),
    (lambda: build_mixer("random"), "mixers"),
])
def test_bad_input_is_refused_clearly(bad, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        bad()


def test_list_mixers_names_every_mixer_and_alias() -> None:
    rows = {r["name"]: r for r in list_mixers()}
    assert set(rows) == set(MIXERS)
    pairs = [("cutmix", "videomix"), ("framecutmix", "temporal_cutmix"), ("cubecutmix", "st_cutmix")]
    for alias, name in pairs:
        assert alias in rows[name]["aliases"]
        assert type(build_mixer(alias)) is type(build_mixer(name))
