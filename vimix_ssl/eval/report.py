"""``vimix eval report DIR``: the results of a run directory as Markdown plus plots.

Writes ``DIR/report.md`` and ``DIR/report/*.png``: a table of every result, and per result
a confusion matrix (linear / finetune predictions), a PCA scatter of the test features
coloured by class, and for retrieval a grid of query frames with their top-5 neighbours'
frames framed green (same class) or red (other class). Frames are read from the dataset
the result's protocol names; when it is not reachable the grid is skipped and said so.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from vimix_ssl.eval.results import format_metrics, load_results
from vimix_ssl.utils.io import atomic_open, atomic_write_text

# record -> (split -> dataset of RGB clips)
SplitLoader = Callable[[dict[str, Any]], Callable[[str], Any]]

GRID_QUERIES = 6  # rows of the retrieval grid
GRID_NEIGHBOURS = 5


def pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(figure: Any, path: Path) -> Path:
    with atomic_open(path, "wb") as f:
        figure.savefig(f, format="png", dpi=110, bbox_inches="tight")
    pyplot().close(figure)
    return path


def confusion_matrix(labels: np.ndarray, predicted: np.ndarray, num_classes: int) -> np.ndarray:
    """``(num_classes, num_classes)`` counts; rows = true class, columns = predicted class."""
    matrix = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(matrix, (labels.astype(np.int64), predicted.astype(np.int64)), 1)
    return matrix


def plot_confusion(predictions_path: str | Path, out: Path, class_names: list[str] | None = None) -> Path:
    with np.load(predictions_path, allow_pickle=False) as data:
        labels, probabilities = data["labels"], data["probabilities"]
    num_classes = probabilities.shape[1]
    matrix = confusion_matrix(labels, probabilities.argmax(1), num_classes)
    rows = matrix / np.maximum(matrix.sum(1, keepdims=True), 1)  # per true class, fractions
    plt = pyplot()
    side = min(12, 3 + 0.25 * num_classes)
    figure, axis = plt.subplots(figsize=(side, side))
    image = axis.imshow(rows, cmap="Blues", vmin=0, vmax=1)
    figure.colorbar(image, ax=axis, fraction=0.046)
    axis.set_xlabel("predicted class")
    axis.set_ylabel("true class")
    if class_names and num_classes <= 40:
        axis.set_xticks(range(num_classes), class_names, rotation=90, fontsize=7)
        axis.set_yticks(range(num_classes), class_names, fontsize=7)
    axis.set_title(f"confusion (row-normalised), top-1 {100 * (matrix.trace() / matrix.sum()):.1f}%")
    return save_figure(figure, out)


def pca_2d(features: np.ndarray) -> np.ndarray:
    """``(N, D)`` -> ``(N, 2)`` projection on the two leading principal components."""
    centred = features - features.mean(0, keepdims=True)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    return centred @ vt[:2].T


def plot_pca(features_path: str | Path, out: Path, title: str, class_names: list[str] | None = None) -> Path:
    from vimix_ssl.eval.features import FeatureSet

    features = FeatureSet.load(features_path)
    values = features.features.numpy().astype(np.float64)
    points = pca_2d(values)
    labels = features.labels.numpy()
    total = max(float(((values - values.mean(0)) ** 2).sum()), 1e-12)
    share = [100 * float((points[:, i] ** 2).sum()) / total for i in range(2)]
    plt = pyplot()
    figure, axis = plt.subplots(figsize=(6, 6))
    cmap = plt.get_cmap("tab20")
    classes = np.unique(labels)
    for label in classes:
        chosen = labels == label
        name = class_names[label] if class_names and label < len(class_names) else f"class {label}"
        axis.scatter(points[chosen, 0], points[chosen, 1], s=8, color=cmap(int(label) % 20), label=str(name))
    if len(classes) <= 20:  # a legend for more classes would hide the plot; colours repeat after 20
        axis.legend(fontsize=6, markerscale=1.5, loc="best", ncol=2 if len(classes) > 10 else 1)
    axis.set_title(f"PCA of test features ({len(labels)} videos): {title}")
    axis.set_xlabel(f"PC1 ({share[0]:.0f}% of variance)")
    axis.set_ylabel(f"PC2 ({share[1]:.0f}% of variance)")
    return save_figure(figure, out)


def _frame(dataset: Any, index: int) -> np.ndarray:
    """The middle frame ``(H, W, 3)`` of a video's middle evaluation window, for display."""
    sample = dataset[index]
    clip = sample.get("rgb")
    if clip is None:
        raise ValueError("no RGB frames in the dataset sample")
    clip = clip[clip.shape[0] // 2] if clip.dim() == 5 else clip  # (C, T, H, W)
    frame = clip[:, clip.shape[1] // 2].permute(1, 2, 0).numpy()  # (H, W, 3)
    return frame if frame.dtype == np.uint8 else np.clip(frame * 255, 0, 255).astype(np.uint8)


def plot_retrieval_grid(record: dict[str, Any], out: Path, load_split: SplitLoader | None) -> Path:
    """Query frames (first column) and their top-5 neighbours, framed green/red.

    ``load_split(record)`` returns ``load(split) -> dataset`` giving the RGB clips the record's
    features were computed on.
    """
    with open(record["files"]["neighbours"], encoding="utf-8") as f:
        rows = json.load(f)
    if load_split is None:
        raise ValueError("the grid needs the videos: no dataset loader given (`vimix eval report` gives one)")
    modality = record["protocol"]["modality"]
    if modality not in ("rgb", "flow"):
        raise ValueError(f"no frames to show for modality {modality!r}")
    load = load_split(record)
    test, train = load("test"), load("train")
    by_query: dict[int, list[dict[str, Any]]] = {}
    for row in rows:
        by_query.setdefault(row["query_index"], []).append(row)
    queries = sorted(by_query)
    spread = np.linspace(0, len(queries) - 1, min(GRID_QUERIES, len(queries))).astype(int)
    chosen = [queries[i] for i in spread]
    plt = pyplot()
    figure, axes = plt.subplots(len(chosen), GRID_NEIGHBOURS + 1, squeeze=False,
                                figsize=(2 * (GRID_NEIGHBOURS + 1), 2 * len(chosen)))
    for r, query in enumerate(chosen):
        neighbours = sorted(by_query[query], key=lambda row: row["rank"])[:GRID_NEIGHBOURS]
        axes[r, 0].imshow(_frame(test, query))
        axes[r, 0].set_title(f"query\n{Path(neighbours[0]['query_id']).stem[:18]}", fontsize=7)
        for c, row in enumerate(neighbours, start=1):
            axis = axes[r, c]
            axis.imshow(_frame(train, row["gallery_index"]))
            colour = "tab:green" if row["correct"] else "tab:red"
            for spine in axis.spines.values():
                spine.set_edgecolor(colour)
                spine.set_linewidth(4)
            axis.set_title(f"#{row['rank']} {'✓' if row['correct'] else '✗'} {row['score']:.2f}",
                           fontsize=7, color=colour)
    for axis in axes.flat:
        axis.set_xticks([])
        axis.set_yticks([])
    figure.suptitle("retrieval: query (left) and top-5 gallery videos (green = same class)")
    return save_figure(figure, out)


def render_report(run_dir: str | Path, load_split: SplitLoader | None = None) -> Path:
    """Write ``<run_dir>/report.md`` and its plots; returns the Markdown path.

    Retrieval grids need the videos: ``load_split`` (see :func:`plot_retrieval_grid`) provides
    them; without it the grid is reported as not drawn.
    """
    run_dir = Path(run_dir)
    records = load_results(run_dir)
    if not records:
        raise FileNotFoundError(f"{run_dir / 'eval'} holds no result files")
    plots_dir = run_dir / "report"
    lines = ["# Evaluation report", "", f"Run directory: `{run_dir}`", "",
             "| # | evaluator | data | encoder | modality | metrics | selected on test | notes |",
             "|---|---|---|---|---|---|---|---|"]
    sections = []
    for number, record in enumerate(records, start=1):
        encoder = record.get("encoder") or {}
        protocol = record.get("protocol", {})
        selected = "**yes**" if protocol.get("selected_on_test") else "no"
        lines.append(f"| {number} | {record['evaluator']} | {record.get('data', '')} | "
                     f"`{(encoder.get('sha256') or '')[:12]}` {Path(encoder.get('path', '')).name} | "
                     f"{encoder.get('modality') or protocol.get('modality', '')} | "
                     f"{format_metrics(record['metrics'])} | {selected} | {record.get('notes', '')} |")
        sections += _plots(record, number, plots_dir, load_split)
    text = "\n".join(lines + [""] + sections) + "\n"
    path = run_dir / "report.md"
    atomic_write_text(path, text)
    return path


def _plots(record: dict[str, Any], number: int, plots_dir: Path,
           load_split: SplitLoader | None) -> list[str]:
    """Markdown lines of one result's plots (each plot failure is reported, not fatal)."""
    files = record.get("files", {})
    stem = f"{number:03d}_{record['evaluator']}"
    out = [f"## {number}. {record['evaluator']} — {record.get('data', '')}", "",
           f"Result file: `{record['_path']}`", ""]
    jobs = []
    if files.get("predictions"):
        names = record.get("protocol", {}).get("class_names")
        jobs.append(("confusion matrix", plots_dir / f"{stem}_confusion.png",
                     lambda p: plot_confusion(files["predictions"], p, names)))
    test_features = (files.get("features") or {}).get("test")
    if test_features:
        jobs.append(("PCA of test features", plots_dir / f"{stem}_pca.png",
                     lambda p: plot_pca(test_features, p, record["evaluator"],
                                        record.get("protocol", {}).get("class_names"))))
    if files.get("neighbours"):
        jobs.append(("retrieval examples", plots_dir / f"{stem}_retrieval.png",
                     lambda p: plot_retrieval_grid(record, p, load_split)))
    for title, path, job in jobs:
        try:
            job(path)
            out += [f"**{title}**", "", f"![{title}](report/{path.name})", ""]
        except (OSError, ValueError, KeyError, RuntimeError) as e:
            out += [f"**{title}**: not drawn ({type(e).__name__}: {e})", ""]
    return out
