"""Supervised video classification with any input mixer or SV-Mix (METHOD §6).

``SupervisedMethod`` is a training method for ``engine/trainer.py``: ``training_step(batch)``
mixes the clip batch with the configured mixer (label-agnostic ``Mixed(x, lam, perm)``),
derives soft targets (with optional label smoothing) and returns the soft-target
cross-entropy. ``mixer="svmix"`` switches to SV-Mix's disentangled training (an EMA teacher
of this classifier trains the volume selector; the classifier learns on the detached
mixed clip; the teacher runs in eval mode unless ``mixer_kwargs.teacher_mode: train``, and
λ's α is per module: ``alpha_temporal`` 0.8, ``alpha_spatial`` 1.0, seed 000).
``mix_probability`` applies the mixer to only that share of batches (peer
taeoh-kim/temporal_data_augmentation: 0.5 for the CutMix family in seed 002 Table 4).
Stochastic depth and the R3D-RS recipe are encoder/optimiser settings (``encoder_kwargs``
such as ``drop_path_rate``), not part of this module.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from vimix_ssl.mixing.base import Mixed, identity, soft_cross_entropy, soft_targets
from vimix_ssl.mixing.boxes import sample_uniform
from vimix_ssl.mixing.registry import build_mixer
from vimix_ssl.mixing.svmix import SVMix
from vimix_ssl.models.base import StagedEncoder
from vimix_ssl.models.heads import LinearClassifier

SVMIX = "svmix"


class SupervisedMethod(nn.Module):
    """Encoder → dropout → linear classifier, trained on mixed clips with soft targets."""

    def __init__(self, encoder: StagedEncoder, num_classes: int, mixer: str = "none",
                 mixer_kwargs: dict[str, Any] | None = None, label_smoothing: float = 0.0,
                 dropout: float = 0.0, mix_probability: float = 1.0, modality: str = "rgb") -> None:
        super().__init__()
        if num_classes < 2:
            raise ValueError(f"num_classes must be >= 2, got {num_classes}")
        if not 0.0 <= label_smoothing < 1.0:
            raise ValueError(f"label_smoothing must be in [0, 1), got {label_smoothing}")
        if not 0.0 <= mix_probability <= 1.0:
            raise ValueError(f"mix_probability must be in [0, 1], got {mix_probability}")
        self.encoder = encoder
        self.head = LinearClassifier(encoder.feature_dim, num_classes, dropout=dropout)
        self.num_classes, self.label_smoothing = int(num_classes), float(label_smoothing)
        self.mix_probability, self.modality, self.mixer_name = float(mix_probability), modality, mixer
        kwargs = dict(mixer_kwargs or {})
        self.svmix = SVMix(encoder, self.head, **kwargs) if mixer == SVMIX else None
        self.mixer = None if mixer == SVMIX else build_mixer(mixer, **kwargs)

    def forward(self, x: Tensor) -> Tensor:
        """Clips ``(B, C, T, H, W)`` -> logits ``(B, num_classes)``."""
        return self.head(self.encoder(x))

    def trainable_parameters(self) -> list[nn.Parameter]:
        """Classifier parameters plus the SV-Mix selector (the EMA teacher is not trained)."""
        params = [*self.encoder.parameters(), *self.head.parameters()]
        if self.svmix is not None:
            params += list(self.svmix.selector.parameters())
        return [p for p in params if p.requires_grad]

    def clips(self, batch: dict[str, Any]) -> Tensor:
        """The batch's clips ``(B, C, T, H, W)`` (the first view if the loader gives a list)."""
        x = batch[self.modality]
        return x[0] if isinstance(x, (list, tuple)) else x

    def training_step(self, batch: dict[str, Any]) -> dict[str, Tensor]:
        x, labels = self.clips(batch), batch["label"]
        apply = self.mix_probability >= 1.0 or sample_uniform(1).item() < self.mix_probability
        if self.svmix is not None and apply:
            self.svmix.update_teacher(self.encoder, self.head)  # EMA before the teacher is used
            out = self.svmix.losses(self.encoder, self.head, x, labels, self.num_classes,
                                    self.label_smoothing)
            extra = {k: out[k].detach() for k in ("loss_student", "loss_teacher", "loss_mask", "mask_mean")}
            mixed = Mixed(x, out["lam"], out["perm"])
            loss, logits = out["loss"], out["logits"]
        else:
            mixed = self.mixer(x) if (self.mixer is not None and apply) else identity(x)
            logits = self(mixed.x)
            targets = soft_targets(labels, self.num_classes, mixed, self.label_smoothing)
            loss = soft_cross_entropy(logits, targets)
            extra = {}
        dominant = torch.where(mixed.lam >= 0.5, labels, labels[mixed.perm])
        accuracy = (logits.argmax(1) == dominant).float().mean()
        return {"loss": loss, "pretext_acc": accuracy, "lam": mixed.lam.float().mean(), **extra}
