"""Supervised training with a video mixer (METHOD §6).

The run uses the same engine as pre-training (``engine/trainer.py``): optimiser and LR
schedule from ``optim``, AMP/channels-last on CUDA, progress bar, JSONL/TensorBoard metrics,
a checkpoint every epoch. The encoder is any registered one (``vimix list encoders``; e.g.
``r3d_rs`` with ``drop_path_rate`` for stochastic depth), from scratch or initialised from an
exported encoder file (``init``). After training, top-1 accuracy on the test split (centre
window per video) is written to ``OUT/results.json``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from vimix_ssl.config import ConfigError
from vimix_ssl.jobs.supervised.config import SupervisedConfig


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

    encoder = load_encoder(config.init).train() if config.init else build_encoder(
        config.encoder, **config.encoder_kwargs)
    return SupervisedMethod(encoder, config.num_classes, config.mixer, config.mixer_kwargs,
                            config.label_smoothing, config.dropout, config.mix_probability)


def evaluate(method: Any, config: SupervisedConfig, shim: Any, device: Any) -> dict[str, float]:
    """Top-1 / top-5 accuracy on the test split, one centre window per video."""
    import torch

    from vimix_ssl.jobs.pretrain import build
    from vimix_ssl.utils.logging import progress

    dataset = build.build_dataset(shim, ["rgb"], "test", train=False, eval_windows="centre")
    if config.eval_max_videos:
        dataset = build._first(dataset, config.eval_max_videos)
    prepare = build.build_eval_prepare(shim, "rgb", device)
    method.eval()
    correct1 = correct5 = 0
    with torch.no_grad(), progress(total=len(dataset), desc="test", unit="video") as bar:
        for start in range(0, len(dataset), config.eval_batch_size):
            samples = [dataset[i] for i in range(start, min(start + config.eval_batch_size, len(dataset)))]
            x = torch.stack([torch.as_tensor(s["rgb"]) for s in samples]).to(device)  # (B, C, T, H, W)
            labels = torch.tensor([s["label"] for s in samples], device=device)
            logits = method(prepare(x) if prepare is not None else x.float())
            top = logits.topk(min(5, logits.shape[1]), dim=1).indices
            correct1 += int((top[:, 0] == labels).sum())
            correct5 += int((top == labels[:, None]).any(1).sum())
            bar.update(len(samples))
    return {"top1": 100.0 * correct1 / len(dataset), "top5": 100.0 * correct5 / len(dataset),
            "test_videos": len(dataset)}


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
    from vimix_ssl.engine.metrics import MetricLogger
    from vimix_ssl.engine.optim import LRSchedule, build_optimizer
    from vimix_ssl.engine.trainer import Progress, Trainer, TrainerOptions
    from vimix_ssl.jobs.pretrain import build
    from vimix_ssl.mixing.randaugment_t import RandAugmentT
    from vimix_ssl.utils.checkpoint import save_checkpoint, training_payload
    from vimix_ssl.utils.io import atomic_write_text
    from vimix_ssl.utils.seed import rng_state, seed_everything

    out_dir = Path(config.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    save_config(config, out_dir / "config.yaml")
    seed_everything(config.seed)
    device = build.resolve_device(config.device)
    shim = _data_shim(config)
    method = build_method(config).to(device)
    loader = build.build_train_loader(shim, ["rgb"], device)
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
                                                     "state_dict": method.encoder.state_dict()}})
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
        schedule = LRSchedule(config.optim, loader.steps_per_epoch, config.epochs)
        Trainer(method, parameters, optimizer, schedule, loader, options, logger, save=save,
                batch_transforms={"rgb": transform},
                scaler_state=resumed["scaler"] if resumed else None).fit(start)
    finally:
        logger.close()
    results = {"mixer": config.mixer, "epochs": config.epochs, "seed": config.seed,
               **evaluate(method, config, shim, device)}
    atomic_write_text(out_dir / "results.json", json.dumps(results, indent=2) + "\n")
    return results
