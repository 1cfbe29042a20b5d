"""Frame sources: where a modality's frames come from (raw videos, a prepared store, flow...).

A ``FrameSource`` maps a ``video_id`` (path relative to the dataset root) to frames:

- ``num_frames(video_id) -> int``
- ``read(video_id, indices) -> np.ndarray`` ``(T, H, W, C)``: uint8 for images, float32
  for flow fields (``(T, H, W, 2)``: dx, dy).
- optional attribute ``field_kind``: ``"image"`` (default when absent) or ``"flow"``. A
  horizontal flip of a flow field must also negate dx; the dataset does that for sources
  whose ``field_kind`` is ``"flow"`` (see ``transforms.apply_geometry``).

Sources of one video need not have the same frame count or size: flow has one frame
fewer than RGB (flow frame t is the field between RGB frames t and t+1), and a store may
hold smaller frames. The dataset samples indices valid for every source of the video and
applies the same relative crop box to each.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np

from vimix_ssl.data.store import StoreError, StoreFile, read_manifest, read_store_frames, store_file_path
from vimix_ssl.data.video import VideoReader

FIELD_KINDS = ("image", "flow")


@runtime_checkable
class FrameSource(Protocol):
    def num_frames(self, video_id: str) -> int: ...

    def read(self, video_id: str, indices: Sequence[int]) -> np.ndarray: ...


def field_kind(source: FrameSource) -> str:
    """``"image"`` or ``"flow"`` (how geometric transforms treat this source's frames)."""
    kind = getattr(source, "field_kind", "image")
    if kind not in FIELD_KINDS:
        raise ValueError(f"{type(source).__name__}.field_kind is {kind!r}; expected one of {FIELD_KINDS}")
    return kind


class _LRU(OrderedDict):
    def __init__(self, capacity: int = 4096):
        super().__init__()
        self.capacity = capacity

    def put(self, key, value) -> None:
        self[key] = value
        self.move_to_end(key)
        while len(self) > self.capacity:
            self.popitem(last=False)


class RawVideoSource:
    """Decode frames straight from the dataset's video files with OpenCV (uint8 RGB).

    ``short_side``: resize on decode. ``count_frames``: count frames by decoding (once per
    video and process) instead of trusting the container header, which can be wrong.
    """

    field_kind = "image"

    def __init__(self, root: str | Path, short_side: int | None = None, count_frames: bool = False,
                 cache_size: int = 100_000):
        self.root = Path(root)
        self.short_side = short_side or None
        self.count_frames = count_frames
        self._counts: _LRU = _LRU(cache_size)

    def path(self, video_id: str) -> Path:
        return self.root / video_id

    def num_frames(self, video_id: str) -> int:
        if video_id not in self._counts:
            with VideoReader(self.path(video_id), count_frames=self.count_frames) as reader:
                self._counts.put(video_id, reader.num_frames)
        return self._counts[video_id]

    def read(self, video_id: str, indices: Sequence[int]) -> np.ndarray:
        known = self._counts.get(video_id) if self.count_frames else None
        with VideoReader(self.path(video_id), short_side=self.short_side, count_frames=self.count_frames
                         and known is None, known_frames=known) as reader:
            self._counts.put(video_id, reader.num_frames)
            return reader.read(indices)  # (T, H, W, 3) uint8

    def __repr__(self) -> str:
        return f"RawVideoSource({str(self.root)!r}, short_side={self.short_side})"


class FrameStoreSource:
    """Frames from a store written by ``vimix prepare video`` (uint8 ``(T, H, W, C)``)."""

    def __init__(self, store_dir: str | Path, cache_size: int = 4096):
        self.store_dir = Path(store_dir)
        self.manifest = read_manifest(self.store_dir)
        if self.manifest.get("modality") == "flow":
            raise StoreError(f"{self.store_dir}: this is a flow store (store.json modality 'flow'); "
                             "read it with vimix_ssl.data.flow_store.FlowStoreSource")
        self.field_kind = self.manifest.get("field_kind", "image")
        self._files: _LRU = _LRU(cache_size)  # video_id -> StoreFile (headers only, no open handles)

    def file(self, video_id: str) -> StoreFile:
        store_file = self._files.get(video_id)
        if store_file is None:
            path = store_file_path(self.store_dir, video_id)
            if not path.is_file():
                raise StoreError(f"{path}: not in the store {self.store_dir} (was `vimix prepare video` "
                                 f"run on this dataset, and did it finish? it reports failed videos)")
            store_file = StoreFile(path)
            self._files.put(video_id, store_file)
        return store_file

    def num_frames(self, video_id: str) -> int:
        return self.file(video_id).num_frames

    def read(self, video_id: str, indices: Sequence[int]) -> np.ndarray:
        return read_store_frames(self.file(video_id), indices)  # (T, H, W, C) uint8

    def __repr__(self) -> str:
        return f"FrameStoreSource({str(self.store_dir)!r})"
