"""The pre-training config: a schedule of stages over one MoCo per modality.

A plain MoCo (or MoCo + i-Mix, or SkeletonCLR) run is a one-stage schedule; Vi-Mix's
Cross-Modal Manifold CutMix recipes list several. Stage entries hold only what differs
from ``stage_defaults`` (files stay short and ``stage_defaults.epochs=2`` on the command
line shortens every stage); ``load_pretrain_config`` expands them, so the resolved
config saved with a run lists every stage in full.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from vimix_ssl.config import ConfigError, deep_merge, from_dict, load_yaml, parse_overrides
from vimix_ssl.methods.config import StageConfig
from vimix_ssl.modalities import modality_kind


@dataclass
class ModalityConfig:
    """One MoCo (METHOD §1): backbone, projection head, queue."""

    encoder: str = "s3d"  # registry name (vimix list encoders)
    encoder_kwargs: dict[str, Any] = field(default_factory=dict)  # e.g. {in_channels: 2} for flow
    head_hidden: int = 1024  # projection MLP hidden width (video 1024, skeleton 256)
    dim: int = 128  # embedding size
    queue_size: int = 2048  # K: UCF101 2048, K400 16384, NTU-60 32768; multiple of the global batch
    momentum: float = 0.999  # key-encoder EMA m
    temperature: float = 0.07  # τ
    shuffle_bn: bool = True  # shuffle-BN for the key encoder under DDP
    photometric: bool | None = None  # batched colour jitter/grayscale/blur on device; None: on for rgb
    store: str = ""  # flow only: the flow store folder (`vimix prepare flow`)
    flow_units: Literal["pixels", "normalized"] = "normalized"  # flow only: dequantised units


@dataclass
class KnnMonitorConfig:
    """Optional kNN accuracy of the backbone features on held-out data, every N epochs."""

    every: int = 0  # epochs between evaluations; 0 = off
    k: int = 200
    temperature: float | None = 0.07  # weighted voting exp(sim/τ); null = majority vote
    memory_split: str = "train"  # labelled bank
    query_split: str = "test"  # queries
    batch_size: int = 32
    max_videos: int | None = None  # cap per split for speed; null = all


@dataclass
class PretrainConfig:
    seed: int = 0
    out_dir: str = "runs/pretrain"
    resume: str = "auto"  # auto | never | PATH to a checkpoint
    device: str = "auto"  # auto | cpu | cuda
    data: dict[str, Any] = field(default_factory=dict)  # VideoDataConfig or SkeletonDataConfig fields
    modalities: dict[str, ModalityConfig] = field(default_factory=dict)
    stage_defaults: dict[str, Any] = field(default_factory=dict)  # merged under every stage entry
    stages: list[StageConfig] = field(default_factory=list)
    amp: bool = True  # mixed precision on CUDA (ignored on CPU)
    amp_dtype: Literal["float16", "bfloat16"] = "bfloat16"
    channels_last: bool = True  # channels_last_3d memory format on CUDA for 5-D inputs
    log_every: int = 10  # steps between metric records
    knn: KnnMonitorConfig = field(default_factory=KnnMonitorConfig)

    def validate(self) -> None:
        if not self.modalities:
            raise ConfigError("modalities: at least one modality is required, e.g. modalities.rgb")
        if not self.stages:
            raise ConfigError("stages: at least one stage is required")
        kinds = {data_kind(m) for m in self.modalities}
        if len(kinds) != 1:
            raise ConfigError(f"modalities {sorted(self.modalities)} mix video and skeleton streams")
        if self.resume not in ("auto", "never") and not Path(self.resume).is_file():
            raise ConfigError(f"resume: {self.resume!r} is neither auto, never nor an existing checkpoint")
        names = [s.name for s in self.stages]
        if len(set(names)) != len(names):
            raise ConfigError(f"stages: stage names must be unique, got {names}")
        for i, stage in enumerate(self.stages):
            where = f"stages[{i}] ({stage.name})"
            for role, modality in (("train", stage.train), ("partner", stage.partner)):
                if modality is not None and modality not in self.modalities:
                    raise ConfigError(f"{where}.{role}: {modality!r} is not one of the modalities "
                                      f"{sorted(self.modalities)}")
            if stage.mixing.kind == "cmmc" and stage.partner is None:
                raise ConfigError(f"{where}: mixing.kind=cmmc needs a partner modality")
            if stage.epochs <= 0:
                raise ConfigError(f"{where}.epochs: expected a positive integer, got {stage.epochs}")
            if len(stage.optim.betas) != 2:
                raise ConfigError(f"{where}.optim.betas: expected two numbers, got {stage.optim.betas}")
            if stage.optim.schedule == "step" and not stage.optim.milestones:
                raise ConfigError(f"{where}.optim: schedule=step needs milestones (epochs)")


def data_kind(modality: str) -> Literal["video", "skeleton"]:
    try:
        return modality_kind(modality, key="modalities")
    except ValueError as e:
        raise ConfigError(str(e)) from None


def expand_stages(data: dict[str, Any]) -> dict[str, Any]:
    """Merge ``stage_defaults`` under every entry of ``stages`` (plain data in, plain data out)."""
    defaults = data.get("stage_defaults") or {}
    if not isinstance(defaults, dict):
        raise ConfigError(f"stage_defaults: expected a mapping, got {defaults!r}")
    stages = data.get("stages") or []
    if not isinstance(stages, list):
        raise ConfigError(f"stages: expected a list of stage mappings, got {stages!r}")
    for i, stage in enumerate(stages):
        if not isinstance(stage, dict):
            raise ConfigError(f"stages[{i}]: expected a mapping, got {stage!r}")
    return {**data, "stage_defaults": {}, "stages": [deep_merge(defaults, s) for s in stages]}


def load_pretrain_config(path: str | Path | None = None,
                         overrides: list[str] | None = None) -> PretrainConfig:
    """Defaults ← YAML (with ``_base_``) ← ``key=value`` overrides, stages expanded, validated."""
    data: dict[str, Any] = load_yaml(path) if path is not None else {}
    if overrides:
        data = deep_merge(data, parse_overrides(overrides))
    cfg = from_dict(PretrainConfig, expand_stages(data))
    cfg.validate()
    return cfg
