"""SupervisedMethod: soft-target loss from the mixer's (lam, perm), SV-Mix routing, learning on toy data."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from vimix_ssl.methods.supervised import SupervisedMethod
from vimix_ssl.mixing.base import soft_cross_entropy, soft_targets
from vimix_ssl.models.base import StagedEncoder


class TinyEncoder(StagedEncoder):
    def __init__(self) -> None:
        super().__init__()
        self.stages["a"] = nn.Sequential(nn.Conv3d(3, 8, 3, stride=(1, 2, 2), padding=1), nn.ReLU())
        self.stages["b"] = nn.Sequential(nn.Conv3d(8, 8, 3, stride=2, padding=1), nn.ReLU())
        self.stage_channels, self.mixable, self.feature_dim = {"a": 8, "b": 8}, ["a", "b"], 8

    def pool(self, x: torch.Tensor) -> torch.Tensor:
        return x.mean(dim=(2, 3, 4))


def _toy(count: int = 16) -> tuple[torch.Tensor, torch.Tensor]:
    """Two classes told apart by brightness."""
    labels = torch.arange(count) % 2
    x = torch.randn(count, 3, 4, 8, 8) * 0.3 + (labels.float() * 2 - 1).view(-1, 1, 1, 1, 1)
    return x, labels


def test_soft_cross_entropy_matches_hand_computation() -> None:
    logits = torch.tensor([[2.0, 0.0], [0.0, 1.0]])
    targets = torch.tensor([[0.7, 0.3], [0.0, 1.0]])
    log_p = torch.log_softmax(logits, 1)
    expected = -(0.7 * log_p[0, 0] + 0.3 * log_p[0, 1] + log_p[1, 1]) / 2
    torch.testing.assert_close(soft_cross_entropy(logits, targets), expected)


def test_loss_uses_the_mixed_targets() -> None:
    torch.manual_seed(0)
    method = SupervisedMethod(TinyEncoder(), 3, mixer="mixup", mixer_kwargs={"lam": 0.3}, label_smoothing=0.1)
    x, labels = torch.randn(4, 3, 4, 8, 8), torch.tensor([0, 1, 2, 0])
    torch.manual_seed(1)
    out = method.training_step({"rgb": [x], "label": labels})
    torch.manual_seed(1)
    mixed = method.mixer(x)
    expected = soft_cross_entropy(method(mixed.x), soft_targets(labels, 3, mixed, 0.1))
    torch.testing.assert_close(out["loss"], expected)
    assert float(out["lam"]) == pytest.approx(0.3)


@pytest.mark.parametrize("mixer", ["none", "videomix", "framecutmix", "fademixup", "svmix"])
def test_training_reduces_the_loss(mixer: str) -> None:
    torch.manual_seed(0)
    kwargs = {"attention_dim": 8, "momentum": 0.5} if mixer == "svmix" else {}
    method = SupervisedMethod(TinyEncoder(), 2, mixer=mixer, mixer_kwargs=kwargs)
    optimizer = torch.optim.Adam(method.trainable_parameters(), lr=1e-2)
    x, labels = _toy()
    with torch.no_grad():
        before = soft_cross_entropy(method(x), nn.functional.one_hot(labels, 2).float())
    for _ in range(25):
        out = method.training_step({"rgb": x, "label": labels})
        optimizer.zero_grad()
        out["loss"].backward()
        optimizer.step()
    with torch.no_grad():
        after = soft_cross_entropy(method(x), nn.functional.one_hot(labels, 2).float())
    assert after < before * 0.8, (float(before), float(after))


def test_svmix_parameters_include_selector_not_teacher() -> None:
    method = SupervisedMethod(TinyEncoder(), 2, mixer="svmix", mixer_kwargs={"attention_dim": 8})
    ids = {id(p) for p in method.trainable_parameters()}
    assert all(id(p) in ids for p in method.svmix.selector.parameters())
    assert not any(id(p) in ids for p in method.svmix.teacher_encoder.parameters())


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown mixer"):
        SupervisedMethod(TinyEncoder(), 2, mixer="warpmix")
    with pytest.raises(ValueError, match="label_smoothing"):
        SupervisedMethod(TinyEncoder(), 2, label_smoothing=1.5)


def test_train_resumes_exactly(tmp_path) -> None:
    """Two epochs in one go equal one epoch, a stop, then `resume=auto` for the second."""
    import json

    from vimix_ssl.cli import main
    from vimix_ssl.jobs.supervised.config import load_supervised_config
    from vimix_ssl.jobs.supervised.run import run_supervised

    root = tmp_path / "synth"
    assert main(["synth", "video", str(root), "--classes", "2", "--per-class", "4", "--frames", "8",
                 "--size", "32x32"]) == 0
    common = [f"data.root={root}", "num_classes=2", "data.clip_len=8", "data.size=32", "data.batch_size=4",
              "encoder_kwargs.width=0.0625", "optim.schedule=constant", "mixer=mixup", "log_every=1"]

    def losses(out):
        return [r["loss"] for r in map(json.loads, (out / "metrics.jsonl").read_text().splitlines())]

    straight = tmp_path / "straight"
    run_supervised(load_supervised_config("configs/supervised/synth_baseline.yaml",
                                          [*common, "epochs=2", f"out_dir={straight}"]))
    split = tmp_path / "split"
    run_supervised(load_supervised_config("configs/supervised/synth_baseline.yaml",
                                          [*common, "epochs=1", f"out_dir={split}"]))
    run_supervised(load_supervised_config("configs/supervised/synth_baseline.yaml",
                                          [*common, "epochs=2", f"out_dir={split}",
                                           "resume_allow_changes=[epochs]"]))
    assert losses(split) == losses(straight)


# --- learning-rate resolution and the multi-view test protocol --------------------------------------
def test_video_views_read_the_reference_frames_and_crops() -> None:
    """A fake video whose pixels encode (frame, column, row): each view must hold its window and crop."""
    from types import SimpleNamespace

    import numpy as np

    from vimix_ssl.eval.multiview import parse_protocol
    from vimix_ssl.jobs.supervised.run import _video_views

    frames_count, height, width = 40, 32, 48
    t, y, x = np.meshgrid(np.arange(frames_count), np.arange(height), np.arange(width), indexing="ij")
    video = np.stack([t, x, y], axis=-1).astype(np.uint8)  # (T, H, W, 3)
    source = SimpleNamespace(read=lambda video_id, indices: video[indices])
    base = SimpleNamespace(num_frames=lambda video_id: frames_count, sources={"rgb": source})
    data = SimpleNamespace(clip_len=8, stride=2, pad_mode="loop", size=32)
    views = _video_views(base, SimpleNamespace(video_id="v", label=0), parse_protocol("4x3"), data)
    assert views.shape == (12, 3, 8, 32, 32)  # (V, C, T, S, S), clips outer, crops inner
    delta = frames_count - (7 * 2 + 1)
    starts = [int(delta * i / 4) for i in range(4)]  # pySlowFast get_start_end_idx, no offset
    lefts = [0, (width - height + 1) // 2, width - height]  # pySlowFast uniform_crop on the long side
    expected = [(s, left) for s in starts for left in lefts]
    for view, (start, left) in zip(views.numpy(), expected):
        assert view[0, :, 0, 0].tolist() == [start + 2 * k for k in range(8)]
        assert view[1, 0, 0, :].tolist() == list(range(left, left + height))
        assert view[2, 0, :, 0].tolist() == list(range(height))

    from vimix_ssl.data.datasets import UnreadableVideoError

    def broken(video_id, indices):
        raise OSError("truncated file")

    base.sources["rgb"] = SimpleNamespace(read=broken)  # evaluation never substitutes: a clear error
    with pytest.raises(UnreadableVideoError, match="v_broken.*truncated file"):
        _video_views(base, SimpleNamespace(video_id="v_broken", label=0), parse_protocol("1x1"), data)


@pytest.fixture(scope="module")
def tiny_synth(tmp_path_factory):
    from vimix_ssl.cli import main

    root = tmp_path_factory.mktemp("synth")
    assert main(["synth", "video", str(root), "--classes", "2", "--per-class", "4", "--frames", "12",
                 "--size", "32x24"]) == 0
    return root


def test_train_scales_lr_to_the_global_batch_and_records_lr_and_protocol(tiny_synth, tmp_path, monkeypatch,
                                                                         capsys) -> None:
    """Through `vimix train`: a simulated world of 4 processes × batch 3 runs at lr·12/6, saved, printed."""
    import json

    import yaml

    from vimix_ssl.cli import main
    from vimix_ssl.jobs.supervised import run

    monkeypatch.setattr(run, "world_size", lambda: 4)  # the driver's only source of the world size
    out = tmp_path / "run"
    args = ["train", "configs/supervised/synth_baseline.yaml", f"data.root={tiny_synth}", "num_classes=2",
            "epochs=1", "data.clip_len=8", "data.size=32", "data.batch_size=3", "encoder_kwargs.width=0.0625",
            "optim.lr=0.01", "optim.reference_batch=6", "optim.schedule=constant", "log_every=1",
            "data.augment.scale_jitter=[32,40]", f"out_dir={out}", "--test-views", "2x3@32"]
    assert main(args) == 0
    saved = yaml.safe_load((out / "config.yaml").read_text())
    assert saved["optim"]["lr"] == 0.01 and saved["optim"]["reference_batch"] == 6
    assert saved["data"]["augment"]["scale_jitter"] == [32, 40]
    assert saved["resolved"]["global_batch"] == 12 and saved["resolved"]["lr"] == pytest.approx(0.02)
    assert "lr 0.01 at reference batch 6 -> lr 0.02 at global batch 12" in capsys.readouterr().err
    logged = [json.loads(line)["lr"] for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert logged and all(v == pytest.approx(0.02) for v in logged)
    results = json.loads((out / "results.json").read_text())
    assert results["lr"] == pytest.approx(0.02) and results["test_protocol"]["views"] == 6
    assert results["test_protocol"]["size"] == 32 and results["test_videos"] == 4
    per_video = results["per_video"]  # test-list order: what `vimix compare` bootstraps from
    assert all(len(v) == 4 for v in per_video.values()) and len(set(per_video["video_id"])) == 4
    right = sum(p == y for p, y in zip(per_video["predicted"], per_video["label"]))
    assert results["top1"] == pytest.approx(25.0 * right) and all(per_video["top5_correct"])  # 2 classes
    monkeypatch.setattr(run, "world_size", lambda: 1)  # the saved config at another world size: refused
    assert main(["train", str(out / "config.yaml"), f"out_dir={tmp_path / 'again'}"]) == 2
    assert "global_batch': 12" in capsys.readouterr().err


def test_every_supervised_config_loads_and_cites_what_it_reproduces(tmp_path) -> None:
    from pathlib import Path

    from vimix_ssl.config import from_dict
    from vimix_ssl.data.config import VideoDataConfig
    from vimix_ssl.jobs.supervised.config import load_supervised_config

    encoder_file = tmp_path / "encoder.pt"
    encoder_file.write_bytes(b"")  # `init` must exist at load time; the SV-Mix recipe needs the user's file
    paths = sorted(Path("configs/supervised").glob("*.yaml"))
    assert len(paths) >= 18
    for path in paths:
        header = " ".join(line for line in path.read_text().splitlines() if line.startswith("# "))
        assert header.startswith("# Reproduces"), path
        assert "Table" in header or header.startswith("# Reproduces no"), path  # the row, or why none
        config = load_supervised_config(path, [f"init={encoder_file}"] if "svmix.yaml" in path.name else [])
        data = from_dict(VideoDataConfig, config.data)
        data.validate()
        if path.name.startswith(("ucf101_", "hmdb51_")) and path.name != "ucf101_svmix.yaml":
            assert tuple(data.augment.scale_jitter) == (160, 200) and data.size == 160  # seed 002 baseline
            assert config.test_views == "seed002" and config.optim.reference_batch == 16
    framecutmix = load_supervised_config("configs/supervised/ucf101_framecutmix.yaml")
    assert framecutmix.mixer_kwargs["alpha"] == 5.0  # seed 002 Table 4's best row
    rs50 = load_supervised_config("configs/supervised/k400_r3d_rs50.yaml")
    assert (rs50.data["size"], rs50.test_views, rs50.optim.lr, rs50.optim.reference_batch) == (
        224, "seed003", 0.8, 1024)
    randaugment = load_supervised_config("configs/supervised/ucf101_randaugment_t.yaml")
    assert randaugment.randaugment_t["magnitude_convention"] == "paper"


@pytest.mark.parametrize("changes,match", [
    ({"size": 224}, r"scale_jitter: expected data.size \(224\) <= low"),
    ({"augment": {"scale_jitter": [160, 200], "crop_area": [0.5, 1.0]}}, "crop_area / crop_aspect"),
    ({"cache": "memory"}, "cache: memory"),
])
def test_scale_jitter_settings_that_would_be_ignored_are_refused(changes, match) -> None:
    from vimix_ssl.config import ConfigError, deep_merge, from_dict
    from vimix_ssl.data.config import VideoDataConfig

    base = {"size": 160, "augment": {"scale_jitter": [160, 200]}}
    with pytest.raises(ConfigError, match=match):
        from_dict(VideoDataConfig, deep_merge(base, changes)).validate()
    from_dict(VideoDataConfig, base).validate()  # the seed 002 baseline itself is fine


def test_svmix_recipe_starts_from_the_users_encoder_file_and_checks_it(tmp_path) -> None:
    """ucf101_svmix.yaml: `init` is the user's file; encoder/encoder_kwargs must describe it."""
    from vimix_ssl.config import ConfigError
    from vimix_ssl.jobs.supervised.config import load_supervised_config
    from vimix_ssl.jobs.supervised.run import build_method
    from vimix_ssl.models.export import export_encoder
    from vimix_ssl.models.registry import build_encoder

    kwargs = {"in_channels": 3, "width": 0.0625}
    torch.manual_seed(0)
    source = build_encoder("r2plus1d_18", **kwargs)
    path = export_encoder(tmp_path / "imagenet.pt", "r2plus1d_18", kwargs, source.state_dict(), "rgb")
    config = load_supervised_config("configs/supervised/ucf101_svmix.yaml",
                                    [f"init={path}", "encoder_kwargs.width=0.0625"])
    recipe = (config.optim.name, config.optim.lr, config.optim.reference_batch, config.epochs)
    assert recipe == ("sgd", 0.01, 32, 50)
    method = build_method(config)
    assert all(torch.equal(a, b) for a, b in zip(method.encoder.state_dict().values(),
                                                 source.state_dict().values()))
    assert method.svmix.teacher_mode == "eval" and method.svmix.alpha == {"temporal": 0.8, "spatial": 1.0}
    for wrong, match in (("encoder_kwargs.width=0.5", r"'width': \(0.5, 0.0625\)"),
                         ("encoder=s3d", r"'encoder': \('s3d', 'r2plus1d_18'\)")):
        with pytest.raises(ConfigError, match=match):
            build_method(load_supervised_config("configs/supervised/ucf101_svmix.yaml",
                                                [f"init={path}", wrong]))
