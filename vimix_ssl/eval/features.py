"""Deterministic per-video features shared by every evaluator (METHOD §7).

A video's feature is the mean of its L2-normalised *clip* features, one clip per dense
evaluation window (and per horizontal flip when ``flip`` is on); with
``normalise_clips: false`` the raw pooled clip features are averaged instead (CoCLR's
``feature.mean(0)``; CrosSCLR's raw features for the skeleton probe). Features are the pooled
backbone output (``encoder(x)``, 1024-d S3D / 256-d ST-GCN), never the projection head:
the encoder files and checkpoint entries this module loads hold backbones only.

Determinism: encoder in eval mode, no gradient, the dataset in evaluation mode (fixed
windows, centre crop, no jitter), a fixed order (no shuffling), and deterministic kernels
requested from torch. Features are cached on disk, keyed by the encoder file's SHA-256,
the modality, a hash of the whole protocol (dataset config, split, flip, exclusions, ...)
and a fingerprint of every source file (size, mtime and a hash of sampled blocks, see
:func:`file_fingerprint`), so replacing a video invalidates the cache.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from vimix_ssl.ssl.distributed import resolve_device
from vimix_ssl.utils.io import atomic_open, file_sha256
from vimix_ssl.utils.io import file_fingerprint as io_file_fingerprint

CACHE_FORMAT = 1  # bump when the cached layout or the extraction maths change


@dataclass
class FeatureConfig:
    """How features are extracted; recorded with every result and part of the cache key."""

    flip: bool = False  # also encode the horizontally flipped clip; average with the original
    normalise_clips: bool = True  # L2-normalise clip features before averaging; false = raw (CoCLR/CrosSCLR)
    videos_per_batch: int = 4  # videos collated per loader batch (all their clips together)
    clips_per_forward: int = 32  # max clips per encoder call (memory bound)
    workers: int = 0  # data-loader worker processes
    device: str = "auto"  # auto = cuda if available, else cpu
    cache: bool = True  # keep features on disk, keyed by encoder SHA-256 + protocol
    cache_dir: str = ""  # "" = <run directory>/feature_cache


@dataclass
class LoadedEncoder:
    """An evaluation encoder plus where it came from (recorded with results)."""

    encoder: nn.Module
    modality: str | None
    path: str
    sha256: str
    kind: str  # "exported" or "checkpoint"
    name: str | None = None  # registry name, when known
    kwargs: dict[str, Any] = field(default_factory=dict)
    inputs: dict[str, Any] | None = None  # input record (vimix_ssl.data.inputs); None: not recorded

    def describe(self) -> dict[str, Any]:
        return {"path": self.path, "sha256": self.sha256, "kind": self.kind,
                "modality": self.modality, "name": self.name, "kwargs": self.kwargs, "inputs": self.inputs}


def load_eval_encoder(path: str | Path, modality: str | None = None,
                      map_location: str | torch.device = "cpu") -> LoadedEncoder:
    """Load a backbone from an exported encoder file or a training checkpoint (+ modality).

    A training checkpoint holds ``encoders: {modality: {name, kwargs, state_dict}}``; the
    encoder is rebuilt from the registry and loaded strictly. Errors name the file, the
    modality asked for and what the file holds.
    """
    from vimix_ssl.models.export import load_encoder, weights_mismatch
    from vimix_ssl.models.registry import build_encoder
    from vimix_ssl.utils.checkpoint import (
        TRAIN_FORMAT,
        CheckpointError,
        CheckpointNotFoundError,
        check_training_payload,
        load_checkpoint,
    )

    path = Path(path)
    if not path.is_file():
        raise CheckpointNotFoundError(f"encoder file not found: {path} (expected an encoder file from "
                                      "`vimix export` or a training checkpoint)")
    payload = load_checkpoint(path, map_location="cpu")
    digest = file_sha256(path)
    if payload.get("format") != TRAIN_FORMAT:  # an exported encoder file (load_encoder checks it)
        encoder = load_encoder(path, map_location=map_location, expected_modality=modality)
        return LoadedEncoder(encoder.eval(), payload.get("modality"), str(path), digest, "exported",
                             payload.get("name"), dict(payload.get("kwargs", {})), payload.get("inputs"))
    check_training_payload(payload, path)
    encoders = payload["encoders"]
    if modality is None:
        if len(encoders) != 1:
            raise CheckpointError(f"{path}: training checkpoint holds encoders for {sorted(encoders)}; "
                                  "choose one with --modality")
        modality = next(iter(encoders))
    if modality not in encoders:
        raise CheckpointError(f"{path}: training checkpoint has no {modality!r} encoder; "
                              f"it holds {sorted(encoders) or 'none'}")
    entry = encoders[modality]
    mismatch = weights_mismatch(entry["name"], entry["kwargs"], entry["state_dict"])
    if mismatch:
        raise CheckpointError(f"{path}: encoders[{modality!r}]: {mismatch}")
    encoder = build_encoder(entry["name"], **entry["kwargs"])
    encoder.load_state_dict(entry["state_dict"], strict=True)
    encoder.to(map_location)
    return LoadedEncoder(encoder.eval(), modality, str(path), digest, "checkpoint",
                         entry["name"], dict(entry["kwargs"]), entry.get("inputs"))


def l2_normalise(x: Tensor) -> Tensor:
    return nn.functional.normalize(x, dim=1)


def average_per_video(values: Tensor, counts: Tensor | Sequence[int], normalise: bool = True) -> Tensor:
    """``(N_total, D)`` rows grouped by ``counts`` ``(V,)`` -> per-group mean ``(V, D)``.

    With ``normalise`` each row is L2-normalised before averaging (clip features);
    without, rows are averaged as given (softmax scores).
    """
    counts = torch.as_tensor(counts, dtype=torch.long)
    if int(counts.sum()) != values.shape[0] or bool((counts < 1).any()):
        raise ValueError(f"counts {counts.tolist()} do not partition {values.shape[0]} rows")
    rows = l2_normalise(values) if normalise else values
    group = torch.repeat_interleave(torch.arange(len(counts)), counts).to(values.device)
    sums = torch.zeros(len(counts), values.shape[1], dtype=values.dtype, device=values.device)
    sums.index_add_(0, group, rows)
    return sums / counts.to(values.device, values.dtype)[:, None]


def horizontal_flip(clips: Tensor, flow: bool = False) -> Tensor:
    """Mirror ``(..., C, T, H, W)`` along W; for flow fields also negate dx (channel 0)."""
    flipped = torch.flip(clips, dims=[-1])
    if flow:
        flipped[..., 0, :, :, :] = -flipped[..., 0, :, :, :]
    return flipped


def with_flips(clips: Tensor, flow: bool = False) -> Tensor:
    """``(N, C, T, H, W)`` -> ``(2N, C, T, H, W)``: each clip followed by its mirror image."""
    flipped = horizontal_flip(clips, flow)
    return torch.stack([clips, flipped], dim=1).flatten(0, 1)


@torch.no_grad()
def encode_clips(encoder: nn.Module, clips: Tensor, chunk: int) -> Tensor:
    """``(N, ...)`` inputs -> ``(N, D)`` float32 pooled features, ``chunk`` clips per call."""
    parts = [encoder(clips[i:i + chunk]).float() for i in range(0, clips.shape[0], chunk)]
    return torch.cat(parts, dim=0)


def collate_eval(samples: list[dict[str, Any]], modality: str) -> dict[str, Any]:
    """Evaluation samples -> all their clips concatenated ``(N_total, ...)`` plus ``counts``."""
    clips, counts = [], []
    for sample in samples:
        if modality not in sample:
            raise KeyError(f"dataset sample has no {modality!r} entry; keys: {sorted(sample)}")
        x = sample[modality]
        if isinstance(x, (list, tuple)):
            raise ValueError(f"sample {sample.get('video_id')!r} holds {len(x)} training views; "
                             "evaluation needs the dataset in evaluation mode (one tensor per video)")
        x = torch.as_tensor(x)
        if x.dim() == 4:  # one window (C, T, H, W) / skeleton (C, T, V, M)
            x = x.unsqueeze(0)
        elif x.dim() != 5:
            raise ValueError(f"sample {sample.get('video_id')!r}: {modality} has shape {tuple(x.shape)}; "
                             "expected (C, T, H, W) or dense windows (N_clips, C, T, H, W)")
        clips.append(x)
        counts.append(x.shape[0])
    return {"clips": torch.cat(clips, 0), "counts": torch.tensor(counts),
            "label": torch.tensor([int(s["label"]) for s in samples]),
            "index": torch.tensor([int(s["index"]) for s in samples]),
            "video_id": [str(s["video_id"]) for s in samples]}


@dataclass
class FeatureSet:
    """Per-video features of one split, in dataset order."""

    features: Tensor  # (V, D) float32: mean of the clip features
    labels: Tensor  # (V,) int64
    indices: Tensor  # (V,) int64 dataset positions
    video_ids: list[str]
    clip_features: Tensor  # (N_total, D) clip (and flip) features, L2-normalised unless normalise_clips off
    clip_counts: Tensor  # (V,) clips (× flips) per video

    def save(self, path: str | Path) -> None:
        """Atomic ``.npz`` write."""
        with atomic_open(path, "wb") as f:
            np.savez(f, features=self.features.numpy(), labels=self.labels.numpy(),
                     indices=self.indices.numpy(), video_ids=np.array(self.video_ids, dtype=str),
                     clip_features=self.clip_features.numpy(), clip_counts=self.clip_counts.numpy())

    @classmethod
    def load(cls, path: str | Path) -> FeatureSet:
        with np.load(path, allow_pickle=False) as data:
            return cls(torch.from_numpy(data["features"]), torch.from_numpy(data["labels"]),
                       torch.from_numpy(data["indices"]), [str(v) for v in data["video_ids"]],
                       torch.from_numpy(data["clip_features"]), torch.from_numpy(data["clip_counts"]))


Prepare = Callable[[Tensor], Tensor]  # raw clips from the dataset -> encoder input (float)


def extract_features(encoder: nn.Module, dataset: Any, modality: str, config: FeatureConfig,
                     prepare: Prepare | None = None, desc: str = "features") -> FeatureSet:
    """Encode every video of ``dataset`` (evaluation mode) in order -> :class:`FeatureSet`."""
    from vimix_ssl.utils.logging import progress
    from vimix_ssl.utils.seed import deterministic_algorithms

    device = resolve_device(config.device)
    encoder = encoder.to(device).eval()
    loader = torch.utils.data.DataLoader(
        dataset, batch_size=config.videos_per_batch, shuffle=False, num_workers=config.workers,
        collate_fn=functools.partial(collate_eval, modality=modality))
    feats, clip_feats, counts, labels, indices, ids = [], [], [], [], [], []
    bar = progress(total=len(dataset), desc=desc, unit="video")
    with deterministic_algorithms(), torch.no_grad():
        for batch in loader:
            clips = batch["clips"].to(device)  # (N_total, C, T, H, W) or (N_total, C, T, V, M)
            if prepare is not None:
                clips = prepare(clips)
            views = 2 if config.flip else 1
            if config.flip:
                if modality not in ("rgb", "flow"):
                    raise ValueError(f"features.flip applies to video, not to {modality!r}")
                clips = with_flips(clips, flow=modality == "flow")
            clip_features = encode_clips(encoder, clips, config.clips_per_forward)  # (N_total, D)
            if config.normalise_clips:
                clip_features = l2_normalise(clip_features)
            clip_features = clip_features.cpu()
            video_counts = batch["counts"] * views
            feats.append(average_per_video(clip_features, video_counts, normalise=False))
            clip_feats.append(clip_features)
            counts.append(video_counts)
            labels.append(batch["label"])
            indices.append(batch["index"])
            ids.extend(batch["video_id"])
            bar.update(len(batch["video_id"]))
    bar.close()
    if not feats:
        raise ValueError(f"{desc}: the dataset is empty (0 videos)")
    return FeatureSet(torch.cat(feats), torch.cat(labels), torch.cat(indices), ids,
                      torch.cat(clip_feats), torch.cat(counts))


FINGERPRINT_BLOCK = 16 * 1024  # bytes hashed at the start, middle and end of a file


def file_fingerprint(path: str | Path) -> list[Any]:
    """``[size, mtime_ns, hash of three sampled blocks]`` of a file; ``["missing"]`` if absent.

    Size and mtime catch almost every replacement; the block hash (``utils.io.file_fingerprint``
    with the middle block) catches a same-size replacement whose mtime was preserved (``cp -p``,
    ``rsync -t``). Reading 48 KiB per file keeps it cheap next to decoding the video.
    """
    try:
        fingerprint = io_file_fingerprint(path, FINGERPRINT_BLOCK, middle=True)
    except FileNotFoundError:
        return ["missing"]
    return [fingerprint["size"], fingerprint["mtime_ns"], fingerprint["sha256_ends"][:32]]


def sources_fingerprint(dataset: Any) -> str | None:
    """One hash over every source file of every video of ``dataset`` (``None``: not file-backed).

    Video datasets expose ``source_files(video_id)``; skeleton datasets their array files.
    """
    digest = hashlib.sha256()
    if hasattr(dataset, "source_files") and hasattr(dataset, "videos"):
        for entry in dataset.videos.entries:
            for path in dataset.source_files(entry.video_id):
                digest.update(json.dumps([entry.video_id, path, file_fingerprint(path)]).encode())
        return digest.hexdigest()[:32]
    files = [getattr(dataset, name, None) for name in ("data_path", "label_path")]
    files = [f for f in files if f is not None]
    if not files:
        return None
    for path in files:
        digest.update(json.dumps([str(path), file_fingerprint(path)]).encode())
    return digest.hexdigest()[:32]


def protocol_hash(protocol: dict[str, Any]) -> str:
    """Stable short hash of a JSON-serialisable protocol description."""
    text = json.dumps(protocol, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def cached_features(source: LoadedEncoder, dataset: Any, modality: str, config: FeatureConfig,
                    protocol: dict[str, Any], prepare: Prepare | None = None,
                    desc: str = "features") -> tuple[FeatureSet, dict[str, Any]]:
    """Features from the cache when present, else extracted and cached (atomic write).

    ``protocol`` describes the data side (dataset config, split, exclusions); the key also
    covers the encoder file's SHA-256, the modality, the feature settings that change a
    feature, the source files' fingerprints and :data:`CACHE_FORMAT`. Returns the features and
    a record ``{"cache": path or None, "hit": bool, "key": ..., "sources": fingerprint}``.
    """
    fingerprint = sources_fingerprint(dataset)
    full = {"format": CACHE_FORMAT, "encoder_sha256": source.sha256, "modality": modality,
            "flip": config.flip, "normalise_clips": config.normalise_clips, "data": protocol,
            "sources": fingerprint}
    key = protocol_hash(full)
    if not config.cache or not config.cache_dir:
        features = extract_features(source.encoder, dataset, modality, config, prepare, desc)
        return features, {"cache": None, "hit": False, "key": key, "sources": fingerprint}
    path = Path(config.cache_dir) / f"{source.sha256[:16]}_{modality}_{key}.npz"
    if path.is_file():
        return FeatureSet.load(path), {"cache": str(path), "hit": True, "key": key, "sources": fingerprint}
    features = extract_features(source.encoder, dataset, modality, config, prepare, desc)
    features.save(path)
    return features, {"cache": str(path), "hit": False, "key": key, "sources": fingerprint}
