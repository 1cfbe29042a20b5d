"""Supervised training with a video mixer (METHOD §6).

The run uses the same engine as pre-training (``engine/trainer.py``): optimiser and LR
schedule from ``optim``, AMP/channels-last on CUDA, progress bar, JSONL/TensorBoard metrics,
a checkpoint every epoch. The encoder is any registered one (``vimix list encoders``; e.g.
``r3d_rs`` with ``drop_path_rate`` for stochastic depth), from scratch or initialised from an
exported encoder file (``init``). After training, top-1/top-5 accuracy on the test split
under the ``test_views`` protocol (``eval/multiview.py``: N clips × M crops, softmax
averaged) is written to ``OUT/results.json`` together with the protocol and, under
``per_video``, every test video's id, label, predicted class (top-1 of the averaged softmax)
and whether its label is in the top 5 (lists in test-list order; what ``vimix compare``
bootstraps its intervals from).

Learning rate: ``optim.lr`` is stated at ``optim.reference_batch`` (when set) and scaled
linearly to the global batch (``data.batch_size`` × world size) by ``resolve_optim``; the
values used are printed and saved under ``resolved`` in ``OUT/config.yaml``.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path
from typing import Any

from vimix_ssl.config import ConfigError
from vimix_ssl.jobs.supervised.config import SupervisedConfig
from vimix_ssl.ssl.distributed import world_size


def _data_shim(config: SupervisedConfig) -> Any:
    """A pre-training config carrying the data section, so the pre-training build makes the loaders."""
    from vimix_ssl.jobs.pretrain.config import ModalityConfig, PretrainConfig

    return PretrainConfig(seed=config.seed, out_dir=config.out_dir, device=config.device,
                          data={**config.data, "views": 1}, modalities={"rgb": ModalityConfig(
                              encoder=config.encoder, encoder_kwargs=config.encoder_kwargs)})


def build_method(config: SupervisedConfig) -> Any:
    """Encoder (scratch or ``init``) + classifier + mixer as a ``SupervisedMethod``."""
    from vimix_ssl.methods.supervised import SupervisedMethod
    from vimix_ssl.models.export import load_encoder
    from vimix_ssl.models.registry import build_encoder

    try:
        encoder = load_encoder(config.init).train() if config.init else build_encoder(
            config.encoder, **config.encoder_kwargs)
    except (TypeError, ValueError) as e:
        raise ConfigError(f"encoder_kwargs: {e}") from None
    spec = getattr(encoder, "spec", None)
    if config.init and spec is not None:  # the file decides the architecture: the config must agree
        stated = {"encoder": config.encoder, **config.encoder_kwargs}
        stored = {"encoder": spec["name"], **spec["kwargs"]}
        differ = {k: (v, stored.get(k)) for k, v in stated.items() if stored.get(k) != v}
        if differ:
            raise ConfigError(f"init: {config.init} holds {stored}; the config differs (config, file): "
                              f"{differ}")
    try:
        return SupervisedMethod(encoder, config.num_classes, config.mixer, config.mixer_kwargs,
                                config.label_smoothing, config.dropout, config.mix_probability)
    except (TypeError, ValueError) as e:
        raise ConfigError(f"mixer_kwargs / mixer settings: {e}") from None


def resolve_optim(config: SupervisedConfig, world_size: int) -> dict[str, Any]:
    """The lr this run uses: ``optim.lr`` at ``optim.reference_batch`` scaled to the global batch."""
    from vimix_ssl.engine.optim import global_batch_size, lr_scale

    batch = int({**config.data}.get("batch_size", _default_batch_size()))
    global_batch = global_batch_size(batch, world_size)
    try:
        scale = lr_scale(config.optim, global_batch)
    except ValueError as e:
        raise ConfigError(str(e)) from None
    return {"world_size": world_size, "global_batch": global_batch, "lr": config.optim.lr * scale,
            "min_lr": config.optim.min_lr * scale}


def _default_batch_size() -> int:
    from vimix_ssl.data.config import VideoDataConfig

    return VideoDataConfig().batch_size


def _video_views(base: Any, entry: Any, protocol: Any, data: Any) -> Any:
    """All ``protocol`` views of one video, uint8 ``(V, C, T, S, S)`` (clips outer, crops inner)."""
    import numpy as np
    import torch

    from vimix_ssl.data.sampling import window_indices, window_span
    from vimix_ssl.data.transforms import apply_geometry
    from vimix_ssl.eval.multiview import clip_starts, crop_boxes

    frames_count = base.num_frames(entry.video_id)
    starts = clip_starts(frames_count, window_span(data.clip_len, data.stride), protocol.clips)
    windows = [window_indices(s, data.clip_len, data.stride, frames_count, data.pad_mode) for s in starts]
    union = np.unique(np.concatenate(windows))
    from vimix_ssl.data.datasets import READ_ERRORS, UnreadableVideoError

    try:  # evaluation never substitutes a video (data/datasets.py): an unreadable one is an error
        frames = base.sources["rgb"].read(entry.video_id, union.tolist())  # (U, H, W, C)
    except READ_ERRORS as e:
        raise UnreadableVideoError(entry.video_id, f"unreadable test video: {type(e).__name__}: {e}") from e
    boxes = crop_boxes(frames.shape[1], frames.shape[2], protocol.crops)
    size = protocol.size or data.size
    views = [torch.from_numpy(apply_geometry(frames[np.searchsorted(union, window)], box, size,
                                             channels_first=True))
             for window in windows for box in boxes]
    return torch.stack(views)


def evaluate(method: Any, config: SupervisedConfig, shim: Any, device: Any) -> dict[str, Any]:
    """Top-1 / top-5 accuracy on the test split under ``test_views`` (softmax averaged over the views),
    with the per-video outcomes under ``per_video`` (``video_id``, ``label``, ``predicted`` = top-1
    class, ``top5_correct``; lists in test-list order)."""
    import torch

    from vimix_ssl.eval.multiview import average_softmax, parse_protocol
    from vimix_ssl.jobs.pretrain import build
    from vimix_ssl.utils.logging import progress

    protocol = parse_protocol(config.test_views)
    data = build.data_config(shim)
    dataset = build.build_dataset(shim, ["rgb"], "test", train=False, eval_windows="centre")
    if config.eval_max_videos:
        dataset = build._first(dataset, config.eval_max_videos)
    base = getattr(dataset, "dataset", dataset)
    indices = list(getattr(dataset, "indices", range(len(base))))
    prepare = build.build_eval_prepare(shim, "rgb", device)
    method.eval()
    per_video: dict[str, list] = {"video_id": [], "label": [], "predicted": [], "top5_correct": []}
    group = max(1, config.eval_batch_size // (protocol.clips * protocol.crops))  # videos per pass
    with torch.no_grad(), progress(total=len(indices), desc="test", unit="video") as bar:
        for first in range(0, len(indices), group):
            entries = [base.videos.entries[i] for i in indices[first:first + group]]
            views = torch.stack([_video_views(base, e, protocol, data)
                                 for e in entries])  # (G, V, C, T, S, S)
            logits = torch.cat([method(prepare(chunk.to(device)) if prepare is not None
                                       else chunk.to(device).float())
                                for chunk in views.flatten(0, 1).split(config.eval_batch_size)])  # (G·V, K)
            scores = average_softmax(logits.view(len(entries), -1, logits.shape[-1]))  # (G, K)
            labels = torch.tensor([e.label for e in entries], device=scores.device)
            top = scores.topk(min(5, scores.shape[1]), dim=1).indices
            per_video["video_id"] += [e.video_id for e in entries]
            per_video["label"] += [int(e.label) for e in entries]
            per_video["predicted"] += top[:, 0].tolist()
            per_video["top5_correct"] += (top == labels[:, None]).any(1).tolist()
            bar.update(len(entries))
    correct1 = sum(p == y for p, y in zip(per_video["predicted"], per_video["label"]))
    correct5 = sum(per_video["top5_correct"])
    return {"top1": 100.0 * correct1 / len(indices), "top5": 100.0 * correct5 / len(indices),
            "test_videos": len(indices), "test_protocol": protocol.record(data.size), "per_video": per_video}


def _resume_payload(config: SupervisedConfig, out_dir: Path) -> dict[str, Any] | None:
    """The checkpoint to continue from (``resume``), checked to be this run's architecture."""
    from vimix_ssl.utils.checkpoint import check_training_payload, load_checkpoint

    if config.resume == "never":
        return None
    path = out_dir / "checkpoint.pt" if config.resume == "auto" else Path(config.resume)
    if not path.is_file():
        return None
    payload = load_checkpoint(path)
    check_training_payload(payload, path)
    saved = payload["config"]
    for key in ("encoder", "encoder_kwargs", "num_classes", "mixer"):
        if saved.get(key) != getattr(config, key):
            raise ConfigError(f"{path}: {key} was {saved.get(key)!r} in the checkpoint, now "
                              f"{getattr(config, key)!r}; resume=never starts afresh")
    return payload


def run_supervised(config: SupervisedConfig) -> dict[str, Any]:
    """Train, evaluate, and write ``config.yaml``, ``checkpoint.pt`` and ``results.json`` to out_dir."""
    import torch

    from vimix_ssl.config import save_config, to_dict
    from vimix_ssl.data.inputs import input_record
    from vimix_ssl.engine.metrics import MetricLogger
    from vimix_ssl.engine.optim import LRSchedule, build_optimizer
    from vimix_ssl.engine.trainer import Progress, Trainer, TrainerOptions
    from vimix_ssl.jobs.pretrain import build
    from vimix_ssl.mixing.randaugment_t import RandAugmentT
    from vimix_ssl.utils.checkpoint import save_checkpoint, training_payload
    from vimix_ssl.utils.io import atomic_write_text
    from vimix_ssl.utils.seed import rng_state, seed_everything

    # world_size() counts the processes of a joined group; `vimix train` joins none yet, so under
    # torchrun every process is an independent run at its own batch (and is resolved as such)
    resolved = resolve_optim(config, world_size())
    if config.resolved and config.resolved != resolved:
        raise ConfigError(f"resolved: the config was resolved as {config.resolved}, this run gives "
                          f"{resolved}; remove the `resolved` block to run at this global batch")
    config = dataclasses.replace(config, resolved=resolved)
    stated = (f"optim.lr {config.optim.lr:g} at reference batch {config.optim.reference_batch}"
              if config.optim.reference_batch else f"optim.lr {config.optim.lr:g} (no reference_batch)")
    print(f"vimix train: {stated} -> lr {resolved['lr']:g} at global batch {resolved['global_batch']} "
          f"({resolved['global_batch'] // resolved['world_size']} x {resolved['world_size']} process(es))",
          file=sys.stderr)
    from vimix_ssl.jobs.pretrain.preflight import check_supervised, watch_skipped

    check_supervised(config, _data_shim(config))  # every problem at once, before anything is written
    out_dir = Path(config.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    if config.resume == "auto" and (out_dir / "checkpoint.pt").is_file():  # only the run's own config
        from vimix_ssl.jobs.resume import check_same_config, record_changes

        changes = check_same_config(out_dir, to_dict(config), config.resume_allow_changes)
        record_changes(out_dir, changes, {"checkpoint": str(out_dir / "checkpoint.pt")})
    save_config(config, out_dir / "config.yaml")
    seed_everything(config.seed)
    device = build.resolve_device(config.device)
    shim = _data_shim(config)
    method = build_method(config).to(device)
    loader = watch_skipped(build.build_train_loader(shim, ["rgb"], device), shim, config.epochs)
    photometric = build.build_batch_transforms(shim, ["rgb"], device).get("rgb")
    augment = RandAugmentT(**config.randaugment_t) if config.randaugment_t else None

    def transform(x: torch.Tensor) -> torch.Tensor:  # uint8 (B, C, T, H, W) -> normalised float
        x = augment(x) if augment is not None else x
        return photometric(x) if photometric is not None else x.float()

    spec = getattr(method.encoder, "spec", None) or {"name": config.encoder, "kwargs": config.encoder_kwargs}
    parameters = method.trainable_parameters()
    optimizer = build_optimizer(parameters, config.optim)

    def save(state: dict[str, Any]) -> str:
        payload = training_payload(config=to_dict(config), epoch=state["epoch"], step=state["step"], stage=0,
                                   model=method.state_dict(), optimizer=state["optimizer"],
                                   scheduler=state["scheduler"], scaler=state["scaler"], rng=rng_state(),
                                   encoders={"rgb": {"name": spec["name"], "kwargs": dict(spec["kwargs"]),
                                                     "state_dict": method.encoder.state_dict(),
                                                     "inputs": input_record("rgb", config.data,
                                                                            spec["kwargs"])}})
        payload["step_in_epoch"] = state["step_in_epoch"]
        return str(save_checkpoint(out_dir / "checkpoint.pt", payload))

    options = TrainerOptions(epochs=config.epochs, device=device, amp=config.amp,
                             amp_dtype=torch.float16 if config.amp_dtype == "float16" else torch.bfloat16,
                             channels_last=config.channels_last, grad_clip=config.optim.grad_clip,
                             log_every=config.log_every, description=f"train {config.mixer}")
    logger = MetricLogger(out_dir)
    start, resumed = Progress(), _resume_payload(config, out_dir)
    if resumed is not None:  # continue exactly: weights, optimiser, position, random streams
        from vimix_ssl.utils.seed import set_rng_state

        method.load_state_dict(resumed["model"])
        optimizer.load_state_dict(resumed["optimizer"])
        start = Progress(resumed["epoch"], resumed["step_in_epoch"], resumed["step"])
        logger.truncate_after(start.step)
        set_rng_state(resumed["rng"])
    try:
        schedule = LRSchedule(config.optim, loader.steps_per_epoch, config.epochs, resolved["global_batch"])
        Trainer(method, parameters, optimizer, schedule, loader, options, logger, save=save,
                batch_transforms={"rgb": transform},
                scaler_state=resumed["scaler"] if resumed else None).fit(start)
    finally:
        logger.close()
    results = {"mixer": config.mixer, "epochs": config.epochs, "seed": config.seed,
               "lr": resolved["lr"], "global_batch": resolved["global_batch"],
               **evaluate(method, config, shim, device)}
    atomic_write_text(out_dir / "results.json", json.dumps(results, indent=2) + "\n")
    return results
