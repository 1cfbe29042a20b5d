"""Bad inputs through the real `vimix` entry point: exit code 2, one message naming the culprit, no traceback.

Every row of the table is a trial from issue 18 ("Tracebacks instead of messages"); each
checks that nothing outside the run's output folder changed.
"""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from vimix_ssl.cli import main

REPO = Path(__file__).resolve().parents[1]
PRETRAIN = REPO / "configs" / "pretrain" / "synth_mixup.yaml"
SUPERVISED = REPO / "configs" / "supervised" / "synth_baseline.yaml"
SMALL = ["device=cpu", "data.clip_len=4", "data.size=16", "data.batch_size=4", "data.num_workers=0",
         "modalities.rgb.encoder_kwargs.width=0.0625", "modalities.rgb.head_hidden=16",
         "modalities.rgb.queue_size=16", "stage_defaults.epochs=1"]


@pytest.fixture(scope="module")
def synth(tmp_path_factory) -> Path:
    """A 4-class synthetic UCF101-layout dataset (tiny clips)."""
    from vimix_ssl.data.synthetic_video import SynthVideoConfig, generate_synthetic_ucf

    root = tmp_path_factory.mktemp("synth") / "ucf"
    generate_synthetic_ucf(root, SynthVideoConfig(classes=4, per_class=4, clips_per_group=1, frames_min=8,
                                                  frames_max=8, width=24, height=16, seed=0))
    return root


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    """A small training checkpoint (s3d_small rgb encoder)."""
    from vimix_ssl.models import build_encoder
    from vimix_ssl.utils.checkpoint import save_checkpoint, training_payload
    from vimix_ssl.utils.seed import rng_state

    path = tmp_path_factory.mktemp("ckpt") / "checkpoint.pt"
    encoder = build_encoder("s3d_small", width=0.0625)
    save_checkpoint(path, training_payload(
        config={}, epoch=1, step=2, stage=0, model={}, optimizer=None, scheduler=None, scaler=None,
        rng=rng_state(), encoders={"rgb": {"name": "s3d_small", "kwargs": {"width": 0.0625},
                                           "state_dict": encoder.state_dict()}}))
    return path


def snapshot(*folders: Path) -> dict[str, tuple[int, int]]:
    """(size, mtime) of every file under ``folders``: what a failed command must leave untouched."""
    out = {}
    for folder in folders:
        for path in sorted(Path(folder).rglob("*")):
            if path.is_file():
                stat = path.stat()
                out[str(path)] = (stat.st_size, stat.st_mtime_ns)
    return out


def run_bad(capsys, argv: list[str], *names: str) -> str:
    """Run ``vimix argv``: exit 2, a short message on stderr naming every ``names``, no traceback."""
    code = main(argv)
    err = capsys.readouterr().err
    assert code == 2, (code, err)
    assert "Traceback" not in err
    message = [line for line in err.splitlines() if line.startswith("vimix ")]
    assert message, err
    assert len(err.strip().splitlines()) <= 12, err  # one line, or a short list
    for name in names:
        assert str(name) in err, (name, err)
    return err


def read_only_folder(tmp_path: Path) -> Path:
    """A folder this process cannot create files in (root ignores permission bits: use sysfs)."""
    if os.geteuid() == 0:
        return Path("/sys/kernel")
    folder = tmp_path / "read_only"
    folder.mkdir()
    folder.chmod(0o555)
    return folder


# -- config ---------------------------------------------------------------------------------------
def test_base_cycle_names_the_files(tmp_path, capsys):
    (tmp_path / "a.yaml").write_text("_base_: b.yaml\nseed: 1\n")
    (tmp_path / "b.yaml").write_text("_base_: a.yaml\nseed: 2\n")
    before = snapshot(tmp_path)
    err = run_bad(capsys, ["pretrain", str(tmp_path / "a.yaml")], "_base_ cycle", "a.yaml", "b.yaml")
    assert "RecursionError" not in err and snapshot(tmp_path) == before


@pytest.mark.parametrize("override, key", [
    ("stage_defaults.optim.lr=-0.1", "optim.lr: must be > 0, got -0.1"),
    ("modalities.rgb.queue_size=0", "modalities.rgb.queue_size: must be a positive integer, got 0"),
])
def test_bad_optimiser_or_queue_value_is_refused_at_load(synth, tmp_path, capsys, override, key):
    out = tmp_path / "run"
    before = snapshot(synth)
    run_bad(capsys, ["pretrain", str(PRETRAIN), *SMALL, f"data.root={synth}", f"out_dir={out}", override],
            key)
    assert not out.exists() and snapshot(synth) == before  # refused before anything was written


def test_every_problem_of_a_run_in_one_message(synth, tmp_path, capsys):
    """A queue that is not a multiple of the batch, a bad lr and a bad weight decay: listed together."""
    out = tmp_path / "run"
    err = run_bad(capsys, ["pretrain", str(PRETRAIN), *SMALL, f"data.root={synth}", f"out_dir={out}",
                           "modalities.rgb.queue_size=18", "stage_defaults.optim.lr=0",
                           "stage_defaults.optim.weight_decay=-1"],
                  "3 problems", "queue_size: 18 is not a multiple of data.batch_size 4",
                  "optim.lr: must be > 0",
                  "optim.weight_decay: must be >= 0")
    assert err.count("\n  - ") == 3
    assert not out.exists()


def test_bad_resume_file_in_pretrain(synth, tmp_path, capsys):
    bad = tmp_path / "noise.pt"
    bad.write_bytes(os.urandom(4096))
    out = tmp_path / "run"
    err = run_bad(capsys, ["pretrain", str(PRETRAIN), *SMALL, f"data.root={synth}", f"out_dir={out}",
                           f"resume={bad}"], str(bad), "not a checkpoint")
    assert "pickled callables" not in err


def test_same_video_in_train_and_test_and_empty_knn_split(synth, tmp_path, capsys):
    splits = tmp_path / "splits"
    shutil.copytree(synth / "ucfTrainTestlist", splits)
    first = (splits / "trainlist01.txt").read_text().splitlines()[0].split()[0]
    (splits / "testlist01.txt").write_text(f"{first}\n")
    out = tmp_path / "run"
    run_bad(capsys, ["pretrain", str(PRETRAIN), *SMALL, f"data.root={synth}", f"data.splits={splits}",
                     f"out_dir={out}"], "in both the train and the test split", first)
    (splits / "testlist01.txt").write_text("")
    run_bad(capsys, ["pretrain", str(PRETRAIN), *SMALL, f"data.root={synth}", f"data.splits={splits}",
                     f"out_dir={out}", "knn.every=1"], "the test split", "is empty", str(splits))
    assert not out.exists()  # noticed before the first epoch, not after it


@pytest.mark.parametrize("num_classes, words", [(2, "is smaller than the dataset's 4 classes"),
                                                (10, "is larger than the dataset's 4 classes")])
def test_num_classes_must_match_the_dataset(synth, tmp_path, capsys, num_classes, words):
    out = tmp_path / "train"
    run_bad(capsys, ["train", str(SUPERVISED), f"data.root={synth}", f"out_dir={out}", "epochs=1",
                     f"num_classes={num_classes}"], f"num_classes: {num_classes} {words}")
    assert not out.exists()


def test_empty_test_split_in_finetune(synth, checkpoint, tmp_path, capsys):
    from vimix_ssl.models.export import export_from_checkpoint

    encoder = export_from_checkpoint(checkpoint, "rgb", tmp_path / "encoder.pt")
    splits = tmp_path / "splits"
    shutil.copytree(synth / "ucfTrainTestlist", splits)
    (splits / "testlist01.txt").write_text("")
    out = tmp_path / "eval"
    err = run_bad(capsys, ["eval", "finetune", str(REPO / "configs" / "eval" / "synth.yaml"),
                           f"data.root={synth}",
                           f"data.splits={splits}", "data.clip_len=4", "data.size=16", "data.num_workers=0",
                           "finetune.epochs=1", "--encoder", str(encoder), "--out", str(out)], "test split")
    assert "empty" in err and "torch.cat" not in err


# -- data -----------------------------------------------------------------------------------------
def test_non_numeric_label_in_a_split_file_names_file_and_line(synth, tmp_path, capsys):
    splits = tmp_path / "splits"
    shutil.copytree(synth / "ucfTrainTestlist", splits)
    lines = (splits / "trainlist01.txt").read_text().splitlines()
    lines[2] = lines[2].split()[0] + " three"
    (splits / "trainlist01.txt").write_text("\n".join(lines) + "\n")
    run_bad(capsys, ["data", "check", "--dataset", "ucf101", "--root", str(synth), "--splits", str(splits),
                     "--workers", "1"], f"{splits / 'trainlist01.txt'}:3", "'three'")


# -- checkpoints and files ------------------------------------------------------------------------
def test_random_bytes_are_not_a_checkpoint(tmp_path, capsys):
    noise = tmp_path / "noise.pt"
    noise.write_bytes(os.urandom(2048))
    err = run_bad(capsys, ["export", str(noise), "--modality", "rgb", "--out", str(tmp_path / "e.pt")],
                  str(noise), "is not a checkpoint")
    assert "pickled" not in err and not (tmp_path / "e.pt").exists()


def test_full_disk_while_writing_is_a_message_and_keeps_no_partial_file(checkpoint, tmp_path, capsys,
                                                                         monkeypatch):
    import vimix_ssl.utils.io as io_module

    real_open = open

    class FullDisk:
        def __init__(self, f):
            self.f = f

        def write(self, data):  # what write(2) does on a full disk
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

        def __getattr__(self, name):
            return getattr(self.f, name)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.f.close()

    def opener(path, mode="r", **kwargs):
        f = real_open(path, mode, **kwargs)
        return FullDisk(f) if "w" in mode else f

    monkeypatch.setattr(io_module, "open", opener, raising=False)
    out = tmp_path / "encoder.pt"
    before = snapshot(checkpoint.parent)
    run_bad(capsys, ["export", str(checkpoint), "--modality", "rgb", "--out", str(out)],
            "no space left on the device", str(out))
    assert list(tmp_path.iterdir()) == [] and snapshot(checkpoint.parent) == before  # no temp file left


def test_read_only_output_folder(checkpoint, tmp_path, capsys):
    folder = read_only_folder(tmp_path)
    target = folder / "vimix_encoder.pt"
    run_bad(capsys, ["export", str(checkpoint), "--modality", "rgb", "--out", str(target)],
            "permission denied", str(target))
    run_bad(capsys, ["synth", "skeleton", str(folder / "vimix_skeletons")], "permission denied",
            str(folder / "vimix_skeletons"))


def test_export_never_overwrites_its_input_or_an_unnamed_file(checkpoint, tmp_path, capsys):
    """Issue 18 trial 2: `--out CKPT` replaced the training checkpoint with the encoder file."""
    before = snapshot(checkpoint.parent)
    run_bad(capsys, ["export", str(checkpoint), "--modality", "rgb", "--out", str(checkpoint)],
            "is the input checkpoint itself")
    run_bad(capsys, ["export", str(checkpoint), "--modality", "rgb", "--out", str(checkpoint), "--force"],
            "is the input checkpoint itself")  # --force never covers the input
    assert snapshot(checkpoint.parent) == before
    existing = tmp_path / "mine.pt"
    existing.write_bytes(b"the user's file")
    run_bad(capsys, ["export", str(checkpoint), "--modality", "rgb", "--out", str(existing)],
            "already exists", "--force")
    assert existing.read_bytes() == b"the user's file"
    assert main(["export", str(checkpoint), "--modality", "rgb", "--out", str(existing), "--force"]) == 0
    assert f"wrote {existing}" in capsys.readouterr().out and existing.read_bytes() != b"the user's file"


def test_synth_skeleton_refuses_a_folder_of_real_skeletons(real_data, tmp_path, capsys):
    """Issue 18 trial 1: a real S001C001P001R001A001.skeleton was overwritten, exit 0."""
    folder = tmp_path / "raw"
    folder.mkdir()
    real = real_data / "ntu_rgbd60" / "nturgb+d_skeletons" / "S001C001P001R001A001.skeleton"
    shutil.copy(real, folder)
    before = snapshot(folder)
    run_bad(capsys, ["synth", "skeleton", str(folder), "--classes", "1", "--per-class", "1"],
            str(folder), "not empty")
    assert snapshot(folder) == before
    assert (folder / real.name).read_bytes() == real.read_bytes()
    fresh = tmp_path / "fresh"  # a new folder, and a rerun into the command's own output, are fine
    for _ in range(2):
        assert main(["synth", "skeleton", str(fresh), "--classes", "1", "--per-class", "2"]) == 0
        assert f"to {fresh}" in capsys.readouterr().out
    assert len(list(fresh.glob("*.skeleton"))) == 2


# -- --debug and the process boundary -------------------------------------------------------------
def test_debug_shows_the_traceback(tmp_path, capsys):
    (tmp_path / "a.yaml").write_text("_base_: a.yaml\n")
    from vimix_ssl.config import ConfigError

    with pytest.raises(ConfigError, match="_base_ cycle"):
        main(["--debug", "pretrain", str(tmp_path / "a.yaml")])
    with pytest.raises(ConfigError, match="_base_ cycle"):
        main(["pretrain", str(tmp_path / "a.yaml"), "--debug"])  # also accepted after the command


def test_subprocess_exit_code_and_stderr(tmp_path):
    (tmp_path / "user_file.skeleton").write_text("not ours\n")
    done = subprocess.run([sys.executable, "-m", "vimix_ssl", "synth", "skeleton", str(tmp_path)],
                          capture_output=True, text=True, env={**os.environ, "VIMIX_NO_PROGRESS": "1"},
                          cwd=REPO)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines() == [done.stderr.strip()]  # exactly one line
    assert str(tmp_path) in done.stderr and (tmp_path / "user_file.skeleton").read_text() == "not ours\n"


def test_unexpected_errors_keep_their_traceback(monkeypatch):
    """Only user errors are turned into messages: a bug must stay visible."""
    import vimix_ssl.commands.list_mixers as command

    def broken(args):
        raise ZeroDivisionError("a bug")

    monkeypatch.setattr(command, "main", broken)
    with pytest.raises(ZeroDivisionError):
        main(["list", "mixers"])


def test_torch_is_not_needed_for_the_handler():
    code = "import sys; from vimix_ssl.cli import is_user_error; print(is_user_error(ValueError()), " \
           "'torch' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO)
    assert done.stdout.split() == ["True", "False"]
    assert torch.__version__  # (torch is used by the fixtures above)
