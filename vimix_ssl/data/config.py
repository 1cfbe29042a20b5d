"""Config schema of the video data layer (``data:`` in an experiment YAML); METHOD §5 defaults."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from vimix_ssl.config import ConfigError

if TYPE_CHECKING:
    from vimix_ssl.data.transforms import BatchPhotometric


@dataclass
class VideoAugmentConfig:
    """Clip-consistent augmentation (peer: CoCLR). Geometry on the CPU, the rest batched."""

    crop_area: tuple[float, float] = (0.2, 1.0)  # random resized crop: fraction of the frame area
    crop_aspect: tuple[float, float] = (3 / 4, 4 / 3)  # random resized crop: width / height range
    flip_probability: float = 0.5  # horizontal flip
    # seed 002 baseline instead of the random resized crop: short side resized to a random
    # length in [low, high] (paper: [160, 200]), then a random `size`² crop; null = off
    scale_jitter: tuple[int, int] | None = None
    brightness: float = 0.4  # colour jitter strengths (factor range 1 +- x; hue: +- x turns)
    contrast: float = 0.4
    saturation: float = 0.4
    hue: float = 0.1
    jitter_probability: float = 0.8
    jitter_random_order: bool = True  # apply the four jitter ops in a random order per clip
    grayscale_probability: float = 0.2
    blur_sigma: tuple[float, float] = (0.1, 2.0)  # Gaussian blur sigma range, pixels of the 128² clip
    blur_probability: float = 0.5
    blur_kernel_size: int = 0  # 0: 2*ceil(3*max sigma)+1
    mean: tuple[float, float, float] = (0.485, 0.456, 0.406)  # normalisation (ImageNet statistics)
    std: tuple[float, float, float] = (0.229, 0.224, 0.225)

    def photometric(self) -> BatchPhotometric:
        """The batched photometric module for the training device."""
        from vimix_ssl.data.transforms import BatchPhotometric

        return BatchPhotometric(
            brightness=self.brightness, contrast=self.contrast, saturation=self.saturation, hue=self.hue,
            jitter_probability=self.jitter_probability, grayscale_probability=self.grayscale_probability,
            blur_sigma=self.blur_sigma, blur_probability=self.blur_probability,
            blur_kernel_size=self.blur_kernel_size, random_order=self.jitter_random_order,
            mean=self.mean, std=self.std)


@dataclass
class VideoDataConfig:
    """Where the videos are, how clips are sampled and loaded."""

    dataset: Literal["ucf101", "hmdb51", "kinetics400", "folder"] = "ucf101"
    root: str = ""  # dataset root: video paths in the annotations are relative to it
    splits: str = ""  # split-file folder or Kinetics CSV; "" = look under root
    label_map: str = ""  # Kinetics: class names one per line (label_map_k400.txt); "" = the train CSV's
    split: int = 1  # UCF101 / HMDB51 split 1, 2 or 3
    store: str = ""  # prepared frame store (`vimix prepare video`); "" = decode raw videos
    decode_short_side: int = 0  # raw videos only: resize on decode to this short side (0: keep)
    count_frames: bool = False  # raw videos only: count frames by decoding, not from the header
    clip_len: int = 32  # frames per window
    stride: int = 1  # temporal stride between a window's frames
    size: int = 128  # output side of the square crop
    views: int = 2  # independent windows per training sample
    pad_mode: Literal["loop", "repeat_last"] = "loop"  # short videos: how frames are repeated
    # evaluation: all windows, the centre one, CoCLR's dense windows (no tail window, left-pad with
    # frame 0; eval/main_classifier.py + dataset/lmdb_dataset.py) or one seeded random window (CoCLR gallery)
    eval_windows: Literal["dense", "centre", "dense_coclr", "random"] = "dense"
    eval_window_stride: int = 15  # dense evaluation: frames between window starts (peer: 15 for 32)
    strict: bool = False  # True: an unreadable video raises; False: reported and substituted
    # training stops when more than this fraction of an epoch's samples were unreadable (and
    # replaced), or of the train split's files are missing; a safety threshold of this toolkit
    max_bad_fraction: float = 0.1
    batch_size: int = 32
    # DataLoader worker processes of the per-sample loader (capped so workers + training threads
    # <= cores); the memory cache samples in the training process and uses none
    num_workers: int = 4
    # training split decoded once into memory and sampled in batches on the training device
    # (data/memory_cache.py): auto = when the decoded frames fit cache_budget_mib; memory; none
    cache: Literal["auto", "memory", "none"] = "auto"
    cache_budget_mib: int = 2048
    augment: VideoAugmentConfig = field(default_factory=VideoAugmentConfig)

    def validate(self) -> None:
        positive = {"clip_len": self.clip_len, "stride": self.stride, "size": self.size, "views": self.views,
                    "eval_window_stride": self.eval_window_stride, "batch_size": self.batch_size}
        for key, value in positive.items():
            if value < 1:
                raise ConfigError(f"data.{key}: must be >= 1, got {value}")
        if self.split not in (1, 2, 3):
            raise ConfigError(f"data.split: must be 1, 2 or 3, got {self.split}")
        if not 0 <= self.max_bad_fraction <= 1:
            raise ConfigError(f"data.max_bad_fraction: must be in [0, 1], got {self.max_bad_fraction}")
        if self.cache_budget_mib < 0:
            raise ConfigError(f"data.cache_budget_mib: must be >= 0, got {self.cache_budget_mib}")
        if self.num_workers < 0 or self.decode_short_side < 0:
            raise ConfigError("data.num_workers and data.decode_short_side must be >= 0, got "
                              f"{self.num_workers} and {self.decode_short_side}")
        area, aspect = self.augment.crop_area, self.augment.crop_aspect
        if not 0 < area[0] <= area[1] <= 1:
            raise ConfigError(f"data.augment.crop_area: expected 0 < low <= high <= 1, got {area}")
        if not 0 < aspect[0] <= aspect[1]:
            raise ConfigError(f"data.augment.crop_aspect: expected 0 < low <= high, got {aspect}")
        if not 0 < self.augment.blur_sigma[0] <= self.augment.blur_sigma[1]:
            raise ConfigError("data.augment.blur_sigma: expected 0 < low <= high, got "
                              f"{self.augment.blur_sigma}")
        jitter = self.augment.scale_jitter
        if jitter is not None:
            if not self.size <= jitter[0] <= jitter[1]:
                raise ConfigError(f"data.augment.scale_jitter: expected data.size ({self.size}) <= low <= "
                                  f"high, got {tuple(jitter)}")
            resized = VideoAugmentConfig()
            if (tuple(area), tuple(aspect)) != (resized.crop_area, resized.crop_aspect):
                raise ConfigError("data.augment.crop_area / crop_aspect: set for the random resized crop, "
                                  "which scale_jitter replaces; leave them at their defaults")
            if self.cache == "memory":
                raise ConfigError("data.cache: memory crops on the device with the random resized crop; "
                                  "use cache: auto or none with data.augment.scale_jitter")
        for key in ("flip_probability", "jitter_probability", "grayscale_probability", "blur_probability"):
            value = getattr(self.augment, key)
            if not 0 <= value <= 1:
                raise ConfigError(f"data.augment.{key}: must be in [0, 1], got {value}")
