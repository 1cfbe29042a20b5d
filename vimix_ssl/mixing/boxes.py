"""Small pure helpers for random boxes on the T/H/W axes of a video batch, and λ sampling.

A box is described per sample by integer ``starts`` and ``ends`` (each ``(B, 3)``, axes
T, H, W, end exclusive). An axis that is not cut spans its full extent. Boxes are clipped
to the video bounds, so the effective λ is always recomputed from the clipped box.

Randomness: every helper takes an optional ``torch.Generator`` and draws on the
generator's device (CPU unless the caller passes a CUDA generator), so results are
deterministic given the generator; with ``generator=None`` the global torch RNG is used.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

AXES = "thw"  # box axes, in the order of dims 2, 3, 4 of a (B, C, T, H, W) batch


def check_video(x: Tensor, name: str = "x") -> None:
    """Refuse anything that is not a ``(B, C, T, H, W)`` batch with B >= 1."""
    if x.dim() != 5:
        raise ValueError(f"{name}: expected a video batch (B, C, T, H, W), got shape {tuple(x.shape)}")
    if x.shape[0] < 1:
        raise ValueError(f"{name}: empty batch, shape {tuple(x.shape)}")


def check_axes(axes: str) -> str:
    """Validate an axis string such as ``"hw"``, ``"t"`` or ``"thw"``."""
    if not axes or any(a not in AXES for a in axes) or len(set(axes)) != len(axes):
        raise ValueError(f"axes must be a non-empty subset of {AXES!r} without repeats, got {axes!r}")
    return "".join(a for a in AXES if a in axes)  # canonical order


def _device(generator: torch.Generator | None) -> torch.device:
    return generator.device if generator is not None else torch.device("cpu")


def sample_beta(alpha: float, count: int, generator: torch.Generator | None = None) -> Tensor:
    """``count`` draws of Beta(alpha, alpha) as float64 on CPU (deterministic given the generator).

    torch's Beta has no generator argument, so a numpy generator is seeded from ``generator``.
    """
    if not alpha > 0:
        raise ValueError(f"alpha must be > 0 for Beta(alpha, alpha), got {alpha}")
    seed = int(torch.randint(0, 2**62, (1,), generator=generator, device=_device(generator)).item())
    return torch.from_numpy(np.random.default_rng(seed).beta(alpha, alpha, size=count))


def sample_uniform(count: int, generator: torch.Generator | None = None) -> Tensor:
    """``count`` draws of U(0, 1) as float64 on CPU."""
    return torch.rand(count, generator=generator, device=_device(generator), dtype=torch.float64).cpu()


def sample_lam(count: int, alpha: float, per_sample: bool, fixed: float | None,
               generator: torch.Generator | None = None) -> Tensor:
    """λ per sample ``(count,)`` float64: ``fixed`` if given, else Beta(α, α), one per batch or per sample."""
    if fixed is not None:
        if not 0.0 <= fixed <= 1.0:
            raise ValueError(f"lam must be in [0, 1], got {fixed}")
        return torch.full((count,), float(fixed), dtype=torch.float64)
    lam = sample_beta(alpha, count if per_sample else 1, generator)
    return lam.expand(count).clone()


def sample_perm(count: int, generator: torch.Generator | None = None) -> Tensor:
    """Partner permutation ``(count,)`` int64 on CPU: ``torch.randperm`` (may have fixed points)."""
    return torch.randperm(count, generator=generator, device=_device(generator)).cpu()


def cut_fractions(cut_share: Tensor, axes: str) -> Tensor:
    """Side fraction per axis ``(B, 3)`` for a box holding ``cut_share`` of the volume.

    Each cut axis gets ``cut_share ** (1 / len(axes))`` (spatial √(1−λ), cube (1−λ)^{1/3}),
    an uncut axis gets 1 (full extent).
    """
    axes = check_axes(axes)
    share = cut_share.to(torch.float64).clamp(0.0, 1.0)
    side = share ** (1.0 / len(axes))
    cols = [side if a in axes else torch.ones_like(side) for a in AXES]
    return torch.stack(cols, dim=1)


def sample_boxes(sizes: tuple[int, int, int], fractions: Tensor, axes: str,
                 generator: torch.Generator | None = None, same_box: bool = False) -> tuple[Tensor, Tensor]:
    """Random clipped boxes ``(starts, ends)`` each ``(B, 3)`` int64 for side ``fractions`` ``(B, 3)``.

    On a cut axis of size ``n`` the box length is ``floor(n * fraction)``, its centre is uniform
    in ``[0, n)`` and the box is clipped to ``[0, n)`` (so it may be shorter than requested).
    ``same_box=True`` draws one centre for the whole batch.
    """
    axes = check_axes(axes)
    count = fractions.shape[0]
    starts = torch.zeros(count, 3, dtype=torch.int64)
    ends = torch.tensor(sizes, dtype=torch.int64).expand(count, 3).clone()
    for dim, axis in enumerate(AXES):
        if axis not in axes:
            continue
        size = sizes[dim]
        length = torch.floor(fractions[:, dim] * size).to(torch.int64)
        centre = torch.randint(0, size, (1 if same_box else count,), generator=generator,
                               device=_device(generator)).cpu().expand(count)
        start = centre - length // 2
        starts[:, dim] = start.clamp(0, size)
        ends[:, dim] = (start + length).clamp(0, size)
    return starts, ends


def fixed_size_boxes(sizes: tuple[int, int, int], fractions: tuple[float, float, float], count: int,
                     axes: str, generator: torch.Generator | None = None,
                     same_box: bool = False) -> tuple[Tensor, Tensor]:
    """Boxes of fixed side fractions (Cutout-style) at uniform centres, clipped."""
    frac = torch.tensor(fractions, dtype=torch.float64).expand(count, 3)
    return sample_boxes(sizes, frac, axes, generator, same_box)


def box_mask(starts: Tensor, ends: Tensor, sizes: tuple[int, int, int],
             device: torch.device | str = "cpu") -> Tensor:
    """Boolean mask ``(B, 1, T, H, W)``: True inside each sample's box."""
    starts, ends = starts.to(device), ends.to(device)
    masks = []
    for dim, size in enumerate(sizes):
        index = torch.arange(size, device=device)
        masks.append((index >= starts[:, dim:dim + 1]) & (index < ends[:, dim:dim + 1]))  # (B, size)
    t, h, w = masks
    return t[:, None, :, None, None] & h[:, None, None, :, None] & w[:, None, None, None, :]


def box_share(starts: Tensor, ends: Tensor, sizes: tuple[int, int, int]) -> Tensor:
    """Share of the T·H·W volume inside each clipped box, ``(B,)`` float64."""
    extent = (ends - starts).clamp(min=0).to(torch.float64)
    return extent.prod(dim=1) / float(sizes[0] * sizes[1] * sizes[2])
