"""``vimix demo``: the whole method end to end on CPU-sized data, with a report.

Steps (each skipped when its output already exists, so an interrupted demo resumes):

1. data — the synthetic motion-class video dataset in the UCF101 layout (or ``video_root``),
   its optical flow store, and the synthetic NTU-format skeletons (or ``skeleton_root``)
   prepared into frame50 arrays;
2. pre-training — RGB/flow: stage 0 MoCo + input mixup per modality, then alternating
   Cross-Modal Manifold CutMix stages; joint/motion: SkeletonCLR per stream, then CMMC
   joint → motion (METHOD §3, scaled down);
3. evaluation — for every modality, the randomly initialised encoder, the stage-0 encoder
   and the final encoder: linear probe, R@1/5/10 retrieval and kNN on cached features;
4. report — ``report.json`` (one entry per evaluated encoder) and ``report.md`` with the
   table, the training curves and feature plots.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from vimix_ssl.jobs.demo.evaluate import evaluate_encoder, evaluation_config, export_encoders
from vimix_ssl.utils.logging import get_logger

log = get_logger("vimix.demo")

VIDEO_PAIR = ("rgb", "flow")
SKELETON_PAIR = ("joint", "motion")
SETTINGS = {  # synthetic video setting -> DemoConfig overrides (`vimix demo/study --setting(s)`)
    "motion_only": {"scene_cue": 0.0, "appearance_pool": 0},  # a fresh look per clip, no scene
    "scene_cue": {},  # the demo's default data: half the clips in their class's scene, 4 shared looks
}


@dataclass
class DemoConfig:
    """Sizes of the demo; ``quick()`` gives the ≤ 3-minute variant. Paper values in comments."""

    out: str = "demo_out"
    seed: int = 0
    device: str = "auto"
    video_root: str = ""  # UCF101-layout dataset to use instead of the synthetic one
    skeleton_root: str = ""  # folder of raw NTU .skeleton files to use instead of synthetic ones
    workers: int = 2  # processes for data preparation and loader workers
    # synthetic video: classes differ by motion (and, for scene_cue of the clips, by scene)
    video_classes: int = 8
    video_per_class: int = 40
    video_frames: tuple[int, int] = (24, 32)
    video_width: int = 64
    video_height: int = 48
    # Clips share 4 looks across classes, so MoCo cannot tell instances apart by appearance
    # alone and must use motion (with a fresh look per clip, RGB MoCo learns appearance only).
    appearance_pool: int = 4
    # The look (SynthVideoConfig): a low-contrast background and an object in the background's
    # complementary colour. With full-contrast textures and independent colours, RGB stays at
    # chance for every encoder — even supervised S3D and a plain 3D CNN (measured, RESULTS.md).
    background_contrast: float = 0.3
    sprite_contrast: float = 0.3
    contrasting_sprite: bool = True
    # Half the clips are shown in their class's scene, as actions co-occur with scenes in real
    # data. With 0 (motion only) RGB MoCo stays at chance at CPU scale (RESULTS.md).
    scene_cue: float = 0.5
    # The synthetic classes are direction-sensitive (TranslateLeft is TranslateRight mirrored,
    # RotateClockwise is RotateCounterclockwise mirrored): a random flip would teach the
    # contrastive views that these classes are the same. Real action datasets: paper's 0.5.
    flip_probability: float = 0.0
    # paper: random resized crop area 0.2-1; the synthetic object covers ~15% of the frame, so
    # a 0.2 crop often shows no moving object at all (an all-zero flow view).
    crop_area: tuple[float, float] = (0.6, 1.0)
    flow_method: str = "dis"  # paper: tvl1 (≈100× slower on CPU); `vimix prepare flow --method tvl1`
    flow_channels: int = 3  # METHOD §4: flow S3D takes 3 channels (dx, dy, constant 0); 2 as an option
    # video pre-training (paper: S3D, 32×128², batch 32, 300 + 4×100 epochs)
    # Shapes chosen where supervised training of the same S3D learns the motion-only classes,
    # on a validation split carved from the training list (RESULTS.md, issue 19): 1/8 width,
    # 8 frames 2 apart, 32 px reach 50 % validation top-1 in 150 epochs (chance 12.5 %) at
    # 1.16x the step time of 1/16 width, stride 1 (12.5 %).
    video_encoder: str = "s3d_small"
    video_width_multiplier: float = 0.125
    clip_len: int = 8
    video_stride: int = 2  # frames between a clip's frames (data.stride); 2 doubles the motion seen
    size: int = 32
    video_batch: int = 16
    video_queue: int = 256
    # paper: 0.999 over ~10^5 steps; over the demo's few hundred steps a 0.999 key encoder
    # barely leaves its initialisation (0.999^500 ≈ 0.6), so the demo uses 0.99.
    moco_momentum: float = 0.99
    # CoCLR/torchvision S3D use BatchNorm momentum 1e-3, right for 300-epoch runs; in a
    # few-hundred-step demo the eval-mode statistics would barely leave their (0, 1) start.
    video_bn_momentum: float = 0.1
    # CoCLR's N(0, 0.01²) conv init leaves eval-mode S3D features constant across clips after
    # a few hundred steps (measured); None = PyTorch's default init for the demo's short runs.
    video_conv_init_std: float | None = None
    video_stage0_epochs: int = 30
    video_cmmc_epochs: int = 8
    video_cmmc_rounds: int = 2  # rounds of (rgb, flow) CMMC stages; paper: 2 (4 stages)
    # skeleton (paper: ST-GCN 1/4 width, batch 128, 150 + 2×150 epochs)
    skeleton_classes: int = 6
    skeleton_per_class: int = 40
    skeleton_encoder: str = "stgcn_small"
    skeleton_batch: int = 16
    skeleton_queue: int = 256
    skeleton_stage0_epochs: int = 20
    skeleton_cmmc_epochs: int = 10
    # evaluation (paper: probe 100 epochs)
    probe_epochs: int = 60
    knn_k: int = 10
    # "test": report on the test split; "validation": on groups carved from the video training
    # list (data/validation.py; training then uses the rest), for choosing settings. Skeletons
    # keep their xsub split either way.
    evaluate_on: str = "test"

    @classmethod
    def quick(cls, **overrides: Any) -> DemoConfig:
        small = dict(video_classes=6, video_per_class=16, video_frames=(16, 24), video_stage0_epochs=12,
                     video_cmmc_epochs=4, video_cmmc_rounds=1, skeleton_classes=5, skeleton_per_class=24,
                     skeleton_stage0_epochs=10, skeleton_cmmc_epochs=5, probe_epochs=40)
        return cls(**{**small, **overrides})


# -- 1. data -------------------------------------------------------------------------------


def prepare_video_data(cfg: DemoConfig, data_dir: Path) -> tuple[Path, Path]:
    """Synthetic (or given) UCF-layout videos plus their flow store -> (video root, flow dir)."""
    from vimix_ssl.data.flow_extract import FlowExtractSpec, extract_flow_store
    from vimix_ssl.data.splits import all_videos, require_videos

    if cfg.evaluate_on not in ("test", "validation"):  # before any data is made
        raise ValueError(f"evaluate_on: expected test or validation, got {cfg.evaluate_on!r}")
    if cfg.video_root:
        root = Path(cfg.video_root)
    else:
        from vimix_ssl.data.synthetic_video import SynthVideoConfig, generate_synthetic_ucf

        root = data_dir / "video"
        synth = SynthVideoConfig(classes=cfg.video_classes, per_class=cfg.video_per_class,
                                 frames_min=cfg.video_frames[0], frames_max=cfg.video_frames[1],
                                 width=cfg.video_width, height=cfg.video_height, seed=cfg.seed,
                                 appearance_pool=cfg.appearance_pool,
                                 background_contrast=cfg.background_contrast,
                                 sprite_contrast=cfg.sprite_contrast,
                                 contrasting_sprite=cfg.contrasting_sprite,
                                 scene_cue=cfg.scene_cue)
        log.info(f"synthetic videos -> {root}")
        generate_synthetic_ucf(root, synth, reuse=True)
    if cfg.evaluate_on == "validation":
        from vimix_ssl.data.validation import carve_validation

        carve_validation(root, validation_splits(cfg), seed=cfg.seed)
    flow_dir = data_dir / f"flow_{cfg.flow_method}"
    videos = list(all_videos("ucf101", root, None))
    require_videos(root, videos, f"the UCF101 splits in {root}")  # before any flow is computed
    spec = FlowExtractSpec(source="raw", source_root=str(root), out_dir=str(flow_dir), method=cfg.flow_method)
    summary = extract_flow_store(videos, spec, workers=cfg.workers, desc=f"flow ({cfg.flow_method})")
    log.info(summary.format("flow videos"))
    if summary.failed:
        raise RuntimeError(f"flow extraction failed for {len(summary.failed)} videos; see the list above")
    return root, flow_dir


def validation_splits(cfg: DemoConfig) -> Path:
    """Where the carved validation split of ``evaluate_on: validation`` lives (under ``out``)."""
    return Path(cfg.out) / "data" / "validation_splits"


def prepare_skeleton_data(cfg: DemoConfig, data_dir: Path) -> Path:
    """Synthetic (or given) raw NTU files prepared into frame50 arrays -> prepared folder."""
    from vimix_ssl.data.skeleton.prepare import prepare_ntu

    out = data_dir / "ntu"
    if (out / "manifest.json").is_file():
        return out
    if cfg.skeleton_root:
        raw = Path(cfg.skeleton_root)
    else:
        from vimix_ssl.data.skeleton.synthetic import SyntheticSkeletonConfig, write_synthetic_skeletons

        raw = data_dir / "skeleton_raw"
        log.info(f"synthetic skeletons -> {raw}")
        write_synthetic_skeletons(raw, SyntheticSkeletonConfig(
            classes=cfg.skeleton_classes, per_class=cfg.skeleton_per_class, seed=cfg.seed))
    prepare_ntu(raw, out, workers=cfg.workers)
    return out


# -- 2. pre-training -----------------------------------------------------------------------


def video_stages(cfg: DemoConfig) -> list[dict[str, Any]]:
    """Vi-Mix RGB/flow: stage 0 MoCo + input mixup per modality, then alternating CMMC rounds."""
    stages = [{"name": f"stage0_{m}", "train": m, "epochs": cfg.video_stage0_epochs,
               "mixing": {"kind": "input", "mixer": "mixup"}} for m in VIDEO_PAIR]
    for r in range(cfg.video_cmmc_rounds):
        stages += [{"name": f"cmmc{r + 1}_rgb", "train": "rgb", "partner": "flow"},
                   {"name": f"cmmc{r + 1}_flow", "train": "flow", "partner": "rgb"}]
    return stages


def skeleton_stages(cfg: DemoConfig) -> list[dict[str, Any]]:
    """Vi-Mix skeleton: SkeletonCLR per stream (no input mixing), then CMMC joint -> motion."""
    stages = [{"name": f"stage0_{m}", "train": m, "epochs": cfg.skeleton_stage0_epochs,
               "mixing": {"kind": "none"}} for m in SKELETON_PAIR]
    return stages + [{"name": "cmmc_joint", "train": "joint", "partner": "motion"},
                     {"name": "cmmc_motion", "train": "motion", "partner": "joint"}]


def video_pretrain_config(cfg: DemoConfig, root: Path, flow_dir: Path, out: Path,
                          stages: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    def modality(channels: int, **extra: Any) -> dict[str, Any]:
        return {"encoder": cfg.video_encoder,
                "encoder_kwargs": {"in_channels": channels, "width": cfg.video_width_multiplier,
                                   "bn_momentum": cfg.video_bn_momentum,
                                   "conv_init_std": cfg.video_conv_init_std},
                "head_hidden": 128, "queue_size": cfg.video_queue, "momentum": cfg.moco_momentum, **extra}

    return {
        "seed": cfg.seed, "out_dir": str(out), "device": cfg.device, "log_every": 5,
        # num_workers 0: decoding the small demo clips is cheaper than starting workers
        "data": {"dataset": "ucf101", "root": str(root), "clip_len": cfg.clip_len, "stride": cfg.video_stride,
                 "size": cfg.size,
                 "batch_size": cfg.video_batch, "num_workers": 0,
                 "eval_window_stride": cfg.clip_len * cfg.video_stride,  # windows side by side
                 "splits": str(validation_splits(cfg)) if cfg.evaluate_on == "validation" else "",
                 "augment": {"flip_probability": cfg.flip_probability, "crop_area": list(cfg.crop_area)}},
        "modalities": {"rgb": modality(3),
                       "flow": modality(cfg.flow_channels, store=str(flow_dir), flow_units="normalized")},
        "stage_defaults": {"epochs": cfg.video_cmmc_epochs,
                           "mixing": {"kind": "cmmc", "op": "cutmix", "axes": "s+t+c"}},
        "stages": video_stages(cfg) if stages is None else stages,
    }


def skeleton_pretrain_config(cfg: DemoConfig, ntu_dir: Path, out: Path,
                             stages: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    modality = {"encoder": cfg.skeleton_encoder, "head_hidden": 64, "queue_size": cfg.skeleton_queue,
                "momentum": cfg.moco_momentum}
    return {
        "seed": cfg.seed, "out_dir": str(out), "device": cfg.device, "log_every": 5,
        "data": {"root": str(ntu_dir), "benchmark": "xsub", "batch_size": cfg.skeleton_batch,
                 "num_workers": 0},
        "modalities": {m: dict(modality) for m in SKELETON_PAIR},
        # peer (CrosSCLR/SkeletonCLR): SGD lr 0.1, momentum 0.9, wd 1e-4
        "stage_defaults": {"epochs": cfg.skeleton_cmmc_epochs,
                           "optim": {"name": "sgd", "lr": 0.1, "weight_decay": 1e-4, "momentum": 0.9},
                           "mixing": {"kind": "cmmc", "op": "cutmix", "axes": "s+t+c"}},
        "stages": skeleton_stages(cfg) if stages is None else stages,
    }


def pretrain(config_data: dict[str, Any]) -> Path:
    from vimix_ssl.config import from_dict
    from vimix_ssl.jobs.pretrain.config import PretrainConfig, expand_stages
    from vimix_ssl.jobs.pretrain.schedule import run_pretrain

    config = from_dict(PretrainConfig, expand_stages(config_data))
    config.validate()
    return run_pretrain(config)


# -- 4. the whole demo -----------------------------------------------------------------------


def run_demo(cfg: DemoConfig) -> dict[str, Any]:
    from vimix_ssl.jobs.demo.report import write_report
    from vimix_ssl.utils.io import atomic_write_json
    from vimix_ssl.utils.threads import configure_threads

    configure_threads()  # torch/OpenCV threads from the cores this process may use (VIMIX_THREADS overrides)
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_json(out / "demo_config.json", asdict(cfg))
    timing: dict[str, float] = {}
    t0 = time.perf_counter()

    def lap(name: str) -> None:
        nonlocal t0
        timing[name] = round(time.perf_counter() - t0, 1)
        log.info(f"{name}: {timing[name]} s")
        t0 = time.perf_counter()

    data_dir = out / "data"
    root, flow_dir = prepare_video_data(cfg, data_dir)
    ntu_dir = prepare_skeleton_data(cfg, data_dir)
    lap("data")
    video_cfg = video_pretrain_config(cfg, root, flow_dir, out / "runs" / "video")
    skeleton_cfg = skeleton_pretrain_config(cfg, ntu_dir, out / "runs" / "skeleton")
    video_run = pretrain(video_cfg)
    lap("pretrain_video")
    skeleton_run = pretrain(skeleton_cfg)
    lap("pretrain_skeleton")

    eval_config = evaluation_config(cfg, video_cfg, flow_dir, ntu_dir, out / "feature_cache")
    results = []
    for run_dir, modalities in ((video_run, VIDEO_PAIR), (skeleton_run, SKELETON_PAIR)):
        files = export_encoders(run_dir, modalities, cfg.seed)
        for m in modalities:
            for kind in files[m]:  # random, stage0, every intermediate CMMC stage, final
                log.info(f"evaluating {m} {kind}")
                metrics = evaluate_encoder(eval_config, files[m][kind], m)
                results.append({"modality": m, "encoder": kind, "file": str(files[m][kind]), **metrics})
    lap("evaluation")
    report = write_report(out, cfg, results, timing, eval_config,
                          {"video": video_run, "skeleton": skeleton_run})
    log.info(f"report: {out / 'report.md'}")
    return report


def load_report(path: str | Path) -> dict[str, Any]:
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def with_overrides(cfg: DemoConfig, **kwargs: Any) -> DemoConfig:
    return replace(cfg, **{k: v for k, v in kwargs.items() if v is not None})
