"""MoCo with a momentum queue (METHOD §1) and the MoCo / i-Mix training step (METHOD §2).

``MoCo`` holds one modality's query and key encoders, projection heads and key queue;
CMMC (methods/cmmc.py) reuses its pieces. ``MoCoMethod`` is the stage method for
``mixing.kind`` ``none`` (plain MoCo, SkeletonCLR) and ``input`` (i-Mix with an input mixer).
"""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from vimix_ssl.mixing.base import Mixer
from vimix_ssl.ssl import distributed as dist
from vimix_ssl.ssl.losses import dominant_targets, imix_loss, info_nce, pretext_accuracy
from vimix_ssl.ssl.momentum import copy_and_freeze, momentum_update
from vimix_ssl.ssl.queue import MomentumQueue


class MoCo(nn.Module):
    """Query encoder + head, EMA key encoder + head, and a queue of past keys."""

    def __init__(self, encoder: nn.Module, head: nn.Module, dim: int = 128, queue_size: int = 2048,
                 momentum: float = 0.999, temperature: float = 0.07, shuffle_bn: bool = True) -> None:
        super().__init__()
        if temperature <= 0:
            raise ValueError(f"temperature must be positive, got {temperature}")
        self.encoder_q = encoder
        self.head_q = head
        self.encoder_k = copy.deepcopy(encoder)
        self.head_k = copy.deepcopy(head)
        copy_and_freeze(self.encoder_k, self.encoder_q)
        copy_and_freeze(self.head_k, self.head_q)
        self.queue = MomentumQueue(dim, queue_size)
        self.momentum = momentum
        self.temperature = temperature
        self.shuffle_bn = shuffle_bn

    def query_parameters(self) -> list[nn.Parameter]:
        """The parameters trained by gradient (query encoder and head)."""
        return [*self.encoder_q.parameters(), *self.head_q.parameters()]

    def momentum_update(self) -> None:
        """θ_k ← m θ_k + (1−m) θ_q for encoder and head (call before computing keys)."""
        momentum_update(self.encoder_k, self.encoder_q, self.momentum)
        momentum_update(self.head_k, self.head_q, self.momentum)

    def project(self, features: Tensor) -> Tensor:
        """Query head + L2-normalise in fp32 (also under autocast): (B, F) -> (B, dim) float32."""
        return F.normalize(self.head_q(features).float(), dim=1)

    def query(self, x: Tensor) -> Tensor:
        """Input (B, ...) -> normalised query embeddings (B, dim)."""
        return self.project(self.encoder_q(x))

    @torch.no_grad()
    def keys(self, x_k: Tensor) -> Tensor:
        """Key view (B, ...) -> normalised keys (B, dim) of this rank's samples, not gathered.

        Under DDP with ``shuffle_bn`` the key encoder's BatchNorm sees a batch drawn from all
        ranks (shuffle-BN), and the outputs are put back in the original order.
        """
        use_shuffle = self.shuffle_bn and dist.is_distributed()
        if use_shuffle:
            x_k, unshuffle = dist.shuffle_batch(x_k)
        k = F.normalize(self.head_k(self.encoder_k(x_k)).float(), dim=1)  # (B, dim) float32
        if use_shuffle:
            k = dist.unshuffle_batch(k, unshuffle)
        return k

    def logits(self, q: Tensor, k_all: Tensor) -> Tensor:
        """i-Mix form: q (B, dim) · [k_all (B_global, dim) ; queue]ᵀ / τ -> (B, B_global + K), float32.

        Computed with autocast off: in bf16 ``q·k/τ`` at τ = 0.07 is off by up to ~0.1 logit units.
        """
        with torch.autocast(q.device.type, enabled=False):
            q = q.float()
            queue = self.queue.snapshot().float()  # (dim, K), detached: enqueue writes in place
            return torch.cat([q @ k_all.float().T, q @ queue], dim=1) / self.temperature

    def moco_logits(self, q: Tensor, k: Tensor) -> Tensor:
        """MoCo form: [q·k⁺ , q·queue] / τ -> (B, 1 + K) float32, positive in column 0 (autocast off)."""
        with torch.autocast(q.device.type, enabled=False):
            q = q.float()
            queue = self.queue.snapshot().float()  # (dim, K)
            positive = (q * k.float()).sum(dim=1, keepdim=True)  # (B, 1)
            return torch.cat([positive, q @ queue], dim=1) / self.temperature

    def enqueue(self, k_all: Tensor) -> None:
        """Write the global batch of keys (B_global, dim) into the queue."""
        self.queue.enqueue(k_all)


class MoCoMethod(nn.Module):
    """One MoCo stage: plain InfoNCE (``mixer=None``) or i-Mix with an input mixer.

    ``batch[modality]`` is ``[query view, key view]``, each ``(B, C, T, H, W)`` (video) or
    ``(B, 3, T, 25, 2)`` (skeleton), already on the device and photometrically augmented.
    """

    def __init__(self, mocos: nn.ModuleDict, modality: str, mixer: Mixer | None = None) -> None:
        super().__init__()
        if modality not in mocos:
            raise KeyError(f"modality {modality!r} has no MoCo; available: {sorted(mocos.keys())}")
        self.mocos = mocos
        self.modality = modality
        self.mixer = mixer

    def training_step(self, batch: dict) -> dict[str, Tensor]:
        x_q, x_k = batch[self.modality]
        moco: MoCo = self.mocos[self.modality]
        batch_size = x_q.shape[0]
        if self.mixer is not None:
            mixed = self.mixer(x_q)
            q = moco.query(mixed.x)  # (B, dim)
        else:
            q = moco.query(x_q)
        moco.momentum_update()  # EMA before keys (METHOD §1)
        k = moco.keys(x_k)  # (B, dim)
        k_all = dist.all_gather_nograd(k)  # (B_global, dim)
        if self.mixer is not None:
            offset = dist.rank() * batch_size  # this rank's keys within k_all
            logits = moco.logits(q, k_all)  # (B, B_global + K)
            loss = imix_loss(logits, mixed.lam, mixed.perm, offset)
            accuracy = pretext_accuracy(logits, dominant_targets(mixed.lam, mixed.perm, offset))
            extra = {"lam": mixed.lam.float().mean()}
        else:
            logits = moco.moco_logits(q, k)  # (B, 1 + K)
            loss = info_nce(logits)
            accuracy = pretext_accuracy(logits, torch.zeros(batch_size, dtype=torch.long,
                                                            device=logits.device))
            extra = {}
        moco.enqueue(k_all)
        return {"loss": loss, "pretext_acc": accuracy, **extra}
