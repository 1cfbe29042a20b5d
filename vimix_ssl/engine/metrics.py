"""Training metrics: running means for the progress bar, JSON lines and TensorBoard on disk."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from vimix_ssl.utils.io import atomic_write_text


class RunningMean:
    """Mean of the values seen since the last ``reset``."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.total = 0.0
        self.count = 0

    def update(self, value: float, count: int = 1) -> None:
        self.total += value * count
        self.count += count

    @property
    def mean(self) -> float:
        return self.total / self.count if self.count else math.nan


class MetricLogger:
    """Appends ``{"step": ..., "stage": ..., name: value}`` records to ``metrics.jsonl`` and TensorBoard.

    Only the main process writes (``enabled=False`` elsewhere). ``truncate_after(step)`` drops
    records past a checkpoint when a run resumes, so a crash never leaves duplicated steps.
    """

    def __init__(self, out_dir: str | Path, enabled: bool = True, tensorboard: bool = True) -> None:
        self.path = Path(out_dir) / "metrics.jsonl"
        self.enabled = enabled
        self._writer = None
        if enabled:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            if tensorboard:
                from torch.utils.tensorboard import SummaryWriter

                self._writer = SummaryWriter(log_dir=str(Path(out_dir) / "tensorboard"))

    def log(self, step: int, values: dict[str, Any], prefix: str = "train") -> None:
        if not self.enabled:
            return
        record = {"step": step, **{k: _plain(v) for k, v in values.items()}}
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(json.dumps(record) + "\n")
        if self._writer is not None:
            for key, value in values.items():
                if isinstance(value, (int, float)) and not isinstance(value, bool):
                    self._writer.add_scalar(f"{prefix}/{key}", value, step)

    def truncate_after(self, step: int) -> None:
        """Keep only records with ``step <= step`` (atomic rewrite)."""
        if not self.enabled or not self.path.is_file():
            return
        lines = self.path.read_text(encoding="utf-8").splitlines()
        kept = [line for line in lines if line.strip() and json.loads(line).get("step", 0) <= step]
        if len(kept) != len(lines):
            atomic_write_text(self.path, "".join(line + "\n" for line in kept))

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None


def read_metrics(path: str | Path) -> list[dict[str, Any]]:
    """All records of a ``metrics.jsonl`` file."""
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def _plain(value: Any) -> Any:
    if hasattr(value, "item"):
        return value.item()
    return value
