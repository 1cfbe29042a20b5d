"""feature_cutmix against Vi-Mix §3.2 eqs. 7–9: a loop-based reference, exact mean λ, switches, layouts."""

from __future__ import annotations

import itertools
import math

import pytest
import torch

from vimix_ssl.mixing.feature_mix import CutDraws, draw_cut, drawn_letters, feature_cutmix

# -- an independent re-implementation of eqs. 7–9, one voxel at a time ---------------------------------


def reference_mix(g1: torch.Tensor, g2: torch.Tensor, layout: str, axes: str, lam0: float,
                  source: list[float], dest: list[float]) -> tuple[torch.Tensor, float]:
    """One sample ``(shape1)``, ``(shape2)`` (both in ``layout``) mixed by the paper's rule.

    Eq. 8: the source box covers a share ``1 − λ₀`` of g2's spatial extent (sides
    ``n·√(1−λ₀)`` on a 2-D map, ``n·(1−λ₀)`` on the 1-D joint axis), centre ``U(0, n2)``,
    clipped, with every time step and channel of g2. Eq. 9: the box goes to a centre
    ``U(0, n1)`` of g1 on the axes ``axes`` draws, clipped; other axes start at 0. Integer
    convention (CutMix's ``randint`` centres): centre ``⌊u·n⌋``, box ``[centre − ⌊e/2⌋, … + e)``.
    Eq. 7: ``M g1 + (1−M) g2``; ``λ = 1 − pasted / |g1|``.
    """
    parts = axes.split("+")
    spatial_axes = [a for a, letter in enumerate(layout) if letter in "hwv"]
    side = (1.0 - lam0) ** (1.0 / len(spatial_axes))
    ranges = []  # per axis: (first destination, end destination, source of the first destination)
    for a, letter in enumerate(layout):
        n1, n2 = g1.shape[a], g2.shape[a]
        if a in spatial_axes:
            e = math.floor(n2 * side)
            c = min(math.floor(source[a] * n2), n2 - 1)
            lo, hi = max(c - e // 2, 0), min(c - e // 2 + e, n2)
        else:
            lo, hi = 0, n2  # (bt1, bt2) = (0, t2), (bc1, bc2) = (0, c2); every body
        extent = hi - lo
        is_drawn = (a in spatial_axes) or (letter == "t" and "t" in parts) or (letter == "c" and "c" in parts)
        if is_drawn:
            centre = min(math.floor(dest[a] * n1), n1 - 1)
            start = centre - extent // 2
            first, end = max(start, 0), min(start + extent, n1)
            ranges.append((first, end, lo + (first - start)))
        else:
            ranges.append((0, min(n1, n2), 0))
    out = g1.clone()
    pasted = 0
    for voxel in itertools.product(*[range(n) for n in g1.shape]):
        inside = all(first <= p < end for p, (first, end, _) in zip(voxel, ranges))
        if inside:
            src = tuple(s + (p - first) for p, (first, _, s) in zip(voxel, ranges))
            out[voxel] = g2[src]
            pasted += 1
    return out, 1.0 - pasted / g1.numel()


def random_draws(batch: int, num_axes: int, gen: torch.Generator) -> CutDraws:
    return CutDraws(torch.rand(batch, generator=gen, dtype=torch.float64),
                    torch.rand(batch, num_axes, generator=gen, dtype=torch.float64),
                    torch.rand(batch, num_axes, generator=gen, dtype=torch.float64))


SHAPES = {  # (g1, g2) without the batch axis
    "same layer": ((4, 6, 5, 7), (4, 6, 5, 7)),
    "deeper partner: more channels, fewer frames, smaller map": ((4, 6, 6, 5), (9, 3, 3, 2)),
    "shallower partner: fewer channels, more frames, larger map": ((8, 3, 3, 4), (3, 7, 6, 5)),
}


@pytest.mark.parametrize("axes", ["s", "s+t", "s+t+c"])
def test_same_draws_give_the_reference_mask_and_lambda_on_random_shapes(axes):
    gen = torch.Generator().manual_seed(0)
    shapes = dict(SHAPES)
    for i in range(3):
        shapes[f"random {i}"] = tuple(tuple(int(x) for x in torch.randint(1, 8, (4,), generator=gen))
                                      for _ in range(2))
    for name, (shape1, shape2) in shapes.items():
        b = 4
        g1, g2 = torch.randn(b, *shape1, dtype=torch.float64), torch.randn(b, *shape2, dtype=torch.float64)
        draws = random_draws(b, 4, gen)
        mixed = feature_cutmix(g1, g2, axes=axes, draws=draws)
        for i in range(b):
            expected, lam = reference_mix(g1[i], g2[i], "cthw", axes, float(draws.lam0[i]),
                                          draws.source[i].tolist(), draws.dest[i].tolist())
            assert torch.equal(mixed.x[i], expected), (name, i)
            assert mixed.lam[i].item() == pytest.approx(lam, abs=1e-6), (name, i)


@pytest.mark.parametrize("axes", ["s", "s+t+c"])
def test_skeleton_layout_matches_the_reference_and_never_cuts_bodies(axes):
    gen = torch.Generator().manual_seed(1)
    b = 3
    for shape1, shape2 in [((2, 4, 6, 25), (2, 8, 3, 25)), ((2, 6, 5, 25), (2, 6, 5, 25))]:  # (M, C, T, V)
        g1, g2 = torch.randn(b, *shape1, dtype=torch.float64), torch.randn(b, *shape2, dtype=torch.float64)
        draws = random_draws(b, 4, gen)
        mixed = feature_cutmix(g1, g2, "mctv", "mctv", axes=axes, draws=draws)
        for i in range(b):
            expected, lam = reference_mix(g1[i], g2[i], "mctv", axes, float(draws.lam0[i]),
                                          draws.source[i].tolist(), draws.dest[i].tolist())
            assert torch.equal(mixed.x[i], expected)
            assert mixed.lam[i].item() == pytest.approx(lam, abs=1e-6)
            changed = mixed.x[i] != g1[i]  # (M, C, T, V)
            assert torch.equal(changed[0], changed[1])  # both bodies get the same box
    with pytest.raises(ValueError, match="never cut"):
        feature_cutmix(torch.zeros(2, 2, 4, 4, 5), torch.zeros(2, 1, 4, 4, 5), "mctv", "mctv")


def test_a_generator_draw_can_be_replayed():
    g1, g2 = torch.randn(5, 4, 6, 5, 5), torch.randn(5, 8, 3, 3, 3)
    direct = feature_cutmix(g1, g2, generator=torch.Generator().manual_seed(3), alpha=0.7)
    draws = draw_cut(5, 4, alpha=0.7, generator=torch.Generator().manual_seed(3))
    replay = feature_cutmix(g1, g2, draws=draws)
    assert torch.equal(direct.x, replay.x) and torch.equal(direct.lam, replay.lam)
    with pytest.raises(ValueError, match="draws do not fit"):
        feature_cutmix(g1, g2, draws=draw_cut(4, 4))


def test_the_paper_rule_pastes_all_partner_frames_prefix_or_suffix():
    """(bt1, bt2) = (0, t2): with t drawn, the pasted source frames are all of g2's, a prefix or a
    suffix of them — never a range strictly inside (the old rule did that for 31% of samples)."""
    gen = torch.Generator().manual_seed(4)
    t1, t2 = 8, 6
    g1 = torch.zeros(400, 2, t1, 4, 4, dtype=torch.float64)
    g2 = torch.arange(1, t2 + 1, dtype=torch.float64).view(1, 1, t2, 1, 1).expand(400, 2, t2, 4, 4)
    mixed = feature_cutmix(g1, g2, axes="s+t+c", generator=gen)
    kinds = set()
    for sample in mixed.x:
        frames = sorted({int(v) for v in sample.unique().tolist() if v != 0})
        if frames:
            assert frames == list(range(frames[0], frames[-1] + 1))
            assert frames[0] == 1 or frames[-1] == t2, frames
            kinds.add("all" if frames == list(range(1, t2 + 1)) else "prefix" if frames[0] == 1 else "suffix")
    assert kinds == {"all", "prefix", "suffix"}


def test_axes_not_drawn_are_aligned_at_zero():
    gen = torch.Generator().manual_seed(5)
    g1 = torch.zeros(50, 4, 6, 5, 5, dtype=torch.float64)
    g2 = torch.ones(50, 8, 3, 5, 5, dtype=torch.float64)
    for axes, drawn in (("s", "hw"), ("s+t", "thw"), ("s+t+c", "cthw")):
        assert drawn_letters("cthw", axes) == list(drawn)
        mixed = feature_cutmix(g1, g2, axes=axes, generator=gen)
        pasted = mixed.x != 0
        for sample in pasted[pasted.flatten(1).any(1)]:
            channels = sample.flatten(1).any(1).nonzero().flatten().tolist()
            frames = sample.transpose(0, 1).flatten(1).any(1).nonzero().flatten().tolist()
            if "c" not in drawn:
                assert channels == [0, 1, 2, 3]  # min(c1, c2) channels from 0
            if "t" not in drawn:
                assert frames == [0, 1, 2]  # min(t1, t2) frames from 0
    assert drawn_letters("mctv", "s+t+c") == ["c", "t", "v"] and drawn_letters("mctv", "s") == ["v"]


# -- the mean λ over many draws against its exact expectation ------------------------------------------


def _placed_length(n1: int, extent: int, centre: int) -> int:
    start = centre - extent // 2
    return min(start + extent, n1) - max(start, 0)


def _mean_placed(n: int, extent: int) -> float:
    """E over a uniform centre of g1 of the clipped length of a range of ``extent`` (equal shapes)."""
    return sum(_placed_length(n, extent, c) for c in range(n)) / n


def _mean_spatial(n: int, e: int) -> float:
    """E over uniform source and destination centres of the pasted length on a spatial axis."""
    total = 0
    for c_src in range(n):
        clipped = min(c_src - e // 2 + e, n) - max(c_src - e // 2, 0)
        total += sum(_placed_length(n, clipped, c) for c in range(n))
    return total / n ** 2


def expected_lambda(c: int, t: int, h: int, w: int, axes: str) -> float:
    """E[λ] at equal shapes, λ₀ ~ U(0, 1), integrated exactly: ``e = ⌊n·√(1−λ₀)⌋`` is piecewise
    constant in ``x = 1 − λ₀ ~ U(0, 1)`` with steps at ``x = (k/n)²``."""
    steps = sorted({(k / h) ** 2 for k in range(h + 1)} | {(k / w) ** 2 for k in range(w + 1)})
    spatial = 0.0
    for lo, hi in zip(steps, steps[1:]):
        mid = (lo + hi) / 2
        spatial += (hi - lo) * _mean_spatial(h, math.floor(h * mid ** 0.5)) * _mean_spatial(
            w, math.floor(w * mid ** 0.5))
    t_share = _mean_placed(t, t) if "t" in axes else t
    c_share = _mean_placed(c, c) if "c" in axes.split("+") else c
    return 1.0 - spatial * t_share * c_share / (c * t * h * w)


@pytest.mark.parametrize("axes", ["s", "s+t", "s+t+c"])
def test_mean_lambda_matches_the_exact_expectation(axes):
    shape = (5, 4, 6, 7)  # (C, T, H, W)
    n = 20000
    g = torch.zeros(n, *shape)
    lam = feature_cutmix(g, g, axes=axes, generator=torch.Generator().manual_seed(7)).lam.double()
    expected = expected_lambda(*shape, axes)
    tolerance = 4 * lam.std().item() / n ** 0.5
    assert abs(lam.mean().item() - expected) < tolerance, (lam.mean().item(), expected, tolerance)


def test_alpha_sets_the_beta_distribution_and_fold_lambda_folds_mixup():
    g = torch.zeros(40000, 2, 2, 2, 2)
    for alpha in (1.0, 0.2, 4.0):
        lam = feature_cutmix(g, g, op="mixup", alpha=alpha, generator=torch.Generator().manual_seed(8)).lam
        variance = 1 / (4 * (2 * alpha + 1))  # Var of Beta(α, α)
        assert lam.double().var().item() == pytest.approx(variance, rel=0.05), alpha
    folded = feature_cutmix(g, g, op="mixup", fold_lambda=True, generator=torch.Generator().manual_seed(8))
    assert folded.lam.min() >= 0.5 and folded.lam.double().mean().item() == pytest.approx(0.75, abs=0.005)
    # cutmix: the box's λ₀ comes from draw_cut (test_a_generator_draw_can_be_replayed), Beta(α, α)
    for alpha in (0.2, 4.0):
        lam0 = draw_cut(40000, 4, alpha, torch.Generator().manual_seed(9)).lam0
        assert lam0.var().item() == pytest.approx(1 / (4 * (2 * alpha + 1)), rel=0.05), alpha
    with pytest.raises(ValueError, match="fold_lambda"):
        feature_cutmix(g, g, fold_lambda=True)
    with pytest.raises(ValueError, match="alpha"):
        feature_cutmix(g, g, alpha=0.0)


# -- mixup, gradients, layouts ------------------------------------------------------------------------


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
