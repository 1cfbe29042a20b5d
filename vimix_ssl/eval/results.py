"""Result records: one JSON file per evaluation plus a Markdown results table per run directory.

Every evaluator calls :func:`write_result`. The JSON holds the metrics (fractions in
[0, 1]), the full protocol (resolved config, feature settings, cache keys), the encoder
description with its SHA-256 and the start/finish timestamps. The row appended to
``<run_dir>/results.md`` shows the same in one line, metrics in percent.
"""

from __future__ import annotations

import datetime as dt
import json
import socket
from pathlib import Path
from typing import Any

from vimix_ssl.utils.io import atomic_write_json, atomic_write_text

RESULT_FORMAT = "vimix_ssl.eval_result"
RESULT_VERSION = 1
RESULTS_DIR = "eval"  # JSON results live in <run_dir>/eval/
TABLE_NAME = "results.md"
TABLE_HEADER = ("| finished | evaluator | data | encoder | modality | metrics | notes | result |\n"
                "|---|---|---|---|---|---|---|---|\n")


def now_iso() -> str:
    return dt.datetime.now(dt.timezone.utc).astimezone().isoformat(timespec="seconds")


def format_metrics(metrics: dict[str, Any]) -> str:
    """``{"top1": 0.5123, "R@1": 0.3}`` -> ``"top1 51.23 · R@1 30.00"`` (fractions as percent)."""
    parts = []
    for key, value in metrics.items():
        if isinstance(value, float):
            parts.append(f"{key} {100 * value:.2f}")
        elif isinstance(value, int):
            parts.append(f"{key} {value}")
    return " · ".join(parts)


def write_result(run_dir: str | Path, evaluator: str, metrics: dict[str, Any],
                 protocol: dict[str, Any], encoder: dict[str, Any] | None, started: str,
                 data: str = "", notes: str = "", files: dict[str, str] | None = None) -> Path:
    """Write ``<run_dir>/eval/<evaluator>_<time>.json`` and append a row to ``results.md``.

    ``metrics`` are fractions (or counts); ``protocol`` must be JSON-serialisable and
    complete enough to reproduce the number; ``files`` names side outputs (predictions,
    features, neighbour lists) relative to the result file's directory.
    """
    run_dir = Path(run_dir)
    finished = now_iso()
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S-%f")
    path = run_dir / RESULTS_DIR / f"{evaluator}_{stamp}.json"
    record = {
        "format": RESULT_FORMAT, "format_version": RESULT_VERSION, "evaluator": evaluator,
        "data": data, "metrics": metrics, "protocol": protocol, "encoder": encoder,
        "notes": notes, "files": files or {}, "started": started, "finished": finished,
        "host": socket.gethostname(),
    }
    json.dumps(record)  # fail here, before writing, if something is not serialisable
    atomic_write_json(path, record)
    append_table_row(run_dir, record, path)
    return path


def table_row(record: dict[str, Any], result_path: str) -> str:
    encoder = record.get("encoder") or {}
    sha = (encoder.get("sha256") or "")[:12]
    name = Path(encoder.get("path", "")).name if encoder.get("path") else ""
    label = f"{name} `{sha}`" if sha else name
    cells = [record["finished"], record["evaluator"], record.get("data", ""), label,
             str(encoder.get("modality") or ""), format_metrics(record["metrics"]),
             record.get("notes", ""), result_path]
    return "| " + " | ".join(str(c).replace("|", "/") for c in cells) + " |\n"


def append_table_row(run_dir: str | Path, record: dict[str, Any], result_path: str | Path) -> Path:
    """Append one row to ``<run_dir>/results.md`` (rewritten atomically)."""
    table = Path(run_dir) / TABLE_NAME
    text = table.read_text(encoding="utf-8") if table.is_file() else "# Evaluation results\n\n" + TABLE_HEADER
    relative = Path(result_path).relative_to(Path(run_dir)) if Path(result_path).is_relative_to(
        Path(run_dir)) else Path(result_path)
    atomic_write_text(table, text + table_row(record, str(relative)))
    return table


def load_results(run_dir: str | Path) -> list[dict[str, Any]]:
    """Every result JSON under ``<run_dir>/eval`` (oldest first), each with ``_path`` set."""
    folder = Path(run_dir) / RESULTS_DIR
    if not folder.is_dir():
        raise FileNotFoundError(f"no evaluation results in {run_dir}: {folder} does not exist "
                                "(run a `vimix eval ...` command with --out pointing there)")
    records = []
    for path in sorted(folder.glob("*.json")):
        with open(path, encoding="utf-8") as f:
            try:
                record = json.load(f)
            except json.JSONDecodeError as e:
                raise ValueError(f"{path}: not valid JSON ({e})") from e
        if not isinstance(record, dict) or record.get("format") != RESULT_FORMAT:
            continue  # side files (neighbour lists) share the folder
        record["_path"] = str(path)
        records.append(record)
    # file names end in a microsecond stamp: order within one second too
    return sorted(records, key=lambda r: (r["finished"], Path(r["_path"]).stem.rsplit("_", 1)[-1]))
