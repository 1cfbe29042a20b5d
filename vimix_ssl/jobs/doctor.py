"""``vimix doctor``: what this machine is, and whether every training path runs on it, correctly.

1. The environment: Python, torch (CUDA, cuDNN), torchvision, numpy, OpenCV (its FFmpeg
   build), FAISS, the devices, the cores this process may use and the thread pools.
2. On the device present, a few real steps of every training path, built the way a run
   builds them (``jobs/pretrain/build.build_moco`` from the shipped configs' modality
   settings, ``methods/registry.build_stage_method``, ``methods/supervised.SupervisedMethod``):

   * S3D RGB and S3D flow, MoCo + i-Mix mixup, 32×128² clips (``vimix_ucf101.yaml``);
   * a Cross-Modal Manifold CutMix step (RGB learns, flow frozen);
   * ST-GCN SkeletonCLR (joint) and a skeleton CMMC step (joint learns, motion frozen), 50 frames
     (``vimix_ntu60_xsub.yaml``);
   * R3D-RS-50 supervised with mixup, 32×224² (``k400_r3d_rs50.yaml``);

   each in fp32 and, on a GPU, with AMP (bf16 where supported, else fp16 with the GradScaler)
   and with channels-last on and off for the video encoders (training uses AMP on CUDA only;
   ``cpu_amp`` adds bf16-autocast rows on CPU, a diagnostic: on a shared 2-core CPU those rows
   once gave a NaN second step, not reproduced in isolation). Each row starts from the same
   weights and batch; the losses must be finite and the first step's loss of every row must
   agree with the fp32 row's within ``AMP_TOLERANCE`` (relative; ``LAYOUT_TOLERANCE`` for fp32
   rows in another memory format). Clips/s (after one warm-up step) and peak memory are printed.
3. Feature extraction + FAISS retrieval on a few clips with the trained RGB encoder.
4. With two or more GPUs: a 2-process NCCL step (DDP) that checks both ranks end identical.

``quick`` (automatic on CPU, where the paper's shapes would take hours) runs the same rows on
reduced shapes and encoders (S3D/ST-GCN/R3D-RS small, 8×32² clips, 16 frames, batch 2). The
result is a list of rows; ``ok`` is False if any check failed (the command exits 1).
"""

from __future__ import annotations

import copy
import math
import os
import platform
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

CONFIGS = Path(__file__).resolve().parents[2] / "configs"
AMP_TOLERANCE = 0.05  # |loss_amp − loss_fp32| ≤ 5 % of max(1, |loss_fp32|): bf16 keeps ~3 significant digits
LAYOUT_TOLERANCE = 0.005  # fp32 in channels-last vs contiguous: other kernels (and TF32 on Ampere+)


@dataclass
class DoctorOptions:
    device: str = "auto"  # auto | cpu | cuda
    quick: bool | None = None  # reduced shapes; None: on CPU only
    steps: int = 3  # timed steps per row (after one warm-up step)
    processes: int | None = None  # the multi-process check: None = 2 when ≥ 2 GPUs, else skipped
    cpu_amp: bool = False  # on CPU also bf16-autocast rows (training uses AMP on CUDA only)
    seed: int = 0


@dataclass
class Row:
    path: str
    precision: str
    channels_last: bool
    loss: float = math.nan
    clips_per_s: float = math.nan
    peak_mib: float = math.nan
    ok: bool = False
    note: str = ""


@dataclass
class Report:
    environment: list[tuple[str, str]] = field(default_factory=list)
    rows: list[Row] = field(default_factory=list)
    checks: list[tuple[str, bool, str]] = field(default_factory=list)  # (name, ok, detail)

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.rows) and all(ok for _, ok, _ in self.checks)

    def format(self) -> str:
        lines = ["## environment", ""] + [f"- {k}: {v}" for k, v in self.environment]
        lines += ["", "## training paths", "",
                  "| path | precision | channels-last | first-step loss | clips/s | peak MiB | ok | note |",
                  "|---|---|---|---:|---:|---:|---|---|"]
        for r in self.rows:
            layout = "on" if r.channels_last else "off"
            lines.append(f"| {r.path} | {r.precision} | {layout} | {r.loss:.4f} | {r.clips_per_s:.1f} | "
                         f"{r.peak_mib:.0f} | {'yes' if r.ok else 'NO'} | {r.note} |")
        lines += ["", "## checks", ""] + [f"- {'ok' if ok else 'FAILED'}: {name} {detail}"
                                          for name, ok, detail in self.checks]
        lines += ["", "all checks passed" if self.ok else "SOME CHECKS FAILED"]
        return "\n".join(lines)


# -- environment --------------------------------------------------------------------------------
def environment(device: torch.device) -> list[tuple[str, str]]:
    import numpy as np

    from vimix_ssl.utils.threads import available_cores

    cudnn = torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else "none"
    info = [("python", sys.version.split()[0]), ("platform", platform.platform()),
            ("torch", f"{torch.__version__} (CUDA {torch.version.cuda}, cuDNN {cudnn})"),
            ("numpy", np.__version__)]
    try:
        import torchvision

        info.append(("torchvision", torchvision.__version__))
    except ImportError:
        info.append(("torchvision", "not installed"))
    try:
        import cv2

        build = cv2.getBuildInformation()
        ffmpeg = next((line.strip() for line in build.splitlines() if line.strip().startswith("FFMPEG:")),
                      "FFMPEG: not reported")
        info.append(("opencv", f"{cv2.__version__} ({' '.join(ffmpeg.split())}; "
                               f"{cv2.getNumThreads()} threads)"))
    except ImportError:
        info.append(("opencv", "not installed"))
    try:
        import faiss

        info.append(("faiss", f"{getattr(faiss, '__version__', '?')} "
                              f"({faiss.get_num_gpus() if hasattr(faiss, 'get_num_gpus') else 0} GPU(s))"))
    except ImportError:
        info.append(("faiss", "not installed (retrieval falls back to exact search in torch)"))
    info += [("cpu", _cpu_name()), ("cores available", str(available_cores())),
             ("torch threads", f"{torch.get_num_threads()} intra-op, {torch.get_num_interop_threads()} "
                               f"inter-op; OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}")]
    if torch.cuda.is_available():
        for i in range(torch.cuda.device_count()):
            p = torch.cuda.get_device_properties(i)
            bf16 = "yes" if torch.cuda.is_bf16_supported() else "no"
            info.append((f"cuda:{i}", f"{p.name}, {p.total_memory / 2**30:.0f} GiB, compute "
                                      f"{p.major}.{p.minor}, bf16 {bf16}"))
    else:
        info.append(("cuda", "not available"))
    info.append(("device used", str(device)))
    return info


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


# -- training paths -----------------------------------------------------------------------------
@dataclass
class Path_:
    """One training path: builds ``(module holding every weight, method, trained parameters)``."""

    name: str
    build: Callable[[], tuple[nn.Module, nn.Module, list[nn.Parameter]]]
    batch: Callable[[torch.Generator], dict[str, Any]]
    video: bool  # channels-last applies
    clips: int


def _modality(config_file: str, modality: str, quick: bool, small: dict[str, Any]) -> Any:
    from vimix_ssl.jobs.pretrain.config import load_pretrain_config

    config = load_pretrain_config(CONFIGS / "pretrain" / config_file)
    entry = copy.deepcopy(config.modalities[modality])
    if quick:
        entry.encoder, entry.encoder_kwargs = small["encoder"], {**small["kwargs"],
                                                                 **_channels(entry.encoder_kwargs)}
        entry.head_hidden, entry.queue_size = 16, 8
    return entry, config


def _channels(kwargs: dict[str, Any]) -> dict[str, Any]:
    return {"in_channels": kwargs["in_channels"]} if "in_channels" in kwargs else {}


def training_paths(quick: bool) -> list[Path_]:
    from vimix_ssl.jobs.pretrain.build import build_moco
    from vimix_ssl.methods.config import MixingConfig, StageConfig
    from vimix_ssl.methods.registry import build_stage_method

    s3d_small = {"encoder": "s3d_small", "kwargs": {"width": 0.0625}}
    stgcn_small = {"encoder": "stgcn_small", "kwargs": {"width": 0.0625}}
    rgb, video_config = _modality("vimix_ucf101.yaml", "rgb", quick, s3d_small)
    flow, _ = _modality("vimix_ucf101.yaml", "flow", quick, s3d_small)
    joint, _ = _modality("vimix_ntu60_xsub.yaml", "joint", quick, stgcn_small)
    motion, _ = _modality("vimix_ntu60_xsub.yaml", "motion", quick, stgcn_small)
    data = video_config.data
    clip, size, video_batch = (8, 32, 2) if quick else (data["clip_len"], data["size"], 8)
    frames, skeleton_batch = (16, 2) if quick else (50, 32)  # frame50 (METHOD §5)
    flow_channels = int(flow.encoder_kwargs.get("in_channels", 3))

    def views(shape: tuple[int, ...], generator: torch.Generator) -> list[Tensor]:
        return [torch.randn(shape, generator=generator) for _ in range(2)]

    def video_batch_fn(modalities: dict[str, int]) -> Callable[[torch.Generator], dict[str, Any]]:
        return lambda g: {m: views((video_batch, c, clip, size, size), g) for m, c in modalities.items()}

    def skeleton_batch_fn(modalities: list[str]) -> Callable[[torch.Generator], dict[str, Any]]:
        return lambda g: {m: views((skeleton_batch, 3, frames, 25, 2), g) for m in modalities}

    def stage_path(name: str, configs: dict[str, Any], train: str, partner: str | None, mixing: MixingConfig,
                   batch: Callable, video: bool, clips: int) -> Path_:
        def build() -> tuple[nn.Module, nn.Module, list[nn.Parameter]]:
            mocos = nn.ModuleDict({m: build_moco(c) for m, c in configs.items()})
            stage = StageConfig(name=name, train=train, partner=partner, epochs=1, mixing=mixing)
            return mocos, build_stage_method(stage, mocos), mocos[train].query_parameters()

        return Path_(name, build, batch, video, clips)

    mixup = MixingConfig(kind="input", mixer="mixup", alpha=1.0)
    cmmc = MixingConfig(kind="cmmc", op="cutmix", axes="s+t+c", cross_modal=True, random_partner_layer=True)
    paths = [
        stage_path("S3D rgb MoCo+mixup", {"rgb": rgb}, "rgb", None, mixup, video_batch_fn({"rgb": 3}), True,
                   video_batch),
        stage_path("S3D flow MoCo+mixup", {"flow": flow}, "flow", None, mixup,
                   video_batch_fn({"flow": flow_channels}), True, video_batch),
        stage_path("S3D CMMC rgb<-flow", {"rgb": rgb, "flow": flow}, "rgb", "flow", cmmc,
                   video_batch_fn({"rgb": 3, "flow": flow_channels}), True, video_batch),
        stage_path("ST-GCN SkeletonCLR joint", {"joint": joint}, "joint", None, MixingConfig(kind="none"),
                   skeleton_batch_fn(["joint"]), False, skeleton_batch),
        stage_path("ST-GCN CMMC joint<-motion", {"joint": joint, "motion": motion}, "joint", "motion", cmmc,
                   skeleton_batch_fn(["joint", "motion"]), False, skeleton_batch),
    ]
    paths.append(_supervised_path(quick))
    return paths


def _supervised_path(quick: bool) -> Path_:
    from vimix_ssl.jobs.supervised.config import load_supervised_config
    from vimix_ssl.methods.supervised import SupervisedMethod
    from vimix_ssl.models.registry import build_encoder

    config = load_supervised_config(CONFIGS / "supervised" / "k400_r3d_rs50.yaml")
    if quick:
        name, kwargs, clip, size, batch, classes = "r3d_rs_small", {"width": 0.0625}, 8, 32, 2, 4
    else:
        name, kwargs = config.encoder, dict(config.encoder_kwargs)
        clip, size, batch, classes = config.data["clip_len"], config.data["size"], 4, config.num_classes

    def build() -> tuple[nn.Module, nn.Module, list[nn.Parameter]]:
        method = SupervisedMethod(build_encoder(name, **kwargs), classes, mixer="mixup",
                                  label_smoothing=config.label_smoothing, dropout=config.dropout)
        return method, method, method.trainable_parameters()

    def make_batch(g: torch.Generator) -> dict[str, Any]:
        return {"rgb": torch.randn((batch, 3, clip, size, size), generator=g),
                "label": torch.randint(classes, (batch,), generator=g)}

    return Path_("R3D-RS-50 supervised+mixup", build, make_batch, True, batch)


def _to_device(batch: dict[str, Any], device: torch.device, channels_last: bool) -> dict[str, Any]:
    def move(x: Tensor) -> Tensor:
        x = x.to(device)
        if channels_last and x.dim() == 5:
            x = x.contiguous(memory_format=torch.channels_last_3d)
        return x

    return {k: [move(v) for v in value] if isinstance(value, list) else move(value)
            for k, value in batch.items()}


def _peak_mib(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # process peak RSS (Linux: KiB)


def run_row(path: Path_, device: torch.device, amp: torch.dtype | None, channels_last: bool, steps: int,
            seed: int) -> Row:
    """Build the path from ``seed``, run 1 + ``steps`` optimiser steps; the first step's loss is reported."""
    from vimix_ssl.engine.optim import OptimConfig, build_optimizer
    from vimix_ssl.jobs.pretrain.schedule import convert_channels_last

    precision = "fp32" if amp is None else str(amp).replace("torch.", "").replace("bfloat16", "bf16")
    row = Row(path.name, precision.replace("float16", "fp16"), channels_last)
    try:
        torch.manual_seed(seed)
        holder, method, parameters = path.build()
        holder.to(device)
        if channels_last:
            convert_channels_last(nn.ModuleDict({"model": holder}))
        optimizer = build_optimizer(parameters, OptimConfig(name="adam", lr=1e-4))
        scaler = torch.amp.GradScaler(device.type, enabled=amp == torch.float16)
        generator = torch.Generator().manual_seed(seed)
        batch = _to_device(path.batch(generator), device, channels_last and path.video)
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)
        losses, started = [], 0.0
        for step in range(1 + steps):
            if step == 1:
                _synchronise(device)
                started = time.perf_counter()
            torch.manual_seed(seed + step)  # the same mixing draws in every row
            method.train()
            with torch.autocast(device.type, dtype=amp or torch.float32, enabled=amp is not None):
                loss = method.training_step(batch)["loss"]
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
            losses.append(float(loss.detach()))
        _synchronise(device)
        elapsed = time.perf_counter() - started
        row.loss, row.peak_mib = losses[0], _peak_mib(device)
        row.clips_per_s = steps * path.clips / elapsed if steps else math.nan
        finite = all(math.isfinite(v) for v in losses)
        row.ok, row.note = finite, "" if finite else f"non-finite loss {losses}"
    except Exception as e:  # a doctor reports every failure and goes on
        row.ok, row.note = False, f"{type(e).__name__}: {str(e).splitlines()[0][:160] if str(e) else ''}"
    return row


def _synchronise(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _amp_dtype(device: torch.device) -> torch.dtype:
    if device.type == "cuda" and not torch.cuda.is_bf16_supported():
        return torch.float16
    return torch.bfloat16


def compare_rows(rows: list[Row]) -> None:
    """Every row against the same path's fp32 contiguous row: AMP within 5 %, layouts within 0.5 %."""
    reference = {r.path: r for r in rows if r.precision == "fp32" and not r.channels_last}
    for row in rows:
        base = reference.get(row.path)
        if base is None or base is row or not (row.ok and base.ok):
            continue
        tolerance = LAYOUT_TOLERANCE if row.precision == "fp32" else AMP_TOLERANCE
        difference = abs(row.loss - base.loss)
        if difference > tolerance * max(1.0, abs(base.loss)):
            row.ok = False
            row.note = f"loss differs from fp32 by {difference:.4f} (> {tolerance:.1%})"
        else:
            row.note = row.note or f"Δ fp32 {difference:.1e}"


# -- features + retrieval -----------------------------------------------------------------------
def retrieval_check(device: torch.device, quick: bool, seed: int) -> tuple[bool, str]:
    """Encode a few clips of two synthetic classes and run FAISS retrieval R@1/R@5."""
    import numpy as np

    from vimix_ssl.eval.features import encode_clips
    from vimix_ssl.eval.retrieval import RetrievalConfig, evaluate_retrieval
    from vimix_ssl.models.registry import build_encoder

    try:
        torch.manual_seed(seed)
        encoder = build_encoder("s3d_small", width=0.0625) if quick else build_encoder("s3d")
        encoder.to(device).eval()
        clip, size, count = (8, 32, 8) if quick else (32, 128, 32)
        generator = torch.Generator().manual_seed(seed)
        labels = torch.arange(count) % 2
        base = torch.randn(2, 3, clip, size, size, generator=generator)
        clips = base[labels] + 0.1 * torch.randn(count, 3, clip, size, size, generator=generator)
        _synchronise(device)
        started = time.perf_counter()
        with torch.no_grad():
            features = encode_clips(encoder, clips.to(device), chunk=8).float().cpu().numpy()  # (N, D)
        _synchronise(device)
        rate = count / (time.perf_counter() - started)
        half = count // 2
        out = evaluate_retrieval(features[:half], labels[:half].numpy(), features[half:],
                                 labels[half:].numpy(), RetrievalConfig(ks=[1, 5], save_neighbours=0))
        recall = {int(k): float(v) for k, v in out.recall.items()}
        ok = np.isfinite(features).all() and all(0.0 <= v <= 100.0 for v in recall.values())
        return bool(ok), f"{count} clips, {rate:.1f} clips/s, R@k {recall}"
    except Exception as e:
        return False, f"{type(e).__name__}: {e}"


# -- two processes ------------------------------------------------------------------------------
def _rank_worker(rank: int, world: int, backend: str, init_file: str, result_dir: str) -> None:
    import torch.distributed as torch_dist

    from vimix_ssl.methods.moco import MoCoMethod
    from vimix_ssl.mixing.input_mixers import Mixup
    from vimix_ssl.ssl import distributed as dist

    device = torch.device("cuda", rank) if backend == "nccl" else torch.device("cpu")
    if backend == "nccl":
        torch.cuda.set_device(device)
    torch.set_num_threads(1)
    torch_dist.init_process_group(backend, init_method=f"file://{init_file}", rank=rank, world_size=world)
    try:
        path = training_paths(quick=backend != "nccl")[0]
        torch.manual_seed(rank)  # deliberately different weights per rank: the broadcast must fix them
        mocos, _, parameters = path.build()
        mocos.to(device)
        dist.broadcast_state(mocos)
        method = MoCoMethod(mocos, "rgb", Mixup(alpha=1.0, per_sample=True, fold_lambda=True))
        optimizer = torch.optim.Adam(parameters, lr=1e-4)
        with dist.trained_only(method, parameters):
            step = dist.data_parallel(method, device)
            for index in range(2):
                generator = torch.Generator().manual_seed(100 * rank + index)  # each rank its own data
                batch = _to_device(path.batch(generator), device, False)
                loss = step(batch)["loss"]
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
        dist.broadcast_state(mocos, buffers_only=True)
        differ = dist.ranks_agree(mocos)
        Path(result_dir, f"rank{rank}.txt").write_text(",".join(differ) if differ else "agree")
    finally:
        torch_dist.destroy_process_group()


def two_process_check(backend: str, world: int = 2) -> tuple[bool, str]:
    """``world`` processes, one DDP MoCo + mixup step pair each; every parameter/buffer/queue must agree."""
    import tempfile

    import torch.multiprocessing as mp

    with tempfile.TemporaryDirectory() as tmp:
        try:
            mp.spawn(_rank_worker, args=(world, backend, os.path.join(tmp, "init"), tmp), nprocs=world,
                     join=True)
        except Exception as e:
            return False, f"{type(e).__name__}: {str(e).strip().splitlines()[-1] if str(e).strip() else ''}"
        results = [Path(tmp, f"rank{r}.txt").read_text() for r in range(world)]
    ok = all(r == "agree" for r in results)
    return ok, f"{world} {backend} processes: " + ("ranks agree" if ok else f"differ in {results[0][:200]}")


# -- the whole check ----------------------------------------------------------------------------
def run_doctor(options: DoctorOptions, log: Callable[[str], None] = print) -> Report:
    from vimix_ssl.ssl.distributed import resolve_device

    device = resolve_device(options.device)
    quick = options.quick if options.quick is not None else device.type != "cuda"
    report = Report(environment=environment(device))
    for key, value in report.environment:
        log(f"{key}: {value}")
    log(f"training paths on {device}" + (" (reduced shapes)" if quick else " (the paper's shapes)"))
    variants: list[tuple[torch.dtype | None, bool]] = [(None, False)]
    if device.type == "cuda" or options.cpu_amp:
        variants.append((_amp_dtype(device), False))
    if device.type == "cuda":
        variants += [(None, True), (_amp_dtype(device), True)]
    for path in training_paths(quick):
        rows = [run_row(path, device, amp, cl, options.steps, options.seed)
                for amp, cl in variants if path.video or not cl]
        compare_rows(rows)
        for row in rows:
            log(f"  {row.path:28s} {row.precision:5s} cl={'on ' if row.channels_last else 'off'} "
                f"loss {row.loss:.4f}  {row.clips_per_s:7.1f} clips/s  {row.peak_mib:8.0f} MiB  "
                f"{'ok' if row.ok else 'FAILED'} {row.note}")
        report.rows += rows
    ok, detail = retrieval_check(device, quick, options.seed)
    report.checks.append(("feature extraction + retrieval", ok, detail))
    log(f"feature extraction + retrieval: {'ok' if ok else 'FAILED'} {detail}")
    processes = options.processes
    if processes is None and device.type == "cuda" and torch.cuda.device_count() >= 2:
        processes = 2
    if processes:
        backend = "nccl" if device.type == "cuda" else "gloo"
        ok, detail = two_process_check(backend, processes)
        report.checks.append((f"{processes}-process {backend} DDP step", ok, detail))
        log(f"{processes}-process {backend} step: {'ok' if ok else 'FAILED'} {detail}")
    else:
        report.checks.append(("multi-process step", True,
                              "skipped (fewer than 2 GPUs; --processes 2 runs it)"))
    return report
