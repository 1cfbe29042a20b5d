"""Distributed helpers for MoCo under ``torchrun``; every function is a no-op in one process.

Training steps run inside ``DistributedDataParallel`` (``data_parallel``): DDP wraps a
``StepModule`` whose forward is the method's whole ``training_step``, so methods that call
encoder stages piecewise (Cross-Modal Manifold CutMix stops an encoder mid-way) are one
forward for DDP; only the trained parameters require grad inside the step (``trained_only``).
``all_reduce_gradients`` (the same average, unbucketed, after backward) remains for code
that trains outside the trainer. ``broadcast_state`` makes every rank one model.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import torch
import torch.distributed as dist
from torch import Tensor


def is_distributed() -> bool:
    return dist.is_available() and dist.is_initialized()


def rank() -> int:
    return dist.get_rank() if is_distributed() else 0


def world_size() -> int:
    return dist.get_world_size() if is_distributed() else 1


def is_main_process() -> bool:
    return rank() == 0


def init_from_environment(device: str) -> bool:
    """Join the process group if launched by ``torchrun`` (``WORLD_SIZE`` > 1).

    NCCL on CUDA, gloo on CPU. Returns whether a process group is in use.
    """
    if is_distributed():
        return True
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return False
    backend = "nccl" if device.startswith("cuda") else "gloo"
    if backend == "nccl":
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    # The store torchrun's agent serves outlives a restart: keys of the killed attempt (a dead
    # worker's gloo address) would be read by the restarted ranks. One key prefix per attempt.
    store, rank_, size = next(dist.rendezvous("env://"))
    attempt = os.environ.get("TORCHELASTIC_RESTART_COUNT", "0")
    dist.init_process_group(backend=backend, store=dist.PrefixStore(f"vimix/attempt_{attempt}", store),
                            rank=rank_, world_size=size)
    return True


def local_device(device: str) -> torch.device:
    """``cuda`` becomes this process's GPU (``LOCAL_RANK``); anything else is returned as is."""
    if device == "cuda":
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
    return torch.device(device)


def resolve_device(name: str) -> torch.device:
    """``auto`` -> this process's GPU if CUDA is available, else CPU; ``cuda`` without CUDA is an error."""
    from vimix_ssl.config import ConfigError

    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"device: {name!r} requested but CUDA is not available")
    return local_device(name)


@torch.no_grad()
def all_gather_nograd(tensor: Tensor) -> Tensor:
    """Concatenate ``tensor`` (B, ...) from every rank in rank order -> (world·B, ...); no gradient."""
    if not is_distributed():
        return tensor
    parts = [torch.empty_like(tensor) for _ in range(world_size())]
    dist.all_gather(parts, tensor.contiguous())
    return torch.cat(parts, dim=0)


def all_reduce_mean(tensor: Tensor) -> Tensor:
    """Average a tensor across ranks (returns a new tensor; identity in one process)."""
    if not is_distributed():
        return tensor
    out = tensor.detach().clone()
    dist.all_reduce(out)
    return out / world_size()


@torch.no_grad()
def all_reduce_gradients(parameters: Iterable[torch.nn.Parameter]) -> None:
    """Average ``.grad`` across ranks in one flat buffer per dtype (what DDP does, unbucketed)."""
    if not is_distributed():
        return
    grads = [p.grad for p in parameters if p.grad is not None]
    by_dtype: dict[torch.dtype, list[Tensor]] = {}
    for g in grads:
        by_dtype.setdefault(g.dtype, []).append(g)
    for group in by_dtype.values():
        flat = torch.cat([g.reshape(-1) for g in group])
        dist.all_reduce(flat)
        flat /= world_size()
        offset = 0
        for g in group:
            g.copy_(flat[offset:offset + g.numel()].view_as(g))
            offset += g.numel()


@torch.no_grad()
def shuffle_batch(x: Tensor) -> tuple[Tensor, Tensor]:
    """Shuffle-BN, step 1: permute the *global* batch and return this rank's share.

    The permutation is drawn on rank 0 and broadcast, so each rank's key encoder sees a
    BatchNorm batch made of other ranks' samples. Returns ``(x_local (B, ...), unshuffle)``
    where ``unshuffle`` (world·B,) restores the original order (``unshuffle_batch``).
    In one process there is nothing to shuffle across and ``x`` is returned unchanged.
    """
    if not is_distributed():
        return x, torch.arange(x.shape[0], device=x.device)
    local = x.shape[0]
    gathered = all_gather_nograd(x)  # (world·B, ...)
    shuffle = torch.randperm(gathered.shape[0], device=x.device) if rank() == 0 else \
        torch.empty(gathered.shape[0], dtype=torch.long, device=x.device)
    dist.broadcast(shuffle, src=0)
    unshuffle = torch.argsort(shuffle)
    mine = shuffle.view(world_size(), local)[rank()]
    return gathered[mine], unshuffle


@torch.no_grad()
def unshuffle_batch(x: Tensor, unshuffle: Tensor) -> Tensor:
    """Shuffle-BN, step 2: gather the key outputs and take back this rank's original samples."""
    if not is_distributed():
        return x
    local = x.shape[0]
    gathered = all_gather_nograd(x)  # (world·B, ...) in shuffled order
    mine = unshuffle.view(world_size(), local)[rank()]
    return gathered[mine]


class ResumableSampler(torch.utils.data.Sampler[int]):
    """Seeded epoch shuffling, sharded across ranks, that can start mid-epoch.

    The order of epoch ``e`` depends only on ``(seed, e)``, so a resumed run sees exactly
    the batches an uninterrupted run would: ``set_epoch(e, start_batch=n)`` skips the first
    ``n`` batches of this rank's share. Every rank gets the same number of whole batches
    (the tail that does not fill a global batch is dropped, as with ``drop_last``).
    """

    def __init__(self, length: int, batch_size: int, seed: int = 0, shuffle: bool = True,
                 num_replicas: int | None = None, replica_rank: int | None = None) -> None:
        self.length, self.batch_size, self.seed, self.shuffle = length, batch_size, seed, shuffle
        self.num_replicas = world_size() if num_replicas is None else num_replicas
        self.replica_rank = rank() if replica_rank is None else replica_rank
        self.batches_per_epoch = length // (batch_size * self.num_replicas)
        if self.batches_per_epoch == 0:
            raise ValueError(f"dataset of {length} samples is smaller than one global batch "
                             f"({batch_size} x {self.num_replicas} processes)")
        self.epoch, self.start_batch = 0, 0

    def set_epoch(self, epoch: int, start_batch: int = 0) -> None:
        if not 0 <= start_batch <= self.batches_per_epoch:
            raise ValueError(f"start_batch {start_batch} outside 0..{self.batches_per_epoch}")
        self.epoch, self.start_batch = epoch, start_batch

    def _order(self) -> list[int]:
        if not self.shuffle:
            return list(range(self.length))
        generator = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
        return torch.randperm(self.length, generator=generator).tolist()

    def __iter__(self) -> Iterator[int]:
        # Global batch s is order[s·W·B : (s+1)·W·B]; rank r takes its r-th block of B, so the
        # rank-ordered concatenation of the local batches equals the one-process global batch.
        size, replicas = self.batch_size, self.num_replicas
        order = self._order()
        mine = [order[(s * replicas + self.replica_rank) * size + j]
                for s in range(self.start_batch, self.batches_per_epoch) for j in range(size)]
        return iter(mine)

    def __len__(self) -> int:
        return (self.batches_per_epoch - self.start_batch) * self.batch_size


class EpochLoader:
    """A ``DataLoader`` over a ``ResumableSampler`` whose randomness is a function of the epoch.

    ``set_epoch(e, start_batch)`` positions the sampler, tells the dataset the epoch (if it
    has ``set_epoch``) and reseeds the loader's generator, which seeds the worker processes:
    epoch ``e`` loads the same batches whether or not the run was interrupted before it.
    """

    def __init__(self, dataset: Any, batch_size: int, seed: int = 0, num_workers: int = 0,
                 shuffle: bool = True, pin_memory: bool = False,
                 collate_fn: Callable[[list[Any]], Any] | None = None) -> None:
        self.dataset, self.seed = dataset, seed
        self.sampler = ResumableSampler(len(dataset), batch_size, seed=seed, shuffle=shuffle)
        self.generator = torch.Generator()
        self.loader = torch.utils.data.DataLoader(
            dataset, batch_size=batch_size, sampler=self.sampler, num_workers=num_workers, drop_last=True,
            pin_memory=pin_memory, generator=self.generator, collate_fn=collate_fn)

    @property
    def steps_per_epoch(self) -> int:
        return self.sampler.batches_per_epoch

    def set_epoch(self, epoch: int, start_batch: int = 0) -> None:
        self.sampler.set_epoch(epoch, start_batch)
        if hasattr(self.dataset, "set_epoch"):
            self.dataset.set_epoch(epoch)
        self.generator.manual_seed(self.seed * 1_000_003 + epoch * 7919 + rank())

    def __iter__(self) -> Iterator[Any]:
        return iter(self.loader)

    def __len__(self) -> int:
        return len(self.loader)


# -- one model on every rank ---------------------------------------------------------------------
@torch.no_grad()
def broadcast_state(module: torch.nn.Module, src: int = 0, buffers_only: bool = False) -> None:
    """Overwrite every rank's parameters and buffers (or buffers only) with rank ``src``'s, in place.

    Called after building and after resuming, so every rank starts a stage with bit-identical
    weights, BatchNorm statistics and queues; with ``buffers_only`` before every checkpoint,
    so the saved running statistics are rank 0's on every rank (DDP's ``broadcast_buffers``
    convention, applied once per checkpoint instead of once per step).
    """
    if not is_distributed():
        return
    tensors = [] if buffers_only else list(module.parameters())
    tensors += list(module.buffers())
    for tensor in tensors:
        dist.broadcast(tensor.data, src=src)


def all_gather_objects(obj: Any) -> list[Any]:
    """Every rank's ``obj`` in rank order (pickled over the process group, never to disk)."""
    if not is_distributed():
        return [obj]
    out: list[Any] = [None] * world_size()
    dist.all_gather_object(out, obj)
    return out


def ranks_agree(module: torch.nn.Module) -> list[str]:
    """Names of the parameters/buffers that differ from rank 0's on some rank (empty when all agree)."""
    if not is_distributed():
        return []
    differ = []
    for name, tensor in [*module.named_parameters(), *module.named_buffers()]:
        reference = tensor.detach().clone()
        dist.broadcast(reference, src=0)
        mismatch = torch.tensor(float(not torch.equal(reference, tensor.detach())), device=tensor.device)
        dist.all_reduce(mismatch)
        if mismatch.item() > 0:
            differ.append(name)
    return differ


class StepModule(torch.nn.Module):
    """``forward(batch) = method.training_step(batch)``, so ``DistributedDataParallel`` can wrap a step."""

    def __init__(self, method: torch.nn.Module) -> None:
        super().__init__()
        self.method = method

    def forward(self, batch: dict[str, Any]) -> dict[str, Tensor]:
        return self.method.training_step(batch)


class trained_only:  # noqa: N801  (a context manager used like a function)
    """Within the block only ``parameters`` require grad in ``module`` (restored on exit).

    ``DistributedDataParallel`` averages the gradients of every parameter that requires
    grad; a schedule's frozen modalities (the CMMC partner, the modalities not trained in a
    stage) must not be among them, or DDP waits for gradients that never come.
    """

    def __init__(self, module: torch.nn.Module, parameters: Iterable[torch.nn.Parameter]) -> None:
        self.module, self.keep = module, {id(p) for p in parameters}
        self.saved: list[tuple[torch.nn.Parameter, bool]] = []

    def __enter__(self) -> None:
        for p in self.module.parameters():
            self.saved.append((p, p.requires_grad))
            if id(p) not in self.keep:
                p.requires_grad_(False)

    def __exit__(self, *exc: Any) -> None:
        for p, flag in self.saved:
            p.requires_grad_(flag)
        self.saved.clear()


def data_parallel(method: torch.nn.Module, device: torch.device) -> torch.nn.Module:
    """``DistributedDataParallel`` over a ``StepModule``: bucketed gradient averaging during backward.

    Buffers are not broadcast every step (``forward_sync_buffers``/``broadcast_buffers`` off): the queue is
    identical on every rank by construction (all-gathered keys) and BatchNorm statistics are
    made rank 0's before every checkpoint (``broadcast_state(buffers_only=True)``). Every
    trained parameter is used by every step (MoCo, i-Mix and CMMC run the whole trained
    encoder), so ``find_unused_parameters`` stays off.
    """
    import inspect

    from torch.nn.parallel import DistributedDataParallel

    ids = [device.index] if device.type == "cuda" and device.index is not None else None
    # torch ≥ 2.14 names it forward_sync_buffers (broadcast_buffers is deprecated there)
    newer = "forward_sync_buffers" in inspect.signature(DistributedDataParallel.__init__).parameters
    buffers = {"forward_sync_buffers": False} if newer else {"broadcast_buffers": False}
    return DistributedDataParallel(StepModule(method), device_ids=ids, find_unused_parameters=False,
                                   **buffers)
