"""Clip-consistent augmentation (METHOD §5): geometric on the CPU, photometric batched on any device.

CPU, per sample (in the dataset): ``sample_random_geometry`` draws one random resized crop
(area 0.2-1, aspect 3/4-4/3) and flip per view; ``apply_geometry`` applies it to every
frame of a window, and to every modality of the sample (the box is relative, so it scales
to modalities of other sizes; a flipped flow field also has its dx negated). Evaluation
uses ``centre_geometry`` (short side resized to ``size``, centre square).

Training device, per batch: ``BatchPhotometric`` draws parameters per clip (constant over
its frames) and applies colour jitter, grayscale and Gaussian blur to ``(B, 3, T, H, W)``
with batched tensor ops, then normalises. ``forward`` runs the fused path: in-place ops on
blocks of at most ``BLOCK_BYTES`` (10 ms of CPU per 32x128² clip vs 58 ms for the previous
whole-batch path, docs/BENCHMARKS.md); ``forward_unfused`` / ``augment_unfused`` keep the
previous implementation, equal to it on the same parameters to float rounding.
``cpu_photometric_reference`` is the per-clip torchvision v2 pipeline, kept for the loader
benchmark.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
GRAY_WEIGHTS = (0.2989, 0.587, 0.114)  # ITU-R 601-2 luma, as torchvision


@dataclass(frozen=True)
class ClipGeometry:
    """A crop box as fractions of the frame (top, left, height, width in [0, 1]) and a flip."""

    top: float
    left: float
    height: float
    width: float
    flip: bool


def sample_random_geometry(height: int, width: int, rng: np.random.Generator,
                           area: tuple[float, float] = (0.2, 1.0),
                           aspect: tuple[float, float] = (3 / 4, 4 / 3),
                           flip_probability: float = 0.5) -> ClipGeometry:
    """torchvision's RandomResizedCrop parameters for a ``height`` x ``width`` frame, plus a flip."""
    log_aspect = (math.log(aspect[0]), math.log(aspect[1]))
    box = None
    for _ in range(10):
        target = height * width * rng.uniform(*area)
        ratio = math.exp(rng.uniform(*log_aspect))
        w, h = round(math.sqrt(target * ratio)), round(math.sqrt(target / ratio))
        if 0 < w <= width and 0 < h <= height:
            box = (int(rng.integers(0, height - h + 1)), int(rng.integers(0, width - w + 1)), h, w)
            break
    if box is None:  # fall back to the largest centre crop with a clamped aspect ratio
        ratio = width / height
        w, h = ((width, round(width / aspect[0])) if ratio < aspect[0] else
                (round(height * aspect[1]), height) if ratio > aspect[1] else (width, height))
        w, h = min(w, width), min(h, height)
        box = ((height - h) // 2, (width - w) // 2, h, w)
    top, left, h, w = box
    flip = bool(rng.random() < flip_probability)
    return ClipGeometry(top / height, left / width, h / height, w / width, flip)


def sample_scale_jitter_geometry(height: int, width: int, rng: np.random.Generator,
                                 short_side: tuple[int, int], size: int,
                                 flip_probability: float = 0.5) -> ClipGeometry:
    """Seed 002's baseline crop: short side resized to S ~ U[short_side] (rounded, as pySlowFast's
    ``random_short_side_scale_jitter``), then a random ``size``² crop and a flip; as a box of the frame."""
    scale = round(rng.uniform(short_side[0], short_side[1])) / min(height, width)  # resized / original
    box_h, box_w = min(height, size / scale), min(width, size / scale)  # the crop in original pixels
    top = rng.uniform(0, height - box_h)
    left = rng.uniform(0, width - box_w)
    flip = bool(rng.random() < flip_probability)
    return ClipGeometry(top / height, left / width, box_h / height, box_w / width, flip)


def centre_geometry(height: int, width: int) -> ClipGeometry:
    """The centre square (resizing it to ``size`` = short side resize + centre crop)."""
    side = min(height, width)
    return ClipGeometry((height - side) / 2 / height, (width - side) / 2 / width,
                        side / height, side / width, False)


def apply_geometry(frames: np.ndarray, geometry: ClipGeometry, size: int, kind: str = "image",
                   channels_first: bool = False, shape: tuple[int, int] | None = None) -> np.ndarray:
    """Crop every frame of ``(T, H, W, C)`` with the same box, resize to ``size``², flip.

    ``shape=(out_h, out_w)`` resizes to that (non-square) shape instead of ``size``².

    Returns ``(T, size, size, C)``, or ``(C, T, size, size)`` with ``channels_first`` (the
    tensor layout, written frame by frame, which is cheaper than transposing afterwards).
    ``kind="flow"``: a flip also negates channel 0 (dx). Flow magnitudes are not rescaled
    with the resize (flow is treated as an image, as in CoCLR). Box edges are rounded to whole
    pixels of each input, so modalities of different sizes agree to within one pixel of the
    smaller one.
    """
    frames_count, height, width, channels = frames.shape
    top, left = round(geometry.top * height), round(geometry.left * width)
    h = max(1, min(height - top, round(geometry.height * height)))
    w = max(1, min(width - left, round(geometry.width * width)))
    crop = frames[:, top:top + h, left:left + w]
    out_h, out_w = shape if shape is not None else (size, size)
    interpolation = cv2.INTER_AREA if h * w > out_h * out_w else cv2.INTER_LINEAR
    layout = ((channels, frames_count, out_h, out_w) if channels_first
              else (frames_count, out_h, out_w, channels))
    out = np.empty(layout, frames.dtype)
    for t in range(frames_count):  # per frame: OpenCV's SIMD paths beat one many-channel resize
        resized = cv2.resize(crop[t], (out_w, out_h), interpolation=interpolation)
        if geometry.flip:
            resized = cv2.flip(resized, 1)
        resized = resized if resized.ndim == 3 else resized[..., None]
        if channels_first:
            out[:, t] = resized.transpose(2, 0, 1)
        else:
            out[t] = resized
    if geometry.flip and kind == "flow":
        if channels_first:
            out[0] *= -1
        else:
            out[..., 0] *= -1
    return out


def frames_to_tensor(frames: np.ndarray) -> torch.Tensor:
    """``(T, H, W, C)`` array -> ``(C, T, H, W)`` tensor (dtype kept)."""
    return torch.from_numpy(np.ascontiguousarray(frames.transpose(3, 0, 1, 2)))


# ---------------------------------------------------------------- batched photometric ops
# x: float (N, 3, T, H, W) in [0, 1]; factors: (N,), broadcast over channels, frames, pixels.

def _per_clip(values: torch.Tensor) -> torch.Tensor:
    return values.view(-1, 1, 1, 1, 1)


def grayscale(x: torch.Tensor) -> torch.Tensor:
    """Luma ``(N, 1, T, H, W)``."""
    weights = x.new_tensor(GRAY_WEIGHTS).view(1, 3, 1, 1, 1)
    return (x * weights).sum(dim=1, keepdim=True)


def adjust_brightness(x: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    return (x * _per_clip(factor)).clamp(0, 1)


def adjust_contrast(x: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    mean = grayscale(x).mean(dim=(-2, -1), keepdim=True)  # per frame, as torchvision per image
    return (_per_clip(factor) * x + (1 - _per_clip(factor)) * mean).clamp(0, 1)


def adjust_saturation(x: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    gray = grayscale(x)
    return (_per_clip(factor) * x + (1 - _per_clip(factor)) * gray).clamp(0, 1)


def adjust_hue(x: torch.Tensor, shift: torch.Tensor) -> torch.Tensor:
    """Rotate hue by ``shift`` turns (in [-0.5, 0.5]) through HSV, as torchvision."""
    r, g, b = x.unbind(dim=1)
    maxc, minc = x.max(dim=1).values, x.min(dim=1).values
    delta = maxc - minc
    safe = torch.where(delta > 0, delta, torch.ones_like(delta))
    hue = torch.where(maxc == r, (g - b) / safe,
                      torch.where(maxc == g, 2 + (b - r) / safe, 4 + (r - g) / safe))
    hue = torch.where(delta > 0, hue / 6, torch.zeros_like(hue))
    hue = (hue + shift.view(-1, 1, 1, 1)) % 1.0
    saturation = torch.where(maxc > 0, delta / torch.where(maxc > 0, maxc, torch.ones_like(maxc)),
                             torch.zeros_like(maxc))
    value = maxc
    # HSV -> RGB: channel n = v - v*s*clamp(min(k, 4-k), 0, 1) with k = (n + 6h) mod 6.
    n = x.new_tensor([5.0, 3.0, 1.0]).view(1, 3, 1, 1, 1)
    k = (n + 6 * hue.unsqueeze(1)) % 6
    weight = torch.clamp(torch.minimum(k, 4 - k), 0, 1)
    return value.unsqueeze(1) * (1 - saturation.unsqueeze(1) * weight)


def gaussian_blur(x: torch.Tensor, sigma: torch.Tensor, kernel_size: int) -> torch.Tensor:
    """Separable Gaussian blur with one ``sigma`` per clip, reflect padding."""
    clips, channels, frames, height, width = x.shape
    kernel_size = min(kernel_size, 2 * min(height, width) - 1) | 1
    half = kernel_size // 2
    offsets = torch.arange(-half, half + 1, device=x.device, dtype=x.dtype)
    kernel = torch.exp(-offsets.square() / (2 * sigma.to(x.dtype).view(-1, 1).square()))
    kernel = (kernel / kernel.sum(dim=1, keepdim=True)).repeat_interleave(channels * frames, dim=0)
    groups = clips * channels * frames
    y = x.reshape(1, groups, height, width)
    y = F.conv2d(F.pad(y, (half, half, 0, 0), mode="reflect"), kernel.view(groups, 1, 1, -1), groups=groups)
    y = F.conv2d(F.pad(y, (0, 0, half, half), mode="reflect"), kernel.view(groups, 1, -1, 1), groups=groups)
    return y.view(clips, channels, frames, height, width)


# ---------------------------------------------------------------- fused in-place block ops
# x: a contiguous float block (n, 3, T, H, W) in [0, 1], modified in place; factors (n,).
# The same functions as the ops above (to float rounding), with block-sized temporaries.

BLOCK_BYTES = 8 << 20  # float32 bytes per block: below glibc's largest mmap threshold (32 MiB)
OPS = ("brightness", "contrast", "saturation", "hue")  # op index in ``params["order"]``


def _check_rgb(x: torch.Tensor) -> None:
    if x.ndim != 5 or x.shape[1] != 3:
        raise ValueError(f"BatchPhotometric expects (B, 3, T, H, W) RGB, got shape {tuple(x.shape)}")


def _luma(x: torch.Tensor) -> torch.Tensor:
    """``(n, T, H, W)`` luma of a block, three fused multiply-adds."""
    r, g, b = x.unbind(dim=1)
    gray = torch.mul(r, GRAY_WEIGHTS[0])
    return gray.add_(g, alpha=GRAY_WEIGHTS[1]).add_(b, alpha=GRAY_WEIGHTS[2])


def _brightness_(x: torch.Tensor, factor: torch.Tensor) -> None:
    x.mul_(_per_clip(factor)).clamp_(0, 1)


def _contrast_(x: torch.Tensor, factor: torch.Tensor) -> None:
    weights = x.new_tensor(GRAY_WEIGHTS).view(1, 3, 1)
    mean = (x.mean(dim=(-2, -1)) * weights).sum(dim=1)  # (n, T): per-frame mean luma
    f = factor.view(-1, 1)
    x.mul_(_per_clip(factor)).add_(((1 - f) * mean).view(x.shape[0], 1, -1, 1, 1)).clamp_(0, 1)


def _saturation_(x: torch.Tensor, factor: torch.Tensor) -> None:
    gray = _luma(x).mul_(factor.view(-1, 1, 1, 1).neg().add(1)).unsqueeze(1)  # (1 - f) * luma
    x.mul_(_per_clip(factor)).add_(gray).clamp_(0, 1)


def _hue_(x: torch.Tensor, shift: torch.Tensor) -> None:
    """``adjust_hue`` without branches on the CPU's slow paths (``where``, a mod per channel).

    Hue in sixths ``h`` from the max channel (r first, then g, then b, as ``adjust_hue``),
    selected with 0/1 float masks; the HSV -> RGB step ``v - (v - min) * w((n + h) mod 6)``
    (n = 5, 3, 1) uses ``w(k) = clamp(2 - |k - 2|, 0, 1)`` on one period, i.e. for
    ``h`` in [0, 6) the distance of ``h + n`` to the nearer of 2 and 8.
    """
    r, g, b = x.unbind(dim=1)
    value = torch.maximum(r, g)
    torch.maximum(value, b, out=value)
    delta = torch.minimum(r, g)
    torch.minimum(delta, b, out=delta)
    torch.sub(value, delta, out=delta)
    is_r, is_g = torch.empty_like(value), torch.empty_like(value)
    torch.eq(value, r, out=is_r)
    torch.eq(value, g, out=is_g).sub_(is_r).clamp_(min=0)  # g is the max and r is not
    h = torch.sub(r, g).add_(delta, alpha=4)  # b branch, times delta: 4 delta + r - g
    h.lerp_(torch.sub(b, r).add_(delta, alpha=2), is_g)  # g branch: 2 delta + b - r
    h.lerp_(torch.sub(g, b), is_r)  # r branch: g - b
    h.div_(delta.clamp(min=1e-12))  # delta = 0: the numerator is 0 too, hue 0 as adjust_hue
    h.add_(6 * shift.view(-1, 1, 1, 1)).remainder_(6)
    near, far = is_r, is_g  # reuse the buffers
    for channel, offset in enumerate((5.0, 3.0, 1.0)):
        torch.sub(h, 2 - offset, out=near).abs_()
        torch.sub(h, 8 - offset, out=far).abs_()
        torch.minimum(near, far, out=near).neg_().add_(2).clamp_(0, 1).mul_(delta)
        torch.sub(value, near, out=x[:, channel])


def _grayscale_(x: torch.Tensor) -> None:
    x.copy_(_luma(x).unsqueeze(1).expand_as(x))


_FUSED = {"brightness": _brightness_, "contrast": _contrast_, "saturation": _saturation_, "hue": _hue_}


def _on_chosen_(x: torch.Tensor, chosen: torch.Tensor, op: Callable[..., None], *args: torch.Tensor) -> None:
    """Run the in-place ``op`` on the clips where ``chosen`` (n,) is true."""
    count = int(chosen.sum())
    if count == 0:
        return
    if count == x.shape[0]:
        op(x, *args)
        return
    index = chosen.nonzero().flatten()
    part = x.index_select(0, index)
    op(part, *(a.index_select(0, index) for a in args))
    x.index_copy_(0, index, part)


def _augment_block_(x: torch.Tensor, params: dict[str, torch.Tensor], kernel_size: int) -> None:
    """Jitter (in each clip's random order), grayscale and blur of one block, in place."""
    for step in range(4):
        for op_index, name in enumerate(OPS):
            chosen = params["jitter"] & (params["order"][:, step] == op_index)
            _on_chosen_(x, chosen, _FUSED[name], params[name])
    _on_chosen_(x, params["grayscale"], _grayscale_)
    _on_chosen_(x, params["blur"], lambda part, sigma: part.copy_(gaussian_blur(part, sigma, kernel_size)),
                params["sigma"])


def to_unit_float(x: torch.Tensor) -> torch.Tensor:
    """uint8 [0, 255] -> float32 [0, 1]; floating input is taken to be in [0, 1] already."""
    return x.float().div_(255) if x.dtype == torch.uint8 else x.float()


class BatchPhotometric(nn.Module):
    """Per-clip colour jitter, grayscale, blur and normalisation of a ``(B, 3, T, H, W)`` batch.

    In ``train()`` mode parameters are drawn per clip (constant over its frames); in
    ``eval()`` mode only normalisation is applied. Input uint8 or float in [0, 1], any device.
    """

    def __init__(self, brightness: float = 0.4, contrast: float = 0.4, saturation: float = 0.4,
                 hue: float = 0.1, jitter_probability: float = 0.8, grayscale_probability: float = 0.2,
                 blur_sigma: tuple[float, float] = (0.1, 2.0), blur_probability: float = 0.5,
                 blur_kernel_size: int = 0, random_order: bool = True,
                 mean: Sequence[float] = IMAGENET_MEAN, std: Sequence[float] = IMAGENET_STD):
        super().__init__()
        self.jitter = (brightness, contrast, saturation, hue)
        self.jitter_probability, self.grayscale_probability = jitter_probability, grayscale_probability
        self.blur_sigma, self.blur_probability = blur_sigma, blur_probability
        # 0: cover +-3 sigma of the largest sigma (13 taps for sigma 2)
        self.blur_kernel_size = blur_kernel_size or 2 * math.ceil(3 * blur_sigma[1]) + 1
        self.random_order = random_order
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1, 1), False)
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1, 1), False)

    def sample_params(self, batch_size: int, device: torch.device | str = "cpu",
                      generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
        """Per-clip parameters, each a ``(B,)`` tensor (``order``: ``(B, 4)``)."""
        def uniform(low: float, high: float) -> torch.Tensor:
            return low + (high - low) * torch.rand(batch_size, device=device, generator=generator)

        brightness, contrast, saturation, hue = self.jitter
        order = (torch.rand(batch_size, 4, device=device, generator=generator).argsort(dim=1)
                 if self.random_order else torch.arange(4, device=device).expand(batch_size, 4))
        def bernoulli(probability: float) -> torch.Tensor:
            return torch.rand(batch_size, device=device, generator=generator) < probability

        return {
            "jitter": bernoulli(self.jitter_probability),
            "brightness": uniform(max(0.0, 1 - brightness), 1 + brightness),
            "contrast": uniform(max(0.0, 1 - contrast), 1 + contrast),
            "saturation": uniform(max(0.0, 1 - saturation), 1 + saturation),
            "hue": uniform(-hue, hue),
            "order": order,
            "grayscale": bernoulli(self.grayscale_probability),
            "blur": bernoulli(self.blur_probability),
            "sigma": uniform(*self.blur_sigma),
        }

    def augment(self, x: torch.Tensor, params: dict[str, torch.Tensor]) -> torch.Tensor:
        """Apply jitter / grayscale / blur to float ``(B, 3, T, H, W)`` in [0, 1] with ``params``.

        The fused path (see :meth:`_fused`); the same function of ``params`` as
        :meth:`augment_unfused`, to float rounding.
        """
        return self._fused(x, params, normalize=False)

    def _fused(self, x: torch.Tensor, params: dict[str, torch.Tensor] | None,
               normalize: bool) -> torch.Tensor:
        """uint8/float ``x`` -> a new float32 tensor: converted, augmented with ``params``, normalised.

        On the CPU the batch is processed in blocks of at most ``BLOCK_BYTES`` (the whole batch
        at the demo's shapes, one clip at 32x128²) with in-place ops and block-sized
        temporaries, which stay in the cache and in memory the allocator reuses (a fresh
        full-batch temporary costs more in page faults than the arithmetic). On an
        accelerator the whole batch is one block.
        """
        _check_rgb(x)
        out = torch.empty(x.shape, dtype=torch.float32, device=x.device)
        per_clip = out[0].numel() * out.element_size()
        block = out.shape[0] if x.device.type != "cpu" else max(1, BLOCK_BYTES // max(1, per_clip))
        mean, std = self.mean.to(x.device), self.std.to(x.device)
        for start in range(0, out.shape[0], block):  # blocks of clips, each processed batched
            part = out[start:start + block]
            part.copy_(x[start:start + block])
            if x.dtype == torch.uint8:
                part.div_(255)
            if params is not None:
                _augment_block_(part, {k: v[start:start + block] for k, v in params.items()},
                                self.blur_kernel_size)
            if normalize:
                part.sub_(mean).div_(std)
        return out

    def augment_unfused(self, x: torch.Tensor, params: dict[str, torch.Tensor]) -> torch.Tensor:
        """The previous whole-batch implementation (out-of-place ops); kept as the reference."""
        _check_rgb(x)
        x = x.clone()
        ops = [(adjust_brightness, "brightness"), (adjust_contrast, "contrast"),
               (adjust_saturation, "saturation"), (adjust_hue, "hue")]
        for step in range(4):  # loops over ops, not clips: each op runs on its clips at once
            for op_index, (op, key) in enumerate(ops):
                chosen = (params["jitter"] & (params["order"][:, step] == op_index)).nonzero().flatten()
                if chosen.numel():
                    x[chosen] = op(x[chosen], params[key][chosen])
        chosen = params["grayscale"].nonzero().flatten()
        if chosen.numel():
            x[chosen] = grayscale(x[chosen]).expand(-1, 3, -1, -1, -1)
        chosen = params["blur"].nonzero().flatten()
        if chosen.numel():
            x[chosen] = gaussian_blur(x[chosen], params["sigma"][chosen], self.blur_kernel_size)
        return x

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean.to(x.device)) / self.std.to(x.device)

    def forward(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """``(B, 3, T, H, W)`` uint8/float -> normalised float32 ``(B, 3, T, H, W)``."""
        params = self.sample_params(x.shape[0], x.device, generator) if self.training else None
        return self._fused(x, params, normalize=True)

    def forward_unfused(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """The previous implementation of :meth:`forward` (same parameter draws), for benchmarks."""
        x = to_unit_float(x)
        if self.training:
            x = self.augment_unfused(x, self.sample_params(x.shape[0], x.device, generator))
        return self.normalize(x)


def cpu_photometric_reference(photometric: BatchPhotometric) -> Callable[[torch.Tensor], torch.Tensor]:
    """The same augmentation as torchvision v2 transforms, one clip at a time (for benchmarks).

    The clip is passed as a plain ``(T, 3, H, W)`` tensor: v2 draws one set of parameters per
    call, so they are constant over frames. (A ``tv_tensors.Video`` would be left unchanged
    by ``v2.RandomGrayscale`` in torchvision 0.29, see METHOD §5.)
    """
    from torchvision.transforms import v2

    brightness, contrast, saturation, hue = photometric.jitter
    pipeline = v2.Compose([
        v2.ToDtype(torch.float32, scale=True),
        v2.RandomApply([v2.ColorJitter(brightness, contrast, saturation, hue)],
                       p=photometric.jitter_probability),
        v2.RandomGrayscale(p=photometric.grayscale_probability),
        v2.RandomApply([v2.GaussianBlur(photometric.blur_kernel_size, photometric.blur_sigma)],
                       p=photometric.blur_probability),
        v2.Normalize(photometric.mean.flatten().tolist(), photometric.std.flatten().tolist()),
    ])

    def apply(clip: torch.Tensor) -> torch.Tensor:  # (3, T, H, W) -> (3, T, H, W) float
        return pipeline(clip.permute(1, 0, 2, 3)).permute(1, 0, 2, 3)

    return apply
