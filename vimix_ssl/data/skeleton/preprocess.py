"""The "frame50" skeleton preprocessing of METHOD §5 (peer: CrosSCLR ``preprocess_ntu.py``).

For one sample ``(3, T, 25, M)`` (zero padded, empty frames zero):

1. valid frames = frames in which any body has a non-zero coordinate, in temporal order
   (padding and frames that listed no body are dropped);
2. centre: every body minus its own joint 21 (spine at the shoulders), per frame;
3. resample the valid frames linearly to ``length`` (50) frames on OpenCV's
   ``cv2.resize(INTER_LINEAR)`` grid (half-pixel centres), as the peer does;
4. rotate each body, per frame, about the y axis so that its shoulder vector
   (joint 9 minus joint 5) lies along +x (its z component becomes 0).

Deviation from the peer (documented in docs/DATA_SKELETON.md): CrosSCLR picks the rotation
sign once per sequence from the summed shoulder z, so frames whose shoulder z has the other
sign are rotated the wrong way; here the angle is ``atan2(z, x)`` per frame, so the
shoulder-on-x invariant holds in every frame.
"""

from __future__ import annotations

import numpy as np

CENTER_JOINT = 21  # 1-based: spine at the shoulders
LEFT_SHOULDER = 5  # 1-based
RIGHT_SHOULDER = 9  # 1-based
FRAME50_LENGTH = 50


def valid_frame_mask(sample: np.ndarray) -> np.ndarray:
    """(T,) bool: frames where any body has a non-zero coordinate. ``sample``: (3, T, 25, M)."""
    return np.abs(sample).sum(axis=(0, 2, 3)) > 0


def centre_on_joint(sample: np.ndarray, joint: int = CENTER_JOINT) -> np.ndarray:
    """Subtract each body's 1-based ``joint`` per frame. (3, T, 25, M) -> same."""
    return sample - sample[:, :, joint - 1: joint, :]


def resample_linear(sample: np.ndarray, length: int) -> np.ndarray:
    """Linear resampling along T to ``length`` on cv2's half-pixel grid. (3, T, 25, M) -> (3, length, 25, M).

    Output frame ``i`` reads source position ``(i + 0.5) * T / length - 0.5`` clamped to
    ``[0, T - 1]``, which is what ``cv2.resize(..., interpolation=cv2.INTER_LINEAR)`` does.
    """
    frames = sample.shape[1]
    if frames == 0:
        raise ValueError("cannot resample a sample with no frames")
    position = np.clip((np.arange(length) + 0.5) * frames / length - 0.5, 0, frames - 1)
    low = np.floor(position).astype(np.int64)
    high = np.minimum(low + 1, frames - 1)
    weight = (position - low)[None, :, None, None]
    return sample[:, low] * (1 - weight) + sample[:, high] * weight


def rotate_shoulders_to_x(sample: np.ndarray, left: int = LEFT_SHOULDER,
                          right: int = RIGHT_SHOULDER) -> np.ndarray:
    """Rotate each body per frame about y so ``joint[right] - joint[left]`` has z = 0, x >= 0.

    (3, T, 25, M) -> same. A frame whose shoulder vector has no x-z extent is left as is.
    """
    vector = sample[:, :, right - 1] - sample[:, :, left - 1]  # (3, T, M)
    angle = np.arctan2(vector[2], vector[0])  # (T, M); atan2(0, 0) = 0 -> identity
    cos, sin = np.cos(angle)[:, None], np.sin(angle)[:, None]  # (T, 1, M)
    x, y, z = sample[0], sample[1], sample[2]
    # R_y(angle) maps (vx, vz) to (|v|, 0): x' = cos x + sin z, z' = -sin x + cos z
    return np.stack([cos * x + sin * z, y, cos * z - sin * x])


def frame50(sample: np.ndarray, length: int = FRAME50_LENGTH, center_joint: int = CENTER_JOINT,
            left_shoulder: int = LEFT_SHOULDER, right_shoulder: int = RIGHT_SHOULDER) -> np.ndarray:
    """Steps 1-4 above: (3, T, 25, M) -> float32 (3, length, 25, M); all zero without a valid frame."""
    if sample.ndim != 4 or sample.shape[0] != 3:
        raise ValueError(f"expected a skeleton sample of shape (3, T, 25, M), got {sample.shape}")
    valid = sample[:, valid_frame_mask(sample)].astype(np.float64)
    if valid.shape[1] == 0:
        return np.zeros((3, length) + sample.shape[2:], dtype=np.float32)
    centred = centre_on_joint(valid, center_joint)
    resampled = resample_linear(centred, length)
    return rotate_shoulders_to_x(resampled, left_shoulder, right_shoulder).astype(np.float32)
