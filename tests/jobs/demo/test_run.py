"""`vimix demo` end to end on a tiny configuration (the full demo is the README's first command)."""

from __future__ import annotations

import json

import pytest

from vimix_ssl.jobs.demo.report import ENCODERS as ENCODER_KINDS
from vimix_ssl.jobs.demo.run import DemoConfig, run_demo

REQUIRED = ("modality", "encoder", "linear_top1", "r_at_1", "r_at_5", "r_at_10", "knn_top1")


def tiny(out) -> DemoConfig:
    return DemoConfig(
        out=str(out), workers=1, video_classes=3, video_per_class=4, video_frames=(8, 10),
        clip_len=8, size=32, video_batch=4, video_queue=16, video_stage0_epochs=1, video_cmmc_epochs=1,
        video_cmmc_rounds=1, skeleton_classes=3, skeleton_per_class=8, skeleton_batch=4,
        skeleton_queue=16, skeleton_stage0_epochs=1, skeleton_cmmc_epochs=1, probe_epochs=3, knn_k=3)


@pytest.mark.slow
def test_tiny_demo_writes_a_complete_report(tmp_path):
    report = run_demo(tiny(tmp_path / "demo"))
    saved = json.loads((tmp_path / "demo" / "report.json").read_text())
    assert saved["results"] == report["results"]
    combos = {(r["modality"], r["encoder"]) for r in saved["results"]}
    assert combos == {(m, k) for m in ("rgb", "flow", "joint", "motion") for k in ENCODER_KINDS}
    for r in saved["results"]:
        for key in REQUIRED:
            assert key in r, f"report entry lacks {key}: {r}"
        for key in REQUIRED[2:]:
            assert 0.0 <= r[key] <= 100.0
        assert r["r_at_1"] <= r["r_at_5"] <= r["r_at_10"]
    assert saved["protocol"]["evaluation"]["retrieval"]["ks"] == [1, 5, 10]
    markdown = (tmp_path / "demo" / "report.md").read_text()
    assert "| rgb | final |" in markdown and "| motion | random |" in markdown
    for plot in saved["plots"].values():
        assert (tmp_path / "demo" / plot).stat().st_size > 0
    # every scored number has its bootstrap interval; every ordering a verdict; diagnostics
    for r in saved["results"]:
        for key in ("linear_top1", "r_at_1", "knn_top1"):
            low, high = r[f"{key}_ci"]
            assert low <= r[key] + 1e-6 and r[key] <= high + 1e-6
    assert len(saved["comparisons"]) == 4 * 3 * 3  # modalities x 3 comparisons x 3 metrics
    assert {c["verdict"] for c in saved["comparisons"]} <= {"holds", "reversed", "not resolved"}
    assert {d["pair"] for d in saved["diagnostics"]["cka"]} == {"rgb-flow", "joint-motion"}
    assert len(saved["diagnostics"]["effective_rank"]) == 12 and "| verdict |" in markdown
    # the three encoders of a modality are distinct files with distinct weights
    files = {r["file"] for r in saved["results"] if r["modality"] == "rgb"}
    assert len(files) == 3


def test_demo_command_line_maps_to_the_config():
    from vimix_ssl.cli import build_parser

    args = build_parser().parse_args(["demo", "--quick", "--out", "x", "--video-root", "v",
                                      "--flow-method", "tvl1"])
    from vimix_ssl.jobs.demo.run import with_overrides

    cfg = with_overrides(DemoConfig.quick(), out=args.out, video_root=args.video_root,
                         flow_method=args.flow_method, workers=args.workers)
    assert (cfg.out, cfg.video_root, cfg.flow_method) == ("x", "v", "tvl1")
    assert cfg.workers == DemoConfig().workers  # None leaves the default
    assert cfg.video_stage0_epochs < DemoConfig().video_stage0_epochs  # --quick is smaller


def test_validation_setting_carves_groups_and_never_reads_the_test_list(tmp_path):
    from pathlib import Path

    from vimix_ssl.data.splits import load_video_list
    from vimix_ssl.jobs.demo.evaluate import evaluation_config
    from vimix_ssl.jobs.demo.run import prepare_video_data, video_pretrain_config

    cfg = tiny(tmp_path / "demo")
    cfg = type(cfg)(**{**cfg.__dict__, "evaluate_on": "validation", "video_per_class": 10})
    root, flow_dir = prepare_video_data(cfg, tmp_path / "demo" / "data")
    video = video_pretrain_config(cfg, root, flow_dir, tmp_path / "run")
    evaluation = evaluation_config(cfg, video, flow_dir, None, tmp_path / "cache")
    splits = Path(video["data"]["splits"])
    assert evaluation.data.splits == str(splits) and (splits / "VALIDATION.json").is_file()

    def ids(subset, where):
        return {e.video_id for e in load_video_list("ucf101", root, where, subset=subset).entries}

    train, val = ids("train", splits), ids("test", splits)
    original_train, original_test = ids("train", None), ids("test", None)
    assert val and train and not train & val and train | val == original_train
    assert not (train | val) & original_test  # the test list is not used at all


def test_demo_prints_intervals_and_verdicts():
    from vimix_ssl.jobs.demo.report import console_table

    result = {"modality": "rgb", "linear_top1": 40.0, "r_at_1": 30.0, "knn_top1": 35.0,
              "linear_top1_ci": [30.0, 50.0], "r_at_1_ci": [20.0, 40.0], "knn_top1_ci": [25.0, 45.0]}
    report = {"results": [{**result, "encoder": "random"}, {**result, "encoder": "final"}],
              "comparisons": [{"modality": "rgb", "a": "final", "b": "random", "metric": "r_at_1",
                               "difference": 5.0, "low": -2.0, "high": 12.0, "verdict": "not resolved"}],
              "protocol": {"demo": {"evaluate_on": "test"}}}
    text = console_table(report)
    assert "40.0 [30.0, 50.0]" in text and "final - random: R@1 +5.0 [-2.0, +12.0] not resolved" in text
