"""The reproduction study's aggregation: mean ± std over seeds and the claimed orderings."""

from __future__ import annotations

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
