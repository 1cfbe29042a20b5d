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


@pytest.mark.slow
def test_study_command_random_rows_and_validation_split(tmp_path):
    """Through `vimix study`: Table 2 on a carved validation split, with random-init rows and verdicts."""
    import json

    import torch

    from vimix_ssl.cli import main
    from vimix_ssl.models.registry import build_encoder
    from vimix_ssl.utils.checkpoint import load_checkpoint

    out = tmp_path / "study"
    code = main(["study", "--out", str(out), "--settings", "motion_only", "--tables", "2", "--seeds", "3",
                 "--video-per-class", "8", "--skeleton-per-class", "4", "--stage0-epochs", "1",
                 "--stage-epochs", "1", "--evaluate-on", "validation", "--device", "cpu"])
    assert code == 0
    result = json.loads((out / "study.json").read_text())
    rows = {(r["row"], r["modality"]) for r in result["rows"]}
    assert {("random init", "rgb"), ("random init", "flow"), ("stage 0", "rgb"),
            ("+CM cutmix s+t+c", "flow")} <= rows
    # evaluated on the carved validation groups: as many scored videos as the record lists
    record = json.loads((out / "motion_only" / "data" / "validation_splits" / "VALIDATION.json").read_text())
    for r in result["rows"]:
        assert len(r["scores"]["linear_top1"]) == record["validation_videos"]
    assert "validation split" in (out / "study.md").read_text()
    # the random row is a fresh encoder built under the run's seed, not the trained one
    random_file = out / "motion_only" / "seed3" / "table2" / "stage0" / "encoders" / "rgb_random.pt"
    saved = load_checkpoint(random_file)
    torch.manual_seed(3)
    fresh = build_encoder(saved["name"], **saved["kwargs"]).state_dict()
    assert all(torch.equal(fresh[k], v) for k, v in saved["state_dict"].items())
    trained = load_checkpoint(random_file.parents[1] / "rgb_final.pt")["state_dict"]
    assert any(not torch.equal(trained[k], v) for k, v in saved["state_dict"].items()
               if v.is_floating_point())
    claims = [c for c in result["claims"] if c["claim"].startswith("pre-training beats random init")]
    assert claims and all(c["verdict"] == ("holds" if c["low"] > 0 else "reversed" if c["high"] < 0
                                           else "not resolved") for c in claims)


def test_flow_table1_rows_get_their_claims_and_bad_modalities_are_refused(tmp_path, capsys):
    from vimix_ssl.cli import main

    rows = []
    for seed in (0, 1, 2):
        rows += [_scored(1, "MoCo", "flow", seed, 0.60), _scored(1, "+mixup", "flow", seed, 0.40)]
    verdicts = {c["claim"]: c["verdict"] for c in claims(summarise(rows))}
    assert verdicts["Table 1: +mixup beats MoCo (flow, linear_top1)"] == "reversed"
    assert not any("(rgb," in claim for claim in verdicts)  # no RGB rows, no RGB claims
    code = main(["study", "--out", str(tmp_path / "s"), "--table1-modalities", "joint"])
    assert code == 2 and "table1_modalities" in capsys.readouterr().err
    assert not (tmp_path / "s" / "study.json").exists()
