"""End to end on the synthetic video dataset: random-init vs briefly pre-trained encoder.

Generates a tiny UCF101-layout synthetic dataset, pre-trains MoCo for two epochs with
`vimix pretrain`, exports nothing (the evaluators read the training checkpoint + modality),
runs `vimix eval retrieval`, `linear`, `knn` and `report` on both encoders and prints the
numbers side by side. The numbers are printed, not asserted against each other: two epochs
on 16 videos are too little to promise an improvement; the test checks that every command
works, records its protocol and is reproducible.
"""

from __future__ import annotations

import json

import pytest
import torch

from vimix_ssl.cli import main as vimix
from vimix_ssl.data.synthetic_video import SynthVideoConfig, generate_synthetic_ucf
from vimix_ssl.eval.results import load_results
from vimix_ssl.models.export import export_encoder
from vimix_ssl.models.registry import build_encoder

pytestmark = pytest.mark.slow

DATA = ["data.clip_len=8", "data.size=32", "data.eval_window_stride=8", "data.num_workers=0",
        "features.device=cpu", "retrieval.ks=[1,5]", "probe.epochs=15", "probe.batch_size=8",
        "probe.lr=0.1", "probe.milestones=[10]", "knn.k=5"]


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("e2e")
    generate_synthetic_ucf(root / "synth", SynthVideoConfig(classes=4, per_class=6, clips_per_group=1,
                                                            frames_min=16, frames_max=20, width=48,
                                                            height=36))
    code = vimix(["pretrain", "configs/pretrain/synth_moco.yaml", f"out_dir={root / 'pre'}",
                  f"data.root={root / 'synth'}", "data.clip_len=8", "data.size=32", "data.batch_size=8",
                  "data.num_workers=0", "stage_defaults.epochs=2", "modalities.rgb.queue_size=16",
                  "knn.every=0", "device=cpu"])
    assert code == 0
    torch.manual_seed(0)
    # torch's default init: the pre-training's 0.01-std init gives near-zero features under eval-mode BN
    random = build_encoder("s3d_small", in_channels=3, width=0.125, conv_init_std=None)
    export_encoder(root / "random.pt", "s3d_small", {"in_channels": 3, "width": 0.125, "conv_init_std": None},
                   random.state_dict(), "rgb")
    return root


def _evaluate(root, encoder, run):
    data = [f"data.root={root / 'synth'}", *DATA]
    for command in ("retrieval", "linear", "knn"):
        assert vimix(["eval", command, *data, "--encoder", str(encoder), "--modality", "rgb",
                      "--out", str(root / run)]) == 0
    return {r["evaluator"]: r for r in load_results(root / run)}


def test_random_vs_pretrained_side_by_side(setup, capsys):
    root = setup
    random = _evaluate(root, root / "random.pt", "random")
    pretrained = _evaluate(root, root / "pre" / "checkpoint.pt", "pretrained")
    rows = [("R@1", "retrieval"), ("R@5", "retrieval"), ("top1", "linear"), ("top5", "linear"),
            ("top1", "knn")]
    with capsys.disabled():
        print("\nsynthetic motion dataset, 4 classes, 16 train / 8 test videos")
        print(f"{'metric':<18}{'random init':>12}{'MoCo 2 epochs':>15}")
        for metric, evaluator in rows:
            print(f"{evaluator + ' ' + metric:<18}{100 * random[evaluator]['metrics'][metric]:>11.1f}%"
                  f"{100 * pretrained[evaluator]['metrics'][metric]:>14.1f}%")
    for results in (random, pretrained):
        linear = results["linear"]
        assert linear["protocol"]["selected_on_test"] is False
        assert linear["protocol"]["config"]["probe"]["epochs"] == 15
        assert results["retrieval"]["protocol"]["queries_count"] == 8
        assert results["retrieval"]["encoder"]["sha256"] and results["retrieval"]["files"]["neighbours"]
    assert pretrained["linear"]["encoder"]["kind"] == "checkpoint"
    # retrieval again from the feature cache: bit-identical numbers
    assert vimix(["eval", "retrieval", f"data.root={root / 'synth'}", *DATA, "--encoder",
                  str(root / "random.pt"), "--out", str(root / "random")]) == 0
    repeats = [r for r in load_results(root / "random") if r["evaluator"] == "retrieval"]
    assert repeats[0]["metrics"] == repeats[1]["metrics"]
    assert all(record["hit"] for record in repeats[1]["protocol"]["cache"].values())
    assert vimix(["eval", "report", str(root / "random")]) == 0
    report = (root / "random" / "report.md").read_text()
    assert "retrieval examples](report/" in report and "confusion matrix](report/" in report


def test_clear_errors_from_the_command_line(setup, capsys):
    root = setup
    assert vimix(["eval", "linear", "--encoder", str(root / "missing.pt"), "--out", str(root / "x")]) == 2
    assert "missing.pt" in capsys.readouterr().err
    assert vimix(["eval", "retrieval", "--encoder", str(root / "pre" / "checkpoint.pt"), "--modality",
                  "flow", "--out", str(root / "x")]) == 2
    assert "no 'flow' encoder; it holds ['rgb']" in capsys.readouterr().err
    assert vimix(["eval", "skeleton-linear", "--encoder", str(root / "random.pt"), "--out",
                  str(root / "x"), "skeleton.root=/nowhere"]) == 2
    assert "skeleton linear evaluation needs" in capsys.readouterr().err
    neighbours = json.loads(next((root / "random" / "eval").glob("neighbours_*.json")).read_text())
    assert {"query_id", "gallery_id", "rank", "correct"} <= set(neighbours[0])
