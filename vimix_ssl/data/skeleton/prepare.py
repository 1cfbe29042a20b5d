"""``vimix prepare ntu``: raw ``.skeleton`` files -> per-benchmark arrays + frame50 + manifest.

Steps (see docs/DATA_SKELETON.md):

1. list ``RAW_DIR/*.skeleton``; a file not named like an NTU sample is reported and left
   out; drop the samples of the missing-skeleton list; keep the actions of the chosen
   benchmark (``ntu60``: A001-A060, ``ntu120``: A001-A120; the class count is the
   benchmark's, never the highest action found) and count the others in the manifest;
2. parse every file over processes (:func:`vimix_ssl.utils.parallel.run_jobs`), caching the
   selected bodies per file in ``OUT_DIR/cache/<key>/<name>.npz`` (atomic, so a rerun
   resumes) with the source file's fingerprint (size, mtime, hash of its first and last
   MiB): a rerun re-parses exactly the files that changed;
3. per benchmark (xsub, xview) and split (train, test), in name order, write
   ``<split>_data.npy`` (N, 3, T, 25, M) float32 zero padded, ``<split>_frame50.npy``
   (N, 3, 50, 25, M) float32, ``<split>_label.npy`` int64, ``<split>_num_frames.npy`` and
   ``<split>_valid_frames.npy`` int32 and ``<split>_names.txt``; every write is atomic;
4. ``manifest.json`` describing all of it, written last.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from vimix_ssl.data.skeleton.ntu import (
    BENCHMARKS,
    NUM_CLASSES,
    SPLITS,
    XSUB_TRAIN_PERFORMERS,
    XVIEW_TRAIN_CAMERAS,
    load_name_list,
    parse_ntu_name,
    sample_name,
    split_names,
)
from vimix_ssl.data.skeleton.parser import BodySelect, read_skeleton, select_bodies
from vimix_ssl.data.skeleton.preprocess import (
    CENTER_JOINT,
    FRAME50_LENGTH,
    LEFT_SHOULDER,
    RIGHT_SHOULDER,
    frame50,
    valid_frame_mask,
)
from vimix_ssl.utils.io import (
    atomic_open,
    atomic_path,
    atomic_write_json,
    atomic_write_text,
    file_fingerprint,
    remove_stale_temps,
    source_unchanged,
)
from vimix_ssl.utils.logging import progress
from vimix_ssl.utils.parallel import JobSummary, run_jobs

MANIFEST_NAME = "manifest.json"
MANIFEST_FORMAT = "vimix-ntu-skeleton"
MANIFEST_VERSION = 1
CACHE_VERSION = 1
NtuDataset = Literal["ntu60", "ntu120"]


@dataclass
class NtuPrepareConfig:
    dataset: NtuDataset = "ntu60"  # which benchmark: its actions are kept and fix the class count (60 / 120)
    max_frames: int = 300  # T of the raw arrays; longer sequences are truncated (NTU max is 300)
    max_bodies: int = 2  # M
    body_select: BodySelect = "first"  # "first" listed bodies, or the most "active" (joint std)
    frame50_length: int = FRAME50_LENGTH
    xsub_train_performers: tuple[int, ...] = XSUB_TRAIN_PERFORMERS
    xview_train_cameras: tuple[int, ...] = XVIEW_TRAIN_CAMERAS


@dataclass(frozen=True)
class ParseJob:
    """Picklable per-file job: parse, keep ``max_bodies``, cache ``(T, M, 25, 3)`` float32."""

    raw_dir: str
    cache_dir: str
    max_bodies: int
    body_select: BodySelect

    def cache_path(self, name: str) -> Path:
        return Path(self.cache_dir) / f"{name}.npz"

    def source(self, name: str) -> Path:
        return Path(self.raw_dir) / f"{name}.skeleton"

    def is_done(self, name: str) -> bool:
        """Cached, and from the ``.skeleton`` file as it is now (a replaced file is parsed again)."""
        path = self.cache_path(name)
        if not path.is_file():
            return False
        try:
            with np.load(path) as cached:
                recorded = json.loads(str(cached["source"])) if "source" in cached.files else None
        except (OSError, ValueError, KeyError):
            return False
        return source_unchanged(recorded, self.source(name))

    def __call__(self, name: str) -> None:
        fingerprint = file_fingerprint(self.source(name))  # before parsing: a change meanwhile shows later
        sequence = read_skeleton(self.source(name))
        joints = select_bodies(sequence, self.max_bodies, self.body_select).astype(np.float32)
        with atomic_open(self.cache_path(name), "wb") as f:
            np.savez(f, joints=joints, bodies_per_frame=sequence.bodies_per_frame.astype(np.int16),
                     source=np.array(json.dumps(fingerprint)))


def load_cached(path: Path, max_frames: int, max_bodies: int) -> tuple[np.ndarray, int]:
    """A cached parse as a zero-padded (3, max_frames, 25, M) float32 sample and its file frame count."""
    with np.load(path) as cached:
        joints = cached["joints"]  # (T, M, 25, 3)
    frames = joints.shape[0]
    sample = np.zeros((3, max_frames, joints.shape[2], max_bodies), dtype=np.float32)
    kept = min(frames, max_frames)
    sample[:, :kept] = joints[:kept].transpose(3, 0, 2, 1)
    return sample, frames


@contextlib.contextmanager
def atomic_memmap(path: Path, shape: tuple[int, ...], dtype: type = np.float32) -> Iterator[np.ndarray]:
    """A writable ``.npy`` memory map at a temporary name, renamed over ``path`` on success."""
    with atomic_path(path) as tmp:
        if 0 in shape:  # an empty file cannot be memory-mapped
            array = np.zeros(shape, dtype=dtype)
            yield array
            with open(tmp, "wb") as f:  # a file object: np.save would append ".npy" to a name
                np.save(f, array)
        else:
            array = np.lib.format.open_memmap(tmp, mode="w+", dtype=dtype, shape=shape)
            yield array
            array.flush()
            del array


def _save_npy(path: Path, array: np.ndarray) -> None:
    with atomic_open(path, "wb") as f:
        np.save(f, array)


def list_samples(raw_dir: Path) -> tuple[list[str], list[str]]:
    """Sorted NTU sample names of ``raw_dir/*.skeleton``, and the file names that are not NTU names."""
    if not raw_dir.is_dir():
        raise FileNotFoundError(f"raw skeleton folder not found: {raw_dir}")
    names, badly_named = [], []
    for path in sorted(raw_dir.glob("*.skeleton")):
        try:
            parse_ntu_name(path)
        except ValueError:
            badly_named.append(path.name)
            continue
        names.append(sample_name(path))
    return names, badly_named


def write_split(out_dir: Path, benchmark: str, split: str, names: list[str], cache: ParseJob,
                config: NtuPrepareConfig) -> dict:
    """Write every array of one benchmark split; returns its manifest entry (relative paths)."""
    folder = out_dir / benchmark
    count, length = len(names), config.frame50_length
    raw_shape = (count, 3, config.max_frames, 25, config.max_bodies)
    frame50_shape = (count, 3, length, 25, config.max_bodies)
    num_frames = np.zeros(count, dtype=np.int32)
    valid_frames = np.zeros(count, dtype=np.int32)
    bar = progress(total=count, desc=f"{benchmark}/{split} arrays", unit="sample")
    with atomic_memmap(folder / f"{split}_data.npy", raw_shape) as data, \
            atomic_memmap(folder / f"{split}_frame50.npy", frame50_shape) as data50:
        for i, name in enumerate(names):
            sample, num_frames[i] = load_cached(cache.cache_path(name), config.max_frames, config.max_bodies)
            valid_frames[i] = int(valid_frame_mask(sample).sum())
            data[i] = sample
            data50[i] = frame50(sample, length, CENTER_JOINT, LEFT_SHOULDER, RIGHT_SHOULDER)
            bar.update(1)
    bar.close()
    labels = np.array([parse_ntu_name(n).label for n in names], dtype=np.int64)
    _save_npy(folder / f"{split}_label.npy", labels)
    _save_npy(folder / f"{split}_num_frames.npy", num_frames)
    _save_npy(folder / f"{split}_valid_frames.npy", valid_frames)
    atomic_write_text(folder / f"{split}_names.txt", "".join(f"{n}\n" for n in names))
    prefix = f"{benchmark}/{split}"
    return {
        "num_samples": count,
        "data": f"{prefix}_data.npy", "data_shape": list(raw_shape),
        "frame50": f"{prefix}_frame50.npy", "frame50_shape": list(frame50_shape),
        "label": f"{prefix}_label.npy", "names": f"{prefix}_names.txt",
        "num_frames": f"{prefix}_num_frames.npy", "valid_frames": f"{prefix}_valid_frames.npy",
        "truncated": int((num_frames > config.max_frames).sum()),
    }


def prepare_ntu(raw_dir: str | Path, out_dir: str | Path, *, missing_list: str | Path | None = None,
                config: NtuPrepareConfig | None = None, workers: int | None = None) -> dict:
    """Run the whole pipeline; returns the manifest (also written to ``OUT_DIR/manifest.json``).

    Files that fail to parse are left out of the arrays and listed under ``"failed"`` with
    their reason; files with no body in any frame are listed under ``"empty"``.
    """
    config = config or NtuPrepareConfig()
    if config.dataset not in NUM_CLASSES:
        raise ValueError(f"dataset must be one of {sorted(NUM_CLASSES)}, got {config.dataset!r}")
    num_classes = NUM_CLASSES[config.dataset]
    raw_dir, out_dir = Path(raw_dir), Path(out_dir)
    names, badly_named = list_samples(raw_dir)
    missing = set(load_name_list(missing_list)) if missing_list is not None else set()
    skipped_missing = [n for n in names if n in missing]
    names = [n for n in names if n not in missing]
    other_actions = [n for n in names if parse_ntu_name(n).action > num_classes]
    names = [n for n in names if parse_ntu_name(n).action <= num_classes]
    cache_key = f"v{CACHE_VERSION}-{config.body_select}-m{config.max_bodies}"
    job = ParseJob(str(raw_dir), str(out_dir / "cache" / cache_key), config.max_bodies, config.body_select)
    Path(job.cache_dir).mkdir(parents=True, exist_ok=True)
    remove_stale_temps(out_dir)  # left by a killed earlier run
    summary: JobSummary[str] = run_jobs(names, job, is_done=job.is_done, workers=workers,
                                        desc="parse .skeleton")
    failed = {name: reason for name, reason in summary.failed}
    parsed = [n for n in names if n not in failed]
    empty = [n for n in parsed if not _has_body(job.cache_path(n))]
    usable = [n for n in parsed if n not in set(empty)]
    protocol = {"train_performers": config.xsub_train_performers,
                "train_cameras": config.xview_train_cameras}
    manifest = {
        "format": MANIFEST_FORMAT, "format_version": MANIFEST_VERSION,
        "raw_dir": str(raw_dir), "missing_list": None if missing_list is None else str(missing_list),
        "config": _plain(dataclasses.asdict(config)),
        "dataset": config.dataset,
        "num_classes": num_classes,
        "layout": {
            "data": "(N, 3, T, 25, M) float32: x, y, z camera coordinates in metres; frame t of the "
                    "file at index t; frames without a body, absent bodies and t >= file length are 0",
            "frame50": "(N, 3, 50, 25, M) float32: valid frames centred on joint 21 per body and frame, "
                       "resampled linearly to 50, rotated about y so joint 9 - joint 5 lies along +x",
            "label": "(N,) int64: action - 1", "names": "one NTU sample name per line, array order",
            "num_frames": "(N,) int32: frames in the file (before truncation to T)",
            "valid_frames": "(N,) int32: frames with at least one non-zero body within the first T",
        },
        "counts": {"files": len(names) + len(skipped_missing) + len(other_actions) + len(badly_named),
                   "badly_named": len(badly_named), "missing_skipped": len(skipped_missing),
                   "other_actions_skipped": len(other_actions),
                   "parsed_now": len(summary.done), "parsed_cached": len(summary.skipped),
                   "failed": len(failed), "empty": len(empty), "usable": len(usable)},
        "failed": [{"name": n, "reason": r} for n, r in sorted(failed.items())],
        "badly_named": [{"file": n, "reason": "not an NTU sample name SsssCcccPpppRrrrAaaa; left out"}
                        for n in badly_named],
        "other_actions": {"note": f"actions above A{num_classes:03d} are not part of {config.dataset}",
                          "count": len(other_actions), "names": other_actions},
        "empty": empty,
        "cache": str(Path("cache") / cache_key),
        "benchmarks": {},
    }
    for benchmark in BENCHMARKS:
        parts = split_names(usable, benchmark, **protocol)
        manifest["benchmarks"][benchmark] = {
            split: write_split(out_dir, benchmark, split, parts[split], job, config) for split in SPLITS}
    manifest["summary"] = summary.format("skeleton files")
    atomic_write_json(out_dir / MANIFEST_NAME, manifest)
    return manifest


def _has_body(cache_path: Path) -> bool:
    with np.load(cache_path) as cached:
        return bool(np.abs(cached["joints"]).sum() > 0)


def _plain(value: object) -> object:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value
