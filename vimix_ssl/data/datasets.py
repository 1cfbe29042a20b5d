"""The video dataset: windows of one or more aligned modalities, geometric augmentation, bad-video handling.

``VideoDataset(videos, sources)`` takes a ``VideoList`` (from ``splits``) and a
``{modality: FrameSource}`` dict. Samples follow docs/ARCHITECTURE.md::

    training:   {"rgb": [view1, view2], ..., "label", "index", "video_id"}, each view (C, T, S, S)
    evaluation: {"rgb": (N_clips, C, T, S, S) dense windows | (C, T, S, S) centre window, ...}

Alignment: frame t of every modality covers the same moment; window indices are drawn in
``[0, min over sources of num_frames)`` (flow, one frame shorter than RGB, sets the limit)
and read from every source. Each view's crop box and flip are drawn once (relative to the
first modality's frame size) and applied to every frame of every modality. RGB stays uint8;
photometric augmentation runs later, batched (``transforms.BatchPhotometric``).

Unreadable videos: with ``strict=False`` (training only) a failing video is recorded in
``bad_samples`` (video id -> reason) and ``skip_log`` (one ``(epoch, index, video_id, reason)``
per failed read, in this process), a warning gives the count and the first few paths, and a
deterministic substitute sample is returned so an epoch does not crash. Because a DataLoader
worker's dataset copy is not the main process's, every training sample also carries
``"skipped"``: ``""``, or one ``"<video_id>\t<reason>"`` line per video that failed before this
sample was substituted for it (collated into a list of strings per batch; the trainer sums them).
In evaluation mode a dataset is always strict: an unreadable video raises
:class:`UnreadableVideoError` naming it (evaluation never substitutes; the evaluators' explicit
exclusion option drops listed videos up front). ``scan_videos`` checks every video up front.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset

from vimix_ssl.data.config import VideoDataConfig
from vimix_ssl.data.sampling import centre_window, dense_windows, random_windows
from vimix_ssl.data.sources import FrameSource, FrameStoreSource, RawVideoSource, field_kind
from vimix_ssl.data.splits import VideoList, load_video_list
from vimix_ssl.data.store import StoreError
from vimix_ssl.data.transforms import (
    ClipGeometry,
    apply_geometry,
    centre_geometry,
    sample_random_geometry,
    sample_scale_jitter_geometry,
)
from vimix_ssl.data.video import VideoReadError

READ_ERRORS = (VideoReadError, StoreError, OSError, cv2.error)
EVAL_WINDOW_MODES = ("dense", "centre", "dense_coclr", "random")
RANDOM_WINDOW_SEED = 0  # eval_windows="random": the window of sample i is drawn from rng([seed, i])


class UnreadableVideoError(VideoReadError, ValueError):
    """A video of an evaluation split (or of a strict dataset) cannot be read; the message names it.

    A ``VideoReadError`` (what strict datasets raised before) and a ``ValueError`` (a clean exit 2
    from the commands). One argument (the whole message) is accepted too: that is how a
    DataLoader worker's exception is rebuilt in the main process.
    """

    def __init__(self, path: str, reason: str | None = None):
        if reason is None:
            Exception.__init__(self, path)
            self.path, self.reason = "", path
        else:
            super().__init__(path, reason)


def centre_crop_geometry(height: int, width: int, fraction: float = 1.0) -> ClipGeometry:
    """The centred square of side ``fraction`` × the short side (1.0: the centre square).

    CoCLR's test transform ``CenterCrop(224)`` of 256-px frames is ``fraction = 224 / 256``.
    """
    if fraction >= 1.0:
        return centre_geometry(height, width)
    side = fraction * min(height, width)
    return ClipGeometry((height - side) / 2 / height, (width - side) / 2 / width, side / height,
                        side / width, False)


def coclr_dense_windows(num_frames: int, clip_len: int, stride: int, window_stride: int) -> list[np.ndarray]:
    """CoCLR's test windows (dataset/lmdb_dataset.py ``frame_sampler``, mode test).

    Starts ``range(0, T - clip_len*stride + 1, window_stride)`` with no extra tail window; a
    video not longer than ``clip_len*stride`` frames gives one window left-padded with frame 0
    (``0 0 ... 0 0 1 ... T-1``).
    """
    span = clip_len * stride  # CoCLR's span (num_frames * ds), one frame more than window_span
    if num_frames - span <= 0:
        sequence = np.arange(clip_len, dtype=np.int64) * stride
        sequence = sequence[sequence < num_frames]
        window = np.zeros(clip_len, dtype=np.int64)
        window[clip_len - len(sequence):] = sequence
        return [window]
    starts = range(0, num_frames - span + 1, window_stride)
    return [s + stride * np.arange(clip_len, dtype=np.int64) for s in starts]


class VideoDataset(Dataset):
    """Clips of the videos in ``videos`` from ``sources`` (modality -> frame source)."""

    def __init__(self, videos: VideoList, sources: Mapping[str, FrameSource], *, train: bool = True,
                 clip_len: int = 32, stride: int = 1, views: int = 2, size: int = 128,
                 pad_mode: str = "loop", eval_windows: str = "dense", eval_window_stride: int = 15,
                 crop_area: tuple[float, float] = (0.2, 1.0),
                 crop_aspect: tuple[float, float] = (3 / 4, 4 / 3),
                 flip_probability: float = 0.5, strict: bool = False, seed: int | None = None,
                 max_substitutes: int = 10, scale_jitter: tuple[int, int] | None = None):
        if not sources:
            raise ValueError("VideoDataset needs at least one frame source")
        if eval_windows not in EVAL_WINDOW_MODES:
            raise ValueError(f"eval_windows must be one of {EVAL_WINDOW_MODES}, got {eval_windows!r}")
        self.videos, self.sources = videos, dict(sources)
        self.kinds = {name: field_kind(source) for name, source in self.sources.items()}
        self.train, self.clip_len, self.stride, self.views, self.size = train, clip_len, stride, views, size
        self.pad_mode, self.eval_windows, self.eval_window_stride = pad_mode, eval_windows, eval_window_stride
        self.crop_area, self.crop_aspect, self.flip_probability = crop_area, crop_aspect, flip_probability
        self.scale_jitter = scale_jitter  # seed 002 short-side jitter + random crop instead of resized crop
        self.strict, self.seed, self.max_substitutes = strict, seed, max_substitutes
        self.epoch = 0
        self.eval_crop_fraction = 1.0  # evaluation crop: this fraction of the short side, centred
        # evaluation frames: "square" = the centred crop above, resized to size²; "full" = the whole
        # frame, short side resized to size, aspect ratio kept (finetune.test_frame: full)
        self.eval_frame = "square"
        self.bad_samples: dict[str, str] = {}  # video id -> reason (this process's view)
        self.skip_log: list[tuple[int, int, str, str]] = []  # (epoch, index, video_id, reason) per failure

    @property
    def class_names(self) -> list[str]:
        return self.videos.class_names

    def __len__(self) -> int:
        return len(self.videos.entries)

    def set_epoch(self, epoch: int) -> None:
        """With a ``seed``, sampling depends on (seed, epoch, index) only."""
        self.epoch = epoch

    def num_frames(self, video_id: str) -> int:
        """Frames usable by every modality: the minimum over the sources."""
        return min(source.num_frames(video_id) for source in self.sources.values())

    def _rng(self, index: int) -> np.random.Generator:
        if self.seed is not None:
            return np.random.default_rng([self.seed, self.epoch, index])
        # Draw from torch's RNG, which DataLoader seeds differently in every worker.
        return np.random.default_rng(int(torch.randint(0, 2**62, ()).item()))

    def load(self, index: int) -> dict[str, Any]:
        """Sample ``index`` without bad-video handling (errors propagate)."""
        entry = self.videos.entries[index]
        frames_count = self.num_frames(entry.video_id)
        sample: dict[str, Any] = {}
        if self.train:
            rng = self._rng(index)
            windows = random_windows(frames_count, self.clip_len, self.stride, self.views, rng, self.pad_mode)
            union, frames = self._read(entry.video_id, windows)
            first = next(iter(frames.values()))
            geometries = [sample_random_geometry(first.shape[1], first.shape[2], rng, self.crop_area,
                                                 self.crop_aspect, self.flip_probability)
                          if self.scale_jitter is None else
                          sample_scale_jitter_geometry(first.shape[1], first.shape[2], rng, self.scale_jitter,
                                                       self.size, self.flip_probability) for _ in windows]
            for name, array in frames.items():
                sample[name] = [self._clip(name, array, union, window, geometry)
                                for window, geometry in zip(windows, geometries)]
        else:
            windows = self.eval_window_indices(index, frames_count)
            union, frames = self._read(entry.video_id, windows)
            for name, array in frames.items():
                if self.eval_frame == "full":
                    geometry = ClipGeometry(0.0, 0.0, 1.0, 1.0, False)
                    shape = self.full_frame_shape(array.shape[1], array.shape[2])
                else:
                    geometry = centre_crop_geometry(array.shape[1], array.shape[2], self.eval_crop_fraction)
                    shape = None
                clips = [self._clip(name, array, union, window, geometry, shape) for window in windows]
                sample[name] = torch.stack(clips) if self.eval_windows.startswith("dense") else clips[0]
        sample.update(label=entry.label, index=index, video_id=entry.video_id)
        return sample

    def source_files(self, video_id: str) -> list[str]:
        """The file each source reads ``video_id`` from (for content fingerprints of caches)."""
        return [str(source_file(source, video_id)) for source in self.sources.values()]

    def exclude(self, video_ids: Sequence[str]) -> None:
        """Drop ``video_ids`` from the list (an evaluator's explicit exclusion; never silent)."""
        drop = set(video_ids)
        self.videos = VideoList([e for e in self.videos.entries if e.video_id not in drop],
                                self.videos.class_names)

    def eval_window_indices(self, index: int, frames_count: int) -> list[np.ndarray]:
        """The evaluation windows of sample ``index`` (``eval_windows`` mode)."""
        if self.eval_windows == "dense":
            return dense_windows(frames_count, self.clip_len, self.stride, self.eval_window_stride,
                                 self.pad_mode)
        if self.eval_windows == "dense_coclr":
            return coclr_dense_windows(frames_count, self.clip_len, self.stride, self.eval_window_stride)
        if self.eval_windows == "random":
            rng = np.random.default_rng([RANDOM_WINDOW_SEED, index])
            return random_windows(frames_count, self.clip_len, self.stride, 1, rng, self.pad_mode)
        return [centre_window(frames_count, self.clip_len, self.stride, self.pad_mode)]

    def _read(self, video_id: str, windows: Sequence[np.ndarray]) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """The sorted union of the windows' indices, and each modality's frames there (one read each)."""
        union = np.unique(np.concatenate(windows))
        return union, {name: source.read(video_id, union.tolist()) for name, source in self.sources.items()}

    def full_frame_shape(self, height: int, width: int) -> tuple[int, int]:
        """``(out_h, out_w)`` of a whole ``height`` x ``width`` frame with its short side at ``size``."""
        short = min(height, width)
        return (max(self.size, round(height * self.size / short)),
                max(self.size, round(width * self.size / short)))

    def _clip(self, name: str, frames: np.ndarray, union: np.ndarray, window: np.ndarray,
              geometry: ClipGeometry, shape: tuple[int, int] | None = None) -> torch.Tensor:
        positions = np.searchsorted(union, window)  # window frames within the union read
        first, last = int(positions[0]), int(positions[-1])
        consecutive = last - first == len(positions) - 1 and bool(np.all(np.diff(positions) == 1))
        selected = frames[first:last + 1] if consecutive else frames[positions]  # a view when possible
        clip = apply_geometry(selected, geometry, self.size, self.kinds[name], channels_first=True,
                              shape=shape)
        return torch.from_numpy(clip)  # (C, T, size, size), or (C, T, out_h, out_w) with ``shape``

    def __getitem__(self, index: int) -> dict[str, Any]:
        if self.strict or not self.train:  # evaluation is never substituted
            video_id = self.videos.entries[index].video_id
            try:
                return self.load(index)
            except READ_ERRORS as e:
                raise UnreadableVideoError(video_id, f"unreadable (sample {index}): "
                                                     f"{type(e).__name__}: {e}") from e
        candidate = index
        step = max(1, int(len(self) * 0.618))  # substitutes spread over the dataset, not neighbours
        skipped: list[str] = []
        for attempt in range(self.max_substitutes + 1):
            video_id = self.videos.entries[candidate].video_id
            if video_id not in self.bad_samples:
                try:
                    sample = self.load(candidate)
                    sample["skipped"] = "\n".join(skipped)
                    return sample
                except READ_ERRORS as e:
                    self._report(video_id, f"{type(e).__name__}: {e}", candidate, index)
            skipped.append(f"{video_id}\t{self.bad_samples[video_id]}")
            self.skip_log.append((self.epoch, candidate, video_id, self.bad_samples[video_id]))
            candidate = (index + (attempt + 1) * step) % len(self)
        raise RuntimeError(f"sample {index} and {self.max_substitutes} substitutes are all unreadable; "
                           f"{len(self.bad_samples)} bad videos so far, e.g. {list(self.bad_samples)[:3]}")

    def _report(self, video_id: str, reason: str, candidate: int, index: int) -> None:
        self.bad_samples[video_id] = reason
        count = len(self.bad_samples)
        if count & (count - 1) == 0:  # warn at 1, 2, 4, 8, ... bad videos
            first = "; ".join(f"{v} ({r})" for v, r in list(self.bad_samples.items())[:3])
            warnings.warn(f"{count} unreadable video(s) so far, substituting other samples "
                          f"(sample {index} failed as {candidate}); first: {first}. Run `vimix data check` "
                          "to list them all, or set strict=True to raise.", RuntimeWarning, stacklevel=3)


def source_file(source: FrameSource, video_id: str) -> Path:
    """Where ``source`` keeps ``video_id``: the video file, or its frame/flow store file."""
    from vimix_ssl.data.flow_store import FlowStoreSource, flow_file_path
    from vimix_ssl.data.store import store_file_path

    if isinstance(source, RawVideoSource):
        return source.path(video_id)
    if isinstance(source, FlowStoreSource):
        return flow_file_path(source.store_dir, video_id)
    if isinstance(source, FrameStoreSource):
        return store_file_path(source.store_dir, video_id)
    path = getattr(source, "path", None)
    if callable(path):
        return Path(path(video_id))
    raise TypeError(f"cannot tell which file {source!r} reads {video_id!r} from")


def build_sources(cfg: VideoDataConfig) -> dict[str, FrameSource]:
    """The RGB source a config names: the prepared store if set, else raw videos."""
    if cfg.store:
        return {"rgb": FrameStoreSource(cfg.store)}
    return {"rgb": RawVideoSource(cfg.root, short_side=cfg.decode_short_side or None,
                                  count_frames=cfg.count_frames)}


def build_video_dataset(cfg: VideoDataConfig, subset: str, train: bool,
                        extra_sources: Mapping[str, FrameSource] | None = None,
                        seed: int | None = None) -> VideoDataset:
    """The dataset of ``cfg`` for ``subset`` ('train' / 'test' / 'all'), plus e.g. a flow source."""
    videos = build_video_list(cfg, subset)
    sources = {**build_sources(cfg), **(extra_sources or {})}
    return VideoDataset(videos, sources, train=train, clip_len=cfg.clip_len, stride=cfg.stride,
                        views=cfg.views, size=cfg.size, pad_mode=cfg.pad_mode, eval_windows=cfg.eval_windows,
                        eval_window_stride=cfg.eval_window_stride, crop_area=cfg.augment.crop_area,
                        crop_aspect=cfg.augment.crop_aspect, flip_probability=cfg.augment.flip_probability,
                        strict=cfg.strict, seed=seed, scale_jitter=cfg.augment.scale_jitter)


def build_video_list(cfg: VideoDataConfig, subset: str) -> VideoList:
    """The video list ``cfg`` names for ``subset`` (Kinetics: with ``cfg.label_map``)."""
    return load_video_list(cfg.dataset, cfg.root, cfg.splits or None, cfg.split, subset,
                           label_map=cfg.label_map or None)


def collate_clips(samples: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Collate dense evaluation samples: windows of all videos concatenated.

    Each modality becomes ``(sum N_clips, C, T, H, W)``; ``clip_sample`` ``(sum N_clips,)``
    gives the position in this batch of each window's video; label/index are ``(B,)``.
    """
    batch: dict[str, Any] = {}
    for name, value in samples[0].items():
        if isinstance(value, torch.Tensor):
            batch[name] = torch.cat([s[name] if s[name].ndim == 5 else s[name][None] for s in samples])
    first = next(name for name, value in samples[0].items() if isinstance(value, torch.Tensor))
    counts = [s[first].shape[0] if s[first].ndim == 5 else 1 for s in samples]
    batch["clip_sample"] = torch.repeat_interleave(torch.arange(len(samples)), torch.tensor(counts))
    batch["label"] = torch.tensor([s["label"] for s in samples])
    batch["index"] = torch.tensor([s["index"] for s in samples])
    batch["video_id"] = [s["video_id"] for s in samples]
    return batch


class _CheckVideo:
    """Picklable job: raise if any source cannot read a video's first and last usable frame."""

    def __init__(self, sources: Mapping[str, FrameSource]):
        self.sources = dict(sources)

    def __call__(self, video_id: str) -> None:
        for name, source in self.sources.items():
            frames_count = source.num_frames(video_id)
            if frames_count < 1:
                raise VideoReadError(video_id, f"{name}: no frames")
            source.read(video_id, [0])
            source.read(video_id, [frames_count - 1])  # separate reads: a seek, not a full decode


def scan_videos(video_ids: Sequence[str], sources: Mapping[str, FrameSource],
                workers: int = 1) -> list[tuple[str, str]]:
    """Check every video up front: ``[(video_id, reason), ...]`` for the unreadable ones.

    Reads each source's first and last frame (with ``RawVideoSource(count_frames=True)``
    every frame is decoded, which also catches a header that over-counts).
    """
    from vimix_ssl.utils.parallel import run_jobs

    summary = run_jobs(list(video_ids), _CheckVideo(sources), workers=workers, desc="checking videos")
    return list(summary.failed)
