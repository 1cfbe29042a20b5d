"""Extract optical flow for a whole dataset into a flow store: parallel, resumable, reported.

``extract_flow_store(videos, spec)`` runs one job per video over processes
(``vimix_ssl.utils.parallel.run_jobs``): a video whose flow file exists is skipped, each
file is written atomically (an interrupted run leaves only complete files), and a video
that fails (corrupt, unreadable) is reported in the summary without losing the others.

Frames are read through a ``FrameSource`` (raw videos or the prepared RGB store) in chunks
of ``chunk_frames``, so memory stays bounded for long videos; they are optionally resized
(short side) before the flow is computed, so flow is in resized-pixel units.

Change detection: each flow file records its source's fingerprint (the raw video, or the
RGB store file it was computed from); a rerun redoes exactly the videos whose source
changed. A truncated raw video (``vimix_ssl.data.video.truncation``) fails unless
``allow_truncated``; its flow file then records ``"truncated": true``.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from vimix_ssl.data.flow import DEFAULT_BOUND, FLOW_METHODS, FlowEstimator, quantize_flow, to_gray
from vimix_ssl.data.flow_store import (
    FLOW_ENCODING,
    encode_flow_field,
    flow_file_meta,
    flow_file_path,
    write_flow_file,
)
from vimix_ssl.utils.parallel import JobSummary, run_jobs

SOURCE_KINDS = ("raw", "store")


@dataclass(frozen=True)
class FlowExtractSpec:
    """Everything a worker needs (plain data, picklable)."""

    source: str                    # "raw" (video files under source_root) or "store" (frame store dir)
    source_root: str
    out_dir: str
    method: str = "tvl1"
    bound: float = DEFAULT_BOUND   # px, clip before quantising (peer toolkits: 20)
    short_side: int | None = None  # resize frames before computing (None: as read)
    chunk_frames: int = 64         # frames decoded at once
    allow_truncated: bool = False  # raw: flow of the decodable part of a truncated video (recorded)

    def validate(self) -> None:
        if self.source not in SOURCE_KINDS:
            raise ValueError(f"flow source must be one of {SOURCE_KINDS}, got {self.source!r}")
        if self.method not in FLOW_METHODS:
            raise ValueError(f"flow method must be one of {FLOW_METHODS}, got {self.method!r}")
        if self.bound <= 0:
            raise ValueError(f"flow bound must be positive, got {self.bound}")
        if self.short_side is not None and self.short_side < 8:
            raise ValueError(f"short side must be at least 8 px, got {self.short_side}")
        if self.chunk_frames < 2:
            raise ValueError(f"chunk_frames must be at least 2, got {self.chunk_frames}")

    def manifest(self) -> dict[str, Any]:
        """``store.json`` content of the flow store (checked on resume)."""
        return {"modality": "flow", "field_kind": "flow", "method": self.method, "bound": float(self.bound),
                "short_side": self.short_side, "codec": "png", "encoding": FLOW_ENCODING,
                "source": self.source, "source_root": str(Path(self.source_root).resolve())}

    def source_path(self, video_id: str) -> Path:
        """The file the flow of ``video_id`` is computed from (fingerprinted for change detection)."""
        if self.source == "store":
            from vimix_ssl.data.store import store_file_path

            return store_file_path(self.source_root, video_id)
        return Path(self.source_root) / video_id


_WORKER_CACHE: dict[FlowExtractSpec, tuple[Any, FlowEstimator]] = {}


def _store_and_estimator(spec: FlowExtractSpec) -> tuple[Any, FlowEstimator]:
    """One frame store reader (None for raw videos) and one estimator per process and spec."""
    if spec not in _WORKER_CACHE:
        from vimix_ssl.data.sources import FrameStoreSource

        store = FrameStoreSource(spec.source_root) if spec.source == "store" else None
        _WORKER_CACHE[spec] = (store, FlowEstimator(spec.method))  # TV-L1 keeps its buffers
    return _WORKER_CACHE[spec]


def _frame_chunks(spec: FlowExtractSpec, store: Any, video_id: str,
                  facts: dict[str, Any]) -> Iterator[np.ndarray]:
    """uint8 RGB chunks ``(t, H, W, 3)`` covering every frame of the video in order.

    Raw videos are decoded front to back with one open reader (frames counted by decoding
    first, never a seek between chunks, so no frame can be skipped or repeated).
    """
    if store is not None:
        count = store.num_frames(video_id)
        for start in range(0, count, spec.chunk_frames):
            yield store.read(video_id, range(start, min(start + spec.chunk_frames, count)))
        return
    from vimix_ssl.data.video import VideoReader

    path = Path(spec.source_root) / video_id
    with VideoReader(path, count_frames=True, allow_truncated=spec.allow_truncated) as probe:
        count = probe.num_frames  # counted by decoding: the header's count can be wrong
        facts.update(truncated=probe.truncated, header_frame_count=probe.header_frame_count)
    with VideoReader(path, known_frames=count) as reader:
        for start in range(0, count, spec.chunk_frames):
            yield reader.read(range(start, min(start + spec.chunk_frames, count)))


def _resize(frames: np.ndarray, short_side: int | None) -> np.ndarray:
    from vimix_ssl.data.video import resize_frame, short_side_size

    height, width = short_side_size(frames.shape[1], frames.shape[2], short_side)
    if (height, width) == frames.shape[1:3]:
        return frames
    return np.stack([resize_frame(frame, height, width) for frame in frames])


def extract_video_flow(spec: FlowExtractSpec, video_id: str) -> Path:
    """Compute, quantise and store the flow of one video; returns the written file."""
    from vimix_ssl.utils.io import file_fingerprint

    store, estimator = _store_and_estimator(spec)
    source = spec.source_path(video_id)
    fingerprint = file_fingerprint(source) if source.is_file() else None  # a missing one fails when read
    facts: dict[str, Any] = {}
    encoded: list[bytes] = []
    previous = None  # last gray frame of the previous chunk, uint8 (H, W)
    num_frames = 0
    for chunk in _frame_chunks(spec, store, video_id, facts):
        for frame in to_gray(_resize(chunk, spec.short_side)):  # (H, W) uint8
            num_frames += 1
            if previous is not None:
                encoded.append(encode_flow_field(quantize_flow(estimator(previous, frame), spec.bound)))
            previous = frame
    if num_frames < 2:
        raise ValueError(f"{video_id}: {num_frames} frame(s); flow needs at least 2")
    height, width = previous.shape
    path = flow_file_path(spec.out_dir, video_id)
    meta = flow_file_meta(video_id, spec.method, spec.bound, height, width, num_frames, spec.short_side)
    meta.update(source=fingerprint, **facts)
    write_flow_file(path, encoded, meta)
    return path


def _is_done(spec: FlowExtractSpec, video_id: str) -> bool:
    """Extracted, and from the source as it is now (files are written atomically)."""
    from vimix_ssl.data.store import is_current

    return is_current(flow_file_path(spec.out_dir, video_id), spec.source_path(video_id))


def prepare_flow_store(out_dir: str | Path, spec: FlowExtractSpec) -> None:
    """Create ``out_dir/store.json``, or check that an existing one matches ``spec`` (resume)."""
    from vimix_ssl.data.store import ensure_manifest

    spec.validate()
    ensure_manifest(out_dir, spec.manifest(), what="flow")


def extract_flow_store(videos: list[str], spec: FlowExtractSpec, workers: int | None = None,
                       desc: str = "flow") -> JobSummary[str]:
    """Extract flow of every video not yet in ``spec.out_dir`` (or whose source changed)."""
    from vimix_ssl.utils.io import remove_stale_temps

    prepare_flow_store(spec.out_dir, spec)
    remove_stale_temps(Path(spec.out_dir) / "frames")  # left by a killed earlier run
    return run_jobs(videos, functools.partial(extract_video_flow, spec),
                    is_done=functools.partial(_is_done, spec), workers=workers, desc=desc)
