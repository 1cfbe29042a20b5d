"""Optimisers and learning-rate schedules from ``OptimConfig``.

The schedule is a pure function of the global step within a stage, so resuming needs only
the step count (no hidden scheduler state): ``LRSchedule.apply(optimizer, step)`` sets the
learning rate of every parameter group before each optimiser step.
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

    def __init__(self, config: OptimConfig, steps_per_epoch: int, epochs: int) -> None:
        if steps_per_epoch <= 0:
            raise ValueError(f"steps_per_epoch must be positive, got {steps_per_epoch}")
        self.config = config
        self.steps_per_epoch = steps_per_epoch
        self.total_steps = steps_per_epoch * epochs
        self.warmup_steps = round(config.warmup_epochs * steps_per_epoch)
        for milestone in config.milestones:  # one past the stage's end is never reached (shortened runs)
            if milestone <= 0:
                raise ValueError(f"optim.milestones: epochs must be positive, got {milestone}")

    def lr(self, step: int) -> float:
        """Learning rate for optimiser step ``step`` (0-based, counted within the stage)."""
        cfg = self.config
        if step < self.warmup_steps:
            return cfg.lr * (step + 1) / self.warmup_steps
        if cfg.schedule == "constant":
            return cfg.lr
        if cfg.schedule == "step":
            epoch = step // self.steps_per_epoch
            return cfg.lr * cfg.gamma ** sum(epoch >= m for m in cfg.milestones)
        if cfg.schedule == "cosine":
            span = max(1, self.total_steps - self.warmup_steps)
            progress = min(1.0, (step - self.warmup_steps) / span)
            return cfg.min_lr + (cfg.lr - cfg.min_lr) * 0.5 * (1.0 + math.cos(math.pi * progress))
        raise ValueError(f"optim.schedule: unknown schedule {cfg.schedule!r}")

    def apply(self, optimizer: torch.optim.Optimizer, step: int) -> float:
        """Set every group's learning rate for ``step``; returns it."""
        value = self.lr(step)
        for group in optimizer.param_groups:
            group["lr"] = value
        return value
