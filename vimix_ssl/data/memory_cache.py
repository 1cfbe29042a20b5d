"""Small video datasets decoded once into memory, and two-view batches sampled from them in a few ops.

``data.cache`` (``VideoDataConfig``): ``"memory"`` holds every usable frame of every video of
the training split as one tensor per modality, ``(total_frames, C, H, W)`` (RGB uint8,
flow float32 as its source returns it); ``"auto"`` does so when the estimate (frames x
bytes of the first video's frames, summed over the videos) fits ``data.cache_budget_mib``,
else it keeps the per-sample loader; ``"none"`` never caches.

``MemoryBatchLoader`` replaces the DataLoader for a cached split: per batch, window starts,
crop boxes and flips are drawn for all clips at once (the same distributions as
``VideoDataset``: uniform window start, torchvision's RandomResizedCrop with 10 attempts and
a centre fallback, flip), frames are gathered with one index, and crop + resize of every
clip is one ``torchvision.ops.roi_align`` call on the training device (bilinear, averaging
``ceil(crop / size)``² samples per output pixel when shrinking, which antialiases as
OpenCV's INTER_AREA does). A flip mirrors the clip and negates flow dx. No per-sample
Python runs per batch. Batches leave as ``{"rgb": [view, ...], "flow": [...], "label",
"index", "video_id"}`` with RGB float in [0, 1] (``BatchPhotometric`` takes it as is).

Randomness is a function of ``(seed, epoch, global batch)``, so a run resumed mid-epoch sees
the batches an uninterrupted run would, and N processes see what one process with the
combined batch would.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch
from torch import Tensor

from vimix_ssl.data.transforms import BLOCK_BYTES
from vimix_ssl.ssl.distributed import ResumableSampler, rank, world_size

CACHE_MODES = ("auto", "memory", "none")


SHARED_ENTRIES = 4  # decoded (source, videos) pairs kept between the stages of a run


class CacheError(ValueError):
    """The split cannot be held as one tensor per modality (frames of different sizes)."""


class MemoryClips:
    """Every frame of the videos of ``dataset`` (a ``VideoDataset``), one tensor per modality.

    ``frames[m]``: ``(total_frames_m, C, H, W)``; video ``i`` of modality ``m`` is rows
    ``offsets[m][i] :`` ... ``+ frame count``; ``lengths[i]`` = frames usable by every
    modality (windows are drawn there, as ``VideoDataset`` does). A modality decoded for an
    earlier stage of the same process (same source, same videos) is reused.
    """

    _shared: dict[tuple[str, tuple[str, ...]], tuple[Tensor, Tensor]] = {}

    def __init__(self, dataset: Any, budget_bytes: int | None = None):
        self.modalities = list(dataset.sources)
        self.kinds = dict(dataset.kinds)
        self.labels = torch.tensor([e.label for e in dataset.videos.entries], dtype=torch.long)
        self.video_ids = [e.video_id for e in dataset.videos.entries]
        self.frames: dict[str, Tensor] = {}
        self.offsets: dict[str, Tensor] = {}
        counts = []
        for m, source in dataset.sources.items():
            self.frames[m], count = self._decoded(m, source, budget_bytes)
            self.offsets[m] = torch.cumsum(count, 0) - count
            counts.append(count)
        self.lengths = torch.stack(counts).min(dim=0).values
        self.nbytes = sum(f.numel() * f.element_size() for f in self.frames.values())
        if budget_bytes is not None and self.nbytes > budget_bytes:
            raise MemoryError(f"memory cache: {self.nbytes >> 20} MiB of frames exceed the budget of "
                              f"{budget_bytes >> 20} MiB")

    def _decoded(self, name: str, source: Any, budget_bytes: int | None) -> tuple[Tensor, Tensor]:
        # the same source (type and repr: root, units, channels...) and videos as an earlier stage
        key = (f"{type(source).__module__}.{type(source).__qualname__}: {source!r}", tuple(self.video_ids))
        if key in self._shared:
            return self._shared[key]
        parts, counts, total = [], [], 0
        for video_id in self.video_ids:
            count = source.num_frames(video_id)
            array = np.ascontiguousarray(source.read(video_id, list(range(count))))  # (T, H, W, C)
            parts.append(torch.from_numpy(array).permute(0, 3, 1, 2))  # (T, C, H, W)
            counts.append(count)
            total += array.nbytes
            if budget_bytes is not None and total > budget_bytes:
                raise MemoryError(f"memory cache: {name} frames exceed the budget of "
                                  f"{budget_bytes >> 20} MiB after {len(counts)} of "
                                  f"{len(self.video_ids)} videos")
        shapes = {tuple(t.shape[1:]) for t in parts}
        if len(shapes) != 1:
            raise CacheError(f"memory cache: {name} frames differ in size across videos "
                             f"({sorted(shapes)[:3]}); prepare a store with one short side, "
                             "or set data.cache=none")
        entry = (torch.cat(parts).contiguous(), torch.tensor(counts, dtype=torch.long))
        while len(self._shared) >= SHARED_ENTRIES:
            self._shared.pop(next(iter(self._shared)))
        self._shared[key] = entry
        return entry

    def __len__(self) -> int:
        return len(self.video_ids)

    def to(self, device: torch.device | str) -> MemoryClips:
        self.frames = {m: f.to(device) for m, f in self.frames.items()}
        return self


def estimate_bytes(dataset: Any) -> int:
    """Decoded size of ``dataset``: the first video's bytes per frame x its frame count, x videos."""
    first = dataset.videos.entries[0].video_id
    count = dataset.num_frames(first)
    per_frame = sum(source.read(first, [0]).nbytes for source in dataset.sources.values())
    return per_frame * count * len(dataset)


def use_memory_cache(mode: str, dataset: Any, budget_mib: int) -> bool:
    """Whether ``mode`` (auto / memory / none) caches ``dataset`` in memory."""
    if mode not in CACHE_MODES:
        raise ValueError(f"data.cache: expected one of {CACHE_MODES}, got {mode!r}")
    if mode == "auto":
        return estimate_bytes(dataset) <= budget_mib << 20
    return mode == "memory"


def memory_loader(dataset: Any, data: Any, seed: int, device: torch.device | str) -> MemoryBatchLoader | None:
    """The batched loader of ``dataset`` when ``data.cache`` (a ``VideoDataConfig``) selects it, else None.

    ``auto``: None when the estimate exceeds ``data.cache_budget_mib``, or when decoding
    fails (an unreadable video, the decoded size over the budget, frames of different
    sizes) — the per-sample loader
    then handles it (substitutes, ``data.max_bad_fraction``), with a warning saying why.
    ``memory``: such a failure is an error naming the video or the budget.
    """
    import warnings

    from vimix_ssl.config import ConfigError
    from vimix_ssl.data.datasets import READ_ERRORS

    if not use_memory_cache(data.cache, dataset, data.cache_budget_mib):
        return None
    try:
        clips = MemoryClips(dataset, data.cache_budget_mib << 20)
    except (MemoryError, CacheError, *READ_ERRORS) as e:
        if data.cache == "memory":
            key = "data.cache_budget_mib" if isinstance(e, MemoryError) else "data.cache"
            raise ConfigError(f"{key}: {e} (data.cache=memory; use auto to fall back)") from e
        warnings.warn(f"data.cache=auto: the training split is not cached ({type(e).__name__}: {e}); "
                      "using the per-sample loader", RuntimeWarning, stacklevel=2)
        return None
    return MemoryBatchLoader(clips, data.batch_size, clip_len=data.clip_len, stride=data.stride,
                             views=data.views, size=data.size, pad_mode=data.pad_mode,
                             crop_area=data.augment.crop_area, crop_aspect=data.augment.crop_aspect,
                             flip_probability=data.augment.flip_probability, seed=seed, device=device)


# -- batched sampling ------------------------------------------------------------------------------
def random_starts(lengths: Tensor, clip_len: int, stride: int, uniform: Tensor) -> Tensor:
    """Window starts ``(B,)`` uniform in ``[0, length - span]`` (0 when shorter) from U(0, 1) draws."""
    span = (clip_len - 1) * stride + 1
    last = (lengths - span).clamp(min=0)
    return (uniform * (last + 1)).floor().long().clamp(max=last)


def window_frames(starts: Tensor, lengths: Tensor, clip_len: int, stride: int, pad_mode: str) -> Tensor:
    """``(B, T)`` frame indices of each window, padded as ``sampling.window_indices``."""
    indices = starts[:, None] + stride * torch.arange(clip_len)  # (B, T)
    if pad_mode == "loop":
        return indices % lengths[:, None]
    return torch.minimum(indices, lengths[:, None] - 1)


def random_boxes(count: int, height: int, width: int, generator: torch.Generator,
                 area: tuple[float, float], aspect: tuple[float, float], flip_probability: float,
                 attempts: int = 10) -> tuple[Tensor, Tensor]:
    """RandomResizedCrop boxes for ``count`` clips at once: ``(B, 4)`` (top, left, h, w) as fractions, flips.

    Per clip the first of ``attempts`` draws that fits the frame, else the largest centre
    crop with the aspect clamped to ``aspect`` (torchvision's rule, as ``sample_random_geometry``).
    """
    def uniform(low: float, high: float) -> Tensor:
        return low + (high - low) * torch.rand(count, attempts, generator=generator, dtype=torch.float64)

    target = height * width * uniform(*area)
    ratio = torch.exp(uniform(math.log(aspect[0]), math.log(aspect[1])))
    w, h = torch.sqrt(target * ratio).round(), torch.sqrt(target / ratio).round()
    fits = (w > 0) & (w <= width) & (h > 0) & (h <= height)  # (B, attempts)
    first = fits.float().argmax(dim=1)  # first fitting attempt (0 when none fits)
    w, h = w.gather(1, first[:, None])[:, 0], h.gather(1, first[:, None])[:, 0]
    u_top, u_left = torch.rand(count, generator=generator, dtype=torch.float64), \
        torch.rand(count, generator=generator, dtype=torch.float64)
    top = (u_top * (height - h + 1)).floor().clamp(max=height - h)
    left = (u_left * (width - w + 1)).floor().clamp(max=width - w)
    ratio0 = width / height
    cw, ch = ((width, round(width / aspect[0])) if ratio0 < aspect[0] else
              (round(height * aspect[1]), height) if ratio0 > aspect[1] else (width, height))
    cw, ch = min(cw, width), min(ch, height)
    none_fit = ~fits.any(dim=1)
    h, w = torch.where(none_fit, float(ch), h), torch.where(none_fit, float(cw), w)
    top = torch.where(none_fit, float((height - ch) // 2), top)
    left = torch.where(none_fit, float((width - cw) // 2), left)
    boxes = torch.stack([top / height, left / width, h / height, w / width], dim=1).float()
    flips = torch.rand(count, generator=generator) < flip_probability
    return boxes, flips


def crop_resize_flip(clips: Tensor, boxes: Tensor, flips: Tensor, size: int, kind: str = "image",
                     frames_first: bool = False) -> Tensor:
    """Crop ``(B, C, T, H, W)`` float clips to their boxes (fractions), resize to ``size``², flip.

    One ``roi_align`` over the batch (the box is shared by a clip's frames and channels);
    ``kind="flow"``: a flip negates channel 0 (dx). Returns ``(B, C, T, size, size)``.
    ``frames_first``: ``clips`` is ``(B, T, C, H, W)`` (as gathered from the cache), which is
    cropped as it lies and transposed only at the output size.
    """
    from torchvision.ops import roi_align

    batch, first, second, height, width = clips.shape
    scale = clips.new_tensor([height, width, height, width])
    top, left, h, w = (boxes.to(clips.device, clips.dtype) * scale).unbind(1)  # pixels
    rois = torch.stack([torch.arange(batch, device=clips.device, dtype=clips.dtype),
                        left, top, left + w, top + h], dim=1)  # (B, 5): index, x1, y1, x2, y2 in pixels
    out = roi_align(clips.reshape(batch, first * second, height, width), rois, (size, size),
                    spatial_scale=1.0, sampling_ratio=-1, aligned=True)
    out = out.view(batch, first, second, size, size)
    if frames_first:
        out = out.transpose(1, 2).contiguous()  # (B, C, T, S, S)
    flipped = flips.to(clips.device).nonzero().flatten()
    if flipped.numel():
        mirrored = out.index_select(0, flipped).flip(-1)
        if kind == "flow":
            mirrored[:, 0].neg_()
        out.index_copy_(0, flipped, mirrored)
    return out


class MemoryBatchLoader:
    """Two-view training batches from a ``MemoryClips``, with ``EpochLoader``'s interface."""

    def __init__(self, clips: MemoryClips, batch_size: int, *, clip_len: int, stride: int, views: int,
                 size: int, pad_mode: str, crop_area: tuple[float, float], crop_aspect: tuple[float, float],
                 flip_probability: float, seed: int = 0, device: torch.device | str = "cpu"):
        self.clips = clips.to(device)
        self.device = torch.device(device)
        self.batch_size, self.clip_len, self.stride, self.views, self.size = (
            batch_size, clip_len, stride, views, size)
        self.pad_mode, self.crop_area, self.crop_aspect = pad_mode, crop_area, crop_aspect
        self.flip_probability, self.seed = flip_probability, seed
        self.sampler = ResumableSampler(len(clips), batch_size, seed=seed)
        self.epoch = 0

    @property
    def steps_per_epoch(self) -> int:
        return self.sampler.batches_per_epoch

    def set_epoch(self, epoch: int, start_batch: int = 0) -> None:
        self.sampler.set_epoch(epoch, start_batch)
        self.epoch = epoch

    def __len__(self) -> int:
        return self.sampler.batches_per_epoch - self.sampler.start_batch

    def __iter__(self) -> Iterator[dict[str, Any]]:
        order = torch.tensor(list(self.sampler), dtype=torch.long).view(-1, self.batch_size)
        for number, indices in enumerate(order, start=self.sampler.start_batch):
            yield self.batch(indices, number)

    def _crops(self, frames: Tensor, rows: Tensor, boxes: Tensor, flips: Tensor, kind: str) -> Tensor:
        """Gather ``rows`` (B, T) of ``frames``, crop/resize/flip: ``(B, C, T, S, S)`` float.

        On the CPU in blocks of clips whose float frames stay under ``BLOCK_BYTES`` (one
        block at the demo's shapes): a fresh temporary above the allocator's mmap threshold
        costs more in page faults than the crop itself.
        """
        per_clip = rows.shape[1] * frames[0].numel() * 4  # float32 bytes of one clip's frames
        block = len(rows) if frames.device.type != "cpu" else max(1, BLOCK_BYTES // per_clip)
        parts = []
        for start in range(0, len(rows), block):  # blocks of clips, each processed batched
            clip = frames[rows[start:start + block]].float()  # (b, T, C, H, W), as gathered
            if frames.dtype == torch.uint8:
                clip.div_(255)
            parts.append(crop_resize_flip(clip, boxes[start:start + block], flips[start:start + block],
                                          self.size, kind, frames_first=True))
        return parts[0] if len(parts) == 1 else torch.cat(parts)

    def batch(self, indices: Tensor, number: int = 0) -> dict[str, Any]:
        """The batch of videos ``indices`` (B,), this process's block of global batch ``number``.

        Draws are made for the whole global batch (world size x B) from ``(seed, epoch,
        number)`` and this rank takes its block, so N processes draw what one process with
        the combined batch would.
        """
        generator = torch.Generator().manual_seed((self.seed * 1_000_003 + self.epoch * 7919
                                                   + number * 104_729) % 2**63)
        count, world = len(indices), world_size()
        mine = slice(rank() * count, (rank() + 1) * count)
        lengths = self.clips.lengths[indices]
        first = self.clips.frames[self.clips.modalities[0]]
        out: dict[str, Any] = {m: [] for m in self.clips.modalities}
        for _ in range(self.views):
            uniform = torch.rand(count * world, generator=generator, dtype=torch.float64)[mine]
            starts = random_starts(lengths, self.clip_len, self.stride, uniform)
            window = window_frames(starts, lengths, self.clip_len, self.stride, self.pad_mode)  # (B, T)
            boxes, flips = random_boxes(count * world, first.shape[2], first.shape[3], generator,
                                        self.crop_area, self.crop_aspect, self.flip_probability)
            boxes, flips = boxes[mine], flips[mine]
            for m, frames in self.clips.frames.items():
                rows = (self.clips.offsets[m][indices][:, None] + window).to(self.device)  # (B, T)
                out[m].append(self._crops(frames, rows, boxes, flips, self.clips.kinds[m]))
        out.update(label=self.clips.labels[indices], index=indices,
                   video_id=[self.clips.video_ids[i] for i in indices.tolist()])
        return out
