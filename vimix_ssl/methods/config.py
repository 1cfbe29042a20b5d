"""What a training method needs from a stage of the schedule: its mixing and optimiser.

``StageConfig`` is one stage (which modality learns, its frozen partner, epochs, mixing,
optimiser); ``MixingConfig`` says how it mixes. The schedule that lists stages lives in
``vimix_ssl.jobs.pretrain.config``.

No mixing setting is accepted and ignored: every field but ``kind`` defaults to ``null``
(unset), a stage fills the fields its kind reads with that kind's defaults
(``MixingConfig.resolved``) and a field its kind does not read, set in the stage, is an
error naming the field and the stage. ``merge_stage`` and ``check_stage_defaults`` apply
the same rule to ``stage_defaults``: a default is inherited only by the stages that read
it, and a default no stage reads is an error.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from vimix_ssl.config import ConfigError, deep_merge
from vimix_ssl.engine.optim import OptimConfig


@dataclass
class MixingConfig:
    """How a stage mixes: ``none`` (plain MoCo/SkeletonCLR), ``input`` (i-Mix) or ``cmmc``.

    ``null`` = unset: the kind's default below applies where the kind reads the field.
    """

    kind: Literal["none", "input", "cmmc"] = "none"
    # input (i-Mix): mixer name (vimix list mixers); default mixup (Vi-Mix Table 1 winner)
    mixer: str | None = None
    # input and cmmc: λ (input) / λ₀ (cmmc) ~ Beta(α, α); default 1 (Vi-Mix §3.2: α = 1, λ ~ U(0,1))
    alpha: float | None = None
    # blend mixers (input mixup, cmmc op=mixup): λ → max(λ, 1−λ). Default: true for input
    # mixers that take it (peer: i-Mix), false for cmmc mixup (Vi-Mix: λ ~ U(0,1), unfolded)
    fold_lambda: bool | None = None
    mixer_kwargs: dict[str, Any] = field(default_factory=dict)  # input: extra mixer arguments
    # cmmc (METHOD §3, Vi-Mix Table 2 switches); defaults = the full recipe
    op: Literal["cutmix", "mixup"] | None = None  # default cutmix
    axes: Literal["s", "s+t", "s+t+c"] | None = None  # cutmix: axes whose position is drawn; default s+t+c
    cross_modal: bool | None = None  # false: manifold mixing within the trained modality; default true
    # partner layer l drawn at depth ≥ k; default true for cross-modal cutmix, else false (l = k)
    random_partner_layer: bool | None = None

    def used_keys(self) -> set[str]:
        """The fields this kind (and op) reads, ``kind`` excluded."""
        return used_mixing_keys(dataclasses.asdict(self))

    def resolved(self, where: str = "stage") -> MixingConfig:
        """A copy with the kind's defaults filled in; a set field the kind does not read is an error."""
        used = self.used_keys()
        for name in ("mixer", "alpha", "fold_lambda", "mixer_kwargs", "op", "axes", "cross_modal",
                     "random_partner_layer"):
            value = getattr(self, name)
            if name not in used and value not in (None, {}):
                raise ConfigError(f"{where}: mixing.{name}={value!r} is not used by mixing.kind={self.kind}"
                                  f"{f' op={self.op}' if self.kind == 'cmmc' else ''}; remove it "
                                  f"(this stage reads: {', '.join(sorted(used)) or 'nothing but kind'})")
        out = dataclasses.replace(self)
        if self.kind == "input":
            out.mixer = self.mixer or "mixup"
            for name in ("alpha", "fold_lambda"):  # one place for each setting
                if name in self.mixer_kwargs and getattr(self, name) is not None:
                    raise ConfigError(f"{where}: mixing.{name} and mixing.mixer_kwargs.{name} are both set; "
                                      f"keep one")
            kwargs = dict(self.mixer_kwargs)  # alpha / fold_lambda given there move to their fields
            out.alpha = kwargs.pop("alpha", 1.0 if self.alpha is None else self.alpha)
            out.fold_lambda = kwargs.pop("fold_lambda", self.fold_lambda)
            out.mixer_kwargs = kwargs
            if "fold_lambda" in used and out.fold_lambda is None:
                out.fold_lambda = True
        elif self.kind == "cmmc":
            out.alpha = 1.0 if self.alpha is None else self.alpha
            out.op = self.op or "cutmix"
            out.cross_modal = True if self.cross_modal is None else self.cross_modal
            if out.op == "cutmix":
                out.axes = self.axes or "s+t+c"
            else:
                out.fold_lambda = bool(self.fold_lambda)
            same_cut = not out.cross_modal or out.op == "mixup"  # within m1, or mixup's equal shapes
            if self.random_partner_layer is None:
                out.random_partner_layer = not same_cut
            elif self.random_partner_layer and same_cut:
                raise ConfigError(f"{where}: mixing.random_partner_layer=true needs l = k here "
                                  f"(cross_modal={out.cross_modal}, op={out.op}); set it to false")
        if out.alpha is not None and not out.alpha > 0:
            raise ConfigError(f"{where}: mixing.alpha={out.alpha} must be > 0 (Beta(α, α))")
        return out


def _mixer_takes_fold_lambda(mixer: str) -> bool:
    import inspect

    from vimix_ssl.mixing.registry import MIXERS, canonical_name

    try:
        factory = MIXERS[canonical_name(mixer)].factory
    except ValueError:
        return False  # an unknown mixer is reported by name when the stage is built
    return "fold_lambda" in inspect.signature(factory).parameters


def used_mixing_keys(mixing: Mapping[str, Any]) -> set[str]:
    """The keys of a stage's (plain or resolved) mixing mapping that its kind and op read."""
    kind = mixing.get("kind") or "none"
    if kind == "input":
        keys = {"mixer", "alpha", "mixer_kwargs"}
        if _mixer_takes_fold_lambda(mixing.get("mixer") or "mixup"):
            keys.add("fold_lambda")
        return keys
    if kind == "cmmc":
        keys = {"alpha", "op", "cross_modal", "random_partner_layer"}
        return keys | ({"fold_lambda"} if mixing.get("op") == "mixup" else {"axes"})
    return set()


def merge_stage(defaults: Mapping[str, Any], entry: Mapping[str, Any]) -> dict[str, Any]:
    """``entry`` over ``defaults``; a mixing default the stage's kind does not read is not inherited.

    Keys set in ``entry`` itself are kept, so ``StageConfig`` reports the ones its kind
    does not read.
    """
    merged = deep_merge(dict(defaults), dict(entry))
    mixing = merged.get("mixing")
    if isinstance(mixing, dict):
        own = entry.get("mixing") if isinstance(entry.get("mixing"), dict) else {}
        used = used_mixing_keys(mixing) | {"kind"}
        merged["mixing"] = {k: v for k, v in mixing.items() if k in used or k in own}
    return merged


def check_stage_defaults(defaults: Mapping[str, Any], entries: list[Any]) -> None:
    """A ``stage_defaults.mixing`` key (not null) that no stage inherits and reads is an error."""
    mixing = defaults.get("mixing")
    if not isinstance(mixing, dict) or not all(isinstance(e, dict) for e in entries):
        return  # shapes are reported by the caller
    readers: dict[str, list[str]] = {k: [] for k, v in mixing.items() if k != "kind" and v not in (None, {})}
    for i, entry in enumerate(entries):
        own = entry.get("mixing") if isinstance(entry.get("mixing"), dict) else {}
        stage_mixing = deep_merge(mixing, own)
        for key in used_mixing_keys(stage_mixing):
            if key in readers and key not in own:
                readers[key].append(str(entry.get("name", i)))
    unread = [k for k, names in readers.items() if not names]
    if unread:
        listed = ", ".join(f"stage_defaults.mixing.{k}={mixing[k]!r}" for k in unread)
        raise ConfigError(f"{listed}: read by no stage (each stage sets its own or its kind does not use "
                          f"it); remove or set to null")


@dataclass
class StageConfig:
    name: str = "stage"
    train: str = "rgb"  # modality whose query encoder learns in this stage
    partner: str | None = None  # frozen modality (CMMC); null for single-modality stages
    epochs: int = 300
    mixing: MixingConfig = field(default_factory=MixingConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)

    def __post_init__(self) -> None:
        where = f"stage {self.name!r}"
        self.mixing = self.mixing.resolved(where)
        cross_modal = self.mixing.kind == "cmmc" and self.mixing.cross_modal
        if cross_modal and self.partner is None:
            raise ConfigError(f"{where}: mixing.kind=cmmc with cross_modal=true needs a partner modality")
        if not cross_modal and self.partner is not None:
            why = ("cross_modal=false mixes the trained modality's own features" if self.mixing.kind == "cmmc"
                   else f"mixing.kind={self.mixing.kind} has no partner")
            raise ConfigError(f"{where}: partner={self.partner!r} is not used ({why}); remove it")

    def uses_partner(self) -> bool:
        """Whether a step reads the partner modality (cross-modal CMMC only)."""
        return self.mixing.kind == "cmmc" and bool(self.mixing.cross_modal) and self.partner is not None
