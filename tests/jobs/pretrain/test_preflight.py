"""Pre-flight checks before the first step; the unreadable-sample summary and threshold during training."""

from __future__ import annotations

from pathlib import Path

import pytest

from vimix_ssl.cli import main

CONFIGS = Path(__file__).resolve().parents[3] / "configs" / "pretrain"
SMALL = ["device=cpu", "data.clip_len=8", "data.size=32", "data.batch_size=4", "data.num_workers=0",
         "modalities.rgb.encoder_kwargs.width=0.0625", "modalities.rgb.head_hidden=16",
         "modalities.rgb.queue_size=16", "stage_defaults.epochs=1", "knn.every=0",
         "data.cache=none"]  # the per-sample loader replaces unreadable samples (memory cache: decodes first)


@pytest.fixture()
def synth(tmp_path) -> Path:
    from vimix_ssl.data.synthetic_video import SynthVideoConfig, generate_synthetic_ucf

    root = tmp_path / "ucf"
    generate_synthetic_ucf(root, SynthVideoConfig(classes=4, per_class=4, clips_per_group=1, frames_min=8,
                                                  frames_max=8, width=24, height=16, seed=0))
    return root


def _train_videos(root: Path) -> list[str]:
    lines = (root / "ucfTrainTestlist" / "trainlist01.txt").read_text().splitlines()
    return [line.split()[0] for line in lines]


def test_half_the_training_videos_unreadable_stops_with_a_summary(synth, tmp_path, capsys):
    """Issue 18 trial 8: half the videos unreadable exited 0, with warnings and no summary."""
    train = _train_videos(synth)
    for video in train[1::2]:  # (the first stays readable: the memory-cache estimate reads it)
        (synth / video).write_bytes(b"not a video any more" * 50)  # present, but unreadable
    out = tmp_path / "run"
    argv = ["pretrain", str(CONFIGS / "synth_mixup.yaml"), *SMALL, f"data.root={synth}", f"out_dir={out}"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "epoch 1:" in err and "training samples replaced because their video was unreadable" in err
    assert "over data.max_bad_fraction=0.1" in err and "Traceback" not in err
    assert train[1] in err  # the message names unreadable videos
    assert (out / "checkpoint.pt").is_file() is False  # stopped at the end of the first epoch, before saving

    assert main([*argv, "data.max_bad_fraction=1.0", "resume=never"]) == 0  # accepted when asked for
    err = capsys.readouterr().err
    assert "epoch 1:" in err
    summary = [line for line in err.splitlines() if "finished:" in line]
    assert len(summary) == 1 and "distinct unreadable video(s)" in summary[0]
    assert str(len(train[1::2])) + " distinct" in summary[0]


def test_missing_training_files_are_listed_before_any_work(synth, tmp_path, capsys):
    from vimix_ssl.jobs.pretrain.config import load_pretrain_config
    from vimix_ssl.jobs.pretrain.preflight import pretrain_problems

    train = _train_videos(synth)
    (synth / train[0]).unlink()  # 1 of 12: under the 10 % threshold? no: 8.3 % -> a warning only
    overrides = [*SMALL, f"data.root={synth}", f"out_dir={tmp_path / 'run'}"]
    config = load_pretrain_config(CONFIGS / "synth_mixup.yaml", overrides)
    fraction = 1 / len(train)
    problems = pretrain_problems(config)
    if fraction <= 0.1:
        assert problems == [] and "will be skipped" in capsys.readouterr().err
    for video in train[1:4]:
        (synth / video).unlink()
    problems = pretrain_problems(config)
    assert len(problems) == 1 and f"4 of the {len(train)} train videos are missing" in problems[0]
    assert train[0] in problems[0] and "over data.max_bad_fraction" in problems[0]
    assert main(["pretrain", str(CONFIGS / "synth_mixup.yaml"), *overrides]) == 2
    assert "train videos are missing" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()
