"""The one mixer interface shared by supervised, contrastive and cross-modal training.

A mixer is label-agnostic: it returns the mixed tensor, the effective ``lam`` per sample
(after box clipping, i.e. the share of each sample's own content) and the partner
permutation. Soft targets and the mixed InfoNCE are derived from ``(lam, perm)`` outside.
"""

from __future__ import annotations

from typing import NamedTuple, Protocol

import torch
from torch import Tensor


class Mixed(NamedTuple):
    x: Tensor  # mixed tensor, same shape and dtype as the input
    lam: Tensor  # (B,) float32: weight of sample i's own content
    perm: Tensor  # (B,) int64: sample i was mixed with sample perm[i]


class Mixer(Protocol):
    def __call__(self, x: Tensor, generator: torch.Generator | None = None) -> Mixed: ...


def soft_targets(labels: Tensor, num_classes: int, mixed: Mixed, smoothing: float = 0.0) -> Tensor:
    """``lam * onehot(y) + (1 - lam) * onehot(y[perm])`` (B, num_classes), rows sum to 1."""
    onehot = torch.nn.functional.one_hot(labels, num_classes).float()
    if smoothing > 0:
        onehot = onehot * (1 - smoothing) + smoothing / num_classes
    lam = mixed.lam.to(onehot.device).view(-1, 1)
    return lam * onehot + (1 - lam) * onehot[mixed.perm.to(onehot.device)]


def identity(x: Tensor) -> Mixed:
    """No mixing: lam = 1, perm = identity."""
    b = x.shape[0]
    return Mixed(x, torch.ones(b, device=x.device), torch.arange(b, device=x.device))


def soft_cross_entropy(logits: Tensor, targets: Tensor) -> Tensor:
    """Mean over the batch of ``−Σ_c targets·log_softmax(logits)``; logits and targets (B, num_classes)."""
    if logits.shape != targets.shape:
        raise ValueError(f"logits {tuple(logits.shape)} and soft targets {tuple(targets.shape)} "
                         "differ in shape")
    return -(targets * torch.log_softmax(logits.float(), dim=1)).sum(dim=1).mean()
