"""Finetuning the whole network (METHOD §7) and two-stream fusion.

Model: backbone → dropout → Linear. The backbone trains at ``lr × backbone_lr_scale``
(1/10, peer: CoCLR), the classifier at ``lr``. An optional supervised mixer from
``vimix_ssl.mixing.registry`` mixes the input clips; the loss is then soft-target
cross-entropy against ``soft_targets(labels, mixed)``.

Testing: every dense window × ten crops (four corners + centre, each also flipped) goes
through the model; the video's score is the mean softmax over all of them. Two-stream
fusion averages the per-video probabilities of an RGB and a flow model.

The loop here is deliberately small (epochs of SGD/AdamW with step decay and a progress
bar); the pre-training engine's schedule sets one learning rate for all parameter groups,
which the lr/10 backbone group rules out.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from torch import Tensor, nn

from vimix_ssl.eval.features import average_per_video, collate_eval, horizontal_flip
from vimix_ssl.eval.linear import topk_accuracy
from vimix_ssl.mixing.base import soft_cross_entropy
from vimix_ssl.utils.io import atomic_open
from vimix_ssl.utils.seed import deterministic_algorithms


@dataclass
class FinetuneConfig:
    """Finetuning protocol; recorded with the result."""

    epochs: int = 500  # peer CoCLR finetune scripts train long; shorten for small sets
    optimizer: Literal["adam", "adam_l2", "sgd"] = "adam"  # adam = AdamW; adam_l2 = torch Adam (CoCLR)
    lr: float = 1e-3  # classifier learning rate
    backbone_lr_scale: float = 0.1  # backbone at lr/10 (METHOD §7)
    momentum: float = 0.9  # sgd only
    weight_decay: float = 1e-3
    milestones: list[int] = field(default_factory=lambda: [300, 400])  # lr × gamma at these epochs
    gamma: float = 0.1
    dropout: float = 0.9  # before the classifier (peer: CoCLR)
    mixer: str = ""  # "" = none; else a name from `vimix list mixers` (soft-target CE)
    mixer_kwargs: dict[str, Any] = field(default_factory=dict)
    label_smoothing: float = 0.0
    test_crops: Literal[1, 5, 10] = 10  # ten crops (5 positions × flip), five (no flip; CoCLR) or centre
    test_resize_ratio: float = 1.15  # test frames are resized to size × ratio before cropping
    # square: crops from the centre square resized to size × ratio; full: from the whole frame, short
    # side resized to size × ratio, aspect ratio kept (CoCLR test_10crop --five_crop)
    test_frame: Literal["square", "full"] = "square"
    clips_per_forward: int = 20  # test: clips per forward call
    seed: int = 0

    def validate(self) -> None:
        if self.epochs < 1 or self.lr <= 0:
            raise ValueError(f"finetune.epochs must be >= 1 and lr > 0, got {self.epochs}, {self.lr}")
        if not 0 <= self.dropout < 1:
            raise ValueError(f"finetune.dropout must be in [0, 1), got {self.dropout}")
        if self.test_resize_ratio < 1:
            raise ValueError(f"finetune.test_resize_ratio must be >= 1, got {self.test_resize_ratio}")
        if self.test_frame not in ("square", "full"):
            raise ValueError(f"finetune.test_frame must be square or full, got {self.test_frame!r}")


class FinetuneModel(nn.Module):
    """``encoder`` (pooled ``(B, D)`` features) → dropout → Linear → ``(B, num_classes)``."""

    def __init__(self, encoder: nn.Module, feature_dim: int, num_classes: int, dropout: float) -> None:
        super().__init__()
        self.encoder = encoder
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(feature_dim, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier(self.dropout(self.encoder(x)))


def build_optimizer(model: FinetuneModel, config: FinetuneConfig) -> torch.optim.Optimizer:
    """Two parameter groups: backbone at ``lr × backbone_lr_scale``, classifier at ``lr``."""
    groups = [{"params": list(model.encoder.parameters()), "lr": config.lr * config.backbone_lr_scale,
               "name": "backbone"},
              {"params": list(model.classifier.parameters()), "lr": config.lr, "name": "classifier"}]
    if config.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=config.lr, momentum=config.momentum,
                               weight_decay=config.weight_decay)
    if config.optimizer == "adam":  # decoupled weight decay
        return torch.optim.AdamW(groups, lr=config.lr, weight_decay=config.weight_decay)
    if config.optimizer == "adam_l2":  # weight decay added to the gradient (peer: CoCLR optim.Adam)
        return torch.optim.Adam(groups, lr=config.lr, weight_decay=config.weight_decay)
    raise ValueError(f"finetune.optimizer must be adam, adam_l2 or sgd, got {config.optimizer!r}")


def crop_positions(height: int, width: int, size: int) -> list[tuple[int, int]]:
    """Top-left corners of the five crops of a ``height`` x ``width`` frame (square or not): four
    corners, then the centre."""
    if size > height or size > width:
        raise ValueError(f"crop {size} larger than the {height}x{width} frames")
    bottom, right = height - size, width - size
    return [(0, 0), (0, right), (bottom, 0), (bottom, right), (bottom // 2, right // 2)]


def collate_by_frame_shape(samples: list[dict[str, Any]], modality: str) -> list[dict[str, Any]]:
    """Test samples -> ``collate_eval`` batches, one per consecutive run of videos whose clips share a
    frame shape (in order). With ``test_frame: full`` the frames keep each video's aspect ratio, which
    one dataset need not share (UCF101/HMDB51 do): such videos are then run separately, not refused."""
    groups: list[list[tuple[dict[str, Any], Any]]] = []
    for sample in samples:
        shape = tuple(torch.as_tensor(sample[modality]).shape[-2:]) if modality in sample else None
        if groups and groups[-1][0][1] == shape:
            groups[-1].append((sample, shape))
        else:
            groups.append([(sample, shape)])
    return [collate_eval([sample for sample, _ in group], modality) for group in groups]


def ten_crop(clips: Tensor, size: int, flow: bool = False, crops: int = 10) -> Tensor:
    """``(N, C, T, H, W)`` -> ``(N × crops, C, T, size, size)``; 10 = 5 positions × flip, 5, 1 = centre.

    Output order per clip: the five positions, then their mirror images.
    """
    height, width = clips.shape[-2:]
    positions = crop_positions(height, width, size)
    if crops == 1:
        positions = positions[-1:]
    elif crops not in (5, 10):
        raise ValueError(f"crops must be 1, 5 or 10, got {crops}")
    views = [clips[..., top:top + size, left:left + size] for top, left in positions]
    if crops == 10:
        views += [horizontal_flip(v, flow) for v in views]
    return torch.stack(views, dim=1).flatten(0, 1)


Batch = tuple[Tensor, Tensor]  # (clips (B, C, T, H, W) prepared for the encoder, labels (B,))


def train_finetune(model: FinetuneModel, batches: Callable[[int], Iterable[Batch]], num_classes: int,
                   config: FinetuneConfig, device: torch.device,
                   desc: str = "finetune") -> list[dict[str, float]]:
    """Train ``model`` in place for ``config.epochs`` epochs; returns per-epoch loss records."""
    from vimix_ssl.mixing.base import soft_targets
    from vimix_ssl.utils.logging import progress

    config.validate()
    mixer = None
    if config.mixer:
        from vimix_ssl.mixing.registry import build_mixer

        mixer = build_mixer(config.mixer, **config.mixer_kwargs)
    generator = torch.Generator(device=device).manual_seed(config.seed)
    optimiser = build_optimizer(model, config)
    schedule = torch.optim.lr_scheduler.MultiStepLR(optimiser, config.milestones, config.gamma)
    history = []
    bar = progress(total=config.epochs, desc=desc, unit="epoch")
    model.to(device).train()
    for epoch in range(config.epochs):
        total, count = 0.0, 0
        for clips, labels in batches(epoch):
            clips, labels = clips.to(device), labels.to(device)  # (B, C, T, H, W), (B,)
            if mixer is not None:
                mixed = mixer(clips, generator=generator)
                targets = soft_targets(labels, num_classes, mixed, config.label_smoothing)
                loss = soft_cross_entropy(model(mixed.x), targets)
            else:
                loss = nn.functional.cross_entropy(model(clips), labels,
                                                   label_smoothing=config.label_smoothing)
            if not torch.isfinite(loss):
                raise FloatingPointError(f"{desc}: non-finite loss {float(loss)} at epoch {epoch + 1}; "
                                         "lower finetune.lr")
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
            total += float(loss.detach()) * len(labels)
            count += len(labels)
        schedule.step()
        history.append({"epoch": epoch + 1, "loss": total / max(count, 1)})
        bar.set_postfix(loss=f"{history[-1]['loss']:.4f}")
        bar.update(1)
    bar.close()
    return history


@torch.no_grad()
def predict_videos(model: nn.Module, batches: Iterable[tuple[Tensor, Tensor]], size: int,
                   config: FinetuneConfig, device: torch.device, flow: bool = False) -> Tensor:
    """Per-video mean softmax ``(V, num_classes)`` over dense windows × test crops.

    ``batches`` yields ``(clips (N_total, C, T, H, W) prepared, counts (B,) windows per video)``;
    ``H`` x ``W`` may be non-square (``test_frame: full``): the crops are placed on the whole frame.
    """
    model.to(device).eval()
    out = []
    with deterministic_algorithms():
        for clips, counts in batches:
            views = ten_crop(clips.to(device), size, flow, config.test_crops)  # (N_total × crops, ...)
            scores = torch.cat([model(views[i:i + config.clips_per_forward]).softmax(dim=1)
                                for i in range(0, len(views), config.clips_per_forward)])
            out.append(average_per_video(scores.float(), torch.as_tensor(counts) * config.test_crops,
                                         normalise=False).cpu())
    return torch.cat(out)


def save_predictions(path: str | Path, video_ids: list[str], labels: Tensor, probabilities: Tensor,
                     modality: str) -> Path:
    """Per-video probabilities ``(V, C)`` as an ``.npz`` (input of two-stream fusion), atomically."""
    with atomic_open(path, "wb") as f:
        np.savez(f, video_ids=np.array(video_ids, dtype=str), labels=labels.numpy(),
                 probabilities=probabilities.numpy(), modality=np.array(modality))
    return Path(path)


def load_predictions(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"predictions file not found: {path} (written by `vimix eval finetune`)")
    with np.load(path, allow_pickle=False) as data:
        missing = {"video_ids", "labels", "probabilities"} - set(data.files)
        if missing:
            raise ValueError(f"{path}: not a predictions file, lacks {sorted(missing)}")
        return {"video_ids": [str(v) for v in data["video_ids"]], "labels": torch.from_numpy(data["labels"]),
                "probabilities": torch.from_numpy(data["probabilities"]),
                "modality": str(data["modality"]) if "modality" in data.files else ""}


def fuse_two_stream(first: str | Path, second: str | Path) -> dict[str, Any]:
    """Mean of two models' per-video softmax (e.g. RGB and flow) -> top-1/top-5 and the fused scores."""
    a, b = load_predictions(first), load_predictions(second)
    if a["video_ids"] != b["video_ids"]:
        raise ValueError(f"{first} and {second} hold different videos or orders "
                         f"({len(a['video_ids'])} vs {len(b['video_ids'])}); fuse results of the same split")
    if not torch.equal(a["labels"], b["labels"]):
        raise ValueError(f"{first} and {second} disagree on labels for the same videos")
    if a["probabilities"].shape != b["probabilities"].shape:
        raise ValueError(f"probability shapes differ: {tuple(a['probabilities'].shape)} vs "
                         f"{tuple(b['probabilities'].shape)}")
    fused = (a["probabilities"].double() + b["probabilities"].double()) / 2
    return {"metrics": topk_accuracy(fused, a["labels"].long()), "probabilities": fused.float(),
            "labels": a["labels"], "video_ids": a["video_ids"],
            "streams": {"first": {"path": str(first), "modality": a["modality"],
                                  **topk_accuracy(a["probabilities"], a["labels"].long())},
                        "second": {"path": str(second), "modality": b["modality"],
                                   **topk_accuracy(b["probabilities"], b["labels"].long())}}}
