"""Loader benchmark: raw video vs prepared store, per-clip CPU augmentation vs batched.

Measured side by side in one process on one core (OpenCV and torch single-threaded):

- two-view training samples (2 x 32 frames, random resized crop + flip to 128²) from
  320x240 MPEG-4 videos (UCF101's format) decoded with OpenCV, and from the same videos
  prepared into a JPEG frame store at short side 128: samples/s for one loader worker,
  wall and CPU milliseconds per sample;
- the photometric augmentation of one 32x128² clip: torchvision v2 per clip on the CPU
  (``cpu_photometric_reference``) vs ``BatchPhotometric`` on a batch (CPU, and CUDA when
  available), milliseconds per clip.

The test videos are generated in a temporary folder (a moving random texture, so the
codec has real work to do).
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np


def _write_videos(root: Path, count: int, frames: int, seed: int = 0) -> list[str]:
    import cv2

    rng = np.random.default_rng(seed)
    names = []
    for i in range(count):
        name = f"Class{i % 2}/v_Class{i % 2}_g{i:02d}_c01.avi"
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        texture = cv2.GaussianBlur(rng.integers(0, 256, (480, 640, 3), dtype=np.uint8), (5, 5), 1.5)
        writer = cv2.VideoWriter(str(root / name), cv2.VideoWriter_fourcc(*"XVID"), 25, (320, 240))
        if not writer.isOpened():
            raise RuntimeError("OpenCV cannot write MPEG-4 (XVID) .avi files on this machine")
        for t in range(frames):
            dy, dx = int(60 + 40 * np.sin(t / 15)), int(2 * t) % 320
            writer.write(texture[dy:dy + 240, dx:dx + 320])
        writer.release()
        names.append(name)
    return names


def _time_samples(dataset: Any, count: int) -> tuple[float, float]:
    """(wall ms, CPU ms) per sample over ``count`` samples (after one warm-up)."""
    dataset[0]
    wall, cpu = time.perf_counter(), time.process_time()
    for i in range(count):
        dataset[i % len(dataset)]
    return ((time.perf_counter() - wall) * 1000 / count, (time.process_time() - cpu) * 1000 / count)


def _time_photometric(clips: Any, fn: Any, per_clip: bool, repeats: int) -> tuple[float, float]:
    """(wall ms, CPU ms) per clip."""
    import torch

    def once() -> None:
        if per_clip:
            for clip in clips:
                fn(clip)
        else:
            fn(clips)
        if clips.is_cuda:
            torch.cuda.synchronize()

    once()
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(repeats):
        once()
    items = repeats * clips.shape[0]
    return ((time.perf_counter() - wall) * 1000 / items, (time.process_time() - cpu) * 1000 / items)


REAL_DATA_VARIABLE = "VIMIX_REAL_DATA"  # the one setting locating the real-data samples (docs/TESTING.md)


def _real_clips() -> tuple[list[Path], str]:
    """The UCF101 sample clips ``$VIMIX_REAL_DATA/ucf101/videos/*.avi``, and a line saying whence or why none.

    Found only through the environment variable (never a folder guessed next to the checkout).
    """
    import os

    location = os.environ.get(REAL_DATA_VARIABLE, "")
    if not location:
        return [], (f"UCF101 sample clips ABSENT: {REAL_DATA_VARIABLE} is not set (point it at the real-data "
                    "samples folder, see docs/TESTING.md); the goal is judged on the generated videos only.")
    folder = Path(location) / "ucf101" / "videos"
    clips = sorted(folder.glob("*.avi"))
    if not clips:
        return [], (f"UCF101 sample clips ABSENT: no *.avi in {folder} ({REAL_DATA_VARIABLE}={location}); "
                    "the goal is judged on the generated videos only.")
    return clips, f"UCF101 sample clips: {len(clips)} from {folder} ({REAL_DATA_VARIABLE})."


def _loader_rows(root: Path, names: list[str], what: str, clip_len: int, samples: int) -> list[list[Any]]:
    """Raw-video and prepared-store rows for the videos ``names`` under ``root``."""
    from vimix_ssl.data.datasets import VideoDataset
    from vimix_ssl.data.sources import FrameStoreSource, RawVideoSource
    from vimix_ssl.data.splits import VideoEntry, VideoList
    from vimix_ssl.data.store import PrepareSpec, prepare_video_store

    store = root.parent / f"{root.name}_store"
    prepare_video_store(names, "folder", PrepareSpec(str(root), str(store), short_side=128), workers=1)
    listing = VideoList([VideoEntry(name, 0) for name in names], ["all"])
    rows, raw_cpu = [], None
    for label, source in ((f"raw {what} (OpenCV decode)", RawVideoSource(root)),
                          (f"prepared store of {what} (JPEG q90, short side 128)", FrameStoreSource(store))):
        dataset = VideoDataset(listing, {"rgb": source}, clip_len=clip_len, size=128, seed=0)
        wall, cpu = _time_samples(dataset, samples)
        raw_cpu = raw_cpu or cpu
        rows.append([f"two-view sample: {label}", round(wall, 1), round(cpu, 1), round(1000 / cpu, 1),
                     round(raw_cpu / cpu, 2)])  # speed-up in CPU time vs the raw row
    return rows


def run(quick: bool = False) -> dict[str, Any]:
    import shutil
    import sys

    import cv2
    import torch

    from vimix_ssl.data.transforms import BatchPhotometric, cpu_photometric_reference

    cv2.setNumThreads(1)
    torch.set_num_threads(1)
    videos, frames, samples, batch, repeats = (2, 48, 3, 2, 1) if quick else (4, 150, 24, 8, 2)
    clip_len = 8 if quick else 32
    rows: list[list[Any]] = []
    with tempfile.TemporaryDirectory(prefix="vimix_bench_loader_") as tmp:
        root = Path(tmp) / "generated"
        names = _write_videos(root, videos, frames)
        rows += _loader_rows(root, names, "generated 320x240 MPEG-4 video", clip_len, samples)
        real, real_note = ([], "UCF101 sample clips not used in a QUICK run.") if quick else _real_clips()
        if not real:
            print(f"[bench] loader: {real_note}", file=sys.stderr, flush=True)
        if real:
            (Path(tmp) / "real").mkdir()
            for clip in real:
                shutil.copy(clip, Path(tmp) / "real" / clip.name)
            rows += _loader_rows(Path(tmp) / "real", [c.name for c in real], "UCF101 sample clips", clip_len,
                                 samples)
    # The goal is judged on the real UCF101 clips when present (the target workload), else on
    # the generated videos (whose smooth global motion flatters the MPEG-4 decoder).
    store_row = rows[3] if real else rows[1]
    store_speedup, store_cpu_ms = store_row[4], store_row[2]
    photometric = BatchPhotometric()
    clips = torch.randint(0, 256, (batch, 3, clip_len, 128, 128), dtype=torch.uint8)
    torch.manual_seed(0)
    reference = cpu_photometric_reference(photometric)
    per_clip_wall, per_clip_cpu = _time_photometric(clips, reference, True, repeats)
    rows.append(["photometric per clip: torchvision v2, one clip at a time (CPU)",
                 round(per_clip_wall, 1), round(per_clip_cpu, 1), round(1000 / per_clip_cpu, 1), 1.0])
    wall, cpu = _time_photometric(clips, photometric, False, repeats)
    rows.append([f"photometric per clip: BatchPhotometric, batch of {batch} (CPU)", round(wall, 1),
                 round(cpu, 1), round(1000 / cpu, 1), round(per_clip_cpu / cpu, 2)])
    if torch.cuda.is_available():
        on_device = clips.cuda()
        module = photometric.cuda()
        wall, cpu = _time_photometric(on_device, module, False, repeats * 5)
        rows.append([f"photometric per clip: BatchPhotometric, batch of {batch} (CUDA)", round(wall, 2),
                     round(cpu, 2), round(1000 / wall, 1), round(per_clip_cpu / wall, 1)])

    return {
        "title": f"Video loading and augmentation ({clip_len}x128² two-view samples, one core)",
        "columns": ["measurement", "wall ms / item", "CPU ms / item", "items / s per core (from CPU ms)",
                    "speed-up (CPU time) vs the first row of its group"],
        "rows": rows,
        "goal": "prepared store >= 3x the samples/s of raw decoding (UCF101 sample clips when present, "
                "else generated video), and CPU work per two-view sample <= 40 ms on one core",
        "goal_met": None if quick else bool(store_speedup >= 3 and store_cpu_ms <= 40),
        "real_data": real_note,
        "notes": (f"{videos} generated 320x240 XVID videos of {frames} frames; {samples} samples per source; "
                  f"photometric on {batch} random uint8 clips. {real_note} CPU ms is process time, which a "
                  "busy machine inflates less than wall time; ratios use it (CUDA row: wall time). "
                  "Per-sample work on the CPU is decode + crop/flip only; "
                  "the photometric part runs batched on the training device."
                  + (" QUICK run: 8-frame clips, not the 32-frame benchmark." if quick else "")),
    }
