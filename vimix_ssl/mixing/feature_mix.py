"""Feature-space mixing for Cross-Modal Manifold CutMix (Vi-Mix §3.2 eqs. 7–9, METHOD §3).

``feature_cutmix`` mixes a hidden map ``g1`` of the trained encoder with a hidden map ``g2``
of the partner (another encoder, or the same one) whose shape may differ on every axis:
the partner may be cut at a deeper layer (fewer frames, smaller maps, more channels) or a
shallower one. ``g2[i]`` is the partner map already aligned with sample ``i`` (the caller
computed it on ``x2[perm]``).

Layouts (axis letters after the batch axis): ``"cthw"`` video ``(B, C, T, H, W)`` and
``"mctv"`` skeleton ``(B, M, C, T, V)`` (ST-GCN's hidden maps keep the body axis M).
Spatial axes are ``h, w`` (video) or ``v`` (skeleton joints, 1-D); ``m`` (bodies) is never
cut: it must match and every body receives the same box.

The cut rule (``op="cutmix"``), per sample; the full rationale is in docs/ARCHITECTURE.md,
"Cross-Modal Manifold CutMix: the cut rule":

1. ``λ₀ ~ Beta(α, α)`` (the paper: α = 1, i.e. U(0, 1)).
2. Source box in ``g2`` (eq. 8): on the spatial axes a box whose sides are
   ``⌊n2 · (1−λ₀)^(1/d)⌋`` (``d`` = number of spatial axes: the paper's ``√(1−λ₀)`` for
   video, ``1−λ₀`` of the joints for skeletons) at a uniform integer centre, clipped to
   ``g2``; **all** of ``g2``'s frames and channels (``(bt1, bt2) = (0, t2)``,
   ``(bc1, bc2) = (0, c2)``).
3. Destination in ``g1`` (eq. 9), on every axis ``axes`` draws (``s``: h, w / v;
   ``s+t``: and t; ``s+t+c``: and c): a range of the (clipped) source extent centred at a
   uniform integer point of ``g1`` (``start = centre − ⌊extent/2⌋``), clipped to ``g1``; the
   source range is clipped equally. On an axis ``axes`` does not draw (t for ``s``; c for
   ``s`` and ``s+t``) source and destination are aligned at 0 and span ``min(n1, n2)``.
4. ``g_mix = M ⊙ g1 + (1 − M) ⊙ g2`` (eq. 7) and ``λ = 1 − pasted voxels / voxels of g1``.

Randomness is drawn once per batch into ``CutDraws`` (``draw_cut``); ``cut_plan`` turns
draws into per-axis ranges deterministically, so a cut can be replayed or injected
(``feature_cutmix(..., draws=...)``).

``op="mixup"`` (Table 2 "CM mixup"): ``λ ~ Beta(α, α)`` per sample (``fold_lambda``:
``λ → max(λ, 1−λ)``), ``λ·g1 + (1−λ)·g2``; needs equal shapes (``l = k``).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from vimix_ssl.mixing.base import Mixed
from vimix_ssl.mixing.boxes import sample_beta, sample_uniform

AXES_CHOICES = ("s", "s+t", "s+t+c")
OPS = ("cutmix", "mixup")
LAYOUTS = {"cthw": "video (B, C, T, H, W)", "mctv": "skeleton (B, M, C, T, V)"}
SPATIAL_LETTERS = frozenset("hwv")
NEVER_CUT_LETTERS = frozenset("m")


def drawn_letters(layout: str, axes: str) -> list[str]:
    """The layout letters whose destination ``axes`` draws, e.g. ``("cthw", "s+t") -> [t, h, w]``."""
    if axes not in AXES_CHOICES:
        raise ValueError(f"axes={axes!r} is not one of {list(AXES_CHOICES)}")
    if layout not in LAYOUTS:
        raise ValueError(f"feature layout {layout!r} is not one of {sorted(LAYOUTS)}")
    parts = set(axes.split("+"))
    return [letter for letter in layout
            if (letter in SPATIAL_LETTERS and "s" in parts) or (letter in ("t", "c") and letter in parts)]


@dataclass
class CutDraws:
    """The random draws of one batch of cuts; ``cut_plan`` makes them into boxes.

    ``lam0`` (B,) float64: λ₀. ``source`` and ``dest`` (B, A) float64 in [0, 1), one column
    per layout axis: the source-box centre is ``⌊source · n2⌋`` (used on spatial axes) and
    the destination centre ``⌊dest · n1⌋`` (used on the axes ``axes`` draws).
    """

    lam0: Tensor
    source: Tensor
    dest: Tensor


def draw_cut(batch: int, num_axes: int, alpha: float = 1.0,
             generator: torch.Generator | None = None) -> CutDraws:
    """λ₀ ~ Beta(α, α) (α = 1: U(0, 1)) and uniform box centres for ``batch`` samples."""
    lam0 = sample_uniform(batch, generator) if alpha == 1.0 else sample_beta(alpha, batch, generator)
    source = sample_uniform(batch * num_axes, generator).view(batch, num_axes)
    dest = sample_uniform(batch * num_axes, generator).view(batch, num_axes)
    return CutDraws(lam0, source, dest)


@dataclass
class AxisCut:
    """One axis of a cut, per sample (B,) int64: destination ``[start, end)`` in g1 and
    ``shift`` (source position = destination position + shift)."""

    start: Tensor
    end: Tensor
    shift: Tensor


def _centred(n: int, extent: Tensor, u: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Range of ``extent`` centred at ``⌊u·n⌋``: (unclipped start, clipped start, clipped end)."""
    centre = (u * n).floor().long().clamp(max=n - 1)
    start = centre - extent // 2
    return start, start.clamp(0, n), (start + extent).clamp(0, n)


def cut_plan(shape1: tuple[int, ...], shape2: tuple[int, ...], layout: str, axes: str,
             draws: CutDraws) -> list[AxisCut]:
    """Per-axis ranges of the cut (shapes without the batch axis, both in ``layout``'s order)."""
    drawn = set(drawn_letters(layout, axes))
    spatial = sum(letter in SPATIAL_LETTERS for letter in layout)
    side = (1.0 - draws.lam0) ** (1.0 / spatial)  # (B,) eq. 8: √(1−λ₀) on a 2-D map
    b = draws.lam0.shape[0]
    plan = []
    for a, letter in enumerate(layout):
        n1, n2 = shape1[a], shape2[a]
        if letter in SPATIAL_LETTERS:  # source box: a share of g2's extent at a uniform centre
            extent = (n2 * side).floor().long()
            _, s0, s1 = _centred(n2, extent, draws.source[:, a])
        else:  # all of g2's positions: (bt1, bt2) = (0, t2), (bc1, bc2) = (0, c2); bodies likewise
            s0, s1 = torch.zeros(b, dtype=torch.long), torch.full((b,), n2)
        if letter in drawn:  # eq. 9: the source extent centred at a uniform point of g1, clipped
            start, d0, d1 = _centred(n1, s1 - s0, draws.dest[:, a])
            plan.append(AxisCut(d0, d1, s0 - start))
        else:  # aligned at 0 (bodies: n1 == n2, so the whole axis)
            plan.append(AxisCut(torch.zeros(b, dtype=torch.long), torch.full((b,), min(n1, n2)), s0))
    return plan


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


def _apply(g1: Tensor, g2: Tensor, plan: list[AxisCut]) -> tuple[Tensor, Tensor]:
    """``(g_mix, λ)`` for a plan: eq. 7 with the mask built axis by axis."""
    b, device, ndim = g1.shape[0], g1.device, g1.dim() - 1
    mask: Tensor | None = None
    index: list[Tensor] = [torch.arange(b, device=device).view(b, *([1] * ndim))]
    pasted = torch.ones(b, dtype=torch.float64)
    for a, cut in enumerate(plan, start=1):
        n1, n2 = g1.shape[a], g2.shape[a]
        ar = torch.arange(n1)
        view = [b] + [1] * ndim
        view[a] = n1
        axis_mask = ((ar >= cut.start[:, None]) & (ar < cut.end[:, None])).view(view).to(device)  # (B, n1)
        mask = axis_mask if mask is None else mask & axis_mask
        index.append((ar + cut.shift[:, None]).clamp(0, n2 - 1).view(view).to(device))  # source positions
        pasted *= (cut.end - cut.start).double()
    assert mask is not None
    partner = g2[tuple(index)].to(g1.dtype)  # (B, *shape1): partner value for each g1 voxel
    lam = 1.0 - pasted / float(g1[0].numel())  # (B,)
    return torch.where(mask, partner, g1), lam.float().to(device)


def feature_cutmix(
    g1: Tensor,
    g2: Tensor,
    layout1: str = "cthw",
    layout2: str = "cthw",
    axes: str = "s+t+c",
    op: str = "cutmix",
    perm: Tensor | None = None,
    generator: torch.Generator | None = None,
    alpha: float = 1.0,
    fold_lambda: bool = False,
    draws: CutDraws | None = None,
) -> Mixed:
    """Paste a box of the partner map ``g2`` into ``g1`` (or mix them up); see the module doc.

    Args:
        g1: trained encoder's map, ``(B, *shape1)`` in ``layout1``; gradients flow through it.
        g2: partner map aligned per sample, ``(B, *shape2)`` in ``layout2``.
        axes: axes whose destination is drawn: ``"s"``, ``"s+t"`` or ``"s+t+c"`` (cutmix only).
        op: ``"cutmix"`` or ``"mixup"`` (needs equal shapes).
        perm: ``(B,)`` instance index of each ``g2[i]`` (for the loss); default identity.
        generator: RNG for λ₀ and box positions (CPU or the device's generator).
        alpha: λ₀ ~ Beta(α, α); 1 = U(0, 1) (the paper).
        fold_lambda: mixup only: λ → max(λ, 1−λ).
        draws: replay these draws instead of drawing (``draw_cut``); ``generator`` is then unused.

    Returns:
        ``Mixed(x, lam, perm)``: ``x`` shaped like ``g1``, ``lam`` (B,) float32 on ``g1``'s
        device = share of ``g1``'s own voxels, ``perm`` (B,) int64.
    """
    if op not in OPS:
        raise ValueError(f"op={op!r} is not one of {list(OPS)}")
    if not alpha > 0:
        raise ValueError(f"alpha must be > 0 for Beta(alpha, alpha), got {alpha}")
    if fold_lambda and op != "mixup":
        raise ValueError("fold_lambda applies to op='mixup' only (cutmix's λ is the pasted volume)")
    g2 = _check(g1, g2, layout1, layout2)
    b, device = g1.shape[0], g1.device
    if perm is None:
        perm = torch.arange(b, device=device)
    elif perm.shape != (b,):
        raise ValueError(f"perm must have shape ({b},), got {tuple(perm.shape)}")
    perm = perm.to(device=device, dtype=torch.long)
    if draws is None:
        draws = draw_cut(b, len(layout1), alpha, generator)
    elif (draws.lam0.shape != (b,) or draws.source.shape != (b, len(layout1))
          or draws.dest.shape != (b, len(layout1))):
        raise ValueError(f"draws do not fit a batch of {b} maps with {len(layout1)} axes")

    if op == "mixup":
        if g1.shape != g2.shape:
            raise ValueError(f"op='mixup' needs equal feature shapes (l = k), got g1 "
                             f"{tuple(g1.shape)} and g2 {tuple(g2.shape)}")
        lam = draws.lam0.float()
        if fold_lambda:
            lam = torch.maximum(lam, 1 - lam)
        lam = lam.to(device)
        w = lam.view(-1, *([1] * (g1.dim() - 1))).to(g1.dtype)
        return Mixed(w * g1 + (1 - w) * g2.to(g1.dtype), lam, perm)

    plan = cut_plan(tuple(g1.shape[1:]), tuple(g2.shape[1:]), layout1, axes, draws)
    mixed, lam = _apply(g1, g2, plan)
    return Mixed(mixed, lam, perm)
