"""`vimix demo --video-root DIR` on the official unpacked UCF101 layout with only split 1 (issue 16)."""

from __future__ import annotations

import json
import shutil

import pytest

from vimix_ssl.cli import main as vimix
from vimix_ssl.data.synthetic_video import SynthVideoConfig, generate_synthetic_ucf
from vimix_ssl.jobs.demo.run import DemoConfig


def _official_layout(tmp_path):
    """`vimix synth video` output rearranged: DIR/UCF-101/<Class>/*.avi beside DIR/ucfTrainTestlist/."""
    generated = tmp_path / "generated"
    generate_synthetic_ucf(generated, SynthVideoConfig(classes=3, per_class=4, frames_min=8, frames_max=10,
                                                       width=32, height=24))
    root = tmp_path / "UCF101"
    (root / "UCF-101").mkdir(parents=True)
    shutil.move(str(generated / "ucfTrainTestlist"), str(root / "ucfTrainTestlist"))
    for folder in generated.iterdir():
        if folder.is_dir():
            shutil.move(str(folder), str(root / "UCF-101" / folder.name))
    for split in (2, 3):  # shipped with split 1 only
        (root / "ucfTrainTestlist" / f"trainlist0{split}.txt").unlink()
        (root / "ucfTrainTestlist" / f"testlist0{split}.txt").unlink()
    return root


@pytest.mark.slow
def test_demo_runs_on_the_official_layout_with_split_1_only(tmp_path, monkeypatch):
    root = _official_layout(tmp_path)
    smallest = dict(workers=1, clip_len=8, size=32, video_batch=4, video_queue=16, video_stage0_epochs=1,
                    video_cmmc_epochs=1, video_cmmc_rounds=1, skeleton_classes=3, skeleton_per_class=8,
                    skeleton_batch=4, skeleton_queue=16, skeleton_stage0_epochs=1, skeleton_cmmc_epochs=1,
                    probe_epochs=3, knn_k=3)
    monkeypatch.setattr(DemoConfig, "quick", classmethod(lambda cls, **kw: cls(**{**smallest, **kw})))
    out = tmp_path / "demo"
    assert vimix(["demo", "--quick", "--video-root", str(root), "--out", str(out), "--device", "cpu"]) == 0
    report = json.loads((out / "report.json").read_text())
    assert {r["modality"] for r in report["results"]} == {"rgb", "flow", "joint", "motion"}


def test_demo_stops_before_flow_when_listed_videos_are_missing(tmp_path, capsys):
    root = _official_layout(tmp_path)
    missing = sorted((root / "UCF-101").glob("*/*.avi"))[0]
    missing.unlink()
    assert vimix(["demo", "--quick", "--video-root", str(root), "--out", str(tmp_path / "demo")]) == 2
    err = capsys.readouterr().err
    assert "1 of the 12 videos" in err and f"UCF-101/{missing.parent.name}/{missing.name}" in err
    assert not list((tmp_path / "demo").rglob("*.frames"))  # no flow was computed
