"""Multi-view test protocols: N clips × M crops per video, softmax averaged over the views.

A protocol is written ``NxM`` or ``NxM@S`` (S = crop side in pixels; without it the
training crop side ``data.size``) or named by a preset:

* ``centre``  — ``1x1``: the centre window, centre crop (the former ``vimix train`` test);
* ``seed000`` — ``2x3@256``: SV-Mix on UCF101, "256×256 × 2 clip × 3 crop" (seed 000 §IV-A);
* ``seed002`` — ``10x1``: "we sample 10 clips uniformly along temporal axis, and average
  softmax predictions" (seed 002 §4.1), centre crop at the training size (160);
* ``seed003`` — ``10x3@256``: "10 temporal clips are uniformly sampled ... For each clip,
  we use 3 256×256 spatial crops" (seed 003 §4.1, the 30-view protocol of SlowFast).

Geometry follows pySlowFast (``decoder.get_start_end_idx`` without offset and
``transform.uniform_crop``), which both papers' code builds on:

* clip i of N starts at ``floor(Δ · i / N)`` with ``Δ = max(0, frames − span)`` (span =
  ``(clip_len − 1) · stride + 1``); one clip (N = 1) is the centre window ``floor(Δ / 2)``;
* crops are squares of the short side (resized to S afterwards, i.e. short side → S then an
  S² crop): one crop is centred; three crops sit at the start, centre
  (``ceil((long − short) / 2)``) and end of the long side;
* a video's score is the mean over its N·M views of ``softmax(logits)``.
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass

import torch
from torch import Tensor

from vimix_ssl.data.transforms import ClipGeometry

PRESETS = {"centre": "1x1", "seed000": "2x3@256", "seed002": "10x1", "seed003": "10x3@256"}
SPEC = re.compile(r"^(\d+)x(\d+)(?:@(\d+))?$")


@dataclass(frozen=True)
class ViewProtocol:
    """``clips`` × ``crops`` views of side ``size`` (0: the training crop side)."""

    name: str
    clips: int
    crops: int
    size: int = 0

    def record(self, default_size: int) -> dict[str, object]:
        """The protocol as saved next to every result."""
        return {**asdict(self), "size": self.size or default_size, "views": self.clips * self.crops,
                "clip_positions": "pySlowFast uniform: floor(delta * i / N)",
                "crop_positions": {1: "centre", 3: "long side start / centre / end"}[self.crops],
                "averaging": "mean of softmax over views"}


def parse_protocol(spec: str) -> ViewProtocol:
    """A preset name or ``NxM[@S]`` -> ``ViewProtocol``; anything else is a clear error."""
    text = PRESETS.get(spec, spec)
    match = SPEC.match(text)
    if match is None:
        raise ValueError(f"test_views: expected a preset ({', '.join(PRESETS)}) or NxM[@S] such as "
                         f"10x3@256, got {spec!r}")
    clips, crops, size = int(match[1]), int(match[2]), int(match[3] or 0)
    if clips < 1 or crops not in (1, 3) or (match[3] is not None and size < 1):
        raise ValueError(f"test_views: {spec!r} needs >= 1 clips, 1 or 3 crops and a positive size")
    return ViewProtocol(spec, clips, crops, size)


def clip_starts(num_frames: int, span: int, clips: int) -> list[int]:
    """First frame of each of ``clips`` windows of ``span`` frames in a ``num_frames`` video."""
    delta = max(0, num_frames - span)
    if clips == 1:
        return [delta // 2]
    return [math.floor(delta * i / clips) for i in range(clips)]


def crop_boxes(height: int, width: int, crops: int) -> list[ClipGeometry]:
    """``crops`` (1 or 3) square boxes of the short side, as fractions of the frame (no flip)."""
    side = min(height, width)
    tall = height > width
    long_side = height if tall else width
    centre = math.ceil((long_side - side) / 2)
    offsets = [centre] if crops == 1 else [0, centre, long_side - side]
    boxes = []
    for offset in offsets:
        top, left = (offset, (width - side) // 2) if tall else ((height - side) // 2, offset)
        boxes.append(ClipGeometry(top / height, left / width, side / height, side / width, False))
    return boxes


def average_softmax(logits: Tensor) -> Tensor:
    """Logits ``(B, V, K)`` of V views per video -> scores ``(B, K)``: mean of the views' softmax."""
    return torch.softmax(logits.float(), dim=-1).mean(dim=1)
