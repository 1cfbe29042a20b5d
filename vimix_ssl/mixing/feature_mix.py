"""Feature-space mixing for Cross-Modal Manifold CutMix (METHOD §3): ``feature_cutmix``.

Mixes a hidden map ``g1`` of the trained encoder with a hidden map ``g2`` of the partner
(another encoder, or the same one) whose shape may differ on every axis: the partner may
be cut at a deeper layer (smaller ``t, h, w``, more channels). ``g2[i]`` is the partner
map already aligned with sample ``i`` (the caller computed it on ``x2[perm]``).

Layouts (axis letters after the batch axis): ``"cthw"`` video ``(B, C, T, H, W)`` and
``"mctv"`` skeleton ``(B, M, C, T, V)``. Spatial axes are ``h, w`` (video) or ``v``
(skeleton joints, 1-D); ``m`` (bodies) is never cut and must match.

Box rule (``op="cutmix"``), per sample:

1. ``λ₀ ~ U(0, 1)``. Every *cut* axis of the source box gets the same fraction
   ``(1 − λ₀)^(1/d)`` of the partner's extent, ``d`` = number of cut axes (``axes="s"`` on
   video: ``d = 2``, the paper's ``√(1−λ₀)`` box; on skeleton ``d = 1``, ``V·(1−λ₀)``;
   ``"s+t"`` on video: cube roots, as the input ``st_cutmix``; ``"s+t+c"``: 4th roots). So
   the unclipped source box holds a share ``1 − λ₀`` of ``g2`` whatever the axes.
   Extents are ``floor(n2 · fraction)``; centres are uniform; boxes are clipped.
2. Destination on a cut axis: a box of the (clipped) source extent centred at a uniform
   point of ``g1``, clipped to ``g1``; it receives the equally clipped source values.
3. An axis that is **not** cut spans the partner's full extent: if ``n2 ≤ n1`` all
   ``n2`` partner positions are pasted at a uniform offset of ``g1`` that keeps them
   inside (no clipping: centring then clipping would cut the axis, contradicting "not
   cut"); if ``n2 > n1`` all of ``g1``'s positions receive a window of ``n1`` partner
   positions at a uniform offset ("clipped to g1").
4. ``λ = 1 − pasted voxels / voxels of g1`` per sample (counted from the mask).

``op="mixup"``: ``λ ~ U(0,1)`` per sample, ``λ·g1 + (1−λ)·g2``; needs equal shapes
(``l = k``); ``axes`` does not apply.
"""

from __future__ import annotations

import torch
from torch import Tensor

from vimix_ssl.mixing.base import Mixed

AXES_CHOICES = ("s", "s+t", "s+t+c")
OPS = ("cutmix", "mixup")
LAYOUTS = {"cthw": "video (B, C, T, H, W)", "mctv": "skeleton (B, M, C, T, V)"}
SPATIAL_LETTERS = frozenset("hwv")
NEVER_CUT_LETTERS = frozenset("m")


def cut_letters(layout: str, axes: str) -> list[str]:
    """The layout letters ``axes`` cuts, e.g. ``cut_letters("cthw", "s+t") == ["t", "h", "w"]``."""
    if axes not in AXES_CHOICES:
        raise ValueError(f"axes={axes!r} is not one of {list(AXES_CHOICES)}")
    if layout not in LAYOUTS:
        raise ValueError(f"feature layout {layout!r} is not one of {sorted(LAYOUTS)}")
    parts = set(axes.split("+"))
    out = []
    for letter in layout:
        if letter in SPATIAL_LETTERS and "s" in parts:
            out.append(letter)
        elif letter in ("t", "c") and letter in parts:
            out.append(letter)
    return out


def _uniform(batch: int, generator: torch.Generator | None) -> Tensor:
    device = generator.device if generator is not None else torch.device("cpu")
    return torch.rand(batch, generator=generator, device=device).cpu()  # (B,) float in [0, 1)


def _randint(high: Tensor, generator: torch.Generator | None) -> Tensor:
    """Uniform integers in ``[0, high)`` per sample; ``high`` (B,) int64 ≥ 1."""
    return (_uniform(high.shape[0], generator) * high).long().clamp(max=high - 1)


def _axis_plan(n1: int, n2: int, cut: bool, fraction: Tensor, generator: torch.Generator | None
               ) -> tuple[Tensor, Tensor, Tensor]:
    """Destination range ``[d0, d1)`` in g1 and ``shift`` (source index = dest index + shift).

    All (B,) int64.
    """
    b = fraction.shape[0]
    if cut:
        extent = (n2 * fraction).floor().long()  # (B,)
        centre = _randint(torch.full((b,), n2), generator)
        s0 = (centre - extent // 2).clamp(0, n2)
        s1 = (centre - extent // 2 + extent).clamp(0, n2)
        extent = s1 - s0  # clipped source extent
        u = _randint(torch.full((b,), n1), generator) - extent // 2  # unclipped dest start
        return u.clamp(0, n1), (u + extent).clamp(0, n1), s0 - u
    if n2 <= n1:  # paste every partner position, fully inside g1
        d0 = _randint(torch.full((b,), n1 - n2 + 1), generator)
        return d0, d0 + n2, -d0
    start = _randint(torch.full((b,), n2 - n1 + 1), generator)  # a window of n1 partner positions
    return torch.zeros(b, dtype=torch.long), torch.full((b,), n1), start


def _check(g1: Tensor, g2: Tensor, layout1: str, layout2: str) -> Tensor:
    """Validate shapes/layouts; return g2 permuted into layout1's axis order."""
    for name, g, layout in (("g1", g1, layout1), ("g2", g2, layout2)):
        if layout not in LAYOUTS:
            raise ValueError(f"{name}: layout {layout!r} is not one of {sorted(LAYOUTS)}")
        if g.dim() != len(layout) + 1:
            raise ValueError(f"{name}: layout {layout!r} ({LAYOUTS[layout]}) needs a "
                             f"{len(layout) + 1}-D tensor, got shape {tuple(g.shape)}")
    if sorted(layout1) != sorted(layout2):
        raise ValueError(f"cannot mix layouts {layout1!r} and {layout2!r}: different axes")
    if g1.shape[0] != g2.shape[0]:
        raise ValueError(f"batch sizes differ: g1 {tuple(g1.shape)} vs g2 {tuple(g2.shape)}")
    if layout2 != layout1:
        g2 = g2.permute(0, *[layout2.index(letter) + 1 for letter in layout1])
    for a, letter in enumerate(layout1, start=1):
        if letter in NEVER_CUT_LETTERS and g1.shape[a] != g2.shape[a]:
            raise ValueError(f"axis {letter!r} is never cut and must match: g1 {tuple(g1.shape)} "
                             f"vs g2 {tuple(g2.shape)} (layout {layout1!r})")
    return g2


def feature_cutmix(
    g1: Tensor,
    g2: Tensor,
    layout1: str = "cthw",
    layout2: str = "cthw",
    axes: str = "s+t+c",
    op: str = "cutmix",
    perm: Tensor | None = None,
    generator: torch.Generator | None = None,
) -> Mixed:
    """Paste a box of the partner map ``g2`` into ``g1`` (or mix them up); see the module doc.

    Args:
        g1: trained encoder's map, ``(B, *shape1)`` in ``layout1``; gradients flow through it.
        g2: partner map aligned per sample, ``(B, *shape2)`` in ``layout2``.
        axes: axes the box cuts: ``"s"``, ``"s+t"`` or ``"s+t+c"``.
        op: ``"cutmix"`` or ``"mixup"`` (needs equal shapes).
        perm: ``(B,)`` instance index of each ``g2[i]`` (for the loss); default identity.
        generator: RNG for λ₀ and box positions (CPU or the device's generator).

    Returns:
        ``Mixed(x, lam, perm)``: ``x`` shaped like ``g1``, ``lam`` (B,) float32 on ``g1``'s
        device = share of ``g1``'s own voxels, ``perm`` (B,) int64.
    """
    if op not in OPS:
        raise ValueError(f"op={op!r} is not one of {list(OPS)}")
    g2 = _check(g1, g2, layout1, layout2)
    b, device = g1.shape[0], g1.device
    if perm is None:
        perm = torch.arange(b, device=device)
    elif perm.shape != (b,):
        raise ValueError(f"perm must have shape ({b},), got {tuple(perm.shape)}")
    perm = perm.to(device=device, dtype=torch.long)
    lam0 = _uniform(b, generator)  # (B,) λ₀ ~ U(0, 1)

    if op == "mixup":
        if g1.shape != g2.shape:
            raise ValueError(f"op='mixup' needs equal feature shapes (l = k), got g1 "
                             f"{tuple(g1.shape)} and g2 {tuple(g2.shape)}")
        lam = lam0.to(device)
        w = lam.view(-1, *([1] * (g1.dim() - 1))).to(g1.dtype)
        return Mixed(w * g1 + (1 - w) * g2.to(g1.dtype), lam, perm)

    cut = set(cut_letters(layout1, axes))
    fraction = (1 - lam0) ** (1.0 / len(cut))  # (B,) per cut axis
    mask: Tensor | None = None
    index: list[Tensor] = [torch.arange(b, device=device).view(b, *([1] * len(layout1)))]
    for a, letter in enumerate(layout1, start=1):
        n1, n2 = g1.shape[a], g2.shape[a]
        d0, d1, shift = _axis_plan(n1, n2, letter in cut, fraction, generator)
        ar = torch.arange(n1)
        axis_mask = (ar >= d0[:, None]) & (ar < d1[:, None])  # (B, n1)
        axis_index = (ar + shift[:, None]).clamp(0, n2 - 1)  # (B, n1) source positions
        view = [b] + [1] * len(layout1)
        view[a] = n1
        axis_mask = axis_mask.view(view).to(device)
        mask = axis_mask if mask is None else mask & axis_mask
        index.append(axis_index.view(view).to(device))
    assert mask is not None
    pasted = g2[tuple(index)].to(g1.dtype)  # (B, *shape1): partner value for each g1 voxel
    mixed = torch.where(mask, pasted, g1)
    lam = 1.0 - mask.flatten(1).sum(1).float() / float(mask[0].numel())  # (B,)
    return Mixed(mixed, lam, perm)
