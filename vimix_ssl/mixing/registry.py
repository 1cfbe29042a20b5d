"""Mixers by name: ``build_mixer(name, **kwargs)``, ``list_mixers()`` and a random switch.

i-Mix (METHOD §2) uses ``build_mixer("mixup", per_sample=True, fold_lambda=True)`` and the
box mixers with ``per_sample=True``; supervised training (METHOD §6, peer
taeoh-kim/temporal_data_augmentation) uses the defaults: one λ and one permutation per batch.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor

from vimix_ssl.mixing import boxes
from vimix_ssl.mixing.base import Mixed, Mixer
from vimix_ssl.mixing.input_mixers import CutMix, CutMixUp, Cutout, FadeMixUp, Mixup, NoMix


@dataclass(frozen=True)
class MixerSpec:
    factory: Callable[..., Mixer]
    fixed: dict[str, Any] = field(default_factory=dict)  # arguments the name decides (e.g. axes)
    description: str = ""
    lam: str = ""  # what ``Mixed.lam`` means for this mixer
    aliases: tuple[str, ...] = ()


class RandomChoiceMixer:
    """Apply one of several mixers per call, chosen with the given probabilities.

    Include ``NoMix`` to mix only some batches (peer code: ``prob_mix = 0.5``).
    """

    def __init__(self, mixers: Sequence[Mixer], probabilities: Sequence[float]) -> None:
        if len(mixers) == 0 or len(mixers) != len(probabilities):
            raise ValueError(f"need one probability per mixer, got {len(mixers)} mixers and "
                             f"{len(probabilities)} probabilities")
        if any(p < 0 for p in probabilities) or sum(probabilities) <= 0:
            raise ValueError(f"probabilities must be >= 0 with a positive sum, got {list(probabilities)}")
        self.mixers = list(mixers)
        total = float(sum(probabilities))
        self.probabilities = torch.tensor([p / total for p in probabilities], dtype=torch.float64)

    def choose(self, generator: torch.Generator | None = None) -> int:
        """Index of the mixer to use for the next call."""
        draw = boxes.sample_uniform(1, generator).item()
        cumulative = torch.cumsum(self.probabilities, 0)
        return min(int((cumulative <= draw).sum().item()), len(self.mixers) - 1)

    def __call__(self, x: Tensor, generator: torch.Generator | None = None) -> Mixed:
        return self.mixers[self.choose(generator)](x, generator)

    def __repr__(self) -> str:
        pairs = ", ".join(f"{m!r}: {p:.3g}" for m, p in zip(self.mixers, self.probabilities.tolist()))
        return f"RandomChoiceMixer({pairs})"


def _build_random(mixers: Mapping[str, float] | None = None,
                  mixer_kwargs: Mapping[str, Mapping[str, Any]] | None = None) -> RandomChoiceMixer:
    """``mixers``: name -> probability; ``mixer_kwargs``: name -> keyword arguments of that mixer."""
    if not mixers:
        raise ValueError("random mixer needs 'mixers': a mapping name -> probability, e.g. "
                         "{'none': 0.5, 'framecutmix': 0.5}")
    mixer_kwargs = dict(mixer_kwargs or {})
    unknown = set(mixer_kwargs) - set(mixers)
    if unknown:
        raise ValueError(f"mixer_kwargs names {sorted(unknown)} that are not in mixers {sorted(mixers)}")
    if any(canonical_name(n) == "random" for n in mixers):
        raise ValueError("random mixer cannot contain another 'random' mixer")
    built = [build_mixer(name, **dict(mixer_kwargs.get(name, {}))) for name in mixers]
    return RandomChoiceMixer(built, list(mixers.values()))


_BOX_LAM = "share of the clip's own voxels after box clipping"
MIXERS: dict[str, MixerSpec] = {
    "none": MixerSpec(NoMix, {}, "no mixing (baseline)", "1", ("baseline",)),
    "mixup": MixerSpec(Mixup, {}, "blend whole clips: lam*x + (1-lam)*x[perm]", "blend weight"),
    "videomix": MixerSpec(CutMix, {"axes": "hw"}, "spatial CutMix: one H×W box pasted in every frame",
                          _BOX_LAM, ("cutmix", "spatial_cutmix")),
    "temporal_cutmix": MixerSpec(CutMix, {"axes": "t"}, "paste a run of whole frames ((1-lam)*T frames)",
                                 _BOX_LAM, ("framecutmix",)),
    "st_cutmix": MixerSpec(CutMix, {"axes": "thw"}, "paste a T×H×W cuboid, sides (1-lam)^(1/3)",
                           _BOX_LAM, ("cubecutmix",)),
    "cutout": MixerSpec(Cutout, {"axes": "hw"}, "erase an H×W box in every frame", "1 (label unchanged)"),
    "framecutout": MixerSpec(Cutout, {"axes": "t"}, "erase a run of whole frames", "1 (label unchanged)"),
    "cubecutout": MixerSpec(Cutout, {"axes": "thw"}, "erase a T×H×W cuboid", "1 (label unchanged)"),
    "cutmixup": MixerSpec(CutMixUp, {"axes": "hw"}, "mixup inside an H×W box, one pure clip outside",
                          "label weight of seed 002 eq. 1"),
    "framecutmixup": MixerSpec(CutMixUp, {"axes": "t"}, "mixup inside a run of frames, pure clip outside",
                               "label weight of seed 002 eq. 1", ("framemixup",)),
    "cubecutmixup": MixerSpec(CutMixUp, {"axes": "thw"}, "mixup inside a cuboid, pure clip outside",
                              "label weight of seed 002 eq. 1", ("cubemixup",)),
    "fademixup": MixerSpec(FadeMixUp, {}, "mixup whose weight ramps linearly over frames (lam±gamma)",
                           "blend weight averaged over frames"),
    "random": MixerSpec(_build_random, {}, "one of several mixers per batch, with probabilities",
                        "that of the chosen mixer"),
}
_ALIASES = {alias: name for name, spec in MIXERS.items() for alias in spec.aliases}


def canonical_name(name: str) -> str:
    """Resolve an alias (``cutmix`` -> ``videomix``); refuse unknown names with the valid list."""
    key = name.strip().lower()
    key = _ALIASES.get(key, key)
    if key not in MIXERS:
        valid = sorted(set(MIXERS) | set(_ALIASES))
        raise ValueError(f"unknown mixer {name!r}; expected one of {', '.join(valid)}")
    return key


def build_mixer(name: str, **kwargs: Any) -> Mixer:
    """Build a mixer by (alias) name, e.g. ``build_mixer("framecutmix", alpha=5.0)``."""
    spec = MIXERS[canonical_name(name)]
    fixed = set(spec.fixed) & set(kwargs)
    if fixed:
        raise ValueError(f"mixer {name!r} fixes {sorted(fixed)}; choose another mixer name instead")
    accepted = set(inspect.signature(spec.factory).parameters) - set(spec.fixed)
    unknown = set(kwargs) - accepted
    if unknown:
        raise ValueError(f"mixer {name!r} got unknown argument(s) {sorted(unknown)}; "
                         f"accepted: {', '.join(sorted(accepted)) or 'none'}")
    return spec.factory(**spec.fixed, **kwargs)


def list_mixers() -> list[dict[str, str]]:
    """One row per mixer: name, aliases, description, meaning of lam, arguments with defaults."""
    rows = []
    for name, spec in MIXERS.items():
        params = inspect.signature(spec.factory).parameters.values()
        args = ", ".join(f"{p.name}={p.default!r}" for p in params if p.name not in spec.fixed)
        rows.append({"name": name, "aliases": ", ".join(spec.aliases), "description": spec.description,
                     "lam": spec.lam, "arguments": args})
    return rows
