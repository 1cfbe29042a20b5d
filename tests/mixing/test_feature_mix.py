"""feature_cutmix: λ from the pasted volume, box geometry per axes choice, mixup, layouts."""

from __future__ import annotations

import pytest
import torch

from vimix_ssl.mixing.feature_mix import cut_letters, feature_cutmix


def coded(shape: tuple[int, ...]) -> torch.Tensor:
    """A map whose value at each voxel is 1 + its flat index within the sample (never 0)."""
    b, rest = shape[0], shape[1:]
    n = torch.tensor(rest).prod().item()
    return (torch.arange(n, dtype=torch.float64) + 1).view(1, *rest).expand(b, *rest).clone()


def decode(values: torch.Tensor, shape: tuple[int, ...]) -> torch.Tensor:
    """Source coordinates (N, ndim) of coded values."""
    flat = values.long() - 1
    coords = []
    for n in reversed(shape):
        coords.append(flat % n)
        flat = flat // n
    return torch.stack(coords[::-1], dim=1)


def check_box(mixed: torch.Tensor, shape1, shape2, lam: torch.Tensor) -> list[dict]:
    """Assert, per sample, that the pasted voxels form a box filled by a translated box of g2.

    Returns per-sample dicts of pasted extents (destination) and source coordinate ranges.
    """
    out = []
    for i in range(mixed.shape[0]):
        m = mixed[i] != 0  # pasted voxels (g1 is all zeros)
        count = int(m.sum())
        vol = m.numel()
        assert lam[i].item() == pytest.approx(1 - count / vol, abs=1e-6)
        if count == 0:
            out.append({"extent": [0] * m.dim()})
            continue
        dest = m.nonzero()  # (N, ndim)
        src = decode(mixed[i][m], shape2[1:])
        ranges = [(int(dest[:, a].min()), int(dest[:, a].max()) + 1) for a in range(m.dim())]
        box = 1
        for lo, hi in ranges:
            box *= hi - lo
        assert box == count, "pasted region is not a box"
        shift = src - dest
        assert (shift == shift[0]).all(), "source is not a translation of the destination"
        out.append({"extent": [hi - lo for lo, hi in ranges],
                    "src": [(int(src[:, a].min()), int(src[:, a].max()) + 1) for a in range(m.dim())]})
    return out


@pytest.mark.parametrize("axes", ["s", "s+t", "s+t+c"])
def test_lam_is_one_minus_pasted_share_for_random_shapes(axes):
    gen = torch.Generator().manual_seed(0)
    shapes = [((6, 4, 8, 6, 6), (6, 4, 8, 6, 6)),  # same layer
              ((6, 4, 8, 6, 6), (6, 16, 4, 3, 3)),  # deeper, smaller partner with more channels
              ((5, 8, 4, 5, 7), (5, 3, 6, 9, 4))]  # partner larger on some axes
    for _ in range(3):
        s1 = tuple(int(x) for x in torch.randint(2, 9, (4,), generator=gen))
        s2 = tuple(int(x) for x in torch.randint(2, 9, (4,), generator=gen))
        shapes.append(((5, *s1), (5, *s2)))
    for shape1, shape2 in shapes:
        g1 = torch.zeros(shape1, dtype=torch.float64)
        g2 = coded(shape2)
        res = feature_cutmix(g1, g2, axes=axes, generator=gen)
        assert res.x.shape == g1.shape and res.lam.shape == (shape1[0],)
        assert torch.equal(res.perm, torch.arange(shape1[0]))
        check_box(res.x, shape1, shape2, res.lam)
        assert ((res.lam >= 0) & (res.lam <= 1)).all()


def test_axes_s_spans_all_of_t_and_c_clipped_to_g1():
    gen = torch.Generator().manual_seed(1)
    for shape1, shape2 in [((8, 4, 8, 6, 6), (8, 16, 4, 3, 3)),  # partner: more c, fewer t
                           ((8, 8, 4, 6, 6), (8, 3, 6, 6, 6)),  # partner: fewer c, more t
                           ((8, 4, 4, 6, 6), (8, 4, 4, 6, 6))]:  # equal: the whole of t and c
        g1 = torch.zeros(shape1, dtype=torch.float64)
        res = feature_cutmix(g1, coded(shape2), axes="s", generator=gen)
        boxes = check_box(res.x, shape1, shape2, res.lam)
        pasted = [bx for bx in boxes if bx["extent"][0] > 0]
        assert pasted, "nothing pasted in 8 samples"
        for bx in pasted:
            c_ext, t_ext = bx["extent"][0], bx["extent"][1]
            assert c_ext == min(shape1[1], shape2[1]) and t_ext == min(shape1[2], shape2[2])
            # when the partner axis fits in g1, every partner position is used
            if shape2[1] <= shape1[1]:
                assert bx["src"][0] == (0, shape2[1])
            if shape2[2] <= shape1[2]:
                assert bx["src"][1] == (0, shape2[2])


def test_axes_choice_controls_which_axes_are_cut():
    assert cut_letters("cthw", "s") == ["h", "w"]
    assert cut_letters("cthw", "s+t") == ["t", "h", "w"]
    assert cut_letters("cthw", "s+t+c") == ["c", "t", "h", "w"]
    assert cut_letters("mctv", "s") == ["v"]
    assert cut_letters("mctv", "s+t+c") == ["c", "t", "v"]
    # with s+t some samples paste fewer than all time steps; with s never
    gen = torch.Generator().manual_seed(2)
    shape = (64, 4, 8, 6, 6)
    res = feature_cutmix(torch.zeros(shape, dtype=torch.float64), coded(shape), axes="s+t", generator=gen)
    t_ext = [bx["extent"][1] for bx in check_box(res.x, shape, shape, res.lam) if bx["extent"][1]]
    assert min(t_ext) < 8


def test_skeleton_layout_never_cuts_bodies_and_cuts_joints():
    gen = torch.Generator().manual_seed(4)
    shape1, shape2 = (6, 2, 8, 10, 25), (6, 2, 16, 5, 25)  # (B, M, C, T, V)
    res = feature_cutmix(torch.zeros(shape1, dtype=torch.float64), coded(shape2), "mctv", "mctv",
                         axes="s", generator=gen)
    for bx in check_box(res.x, shape1, shape2, res.lam):
        if bx["extent"][0]:
            assert bx["extent"][:3] == [2, 8, 5]  # all bodies, all (clipped) channels, all partner t
            assert bx["extent"][3] < 25
    with pytest.raises(ValueError, match="never cut"):
        feature_cutmix(torch.zeros(2, 2, 4, 4, 5), torch.zeros(2, 1, 4, 4, 5), "mctv", "mctv")


def test_mixup_is_the_convex_combination():
    gen = torch.Generator().manual_seed(5)
    g1, g2 = torch.randn(4, 3, 2, 4, 4), torch.randn(4, 3, 2, 4, 4)
    perm = torch.tensor([2, 0, 3, 1])
    res = feature_cutmix(g1, g2, op="mixup", perm=perm, generator=gen)
    lam = res.lam.view(-1, 1, 1, 1, 1)
    torch.testing.assert_close(res.x, lam * g1 + (1 - lam) * g2)
    assert torch.equal(res.perm, perm)
    assert not torch.allclose(res.lam, res.lam[0])  # λ is per sample
    with pytest.raises(ValueError, match="equal feature shapes"):
        feature_cutmix(g1, torch.randn(4, 6, 1, 2, 2), op="mixup")


def test_gradient_reaches_only_unpasted_voxels_of_g1_and_generator_is_reproducible():
    g1 = torch.randn(3, 4, 4, 5, 5, requires_grad=True)
    g2 = torch.randn(3, 8, 2, 3, 3)
    res = feature_cutmix(g1, g2, generator=torch.Generator().manual_seed(6))
    res.x.sum().backward()
    kept = (res.x == g1).float()
    torch.testing.assert_close(g1.grad, kept)
    again = feature_cutmix(g1.detach(), g2, generator=torch.Generator().manual_seed(6))
    assert torch.equal(again.x, res.x.detach()) and torch.equal(again.lam, res.lam)


def test_layout_orders_and_bad_inputs():
    g1 = torch.zeros(2, 4, 3, 5, 5)
    g2_thwc = torch.randn(2, 3, 5, 5, 4)
    with pytest.raises(ValueError, match="layout"):
        feature_cutmix(g1, g2_thwc, "cthw", "thwc")  # not a known layout
    with pytest.raises(ValueError, match="axes"):
        feature_cutmix(g1, g1, axes="t")
    with pytest.raises(ValueError, match="op"):
        feature_cutmix(g1, g1, op="blend")
    with pytest.raises(ValueError, match="5-D"):
        feature_cutmix(g1[0], g1[0])
    with pytest.raises(ValueError, match="different axes"):
        feature_cutmix(g1, torch.zeros(2, 2, 4, 3, 5), "cthw", "mctv")
    with pytest.raises(ValueError, match="batch sizes"):
        feature_cutmix(g1, torch.zeros(3, 4, 3, 5, 5))
