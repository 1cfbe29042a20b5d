"""Resume only what was configured: a run folder's ``config.yaml`` against the config of a rerun.

``resume=auto`` continues the checkpoint in ``out_dir``; it must be the same experiment.
``check_same_config`` compares the resolved config with the run's ``config.yaml`` key by key
and refuses any difference, naming the keys, unless every differing key is listed in
``resume_allow_changes`` (e.g. ``resume_allow_changes=[stage_defaults.epochs]`` to train
longer). An accepted change is appended to ``config_history.jsonl`` in the run folder, so
``config.yaml`` (rewritten with the new values) and the history together say what ran.

Allowed keys are dotted; a key allows everything below it (``data`` allows ``data.batch_size``),
and ``stage_defaults.X`` allows ``stages[i].X`` of every stage (stage entries are saved
expanded). ``resume`` and ``resume_allow_changes`` themselves are never compared.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import yaml

from vimix_ssl.config import ConfigError

HISTORY_NAME = "config_history.jsonl"
NOT_COMPARED = ("resume", "resume_allow_changes")
_MISSING = "<absent>"


def flatten(data: Any, prefix: str = "") -> dict[str, Any]:
    """Nested plain data -> ``{"a.b": v, "stages[0].epochs": v}`` (leaves only; empty containers kept)."""
    if isinstance(data, dict) and data:
        out: dict[str, Any] = {}
        for key, value in data.items():
            out.update(flatten(value, f"{prefix}.{key}" if prefix else str(key)))
        return out
    if isinstance(data, (list, tuple)) and data and all(isinstance(v, dict) for v in data):
        out = {}
        for index, value in enumerate(data):
            out.update(flatten(value, f"{prefix}[{index}]"))
        return out
    return {prefix: list(data) if isinstance(data, tuple) else data}


def _allowed(key: str, allow: list[str]) -> bool:
    for pattern in allow:
        candidates = [pattern]
        if pattern.startswith("stage_defaults."):
            candidates.append("stages[*]." + pattern[len("stage_defaults."):])
        for candidate in candidates:
            general = key
            if candidate.startswith("stages[*]") and key.startswith("stages["):
                general = "stages[*]" + key[key.index("]") + 1:]
            if general == candidate or general.startswith((candidate + ".", candidate + "[")):
                return True
    return False


def config_changes(before: dict[str, Any], after: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
    """``{dotted key: (before, after)}`` for every leaf that differs (compared keys only)."""
    flat_before, flat_after = flatten(before), flatten(after)
    changes = {}
    for key in sorted(set(flat_before) | set(flat_after)):
        if key.split(".")[0].split("[")[0] in NOT_COMPARED:
            continue
        old, new = flat_before.get(key, _MISSING), flat_after.get(key, _MISSING)
        if old != new:
            changes[key] = (old, new)
    return changes


def check_same_config(out_dir: Path, current: dict[str, Any], allow: list[str]) -> dict[str, tuple[Any, Any]]:
    """Refuse resuming ``out_dir`` with a config other than its ``config.yaml``; returns the allowed changes.

    A folder without ``config.yaml`` (a checkpoint copied in to start from) is not compared.
    """
    saved_path = out_dir / "config.yaml"
    if not saved_path.is_file():
        return {}
    try:
        saved = yaml.safe_load(saved_path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as e:
        raise ConfigError(f"{saved_path}: unreadable run config ({e}); resume=never starts afresh") from e
    changes = config_changes(saved, current)
    refused = {k: v for k, v in changes.items() if not _allowed(k, allow)}
    if refused:
        shown = "; ".join(f"{k}: {old!r} -> {new!r}" for k, (old, new) in list(refused.items())[:8])
        more = f" (and {len(refused) - 8} more)" if len(refused) > 8 else ""
        raise ConfigError(
            f"{out_dir}: resume=auto found a run with a different config ({saved_path}): {shown}{more}. "
            f"Rerun with that config, use another out_dir or resume=never to start afresh, or allow a "
            f"deliberate change with resume_allow_changes=[{','.join(sorted(refused))}]")
    return changes


def record_changes(out_dir: Path, changes: dict[str, tuple[Any, Any]], resumed_at: dict[str, Any]) -> None:
    """Append one line to ``config_history.jsonl``: when, where the run stood, and what changed."""
    from vimix_ssl.utils.io import atomic_write_text

    if not changes:
        return
    path = out_dir / HISTORY_NAME
    previous = path.read_text(encoding="utf-8") if path.is_file() else ""
    record = {"time": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "resumed_at": resumed_at,
              "changes": {k: {"before": old, "after": new} for k, (old, new) in changes.items()}}
    atomic_write_text(path, previous + json.dumps(record, default=str) + "\n")


def read_history(out_dir: Path) -> list[dict[str, Any]]:
    path = Path(out_dir) / HISTORY_NAME
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
