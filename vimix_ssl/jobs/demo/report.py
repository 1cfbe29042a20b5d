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
    """PCA of test features coloured by class, with a class legend: random vs final encoder, per modality."""
    from vimix_ssl.eval.report import pca_2d

    plt = pyplot()
    modalities = list(dict.fromkeys(r["modality"] for r in results))
    fig, axes = plt.subplots(2, len(modalities), figsize=(3.6 * len(modalities), 7.0), squeeze=False)
    for col, m in enumerate(modalities):
        for row, kind in enumerate(("random", "final")):
            r = next(x for x in results if x["modality"] == m and x["encoder"] == kind)
            features = np.asarray(r["_test_features"], dtype=np.float64)
            xy = pca_2d(features)
            centred = features - features.mean(0)
            total = max(float((centred ** 2).sum()), 1e-12)
            share = [100 * float((xy[:, i] ** 2).sum()) / total for i in range(2)]
            ax = axes[row][col]
            labels = np.asarray(r["_test_labels"])
            cmap = plt.get_cmap("tab10")
            for label in np.unique(labels):
                chosen = labels == label
                ax.scatter(xy[chosen, 0], xy[chosen, 1], s=9, color=cmap(int(label) % 10),
                           label=f"class {label}")
            ax.set_title(f"{m} {kind}", fontsize=9)
            ax.set_xlabel(f"PC1 ({share[0]:.0f}% of variance)", fontsize=8)
            ax.set_ylabel(f"PC2 ({share[1]:.0f}% of variance)", fontsize=8)
            ax.tick_params(labelsize=6)
            if row == 0:
                ax.legend(fontsize=6, markerscale=1.5, loc="best")
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
        image = ax.imshow(matrix, cmap="Blues")
        fig.colorbar(image, ax=ax, fraction=0.046, label="test videos")
        ticks = range(r["num_classes"])
        ax.set_xticks(ticks, [str(t) for t in ticks], fontsize=7)
        ax.set_yticks(ticks, [str(t) for t in ticks], fontsize=7)
        ax.set(title=f"{r['modality']} final: linear probe", xlabel="predicted class", ylabel="true class")
    fig.tight_layout()
    return save_figure(fig, out)


PAIRS = (("rgb", "flow"), ("joint", "motion"))  # modalities whose features come from the same clips
COMPARED = (("stage0", "random"), ("final", "random"), ("final", "stage0"))  # (a, b): is a better than b?
ENCODERS = ("random", "stage0", "final")  # every run has these; intermediate stages come in between


def comparisons(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Paired differences between a modality's encoders on the same test videos, with verdicts."""
    from vimix_ssl.eval.stats import compare
    from vimix_ssl.jobs.demo.evaluate import SCORED

    by = {(r["modality"], r["encoder"]): r for r in results if "_scores" in r}
    rows = []
    for m in dict.fromkeys(r["modality"] for r in results):
        # each intermediate stage (e.g. after the first CMMC round) against stage 0 too
        middle = [r["encoder"] for r in results if r["modality"] == m and r["encoder"] not in ENCODERS]
        for a, b in (*COMPARED, *((kind, "stage0") for kind in middle)):
            if (m, a) not in by or (m, b) not in by:
                continue
            for metric in SCORED:
                c = compare(by[m, a]["_scores"][metric], by[m, b]["_scores"][metric])
                rows.append({"modality": m, "a": a, "b": b, "metric": metric,
                             "difference": round(c.difference.mean, 2), "low": round(c.difference.low, 2),
                             "high": round(c.difference.high, 2), "verdict": c.verdict})
    return rows


def diagnostics(results: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Effective rank of every encoder's test features; linear CKA between paired modalities per encoder."""
    from vimix_ssl.eval.diagnostics import effective_rank, linear_cka

    ranks = [{"modality": r["modality"], "encoder": r["encoder"],
              "effective_rank": round(effective_rank(r["_test_features"]), 2),
              "dims": int(np.asarray(r["_test_features"]).shape[1])} for r in results]
    by = {(r["modality"], r["encoder"]): r for r in results}
    cka = []
    for first, second in PAIRS:
        for kind in dict.fromkeys(r["encoder"] for r in results if r["modality"] == first):
            x, y = by.get((first, kind)), by.get((second, kind))
            if x is None or y is None:
                continue
            if not np.array_equal(x["_test_labels"], y["_test_labels"]):
                continue  # not the same clips in the same order: no CKA
            cka.append({"pair": f"{first}-{second}", "encoder": kind,
                        "linear_cka": round(linear_cka(x["_test_features"], y["_test_features"]), 3)})
    return {"effective_rank": ranks, "cka": cka}


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
        "comparisons": comparisons(results),
        "diagnostics": diagnostics(results),
        "protocol": {"demo": to_dict(demo_config), "evaluation": to_dict(eval_config),
                     "pretrain_configs": {k: str(v / "config.yaml") for k, v in runs.items()},
                     "metrics": f"percentages on the {_evaluated_split(demo_config)}; probe/kNN/retrieval "
                                "on cached per-video features of the pooled backbone (never the projection "
                                "head); the skeleton probe sees features standardised with the training "
                                "split's mean and std; intervals: 95 % bootstrap over the evaluated items "
                                "(eval.stats)"},
        "timing_seconds": {**timing, "total": round(sum(timing.values()), 1)},
        "plots": {k: str(v.relative_to(out)) for k, v in figures.items()},
    }
    atomic_write_json(out / "report.json", report)
    atomic_write_text(out / "report.md", render_markdown(report))
    return report


def console_table(report: dict[str, Any]) -> str:
    """What ``vimix demo`` prints: every number with its interval, every comparison with its verdict."""
    from vimix_ssl.jobs.demo.evaluate import SCORED

    names = {"linear_top1": "linear top-1", "r_at_1": "R@1", "knn_top1": "kNN top-1"}
    lines = [_split_sentence(report) + " In brackets: 95 % bootstrap interval over the evaluated items.",
             f"{'modality':8} {'encoder':7} " + " ".join(f"{names[m]:>19}" for m in SCORED)]
    for r in report["results"]:
        lines.append(f"{r['modality']:8} {r['encoder']:7} " + " ".join(f"{_cell(r, m):>19}" for m in SCORED))
    lines += ["", "paired differences (holds: better, reversed: worse, not resolved: this run shows neither)"]
    grouped: dict[tuple[str, str, str], list[str]] = {}
    for c in report.get("comparisons", []):
        grouped.setdefault((c["modality"], c["a"], c["b"]), []).append(
            f"{names[c['metric']]} {c['difference']:+.1f} [{c['low']:+.1f}, {c['high']:+.1f}] {c['verdict']}")
    lines += [f"{m:8} {a} - {b}: " + "; ".join(parts) for (m, a, b), parts in grouped.items()]
    return "\n".join(lines)


def _cell(r: dict[str, Any], metric: str) -> str:
    ci = r.get(f"{metric}_ci")
    return f"{r[metric]:.1f}" + (f" [{ci[0]:.1f}, {ci[1]:.1f}]" if ci else "")


def render_markdown(report: dict[str, Any]) -> str:
    timing = report["timing_seconds"]
    parts = ", ".join(f"{k} {v} s" for k, v in timing.items() if k != "total")
    tests = sorted({(r["modality"], r.get("num_test")) for r in report["results"]})
    lines = ["# vimix demo report", "",
             f"Created {report['created']}. Total time {timing['total']} s ({parts}).",
             "", _split_sentence(report) + " `random` = randomly initialised encoder, `stage0` = after "
             "stage 0 (MoCo + input mixup for RGB/flow, SkeletonCLR for joint/motion), `cmmc1` = after the "
             "first round of Cross-Modal Manifold CutMix stages (when there are several), `final` = after "
             "all of them. In brackets: 95 % bootstrap interval over the evaluated videos "
             "of this one run (" + ", ".join(f"{m}: {n} videos" for m, n in tests) + "); it is the test-set "
             "sampling error only, seed-to-seed variation is not in it.", "",
             "| modality | encoder | linear top-1 | R@1 | R@5 | R@10 | kNN top-1 |",
             "|---|---|---|---|---|---|---|"]
    for r in report["results"]:
        values = " | ".join(_cell(r, m) for m in METRICS)
        lines.append(f"| {r['modality']} | {r['encoder']} | {values} |")
    lines += ["", "## Is pre-training better than random init, and CMMC better than stage 0?", "",
              "Paired differences on the same test videos (points, 95 % bootstrap interval). *holds*: the "
              "interval is above 0; *reversed*: below 0; *not resolved*: it contains 0 — then this run does "
              "not show an encoder better or worse than the other.", "",
              "| modality | comparison | metric | difference | verdict |", "|---|---|---|---|---|"]
    for c in report.get("comparisons", []):
        lines.append(f"| {c['modality']} | {c['a']} − {c['b']} | {c['metric']} | {c['difference']:+.1f} "
                     f"[{c['low']:+.1f}, {c['high']:+.1f}] | {c['verdict']} |")
    diag = report.get("diagnostics", {})
    if diag:
        lines += ["", "## Representation diagnostics", "",
                  "Effective rank of the test features (exp of the entropy of the normalised singular "
                  "values; close to 1 = the features lie along one direction, dimensional collapse). "
                  "Linear CKA between the two modalities' features of the same test clips "
                  "(1 = the same geometry).", "",
                  "| modality | encoder | effective rank | feature dims |", "|---|---|---|---|"]
        lines += [f"| {d['modality']} | {d['encoder']} | {d['effective_rank']:.1f} | {d['dims']} |"
                  for d in diag.get("effective_rank", [])]
        if diag.get("cka"):
            lines += ["", "| pair | encoder | linear CKA |", "|---|---|---|"]
            lines += [f"| {d['pair']} | {d['encoder']} | {d['linear_cka']:.3f} |" for d in diag["cka"]]
    lines.append("")
    for title, path in report["plots"].items():
        lines += [f"## {title}", "", f"![{title}]({path})", ""]
    lines += ["## Protocol", "", "```json", _json(report["protocol"]), "```", ""]
    return "\n".join(lines)


def _evaluated_split(demo_config: Any) -> str:
    if getattr(demo_config, "evaluate_on", "test") == "validation":
        return "validation split carved from the video training list (skeletons: test split)"
    return "test split"


def _split_sentence(report: dict[str, Any]) -> str:
    if report.get("protocol", {}).get("demo", {}).get("evaluate_on") == "validation":
        return ("Percentages on the **validation split** carved from the video training list (whole groups, "
                "data/validation.py; the test split was not used), skeletons on their test split.")
    return "Percentages on the test split."


def _json(obj: Any) -> str:
    import json

    return json.dumps(obj, indent=2, default=lambda o: o.tolist() if isinstance(o, np.ndarray) else str(o))
