"""Contrastive losses as pure functions of logits.

Shapes: ``logits`` (B, N) with N = 1 + K (MoCo form: positive first, then the queue) or
N = B_global + K (i-Mix form: every key of the global batch, then the queue). Losses are
computed in float32 with autocast off, whatever the logits' dtype.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def info_nce(logits: Tensor, targets: Tensor | None = None) -> Tensor:
    """Mean cross-entropy; the positive is column 0 (MoCo form) unless ``targets`` (B,) says otherwise."""
    if targets is None:
        targets = torch.zeros(logits.shape[0], dtype=torch.long, device=logits.device)
    with torch.autocast(logits.device.type, enabled=False):
        return F.cross_entropy(logits.float(), targets)


def imix_loss(logits: Tensor, lam: Tensor | float, perm: Tensor, offset: int = 0) -> Tensor:
    """i-Mix virtual-label loss: mean_i λ_i·CE(logits_i, offset+i) + (1−λ_i)·CE(logits_i, offset+perm[i]).

    ``perm`` (B,) indexes the local batch; ``offset`` is where this process's keys start in
    the all-gathered key batch (rank × local batch under DDP, 0 otherwise).
    """
    batch = logits.shape[0]
    if perm.shape != (batch,):
        raise ValueError(f"perm must have shape ({batch},), got {tuple(perm.shape)}")
    lam = torch.as_tensor(lam, dtype=torch.float32, device=logits.device).expand(batch)
    own = offset + torch.arange(batch, device=logits.device)
    partner = offset + perm.to(logits.device)
    with torch.autocast(logits.device.type, enabled=False):
        log_prob = F.log_softmax(logits.float(), dim=1)  # (B, N) float32
        ce_own = -log_prob.gather(1, own[:, None]).squeeze(1)  # (B,)
        ce_partner = -log_prob.gather(1, partner[:, None]).squeeze(1)  # (B,)
        return (lam * ce_own + (1.0 - lam) * ce_partner).mean()


@torch.no_grad()
def pretext_accuracy(logits: Tensor, targets: Tensor) -> Tensor:
    """Share of rows whose largest logit is at ``targets`` (B,): the pretext top-1 accuracy."""
    return (logits.argmax(dim=1) == targets).float().mean()


def dominant_targets(lam: Tensor | float, perm: Tensor, offset: int = 0) -> Tensor:
    """For mixed queries, the key that holds the larger share (own if λ ≥ 0.5, else the partner)."""
    batch = perm.shape[0]
    lam = torch.as_tensor(lam, device=perm.device).expand(batch)
    own = torch.arange(batch, device=perm.device)
    return offset + torch.where(lam >= 0.5, own, perm)
