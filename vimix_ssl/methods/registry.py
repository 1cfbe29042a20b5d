"""Stage methods by ``mixing.kind``: how a stage of the schedule turns into a training method.

A stage method is an ``nn.Module`` with ``training_step(batch) -> dict[str, Tensor]`` (holding
``"loss"``) that does its own EMA/enqueue bookkeeping. Builders take the stage config and the
``nn.ModuleDict`` of every modality's ``MoCo``::

    @register_stage_method("cmmc")
    def build_cmmc(stage: StageConfig, mocos: nn.ModuleDict) -> nn.Module: ...
"""

from __future__ import annotations

from torch import nn

from vimix_ssl.methods import cmmc  # noqa: F401  (registers "cmmc")
from vimix_ssl.methods.config import StageConfig
from vimix_ssl.methods.moco import MoCoMethod
from vimix_ssl.methods.registration import STAGE_METHODS, StageMethodBuilder, register_stage_method  # noqa: F401


def build_stage_method(stage: StageConfig, mocos: nn.ModuleDict) -> nn.Module:
    """The training method for ``stage`` (a clear error names unknown kinds and modalities)."""
    kind = stage.mixing.kind
    if kind not in STAGE_METHODS:
        raise KeyError(f"stage {stage.name!r}: no method registered for mixing.kind={kind!r}; "
                       f"registered: {sorted(STAGE_METHODS)}")
    for role, modality in (("train", stage.train), ("partner", stage.partner)):
        if modality is not None and modality not in mocos:
            raise KeyError(f"stage {stage.name!r}: {role} modality {modality!r} has no MoCo; "
                           f"available: {sorted(mocos.keys())}")
    return STAGE_METHODS[kind](stage, mocos)


@register_stage_method("none")
def build_plain_moco(stage: StageConfig, mocos: nn.ModuleDict) -> nn.Module:
    """Plain MoCo / SkeletonCLR: InfoNCE against the positive key and the queue."""
    return MoCoMethod(mocos, stage.train, mixer=None)


@register_stage_method("input")
def build_imix(stage: StageConfig, mocos: nn.ModuleDict) -> nn.Module:
    """MoCo + i-Mix with an input-space mixer from the mixing registry (per-sample λ).

    ``stage.mixing`` is resolved (``StageConfig``): ``alpha`` / ``fold_lambda`` are set unless
    ``mixer_kwargs`` holds them, and ``fold_lambda`` only for mixers that take it.
    """
    from vimix_ssl.mixing.registry import build_mixer

    mixing = stage.mixing
    kwargs = {"per_sample": True, **mixing.mixer_kwargs}
    for name in ("alpha", "fold_lambda"):
        if getattr(mixing, name) is not None:
            kwargs[name] = getattr(mixing, name)
    return MoCoMethod(mocos, stage.train, mixer=build_mixer(mixing.mixer or "mixup", **kwargs))
