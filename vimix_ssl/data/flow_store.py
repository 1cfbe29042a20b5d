"""Flow store: quantised optical flow per video in the frame-store container, and its loader.

A flow store is a directory laid out like the RGB frame store (``vimix_ssl.data.store``)::

    FLOW/store.json                 manifest: modality "flow", method, bound, short_side, codec
    FLOW/frames/<video_id>.frames   one container file per video

Each container frame is one flow field ``t`` (RGB frame ``t`` -> ``t + 1``), quantised to
uint8 by :func:`vimix_ssl.data.flow.quantize_flow` and stored LOSSLESSLY as one grayscale
PNG of width ``2 W``: dx in columns ``[0, W)``, dy in ``[W, 2W)`` (so it can be viewed
with any image tool). Every file's meta repeats what makes it self-describing: method,
bound, field size, the source's frame count (``num_frames == source_frames - 1``) and the
encoding. :class:`FlowStoreSource` reads it back as float32 ``(T, H, W, 2)`` (pixels or
normalised), optionally with a constant third channel for 3-channel encoders (added on
load, never stored).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from vimix_ssl.data.flow import DEFAULT_BOUND, dequantize_flow
from vimix_ssl.data.store import (
    FRAME_SUFFIX,
    StoreError,
    StoreFile,
    read_manifest,
    store_file_path,
    write_store_file,
)

FLOW_ENCODING = "png-gray-dx|dy"  # (H, 2W) grayscale PNG, dx left half, dy right half
FLOW_FORMAT_VERSION = 1


def encode_flow_field(quantized: np.ndarray) -> bytes:
    """uint8 ``(H, W, 2)`` -> PNG bytes of the ``(H, 2W)`` image ``[dx | dy]`` (lossless)."""
    import cv2

    if quantized.dtype != np.uint8 or quantized.ndim != 3 or quantized.shape[2] != 2:
        raise ValueError(f"expected quantised flow uint8 (H, W, 2), got {quantized.shape} {quantized.dtype}")
    side_by_side = np.concatenate([quantized[..., 0], quantized[..., 1]], axis=1)  # (H, 2W)
    ok, buffer = cv2.imencode(".png", side_by_side, [cv2.IMWRITE_PNG_COMPRESSION, 3])
    if not ok:
        raise StoreError(f"cv2.imencode could not write a PNG of shape {side_by_side.shape}")
    return buffer.tobytes()


def decode_flow_field(data: bytes) -> np.ndarray:
    """PNG bytes from :func:`encode_flow_field` -> uint8 ``(H, W, 2)``."""
    import cv2

    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    if image is None or image.ndim != 2 or image.shape[1] % 2:
        raise StoreError(f"a {len(data)}-byte flow frame is not a grayscale PNG of even width "
                         f"(got {None if image is None else image.shape})")
    width = image.shape[1] // 2
    return np.stack([image[:, :width], image[:, width:]], axis=-1)


def flow_file_meta(video_id: str, method: str, bound: float, height: int, width: int,
                   source_frames: int, short_side: int | None) -> dict[str, Any]:
    """The meta every flow container file carries (plain JSON data)."""
    return {"modality": "flow", "flow_format_version": FLOW_FORMAT_VERSION, "video_id": video_id,
            "method": method, "bound": float(bound), "height": height, "width": width,
            "short_side": short_side, "source_frames": source_frames, "encoding": FLOW_ENCODING,
            "alignment": "field t = flow from frame t to frame t+1"}


def write_flow_file(path: str | Path, encoded_fields: Sequence[bytes], meta: dict[str, Any]) -> None:
    """Write one video's encoded fields atomically (``meta`` from :func:`flow_file_meta`)."""
    write_store_file(path, encoded_fields, meta)


def flow_file_path(store_dir: str | Path, video_id: str) -> Path:
    return store_file_path(store_dir, video_id)


def list_store_videos(store_dir: str | Path) -> list[str]:
    """Video ids held by a (frame or flow) store, sorted; temp files of interrupted writes excluded."""
    frames = Path(store_dir) / "frames"
    if not frames.is_dir():
        raise StoreError(f"{store_dir}: no frames/ folder (not a store written by `vimix prepare`)")
    return sorted(p.relative_to(frames).as_posix()[: -len(FRAME_SUFFIX)]
                  for p in frames.rglob(f"*{FRAME_SUFFIX}") if not p.name.startswith("."))


def check_flow_meta(store_file: StoreFile) -> dict[str, Any]:
    """The file's meta after checking it is a flow file this version can decode."""
    meta = store_file.meta
    if meta.get("modality") != "flow" or meta.get("encoding") != FLOW_ENCODING:
        raise StoreError(f"{store_file.path}: not a vimix flow file (modality {meta.get('modality')!r}, "
                         f"encoding {meta.get('encoding')!r}; expected 'flow', {FLOW_ENCODING!r})")
    return meta


class FlowStoreSource:
    """A ``FrameSource`` over a flow store: ``read`` -> float32 ``(T, H, W, 2 or 3)``.

    ``units``: ``"pixels"`` or ``"normalized"`` (``f / bound`` in ``[-1, 1]``).
    ``channels``: 2 (dx, dy) or 3 (dx, dy, ``third_channel_value``) for 3-channel encoders.
    Index ``t`` is the field from RGB frame ``t`` to ``t + 1``; ``num_frames`` is the RGB
    frame count minus one.
    """

    field_kind = "flow"  # a horizontal flip must negate dx (the dataset does it)

    def __init__(self, store_dir: str | Path, units: str = "pixels", channels: int = 2,
                 third_channel_value: float = 0.0):
        if units not in ("pixels", "normalized"):
            raise ValueError(f"units must be 'pixels' or 'normalized', got {units!r}")
        if channels not in (2, 3):
            raise ValueError(f"channels must be 2 (dx, dy) or 3 (dx, dy, constant), got {channels}")
        self.store_dir = Path(store_dir)
        self.manifest = read_manifest(self.store_dir)
        if self.manifest.get("modality") != "flow":
            raise StoreError(f"{self.store_dir}: store.json has modality {self.manifest.get('modality')!r}, "
                             "expected 'flow' (create a flow store with `vimix prepare flow`)")
        self.units = units
        self.channels = channels
        self.third_channel_value = float(third_channel_value)
        self._files: dict[str, StoreFile] = {}

    def file(self, video_id: str) -> StoreFile:
        store_file = self._files.get(video_id)
        if store_file is None:
            path = flow_file_path(self.store_dir, video_id)
            if not path.is_file():
                raise StoreError(f"{path}: not in the flow store {self.store_dir} (did `vimix prepare "
                                 "flow` finish? it reports failed videos; `vimix prepare check` lists gaps)")
            store_file = StoreFile(path)
            check_flow_meta(store_file)
            self._files[video_id] = store_file
        return store_file

    def num_frames(self, video_id: str) -> int:
        return self.file(video_id).num_frames

    def read_quantized(self, video_id: str, indices: Sequence[int]) -> np.ndarray:
        """The stored uint8 ``(T, H, W, 2)`` for ``indices`` (order and repeats kept)."""
        store_file = self.file(video_id)
        unique = sorted({int(i) for i in indices})
        try:
            decoded = dict(zip(unique, (decode_flow_field(b) for b in store_file.read_many(unique))))
        except StoreError as e:
            raise StoreError(f"{store_file.path}: {e}") from e
        return np.stack([decoded[int(i)] for i in indices])

    def read(self, video_id: str, indices: Sequence[int]) -> np.ndarray:
        """Fields ``indices`` -> float32 ``(T, H, W, C)``, C = ``channels``."""
        bound = float(self.file(video_id).meta.get("bound", DEFAULT_BOUND))
        flow = dequantize_flow(self.read_quantized(video_id, indices), bound, self.units)  # (T, H, W, 2)
        if self.channels == 3:
            third = np.full(flow.shape[:-1] + (1,), self.third_channel_value, np.float32)
            flow = np.concatenate([flow, third], axis=-1)
        return flow

    def __repr__(self) -> str:
        return f"FlowStoreSource({str(self.store_dir)!r}, units={self.units!r}, channels={self.channels})"
