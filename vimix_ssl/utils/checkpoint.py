"""Checkpoint files: atomic writes, weights-only reads, and the training-checkpoint convention.

* ``save_checkpoint`` writes to a temporary file beside the target, fsyncs it and renames
  it over the target, so a crash mid-write leaves the previous good checkpoint in place.
  The payload must be plain data (dicts, lists, tuples, str, numbers, bools, None,
  tensors): that is what ``torch.load(weights_only=True)`` can read back, and checking it
  at save time names the offending key instead of failing at resume time.
* ``load_checkpoint`` uses ``torch.load(weights_only=True)``: it never executes code from
  the file. A file holding pickled callables or arbitrary objects is refused with
  ``CheckpointError``.

A training checkpoint (written by the trainer) is a dict with ``format ==
"vimix_ssl.train"``, ``format_version``, ``config`` (resolved, plain data), ``epoch``,
``step``, ``stage``, ``model``, ``optimizer``, ``scheduler``, ``scaler``, ``rng`` and
``encoders`` = ``{modality: {"name": str, "kwargs": dict, "state_dict": ...}}`` (the query
backbone of each modality; ``vimix export`` reads it).
"""

from __future__ import annotations

import io
import pickle
import zipfile
from collections import OrderedDict
from pathlib import Path
from typing import Any

import torch

from vimix_ssl.utils.io import atomic_write_bytes, remove_stale_temps

TRAIN_FORMAT = "vimix_ssl.train"
TRAIN_FORMAT_VERSION = 1
TRAIN_KEYS = ("format", "format_version", "config", "epoch", "step", "stage", "model", "optimizer",
              "scheduler", "scaler", "rng", "encoders")
_PLAIN_SCALARS = (str, int, float, bool, type(None), torch.Tensor, torch.Size, torch.dtype, torch.device)


class CheckpointError(RuntimeError):
    """A checkpoint file is unreadable, unsafe, or not what the caller expected."""


class CheckpointNotFoundError(CheckpointError, FileNotFoundError):
    """The checkpoint path does not exist."""


def check_plain_data(value: Any, where: str = "payload") -> None:
    """Raise ``CheckpointError`` naming the key path of the first non-plain-data value."""
    if isinstance(value, _PLAIN_SCALARS):
        return
    if isinstance(value, (dict, OrderedDict)):
        for key, item in value.items():
            if not isinstance(key, (str, int)):
                raise CheckpointError(
                    f"{where}: key {key!r} is a {type(key).__name__}; keys must be str or int")
            check_plain_data(item, f"{where}[{key!r}]")
        return
    if isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            check_plain_data(item, f"{where}[{index}]")
        return
    raise CheckpointError(
        f"{where} is a {type(value).__module__}.{type(value).__qualname__}; checkpoints hold only plain "
        "data (dict, list, tuple, str, int, float, bool, None, tensors) so they load with weights_only=True")


def save_checkpoint(path: str | Path, payload: dict[str, Any]) -> Path:
    """Atomically write ``payload`` (plain data) to ``path``; returns the path.

    The payload is serialised in memory first and then written with ordinary file writes,
    so a full disk or a read-only folder is an ``OSError`` naming ``path`` (ENOSPC, EACCES),
    not a serialiser failure, and the previous file at ``path`` is kept (the payload is held
    in memory twice meanwhile). A temporary file left beside ``path`` by a killed earlier
    save is removed first.
    """
    if not isinstance(payload, dict):
        raise CheckpointError(f"checkpoint payload must be a dict, got {type(payload).__name__}")
    check_plain_data(payload)
    path = Path(path)
    remove_stale_temps(path.parent, target=path.name)  # a killed earlier save's partial file
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    atomic_write_bytes(path, buffer.getbuffer())
    return path


def _file_kind(path: Path) -> str:
    """``"zip"`` (torch.save since 1.6), ``"legacy"`` (an older torch pickle) or ``"other"``."""
    with open(path, "rb") as f:
        head = f.read(4)
    if head == b"PK\x03\x04" or zipfile.is_zipfile(path):
        return "zip"
    if head[:2] == b"\x80\x02":  # pickle protocol 2, which legacy torch.save wrote
        return "legacy"
    return "other"


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read a checkpoint with ``torch.load(weights_only=True)``; never executes code from the file."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointNotFoundError(f"checkpoint not found: {path}"
                                      + (" (it is a directory)" if path.is_dir() else ""))
    try:
        kind = _file_kind(path)
    except OSError as e:
        raise CheckpointError(f"cannot read checkpoint {path}: {e.strerror or e}") from e
    if kind == "other":
        size = path.stat().st_size
        raise CheckpointError(f"{path} is not a checkpoint: neither a PyTorch zip archive nor a legacy "
                              f"PyTorch pickle ({size} bytes" + (", empty)" if size == 0 else ")"))
    try:
        payload = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as e:
        reason = str(e).strip().splitlines()
        globals_ = [line.strip() for line in reason if "GLOBAL" in line or "global" in line.split()[:3]]
        if not globals_:
            detail = next((line.strip() for line in reason if "Unsupported" in line or "load key" in line),
                          reason[-1] if reason else "")
            raise CheckpointError(f"{path} is not a readable checkpoint: its pickle data is corrupt "
                                  f"({detail})") from e
        raise CheckpointError(
            f"refused to load {path}: it contains pickled Python objects (callables or classes), not only "
            f"tensors and plain data; vimix_ssl never executes code from a checkpoint. Detail: {globals_[0]}"
        ) from e
    except (RuntimeError, EOFError, OSError, ValueError, KeyError, IndexError) as e:
        first = (str(e).strip().splitlines() or [type(e).__name__])[0]
        raise CheckpointError(f"cannot read checkpoint {path} (truncated or not a PyTorch file?): "
                              f"{first}") from e
    if not isinstance(payload, dict):
        raise CheckpointError(f"{path}: expected a dict payload, got {type(payload).__name__}")
    return payload


def training_payload(*, config: dict[str, Any], epoch: int, step: int, stage: int | str,
                     model: dict[str, Any], optimizer: dict[str, Any] | None,
                     scheduler: dict[str, Any] | None, scaler: dict[str, Any] | None,
                     rng: dict[str, Any], encoders: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Assemble a training checkpoint payload following the convention above."""
    payload = {"format": TRAIN_FORMAT, "format_version": TRAIN_FORMAT_VERSION, "config": config,
               "epoch": epoch, "step": step, "stage": stage, "model": model, "optimizer": optimizer,
               "scheduler": scheduler, "scaler": scaler, "rng": rng, "encoders": encoders}
    check_training_payload(payload)
    return payload


def check_training_payload(payload: dict[str, Any], source: str | Path = "checkpoint") -> None:
    """Raise ``CheckpointError`` unless ``payload`` is a training checkpoint this version can read."""
    if payload.get("format") != TRAIN_FORMAT:
        raise CheckpointError(f"{source}: format is {payload.get('format')!r}, expected {TRAIN_FORMAT!r} "
                              "(a training checkpoint)")
    version = payload.get("format_version")
    if not isinstance(version, int) or version > TRAIN_FORMAT_VERSION:
        raise CheckpointError(f"{source}: format_version {version!r} is not supported by this vimix_ssl "
                              f"(reads up to {TRAIN_FORMAT_VERSION})")
    missing = [key for key in TRAIN_KEYS if key not in payload]
    if missing:
        raise CheckpointError(f"{source}: training checkpoint lacks keys {missing}")
    for modality, entry in payload["encoders"].items():
        if not isinstance(entry, dict) or not {"name", "kwargs", "state_dict"} <= set(entry):
            raise CheckpointError(f"{source}: encoders[{modality!r}] must be a dict with keys "
                                  "'name', 'kwargs', 'state_dict'")
