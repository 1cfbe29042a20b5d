"""Exponential moving average of parameters (the MoCo key encoder update)."""

from __future__ import annotations

import torch
from torch import nn


@torch.no_grad()
def momentum_update(target: nn.Module, source: nn.Module, momentum: float) -> None:
    """``θ_target ← m·θ_target + (1 − m)·θ_source`` for every parameter.

    ``momentum=0`` copies the source, ``momentum=1`` leaves the target unchanged. Buffers
    (BatchNorm statistics) are not averaged: the key encoder keeps its own, as in MoCo.
    """
    if not 0.0 <= momentum <= 1.0:
        raise ValueError(f"momentum must be in [0, 1], got {momentum}")
    target_params = list(target.parameters())
    source_params = list(source.parameters())
    if len(target_params) != len(source_params):
        raise ValueError(f"EMA target has {len(target_params)} parameters, source {len(source_params)}")
    if momentum == 0.0:
        torch._foreach_copy_(target_params, [p.detach() for p in source_params])
        return
    if momentum == 1.0:
        return
    torch._foreach_mul_(target_params, momentum)
    torch._foreach_add_(target_params, [p.detach() for p in source_params], alpha=1.0 - momentum)


@torch.no_grad()
def copy_and_freeze(target: nn.Module, source: nn.Module) -> None:
    """Initialise ``target`` as a copy of ``source`` (parameters and buffers), with no gradient."""
    target.load_state_dict(source.state_dict())
    for p in target.parameters():
        p.requires_grad_(False)
