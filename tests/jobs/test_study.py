"""The reproduction study's aggregation: mean ± std over seeds and the claimed orderings."""

from __future__ import annotations

import numpy as np
import pytest

from vimix_ssl.jobs.study import StudyConfig, claims, render, summarise


def _row(table, row, modality, seed, linear, r1):
    return {"table": table, "row": row, "modality": modality, "seed": seed,
            "linear_top1": linear, "r_at_1": r1, "knn_top1": 0.0}


def test_mean_and_std_over_seeds():
    rows = [_row(5, "SkeletonCLR", "joint", 0, 40.0, 50.0), _row(5, "SkeletonCLR", "joint", 1, 44.0, 54.0)]
    (entry,) = summarise(rows)
    assert entry["seeds"] == 2
    assert entry["linear_top1"] == pytest.approx(42.0)
    assert entry["linear_top1_std"] == pytest.approx(2 ** 0.5 * 2)  # sample std of (40, 44)


def test_claims_compare_seed_means_and_report_both_sides():
    rows = [_row(5, "SkeletonCLR", "joint", s, 40.0 + s, 50.0) for s in (0, 1)]
    rows += [_row(5, "SkeletonCLR + CMMC", "joint", s, 45.0, 49.0) for s in (0, 1)]
    checks = {c["claim"]: c for c in claims(summarise(rows))}
    linear = checks["Table 5: +CMMC beats SkeletonCLR (joint, linear_top1)"]
    assert linear["holds"] and linear["better"] == 45.0 and linear["worse"] == 40.5
    assert not checks["Table 5: +CMMC beats SkeletonCLR (joint, r_at_1)"]["holds"]
    config = StudyConfig(seeds=[0, 1], tables=[5])
    text = render(summarise(rows), list(checks.values()), config, "vimix study")
    assert "| SkeletonCLR + CMMC | joint | 45.0 ± 0.0 |" in text and "| no |" in text
    assert "higher mean (no intervals)" in text  # seed means only: no verdict claimed


def _scored(table, row, modality, seed, accuracy, setting="motion_only", videos=500):
    rng = np.random.default_rng(1000 * seed + int(100 * accuracy) + len(row))
    scores = {m: (100.0 * (rng.random(videos) < accuracy)).tolist()
              for m in ("linear_top1", "r_at_1", "knn_top1")}
    entry = {"setting": setting, "table": table, "row": row, "modality": modality, "seed": seed,
             "scores": scores, "effective_rank": 3.0, "pair_cka": 0.5}
    entry.update({m: float(np.mean(v)) for m, v in scores.items()})
    return entry


def test_intervals_over_seeds_and_videos_and_paired_verdicts():
    rows = []
    for seed in (0, 1, 2):
        rows += [_scored(2, "stage 0", "rgb", seed, 0.30), _scored(2, "stage 0", "flow", seed, 0.60),
                 _scored(2, "+CM cutmix s+t+c", "rgb", seed, 0.31),
                 _scored(2, "+CM cutmix s+t+c", "flow", seed, 0.45)]
    summary = summarise(rows)
    entry = next(s for s in summary if s["row"] == "stage 0" and s["modality"] == "flow")
    low, high = entry["linear_top1_ci"]
    assert low < entry["linear_top1"] < high and 2 < high - low < 12  # 3 seeds x 500 videos
    verdicts = {c["claim"]: c["verdict"] for c in claims(summary)}
    assert verdicts["flow beats RGB on motion classes (stage 0) (flow, linear_top1)"] == "holds"
    assert verdicts["CMMC diagnostic: CM cutmix s+t+c beats stage 0 (rgb, linear_top1)"] == "not resolved"
    assert verdicts["CMMC diagnostic: CM cutmix s+t+c beats stage 0 (flow, r_at_1)"] == "reversed"
    text = render(summary, claims(summary), StudyConfig(seeds=[0, 1, 2], tables=[2]), "vimix study")
    assert "## Table 2 — motion_only" in text and "| reversed |" in text and "not resolved" in text
