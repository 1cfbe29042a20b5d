"""Dataset over arrays written by ``vimix prepare ntu`` (or ``vimix synth skeleton`` + prepare).

Training (``train=True``): ``{"joint": [v1, v2], "motion": [v1, v2], "label", "index", "video_id"}``;
each view is an independent temporal crop + shear of the joints, and every requested stream
of view ``i`` is derived from joint view ``i`` (so the modalities of one view agree). Evaluation
(``train=False``): one un-augmented float32 tensor per stream. Tensors are ``(3, T, 25, M)``.
The arrays are opened with ``mmap_mode='r'`` lazily in each worker process.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch

from vimix_ssl.data.skeleton.augment import SHEAR_AMPLITUDE, TEMPORAL_PADDING_RATIO, augment_view
from vimix_ssl.data.skeleton.ntu import BENCHMARKS, NUM_CLASSES, SPLITS, benchmark_classes
from vimix_ssl.data.skeleton.prepare import MANIFEST_FORMAT, MANIFEST_NAME
from vimix_ssl.data.skeleton.streams import STREAMS, compute_stream


@dataclass
class SkeletonDataConfig:
    root: str = ""  # folder written by `vimix prepare ntu` (holds manifest.json)
    dataset: Literal["ntu60", "ntu120"] = "ntu60"  # fixes the class count (60 / 120), whatever was prepared
    benchmark: Literal["xsub", "xview"] = "xsub"
    arrays: Literal["frame50", "data"] = "frame50"  # frame50 (METHOD §5) or raw zero-padded T frames
    streams: list[str] = field(default_factory=lambda: ["joint", "motion"])  # of joint, motion, bone
    views: int = 2  # augmented views per sample in training
    shear_amplitude: float = SHEAR_AMPLITUDE  # 0 disables shear
    temporal_padding_ratio: int = TEMPORAL_PADDING_RATIO  # mirror-pad T // ratio frames; 0 disables
    mmap: bool = True  # np.load(mmap_mode='r'); False loads the split into memory


def load_manifest(root: str | Path) -> dict[str, Any]:
    """The manifest of a prepared skeleton folder, checked for format."""
    path = Path(root) / MANIFEST_NAME
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: prepare the folder with "
                                f"`vimix prepare ntu RAW_DIR {root}`")
    with open(path, encoding="utf-8") as f:
        manifest = json.load(f)
    if manifest.get("format") != MANIFEST_FORMAT:
        raise ValueError(f"{path}: format {manifest.get('format')!r}, expected {MANIFEST_FORMAT!r}")
    return manifest


class SkeletonDataset(torch.utils.data.Dataset):
    """One benchmark split of a prepared skeleton folder."""

    def __init__(self, config: SkeletonDataConfig, split: Literal["train", "test"] = "train",
                 train: bool = True) -> None:
        if config.benchmark not in BENCHMARKS:
            raise ValueError(f"benchmark must be one of {BENCHMARKS}, got {config.benchmark!r}")
        if split not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
        unknown = [s for s in config.streams if s not in STREAMS]
        if unknown or not config.streams:
            raise ValueError(f"streams must be a non-empty subset of {STREAMS}, got {config.streams}")
        if config.arrays not in ("frame50", "data"):
            raise ValueError(f"arrays must be 'frame50' or 'data', got {config.arrays!r}")
        if train and config.views < 1:
            raise ValueError(f"views must be >= 1 for training, got {config.views}")
        self.config, self.split, self.train = config, split, train
        self.root = Path(config.root)
        self.manifest = load_manifest(self.root)
        entry = self.manifest["benchmarks"][config.benchmark][split]
        self.data_path = self.root / entry[config.arrays]
        self.label_path = self.root / entry["label"]
        self.labels = np.load(self.label_path)  # (N,) int64
        self.names = (self.root / entry["names"]).read_text(encoding="utf-8").split()
        self.num_classes = benchmark_classes(config.dataset)
        prepared_for = self.manifest.get("dataset")
        if prepared_for in NUM_CLASSES and prepared_for != config.dataset:
            raise ValueError(f"{self.root}: prepared for {prepared_for}, but skeleton.dataset is "
                             f"{config.dataset!r}")
        if len(self.labels) and int(self.labels.max()) >= self.num_classes:
            worst = int(self.labels.argmax())
            name = self.names[worst] if worst < len(self.names) else worst
            raise ValueError(f"{self.label_path}: sample {name} "
                             f"has action A{int(self.labels.max()) + 1:03d}, outside {config.dataset}'s "
                             f"{self.num_classes} classes; set skeleton.dataset=ntu120 or prepare an "
                             "NTU-60 folder (`vimix prepare ntu` filters NTU-120 actions)")
        if len(self.names) != len(self.labels):
            raise ValueError(f"{self.root / entry['names']}: {len(self.names)} names for "
                             f"{len(self.labels)} labels")
        self._data: np.ndarray | None = None

    @property
    def data(self) -> np.ndarray:
        """(N, 3, T, 25, M) float32, memory-mapped read-only (opened on first use per process)."""
        if self._data is None:
            self._data = np.load(self.data_path, mmap_mode="r" if self.config.mmap else None)
            if self._data.shape[0] != len(self.labels):
                raise ValueError(f"{self.data_path}: {self._data.shape[0]} samples for "
                                 f"{len(self.labels)} labels")
        return self._data

    def __getstate__(self) -> dict[str, Any]:  # never pickle the mapped array into workers
        state = dict(self.__dict__)
        state["_data"] = None
        return state

    def __len__(self) -> int:
        return len(self.labels)

    def streams_of(self, joints: np.ndarray) -> dict[str, torch.Tensor]:
        """Every requested stream of one (3, T, 25, M) joint array, as float32 tensors."""
        return {s: torch.from_numpy(np.ascontiguousarray(compute_stream(joints, s), dtype=np.float32))
                for s in self.config.streams}

    def __getitem__(self, index: int) -> dict[str, Any]:
        sample = np.array(self.data[index], dtype=np.float32)  # (3, T, 25, M)
        item: dict[str, Any] = {"label": int(self.labels[index]), "index": int(index),
                                "video_id": self.names[index]}
        if not self.train:
            item.update(self.streams_of(sample))
            return item
        # torch's RNG is seeded per DataLoader worker, so views are reproducible under torch.manual_seed
        rng = np.random.default_rng(int(torch.randint(0, 2**62, ())))
        views = [self.streams_of(augment_view(sample, self.config.shear_amplitude,
                                              self.config.temporal_padding_ratio, rng))
                 for _ in range(self.config.views)]
        for stream in self.config.streams:
            item[stream] = [view[stream] for view in views]
        return item
