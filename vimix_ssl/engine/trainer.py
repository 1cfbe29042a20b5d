"""A plain training loop for any method with ``training_step(batch) -> {"loss": ..., ...}``.

One stage of a schedule is one ``Trainer.fit`` call: epochs of optimiser steps with the
learning rate from ``LRSchedule``, AMP and channels-last on CUDA, gradient clipping, a
progress bar (loss, pretext accuracy, clips/s, ETA), metric records, an optional monitor
every N epochs, a checkpoint after every epoch and on Ctrl-C or SIGTERM (what schedulers
send before killing a job), and a guard that stops on a non-finite loss before it reaches
the weights (the last good checkpoint stays on disk).

Under ``torchrun`` the step runs inside ``DistributedDataParallel`` (ssl/distributed.py
``data_parallel``) over the trained parameters only, so gradients are averaged in buckets
while backward runs.
"""

from __future__ import annotations

import contextlib
import math
import signal
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn

from vimix_ssl.engine.metrics import MetricLogger, RunningMean
from vimix_ssl.engine.optim import LRSchedule
from vimix_ssl.ssl import distributed as dist
from vimix_ssl.utils.logging import progress as progress_bar


class NonFiniteLossError(RuntimeError):
    """The loss became NaN or infinite; training stopped before the update."""


class TrainingInterrupted(KeyboardInterrupt):
    """SIGINT/SIGTERM stopped training after a checkpoint; ``exit_code`` is 128 + the signal number."""

    def __init__(self, message: str, signum: int) -> None:
        super().__init__(message)
        self.signum = signum
        self.exit_code = 128 + signum


@dataclass
class Progress:
    """Where a stage stands: ``epoch`` being run, steps done in it, steps done in the stage."""

    epoch: int = 0
    step_in_epoch: int = 0
    step: int = 0


@dataclass
class TrainerOptions:
    epochs: int
    device: torch.device
    amp: bool = False  # autocast (CUDA only)
    amp_dtype: torch.dtype = torch.bfloat16
    channels_last: bool = False  # channels_last_3d inputs (CUDA only)
    channels_last_keys: tuple[str, ...] | None = None  # batch keys it applies to; None: every 5-D input
    grad_clip: float | None = None
    log_every: int = 10
    monitor_every: int = 0  # epochs between monitor calls; 0 = never
    step_offset: int = 0  # steps of earlier stages, so metric steps are global
    description: str = "train"
    extra_log: dict[str, Any] = field(default_factory=dict)  # constant fields of every record


STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


@contextlib.contextmanager
def deferred_interrupt() -> Iterator[dict[str, Any]]:
    """Turn the first SIGINT/SIGTERM into a flag checked between steps (a second one interrupts at once).

    ``flag["signum"]`` is the signal received (0 while none).
    """
    flag: dict[str, Any] = {"requested": False, "signum": 0}
    if threading.current_thread() is not threading.main_thread():
        yield flag
        return

    def handler(signum: int, frame: Any) -> None:
        if flag["requested"]:
            raise KeyboardInterrupt(f"{signal.Signals(signum).name} received twice: stopped at once, "
                                    "without a new checkpoint")
        flag.update(requested=True, signum=signum)

    previous = {s: signal.signal(s, handler) for s in STOP_SIGNALS}
    try:
        yield flag
    finally:
        for s, h in previous.items():
            signal.signal(s, h)


class Trainer:
    def __init__(self, method: nn.Module, parameters: list[nn.Parameter], optimizer: torch.optim.Optimizer,
                 schedule: LRSchedule, loader: Any, options: TrainerOptions, logger: MetricLogger,
                 save: Callable[[dict[str, Any]], str | None],
                 batch_transforms: dict[str, Callable[[Tensor], Tensor]] | None = None,
                 monitor: Callable[[int], dict[str, float]] | None = None,
                 scaler_state: dict[str, Any] | None = None) -> None:
        self.method, self.parameters, self.optimizer = method, parameters, optimizer
        self.schedule, self.loader, self.options, self.logger = schedule, loader, options, logger
        self.save_fn, self.monitor = save, monitor
        self.batch_transforms = batch_transforms or {}
        self.cuda = options.device.type == "cuda"
        self.autocast = self.cuda and options.amp
        use_scaler = self.autocast and options.amp_dtype == torch.float16  # bfloat16 needs no scaling
        self.scaler = torch.amp.GradScaler("cuda", enabled=use_scaler)
        if scaler_state:
            self.scaler.load_state_dict(scaler_state)
        self.last_checkpoint: str | None = None
        self.step_module: nn.Module | None = None  # DistributedDataParallel under torchrun

    def state(self, progress: Progress) -> dict[str, Any]:
        """The trainer's share of a checkpoint."""
        return {"epoch": progress.epoch, "step_in_epoch": progress.step_in_epoch, "step": progress.step,
                "optimizer": self.optimizer.state_dict(), "scheduler": {"step": progress.step},
                "scaler": self.scaler.state_dict()}

    def checkpoint(self, progress: Progress) -> None:
        self.last_checkpoint = self.save_fn(self.state(progress)) or self.last_checkpoint

    def prepare(self, batch: dict[str, Any]) -> dict[str, Any]:
        """Move tensors to the device; run batched photometric augmentation; channels-last on CUDA."""
        out: dict[str, Any] = {}
        for key, value in batch.items():
            if torch.is_tensor(value):
                out[key] = value.to(self.options.device, non_blocking=True)
                continue
            if not (isinstance(value, (list, tuple)) and value and all(torch.is_tensor(v) for v in value)):
                out[key] = value  # e.g. video ids
                continue
            moved = [v.to(self.options.device, non_blocking=True) for v in value]
            if key in self.batch_transforms:
                moved = [self.batch_transforms[key](v) for v in moved]
            keys = self.options.channels_last_keys
            if self.cuda and self.options.channels_last and (keys is None or key in keys):
                moved = [v.contiguous(memory_format=torch.channels_last_3d) if v.dim() == 5 else v
                         for v in moved]
            out[key] = moved
        return out

    def fit(self, progress: Progress) -> Progress:
        """Run epochs ``progress.epoch .. epochs-1``, resuming ``progress.step_in_epoch`` steps in."""
        opts = self.options
        with deferred_interrupt() as interrupt, dist.trained_only(self.method, self.parameters):
            if dist.is_distributed():
                self.step_module = dist.data_parallel(self.method, opts.device)
            for epoch in range(progress.epoch, opts.epochs):
                progress = self._run_epoch(epoch, progress, interrupt)
                if self.monitor is not None and opts.monitor_every and (epoch + 1) % opts.monitor_every == 0:
                    record = {**opts.extra_log, "epoch": epoch + 1, **self.monitor(epoch + 1)}
                    self.logger.log(opts.step_offset + progress.step, record, prefix="monitor")
                self.checkpoint(progress)
        self.step_module = None
        return progress

    def _run_epoch(self, epoch: int, progress: Progress, interrupt: dict[str, bool]) -> Progress:
        opts = self.options
        steps_per_epoch = self.schedule.steps_per_epoch
        self.loader.set_epoch(epoch, start_batch=progress.step_in_epoch)
        self.method.train()
        means = {"loss": RunningMean(), "pretext_acc": RunningMean()}
        bar = progress_bar(total=steps_per_epoch, desc=f"{opts.description} {epoch + 1}/{opts.epochs}",
                           unit="step", initial=progress.step_in_epoch)
        started, clips, steps_run = time.perf_counter(), 0, 0
        for batch in self.loader:
            batch = self.prepare(batch)
            lr = self.schedule.apply(self.optimizer, progress.step)
            with torch.autocast("cuda", dtype=opts.amp_dtype, enabled=self.autocast):
                outputs = (self.step_module(batch) if self.step_module is not None
                           else self.method.training_step(batch))
            scalars = self._synchronised_scalars(outputs, interrupt["requested"])
            if not math.isfinite(scalars["loss"]):
                bar.close()
                raise NonFiniteLossError(
                    f"{opts.description}: loss became {scalars['loss']} at epoch {epoch + 1}, "
                    f"step {progress.step_in_epoch + 1} of the epoch (global step "
                    f"{opts.step_offset + progress.step + 1}); stopped before the update. "
                    f"Last good checkpoint kept: {self.last_checkpoint or 'none written yet'}")
            self._update(outputs["loss"])
            progress = Progress(epoch, progress.step_in_epoch + 1, progress.step + 1)
            steps_run += 1
            clips += len(batch["index"]) * dist.world_size() if "index" in batch else 0
            elapsed = max(time.perf_counter() - started, 1e-9)
            for name, mean in means.items():
                mean.update(scalars.get(name, math.nan))
            remaining = (opts.epochs * steps_per_epoch - progress.step) * elapsed / steps_run
            bar.update(1)
            bar.set_postfix(loss=f"{means['loss'].mean:.4f}", acc=f"{means['pretext_acc'].mean:.3f}",
                            clips_s=f"{clips / elapsed:.1f}", eta=_eta(remaining))
            if progress.step % opts.log_every == 0 or progress.step_in_epoch == steps_per_epoch:
                values = {k: v for k, v in scalars.items() if k != "interrupt"}
                self.logger.log(opts.step_offset + progress.step, {
                    **opts.extra_log, "epoch": epoch + 1, "lr": lr, "clips_per_s": clips / elapsed, **values})
            if scalars["interrupt"] > 0:
                bar.close()
                self.checkpoint(progress)
                signum = int(interrupt["signum"]) or int(signal.SIGINT)  # another rank's signal
                raise TrainingInterrupted(
                    f"{signal.Signals(signum).name} received: checkpoint saved to {self.last_checkpoint} "
                    f"(epoch {epoch + 1}, step {progress.step_in_epoch} of the epoch); rerun the same "
                    "command to continue from it (resume=auto)", signum)
        bar.close()
        return Progress(epoch + 1, 0, progress.step)

    def _update(self, loss: Tensor) -> None:
        """Backward (DDP averages gradients across ranks during it), optional clipping, optimiser step."""
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        if self.step_module is None:  # a method run outside DDP in a process group: average by hand
            dist.all_reduce_gradients(self.parameters)
        if self.options.grad_clip:
            self.scaler.unscale_(self.optimizer)
            torch.nn.utils.clip_grad_norm_(self.parameters, self.options.grad_clip)
        self.scaler.step(self.optimizer)
        self.scaler.update()

    def _synchronised_scalars(self, outputs: dict[str, Tensor], interrupt: bool) -> dict[str, float]:
        """Rank-averaged scalars plus the interrupt flag, in one collective (all ranks stop together)."""
        names = [k for k, v in outputs.items() if torch.is_tensor(v) and v.numel() == 1]
        if "loss" not in names:
            raise KeyError(f"training_step must return a scalar 'loss'; got keys {sorted(outputs)}")
        values = torch.stack([outputs[k].detach().float().reshape(()) for k in names]
                             + [torch.tensor(float(interrupt), device=outputs["loss"].device)])
        values = dist.all_reduce_mean(values).tolist()
        return {**dict(zip(names, values[:-1])), "interrupt": values[-1]}


def _eta(seconds: float) -> str:
    hours, rest = divmod(int(seconds), 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}"
