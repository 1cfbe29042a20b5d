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
from vimix_ssl.engine.optim import OptimConfig
from vimix_ssl.methods.config import MixingConfig, StageConfig, check_stage_defaults, merge_stage
from vimix_ssl.modalities import modality_kind

SKELETON_BATCH_SIZE = 128  # the skeleton loader's default batch (peer: CrosSCLR); see build.py


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
    # keys resume=auto may find changed from the run's config.yaml (e.g. [stage_defaults.epochs]);
    # any other difference is refused (vimix_ssl/jobs/resume.py)
    resume_allow_changes: list[str] = field(default_factory=list)
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
        """Raise one ``ConfigError`` listing every problem (see :func:`pretrain_config_problems`)."""
        raise_problems(pretrain_config_problems(self))


def raise_problems(problems: list[str], what: str = "config") -> None:
    """One ``ConfigError`` naming every problem (a single problem is the message itself)."""
    if len(problems) == 1:
        raise ConfigError(problems[0])
    if problems:
        listed = "\n".join(f"  - {p}" for p in problems)
        raise ConfigError(f"{len(problems)} problems in the {what}:\n{listed}")


def optim_problems(optim: OptimConfig, where: str) -> list[str]:
    """What is invalid in one optimiser section (each message names the dotted key and value)."""
    problems = []
    if not optim.lr > 0:
        problems.append(f"{where}.lr: must be > 0, got {optim.lr}")
    if optim.weight_decay < 0:
        problems.append(f"{where}.weight_decay: must be >= 0, got {optim.weight_decay}")
    if not 0 <= optim.momentum < 1:
        problems.append(f"{where}.momentum: must be in [0, 1), got {optim.momentum}")
    if len(optim.betas) != 2:
        problems.append(f"{where}.betas: expected two numbers, got {optim.betas}")
    elif not all(0 <= b < 1 for b in optim.betas):
        problems.append(f"{where}.betas: each must be in [0, 1), got {optim.betas}")
    if optim.schedule == "step" and not optim.milestones:
        problems.append(f"{where}: schedule=step needs milestones (epochs)")
    if any(m <= 0 for m in optim.milestones):
        problems.append(f"{where}.milestones: epochs must be positive, got {optim.milestones}")
    if not optim.gamma > 0:
        problems.append(f"{where}.gamma: must be > 0, got {optim.gamma}")
    if optim.warmup_epochs < 0 or optim.min_lr < 0:
        problems.append(f"{where}.warmup_epochs and min_lr: must be >= 0, got {optim.warmup_epochs} and "
                        f"{optim.min_lr}")
    if optim.grad_clip is not None and not optim.grad_clip > 0:
        problems.append(f"{where}.grad_clip: must be > 0 or null (off), got {optim.grad_clip}")
    reference = getattr(optim, "reference_batch", None)
    if reference is not None and reference < 1:
        problems.append(f"{where}.reference_batch: must be a positive global batch or null, got {reference}")
    return problems


def modality_problems(config: ModalityConfig, where: str) -> list[str]:
    problems = []
    for key in ("queue_size", "dim", "head_hidden"):
        if getattr(config, key) < 1:
            problems.append(f"{where}.{key}: must be a positive integer, got {getattr(config, key)}")
    if not 0 <= config.momentum <= 1:
        problems.append(f"{where}.momentum: the key-encoder EMA must be in [0, 1], got {config.momentum}")
    if not config.temperature > 0:
        problems.append(f"{where}.temperature: must be > 0, got {config.temperature}")
    return problems


def mixing_problems(mixing: MixingConfig, where: str) -> list[str]:
    problems = []
    if mixing.kind != "none" and not mixing.alpha > 0:
        problems.append(f"{where}.alpha: Beta(alpha, alpha) needs alpha > 0, got {mixing.alpha}")
    if mixing.kind == "input":
        from vimix_ssl.mixing.registry import canonical_name

        try:
            canonical_name(mixing.mixer)
        except ValueError as e:
            problems.append(f"{where}.mixer: {e}")
    return problems


def pretrain_config_problems(cfg: PretrainConfig) -> list[str]:
    """Every problem of a pre-training config that needs no file: keys, stages, optimiser and mixing values.

    Checked at load, so a bad value in a late stage stops the run before the first stage trains.
    """
    if not cfg.modalities:
        return ["modalities: at least one modality is required, e.g. modalities.rgb"]
    if not cfg.stages:
        return ["stages: at least one stage is required"]
    problems = []
    try:
        kinds = {data_kind(m) for m in cfg.modalities}
    except ConfigError as e:
        return [str(e)]
    if len(kinds) != 1:
        problems.append(f"modalities {sorted(cfg.modalities)} mix video and skeleton streams")
    if cfg.resume not in ("auto", "never") and not Path(cfg.resume).is_file():
        problems.append(f"resume: {cfg.resume!r} is neither auto, never nor an existing checkpoint file")
    batch = per_process_batch(cfg)
    for modality, modality_config in cfg.modalities.items():
        problems += modality_problems(modality_config, f"modalities.{modality}")
        if batch and modality_config.queue_size > 0 and modality_config.queue_size % batch:
            problems.append(f"modalities.{modality}.queue_size: {modality_config.queue_size} is not a "
                            f"multiple of data.batch_size {batch} (nor of any global batch made of it); keys "
                            "are enqueued a whole batch at a time")
    names = [s.name for s in cfg.stages]
    if len(set(names)) != len(names):
        problems.append(f"stages: stage names must be unique, got {names}")
    for i, stage in enumerate(cfg.stages):
        where = f"stages[{i}] ({stage.name})"
        for role, modality in (("train", stage.train), ("partner", stage.partner)):
            if modality is not None and modality not in cfg.modalities:
                problems.append(f"{where}.{role}: {modality!r} is not one of the modalities "
                                f"{sorted(cfg.modalities)}")
        if stage.mixing.kind == "cmmc" and stage.mixing.cross_modal and stage.partner is None:
            problems.append(f"{where}: mixing.kind=cmmc needs a partner modality")
        if stage.epochs <= 0:
            problems.append(f"{where}.epochs: expected a positive integer, got {stage.epochs}")
        problems += optim_problems(stage.optim, f"{where}.optim")
        problems += mixing_problems(stage.mixing, f"{where}.mixing")
    if cfg.knn.every < 0 or cfg.knn.k < 1 or cfg.knn.batch_size < 1:
        problems.append(f"knn: every must be >= 0, k and batch_size >= 1, got {cfg.knn.every}, {cfg.knn.k}, "
                        f"{cfg.knn.batch_size}")
    return problems


def per_process_batch(cfg: PretrainConfig) -> int | None:
    """``data.batch_size`` or its default for the data kind (None if it is not a positive integer)."""
    value = cfg.data.get("batch_size")
    if value is None:
        from vimix_ssl.data.config import VideoDataConfig

        kinds = {data_kind(m) for m in cfg.modalities}
        value = VideoDataConfig.batch_size if kinds == {"video"} else SKELETON_BATCH_SIZE
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


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
    # a mixing default is inherited only by the stages whose kind reads it (methods.config)
    return {**data, "stage_defaults": {}, "stages": [merge_stage(defaults, s) for s in stages]}


def load_pretrain_config(path: str | Path | None = None,
                         overrides: list[str] | None = None) -> PretrainConfig:
    """Defaults ← YAML (with ``_base_``) ← ``key=value`` overrides, stages expanded, validated."""
    data: dict[str, Any] = load_yaml(path) if path is not None else {}
    if overrides:
        data = deep_merge(data, parse_overrides(overrides))
    cfg = from_dict(PretrainConfig, expand_stages(data))
    check_stage_defaults(data.get("stage_defaults") or {}, data.get("stages") or [])  # none set and unread
    cfg.validate()
    return cfg
