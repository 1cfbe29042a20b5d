"""``resume=auto`` resumes only the run's own config (issue 18 item 6): ``vimix pretrain`` and ``train``."""

from __future__ import annotations

import json

import pytest
import yaml

from vimix_ssl.cli import main


@pytest.fixture(scope="module")
def synth_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("resume_synth")
    assert main(["synth", "video", str(root), "--classes", "2", "--per-class", "4", "--frames", "10",
                 "--size", "32x24"]) == 0
    return root


def pretrain_args(root, out, *extra: str) -> list[str]:
    return [f"out_dir={out}", "device=cpu", "log_every=1", "seed=1",
            f"data={{dataset: ucf101, root: '{root}', clip_len: 8, size: 32, batch_size: 2, num_workers: 0}}",
            "modalities={rgb: {encoder: s3d_small, encoder_kwargs: {width: 0.0625}, head_hidden: 8, dim: 8, "
            "queue_size: 8}}", "stage_defaults={epochs: 1, mixing: {kind: none}}",
            "stages=[{name: a, train: rgb}]", *extra]


def test_pretrain_resume_refuses_another_config_and_records_allowed_changes(synth_root, tmp_path, capsys,
                                                                            monkeypatch):
    from vimix_ssl.jobs.resume import read_history
    from vimix_ssl.utils.checkpoint import load_checkpoint

    monkeypatch.setenv("VIMIX_THREADS", "1")
    empty = tmp_path / "empty.yaml"
    empty.write_text("{}\n")
    out = tmp_path / "run"
    assert main(["pretrain", str(empty), *pretrain_args(synth_root, out)]) == 0
    saved = {name: (out / name).read_bytes() for name in ("config.yaml", "checkpoint.pt")}
    capsys.readouterr()

    # a mixup config on the finished MoCo run, and more epochs without saying so: refused, nothing written
    for change, key in (("stage_defaults.mixing.kind=input", "stages[0].mixing.kind"),
                        ("stage_defaults.epochs=2", "stages[0].epochs")):
        assert main(["pretrain", str(empty), *pretrain_args(synth_root, out, change)]) == 2
        err = capsys.readouterr().err
        assert key in err and "resume_allow_changes" in err and "Traceback" not in err
        assert len(err.strip().splitlines()) == 1
        assert {name: (out / name).read_bytes() for name in saved} == saved

    # a deliberate change: allowed, trained, recorded; config.yaml says what runs now
    assert main(["pretrain", str(empty), *pretrain_args(synth_root, out, "stage_defaults.epochs=2",
                                                        "resume_allow_changes=[stage_defaults.epochs]")]) == 0
    assert load_checkpoint(out / "checkpoint.pt")["epoch"] == 2
    assert yaml.safe_load((out / "config.yaml").read_text())["stages"][0]["epochs"] == 2
    history = read_history(out)
    assert len(history) == 1 and history[0]["changes"] == {"stages[0].epochs": {"before": 1, "after": 2}}
    assert history[0]["resumed_at"]["epoch"] == 1
    # the same command again is the same run: nothing to change, nothing recorded
    assert main(["pretrain", str(empty), *pretrain_args(synth_root, out, "stage_defaults.epochs=2")]) == 0
    assert len(read_history(out)) == 1


def test_supervised_resume_uses_the_same_rule(synth_root, tmp_path, capsys, monkeypatch):
    from vimix_ssl.jobs.resume import read_history

    monkeypatch.setenv("VIMIX_THREADS", "1")
    out = tmp_path / "train"
    common = ["configs/supervised/synth_baseline.yaml", f"data.root={synth_root}", "num_classes=2",
              "data.clip_len=8", "data.size=32", "data.batch_size=4", "encoder_kwargs.width=0.0625",
              "log_every=1", "epochs=1", f"out_dir={out}", "eval_max_videos=2"]
    assert main(["train", *common]) == 0
    capsys.readouterr()
    assert main(["train", *common, "mixer=cutmix"]) == 2
    err = capsys.readouterr().err
    assert "mixer: 'none' -> 'cutmix'" in err
    assert "resume_allow_changes=[mixer]" in err and "Traceback" not in err
    assert main(["train", *common, "label_smoothing=0.1", "resume_allow_changes=[label_smoothing]"]) == 0
    changes = read_history(out)[-1]["changes"]
    assert changes == {"label_smoothing": {"before": 0.0, "after": 0.1}}
    assert json.loads((out / "results.json").read_text())["epochs"] == 1
