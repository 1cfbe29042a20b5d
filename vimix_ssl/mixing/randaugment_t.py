"""RandAugment-T (seed 002 §3.1): RandAugment with magnitudes interpolated across frames.

N ops are drawn from the RandAugment list; each op runs on every frame with the frame's
magnitude ``M_t = linspace(M1, M2, T)[t]``. Variants (seed 002 Table 2 / §4.2, our reading):

* ``spatial``   — M1 = M2 = M (plain RandAugment applied identically to every frame);
* ``temporal``  — M2 = M, M1 ~ U(0.1, M) (the magnitude grows over the clip);
* ``temporal+`` — δ ~ U(0, 0.5·M), (M1, M2) = (M − δ, M + δ); the ramp is reversed with
  ``reverse_probability`` (peer code: 0.5; the paper text gives only M − δ → M + δ);
* ``mix``       — spatial or temporal+ with probability ``mix_probability`` (0.5) per clip.

``draw_per``: ``"op"`` (default; peer taeoh-kim/temporal_data_augmentation draws δ and the
reversal inside its loop over the N ops) or ``"clip"`` (one (M1, M2) shared by the clip's
N ops, our earlier reading of the paper's Fig. 2).

``magnitude_convention`` — what a magnitude means (M on ``[0, max_magnitude]``, 0–30):

* ``"paper"`` (default): the peer's ``augment_list`` ranges, ``value = low + (high − low) ·
  M / 30``: rotate 0–30°, shear 0–0.3, translate 0–100 px (absolute), solarize threshold
  0–256 (pixels >= threshold inverted: M = 10 -> 85.3), posterize 0–4 bits kept (at least 1,
  the end values truncated before the per-frame interpolation, as the peer does), colour /
  contrast / brightness / sharpness factor 0.1–1.9 (unsigned: M = 10 -> 0.7); geometric ops
  get a random sign; ops are the peer's 15 including Invert;
* ``"timm"``: the timm/RandAugment "increasing" mapping (``op_ranges`` = value at the
  maximum magnitude): rotate 30°, shear 0.3, translate 0.45 of the frame, solarize threshold
  ``256·(1 − M/30)``, posterize ``8 − round(4·M/30)`` bits kept, enhance factor
  ``1 ± 0.9·M/30`` (signed); 14 ops without Invert (our earlier default).

Works on uint8 clips or float clips in [0, 1], layout ``(C, T, H, W)`` with C = 1 or 3, or
a batch ``(B, C, T, H, W)`` (fresh ops per clip). Geometric ops turn about the frame centre,
fill with 0 and sample bilinearly; each op draws one sign per clip (shared by its frames).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor

from vimix_ssl.mixing.boxes import sample_uniform

Variant = Literal["spatial", "temporal", "temporal+", "mix"]
Convention = Literal["paper", "timm"]
VARIANTS = ("spatial", "temporal", "temporal+", "mix")
CONVENTIONS = ("paper", "timm")
DRAW_PER = ("op", "clip")
# The peer's augment_list, in its order (Invert included).
PAPER_OPS = ("identity", "autocontrast", "equalize", "invert", "rotate", "posterize", "solarize", "color",
             "contrast", "brightness", "sharpness", "shear_x", "shear_y", "translate_x", "translate_y")
TIMM_OPS = ("identity", "autocontrast", "equalize", "rotate", "solarize", "color", "posterize", "contrast",
            "brightness", "sharpness", "shear_x", "shear_y", "translate_x", "translate_y")
OPS = PAPER_OPS  # every op either convention knows
# paper: (low, high) of the peer's augment_list, value = low + (high - low) * M / max_magnitude
PAPER_RANGES = {"rotate": (0.0, 30.0), "posterize": (0.0, 4.0), "solarize": (0.0, 256.0),
                "color": (0.1, 1.9), "contrast": (0.1, 1.9), "brightness": (0.1, 1.9),
                "sharpness": (0.1, 1.9),
                "shear_x": (0.0, 0.3), "shear_y": (0.0, 0.3), "translate_x": (0.0, 100.0),
                "translate_y": (0.0, 100.0)}
PAPER_SIGNED = {"rotate", "shear_x", "shear_y", "translate_x", "translate_y"}
# timm: value of each op at the maximum magnitude: degrees, shear factor, fraction of the
# frame, solarize threshold drop (fraction of 256), posterize bits removed, enhance deviation.
DEFAULT_OP_RANGES = {"rotate": 30.0, "shear_x": 0.3, "shear_y": 0.3, "translate_x": 0.45,
                     "translate_y": 0.45, "solarize": 1.0, "posterize": 4.0, "color": 0.9,
                     "contrast": 0.9, "brightness": 0.9, "sharpness": 0.9}
SIGNED = {"rotate", "shear_x", "shear_y", "translate_x", "translate_y", "color", "contrast",
          "brightness", "sharpness"}
ENHANCE = ("color", "contrast", "brightness", "sharpness")


@dataclass(frozen=True)
class RandAugmentTParams:
    ops: tuple[str, ...]
    magnitudes: tuple[Tensor, ...]  # one (T,) float64 per op: the per-frame magnitude
    signs: tuple[float, ...]  # one ±1 per op


def _gray(frames: Tensor) -> Tensor:
    """(T, C, H, W) -> (T, 1, H, W) luminance (ITU-R 601-2, as PIL)."""
    if frames.shape[1] == 1:
        return frames
    r, g, b = frames.unbind(1)
    return (0.299 * r + 0.587 * g + 0.114 * b).unsqueeze(1)


def _blend(a: Tensor, b: Tensor, factor: Tensor) -> Tensor:
    """``b + factor·(a − b)`` with a per-frame factor ``(T,)``, clamped to [0, 1] (PIL ImageEnhance)."""
    return (b + factor.view(-1, 1, 1, 1) * (a - b)).clamp(0, 1)


def _equalize(frames: Tensor) -> Tensor:
    """PIL-style histogram equalisation per frame and channel; (T, C, H, W) in [0, 1]."""
    t, c, h, w = frames.shape
    q = (frames * 255).round().long().reshape(t * c, h * w)
    hist = torch.zeros(t * c, 256, dtype=torch.long, device=frames.device)
    hist.scatter_add_(1, q, torch.ones_like(q))  # (TC, 256)
    last = hist.gather(1, (255 - hist.flip(1).ne(0).long().argmax(1)).view(-1, 1))  # count of top value
    step = (h * w - last) // 255  # (TC, 1)
    lut = ((hist.cumsum(1) - hist + step // 2) // step.clamp(min=1)).clamp(max=255)
    lut = torch.where(step > 0, lut, torch.arange(256, device=frames.device).expand_as(lut))
    return (lut.gather(1, q).float() / 255).view(t, c, h, w).to(frames.dtype)


def _affine(frames: Tensor, op: str, value: Tensor) -> Tensor:
    """Per-frame rotate/shear/translate by ``value`` (T,) (degrees, shear factor, pixels)."""
    t, _, h, w = frames.shape
    matrix = torch.eye(3, dtype=torch.float64).repeat(t, 1, 1)  # pixel space, output -> input
    value = value.to(torch.float64)
    if op == "rotate":
        angle = value * math.pi / 180
        matrix[:, 0, 0], matrix[:, 0, 1] = angle.cos(), -angle.sin()
        matrix[:, 1, 0], matrix[:, 1, 1] = angle.sin(), angle.cos()
    elif op == "shear_x":
        matrix[:, 0, 1] = value
    elif op == "shear_y":
        matrix[:, 1, 0] = value
    elif op == "translate_x":
        matrix[:, 0, 2] = value
    else:  # translate_y
        matrix[:, 1, 2] = value
    scale = torch.diag(torch.tensor([2.0 / w, 2.0 / h, 1.0], dtype=torch.float64))
    theta = (scale @ matrix @ torch.linalg.inv(scale))[:, :2].to(frames.dtype).to(frames.device)
    grid = F.affine_grid(theta, list(frames.shape), align_corners=False)
    return F.grid_sample(frames, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def apply_op(frames: Tensor, op: str, value: Tensor) -> Tensor:
    """One op on float frames ``(T, C, H, W)`` in [0, 1] with per-frame op values ``(T,)``.

    Values: degrees (rotate), shear factor, pixels (translate), threshold on the 0–255 scale
    (solarize: levels >= threshold are inverted), bits kept (posterize), enhance factor
    (PIL ``ImageEnhance``: 1 = unchanged); identity/autocontrast/equalize/invert take none.
    """
    value = value.to(frames.device)
    if op == "identity":
        return frames
    if op == "invert":
        return 1.0 - frames
    if op == "autocontrast":
        low = frames.amin(dim=(2, 3), keepdim=True)
        high = frames.amax(dim=(2, 3), keepdim=True)
        return torch.where(high > low, (frames - low) / (high - low).clamp(min=1e-12), frames)
    if op == "equalize":
        return _equalize(frames)
    if op == "solarize":
        levels = (frames * 255).round()
        return torch.where(levels >= value.to(frames.dtype).view(-1, 1, 1, 1), 1.0 - frames, frames)
    if op == "posterize":
        bits = value.round().clamp(1, 8).to(torch.long).view(-1, 1, 1, 1)
        levels = (frames * 255).round().long()
        mask = (255 >> (8 - bits)) << (8 - bits)
        return ((levels & mask).to(frames.dtype) / 255)
    factor = value.to(frames.dtype)
    if op == "brightness":
        return _blend(frames, torch.zeros_like(frames), factor)
    if op == "color":
        return _blend(frames, _gray(frames).expand_as(frames), factor)
    if op == "contrast":
        return _blend(frames, _gray(frames).mean(dim=(1, 2, 3), keepdim=True).expand_as(frames), factor)
    if op == "sharpness":
        kernel = torch.tensor([[1.0, 1.0, 1.0], [1.0, 5.0, 1.0], [1.0, 1.0, 1.0]], dtype=frames.dtype) / 13
        c = frames.shape[1]
        smooth = F.conv2d(frames, kernel.to(frames.device).expand(c, 1, 3, 3), padding=1, groups=c)
        smooth[..., [0, -1], :], smooth[..., :, [0, -1]] = frames[..., [0, -1], :], frames[..., :, [0, -1]]
        return _blend(frames, smooth, factor)
    if op in ("rotate", "shear_x", "shear_y", "translate_x", "translate_y"):
        return _affine(frames, op, value)
    raise ValueError(f"unknown RandAugment op {op!r}; expected one of {', '.join(OPS)}")


class RandAugmentT:
    """``RandAugmentT(num_ops, magnitude, variant)(clip, generator) -> clip`` (seed 002)."""

    def __init__(self, num_ops: int = 2, magnitude: float = 10.0, variant: Variant = "temporal+",
                 max_magnitude: float = 30.0, reverse_probability: float = 0.5,
                 mix_probability: float = 0.5, min_start_magnitude: float = 0.1,
                 ops: tuple[str, ...] | None = None, op_ranges: dict[str, float] | None = None,
                 magnitude_convention: Convention = "paper", draw_per: Literal["op", "clip"] = "op") -> None:
        if variant not in VARIANTS:
            raise ValueError(f"variant must be one of {VARIANTS}, got {variant!r}")
        if magnitude_convention not in CONVENTIONS:
            raise ValueError(f"magnitude_convention must be one of {CONVENTIONS}, "
                             f"got {magnitude_convention!r}")
        if draw_per not in DRAW_PER:
            raise ValueError(f"draw_per must be one of {DRAW_PER}, got {draw_per!r}")
        if num_ops < 0:
            raise ValueError(f"num_ops must be >= 0, got {num_ops}")
        if not 0 <= magnitude <= max_magnitude:
            raise ValueError(f"magnitude must be in [0, max_magnitude={max_magnitude}], got {magnitude}")
        if op_ranges and magnitude_convention != "timm":
            raise ValueError("op_ranges applies to magnitude_convention='timm'; the paper convention uses "
                             "the peer's fixed ranges")
        ops = tuple(ops) if ops is not None else (PAPER_OPS if magnitude_convention == "paper" else TIMM_OPS)
        unknown = [op for op in ops if op not in OPS]
        if unknown or not ops:
            raise ValueError(f"ops must be a non-empty subset of {OPS}, got unknown {unknown}")
        self.num_ops, self.magnitude, self.variant = int(num_ops), float(magnitude), variant
        self.max_magnitude, self.reverse_probability = float(max_magnitude), float(reverse_probability)
        self.mix_probability, self.min_start_magnitude = float(mix_probability), float(min_start_magnitude)
        self.convention, self.draw_per = magnitude_convention, draw_per
        self.ops = ops
        self.op_ranges = {**DEFAULT_OP_RANGES, **(op_ranges or {})}

    def clip_variant(self, generator: torch.Generator | None = None) -> str:
        """The variant for one clip (``mix`` resolves to spatial or temporal+)."""
        if self.variant != "mix":
            return self.variant
        return "spatial" if sample_uniform(1, generator).item() < self.mix_probability else "temporal+"

    def end_magnitudes(self, generator: torch.Generator | None = None,
                       variant: str | None = None) -> tuple[float, float]:
        """(M1, M2) for one draw according to ``variant`` (default: this clip's variant)."""
        m = self.magnitude
        variant = variant or self.clip_variant(generator)
        if variant == "spatial":
            return m, m
        if variant == "temporal":
            low = min(self.min_start_magnitude, m)
            return low + (m - low) * sample_uniform(1, generator).item(), m
        delta = 0.5 * m * sample_uniform(1, generator).item()
        if sample_uniform(1, generator).item() < self.reverse_probability:
            return m + delta, m - delta
        return m - delta, m + delta

    def sample(self, num_frames: int, generator: torch.Generator | None = None) -> RandAugmentTParams:
        """Draw ops, signs and each op's per-frame magnitudes ``(T,)`` for one clip."""
        choice = torch.randint(0, len(self.ops), (self.num_ops,), generator=generator,
                               device=generator.device if generator is not None else "cpu")
        ops = tuple(self.ops[int(i)] for i in choice)
        signs = tuple(-1.0 if u < 0.5 else 1.0 for u in sample_uniform(self.num_ops, generator).tolist())
        variant = self.clip_variant(generator)
        ends = [self.end_magnitudes(generator, variant)]
        if self.draw_per == "op":  # peer: δ and the reversal drawn inside the loop over ops
            ends += [self.end_magnitudes(generator, variant) for _ in range(self.num_ops - 1)]
        else:
            ends *= self.num_ops
        ramps = (torch.linspace(m1, m2, num_frames, dtype=torch.float64) for m1, m2 in ends[:self.num_ops])
        magnitudes = tuple(ramp.clamp(0, self.max_magnitude) for ramp in ramps)
        return RandAugmentTParams(ops, magnitudes, signs)

    def op_values(self, op: str, magnitudes: Tensor, sign: float,
                  size: tuple[int, int] = (1, 1)) -> Tensor:
        """Per-frame op values ``(T,)`` in ``apply_op`` units for ``magnitudes`` ``(T,)``; size = (H, W)."""
        fraction = magnitudes / self.max_magnitude
        if self.convention == "paper":
            if op not in PAPER_RANGES:
                return torch.zeros_like(magnitudes)
            low, high = PAPER_RANGES[op]
            if op == "posterize":  # peer: max(1, int(v)) at both ends, then int() of the interpolation
                ends = (low + (high - low) * fraction[[0, -1]]).floor().clamp(min=1)
                ramp = torch.linspace(0, 1, len(magnitudes), dtype=magnitudes.dtype)
                return (ends[0] + (ends[1] - ends[0]) * ramp).floor()
            value = low + (high - low) * fraction
            return value * sign if op in PAPER_SIGNED else value
        if op not in self.op_ranges:
            return torch.zeros_like(magnitudes)
        value = self.op_ranges[op] * fraction
        if op == "solarize":
            return 256.0 * (1.0 - value)
        if op == "posterize":
            return (8 - value.round()).clamp(1, 8)
        if op in ENHANCE:
            return 1.0 + sign * value
        if op in ("translate_x", "translate_y"):
            value = value * size[1 if op == "translate_x" else 0]
        return value * sign if op in SIGNED else value

    def apply(self, clip: Tensor, params: RandAugmentTParams) -> Tensor:
        """Apply drawn parameters to one clip ``(C, T, H, W)`` (uint8 or float in [0, 1])."""
        if clip.dim() != 4 or clip.shape[0] not in (1, 3):
            raise ValueError("RandAugment-T expects a clip (C, T, H, W) with C in (1, 3), "
                             f"got {tuple(clip.shape)}")
        lengths = [len(m) for m in params.magnitudes]
        if lengths != [clip.shape[1]] * len(params.ops):
            raise ValueError(f"RandAugment-T parameters need one magnitude per frame ({clip.shape[1]}) for "
                             f"each of the {len(params.ops)} ops")
        dtype = clip.dtype
        frames = clip.float() / 255 if dtype == torch.uint8 else clip
        frames = frames.transpose(0, 1).contiguous()  # (T, C, H, W)
        size = (frames.shape[2], frames.shape[3])
        for op, magnitudes, sign in zip(params.ops, params.magnitudes, params.signs):
            frames = apply_op(frames, op, self.op_values(op, magnitudes, sign, size))
        out = frames.transpose(0, 1)
        return (out * 255).round().clamp(0, 255).to(torch.uint8) if dtype == torch.uint8 else out.contiguous()

    def __call__(self, video: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """``(C, T, H, W)`` or ``(B, C, T, H, W)`` -> same shape and dtype, fresh draws per clip."""
        if video.dim() == 5:
            return torch.stack([self(clip, generator) for clip in video])
        return self.apply(video, self.sample(video.shape[1], generator))
