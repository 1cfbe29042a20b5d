"""Modality names: the dictionary keys used everywhere (datasets, MoCos, encoder files)."""

from __future__ import annotations

from typing import Literal

VIDEO_MODALITIES = ("rgb", "flow")
SKELETON_MODALITIES = ("joint", "motion", "bone")
MODALITIES = VIDEO_MODALITIES + SKELETON_MODALITIES


def modality_kind(modality: str, key: str = "modality") -> Literal["video", "skeleton"]:
    """``"video"`` or ``"skeleton"``; an unknown name is a ValueError naming ``key``."""
    if modality in VIDEO_MODALITIES:
        return "video"
    if modality in SKELETON_MODALITIES:
        return "skeleton"
    raise ValueError(f"{key}: unknown modality {modality!r}; expected one of {list(MODALITIES)}")
