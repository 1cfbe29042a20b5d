"""The stage-method table and the decorator that fills it (lookup: ``methods.registry``).

A module defining a stage method imports only this table, so ``methods.registry`` can import
every such module without an import cycle.
"""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

from vimix_ssl.methods.config import StageConfig
from vimix_ssl.utils.registry import registrar

StageMethodBuilder = Callable[[StageConfig, nn.ModuleDict], nn.Module]

# mixing.kind -> builder; filled by ``@register_stage_method`` when a method module is imported
STAGE_METHODS: dict[str, StageMethodBuilder] = {}

# Decorator registering a builder for ``mixing.kind == kind``.
register_stage_method = registrar(STAGE_METHODS, "stage method")
