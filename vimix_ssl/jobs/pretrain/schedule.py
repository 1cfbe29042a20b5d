"""Run a pre-training schedule: stages in order, one resumable run, one checkpoint file.

Every modality's ``MoCo`` (query/key encoders, heads, queue) lives for the whole run, so a
modality's weights, key encoder and queue carry over between its stages and each stage
starts from the latest weights of every modality. Only the trained modality's query
encoder and head are given to the optimiser. ``checkpoint.pt`` (rewritten atomically
after every epoch and on Ctrl-C/SIGTERM) holds the stage index and the position inside it;
``resume=auto`` continues from it, mid-stage and mid-epoch, and only with the run's own
config (``jobs/resume.py``).

Under ``torchrun`` (W processes) it is one model: every rank builds from the same seed and
then takes rank 0's parameters, buffers and queues (after building and after resuming), the
step runs in ``DistributedDataParallel`` (engine/trainer.py), BatchNorm statistics are made
rank 0's before every checkpoint, and per-rank randomness is only the data each rank
loads (its shard; augmentation keyed by sample) and its mixing draws. The checkpoint holds
every rank's RNG state, so a resume with the same W is exact; another W is allowed and
logged as not exact. A worker restarted by ``torchrun --max-restarts`` resumes the same way.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from vimix_ssl.config import ConfigError, save_config, to_dict
from vimix_ssl.jobs.pretrain.config import PretrainConfig
from vimix_ssl.methods.config import StageConfig
from vimix_ssl.ssl import distributed as dist
from vimix_ssl.utils.logging import get_logger

CHECKPOINT_NAME = "checkpoint.pt"


@dataclass
class ResumePoint:
    stage: int
    epoch: int
    step_in_epoch: int
    stage_step: int
    global_step: int
    payload: dict[str, Any]


def stage_modalities(stage: StageConfig) -> list[str]:
    """The modalities a stage loads: the partner only where a step reads it (cross-modal CMMC)."""
    uses = stage.uses_partner() and stage.partner != stage.train
    return [stage.train] + ([stage.partner] if uses else [])


def find_resume(config: PretrainConfig) -> Path | None:
    """The checkpoint to resume from: ``never`` -> None; ``auto`` -> out_dir's if present; else the path."""
    if config.resume == "never":
        return None
    if config.resume == "auto":
        path = Path(config.out_dir) / CHECKPOINT_NAME
        return path if path.is_file() else None
    return Path(config.resume)


def load_resume_point(path: Path, config: PretrainConfig) -> ResumePoint:
    from vimix_ssl.utils.checkpoint import check_training_payload, load_checkpoint

    payload = load_checkpoint(path)
    check_training_payload(payload, path)
    saved = payload["config"]
    architecture = ("encoder", "encoder_kwargs", "head_hidden", "dim", "queue_size")
    for modality, current in to_dict(config)["modalities"].items():
        before = saved.get("modalities", {}).get(modality)
        if before is None or any(before.get(k) != current[k] for k in architecture):
            raise ConfigError(
                f"{path}: modality {modality!r} differs from the checkpoint's ({before}); resume=never "
                f"starts afresh, or use the config saved with the run ({Path(path).parent}/config.yaml)")
    saved_names = [s["name"] for s in saved.get("stages", [])]
    names = [s.name for s in config.stages]
    if saved_names[: payload["stage"] + 1] != names[: payload["stage"] + 1]:
        raise ConfigError(f"{path}: the schedule changed: the checkpoint ran stages {saved_names}, "
                          f"this config lists {names}")
    return ResumePoint(payload["stage"], payload["epoch"], payload["step_in_epoch"], payload["stage_step"],
                       payload["step"], payload)


class RunCheckpointer:
    """Assembles and writes the training checkpoint (main process only)."""

    def __init__(self, config: PretrainConfig, mocos: nn.ModuleDict, out_dir: Path) -> None:
        self.config, self.mocos, self.out_dir = config, mocos, out_dir
        self.path = out_dir / CHECKPOINT_NAME

    def save(self, stage_index: int, stage_offset: int, state: dict[str, Any]) -> str | None:
        """Called on every rank (collectives); rank 0 writes the file."""
        from vimix_ssl.utils.checkpoint import save_checkpoint
        from vimix_ssl.utils.seed import rng_state

        dist.broadcast_state(self.mocos, buffers_only=True)  # BN statistics: rank 0's on every rank
        payload = self.payload(stage_index, stage_offset, state, dist.all_gather_objects(rng_state()))
        if not dist.is_main_process():
            return None
        save_checkpoint(self.path, payload)
        return str(self.path)

    def payload(self, stage_index: int, stage_offset: int, state: dict[str, Any],
                rngs: list[dict[str, Any]]) -> dict[str, Any]:
        """The checkpoint content, the same on every rank (``rng``: rank 0's; ``rng_ranks``: all ranks')."""
        from vimix_ssl.data.inputs import input_record
        from vimix_ssl.utils.checkpoint import training_payload

        encoders = {m: {"name": c.encoder, "kwargs": dict(c.encoder_kwargs),
                        "state_dict": self.mocos[m].encoder_q.state_dict(),
                        "inputs": input_record(m, self.config.data, c.encoder_kwargs, c.flow_units, c.store)}
                    for m, c in self.config.modalities.items()}
        payload = training_payload(
            config=to_dict(self.config), epoch=state["epoch"], step=stage_offset + state["step"],
            stage=stage_index, model=self.mocos.state_dict(), optimizer=state["optimizer"],
            scheduler=state["scheduler"], scaler=state["scaler"], rng=rngs[0], encoders=encoders)
        payload.update(step_in_epoch=state["step_in_epoch"], stage_step=state["step"],
                       stage_name=self.config.stages[stage_index].name, world_size=len(rngs), rng_ranks=rngs)
        return payload

    def finish_stage(self, stage_index: int) -> Path | None:
        """Keep a copy of the checkpoint at the end of a stage (``stage<i>_<name>.pt``)."""
        if not dist.is_main_process() or not self.path.is_file():
            return None
        target = self.out_dir / f"stage{stage_index}_{self.config.stages[stage_index].name}.pt"
        from vimix_ssl.utils.io import atomic_open

        with open(self.path, "rb") as source, atomic_open(target, "wb") as destination:
            shutil.copyfileobj(source, destination)
        return target


def run_pretrain(config: PretrainConfig) -> Path:
    """Run (or resume) the whole schedule; returns the run folder."""
    from vimix_ssl.engine.metrics import MetricLogger
    from vimix_ssl.jobs.pretrain import build
    from vimix_ssl.jobs.resume import check_same_config, record_changes
    from vimix_ssl.utils.seed import seed_everything

    log = get_logger("vimix.pretrain")
    device = build.resolve_device(config.device)  # this process's GPU from LOCAL_RANK under torchrun
    dist.init_from_environment(device.type)
    from vimix_ssl.jobs.pretrain.preflight import check_pretrain

    check_pretrain(config, dist.world_size())  # every problem at once, before anything is written
    out_dir = Path(config.out_dir)
    resume_path = find_resume(config)
    resume = load_resume_point(resume_path, config) if resume_path else None
    changes = (check_same_config(out_dir, to_dict(config), config.resume_allow_changes)
               if resume is not None and config.resume == "auto" else {})
    if dist.is_main_process():
        out_dir.mkdir(parents=True, exist_ok=True)
        if resume is not None:
            position = {"stage": resume.stage, "epoch": resume.epoch, "step_in_epoch": resume.step_in_epoch,
                        "step": resume.global_step}
            record_changes(out_dir, changes, position)
        save_config(config, out_dir / "config.yaml")
    seed_everything(config.seed)  # one seed for the model on every rank (rank 0's is broadcast below too)
    global_batch = build.batch_size(config) * dist.world_size()
    mocos = build.build_mocos(config, global_batch).to(device)
    channels_last_keys = prepare_for_device(mocos, device, config.channels_last)
    if resume is not None:
        mocos.load_state_dict(resume.payload["model"])
        log.info(f"resuming {resume_path}: stage {resume.stage} ({config.stages[resume.stage].name}), "
                 f"epoch {resume.epoch + 1}, step {resume.step_in_epoch} of the epoch")
    dist.broadcast_state(mocos)  # bit-identical parameters, buffers and queues on every rank
    if dist.world_size() > 1:  # per-rank streams (mixing draws, photometric jitter) from here on
        seed_everything(config.seed + 1_000_003 * dist.rank())
    logger = MetricLogger(out_dir, enabled=dist.is_main_process())
    logger.truncate_after(resume.global_step if resume is not None else 0)  # a fresh run starts a fresh log
    checkpointer = RunCheckpointer(config, mocos, out_dir)
    global_step = resume.global_step - resume.stage_step if resume else 0
    try:
        for index in range(resume.stage if resume else 0, len(config.stages)):
            here = resume if resume is not None and resume.stage == index else None
            global_step += _run_stage(config, index, mocos, device, logger, checkpointer, global_step, here,
                                      channels_last_keys)
    finally:
        logger.close()
    return out_dir


def _run_stage(config: PretrainConfig, index: int, mocos: nn.ModuleDict, device: torch.device,
               logger: Any, checkpointer: RunCheckpointer, global_step: int, here: ResumePoint | None,
               channels_last_keys: tuple[str, ...] = ()) -> int:
    """Train stage ``index`` (from ``here`` when resuming it); returns the stage's step count."""
    from vimix_ssl.engine.optim import LRSchedule, build_optimizer
    from vimix_ssl.engine.trainer import Progress, Trainer, TrainerOptions
    from vimix_ssl.jobs.pretrain import build
    from vimix_ssl.methods.registry import build_stage_method

    stage = config.stages[index]
    start = Progress(here.epoch, here.step_in_epoch, here.stage_step) if here else Progress()
    if start.epoch >= stage.epochs:  # the stage had finished before the interruption
        return start.step
    modalities = stage_modalities(stage)
    method = build_stage_method(stage, mocos).to(device)
    parameters = mocos[stage.train].query_parameters()
    from vimix_ssl.jobs.pretrain.preflight import watch_skipped  # per-epoch summary of unreadable samples

    loader = watch_skipped(build.build_train_loader(config, modalities, device), config, stage.epochs,
                           f"[{index + 1}/{len(config.stages)}] {stage.name}")
    if here is not None:
        start = _position_for_world_size(here, start, loader.steps_per_epoch)
    optimizer = build_optimizer(parameters, stage.optim)
    if here is not None and here.payload.get("optimizer"):
        optimizer.load_state_dict(here.payload["optimizer"])
    monitor = (build.build_knn_monitor(config, config.knn, mocos, stage.train, device)
               if config.knn.every else None)
    options = TrainerOptions(
        epochs=stage.epochs, device=device, amp=config.amp,
        amp_dtype=torch.float16 if config.amp_dtype == "float16" else torch.bfloat16,
        channels_last=config.channels_last, channels_last_keys=channels_last_keys,
        grad_clip=stage.optim.grad_clip,
        log_every=config.log_every, monitor_every=config.knn.every, step_offset=global_step,
        description=f"[{index + 1}/{len(config.stages)}] {stage.name}",
        extra_log={"stage": index, "stage_name": stage.name})
    trainer = Trainer(
        method, parameters, optimizer,
        LRSchedule(stage.optim, loader.steps_per_epoch, stage.epochs,
                   build.batch_size(config) * dist.world_size()),
        loader, options, logger, save=lambda state: checkpointer.save(index, global_step, state),
        batch_transforms=build.build_batch_transforms(config, modalities, device), monitor=monitor,
        scaler_state=here.payload.get("scaler") if here is not None else None)
    if here is not None:  # continue every random stream where the checkpoint left it
        restore_rng(here, config.seed)
    finished = trainer.fit(start)
    checkpointer.finish_stage(index)
    get_logger("vimix.pretrain").info(f"stage {stage.name} done ({finished.step} steps)")
    return finished.step


def saved_world_size(payload: dict[str, Any]) -> int:
    return int(payload.get("world_size") or 1)


def restore_rng(here: ResumePoint, seed: int) -> None:
    """This rank's RNG state from the checkpoint; another world size reseeds (logged: not exact)."""
    from vimix_ssl.utils.seed import seed_everything, set_rng_state

    states = here.payload.get("rng_ranks") or [here.payload["rng"]]
    if saved_world_size(here.payload) == dist.world_size() and len(states) == dist.world_size():
        set_rng_state(states[dist.rank()])
        return
    seed_everything(seed + 7919 * here.global_step + 1_000_003 * dist.rank())


def _position_for_world_size(here: ResumePoint, start: Any, steps_per_epoch: int) -> Any:
    """The same position in samples when the world size changed (the resume is then not exact)."""
    from vimix_ssl.engine.trainer import Progress

    before, now = saved_world_size(here.payload), dist.world_size()
    if before == now:
        return start
    step_in_epoch = min(here.step_in_epoch * before // now, steps_per_epoch)
    if dist.is_main_process():
        get_logger("vimix.pretrain").warning(
            f"resuming a checkpoint written by {before} process(es) with {now}: the run continues from the "
            f"same epoch and sample position, but it is not exact (per-rank random streams and BatchNorm "
            f"batches differ from an uninterrupted {before}-process run)")
    return Progress(start.epoch, step_in_epoch, start.epoch * steps_per_epoch + step_in_epoch)


def video_modules(module: nn.Module) -> list[nn.Module]:
    """Submodules holding 5-D (video Conv3d) weights: the ones channels-last-3d applies to."""
    return [m for m in module.modules()
            if any(p.dim() == 5 for p in m.parameters(recurse=False))]


def prepare_for_device(mocos: nn.ModuleDict, device: torch.device, channels_last: bool) -> tuple[str, ...]:
    """CUDA preparation: channels_last_3d for the 5-D conv modules only; returns the modalities it applies to.

    ST-GCN's 4-D Conv2d (and any 2-D/4-D weight) is left alone: ``Module.to(channels_last_3d)``
    on the whole model would raise for it. The inputs of the returned modalities are made
    channels-last by the trainer; the others (skeleton streams) are passed as they are.
    """
    if device.type != "cuda" or not channels_last:
        return ()
    return convert_channels_last(mocos)


def convert_channels_last(mocos: nn.ModuleDict) -> tuple[str, ...]:
    """The conversion itself (device-independent, so it is testable on CPU)."""
    keys = []
    for modality, moco in mocos.items():
        modules = video_modules(moco)
        for m in modules:
            for p in m.parameters(recurse=False):
                if p.dim() == 5:
                    p.data = p.data.contiguous(memory_format=torch.channels_last_3d)
        if modules:
            keys.append(modality)
    return tuple(keys)
