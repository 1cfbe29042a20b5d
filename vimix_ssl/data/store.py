"""Prepared frame store: one file per video holding its frames as encoded images.

File layout (little-endian)::

    b"VIMIXFS1"                      8-byte magic
    uint32 header_length
    header                           UTF-8 JSON {"meta": {...}, "offsets": [...], "lengths": [...]}
    frame bytes                      frame i at data_start + offsets[i], lengths[i] bytes

Reading frame i touches only the header and that frame's bytes, so a 32-frame window
costs 32 small reads and 32 ``cv2.imdecode`` calls. The container is codec-agnostic
(``write_store_file(path, encoded_frames, meta)``): RGB uses JPEG, a flow store can use a
lossless codec. Files are written atomically, so an interrupted ``vimix prepare`` leaves
only complete files behind.

A store directory holds ``store.json`` (format, dataset, modality, codec, quality, short
side, source root) and ``frames/<video_id>.frames``.

Change detection: each file's meta records its source's fingerprint (``"source"``: size,
mtime and a hash of the first and last MiB, ``vimix_ssl.utils.io.file_fingerprint``). A
rerun redoes exactly the videos whose source changed (``is_current``), and ``vimix prepare
check`` lists the files that no longer match their sources. A truncated source video
(``vimix_ssl.data.video.truncation``) fails unless ``allow_truncated``, and then its file
records ``"truncated": true`` with the decoded and header frame counts.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from vimix_ssl.utils.io import atomic_open, atomic_write_json, file_fingerprint, source_unchanged
from vimix_ssl.utils.parallel import JobSummary, run_jobs

MAGIC = b"VIMIXFS1"
MANIFEST = "store.json"
STORE_FORMAT = "vimix-frame-store"
STORE_FORMAT_VERSION = 1
FRAME_SUFFIX = ".frames"
CODECS = {"jpeg": ".jpg", "png": ".png", "webp": ".webp"}


class StoreError(RuntimeError):
    """A store file or directory is missing, truncated, or not a vimix frame store."""


def write_store_file(path: str | Path, encoded_frames: Sequence[bytes], meta: dict[str, Any]) -> None:
    """Write one video's encoded frames and its ``meta`` (plain JSON data) atomically."""
    if not encoded_frames:
        raise ValueError(f"{path}: refusing to write a store file with no frames")
    lengths = [len(b) for b in encoded_frames]
    offsets = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(int).tolist()
    header = json.dumps({"meta": meta, "offsets": offsets, "lengths": lengths}).encode("utf-8")
    with atomic_open(path, "wb") as f:
        f.write(MAGIC + struct.pack("<I", len(header)) + header)
        for frame in encoded_frames:
            f.write(frame)


class StoreFile:
    """Read access to one store file: ``meta``, ``num_frames``, ``read_bytes(i)``."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        try:
            with open(self.path, "rb") as f:
                prefix = f.read(len(MAGIC) + 4)
                if len(prefix) < len(MAGIC) + 4 or prefix[: len(MAGIC)] != MAGIC:
                    raise StoreError(f"{self.path}: not a vimix frame store file (bad magic)")
                (length,) = struct.unpack("<I", prefix[len(MAGIC):])
                header = json.loads(f.read(length).decode("utf-8"))
        except FileNotFoundError as e:
            raise StoreError(f"{self.path}: store file not found") from e
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            raise StoreError(f"{self.path}: corrupt header: {e}") from e
        try:
            self.meta: dict[str, Any] = dict(header["meta"])
            self._offsets: list[int] = [int(x) for x in header["offsets"]]
            self._lengths: list[int] = [int(x) for x in header["lengths"]]
        except (KeyError, TypeError, ValueError) as e:
            raise StoreError(f"{self.path}: corrupt header (needs meta, offsets, lengths): {e!r}") from e
        if not self._offsets or len(self._offsets) != len(self._lengths):
            raise StoreError(f"{self.path}: corrupt header ({len(self._offsets)} offsets, "
                             f"{len(self._lengths)} lengths)")
        self._data_start = len(MAGIC) + 4 + length
        expected = self._data_start + self._offsets[-1] + self._lengths[-1]
        size = self.path.stat().st_size
        if size < expected:
            raise StoreError(f"{self.path}: truncated ({size} bytes, header promises {expected})")

    @property
    def num_frames(self) -> int:
        return len(self._offsets)

    def _check(self, index: int) -> int:
        if not 0 <= index < self.num_frames:
            raise StoreError(f"{self.path}: frame {index} requested but the file holds {self.num_frames}")
        return index

    def read_bytes(self, index: int) -> bytes:
        return self.read_many([index])[0]

    def read_many(self, indices: Sequence[int]) -> list[bytes]:
        """Encoded bytes of several frames with one open file (order and repeats kept)."""
        out = []
        with open(self.path, "rb") as f:
            for index in indices:
                i = self._check(int(index))
                f.seek(self._data_start + self._offsets[i])
                out.append(f.read(self._lengths[i]))
        return out


def encode_image(image: np.ndarray, codec: str = "jpeg", quality: int = 90) -> bytes:
    """Encode one uint8 ``(H, W, C)`` RGB (C=3) or single-channel (C=1) image."""
    if codec not in CODECS:
        raise ValueError(f"unknown codec {codec!r}; expected one of {sorted(CODECS)}")
    if image.ndim == 3 and image.shape[2] == 3:
        image = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
    params = {"jpeg": [cv2.IMWRITE_JPEG_QUALITY, quality], "webp": [cv2.IMWRITE_WEBP_QUALITY, quality],
              "png": [cv2.IMWRITE_PNG_COMPRESSION, 3]}[codec]
    ok, buffer = cv2.imencode(CODECS[codec], image, params)
    if not ok:
        raise StoreError(f"cv2.imencode failed for codec {codec!r} and an image of shape {image.shape}")
    return buffer.tobytes()


def decode_image(data: bytes, channels: int = 3) -> np.ndarray:
    """Decode one image -> uint8 ``(H, W, C)``, RGB order when ``channels == 3``."""
    rgb_flag = getattr(cv2, "IMREAD_COLOR_RGB", None)  # OpenCV >= 4.10 decodes straight to RGB
    flag = (rgb_flag if rgb_flag is not None else cv2.IMREAD_COLOR) if channels == 3 else cv2.IMREAD_UNCHANGED
    image = cv2.imdecode(np.frombuffer(data, np.uint8), flag)
    if image is None:
        raise StoreError(f"cv2.imdecode could not decode a {len(data)}-byte frame")
    if channels == 3:
        return image if rgb_flag is not None else cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
    return image if image.ndim == 3 else image[..., None]


def read_store_frames(store_file: StoreFile, indices: Sequence[int]) -> np.ndarray:
    """Decode frames ``indices`` of an image store file -> uint8 ``(T, H, W, C)``."""
    channels = int(store_file.meta.get("channels", 3))
    unique = sorted({int(i) for i in indices})
    try:
        decoded = dict(zip(unique, (decode_image(b, channels) for b in store_file.read_many(unique))))
    except StoreError as e:
        raise StoreError(f"{store_file.path}: {e}") from e
    return np.stack([decoded[int(i)] for i in indices])


def store_file_path(store_dir: str | Path, video_id: str) -> Path:
    return Path(store_dir) / "frames" / (video_id + FRAME_SUFFIX)


def is_current(store_path: Path, source_path: Path) -> bool:
    """True if the store file exists and was made from ``source_path`` as it is now.

    A file written before fingerprints were recorded (no ``"source"`` in its meta), or whose
    source is gone (deleted after preparing, to save space), counts as current: it is kept
    and ``vimix prepare check`` reports it as unverifiable. An unreadable file does not.
    """
    if not store_path.is_file():
        return False
    try:
        recorded = StoreFile(store_path).meta.get("source")
    except (StoreError, OSError):
        return False
    return recorded is None or not source_path.exists() or source_unchanged(recorded, source_path)


def source_status(store_path: Path, source_path: Path) -> str | None:
    """Why a store file no longer matches its source (``None``: it matches)."""
    try:
        recorded = StoreFile(store_path).meta.get("source")
    except (StoreError, OSError) as e:
        return f"unreadable store file: {e}"
    if not source_path.is_file():
        return f"its source {source_path} no longer exists"
    if recorded is None:
        return "made before sources were fingerprinted (cannot tell; rerun `vimix prepare` into a new folder)"
    if not source_unchanged(recorded, source_path):
        now = source_path.stat()
        return (f"its source {source_path} changed since it was prepared ({recorded.get('size')} -> "
                f"{now.st_size} bytes); rerun the same `vimix prepare` command to redo it")
    return None


def write_manifest(store_dir: str | Path, manifest: dict[str, Any]) -> None:
    """Write ``store.json``; ``format`` and ``format_version`` are added."""
    data = {"format": STORE_FORMAT, "format_version": STORE_FORMAT_VERSION, **manifest}
    atomic_write_json(Path(store_dir) / MANIFEST, data)


def read_manifest(store_dir: str | Path) -> dict[str, Any]:
    path = Path(store_dir) / MANIFEST
    if not path.is_file():
        raise StoreError(f"{store_dir} is not a prepared frame store: {MANIFEST} not found "
                         "(create one with `vimix prepare video`)")
    with open(path, encoding="utf-8") as f:
        manifest = json.load(f)
    if manifest.get("format") != STORE_FORMAT:
        raise StoreError(f"{path}: format is {manifest.get('format')!r}, expected {STORE_FORMAT!r}")
    if manifest.get("format_version", 0) > STORE_FORMAT_VERSION:
        raise StoreError(f"{path}: format_version {manifest['format_version']} is newer than this "
                         f"vimix_ssl supports ({STORE_FORMAT_VERSION})")
    return manifest


def ensure_manifest(store_dir: str | Path, wanted: dict[str, Any], what: str = "a store") -> None:
    """Write ``store.json``, or check that an existing one was made with the same settings (resume).

    ``source_root`` may differ (the source can move between runs); anything else that differs is
    an error naming the old and new values, so a rerun never mixes files made two ways.
    """
    if (Path(store_dir) / MANIFEST).is_file():
        existing = read_manifest(store_dir)
        differs = {k: (existing.get(k), v) for k, v in wanted.items()
                   if k != "source_root" and existing.get(k) != v}
        if differs:
            raise StoreError(f"{store_dir} already holds {what} made with other settings "
                             f"{ {k: old for k, (old, _) in differs.items()} }; this run asks for "
                             f"{ {k: new for k, (_, new) in differs.items()} }: use another --out folder")
        return
    write_manifest(store_dir, wanted)


# ------------------------------------------------------------------ preparing an RGB store

@dataclass(frozen=True)
class PrepareSpec:
    """How ``vimix prepare video`` writes a store (picklable: it is sent to worker processes)."""

    root: str  # dataset root (video ids are relative to it)
    out_dir: str
    short_side: int | None = 128  # resize frames so the short side is this (None: keep)
    codec: str = "jpeg"
    quality: int = 90  # JPEG / WebP quality
    allow_truncated: bool = False  # store the decodable part of a truncated video (recorded in its meta)

    def manifest(self, dataset: str) -> dict[str, Any]:
        return {"dataset": dataset, "modality": "rgb", "field_kind": "image", "codec": self.codec,
                "quality": self.quality, "short_side": self.short_side, "channels": 3,
                "source_root": str(Path(self.root).resolve())}

    def __call__(self, video_id: str) -> None:
        """Decode, resize, encode and store one video (atomic write)."""
        from vimix_ssl.data.video import VideoReader, iter_frames, truncation

        source = Path(self.root) / video_id
        with VideoReader(source) as reader:  # a missing or unreadable file fails here, named
            info, header_count = reader.info, reader.header_frame_count
        fingerprint = file_fingerprint(source)  # before decoding: a change during the run shows next time
        encoded, shape = [], (0, 0)
        for frame in iter_frames(source, self.short_side, allow_truncated=self.allow_truncated):
            encoded.append(encode_image(frame, self.codec, self.quality))
            shape = frame.shape[:2]
        meta = {"video_id": video_id, "num_frames": len(encoded), "height": shape[0], "width": shape[1],
                "channels": 3, "codec": self.codec, "quality": self.quality, "short_side": self.short_side,
                "fps": info.fps, "source_height": info.height, "source_width": info.width,
                "header_frame_count": header_count, "source": fingerprint,
                "truncated": truncation(source, len(encoded), header_count) is not None}
        write_store_file(store_file_path(self.out_dir, video_id), encoded, meta)

    def is_done(self, video_id: str) -> bool:
        """Stored, and from the source as it is now (files are written atomically)."""
        return is_current(store_file_path(self.out_dir, video_id), Path(self.root) / video_id)


def prepare_video_store(video_ids: Sequence[str], dataset: str, spec: PrepareSpec,
                        workers: int | None = None) -> JobSummary[str]:
    """Write every video not yet in ``spec.out_dir`` (or whose source changed); resumes, reports failures."""
    from vimix_ssl.utils.io import remove_stale_temps

    ensure_manifest(spec.out_dir, spec.manifest(dataset), what="a frame store")
    remove_stale_temps(Path(spec.out_dir) / "frames")  # left by a killed earlier run
    return run_jobs(list(video_ids), spec, is_done=spec.is_done, workers=workers, desc="prepare video")
