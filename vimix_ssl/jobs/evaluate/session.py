"""The evaluation job behind every ``vimix eval ...`` command.

:class:`EvalConfig` is the one schema every evaluation reads (a YAML in ``configs/eval/`` plus
``key=value`` overrides); :func:`build_split` turns it into the datasets of a split and
:func:`split_features` into the cached per-video features of the train and test splits;
:func:`start_session` loads the encoder and resolves the output folder for a command.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Literal

from vimix_ssl.data.config import VideoDataConfig
from vimix_ssl.data.skeleton.dataset import SkeletonDataConfig
from vimix_ssl.eval.features import FeatureConfig, FeatureSet, LoadedEncoder, Prepare, cached_features
from vimix_ssl.eval.finetune import FinetuneConfig
from vimix_ssl.eval.linear import LinearProbeConfig
from vimix_ssl.eval.retrieval import RetrievalConfig
from vimix_ssl.modalities import SKELETON_MODALITIES, VIDEO_MODALITIES, modality_kind  # noqa: F401


def _skeleton_probe() -> LinearProbeConfig:
    # peer: CrosSCLR linear evaluation — plain Linear, SGD lr 3.0, wd 0, 100 epochs, ×0.1 at 80
    return LinearProbeConfig(head="linear", epochs=100, batch_size=128, lr=3.0, momentum=0.9,
                             weight_decay=0.0, milestones=[80], gamma=0.1)


@dataclass
class KnnConfig:
    k: int = 200  # neighbours (peer: InstDisc / MoCo monitor)
    temperature: float | None = 0.07  # exp(sim / t) vote weights; null = majority vote


@dataclass
class EvalConfig:
    """Everything that defines an evaluation; saved in full with every result."""

    data: VideoDataConfig = field(default_factory=VideoDataConfig)  # eval windows: data.eval_*
    flow_store: str = ""  # flow store (`vimix prepare flow`) for modality flow
    flow_units: Literal["pixels", "normalized"] = "pixels"
    skeleton: SkeletonDataConfig = field(default_factory=SkeletonDataConfig)
    features: FeatureConfig = field(default_factory=FeatureConfig)
    retrieval: RetrievalConfig = field(default_factory=RetrievalConfig)
    probe: LinearProbeConfig = field(default_factory=LinearProbeConfig)
    probe_mode: Literal["cached", "end_to_end"] = "cached"  # end_to_end: augmented clips each epoch
    probe_end_to_end_lr: float = 0.1  # peer lr when the probe sees augmented clips (batch data.batch_size)
    skeleton_probe: LinearProbeConfig = field(default_factory=_skeleton_probe)
    finetune: FinetuneConfig = field(default_factory=FinetuneConfig)
    knn: KnnConfig = field(default_factory=KnnConfig)

    def validate(self) -> None:
        self.data.validate()
        self.retrieval.validate()
        self.probe.validate()
        self.skeleton_probe.validate()
        self.finetune.validate()


def input_channels(encoder: Any) -> int:
    """The encoder's input channel count (3 for RGB-shaped flow encoders), 0 if unknown."""
    return int(getattr(encoder, "in_channels", 0) or 0)


def build_split(config: EvalConfig, modality: str, split: str, train: bool = False,
                encoder: Any = None, size: int | None = None) -> Any:
    """The ``split`` ('train' / 'test') dataset for ``modality``; evaluation mode unless ``train``."""
    if modality_kind(modality) == "skeleton":
        from vimix_ssl.data.skeleton.dataset import SkeletonDataset

        skeleton = dataclasses.replace(config.skeleton, streams=[modality])
        return SkeletonDataset(skeleton, split, train=train)
    from vimix_ssl.data.datasets import build_video_dataset

    data = config.data if size is None else dataclasses.replace(config.data, size=size)
    if train:
        data = dataclasses.replace(data, views=1)
    extra = {}
    if modality == "flow":
        if not config.flow_store:
            raise ValueError("modality flow needs flow_store=<folder written by `vimix prepare flow`>")
        from vimix_ssl.data.flow_store import FlowStoreSource

        channels = 3 if input_channels(encoder) == 3 else 2
        extra["flow"] = FlowStoreSource(config.flow_store, units=config.flow_units, channels=channels)
    return build_video_dataset(data, split, train=train, extra_sources=extra, seed=None)


def input_preparer(config: EvalConfig, modality: str) -> Prepare | None:
    """Loader clips -> encoder input: RGB uint8 -> float normalised (``data.augment.mean/std``)."""
    if modality != "rgb":
        return None  # flow comes dequantised as float32; skeleton streams are float32
    normalise = config.data.augment.photometric().eval()  # eval(): normalisation only

    def prepare(clips: Any) -> Any:
        return normalise(clips)

    return prepare


def data_protocol(config: EvalConfig, modality: str, split: str) -> dict[str, Any]:
    """The data side of the feature-cache key and of the recorded protocol."""
    from vimix_ssl.config import to_dict

    if modality_kind(modality) == "skeleton":
        skeleton = to_dict(config.skeleton)
        skeleton.update(streams=[modality], views=None, shear_amplitude=None, temporal_padding_ratio=None)
        return {"skeleton": skeleton, "split": split}
    data = to_dict(config.data)
    for key in ("views", "batch_size", "num_workers", "augment", "strict"):
        data.pop(key, None)  # training-only or not affecting evaluation features
    data["normalise"] = {"mean": list(config.data.augment.mean), "std": list(config.data.augment.std)}
    if modality == "flow":
        data.update(flow_store=config.flow_store, flow_units=config.flow_units)
    return {"video": data, "split": split}


def split_features(config: EvalConfig, source: LoadedEncoder, modality: str,
                   splits: tuple[str, ...] = ("train", "test"),
                   ) -> tuple[dict[str, FeatureSet], dict[str, Any]]:
    """Cached per-video features of each split -> ``({split: FeatureSet}, {split: cache record})``."""
    features, records = {}, {}
    for split in splits:
        dataset = build_split(config, modality, split, encoder=source.encoder)
        features[split], records[split] = cached_features(
            source, dataset, modality, config.features, data_protocol(config, modality, split),
            input_preparer(config, modality), desc=f"{modality} {split} features")
    return features, records


def class_names_of(dataset: Any) -> list[str]:
    names = getattr(dataset, "class_names", None)
    if names:
        return list(names)
    count = getattr(dataset, "num_classes", None)
    return [str(i) for i in range(count)] if count else []


# -- shared command-line plumbing of `vimix eval ...` -------------------------------------


@dataclass
class EvalSession:
    config: EvalConfig
    source: LoadedEncoder | None
    modality: str
    run_dir: Any  # pathlib.Path
    started: str

    def protocol(self, **extra: Any) -> dict[str, Any]:
        """The resolved config plus evaluator-specific settings, for the result record."""
        from vimix_ssl.config import to_dict

        return {"config": to_dict(self.config), "modality": self.modality, **extra}


def start_session(args: Any, encoder_needed: bool = True) -> EvalSession:
    """Parse config + overrides, load the encoder (clear errors), resolve the cache folder."""
    from pathlib import Path

    from vimix_ssl.config import load_config
    from vimix_ssl.eval.features import load_eval_encoder, resolve_device
    from vimix_ssl.eval.results import now_iso

    config_path, overrides = args.config, list(args.overrides)
    if config_path is not None and "=" in config_path and not Path(config_path).is_file():
        overrides.insert(0, config_path)  # the first token was an override, not a file
        config_path = None
    config = load_config(EvalConfig, config_path, overrides)
    run_dir = Path(args.out)
    if not config.features.cache_dir:
        config.features.cache_dir = str(run_dir / "feature_cache")
    started = now_iso()
    source = None
    modality = args.modality or ""
    if encoder_needed:
        device = resolve_device(config.features.device)
        source = load_eval_encoder(args.encoder, args.modality, map_location=device)
        modality = source.modality or args.modality or ""
        if not modality:
            raise ValueError(f"{args.encoder}: the file does not say its modality; pass --modality")
        modality_kind(modality)
    return EvalSession(config, source, modality, run_dir, started)


def run_command(main: Any, args: Any) -> int:
    """Run a command body, turning expected failures into one clear line on stderr."""
    import sys

    from vimix_ssl.config import ConfigError
    from vimix_ssl.utils.checkpoint import CheckpointError

    try:
        return int(main(args) or 0)
    except (CheckpointError, ConfigError, FileNotFoundError, ValueError, KeyError) as e:
        print(f"vimix eval: {e}", file=sys.stderr)
        return 2


def split_loader(record: dict[str, Any]) -> Any:
    """``load(split)`` rebuilding the RGB dataset a result record was computed on (for report plots)."""
    from vimix_ssl.config import from_dict

    config = from_dict(EvalConfig, record["protocol"]["config"])
    return lambda split: build_split(config, "rgb", split)


def render_report(run_dir: Any) -> Any:
    """``vimix eval report``: the Markdown report with plots, retrieval grids drawn from the datasets."""
    from vimix_ssl.eval.report import render_report as render

    return render(run_dir, split_loader)


def data_label(session: EvalSession) -> str:
    """The dataset and split a result is on, for tables."""
    if modality_kind(session.modality) == "skeleton":
        return f"ntu {session.config.skeleton.benchmark}"
    return f"{session.config.data.dataset} split {session.config.data.split}"
