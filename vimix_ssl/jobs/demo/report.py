"""The demo's report: ``report.json`` (machine-readable) and ``report.md`` with plots."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from vimix_ssl.config import to_dict
from vimix_ssl.eval.report import pyplot, save_figure
from vimix_ssl.utils.io import atomic_write_json, atomic_write_text

METRICS = ("linear_top1", "r_at_1", "r_at_5", "r_at_10", "knn_top1")


def plot_curves(runs: dict[str, Path], out: Path) -> Path:
    """Pre-training loss per stage over global steps, one panel per run."""
    from vimix_ssl.engine.metrics import read_metrics

    plt = pyplot()
    fig, axes = plt.subplots(1, len(runs), figsize=(6 * len(runs), 3.6), squeeze=False)
    for ax, (name, run_dir) in zip(axes[0], runs.items()):
        records = [r for r in read_metrics(run_dir / "metrics.jsonl") if "loss" in r]
        for stage in sorted({r.get("stage_name", "") for r in records},
                            key=lambda s: min(r["step"] for r in records if r.get("stage_name", "") == s)):
            rows = [r for r in records if r.get("stage_name", "") == stage]
            ax.plot([r["step"] for r in rows], [r["loss"] for r in rows], label=stage)
        ax.set(title=f"{name} pre-training", xlabel="step", ylabel="contrastive loss")
        ax.legend(fontsize=7)
    fig.tight_layout()
    return save_figure(fig, out)


def plot_features(results: list[dict[str, Any]], out: Path) -> Path:
    """PCA of test features coloured by class: random vs final encoder, per modality."""
    from vimix_ssl.eval.report import pca_2d

    plt = pyplot()
    modalities = list(dict.fromkeys(r["modality"] for r in results))
    fig, axes = plt.subplots(2, len(modalities), figsize=(3.4 * len(modalities), 6.4), squeeze=False)
    for col, m in enumerate(modalities):
        for row, kind in enumerate(("random", "final")):
            r = next(x for x in results if x["modality"] == m and x["encoder"] == kind)
            xy = pca_2d(r["_test_features"])
            axes[row][col].scatter(xy[:, 0], xy[:, 1], c=r["_test_labels"], cmap="tab10", s=10)
            axes[row][col].set_title(f"{m} {kind}", fontsize=9)
            axes[row][col].set_xticks([])
            axes[row][col].set_yticks([])
    fig.tight_layout()
    return save_figure(fig, out)


def plot_confusions(results: list[dict[str, Any]], out: Path) -> Path:
    """Linear-probe confusion matrices of the final encoders."""
    from vimix_ssl.eval.report import confusion_matrix

    plt = pyplot()
    finals = [r for r in results if r["encoder"] == "final"]
    fig, axes = plt.subplots(1, len(finals), figsize=(3.2 * len(finals), 3.2), squeeze=False)
    for ax, r in zip(axes[0], finals):
        matrix = confusion_matrix(r["_test_labels"], r["_predicted"], r["num_classes"])
        ax.imshow(matrix, cmap="Blues")
        ax.set(title=f"{r['modality']} final: linear probe", xlabel="predicted", ylabel="true")
    fig.tight_layout()
    return save_figure(fig, out)


def write_report(out: Path, demo_config: Any, results: list[dict[str, Any]], timing: dict[str, float],
                 eval_config: Any, runs: dict[str, Path]) -> dict[str, Any]:
    plots = out / "plots"
    plots.mkdir(parents=True, exist_ok=True)
    figures = {"training curves": plot_curves(runs, plots / "training_curves.png"),
               "test features (PCA)": plot_features(results, plots / "features_pca.png"),
               "confusion matrices": plot_confusions(results, plots / "confusion.png")}
    public = [{k: (round(v, 2) if isinstance(v, float) else v) for k, v in r.items() if not k.startswith("_")}
              for r in results]
    report = {
        "created": time.strftime("%Y-%m-%d %H:%M:%S"),
        "results": public,
        "protocol": {"demo": to_dict(demo_config), "evaluation": to_dict(eval_config),
                     "pretrain_configs": {k: str(v / "config.yaml") for k, v in runs.items()},
                     "metrics": "percentages on the test split; probe/kNN/retrieval on cached per-video "
                                "features of the pooled backbone (never the projection head)"},
        "timing_seconds": {**timing, "total": round(sum(timing.values()), 1)},
        "plots": {k: str(v.relative_to(out)) for k, v in figures.items()},
    }
    atomic_write_json(out / "report.json", report)
    atomic_write_text(out / "report.md", render_markdown(report))
    return report


def render_markdown(report: dict[str, Any]) -> str:
    timing = report["timing_seconds"]
    parts = ", ".join(f"{k} {v} s" for k, v in timing.items() if k != "total")
    lines = ["# vimix demo report", "",
             f"Created {report['created']}. Total time {timing['total']} s ({parts}).",
             "", "Percentages on the test split. `random` = randomly initialised encoder, `stage0` = after "
             "stage 0 (MoCo + input mixup for RGB/flow, SkeletonCLR for joint/motion), `final` = after the "
             "Cross-Modal Manifold CutMix stages.", "",
             "| modality | encoder | linear top-1 | R@1 | R@5 | R@10 | kNN top-1 |",
             "|---|---|---|---|---|---|---|"]
    for r in report["results"]:
        values = " | ".join(f"{r[m]:.1f}" for m in METRICS)
        lines.append(f"| {r['modality']} | {r['encoder']} | {values} |")
    lines.append("")
    for title, path in report["plots"].items():
        lines += [f"## {title}", "", f"![{title}]({path})", ""]
    lines += ["## Protocol", "", "```json", _json(report["protocol"]), "```", ""]
    return "\n".join(lines)


def _json(obj: Any) -> str:
    import json

    return json.dumps(obj, indent=2, default=lambda o: o.tolist() if isinstance(o, np.ndarray) else str(o))
