"""Checkpoint io (atomic, weights-only) and the exported-encoder file format."""

from __future__ import annotations

import os
import shlex
from pathlib import Path

import pytest
import torch

import vimix_ssl
from vimix_ssl.models import build_encoder
from vimix_ssl.models.export import export_encoder, load_encoder
from vimix_ssl.utils.checkpoint import (
    CheckpointError,
    CheckpointNotFoundError,
    check_training_payload,
    load_checkpoint,
    save_checkpoint,
    training_payload,
)
from vimix_ssl.utils.seed import rng_state, set_rng_state

SMALL_VIDEO = {"width": 0.0625}
SMALL_SKELETON = {"width": 0.25}


class SideEffect:
    """Unpickling this runs a shell command (what a tampered checkpoint would do)."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {shlex.quote(str(self.marker))}",))


def _train_checkpoint(path: Path, **overrides) -> dict:
    torch.manual_seed(0)
    encoder = build_encoder("s3d_small", **SMALL_VIDEO)
    model = torch.nn.Linear(4, 2)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, weight_decay=1e-5)
    model(torch.randn(3, 4)).sum().backward()
    optimizer.step()
    scheduler = torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones=[60, 80], gamma=0.1)
    scaler = torch.amp.GradScaler("cuda", enabled=False)
    fields = dict(config={"optim": {"lr": 1e-3}, "data": {"root": "/data/ucf101"}}, epoch=3, step=120,
                  stage=1, model=model.state_dict(), optimizer=optimizer.state_dict(),
                  scheduler=scheduler.state_dict(), scaler=scaler.state_dict(), rng=rng_state(),
                  encoders={"rgb": {"name": "s3d_small", "kwargs": SMALL_VIDEO,
                                    "state_dict": encoder.state_dict()}})
    fields.update(overrides)
    payload = training_payload(**fields)
    save_checkpoint(path, payload)
    return payload


# --- checkpoint io ----------------------------------------------------------------------------
def test_training_checkpoint_round_trips_with_weights_only(tmp_path):
    path = tmp_path / "last.pt"
    saved = _train_checkpoint(path)
    loaded = load_checkpoint(path)
    check_training_payload(loaded, path)
    assert loaded["config"] == saved["config"] and (loaded["epoch"], loaded["step"]) == (3, 120)
    torch.testing.assert_close(loaded["model"]["weight"], saved["model"]["weight"])
    torch.optim.Adam(torch.nn.Linear(4, 2).parameters()).load_state_dict(loaded["optimizer"])
    before = torch.rand(3)
    set_rng_state(loaded["rng"])  # RNG state restores exactly
    assert not torch.equal(torch.rand(3), before)
    set_rng_state(loaded["rng"])
    again = torch.rand(3)
    set_rng_state(loaded["rng"])
    assert torch.equal(torch.rand(3), again)


def test_crash_mid_write_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    path = tmp_path / "ckpt.pt"
    save_checkpoint(path, {"epoch": 1, "weights": torch.ones(10)})
    good = path.read_bytes()

    def crashing_save(obj, f, *args, **kwargs):
        f.write(b"PK\x03\x04 partial zip header")  # a partial write, then the process "dies"
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", crashing_save)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(path, {"epoch": 2, "weights": torch.zeros(10)})
    assert path.read_bytes() == good
    assert load_checkpoint(path)["epoch"] == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt.pt"]  # no temp file left behind


def test_missing_path_is_a_clear_not_found_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.pt") as info:
        load_checkpoint(tmp_path / "nope.pt")
    assert isinstance(info.value, CheckpointNotFoundError)
    with pytest.raises(FileNotFoundError, match="encoder.pt"):
        load_encoder(tmp_path / "encoder.pt")


def test_pickled_callable_is_refused_without_running_it(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "tampered.pt"
    torch.save({"format": "vimix_ssl.encoder", "state_dict": {}, "hook": SideEffect(marker)}, path)
    with pytest.raises(CheckpointError, match="refused to load .*tampered.pt.*pickled"):
        load_checkpoint(path)
    with pytest.raises(CheckpointError, match="refused"):
        load_encoder(path)
    assert not marker.exists()
    # the file really is dangerous: unrestricted unpickling runs the command
    torch.load(path, weights_only=False)
    assert marker.exists()


def test_truncated_or_foreign_files_are_errors(tmp_path):
    path = tmp_path / "c.pt"
    save_checkpoint(path, {"weights": torch.randn(100)})
    path.write_bytes(path.read_bytes()[:50])
    with pytest.raises(CheckpointError, match="cannot read checkpoint"):
        load_checkpoint(path)
    torch.save([1, 2, 3], path)
    with pytest.raises(CheckpointError, match="expected a dict"):
        load_checkpoint(path)


def test_random_bytes_text_and_empty_files_are_not_checkpoints(tmp_path):
    """Issue 18: random bytes were reported as "pickled callables"."""
    for name, data in (("noise.pt", os.urandom(4096)), ("notes.pt", b"a text file\n"), ("empty.pt", b"")):
        path = tmp_path / name
        path.write_bytes(data)
        with pytest.raises(CheckpointError, match=f"{name} is not a checkpoint") as info:
            load_checkpoint(path)
        assert "pickled" not in str(info.value)
    legacy = tmp_path / "legacy.pt"  # a legacy-format header followed by garbage: a corrupt pickle
    legacy.write_bytes(b"\x80\x02" + os.urandom(512))
    with pytest.raises(CheckpointError, match="legacy.pt") as info:
        load_checkpoint(legacy)
    assert "pickled Python objects" not in str(info.value)


def test_non_plain_payload_is_refused_at_save_time(tmp_path):
    path = tmp_path / "c.pt"
    with pytest.raises(CheckpointError, match=r"payload\[.config.\]\[.root.\].*(PosixPath|WindowsPath)"):
        save_checkpoint(path, {"config": {"root": Path("/data")}})
    assert not path.exists()
    with pytest.raises(CheckpointError, match="lacks keys"):
        check_training_payload({"format": "vimix_ssl.train", "format_version": 1})
    with pytest.raises(CheckpointError, match="format_version 2"):
        check_training_payload({"format": "vimix_ssl.train", "format_version": 2})


# --- encoder files ----------------------------------------------------------------------------
@pytest.mark.parametrize("name,kwargs,shape,modality", [
    ("s3d_small", SMALL_VIDEO, (2, 3, 8, 32, 32), "rgb"),
    ("stgcn_small", SMALL_SKELETON, (2, 3, 16, 25, 2), "joint"),
])
def test_export_then_load_gives_identical_features(tmp_path, name, kwargs, shape, modality):
    torch.manual_seed(1)
    encoder = build_encoder(name, **kwargs)
    encoder.train()(torch.randn(shape))  # move BatchNorm running stats away from their init
    encoder.eval()
    x = torch.randn(shape)
    with torch.no_grad():
        expected = encoder(x)
    path = export_encoder(tmp_path / "enc.pt", name, kwargs, encoder.state_dict(), modality,
                          meta={"epoch": 7})
    loaded = vimix_ssl.load_encoder(path, expected_modality=modality)
    assert vimix_ssl.load_encoder is load_encoder
    assert not loaded.training and loaded.modality == modality
    spec = {k: v for k, v in loaded.spec.items() if k != "inputs"}  # inputs: issue 16's input record
    assert spec == {"name": name, "kwargs": kwargs, "modality": modality, "meta": {"epoch": 7}}
    with torch.no_grad():
        assert torch.equal(loaded(x), expected)


def test_file_for_another_architecture_names_both(tmp_path):
    weights = build_encoder("s3d_small", **SMALL_VIDEO).state_dict()
    path = tmp_path / "wrong.pt"
    save_checkpoint(path, {"format": "vimix_ssl.encoder", "format_version": 1, "name": "r3d_rs_small",
                           "kwargs": {"width": 0.0625}, "modality": "rgb", "state_dict": weights,
                           "meta": {}})
    with pytest.raises(CheckpointError, match=r"r3d_rs_small\(width=0.0625\).*missing.*s3d") as info:
        load_encoder(path)
    assert "unexpected" in str(info.value)
    # same architecture, different width: a shape mismatch, named key by key
    save_checkpoint(path, {"format": "vimix_ssl.encoder", "format_version": 1, "name": "s3d_small",
                           "kwargs": {"width": 0.125}, "modality": "rgb", "state_dict": weights, "meta": {}})
    with pytest.raises(CheckpointError, match=r"s3d_small\(width=0.125\).*shape mismatch.*weights \("):
        load_encoder(path)
    with pytest.raises(CheckpointError, match="refusing to export"):
        export_encoder(tmp_path / "x.pt", "stgcn_small", {}, weights, "rgb")


def test_wrong_modality_and_training_checkpoint_are_clear_errors(tmp_path):
    encoder = build_encoder("stgcn_small", **SMALL_SKELETON)
    path = export_encoder(tmp_path / "joint.pt", "stgcn_small", SMALL_SKELETON, encoder.state_dict(), "joint")
    with pytest.raises(CheckpointError, match="'joint' encoder, expected modality 'motion'"):
        load_encoder(path, expected_modality="motion")
    train = tmp_path / "last.pt"
    _train_checkpoint(train)
    with pytest.raises(CheckpointError, match=r"training checkpoint.*vimix export .*last.pt --modality rgb"):
        load_encoder(train)


def test_vimix_export_command(tmp_path, capsys):
    from vimix_ssl.cli import main

    train = tmp_path / "last.pt"
    payload = _train_checkpoint(train)
    out = tmp_path / "rgb_encoder.pt"
    assert main(["export", str(train), "--modality", "rgb", "--out", str(out)]) == 0
    assert "s3d_small" in capsys.readouterr().out
    encoder = load_encoder(out, expected_modality="rgb")
    for key, value in payload["encoders"]["rgb"]["state_dict"].items():
        assert torch.equal(encoder.state_dict()[key], value), key
    assert encoder.spec["meta"]["epoch"] == 3 and encoder.spec["meta"]["config"] == payload["config"]
    assert main(["export", str(train), "--modality", "flow", "--out", str(tmp_path / "f.pt")]) == 2
    assert "no encoder for modality 'flow'" in capsys.readouterr().err
    assert not (tmp_path / "f.pt").exists()
