"""The MoCo key queue: a FIFO of past keys kept as registered buffers.

Because the keys and the write pointer are buffers, ``state_dict`` round-trips the queue
exactly and a resumed run continues with the same negatives.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class MomentumQueue(nn.Module):
    """``keys`` (dim, size) of L2-normalised past keys, written FIFO from ``pointer``."""

    keys: Tensor
    pointer: Tensor

    def __init__(self, dim: int, size: int) -> None:
        super().__init__()
        if dim <= 0 or size <= 0:
            raise ValueError(f"queue dim and size must be positive, got dim={dim}, size={size}")
        # Random unit vectors as the initial negatives (peer: facebookresearch/moco).
        self.register_buffer("keys", F.normalize(torch.randn(dim, size), dim=0))
        self.register_buffer("pointer", torch.zeros((), dtype=torch.long))

    @property
    def dim(self) -> int:
        return self.keys.shape[0]

    @property
    def size(self) -> int:
        return self.keys.shape[1]

    def check_batch(self, batch_size: int) -> None:
        """Refuse a global batch that does not divide the queue size (writes would straddle the end)."""
        if batch_size <= 0 or self.size % batch_size != 0:
            raise ValueError(
                f"queue size {self.size} must be a multiple of the global batch size {batch_size} "
                f"(keys are written in whole batches); change queue_size or the batch size")

    @torch.no_grad()
    def enqueue(self, keys: Tensor) -> None:
        """Write ``keys`` (N, dim) over the oldest entries; N must divide the queue size."""
        if keys.ndim != 2 or keys.shape[1] != self.dim:
            raise ValueError(f"expected keys of shape (N, {self.dim}), got {tuple(keys.shape)}")
        n = keys.shape[0]
        self.check_batch(n)
        start = int(self.pointer)
        self.keys[:, start:start + n] = keys.detach().to(self.keys.dtype).T
        self.pointer.fill_((start + n) % self.size)

    def snapshot(self) -> Tensor:
        """A detached copy (dim, size) safe to use in a graph while the queue is written later."""
        return self.keys.clone().detach()
