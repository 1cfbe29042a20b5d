"""Optical flow: computation (TV-L1, DIS, Farneback) and the peer toolkits' uint8 quantisation.

Computation works on grayscale frames, one field per consecutive pair: field ``t`` maps
frame ``t`` to frame ``t + 1`` (``prev=t``, ``next=t+1``), so a video of ``N`` frames has
``N - 1`` fields. Components are ``(dx, dy)`` in pixels of the frames given (x right,
y down).

- ``tvl1``: ``cv2.optflow.DualTVL1OpticalFlow_create()`` with OpenCV's default parameters
  (the recipe of CoCLR/MemDPC/TSN's dense_flow). Accurate, slow (~0.1-0.3 s per 128x171
  pair on one core).
- ``dis``: ``cv2.DISOpticalFlow`` (preset ``fast`` by default), ~100x faster.
- ``farneback``: ``cv2.calcOpticalFlowFarneback`` with OpenCV's documented example
  parameters (``FarnebackParams``).

Quantisation (the peer format, so flow made by their recipe reads as is): clip each
component to ``±bound`` (20 px) and map linearly to 0-255:
``q = round((clip(f, -bound, bound) + bound) * 255 / (2 * bound))``. One step is
``2 * bound / 255`` ≈ 0.157 px, so the round-trip error inside the bound is ≤ 0.079 px.
Dequantisation returns pixels, or ``normalized`` units ``f / bound`` in ``[-1, 1]`` (what
the peers' ``ToTensor`` + ``Normalize(0.5, 0.5)`` gives on the stored images).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

import numpy as np

FlowMethod = Literal["tvl1", "dis", "farneback"]
FLOW_METHODS: tuple[str, ...] = ("tvl1", "dis", "farneback")
FlowUnits = Literal["pixels", "normalized"]
DEFAULT_BOUND = 20.0  # px, peer toolkits' clipping bound
DIS_PRESETS = ("ultrafast", "fast", "medium")


@dataclass(frozen=True)
class FarnebackParams:
    """``cv2.calcOpticalFlowFarneback`` arguments (OpenCV's documented example values)."""

    pyramid_scale: float = 0.5
    levels: int = 3
    window_size: int = 15
    iterations: int = 3
    poly_n: int = 5
    poly_sigma: float = 1.2


class FlowEstimator:
    """A reusable estimator: ``estimator(prev_gray, next_gray) -> (H, W, 2)`` float32 pixels.

    Build one per process and reuse it (TV-L1/DIS objects keep their buffers).
    """

    def __init__(self, method: str = "tvl1", dis_preset: str = "fast",
                 farneback: FarnebackParams = FarnebackParams()):
        import cv2

        if method not in FLOW_METHODS:
            raise ValueError(f"unknown flow method {method!r}; expected one of {FLOW_METHODS}")
        if dis_preset not in DIS_PRESETS:
            raise ValueError(f"unknown DIS preset {dis_preset!r}; expected one of {DIS_PRESETS}")
        self.method = method
        self.farneback = farneback
        if method == "tvl1":
            self._algorithm = cv2.optflow.DualTVL1OpticalFlow_create()  # OpenCV defaults, on purpose
        elif method == "dis":
            preset = {"ultrafast": cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST,
                      "fast": cv2.DISOPTICAL_FLOW_PRESET_FAST,
                      "medium": cv2.DISOPTICAL_FLOW_PRESET_MEDIUM}[dis_preset]
            self._algorithm = cv2.DISOpticalFlow_create(preset)
        else:
            self._algorithm = None

    def __call__(self, prev_gray: np.ndarray, next_gray: np.ndarray) -> np.ndarray:
        """Flow from ``prev_gray`` to ``next_gray`` (uint8 ``(H, W)``) -> float32 ``(H, W, 2)`` px."""
        import cv2

        if prev_gray.shape != next_gray.shape or prev_gray.ndim != 2 or prev_gray.dtype != np.uint8:
            raise ValueError(f"flow needs two uint8 grayscale frames of one size, got "
                             f"{prev_gray.shape} {prev_gray.dtype} and {next_gray.shape} {next_gray.dtype}")
        if self._algorithm is None:
            p = self.farneback
            return cv2.calcOpticalFlowFarneback(prev_gray, next_gray, None, p.pyramid_scale, p.levels,
                                                p.window_size, p.iterations, p.poly_n, p.poly_sigma, 0)
        return self._algorithm.calc(prev_gray, next_gray, None)


def to_gray(frames: np.ndarray) -> np.ndarray:
    """uint8 RGB ``(T, H, W, 3)`` (or already gray ``(T, H, W)``) -> uint8 ``(T, H, W)``.

    RGB2GRAY on RGB gives the same values as the peers' BGR2GRAY on OpenCV's BGR frames.
    """
    import cv2

    if frames.ndim == 3:
        return frames
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise ValueError(f"expected uint8 RGB frames (T, H, W, 3), got {frames.shape} {frames.dtype}")
    return np.stack([cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY) for frame in frames])


def iter_video_flow(frames: np.ndarray, estimator: FlowEstimator) -> Iterator[np.ndarray]:
    """Yield the ``T - 1`` fields of consecutive pairs of uint8 RGB ``(T, H, W, 3)`` frames.

    Field ``t`` (float32 ``(H, W, 2)`` px) is the flow from frame ``t`` to frame ``t + 1``.
    """
    gray = to_gray(frames)
    for t in range(len(gray) - 1):
        yield estimator(gray[t], gray[t + 1])


def compute_video_flow(frames: np.ndarray, method: str = "tvl1") -> np.ndarray:
    """All fields of a clip: uint8 RGB ``(T, H, W, 3)`` -> float32 ``(T - 1, H, W, 2)`` px."""
    height, width = frames.shape[1:3]
    estimator = FlowEstimator(method)
    fields = list(iter_video_flow(frames, estimator))
    return np.stack(fields) if fields else np.zeros((0, height, width, 2), np.float32)


def quantize_flow(flow: np.ndarray, bound: float = DEFAULT_BOUND) -> np.ndarray:
    """Flow in pixels (any shape) -> uint8 ``round((clip(f, ±bound) + bound) * 255 / (2 bound))``.

    Evaluated in float32 with exactly the peers' numpy operations, so the bytes match theirs.
    """
    if bound <= 0:
        raise ValueError(f"flow bound must be positive, got {bound}")
    clipped = np.clip(flow.astype(np.float32, copy=False), -bound, bound)
    return np.round((clipped + bound) * 255 / (2 * bound)).astype(np.uint8)


def dequantize_flow(quantized: np.ndarray, bound: float = DEFAULT_BOUND,
                    units: str = "pixels") -> np.ndarray:
    """uint8 from :func:`quantize_flow` -> float32 flow in ``pixels`` or ``normalized`` (``f / bound``).

    0 and 255 map exactly to ``-bound`` and ``+bound`` (-1 and 1 normalised).
    """
    if quantized.dtype != np.uint8:
        raise ValueError(f"quantized flow must be uint8, got {quantized.dtype}")
    if units not in ("pixels", "normalized"):
        raise ValueError(f"flow units must be 'pixels' or 'normalized', got {units!r}")
    centred = quantized.astype(np.float32) * 2 - 255  # exact integers in [-255, 255]
    scale = 1.0 if units == "normalized" else float(bound)
    return (centred * np.float32(scale) / np.float32(255)).astype(np.float32)
