"""Skeleton input streams derived from joint coordinates: joint, motion, bone.

Work on NumPy arrays and torch tensors alike, on one sample ``(3, T, 25, M)`` or a batch
``(B, 3, T, 25, M)``: time is axis -3 and joints axis -2. Computed in the data pipeline
(the dataset), never inside a model.
"""

from __future__ import annotations

from typing import Any

import numpy as np

# METHOD §5: parent of each joint, 1-based; joint 21 (spine at the shoulders) is its own root.
NTU_PARENTS_1BASED: tuple[int, ...] = (2, 21, 21, 3, 21, 5, 6, 7, 21, 9, 10, 11, 1, 13, 14, 15, 1, 17, 18,
                                       19, 21, 23, 8, 25, 12)
STREAMS: tuple[str, ...] = ("joint", "motion", "bone")


def motion(x: Any) -> Any:
    """Frame difference ``x[t+1] - x[t]``; the last frame is 0. Shape kept."""
    out = x * 0
    out[..., :-1, :, :] = x[..., 1:, :, :] - x[..., :-1, :, :]
    return out


def bone(x: Any, parents: tuple[int, ...] = NTU_PARENTS_1BASED) -> Any:
    """Joint minus its parent (1-based ``parents``); the root's bone is 0. Shape kept."""
    if x.shape[-2] != len(parents):
        raise ValueError(f"bone: expected {len(parents)} joints on axis -2, got shape {tuple(x.shape)}")
    index = np.asarray(parents, dtype=np.int64) - 1
    if not isinstance(x, np.ndarray):  # torch tensor
        import torch

        index = torch.as_tensor(index, device=x.device)
    return x - x[..., index, :]


def compute_stream(joints: Any, stream: str) -> Any:
    """The named stream (``joint``, ``motion`` or ``bone``) of a joint array."""
    if stream == "joint":
        return joints
    if stream == "motion":
        return motion(joints)
    if stream == "bone":
        return bone(joints)
    raise ValueError(f"unknown skeleton stream {stream!r}; expected one of {STREAMS}")
