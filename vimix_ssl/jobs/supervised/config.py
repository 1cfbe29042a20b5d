"""The supervised-training config (``vimix train`` / ``vimix compare``): one schema, validated on load."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from vimix_ssl.config import ConfigError, deep_merge, from_dict, load_yaml, parse_overrides
from vimix_ssl.engine.optim import OptimConfig
from vimix_ssl.eval.multiview import parse_protocol


@dataclass
class SupervisedConfig:
    seed: int = 0
    out_dir: str = "runs/supervised"
    resume: str = "auto"  # auto: continue from out_dir/checkpoint.pt when present | never | PATH
    # keys resume=auto may find changed from the run's config.yaml (e.g. [epochs]);
    # any other difference is refused (vimix_ssl/jobs/resume.py)
    resume_allow_changes: list[str] = field(default_factory=list)
    device: str = "auto"  # auto | cpu | cuda
    data: dict[str, Any] = field(default_factory=dict)  # VideoDataConfig fields (views is forced to 1)
    num_classes: int = 101
    encoder: str = "s3d"  # registry name
    encoder_kwargs: dict[str, Any] = field(default_factory=dict)  # e.g. {drop_path_rate: 0.2}
    init: str = ""  # exported encoder file (`vimix export`) to start from; "" = scratch
    dropout: float = 0.5  # before the linear classifier
    label_smoothing: float = 0.0
    mixer: str = "none"  # `vimix list mixers`, or svmix
    mixer_kwargs: dict[str, Any] = field(default_factory=dict)
    mix_probability: float = 1.0  # share of batches that are mixed (peer seed 002 Table 4: 0.5)
    randaugment_t: dict[str, Any] = field(default_factory=dict)  # RandAugmentT kwargs; {} = off
    epochs: int = 150
    optim: OptimConfig = field(default_factory=OptimConfig)
    amp: bool = True
    amp_dtype: Literal["float16", "bfloat16"] = "bfloat16"
    channels_last: bool = True
    log_every: int = 10
    eval_batch_size: int = 8  # views per forward pass at test time
    eval_max_videos: int | None = None  # cap on test videos (evenly spread); null = all
    # test protocol (eval/multiview.py): centre | seed000 | seed002 | seed003 | NxM[@S]
    test_views: str = "centre"
    # written by the run (world_size, global_batch, lr, min_lr actually used); a config that
    # carries it (a run's config.yaml) must match the new run's values
    resolved: dict[str, Any] = field(default_factory=dict)

    def validate(self) -> None:
        if self.num_classes < 2:
            raise ConfigError(f"num_classes: expected >= 2, got {self.num_classes}")
        if self.epochs < 1:
            raise ConfigError(f"epochs: expected a positive integer, got {self.epochs}")
        if self.init and not Path(self.init).is_file():
            raise ConfigError(f"init: encoder file {self.init!r} does not exist")
        try:
            parse_protocol(self.test_views)
        except ValueError as e:
            raise ConfigError(str(e)) from None
        if self.eval_batch_size < 1:
            raise ConfigError(f"eval_batch_size: expected a positive integer, got {self.eval_batch_size}")
        if self.resume not in ("auto", "never") and not Path(self.resume).is_file():
            raise ConfigError(f"resume: {self.resume!r} is neither auto, never nor an existing checkpoint")


def load_supervised_config(path: str | Path | None, overrides: list[str] | None = None) -> SupervisedConfig:
    data: dict[str, Any] = load_yaml(path) if path is not None else {}
    if overrides:
        data = deep_merge(data, parse_overrides(overrides))
    config = from_dict(SupervisedConfig, data)
    config.validate()
    return config
