"""The demo report's intervals, verdicts and diagnostics on constructed evaluation results."""

from __future__ import annotations

import numpy as np

from vimix_ssl.eval.stats import interval
from vimix_ssl.jobs.demo.report import comparisons, diagnostics, render_markdown


def _result(modality: str, encoder: str, accuracy: float, features: np.ndarray, seed: int) -> dict:
    rng = np.random.default_rng(seed)
    labels = np.arange(400) % 4
    scores = {m: 100.0 * (rng.random(400) < accuracy) for m in ("linear_top1", "r_at_1", "knn_top1")}
    entry = {"modality": modality, "encoder": encoder, "num_test": 400, "num_classes": 4,
             "_scores": scores, "_test_features": features, "_test_labels": labels}
    for metric, values in scores.items():
        ci = interval(values)
        entry[metric], entry[f"{metric}_ci"] = float(values.mean()), [ci.low, ci.high]
    entry.update(r_at_5=entry["r_at_1"], r_at_10=entry["r_at_1"])
    return entry


def test_verdicts_diagnostics_and_markdown():
    rng = np.random.default_rng(0)
    base = rng.normal(size=(400, 6))
    results = [
        _result("rgb", "random", 0.3, base, 1),
        _result("rgb", "stage0", 0.3, base @ np.linalg.qr(rng.normal(size=(6, 6)))[0], 2),
        _result("rgb", "final", 0.6, rng.normal(size=(400, 1)) * np.ones((1, 6)), 3),  # one direction
        _result("flow", "random", 0.3, rng.normal(size=(400, 6)), 4),
        _result("flow", "stage0", 0.3, base * 2.0, 5),  # the RGB stage-0 geometry, scaled
        _result("flow", "final", 0.3, rng.normal(size=(400, 6)), 6),
    ]
    rows = comparisons(results)
    verdict = {(r["modality"], r["a"], r["b"], r["metric"]): r["verdict"] for r in rows}
    assert verdict["rgb", "final", "random", "linear_top1"] == "holds"  # +30 points on 400 videos
    assert verdict["rgb", "final", "stage0", "knn_top1"] == "holds"
    assert verdict["flow", "final", "random", "linear_top1"] == "not resolved"  # same accuracy
    assert verdict["rgb", "stage0", "random", "r_at_1"] == "not resolved"
    diag = diagnostics(results)
    rank = {(d["modality"], d["encoder"]): d["effective_rank"] for d in diag["effective_rank"]}
    assert rank["rgb", "final"] < 1.01 and rank["rgb", "random"] > 4
    cka = {d["encoder"]: d["linear_cka"] for d in diag["cka"]}
    assert cka["stage0"] == 1.0 and cka["random"] < 0.3  # same geometry vs unrelated features
    report = {"created": "now", "results": [{k: v for k, v in r.items() if not k.startswith("_")}
                                             for r in results],
              "comparisons": rows, "diagnostics": diag, "timing_seconds": {"total": 1.0},
              "plots": {}, "protocol": {}}
    text = render_markdown(report)
    low, high = results[2]["linear_top1_ci"]
    assert f"| rgb | final | {results[2]['linear_top1']:.1f} [{low:.1f}, {high:.1f}]" in text
    assert "| rgb | final − random | linear_top1 |" in text and "| holds |" in text
    assert "not resolved" in text and "| rgb-flow | stage0 | 1.000 |" in text
    assert "rgb: 400 videos" in text


def test_intermediate_cmmc_stage_is_compared_with_stage0():
    rng = np.random.default_rng(1)
    features = rng.normal(size=(400, 6))
    results = [_result("rgb", kind, accuracy, features, seed) for seed, (kind, accuracy) in
               enumerate((("random", 0.3), ("stage0", 0.3), ("cmmc1", 0.7), ("final", 0.7)))]
    pairs = {(r["a"], r["b"]) for r in comparisons(results)}
    assert ("cmmc1", "stage0") in pairs and ("final", "stage0") in pairs
    verdict = {(r["a"], r["metric"]): r["verdict"] for r in comparisons(results) if r["b"] == "stage0"}
    assert verdict["cmmc1", "linear_top1"] == "holds"
