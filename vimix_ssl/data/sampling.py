"""Clip index sampling: which frames of a video make up each window.

A window of ``clip_len`` frames at ``stride`` spans ``(clip_len - 1) * stride + 1`` frames.
A video shorter than the span is padded by repeating frames, with ``pad_mode``:

- ``"loop"`` (default, as mmaction2's ``SampleFrames``): indices wrap around,
  ``0 1 2 3 0 1 2 3 ...``, so every frame keeps its motion to its neighbour except at the seam;
- ``"repeat_last"``: the last frame is held, ``0 1 2 3 3 3 ...``.

Training draws ``views`` independent windows (they may overlap). Evaluation uses dense
windows every ``window_stride`` frames (plus one ending at the last frame, so the tail is
covered) or the single centre window. Every function returns int64 index arrays.
"""

from __future__ import annotations

import numpy as np

PAD_MODES = ("loop", "repeat_last")


def window_span(clip_len: int, stride: int) -> int:
    """Number of consecutive source frames one window covers."""
    if clip_len < 1 or stride < 1:
        raise ValueError(f"clip_len and stride must be >= 1, got clip_len={clip_len}, stride={stride}")
    return (clip_len - 1) * stride + 1


def window_indices(start: int, clip_len: int, stride: int, num_frames: int,
                   pad_mode: str = "loop") -> np.ndarray:
    """Indices ``start, start+stride, ...`` (``clip_len`` of them), padded into ``[0, num_frames)``."""
    if num_frames < 1:
        raise ValueError(f"num_frames must be >= 1, got {num_frames}")
    if pad_mode not in PAD_MODES:
        raise ValueError(f"pad_mode must be one of {PAD_MODES}, got {pad_mode!r}")
    indices = start + stride * np.arange(clip_len, dtype=np.int64)
    if pad_mode == "loop":
        return indices % num_frames
    return np.minimum(indices, num_frames - 1)


def random_windows(num_frames: int, clip_len: int, stride: int, views: int,
                   rng: np.random.Generator, pad_mode: str = "loop") -> list[np.ndarray]:
    """``views`` independent windows, each with a uniform random start."""
    last_start = num_frames - window_span(clip_len, stride)
    starts = rng.integers(0, last_start + 1, size=views) if last_start > 0 else np.zeros(views, np.int64)
    return [window_indices(int(s), clip_len, stride, num_frames, pad_mode) for s in starts]


def dense_windows(num_frames: int, clip_len: int, stride: int, window_stride: int,
                  pad_mode: str = "loop") -> list[np.ndarray]:
    """Windows starting every ``window_stride`` frames, the last one ending at the last frame."""
    if window_stride < 1:
        raise ValueError(f"window_stride must be >= 1, got {window_stride}")
    last_start = num_frames - window_span(clip_len, stride)
    if last_start <= 0:
        return [window_indices(0, clip_len, stride, num_frames, pad_mode)]
    starts = list(range(0, last_start + 1, window_stride))
    if starts[-1] != last_start:
        starts.append(last_start)
    return [window_indices(s, clip_len, stride, num_frames, pad_mode) for s in starts]


def centre_window(num_frames: int, clip_len: int, stride: int, pad_mode: str = "loop") -> np.ndarray:
    """The window centred in the video (start 0 when the video is shorter than the window)."""
    last_start = num_frames - window_span(clip_len, stride)
    return window_indices(max(0, last_start // 2), clip_len, stride, num_frames, pad_mode)
