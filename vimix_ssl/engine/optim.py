"""Optimisers and learning-rate schedules from ``OptimConfig``.

The schedule is a pure function of the global step within a stage, so resuming needs only
the step count (no hidden scheduler state): ``LRSchedule.apply(optimizer, step)`` sets the
learning rate of every parameter group before each optimiser step.

Linear scaling (Goyal et al., as seed 003 states its recipe: lr 0.8 at batch 1024): with
``reference_batch`` set, ``lr`` (and the cosine floor ``min_lr``) are the values at that
*global* batch and are scaled to the run's global batch (per-process batch × world size):
``lr · global_batch / reference_batch`` (``resolve_lr``). With ``reference_batch: null``
(default, and every pre-training config) ``lr`` is used as given.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

import torch
from torch import nn


@dataclass
class OptimConfig:
    """One stage's optimiser and learning-rate schedule (saved in full with every run)."""

    name: Literal["adam", "adamw", "sgd"] = "adam"
    lr: float = 1.0e-3
    weight_decay: float = 1.0e-5
    momentum: float = 0.9  # SGD only
    nesterov: bool = False  # SGD only
    betas: list[float] = field(default_factory=lambda: [0.9, 0.999])  # Adam only: (β1, β2)
    schedule: Literal["cosine", "step", "constant"] = "constant"
    milestones: list[int] = field(default_factory=list)  # epochs at which step multiplies lr by gamma
    gamma: float = 0.1
    warmup_epochs: float = 0.0  # linear warm-up from 0
    min_lr: float = 0.0  # cosine floor
    grad_clip: float | None = None  # max global grad norm; null = off
    reference_batch: int | None = None  # global batch `lr` is stated at (scaled linearly); null = as given


def global_batch_size(batch_size: int, world_size: int) -> int:
    """The global batch: per-process ``batch_size`` × ``world_size`` processes."""
    if batch_size < 1 or world_size < 1:
        raise ValueError(f"batch size and world size must be >= 1, got {batch_size} and {world_size}")
    return batch_size * world_size


def lr_scale(config: OptimConfig, global_batch: int | None) -> float:
    """``global_batch / reference_batch`` (1 without a reference batch)."""
    if config.reference_batch is None:
        return 1.0
    if config.reference_batch < 1:
        raise ValueError("optim.reference_batch: expected a positive global batch, "
                         f"got {config.reference_batch}")
    if global_batch is None:
        raise ValueError(f"optim.reference_batch: {config.reference_batch} is set, but this job does not "
                         "pass its global batch; set reference_batch: null and give lr directly")
    return global_batch / config.reference_batch


def resolve_lr(config: OptimConfig, global_batch: int | None) -> float:
    """The peak learning rate at ``global_batch`` (``lr`` scaled linearly from ``reference_batch``)."""
    return config.lr * lr_scale(config, global_batch)



def build_optimizer(parameters: Iterable[nn.Parameter], config: OptimConfig) -> torch.optim.Optimizer:
    """Adam, AdamW or SGD (momentum, nesterov) with weight decay on every parameter (peer: CoCLR)."""
    params = [p for p in parameters if p.requires_grad]
    if not params:
        raise ValueError("build_optimizer: no trainable parameters")
    betas = (config.betas[0], config.betas[1])
    if config.name == "adam":
        return torch.optim.Adam(params, lr=config.lr, betas=betas, weight_decay=config.weight_decay)
    if config.name == "adamw":
        return torch.optim.AdamW(params, lr=config.lr, betas=betas, weight_decay=config.weight_decay)
    if config.name == "sgd":
        return torch.optim.SGD(params, lr=config.lr, momentum=config.momentum,
                               weight_decay=config.weight_decay, nesterov=config.nesterov)
    raise ValueError(f"optim.name: unknown optimiser {config.name!r}; expected adam, adamw or sgd")


class LRSchedule:
    """Learning rate at a step: optional linear warm-up, then cosine, step or constant."""

    def __init__(self, config: OptimConfig, steps_per_epoch: int, epochs: int,
                 global_batch: int | None = None) -> None:
        if steps_per_epoch <= 0:
            raise ValueError(f"steps_per_epoch must be positive, got {steps_per_epoch}")
        self.config = config
        scale = lr_scale(config, global_batch)
        self.peak_lr, self.min_lr = config.lr * scale, config.min_lr * scale  # at the run's global batch
        self.steps_per_epoch = steps_per_epoch
        self.total_steps = steps_per_epoch * epochs
        self.warmup_steps = round(config.warmup_epochs * steps_per_epoch)
        for milestone in config.milestones:  # one past the stage's end is never reached (shortened runs)
            if milestone <= 0:
                raise ValueError(f"optim.milestones: epochs must be positive, got {milestone}")

    def lr(self, step: int) -> float:
        """Learning rate for optimiser step ``step`` (0-based, counted within the stage)."""
        cfg, peak = self.config, self.peak_lr
        if step < self.warmup_steps:
            return peak * (step + 1) / self.warmup_steps
        if cfg.schedule == "constant":
            return peak
        if cfg.schedule == "step":
            epoch = step // self.steps_per_epoch
            return peak * cfg.gamma ** sum(epoch >= m for m in cfg.milestones)
        if cfg.schedule == "cosine":
            span = max(1, self.total_steps - self.warmup_steps)
            progress = min(1.0, (step - self.warmup_steps) / span)
            return self.min_lr + (peak - self.min_lr) * 0.5 * (1.0 + math.cos(math.pi * progress))
        raise ValueError(f"optim.schedule: unknown schedule {cfg.schedule!r}")

    def apply(self, optimizer: torch.optim.Optimizer, step: int) -> float:
        """Set every group's learning rate for ``step``; returns it."""
        value = self.lr(step)
        for group in optimizer.param_groups:
            group["lr"] = value
        return value
