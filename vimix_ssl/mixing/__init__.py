"""Video mixers: one label-agnostic interface ``mixer(x, generator) -> Mixed(x, lam, perm)``.

``build_mixer(name, **kwargs)`` builds any input mixer by name (``vimix list mixers``);
``soft_targets`` turns ``(labels, Mixed)`` into supervised targets. RandAugment-T lives in
``vimix_ssl.mixing.randaugment_t`` and the learnable SV-Mix in ``vimix_ssl.mixing.svmix``.
"""

from vimix_ssl.mixing.base import Mixed, Mixer, identity, soft_cross_entropy, soft_targets
from vimix_ssl.mixing.input_mixers import CutMix, CutMixUp, Cutout, FadeMixUp, Mixup, NoMix
from vimix_ssl.mixing.registry import (
    MIXERS,
    RandomChoiceMixer,
    build_mixer,
    canonical_name,
    list_mixers,
)

__all__ = [
    "MIXERS", "CutMix", "CutMixUp", "Cutout", "FadeMixUp", "Mixed", "Mixer", "Mixup", "NoMix",
    "RandomChoiceMixer", "build_mixer", "canonical_name", "identity", "list_mixers", "soft_cross_entropy",
    "soft_targets",
]
