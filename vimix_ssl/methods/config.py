"""What a training method needs from a stage of the schedule: its mixing and optimiser.

``StageConfig`` is one stage (which modality learns, its frozen partner, epochs, mixing,
optimiser); ``MixingConfig`` says how it mixes. The schedule that lists stages lives in
``vimix_ssl.jobs.pretrain.config``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from vimix_ssl.engine.optim import OptimConfig


@dataclass
class MixingConfig:
    """How a stage mixes: ``none`` (plain MoCo/SkeletonCLR), ``input`` (i-Mix) or ``cmmc``."""

    kind: Literal["none", "input", "cmmc"] = "none"
    mixer: str = "mixup"  # input mixer (vimix list mixers): mixup, videomix, temporal_cutmix, st_cutmix
    alpha: float = 1.0  # Beta(α, α) for λ
    fold_lambda: bool = True  # blend mixers (mixup): λ → max(λ, 1−λ) (peer: i-Mix)
    mixer_kwargs: dict[str, Any] = field(default_factory=dict)  # extra mixer arguments
    # Cross-Modal Manifold CutMix (METHOD §3, Vi-Mix Table 2 switches)
    op: Literal["cutmix", "mixup"] = "cutmix"
    axes: Literal["s", "s+t", "s+t+c"] = "s+t+c"
    cross_modal: bool = True
    random_partner_layer: bool = True


@dataclass
class StageConfig:
    name: str = "stage"
    train: str = "rgb"  # modality whose query encoder learns in this stage
    partner: str | None = None  # frozen modality (CMMC); null for single-modality stages
    epochs: int = 300
    mixing: MixingConfig = field(default_factory=MixingConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
