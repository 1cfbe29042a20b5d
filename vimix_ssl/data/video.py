"""OpenCV video reading: probe a file, decode a set of frame indices, resize on decode.

``VideoReader(path).read(indices)`` seeks once to the first needed frame and then decodes
forward over the needed span (``grab`` for skipped frames, ``retrieve`` for needed ones),
so a 32-frame window costs one seek, not 32. Frames come back as uint8 RGB
``(T, H, W, 3)`` in the order of ``indices`` (repeats allowed).

OpenCV's ``CAP_PROP_FRAME_COUNT`` comes from the container header and can be wrong (a
truncated AVI keeps its header count; some containers estimate it from the duration).
``VideoReader(path, count_frames=True)`` counts by decoding instead. A request for a frame
that cannot be decoded is a ``VideoReadError``: frames are never silently dropped.

One definition of a readable video, used by ``vimix data check``, ``prepare``, training and
evaluation: a video that stops decoding before its container's frame count is
**truncated** (:func:`truncation`), which is a ``VideoReadError`` wherever the frames are
counted by decoding (``count_frames=True``, ``iter_frames``) and reading past the end
fails anywhere else. Only ``allow_truncated=True`` (``vimix prepare --allow-truncated``)
accepts the decodable part, and the prepared file then records the partial length.
Containers whose count OpenCV estimates from the duration (``ESTIMATED_COUNT_SUFFIXES``)
may miss by ``ESTIMATE_TOLERANCE`` of the count without being truncated.

FFmpeg's own decoder messages are silenced (``OPENCV_FFMPEG_LOGLEVEL=8``) because failures
surface as ``VideoReadError``; set ``OPENCV_FFMPEG_LOGLEVEL=32`` in the environment to see them.
"""

from __future__ import annotations

import bisect
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "8")  # AV_LOG_FATAL; read when cv2 opens a video
import cv2  # noqa: E402

# Decoding forward is cheaper than a seek (which decodes from the previous keyframe) for
# short gaps; a gap between needed frames longer than this triggers a seek instead.
SEEK_GAP = 48
ESTIMATED_COUNT_SUFFIXES = (".mkv", ".webm")  # OpenCV derives their frame count from the duration
ESTIMATE_TOLERANCE = 0.02  # fraction of an estimated count a complete video may fall short by


def truncation(path: str | Path, decoded: int, header_count: int) -> str | None:
    """Why a video that decodes ``decoded`` frames of a header's ``header_count`` is truncated, or None."""
    if header_count <= 0 or decoded >= header_count:
        return None
    if Path(path).suffix.lower() in ESTIMATED_COUNT_SUFFIXES:
        if header_count - decoded <= max(1, round(ESTIMATE_TOLERANCE * header_count)):
            return None
    return (f"truncated: only {decoded} of the {header_count} frames its container reports can be "
            "decoded (the file is cut short or corrupt; `vimix prepare --allow-truncated` keeps the "
            "decodable part and records it)")


class VideoReadError(RuntimeError):
    """A video file is missing, unreadable, empty, or shorter than requested."""

    def __init__(self, path: str | Path, reason: str):
        super().__init__(f"{path}: {reason}")
        self.path = str(path)
        self.reason = reason

    def __reduce__(self):  # picklable across worker processes (default pickling passes one argument)
        return type(self), (self.path, self.reason)


@dataclass(frozen=True)
class VideoInfo:
    """What a video holds: ``num_frames`` decodable (or header) frames at ``fps``, ``width`` x ``height``."""

    num_frames: int
    fps: float
    width: int
    height: int
    counted: bool  # True: num_frames was counted by decoding; False: taken from the header


def short_side_size(height: int, width: int, short_side: int | None) -> tuple[int, int]:
    """(height, width) after scaling so the shorter side equals ``short_side`` (None: unchanged)."""
    if not short_side or min(height, width) == short_side:
        return height, width
    scale = short_side / min(height, width)
    if height <= width:
        return short_side, max(1, round(width * scale))
    return max(1, round(height * scale)), short_side


def resize_frame(frame: np.ndarray, height: int, width: int) -> np.ndarray:
    """Resize one ``(H, W, C)`` frame; area interpolation when shrinking, bilinear when growing."""
    if frame.shape[0] == height and frame.shape[1] == width:
        return frame
    shrinking = height * width < frame.shape[0] * frame.shape[1]
    out = cv2.resize(frame, (width, height), interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR)
    return out if out.ndim == frame.ndim else out[..., None]  # cv2 drops a singleton channel


class VideoReader:
    """One open video file. Use as a context manager or call ``close()``.

    ``short_side``: resize frames on decode so the shorter side has this many pixels.
    ``count_frames``: count frames by decoding rather than trusting the header; a count
    short of the header's is a truncated video (``VideoReadError``) unless ``allow_truncated``
    (then ``truncated`` is True and ``num_frames`` the decodable count).
    """

    def __init__(self, path: str | Path, short_side: int | None = None, count_frames: bool = False,
                 known_frames: int | None = None, allow_truncated: bool = False):
        self.path = Path(path)
        if not self.path.exists():
            raise VideoReadError(self.path, "file not found")
        if not self.path.is_file():
            raise VideoReadError(self.path, "not a regular file")
        if os.path.getsize(self.path) == 0:
            raise VideoReadError(self.path, "file is empty (0 bytes)")
        self._cap = cv2.VideoCapture(str(self.path))
        if not self._cap.isOpened():
            raise VideoReadError(self.path, "cannot be opened as a video (not a video file, "
                                            "an unsupported codec, or a corrupt container)")
        self._position = 0  # index of the frame the next grab() returns
        width = int(self._cap.get(cv2.CAP_PROP_FRAME_WIDTH))
        height = int(self._cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
        fps = float(self._cap.get(cv2.CAP_PROP_FPS) or 0.0)
        header_count = int(self._cap.get(cv2.CAP_PROP_FRAME_COUNT))
        # known_frames: a count established earlier by decoding (skips the header and recount).
        counted = known_frames is not None or count_frames or header_count <= 0
        if known_frames is not None:
            num_frames = known_frames
        else:
            num_frames = self.count_decodable_frames() if counted else header_count
        if num_frames <= 0:
            self.close()
            raise VideoReadError(self.path, f"contains no decodable frames (header reports {header_count})")
        reason = truncation(self.path, num_frames, header_count) if counted and known_frames is None else None
        if reason is not None and not allow_truncated:
            self.close()
            raise VideoReadError(self.path, reason)
        self.truncated = reason is not None
        self.header_frame_count = header_count
        self.info = VideoInfo(num_frames, fps, width, height, counted)
        self.short_side = short_side
        self.output_size = short_side_size(height, width, short_side)  # (height, width)

    @property
    def num_frames(self) -> int:
        return self.info.num_frames

    def count_decodable_frames(self) -> int:
        """Count frames by decoding from the start (slow but exact); rewinds afterwards."""
        self._seek(0)
        count = 0
        while self._cap.grab():
            count += 1
        self._position = count  # so the rewind below really seeks
        self._seek(0)
        return count

    def _seek(self, index: int) -> None:
        if index != self._position:
            self._cap.set(cv2.CAP_PROP_POS_FRAMES, index)
            self._position = index

    def read(self, indices: Sequence[int]) -> np.ndarray:
        """Decode the frames at ``indices`` (any order, repeats allowed) -> uint8 RGB ``(T, H, W, 3)``."""
        wanted = sorted({int(i) for i in indices})
        if not wanted:
            raise ValueError(f"{self.path}: read() needs at least one frame index")
        if wanted[0] < 0:
            raise ValueError(f"{self.path}: negative frame index {wanted[0]}")
        if wanted[-1] >= self.num_frames:
            raise VideoReadError(self.path, f"frame {wanted[-1]} requested but the video has "
                                            f"{self.num_frames} frames")
        height, width = self.output_size
        wanted_set = set(wanted)
        decoded: dict[int, np.ndarray] = {}
        if wanted[0] < self._position or wanted[0] - self._position > SEEK_GAP:
            self._seek(wanted[0])
        index = self._position
        while index <= wanted[-1]:
            if index not in wanted_set:
                following = wanted[bisect.bisect_right(wanted, index)]
                if following - index > SEEK_GAP:  # jump over a long gap between windows
                    self._seek(following)
                    index = following
            ok = self._cap.grab()
            frame = None
            if ok and index in wanted_set:
                ok, frame = self._cap.retrieve()
            if not ok:
                self._position = -1  # unknown: force a seek next time
                raise VideoReadError(
                    self.path, f"frame {index} could not be decoded (the header reports "
                               f"{self.header_frame_count} frames): the file is truncated or corrupt, "
                               "or its frame count is wrong (`vimix data check` counts by decoding)")
            self._position = index + 1
            if frame is not None:
                frame = cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
                decoded[index] = resize_frame(frame, height, width)
            index += 1
        return np.stack([decoded[int(i)] for i in indices])  # (T, H, W, 3)

    def close(self) -> None:
        if getattr(self, "_cap", None) is not None:
            self._cap.release()
            self._cap = None

    def __enter__(self) -> VideoReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        self.close()


def probe_video(path: str | Path, count_frames: bool = False, allow_truncated: bool = False) -> VideoInfo:
    """Frame count, fps and size of a video (``count_frames``: count by decoding; truncated is an error)."""
    with VideoReader(path, count_frames=count_frames, allow_truncated=allow_truncated) as reader:
        return reader.info


def read_frames(path: str | Path, indices: Sequence[int], short_side: int | None = None) -> np.ndarray:
    """Decode ``indices`` of one video -> uint8 RGB ``(T, H, W, 3)``."""
    with VideoReader(path, short_side=short_side) as reader:
        return reader.read(indices)


def iter_frames(path: str | Path, short_side: int | None = None,
                allow_truncated: bool = False) -> Iterator[np.ndarray]:
    """Yield every decodable frame as uint8 RGB ``(H, W, 3)`` (one in memory at a time).

    Raises ``VideoReadError`` if the file cannot be opened or yields no frame at all, and
    after the last frame if the video is truncated (unless ``allow_truncated``).
    """
    with VideoReader(path, short_side=short_side) as reader:
        height, width = reader.output_size
        reader._seek(0)
        count = 0
        while True:
            ok, frame = reader._cap.read()
            if not ok:
                break
            count += 1
            yield resize_frame(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB), height, width)
        reader._position = -1
        if count == 0:
            raise VideoReadError(path, f"contains no decodable frames (header reports "
                                       f"{reader.header_frame_count})")
        reason = truncation(path, count, reader.header_frame_count)
        if reason is not None and not allow_truncated:
            raise VideoReadError(path, reason)


def read_all_frames(path: str | Path, short_side: int | None = None,
                    allow_truncated: bool = False) -> np.ndarray:
    """Decode every frame of a video (counted by decoding) -> uint8 RGB ``(T, H, W, 3)``."""
    return np.stack(list(iter_frames(path, short_side, allow_truncated)))
