"""Input-space video mixers on ``(B, C, T, H, W)`` batches of any channel count.

Every mixer is a label-agnostic callable ``mixer(x, generator=None) -> Mixed``:

* ``Mixed.x`` — the mixed batch, same shape and dtype as ``x``;
* ``Mixed.lam`` — ``(B,)`` float32 on ``x.device``: the weight of sample i's own content
  (cut mixers: share of i's voxels after box clipping; blend mixers: the blend weight;
  CutMixUp variants: the label weight of seed 002 eq. 1; Cutout variants: 1);
* ``Mixed.perm`` — ``(B,)`` int64: sample i was mixed with ``perm[i]``, drawn with
  ``torch.randperm`` (it may have fixed points, whose ``lam`` is then label-irrelevant).

Sampling modes: ``per_sample=False`` (default; peer taeoh-kim/temporal_data_augmentation
and VideoMix) draws one λ and one box location per batch; ``per_sample=True`` (i-Mix)
draws a λ and a box per sample. ``lam=...`` fixes λ (ablations, tests). The same
``torch.Generator`` gives the same result.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor

from vimix_ssl.mixing import boxes
from vimix_ssl.mixing.base import Mixed, identity

FillMode = Literal["zero", "mean"]


def _require_float(x: Tensor, name: str) -> None:
    if not x.is_floating_point():
        raise TypeError(f"{name} blends clips and needs a floating-point batch, got dtype {x.dtype}")


def _pack(x: Tensor, lam: Tensor, perm: Tensor) -> Mixed:
    return Mixed(x, lam.to(device=x.device, dtype=torch.float32), perm.to(x.device))


def _sizes(x: Tensor) -> tuple[int, int, int]:
    return int(x.shape[2]), int(x.shape[3]), int(x.shape[4])


class NoMix:
    """Baseline: returns the batch unchanged with ``lam = 1`` and the identity permutation."""

    def __call__(self, x: Tensor, generator: torch.Generator | None = None) -> Mixed:
        boxes.check_video(x)
        return identity(x)


class _LambdaMixer:
    """Shared λ sampling: Beta(alpha, alpha) per batch or per sample, or a fixed ``lam``."""

    def __init__(self, alpha: float = 1.0, per_sample: bool = False, lam: float | None = None) -> None:
        if not alpha > 0:
            raise ValueError(f"alpha must be > 0, got {alpha}")
        if lam is not None and not 0.0 <= lam <= 1.0:
            raise ValueError(f"lam must be in [0, 1], got {lam}")
        self.alpha, self.per_sample, self.lam = float(alpha), bool(per_sample), lam

    def sample_lam(self, count: int, generator: torch.Generator | None) -> Tensor:
        return boxes.sample_lam(count, self.alpha, self.per_sample, self.lam, generator)

    def __repr__(self) -> str:
        fields = ", ".join(f"{k}={v!r}" for k, v in vars(self).items())
        return f"{type(self).__name__}({fields})"


class Mixup(_LambdaMixer):
    """``λ x + (1 − λ) x[perm]`` over the whole clip (Zhang et al.; i-Mix with ``fold_lambda``).

    ``fold_lambda=True`` maps λ to ``max(λ, 1 − λ)`` (i-Mix / METHOD §2: the own sample dominates).
    """

    def __init__(self, alpha: float = 1.0, per_sample: bool = False, fold_lambda: bool = False,
                 lam: float | None = None) -> None:
        super().__init__(alpha, per_sample, lam)
        self.fold_lambda = bool(fold_lambda)

    name = "mixup"

    def own_weight(self, lam: Tensor, x: Tensor, generator: torch.Generator | None) -> Tensor:
        """Weight of each sample's own content, broadcastable to ``x`` (B, C, T, H, W)."""
        return lam.to(x.device, x.dtype).view(-1, 1, 1, 1, 1)

    def __call__(self, x: Tensor, generator: torch.Generator | None = None) -> Mixed:
        boxes.check_video(x)  # (B, C, T, H, W)
        _require_float(x, self.name)
        lam = self.sample_lam(x.shape[0], generator)
        if self.fold_lambda:
            lam = torch.maximum(lam, 1 - lam)
        perm = boxes.sample_perm(x.shape[0], generator)
        weight = self.own_weight(lam, x, generator)
        return _pack(weight * x + (1 - weight) * x[perm.to(x.device)], lam, perm)


class FadeMixUp(Mixup):
    """Mixup whose per-frame weight ramps linearly from ``λ − γ`` to ``λ + γ`` (seed 002 eq. 2).

    ``γ ~ U(0, min(λ, 1 − λ))``; the label weight is λ (the ramp is symmetric, so the
    per-frame weights average to λ). ``random_direction`` flips the ramp with p 0.5
    (peer: taeoh-kim/temporal_data_augmentation), so clips fade in as often as out.
    """

    def __init__(self, alpha: float = 1.0, per_sample: bool = False, fold_lambda: bool = False,
                 lam: float | None = None, random_direction: bool = True) -> None:
        super().__init__(alpha, per_sample, fold_lambda, lam)
        self.random_direction = bool(random_direction)

    def frame_weights(self, lam: Tensor, num_frames: int, generator: torch.Generator | None = None) -> Tensor:
        """Per-frame own-content weights ``(B, T)`` float64 for label weights ``lam`` ``(B,)``."""
        count = lam.shape[0]
        draws = 1 if not self.per_sample else count
        gamma = boxes.sample_uniform(draws, generator).expand(count) * torch.minimum(lam, 1 - lam)
        if self.random_direction:
            sign = torch.where(boxes.sample_uniform(draws, generator) < 0.5, -1.0, 1.0).expand(count)
            gamma = gamma * sign.to(torch.float64)
        if num_frames == 1:
            return lam.view(-1, 1).clone()
        ramp = torch.linspace(-1.0, 1.0, num_frames, dtype=torch.float64)  # (T,)
        return lam.view(-1, 1) + gamma.view(-1, 1) * ramp

    name = "fademixup"

    def own_weight(self, lam: Tensor, x: Tensor, generator: torch.Generator | None) -> Tensor:
        weights = self.frame_weights(lam, x.shape[2], generator)  # (B, T)
        return weights.to(x.device, x.dtype)[:, None, :, None, None]


class CutMix(_LambdaMixer):
    """Paste a box of the partner clip: ``axes="hw"`` VideoMix/CutMix (all frames),
    ``"t"`` FrameCutMix / temporal VideoMix (whole frames), ``"thw"`` CubeCutMix.

    The box holds ``1 − λ`` of the cut axes' volume (side ``(1 − λ)^{1/len(axes)}`` of each
    cut axis) at a uniform centre, clipped; λ is recomputed from the clipped box.
    """

    def __init__(self, axes: str = "hw", alpha: float = 1.0, per_sample: bool = False,
                 lam: float | None = None) -> None:
        super().__init__(alpha, per_sample, lam)
        self.axes = boxes.check_axes(axes)

    def sample_boxes(self, x: Tensor, generator: torch.Generator | None) -> tuple[Tensor, Tensor]:
        """Clipped boxes ``(starts, ends)`` each ``(B, 3)`` for the T, H, W axes."""
        lam = self.sample_lam(x.shape[0], generator)
        fractions = boxes.cut_fractions(1 - lam, self.axes)
        return boxes.sample_boxes(_sizes(x), fractions, self.axes, generator, same_box=not self.per_sample)

    def __call__(self, x: Tensor, generator: torch.Generator | None = None) -> Mixed:
        boxes.check_video(x)  # (B, C, T, H, W)
        starts, ends = self.sample_boxes(x, generator)
        perm = boxes.sample_perm(x.shape[0], generator)
        mask = boxes.box_mask(starts, ends, _sizes(x), x.device)  # (B, 1, T, H, W)
        mixed = torch.where(mask, x[perm.to(x.device)], x)
        return _pack(mixed, 1 - boxes.box_share(starts, ends, _sizes(x)), perm)


class CutMixUp(CutMix):
    """CutMixUp / FrameCutMixUp / CubeCutMixUp (seed 002 eq. 1, METHOD §6).

    Inside the box: mixup ``λ₁ x + (1 − λ₁) x[perm]`` with ``λ₁ ~ Beta(blend_alpha, blend_alpha)``
    (paper: Beta(2, 2)); outside: the pure clip that the blend favours less (``x`` if λ₁ < 0.5,
    else ``x[perm]``). With ``m`` the clipped box share, the label weight of ``x`` is
    ``λ₁ m + (1 − m)`` if λ₁ < 0.5 else ``λ₁ m``. ``mixup_probability`` makes the box the whole
    clip (plain mixup with λ₁) with that probability per call (peer code uses 0.5; paper 0).
    """

    def __init__(self, axes: str = "hw", alpha: float = 1.0, blend_alpha: float = 2.0,
                 per_sample: bool = False, lam: float | None = None, blend_lam: float | None = None,
                 mixup_probability: float = 0.0) -> None:
        super().__init__(axes, alpha, per_sample, lam)
        if not blend_alpha > 0:
            raise ValueError(f"blend_alpha must be > 0, got {blend_alpha}")
        if not 0.0 <= mixup_probability <= 1.0:
            raise ValueError(f"mixup_probability must be in [0, 1], got {mixup_probability}")
        self.blend_alpha, self.blend_lam = float(blend_alpha), blend_lam
        self.mixup_probability = float(mixup_probability)

    def __call__(self, x: Tensor, generator: torch.Generator | None = None) -> Mixed:
        boxes.check_video(x)  # (B, C, T, H, W)
        _require_float(x, "cutmixup")
        sizes = _sizes(x)
        starts, ends = self.sample_boxes(x, generator)
        if self.mixup_probability > 0 and boxes.sample_uniform(1, generator).item() < self.mixup_probability:
            starts, ends = torch.zeros_like(starts), torch.tensor(sizes).expand_as(ends).clone()
        perm = boxes.sample_perm(x.shape[0], generator)
        blend_lam = boxes.sample_lam(x.shape[0], self.blend_alpha, self.per_sample, self.blend_lam, generator)
        partner = x[perm.to(x.device)]
        weight = blend_lam.to(x.device, x.dtype).view(-1, 1, 1, 1, 1)
        blended = weight * x + (1 - weight) * partner
        own_outside = (blend_lam < 0.5).to(x.device).view(-1, 1, 1, 1, 1)
        outside = torch.where(own_outside, x, partner)
        mask = boxes.box_mask(starts, ends, sizes, x.device)  # (B, 1, T, H, W)
        share = boxes.box_share(starts, ends, sizes)  # m
        lam = torch.where(blend_lam < 0.5, blend_lam * share + (1 - share), blend_lam * share)
        return _pack(torch.where(mask, blended, outside), lam, perm)


class Cutout:
    """Delete a box: Cutout (``"hw"``), FrameCutOut (``"t"``), CubeCutOut (``"thw"``) (seed 002 §3.2).

    The box has fixed side fractions (paper: 80×80 of a 160 crop → ``spatial_fraction=0.5``;
    16 of 64 frames → ``temporal_fraction=0.25``) at a uniform centre, clipped, one per
    sample by default (as the original Cutout). ``fill="zero"`` writes 0 (the dataset mean
    for normalised input); ``"mean"`` writes each clip's per-channel mean. The label is
    unchanged, so ``lam = 1`` and ``perm`` is the identity; :meth:`erase` also returns the
    erased share of each clip.
    """

    def __init__(self, axes: str = "hw", spatial_fraction: float = 0.5, temporal_fraction: float = 0.25,
                 fill: FillMode = "zero", per_sample: bool = True) -> None:
        self.axes = boxes.check_axes(axes)
        for name, value in (("spatial_fraction", spatial_fraction), ("temporal_fraction", temporal_fraction)):
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {value}")
        if fill not in ("zero", "mean"):
            raise ValueError(f"fill must be 'zero' or 'mean', got {fill!r}")
        self.spatial_fraction, self.temporal_fraction = float(spatial_fraction), float(temporal_fraction)
        self.fill, self.per_sample = fill, bool(per_sample)

    def erase(self, x: Tensor, generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
        """``(erased batch, erased share (B,) float32)`` for a ``(B, C, T, H, W)`` batch."""
        boxes.check_video(x)
        sizes = _sizes(x)
        fractions = (self.temporal_fraction, self.spatial_fraction, self.spatial_fraction)
        starts, ends = boxes.fixed_size_boxes(sizes, fractions, x.shape[0], self.axes, generator,
                                              same_box=not self.per_sample)
        mask = boxes.box_mask(starts, ends, sizes, x.device)  # (B, 1, T, H, W)
        if self.fill == "mean":
            _require_float(x, "cutout with fill='mean'")
            value = x.mean(dim=(2, 3, 4), keepdim=True)  # (B, C, 1, 1, 1)
        else:
            value = torch.zeros((), dtype=x.dtype, device=x.device)
        erased = boxes.box_share(starts, ends, sizes).to(device=x.device, dtype=torch.float32)
        return torch.where(mask, value, x), erased

    def __call__(self, x: Tensor, generator: torch.Generator | None = None) -> Mixed:
        erased, _ = self.erase(x, generator)
        return identity(erased)

    def __repr__(self) -> str:
        return (f"Cutout(axes={self.axes!r}, spatial_fraction={self.spatial_fraction}, "
                f"temporal_fraction={self.temporal_fraction}, fill={self.fill!r}, "
                f"per_sample={self.per_sample})")
