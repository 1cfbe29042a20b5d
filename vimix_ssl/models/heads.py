"""Projection heads (METHOD §1) and the linear classifier used for evaluation and finetuning."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn


class ProjectionHead(nn.Module):
    """Two-layer MLP ``in → hidden → ReLU → out`` without BatchNorm (peer: CoCLR, SkeletonCLR).

    Embeddings are *not* normalised here; the contrastive loss L2-normalises them.
    """

    def __init__(self, in_dim: int, hidden_dim: int, out_dim: int = 128) -> None:
        super().__init__()
        self.in_dim, self.hidden_dim, self.out_dim = in_dim, hidden_dim, out_dim
        self.mlp = nn.Sequential(nn.Linear(in_dim, hidden_dim), nn.ReLU(inplace=True),
                                 nn.Linear(hidden_dim, out_dim))

    def forward(self, features: Tensor) -> Tensor:
        return self.mlp(features)  # (B, in_dim) -> (B, out_dim)


def video_projection_head(in_dim: int = 1024, hidden_dim: int = 1024, out_dim: int = 128) -> ProjectionHead:
    """Video head of METHOD §1: 1024 → 1024 → ReLU → 128 (pass ``in_dim`` for small encoders)."""
    return ProjectionHead(in_dim, hidden_dim, out_dim)


def skeleton_projection_head(in_dim: int = 256, hidden_dim: int = 256, out_dim: int = 128) -> ProjectionHead:
    """Skeleton head of METHOD §1: 256 → 256 → ReLU → 128."""
    return ProjectionHead(in_dim, hidden_dim, out_dim)


class LinearClassifier(nn.Module):
    """Linear layer on pooled features, with optional L2-normalisation, BatchNorm and dropout.

    The linear probe of METHOD §7 is ``normalize=True, batch_norm=True``; finetuning uses
    ``dropout > 0`` before the linear layer.
    """

    def __init__(self, in_dim: int, num_classes: int, dropout: float = 0.0, normalize: bool = False,
                 batch_norm: bool = False) -> None:
        super().__init__()
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        self.normalize = normalize
        self.batch_norm = nn.BatchNorm1d(in_dim) if batch_norm else nn.Identity()
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.linear = nn.Linear(in_dim, num_classes)
        nn.init.normal_(self.linear.weight, std=0.01)
        nn.init.zeros_(self.linear.bias)

    def forward(self, features: Tensor) -> Tensor:
        if self.normalize:
            features = F.normalize(features, dim=1)
        return self.linear(self.dropout(self.batch_norm(features)))  # (B, D) -> (B, num_classes)
