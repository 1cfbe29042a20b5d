"""The evaluation job behind every ``vimix eval ...`` command.

:class:`EvalConfig` is the one schema every evaluation reads (a protocol preset, then a YAML in
``configs/eval/``, then ``key=value`` overrides); :func:`build_split` turns it into the datasets
of a split and :func:`split_features` into the cached per-video features of the train and test
splits; :func:`start_session` loads the encoder, takes its recorded inputs (flow units,
normalisation, clip length, frame size) and resolves the output folder for a command.

Nothing is substituted: every listed video must exist (checked before any work, the error lists
the missing ones) and decode; ``unreadable: exclude`` drops the missing and unreadable videos
instead, and the result lists them with the counts.
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

    protocol: str = "clean"  # clean (METHOD §7) | coclr | crossclr (jobs/evaluate/protocols.py)
    data: VideoDataConfig = field(default_factory=VideoDataConfig)  # eval windows: data.eval_*
    flow_store: str = ""  # flow store (`vimix prepare flow`) for modality flow
    # units the flow encoder was trained on; taken from the encoder file when it records them
    flow_units: Literal["pixels", "normalized"] = "pixels"
    force_inputs: bool = False  # evaluate even if explicit settings disagree with the encoder's record
    unreadable: Literal["error", "exclude"] = "error"  # exclude: drop missing/unreadable videos, listed
    min_frames: int = 0  # videos with fewer frames are excluded and listed (coclr: 18; 0 = keep all)
    eval_crop: float = 1.0  # test crop: this fraction of the frame's short side, centred (coclr: 224/256)
    skeleton: SkeletonDataConfig = field(default_factory=SkeletonDataConfig)
    features: FeatureConfig = field(default_factory=FeatureConfig)
    retrieval: RetrievalConfig = field(default_factory=RetrievalConfig)
    probe: LinearProbeConfig = field(default_factory=LinearProbeConfig)
    probe_mode: Literal["cached", "end_to_end"] = "cached"  # end_to_end: augmented clips each epoch
    probe_end_to_end_lr: float = 0.1  # peer lr when the probe sees augmented clips (batch data.batch_size)
    # cached probe: training features from the same windows as the test ("same") or one seeded random
    # window per video ("random"; CoCLR's feature_linear_probe.py reads test_retrieval's train features)
    probe_train_windows: Literal["same", "random"] = "same"
    skeleton_probe: LinearProbeConfig = field(default_factory=_skeleton_probe)
    finetune: FinetuneConfig = field(default_factory=FinetuneConfig)
    knn: KnnConfig = field(default_factory=KnnConfig)

    def validate(self) -> None:
        from vimix_ssl.jobs.evaluate.protocols import protocol_names

        if len(protocol_names(self.protocol)) != 1:
            raise ValueError(f"protocol: one preset per evaluation, got {self.protocol!r} "
                             "(the --protocol option runs several)")
        self.data.validate()
        if not 0 < self.eval_crop <= 1 or self.min_frames < 0:
            raise ValueError(f"eval_crop must be in (0, 1] and min_frames >= 0, got {self.eval_crop}, "
                             f"{self.min_frames}")
        self.retrieval.validate()
        self.probe.validate()
        self.skeleton_probe.validate()
        self.finetune.validate()


def input_channels(encoder: Any) -> int:
    """The encoder's input channel count (3 for RGB-shaped flow encoders), 0 if unknown."""
    return int(getattr(encoder, "in_channels", 0) or 0)


def build_split(config: EvalConfig, modality: str, split: str, train: bool = False,
                encoder: Any = None, size: int | None = None, windows: str | None = None) -> Any:
    """The ``split`` ('train' / 'test') dataset for ``modality``; evaluation mode unless ``train``.

    Video datasets are strict (an unreadable video is an error naming it); ``windows``
    overrides ``data.eval_windows`` (the CoCLR gallery's one random window).
    """
    if modality_kind(modality) == "skeleton":
        from vimix_ssl.data.skeleton.dataset import SkeletonDataset

        skeleton = dataclasses.replace(config.skeleton, streams=[modality])
        return SkeletonDataset(skeleton, split, train=train)
    from vimix_ssl.data.datasets import build_video_dataset

    data = dataclasses.replace(config.data, strict=True)
    if size is not None:
        data = dataclasses.replace(data, size=size)
    if windows is not None:
        data = dataclasses.replace(data, eval_windows=windows)
    if train:
        data = dataclasses.replace(data, views=1)
    extra = {}
    if modality == "flow":
        if not config.flow_store:
            raise ValueError("modality flow needs flow_store=<folder written by `vimix prepare flow`>")
        from vimix_ssl.data.flow_store import FlowStoreSource

        channels = 3 if input_channels(encoder) == 3 else 2
        extra["flow"] = FlowStoreSource(config.flow_store, units=config.flow_units, channels=channels)
    dataset = build_video_dataset(data, split, train=train, extra_sources=extra, seed=None)
    dataset.eval_crop_fraction = config.eval_crop
    return dataset


def input_preparer(config: EvalConfig, modality: str) -> Prepare | None:
    """Loader clips -> encoder input: RGB uint8 -> float normalised (``data.augment.mean/std``)."""
    if modality != "rgb":
        return None  # flow comes dequantised as float32; skeleton streams are float32
    normalise = config.data.augment.photometric().eval()  # eval(): normalisation only

    def prepare(clips: Any) -> Any:
        return normalise(clips)

    return prepare


def screen_split(config: EvalConfig, dataset: Any, split: str) -> dict[str, Any]:
    """Check before any work that every listed video is there (and, to exclude, readable).

    ``unreadable: error``: missing source files are one error listing them (decoding errors
    surface later, naming the video). ``unreadable: exclude``: missing and unreadable videos
    (first and last frame read by every source) are dropped from ``dataset``; the returned
    record lists them: ``{"split", "listed", "excluded": [{video_id, reason}], "kept"}``.
    """
    from pathlib import Path

    if not hasattr(dataset, "source_files"):  # skeleton arrays: checked on load
        return {"split": split, "listed": len(dataset), "excluded": [], "kept": len(dataset)}
    listed = [entry.video_id for entry in dataset.videos.entries]
    missing = {v: f"missing: {path}" for v in listed for path in dataset.source_files(v)
               if not Path(path).is_file()}
    if config.unreadable == "error":
        if missing:
            shown = list(missing.items())[:10]
            more = f" and {len(missing) - 10} more" if len(missing) > 10 else ""
            raise ValueError(f"{len(missing)} of the {len(listed)} {split} videos are missing: "
                             + "; ".join(f"{v} ({r})" for v, r in shown) + more
                             + " — fix the paths (data.root / data.store / flow_store), or set "
                               "unreadable=exclude to evaluate without them (they are listed in the result)")
        short = short_videos(config, dataset, listed)
        dataset.exclude(list(short))
        if listed and not len(dataset):
            raise ValueError(f"all {len(listed)} {split} videos have fewer than "
                             f"min_frames={config.min_frames} frames (e.g. {next(iter(short))}: "
                             f"{next(iter(short.values()))})")
        return {"split": split, "listed": len(listed), "kept": len(dataset),
                "excluded": [{"video_id": v, "reason": r} for v, r in short.items()]}
    from vimix_ssl.data.datasets import scan_videos

    present = [v for v in listed if v not in missing]
    failed = dict(scan_videos(present, dataset.sources, workers=max(1, config.data.num_workers)))
    short = short_videos(config, dataset, [v for v in present if v not in failed])
    excluded = [{"video_id": v, "reason": r} for v, r in {**missing, **failed, **short}.items()]
    dataset.exclude([e["video_id"] for e in excluded])
    if not len(dataset):
        raise ValueError(f"every one of the {len(listed)} {split} videos is missing or unreadable, "
                         f"e.g. {excluded[0]['video_id']} ({excluded[0]['reason']})")
    return {"split": split, "listed": len(listed), "excluded": excluded, "kept": len(dataset)}


def short_videos(config: EvalConfig, dataset: Any, video_ids: list[str]) -> dict[str, str]:
    """``{video_id: reason}`` for videos with fewer than ``config.min_frames`` frames (CoCLR drops them)."""
    if not config.min_frames:
        return {}
    from vimix_ssl.data.datasets import READ_ERRORS, UnreadableVideoError

    counts = {}
    for v in video_ids:
        try:
            counts[v] = dataset.num_frames(v)
        except READ_ERRORS as e:
            raise UnreadableVideoError(v, f"unreadable: {type(e).__name__}: {e}") from e
    return {v: f"{n} frames < min_frames {config.min_frames}" for v, n in counts.items()
            if n < config.min_frames}


def data_protocol(config: EvalConfig, modality: str, split: str,
                  screening: dict[str, Any] | None = None, windows: str | None = None) -> dict[str, Any]:
    """The data side of the feature-cache key and of the recorded protocol."""
    from vimix_ssl.config import to_dict

    if modality_kind(modality) == "skeleton":
        skeleton = to_dict(config.skeleton)
        skeleton.update(streams=[modality], views=None, shear_amplitude=None, temporal_padding_ratio=None)
        return {"skeleton": skeleton, "split": split}
    data = to_dict(config.data)
    for key in ("views", "batch_size", "num_workers", "augment", "strict", "max_bad_fraction", "cache",
                "cache_budget_mib"):
        data.pop(key, None)  # training-only or not affecting evaluation features
    data["normalise"] = {"mean": list(config.data.augment.mean), "std": list(config.data.augment.std)}
    data["strict"] = True  # evaluation never substitutes a sample
    data.update(eval_crop=config.eval_crop, min_frames=config.min_frames)
    if windows is not None:
        data["eval_windows"] = windows
    if modality == "flow":
        data.update(flow_store=config.flow_store, flow_units=config.flow_units)
    excluded = sorted(e["video_id"] for e in (screening or {}).get("excluded", []))
    return {"video": data, "split": split, "unreadable": config.unreadable, "excluded": excluded}


def split_features(config: EvalConfig, source: LoadedEncoder, modality: str,
                   splits: tuple[str, ...] = ("train", "test"), windows: dict[str, str] | None = None,
                   features_config: FeatureConfig | None = None,
                   ) -> tuple[dict[str, FeatureSet], dict[str, Any]]:
    """Cached per-video features of each split -> ``({split: FeatureSet}, {split: cache record})``.

    Every split is screened first (:func:`screen_split`), before any feature is extracted;
    each cache record carries the screening (``"screening"``: listed / excluded / kept).
    ``windows`` maps a split to an ``eval_windows`` override (CoCLR's random gallery window).
    """
    windows = windows or {}
    datasets, screenings = {}, {}
    for split in splits:
        datasets[split] = build_split(config, modality, split, encoder=source.encoder,
                                      windows=windows.get(split))
        screenings[split] = screen_split(config, datasets[split], split)
    features, records = {}, {}
    for split in splits:
        protocol = data_protocol(config, modality, split, screenings[split], windows.get(split))
        features[split], records[split] = cached_features(
            source, datasets[split], modality, features_config or config.features, protocol,
            input_preparer(config, modality), desc=f"{modality} {split} features")
        records[split]["screening"] = screenings[split]
    return features, records


def exclusion_summary(records: dict[str, Any]) -> dict[str, Any]:
    """``{"excluded": {split: [...]}, "counts": {split: {listed, excluded, kept}}}`` for result files."""
    screenings = {split: record["screening"] for split, record in records.items() if "screening" in record}
    return {"excluded": {split: s["excluded"] for split, s in screenings.items()},
            "counts": {split: {"listed": s["listed"], "excluded": len(s["excluded"]), "kept": s["kept"]}
                       for split, s in screenings.items()}}


def check_split_sizes(sizes: dict[str, int], batch_size: int, what: str, batch_key: str) -> None:
    """Refuse an empty split, or a train split smaller than one (drop_last) batch, before training."""
    for split, size in sizes.items():
        if size == 0:
            raise ValueError(f"{what}: the {split} split is empty (0 videos); check data.root / data.splits")
    if sizes.get("train", batch_size) < batch_size:
        raise ValueError(f"{what}: the train split has {sizes['train']} videos, fewer than one batch "
                         f"({batch_key}={batch_size}), so no training step would run; lower {batch_key} "
                         f"(test split: {sizes.get('test', 'n/a')} videos)")


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
    inputs: dict[str, Any] = field(default_factory=dict)  # how the encoder's input record was applied

    def protocol(self, **extra: Any) -> dict[str, Any]:
        """The resolved config plus evaluator-specific settings, for the result record.

        A ``cache`` entry (per-split feature cache records) also yields the excluded videos
        and counts (``exclusions``).
        """
        from vimix_ssl.config import to_dict

        record = {"config": to_dict(self.config), "protocol_preset": self.config.protocol,
                  "modality": self.modality, "inputs": self.inputs, **extra}
        if isinstance(extra.get("cache"), dict):
            record["exclusions"] = exclusion_summary(extra["cache"])
        return record

    def notes(self, text: str) -> str:
        """Result-table notes: the protocol preset and a forced input mismatch are always shown."""
        parts = [f"protocol {self.config.protocol}"]
        if self.inputs.get("forced_mismatches"):
            parts.append("FORCED INPUT MISMATCH: " + ", ".join(self.inputs["forced_mismatches"]))
        return "; ".join(parts + ([text] if text else []))


def explicit_settings(config_path: Any, overrides: list[str]) -> dict[str, Any]:
    """What the user wrote (YAML with ``_base_`` + overrides), before defaults and presets."""
    from vimix_ssl.config import deep_merge, load_yaml, parse_overrides

    data: dict[str, Any] = load_yaml(config_path) if config_path is not None else {}
    return deep_merge(data, parse_overrides(overrides)) if overrides else data


def load_eval_config(config_path: Any, overrides: list[str]) -> tuple[EvalConfig, dict[str, Any]]:
    """The protocol preset's layer <- YAML <- overrides -> (validated config, explicit settings)."""
    from vimix_ssl.config import deep_merge, from_dict
    from vimix_ssl.jobs.evaluate.protocols import preset_layer

    explicit = explicit_settings(config_path, overrides)
    name = explicit.get("protocol", "clean")
    if not isinstance(name, str) or "," in name:
        raise ValueError(f"protocol: one preset per evaluation, got {name!r} (--protocol runs several)")
    config = from_dict(EvalConfig, deep_merge(preset_layer(name), explicit))
    config.validate()
    return config, explicit


def _is_set(explicit: dict[str, Any], dotted: str) -> bool:
    node: Any = explicit
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return False
        node = node[part]
    return True


def apply_encoder_inputs(config: EvalConfig, explicit: dict[str, Any], source: LoadedEncoder,
                         modality: str) -> dict[str, Any]:
    """Take the encoder's recorded inputs into ``config``; refuse explicit disagreements unless forced.

    Returns what was done, for the result: ``{"recorded", "taken_from_file", "forced_mismatches"}``.
    """
    from vimix_ssl.data.inputs import COMPARED, input_differences, recorded_value, set_dotted

    record = source.inputs
    if not record:
        return {"recorded": None,
                "note": f"{source.path} records no inputs (written before input records); the config's "
                        "flow_units / normalisation / clip_len / size are used"}
    if record.get("modality") not in (None, modality):
        raise ValueError(f"{source.path}: the input record is for modality {record.get('modality')!r}, "
                         f"the evaluation for {modality!r}")
    differences = input_differences(record, config)
    taken, refused = {}, []
    for key, (recorded, configured) in differences.items():
        if _is_set(explicit, key):
            refused.append(f"{key}: the encoder was trained on {recorded!r}, the config says {configured!r}")
        else:
            set_dotted(config, key, recorded)
            taken[key] = recorded
    if refused and not config.force_inputs:
        raise ValueError(f"{source.path}: the evaluation inputs disagree with the encoder's record — "
                         + "; ".join(refused) + " (remove the setting to use the recorded value, or pass "
                         "--force / force_inputs=true to evaluate anyway; the result then records it)")
    used = {key: recorded_value(record, path) for key, path in COMPARED.items()}
    return {"recorded": record, "taken_from_file": taken, "forced_mismatches": refused,
            "used": {k: v for k, v in used.items() if v is not None}}


def start_session(args: Any, encoder_needed: bool = True) -> EvalSession:
    """Parse config + overrides, load the encoder (clear errors), resolve the cache folder."""
    from pathlib import Path

    from vimix_ssl.eval.features import load_eval_encoder, resolve_device
    from vimix_ssl.eval.results import now_iso

    config_path, overrides = args.config, list(args.overrides)
    if config_path is not None and "=" in config_path and not Path(config_path).is_file():
        overrides.insert(0, config_path)  # the first token was an override, not a file
        config_path = None
    if getattr(args, "force", False):
        overrides.append("force_inputs=true")
    config, explicit = load_eval_config(config_path, overrides)
    run_dir = Path(args.out)
    if not config.features.cache_dir:
        config.features.cache_dir = str(run_dir / "feature_cache")
    started = now_iso()
    source = None
    modality = args.modality or ""
    inputs: dict[str, Any] = {}
    if encoder_needed:
        device = resolve_device(config.features.device)
        source = load_eval_encoder(args.encoder, args.modality, map_location=device)
        modality = source.modality or args.modality or ""
        if not modality:
            raise ValueError(f"{args.encoder}: the file does not say its modality; pass --modality")
        modality_kind(modality)
        inputs = apply_encoder_inputs(config, explicit, source, modality)
        config.validate()
    return EvalSession(config, source, modality, run_dir, started, inputs)


def run_command(main: Any, args: Any) -> int:
    """Run a command body, turning expected failures into one clear line on stderr.

    ``--protocol clean,coclr`` runs the body once per preset; every result lands in the same
    ``OUT/results.md`` table (the notes name the preset) and a side-by-side summary is printed.
    """
    import argparse
    import sys

    from vimix_ssl.config import ConfigError
    from vimix_ssl.data.splits import SplitError
    from vimix_ssl.utils.checkpoint import CheckpointError

    try:
        protocols = getattr(args, "protocol", None)
        if not protocols:
            return int(main(args) or 0)
        from vimix_ssl.jobs.evaluate.protocols import protocol_names

        code = 0
        for name in protocol_names(protocols):
            one = argparse.Namespace(**{**vars(args), "protocol": None})
            one.overrides = [*args.overrides, f"protocol={name}"]
            code = max(code, int(main(one) or 0))
        print(f"protocols {protocols}: side by side in {args.out}/results.md")
        return code
    except (CheckpointError, ConfigError, SplitError, FileNotFoundError, ValueError, KeyError) as e:
        message = str(e)
        if "Original Traceback" in message:  # raised in a DataLoader worker: keep the error's own line
            message = message.strip().splitlines()[-1].split(": ", 1)[-1]
        print(f"vimix eval: {message}", file=sys.stderr)
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
