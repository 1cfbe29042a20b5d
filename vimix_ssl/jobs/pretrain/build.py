"""The one place a pre-training config turns into objects: device, MoCos, datasets, loaders.

``data:`` of a ``PretrainConfig`` holds ``VideoDataConfig`` fields (rgb/flow) or
``SkeletonDataConfig`` fields plus ``batch_size`` and ``num_workers`` (joint/motion/bone).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import Tensor, nn

from vimix_ssl.config import ConfigError, from_dict
from vimix_ssl.jobs.pretrain.config import KnnMonitorConfig, ModalityConfig, PretrainConfig, data_kind
from vimix_ssl.methods.moco import MoCo
from vimix_ssl.ssl import distributed as dist
from vimix_ssl.ssl.distributed import resolve_device  # noqa: F401  (build.resolve_device for callers)

SKELETON_LOADER_DEFAULTS = {"batch_size": 128, "num_workers": 4}  # peer: CrosSCLR batch 128


# -- models -------------------------------------------------------------------------------------
def build_moco(config: ModalityConfig) -> MoCo:
    """Encoder from the registry, projection head ``feature_dim → head_hidden → ReLU → dim``, queue."""
    from vimix_ssl.models.heads import ProjectionHead
    from vimix_ssl.models.registry import build_encoder

    encoder = build_encoder(config.encoder, **config.encoder_kwargs)
    head = ProjectionHead(encoder.feature_dim, config.head_hidden, config.dim)
    return MoCo(encoder, head, dim=config.dim, queue_size=config.queue_size, momentum=config.momentum,
                temperature=config.temperature, shuffle_bn=config.shuffle_bn)


def build_mocos(config: PretrainConfig, global_batch: int | None = None) -> nn.ModuleDict:
    """One ``MoCo`` per modality; with ``global_batch`` the queue sizes are checked against it."""
    mocos = nn.ModuleDict()
    for modality, modality_config in config.modalities.items():
        if global_batch is not None and modality_config.queue_size % global_batch != 0:
            raise ConfigError(
                f"modalities.{modality}.queue_size {modality_config.queue_size} must be a multiple of the "
                f"global batch size {global_batch} (data.batch_size {batch_size(config)} x "
                f"{dist.world_size()} process(es)); keys are enqueued a whole batch at a time")
        mocos[modality] = build_moco(modality_config)
    return mocos


# -- data ---------------------------------------------------------------------------------------
def kind_of(config: PretrainConfig) -> str:
    return data_kind(next(iter(config.modalities)))


def data_config(config: PretrainConfig) -> Any:
    """The typed data config (``VideoDataConfig`` or ``SkeletonDataConfig``), validated."""
    data = dict(config.data)
    if kind_of(config) == "skeleton":
        from vimix_ssl.data.skeleton.dataset import SkeletonDataConfig

        for key in SKELETON_LOADER_DEFAULTS:
            data.pop(key, None)
        try:
            return from_dict(SkeletonDataConfig, data)
        except ConfigError as e:
            raise ConfigError(f"data: {e}") from e
    from vimix_ssl.data.config import VideoDataConfig

    try:
        typed = from_dict(VideoDataConfig, data)
    except ConfigError as e:
        raise ConfigError(f"data: {e}") from e
    typed.validate()
    return typed


def batch_size(config: PretrainConfig) -> int:
    """Per-process batch size."""
    if kind_of(config) == "skeleton":
        return int(config.data.get("batch_size", SKELETON_LOADER_DEFAULTS["batch_size"]))
    return data_config(config).batch_size


def num_workers(config: PretrainConfig) -> int:
    if kind_of(config) == "skeleton":
        return int(config.data.get("num_workers", SKELETON_LOADER_DEFAULTS["num_workers"]))
    return data_config(config).num_workers


def _video_sources(config: PretrainConfig, data: Any, modalities: Sequence[str]) -> dict[str, Any]:
    from vimix_ssl.data.datasets import build_sources
    from vimix_ssl.data.flow_store import FlowStoreSource

    sources: dict[str, Any] = {}
    for modality in modalities:
        if modality == "rgb":
            sources["rgb"] = build_sources(data)["rgb"]
        elif modality == "flow":
            flow = config.modalities["flow"]
            if not flow.store:
                raise ConfigError("modalities.flow.store: the flow store folder is required "
                                  "(create it with `vimix prepare flow`)")
            # METHOD §4: the flow S3D takes 3 channels (dx, dy, constant 0), S3D's default; 2 = (dx, dy)
            channels = int(flow.encoder_kwargs.get("in_channels", 3))
            if channels not in (2, 3):
                raise ConfigError(f"modalities.flow.encoder_kwargs.in_channels: expected 3 (dx, dy, "
                                  f"constant; METHOD §4) or 2 (dx, dy), got {channels}")
            sources["flow"] = FlowStoreSource(flow.store, units=flow.flow_units, channels=channels)
    return sources


def build_dataset(config: PretrainConfig, modalities: Sequence[str], split: str = "train",
                  train: bool = True, eval_windows: str | None = None) -> Any:
    """The dataset of ``split`` returning ``modalities`` (two views each when ``train``)."""
    data = data_config(config)
    if kind_of(config) == "skeleton":
        import dataclasses

        from vimix_ssl.data.skeleton.dataset import SkeletonDataset

        return SkeletonDataset(dataclasses.replace(data, streams=list(modalities)), split=split, train=train)
    from vimix_ssl.data.datasets import VideoDataset
    from vimix_ssl.data.splits import load_video_list

    videos = load_video_list(data.dataset, data.root, data.splits or None, data.split, split)
    return VideoDataset(
        videos, _video_sources(config, data, modalities), train=train, clip_len=data.clip_len,
        stride=data.stride, views=data.views, size=data.size, pad_mode=data.pad_mode,
        eval_windows=eval_windows or data.eval_windows, eval_window_stride=data.eval_window_stride,
        crop_area=data.augment.crop_area, crop_aspect=data.augment.crop_aspect,
        flip_probability=data.augment.flip_probability, strict=data.strict,
        scale_jitter=data.augment.scale_jitter,
        seed=config.seed * 1009)  # per sample: (seed, epoch, index), the same draws whatever the world size


def build_train_loader(config: PretrainConfig, modalities: Sequence[str],
                       device: torch.device) -> dist.EpochLoader:
    """Two-view training batches, sharded across processes, resumable mid-epoch."""
    from vimix_ssl.utils.threads import configure_threads, loader_workers

    threads = configure_threads()  # from the cores this process may use (affinity, cgroup, VIMIX_THREADS)
    dataset = build_dataset(config, modalities, "train", train=True)
    if kind_of(config) == "video":  # a small split: decoded once, batches drawn on the device
        from vimix_ssl.data import memory_cache

        data = data_config(config)
        loader = (memory_cache.memory_loader(dataset, data, config.seed, device)
                  if data.augment.scale_jitter is None else None)  # device crops: resized crop only
        if loader is not None:
            return loader
    return dist.EpochLoader(dataset, batch_size(config), seed=config.seed,
                            num_workers=loader_workers(num_workers(config), threads),
                            pin_memory=device.type == "cuda")


def build_batch_transforms(config: PretrainConfig, modalities: Sequence[str],
                           device: torch.device) -> dict[str, Callable[[Tensor], Tensor]]:
    """Per-modality on-device view transforms: RGB uint8 -> batched photometric augmentation + normalisation.

    With ``photometric: false`` RGB is only normalised. Other modalities arrive as float and
    pass unchanged.
    """
    transforms: dict[str, Callable[[Tensor], Tensor]] = {}
    for modality in modalities:
        enabled = config.modalities[modality].photometric
        if modality != "rgb":
            if enabled:
                raise ConfigError(f"modalities.{modality}.photometric: colour augmentation is for rgb only")
            continue
        photometric = data_config(config).augment.photometric().to(device)
        transforms[modality] = photometric.train(enabled is None or enabled)
    return transforms


def build_eval_prepare(config: PretrainConfig, modality: str,
                       device: torch.device) -> Callable[[Tensor], Tensor] | None:
    """Evaluation-time input preparation: normalisation only for RGB (photometric module in eval mode)."""
    if modality != "rgb":
        return None
    return data_config(config).augment.photometric().to(device).eval()


def build_knn_monitor(config: PretrainConfig, knn: KnnMonitorConfig, mocos: nn.ModuleDict, modality: str,
                      device: torch.device) -> Callable[[int], dict[str, float]]:
    """A callable ``monitor(epoch) -> {"knn_acc": ...}`` on the held-out split (main process only)."""
    from vimix_ssl.eval.knn import encode_dataset, knn_accuracy

    windows = {"eval_windows": "centre"} if kind_of(config) == "video" else {}
    memory = build_dataset(config, [modality], knn.memory_split, train=False, **windows)
    queries = build_dataset(config, [modality], knn.query_split, train=False, **windows)
    if knn.max_videos:
        memory = _first(memory, knn.max_videos)
        queries = _first(queries, knn.max_videos)
    prepare = build_eval_prepare(config, modality, device)

    def monitor(epoch: int) -> dict[str, float]:
        if not dist.is_main_process():
            return {}
        encoder = mocos[modality].encoder_q
        train_x, train_y = encode_dataset(encoder, memory, modality, device, prepare, knn.batch_size)
        test_x, test_y = encode_dataset(encoder, queries, modality, device, prepare, knn.batch_size)
        return {"knn_acc": knn_accuracy(train_x, train_y, test_x, test_y, knn.k, knn.temperature)}

    return monitor


def _first(dataset: Any, count: int) -> Any:
    if len(dataset) <= count:
        return dataset
    # an evenly spread subset keeps every class represented
    indices = torch.linspace(0, len(dataset) - 1, count).round().long().unique().tolist()
    return torch.utils.data.Subset(dataset, indices)
