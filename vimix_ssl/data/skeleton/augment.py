"""Skeleton augmentations of METHOD §5 (peer: CrosSCLR ``feeder/tools.py``).

Both act on one sample ``(3, T, 25, M)`` (NumPy) and draw from an explicit
``np.random.Generator``, so a view is reproducible from its seed. Each call draws fresh
parameters, so the two views of a sample are independent.
"""

from __future__ import annotations

import numpy as np

SHEAR_AMPLITUDE = 0.5
TEMPORAL_PADDING_RATIO = 6


def shear_matrix(amplitude: float, rng: np.random.Generator) -> np.ndarray:
    """3x3 matrix with ones on the diagonal and off-diagonal entries ~ U(-amplitude, amplitude)."""
    matrix = np.eye(3)
    off = ~np.eye(3, dtype=bool)
    matrix[off] = rng.uniform(-amplitude, amplitude, size=6)
    return matrix


def shear(sample: np.ndarray, amplitude: float = SHEAR_AMPLITUDE,
          rng: np.random.Generator | None = None) -> np.ndarray:
    """Apply a fresh random shear to every point: ``xyz' = S @ xyz``. (3, T, V, M) -> same."""
    rng = np.random.default_rng() if rng is None else rng
    matrix = shear_matrix(amplitude, rng)
    return np.einsum("ck,ktvm->ctvm", matrix, sample).astype(sample.dtype, copy=False)


def temporal_crop(sample: np.ndarray, padding_ratio: int = TEMPORAL_PADDING_RATIO,
                  rng: np.random.Generator | None = None) -> np.ndarray:
    """Mirror-pad ``T // padding_ratio`` frames at each end, then take a random window of T.

    (3, T, V, M) -> (3, T, V, M). With fewer than ``padding_ratio`` frames there is no padding
    and the sample is returned unchanged (a copy).
    """
    rng = np.random.default_rng() if rng is None else rng
    frames = sample.shape[1]
    pad = frames // padding_ratio if padding_ratio > 0 else 0
    if pad == 0:
        return sample.copy()
    padded = np.concatenate([sample[:, :pad][:, ::-1], sample, sample[:, -pad:][:, ::-1]], axis=1)
    start = int(rng.integers(0, 2 * pad + 1))
    return np.ascontiguousarray(padded[:, start:start + frames])


def augment_view(sample: np.ndarray, shear_amplitude: float = SHEAR_AMPLITUDE,
                 padding_ratio: int = TEMPORAL_PADDING_RATIO,
                 rng: np.random.Generator | None = None) -> np.ndarray:
    """One training view: temporal crop then shear (the peer's order); either is off when 0."""
    rng = np.random.default_rng() if rng is None else rng
    view = temporal_crop(sample, padding_ratio, rng) if padding_ratio > 0 else sample.copy()
    if shear_amplitude > 0:
        view = shear(view, shear_amplitude, rng)
    return view
