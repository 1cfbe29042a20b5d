"""Standalone encoder files: what users load to reuse a pre-trained encoder.

An encoder file is a weights-only checkpoint (``vimix_ssl.utils.checkpoint``)::

    {"format": "vimix_ssl.encoder", "format_version": 1, "name": <registry name>,
     "kwargs": {...plain data...}, "modality": "rgb", "state_dict": {...}, "meta": {...},
     "inputs": {...}}

``inputs`` is the record of what the encoder was trained on (``vimix_ssl.data.inputs``:
modality, channels, flow units and quantisation, normalisation mean/std, clip length,
frame size, dataset/split). Training checkpoints carry it per encoder
(``encoders[m]["inputs"]``) and ``vimix export`` copies it. Files written before the record
existed have none; evaluators then say so and use their config.

``load_encoder`` rebuilds the encoder from ``name`` and ``kwargs`` through the registry and
loads the weights strictly: a missing file, a file for another architecture or a training
checkpoint is an error, never a silently random-initialised encoder.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from torch import nn

from vimix_ssl.models.base import StagedEncoder
from vimix_ssl.models.registry import build_encoder, list_encoders
from vimix_ssl.utils.checkpoint import (
    TRAIN_FORMAT,
    CheckpointError,
    check_training_payload,
    load_checkpoint,
    save_checkpoint,
)

ENCODER_FORMAT = "vimix_ssl.encoder"
ENCODER_FORMAT_VERSION = 1
MODALITIES = ("rgb", "flow", "joint", "motion", "bone")
_SHOWN = 5  # keys listed per category in mismatch messages


def _check_kwargs(kwargs: dict[str, Any], where: str) -> None:
    try:
        json.dumps(kwargs)
    except TypeError as e:
        raise CheckpointError(
            f"{where}: encoder kwargs must be plain data (JSON types), got {kwargs!r}") from e


def _architecture(name: str, kwargs: dict[str, Any]) -> str:
    return f"{name}({', '.join(f'{k}={v!r}' for k, v in sorted(kwargs.items()))})"


def _guess_architectures(keys: set[str]) -> list[str]:
    """Registered encoders whose default build has exactly these parameter names."""
    matches = []
    for name in list_encoders():
        with torch.device("meta"):
            model = build_encoder(name)
        if set(model.state_dict()) == keys:
            matches.append(name)
    return matches


def weights_mismatch(name: str, kwargs: dict[str, Any], state_dict: dict[str, Any]) -> str | None:
    """``None`` if ``state_dict`` fits ``name(**kwargs)`` exactly, else a message naming both sides."""
    with torch.device("meta"):  # no memory, no init cost
        model = build_encoder(name, **kwargs)
    expected = {key: tuple(value.shape) for key, value in model.state_dict().items()}
    given = {key: tuple(getattr(value, "shape", ())) for key, value in state_dict.items()}
    # listed in module order, so the first named key is the earliest layer that differs
    missing = [k for k in expected if k not in given]
    unexpected = [k for k in given if k not in expected]
    shapes = [f"{k}: weights {given[k]} vs model {expected[k]}"
              for k in expected if k in given and given[k] != expected[k]]
    if not (missing or unexpected or shapes):
        return None
    parts = [f"the weights do not fit encoder {_architecture(name, kwargs)}"]
    for label, items in (("missing", missing), ("unexpected", unexpected), ("shape mismatch", shapes)):
        if items:
            more = f" and {len(items) - _SHOWN} more" if len(items) > _SHOWN else ""
            parts.append(f"{label} ({len(items)}): {items[:_SHOWN]}{more}")
    guesses = [g for g in _guess_architectures(set(given)) if g != name]
    if guesses:
        parts.append(f"the weights have the parameter names of: {', '.join(guesses)}")
    return "; ".join(parts)


def export_encoder(path: str | Path, encoder_name: str, encoder_kwargs: dict[str, Any],
                   state_dict: dict[str, torch.Tensor], modality: str,
                   meta: dict[str, Any] | None = None, inputs: dict[str, Any] | None = None) -> Path:
    """Write a standalone encoder file (atomic); the weights must fit ``encoder_name(**kwargs)``.

    ``inputs``: the input record (``vimix_ssl.data.inputs.input_record``); ``None`` = unknown.
    """
    if modality not in MODALITIES:
        raise ValueError(f"modality must be one of {MODALITIES}, got {modality!r}")
    _check_kwargs(encoder_kwargs, str(path))
    if inputs is not None:
        _check_kwargs(inputs, f"{path} (inputs)")
        if inputs.get("modality", modality) != modality:
            raise CheckpointError(f"refusing to export to {path}: the input record is for modality "
                                  f"{inputs.get('modality')!r}, the encoder for {modality!r}")
    mismatch = weights_mismatch(encoder_name, encoder_kwargs, state_dict)
    if mismatch:
        raise CheckpointError(f"refusing to export to {path}: {mismatch}")
    payload = {"format": ENCODER_FORMAT, "format_version": ENCODER_FORMAT_VERSION, "name": encoder_name,
               "kwargs": dict(encoder_kwargs), "modality": modality,
               "state_dict": {key: value.detach().cpu() for key, value in state_dict.items()},
               "meta": dict(meta or {})}
    if inputs is not None:
        payload["inputs"] = dict(inputs)
    return save_checkpoint(path, payload)


def check_export_target(source: str | Path, out_path: str | Path, overwrite: bool = False) -> None:
    """Refuse to write over the source checkpoint (ever) or over an existing file (unless ``overwrite``)."""
    source, out_path = Path(source), Path(out_path)
    if out_path.is_dir():
        raise FileExistsError(f"--out {out_path} is a folder; give the encoder file to write")
    if out_path.exists() and source.exists() and out_path.samefile(source):
        raise FileExistsError(f"--out {out_path} is the input checkpoint itself; exporting over it would "
                              "lose its optimiser, queues and RNG state: choose another file")
    if out_path.exists() and not overwrite:
        raise FileExistsError(f"--out {out_path} already exists; choose another file or pass --force to "
                              "replace it")


def export_from_checkpoint(checkpoint_path: str | Path, modality: str, out_path: str | Path,
                           overwrite: bool = True) -> Path:
    """Extract modality ``modality``'s query backbone from a training checkpoint into an encoder file.

    ``out_path`` is never the checkpoint itself; with ``overwrite=False`` (``vimix export``
    without ``--force``) it must not exist either.
    """
    check_export_target(checkpoint_path, out_path, overwrite)
    payload = load_checkpoint(checkpoint_path)
    check_training_payload(payload, checkpoint_path)
    encoders = payload["encoders"]
    if modality not in encoders:
        raise CheckpointError(f"{checkpoint_path} has no encoder for modality {modality!r}; "
                              f"it has: {sorted(encoders) or 'none'}")
    entry = encoders[modality]
    meta = {"source": str(checkpoint_path), "epoch": payload["epoch"], "step": payload["step"],
            "stage": payload["stage"], "config": payload["config"]}
    return export_encoder(out_path, entry["name"], entry["kwargs"], entry["state_dict"], modality, meta,
                          entry.get("inputs"))


def _check_encoder_payload(payload: dict[str, Any], path: Path) -> None:
    file_format = payload.get("format")
    if file_format == TRAIN_FORMAT:
        modalities = sorted(payload.get("encoders") or {})
        example = modalities[0] if modalities else "rgb"
        raise CheckpointError(
            f"{path} is a training checkpoint, not an encoder file; extract an encoder first: "
            f"`vimix export {path} --modality {example} --out {example}_encoder.pt` "
            f"(modalities in it: {modalities or 'none'})")
    if file_format != ENCODER_FORMAT:
        raise CheckpointError(f"{path} is not a vimix_ssl encoder file (format={file_format!r}, "
                              f"expected {ENCODER_FORMAT!r})")
    version = payload.get("format_version")
    if not isinstance(version, int) or version > ENCODER_FORMAT_VERSION:
        raise CheckpointError(f"{path}: encoder format_version {version!r} is not supported "
                              f"(this vimix_ssl reads up to {ENCODER_FORMAT_VERSION})")
    missing = [k for k in ("name", "kwargs", "modality", "state_dict") if k not in payload]
    if missing:
        raise CheckpointError(f"{path}: encoder file lacks keys {missing}")


def load_encoder(path: str | Path, map_location: str | torch.device = "cpu",
                 expected_modality: str | None = None) -> nn.Module:
    """Rebuild an exported encoder and load its weights strictly; returns it in eval mode.

    The returned ``StagedEncoder`` maps inputs to pooled features and carries ``.modality``
    and ``.spec`` (``name``, ``kwargs``, ``modality``, ``meta``, and ``inputs``: the input
    record, absent for files written before it existed).
    """
    path = Path(path)
    payload = load_checkpoint(path, map_location=map_location)
    _check_encoder_payload(payload, path)
    if expected_modality is not None and payload["modality"] != expected_modality:
        raise CheckpointError(f"{path} holds a {payload['modality']!r} encoder, "
                              f"expected modality {expected_modality!r}")
    name, kwargs = payload["name"], payload["kwargs"]
    try:
        mismatch = weights_mismatch(name, kwargs, payload["state_dict"])
    except (KeyError, TypeError, ValueError) as e:
        raise CheckpointError(f"{path}: cannot rebuild encoder {name!r} with kwargs {kwargs!r}: {e}") from e
    if mismatch:
        raise CheckpointError(f"{path}: {mismatch}")
    encoder: StagedEncoder = build_encoder(name, **kwargs)
    encoder.load_state_dict(payload["state_dict"], strict=True)
    encoder.to(map_location).eval()
    encoder.modality = payload["modality"]
    encoder.spec = {"name": name, "kwargs": kwargs, "modality": payload["modality"],
                    "meta": payload.get("meta", {})}
    if payload.get("inputs") is not None:
        encoder.spec["inputs"] = payload["inputs"]
    return encoder
