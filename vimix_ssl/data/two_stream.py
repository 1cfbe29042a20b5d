"""Two-stream RGB + optical-flow samples: ``{"rgb": ..., "flow": ...}`` of the same frames.

Alignment (see docs/DATA_FLOW.md): flow field ``t`` is the flow from RGB frame ``t`` to
RGB frame ``t + 1``, so a video of ``N`` RGB frames has ``N - 1`` fields. The dataset
(``VideoDataset``) draws window indices in ``[0, min(N, N - 1)) = [0, N - 1)`` and reads
the same indices from both stores: RGB frame ``t`` is paired with the motion that starts
at it, and the last RGB frame (which has no outgoing field) is never sampled.

Augmentation: one crop box and flip per view, shared by both modalities (the box is
relative, so RGB and flow may be stored at different sizes; a flip negates flow dx). The
photometric part runs batched on the training device and only on the modalities listed
in ``FlowDataConfig.photometric_modalities`` (default: RGB only) — see
:class:`ModalityPhotometric`. Flow leaves the dataset as float32 in pixels or normalised.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import torch
from torch import nn

from vimix_ssl.data.config import VideoDataConfig
from vimix_ssl.data.datasets import VideoDataset, build_video_dataset
from vimix_ssl.data.flow_store import FlowStoreSource
from vimix_ssl.data.transforms import BatchPhotometric


@dataclass
class FlowDataConfig:
    """Where the flow is and how it is fed to the flow encoder."""

    store: str = ""  # flow store written by `vimix prepare flow`
    units: Literal["pixels", "normalized"] = "normalized"  # normalized = px / bound in [-1, 1] (peers)
    channels: int = 2  # 2: (dx, dy); 3: adds a constant channel for 3-channel encoders
    third_channel_value: float = 0.0  # value of that constant channel (in `units`)
    photometric_modalities: tuple[str, ...] = ("rgb",)  # batched colour/blur augmentation only here

    def validate(self) -> None:
        if not self.store:
            raise ValueError("flow.store is empty: point it at a flow store from `vimix prepare flow`")
        if self.channels not in (2, 3):
            raise ValueError(f"flow.channels must be 2 or 3, got {self.channels}")


def flow_source(config: FlowDataConfig) -> FlowStoreSource:
    config.validate()
    return FlowStoreSource(config.store, units=config.units, channels=config.channels,
                           third_channel_value=config.third_channel_value)


def build_two_stream_dataset(data: VideoDataConfig, flow: FlowDataConfig, subset: str, train: bool,
                             seed: int | None = None) -> VideoDataset:
    """The dataset of ``data`` with a ``"flow"`` modality from ``flow.store`` added."""
    return build_video_dataset(data, subset, train, extra_sources={"flow": flow_source(flow)}, seed=seed)


class ModalityPhotometric(nn.Module):
    """Apply a ``BatchPhotometric`` to the listed modalities of a batch, leave the others as they are.

    A modality's value is a ``(B, 3, T, H, W)`` tensor or a list of such views (each view
    gets its own per-clip parameters).
    """

    def __init__(self, photometric: BatchPhotometric, modalities: Sequence[str] = ("rgb",)):
        super().__init__()
        self.photometric = photometric
        self.modalities = tuple(modalities)

    def forward(self, batch: dict[str, Any], generator: torch.Generator | None = None) -> dict[str, Any]:
        out = dict(batch)
        for name in self.modalities:
            if name not in batch:
                raise KeyError(f"photometric modality {name!r} is not in the batch (keys {sorted(batch)})")
            value = batch[name]
            out[name] = ([self.photometric(view, generator) for view in value] if isinstance(value, list)
                         else self.photometric(value, generator))
        return out
