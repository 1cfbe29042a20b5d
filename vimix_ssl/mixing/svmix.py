"""SV-Mix: learnable selective volume mixup (seed 000, METHOD §6).

* :class:`VolumeSelector` (θ) — cross-attention between the volumes of two clips with λ
  (resp. 1 − λ) concatenated to the volume features; ``M = 1 − Upsample(σ(S · W_v v_j))``.
  The same weights serve the *spatial* partition (patches of each frame, attention over the
  H'·W' patches of one time step) and the *temporal* partition (frame-pooled volumes,
  attention over the T' frames); one is chosen per batch (``temporal_probability``, P = 0.5).
* :class:`SVMix` — the disentangled training of seed 000 §III-C: an EMA copy (teacher) of the
  classifier computes the volume features (no grad) and is the only path by which the task
  loss reaches the selector; the student classifier is trained on the *detached* mixed clip;
  plus the auxiliary loss ``ω·|λ − mean(M)|``. The mixed clip is
  ``x̃ = M ⊙ x + (1 − M) ⊙ x[perm]``; labels use the drawn λ.

The teacher is "frozen" (seed 000 §III-C): by default it runs in eval mode (``teacher_mode
="eval"``: no dropout or drop-path, BN with the moving statistics copied from the student),
so two forwards of the same clip agree; ``teacher_mode="train"`` keeps it in the student's
mode (our earlier behaviour). λ ~ Beta(α, α) with a per-module α: ``alpha_temporal`` 0.8
and ``alpha_spatial`` 1.0 ("we fixed α as 0.8 and 1 for temporal and spatial selective
module respectively", seed 000 §IV-E); the partition is drawn first, then λ with its α.

Works with any classifier made of a :class:`~vimix_ssl.models.base.StagedEncoder` (its
``forward_stages`` gives the volume features at cut ``feature_cut``) and a head module.
Paper values not stated in seed 000 (attention width, ω, EMA momentum, feature stage) are
arguments with documented defaults.
"""

from __future__ import annotations

import copy
import math
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from vimix_ssl.mixing import boxes
from vimix_ssl.mixing.base import Mixed, soft_cross_entropy, soft_targets
from vimix_ssl.models.base import StagedEncoder

Partition = Literal["spatial", "temporal"]


class VolumeSelector(nn.Module):
    """θ: per-volume keep-weights of clip i against clip j (shared by both partitions)."""

    def __init__(self, in_channels: int, attention_dim: int = 128, upsample_mode: str = "trilinear") -> None:
        super().__init__()
        if upsample_mode not in ("trilinear", "nearest"):
            raise ValueError(f"upsample_mode must be 'trilinear' or 'nearest', got {upsample_mode!r}")
        self.query = nn.Linear(in_channels + 1, attention_dim)  # W_q on [v_i, λ]
        self.key = nn.Linear(in_channels + 1, attention_dim)  # W_k on [v_j, 1 − λ]
        self.value = nn.Linear(in_channels + 1, 1)  # W_v ∈ R^{1×(C+1)}
        self.upsample_mode = upsample_mode

    def attend(self, volumes_i: Tensor, volumes_j: Tensor, lam: Tensor) -> Tensor:
        """Keep-weights ``1 − σ(S · W_v v_j)`` ``(N, n)`` for volumes ``(N, n, C)`` and λ ``(N,)``."""
        lam = lam.to(volumes_i.dtype).view(-1, 1, 1).expand(-1, volumes_i.shape[1], 1)
        own = torch.cat([volumes_i, lam], dim=2)  # v_{i,λ}
        other = torch.cat([volumes_j, 1 - lam], dim=2)  # v_{j,1−λ}
        q, k = self.query(own), self.key(other)  # (N, n, d)
        similarity = torch.softmax(q @ k.transpose(1, 2) / math.sqrt(q.shape[-1]), dim=-1)  # (N, n, n)
        return 1 - torch.sigmoid(similarity @ self.value(other)).squeeze(-1)  # (N, n)

    def forward(self, features_i: Tensor, features_j: Tensor, lam: Tensor, partition: Partition,
                output_size: tuple[int, int, int]) -> Tensor:
        """Features ``(B, C, T', H', W')`` of both clips, λ ``(B,)`` -> mask M ``(B, 1, T, H, W)``."""
        b, c, t, h, w = features_i.shape
        if partition == "spatial":  # V^spa: (B·T', H'·W', C), attention within each time step
            def volumes(z: Tensor) -> Tensor:
                return z.permute(0, 2, 3, 4, 1).reshape(b * t, h * w, c)
            keep = self.attend(volumes(features_i), volumes(features_j), lam.repeat_interleave(t))
            keep = keep.view(b, 1, t, h, w)
        elif partition == "temporal":  # V^tem: (B, T', C), frame-pooled (seed 000 eq. 7)
            def volumes(z: Tensor) -> Tensor:
                return z.mean(dim=(3, 4)).transpose(1, 2)
            keep = self.attend(volumes(features_i), volumes(features_j), lam).view(b, 1, t, 1, 1)
        else:
            raise ValueError(f"partition must be 'spatial' or 'temporal', got {partition!r}")
        size = output_size if partition == "spatial" else (output_size[0], 1, 1)
        align = {} if self.upsample_mode == "nearest" else {"align_corners": False}
        mask = F.interpolate(keep, size=size, mode=self.upsample_mode, **align)
        return mask.expand(b, 1, *output_size)


class SVMix(nn.Module):
    """SV-Mix with disentangled training for a classifier ``head(encoder(x))``.

    ``feature_cut``: the encoder cut point whose map gives the volume features (default: the
    last stage, before pooling). ``mask_loss_weight`` is ω, ``momentum`` the teacher EMA.
    """

    def __init__(self, encoder: StagedEncoder, head: nn.Module, feature_cut: int | None = None,
                 attention_dim: int = 128, temporal_probability: float = 0.5, alpha_temporal: float = 0.8,
                 alpha_spatial: float = 1.0, per_sample: bool = True, mask_loss_weight: float = 1.0,
                 momentum: float = 0.999, upsample_mode: str = "trilinear",
                 teacher_mode: Literal["eval", "train"] = "eval") -> None:
        super().__init__()
        cut = encoder.num_stages if feature_cut is None else int(feature_cut)
        channels = encoder.cut_channels(cut)  # validates the cut
        if not 0.0 <= temporal_probability <= 1.0:
            raise ValueError(f"temporal_probability must be in [0, 1], got {temporal_probability}")
        if not 0.0 <= momentum <= 1.0:
            raise ValueError(f"momentum must be in [0, 1], got {momentum}")
        if not (alpha_temporal > 0 and alpha_spatial > 0):
            raise ValueError("alpha_temporal and alpha_spatial must be > 0, "
                             f"got {alpha_temporal}, {alpha_spatial}")
        if teacher_mode not in ("eval", "train"):
            raise ValueError(f"teacher_mode must be 'eval' or 'train', got {teacher_mode!r}")
        self.feature_cut, self.teacher_mode = cut, teacher_mode
        self.temporal_probability = float(temporal_probability)
        self.alpha = {"temporal": float(alpha_temporal), "spatial": float(alpha_spatial)}
        self.per_sample, self.mask_loss_weight = bool(per_sample), float(mask_loss_weight)
        self.momentum = float(momentum)
        self.selector = VolumeSelector(channels, attention_dim, upsample_mode)
        self.teacher_encoder = copy.deepcopy(encoder)
        self.teacher_head = copy.deepcopy(head)
        for parameter in [*self.teacher_encoder.parameters(), *self.teacher_head.parameters()]:
            parameter.requires_grad_(False)
        self.train(encoder.training)

    def train(self, mode: bool = True) -> SVMix:
        """Selector in ``mode``; the teacher stays in eval mode unless ``teacher_mode="train"``."""
        super().train(mode)
        if self.teacher_mode == "eval":
            self.teacher_encoder.eval()
            self.teacher_head.eval()
        return self

    @torch.no_grad()
    def update_teacher(self, encoder: nn.Module, head: nn.Module) -> None:
        """EMA ``θ_t ← m θ_t + (1 − m) θ_s`` of the parameters; buffers (BN statistics) are copied."""
        for teacher, student in ((self.teacher_encoder, encoder), (self.teacher_head, head)):
            for p_t, p_s in zip(teacher.parameters(), student.parameters()):
                p_t.mul_(self.momentum).add_(p_s.detach(), alpha=1 - self.momentum)
            for b_t, b_s in zip(teacher.buffers(), student.buffers()):
                b_t.copy_(b_s)

    def mix(self, x: Tensor, generator: torch.Generator | None = None) -> tuple[Mixed, Tensor, Partition]:
        """Mix ``x`` ``(B, C, T, H, W)`` with a partner: ``(Mixed, mask (B, 1, T, H, W), partition)``.

        The mask carries the selector's gradient; the teacher features do not.
        """
        boxes.check_video(x)
        count = x.shape[0]
        temporal = boxes.sample_uniform(1, generator).item() < self.temporal_probability
        partition: Partition = "temporal" if temporal else "spatial"
        lam = boxes.sample_lam(count, self.alpha[partition], self.per_sample, None, generator)
        perm = boxes.sample_perm(count, generator)
        with torch.no_grad():
            features = self.teacher_encoder.forward_stages(x, 0, self.feature_cut)  # (B, C', T', H', W')
        perm_device, lam_device = perm.to(x.device), lam.to(device=x.device, dtype=torch.float32)
        mask = self.selector(features, features[perm_device], lam_device, partition, tuple(x.shape[2:]))
        mixed = mask * x + (1 - mask) * x[perm_device]
        return Mixed(mixed, lam_device, perm_device), mask, partition

    def losses(self, encoder: nn.Module, head: nn.Module, x: Tensor, labels: Tensor, num_classes: int,
               smoothing: float = 0.0, generator: torch.Generator | None = None) -> dict[str, Tensor]:
        """One SV-Mix step's losses. ``loss`` = student + teacher + ω·mask; backprop it once.

        Gradients: student ← ``loss_student`` only (detached clip); selector ← ``loss_teacher``
        (through the frozen teacher) and ``loss_mask``; teacher ← none (EMA only).
        """
        mixed, mask, partition = self.mix(x, generator)
        targets = soft_targets(labels, num_classes, mixed, smoothing)
        teacher_logits = self.teacher_head(self.teacher_encoder(mixed.x))
        student_logits = head(encoder(mixed.x.detach()))
        loss_teacher = soft_cross_entropy(teacher_logits, targets)
        loss_student = soft_cross_entropy(student_logits, targets)
        loss_mask = (mixed.lam - mask.mean(dim=(1, 2, 3, 4))).abs().mean()
        return {"loss": loss_student + loss_teacher + self.mask_loss_weight * loss_mask,
                "loss_student": loss_student, "loss_teacher": loss_teacher, "loss_mask": loss_mask,
                "mask_mean": mask.detach().mean(), "temporal": torch.tensor(float(partition == "temporal")),
                "logits": student_logits, "lam": mixed.lam, "perm": mixed.perm}
