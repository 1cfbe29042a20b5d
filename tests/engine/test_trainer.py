"""The engine: exact resume after Ctrl-C (mid-stage, mid-epoch), NaN guard, schedules, metrics, config."""

from __future__ import annotations

import math
import os
import signal

import pytest
import torch

from vimix_ssl.engine.metrics import MetricLogger, read_metrics
from vimix_ssl.engine.optim import LRSchedule, OptimConfig
from vimix_ssl.jobs.pretrain.config import load_pretrain_config
from vimix_ssl.utils.checkpoint import load_checkpoint


@pytest.fixture(autouse=True)
def one_thread(monkeypatch):
    """One torch thread, as conftest intends: build_train_loader sizes the pool from VIMIX_THREADS or the
    cores, and 2 threads on a shared 2-core machine made these runs up to 25x slower (measured)."""
    monkeypatch.setenv("VIMIX_THREADS", "1")


@pytest.fixture(scope="module")
def synth_root(tmp_path_factory):
    from vimix_ssl.data.synthetic_video import SynthVideoConfig, generate_synthetic_ucf

    root = tmp_path_factory.mktemp("synth_ucf")
    generate_synthetic_ucf(root, SynthVideoConfig(classes=4, per_class=6, clips_per_group=1, frames_min=12,
                                                  frames_max=16, width=40, height=32, seed=0))
    return root


def tiny_config(root, out_dir, *extra: str):
    return load_pretrain_config(None, tiny_overrides(root, out_dir, *extra))


def tiny_overrides(root, out_dir, *extra: str) -> list[str]:
    return [
        f"out_dir={out_dir}", "device=cpu", "log_every=1", "seed=3",
        f"data={{dataset: ucf101, root: '{root}', clip_len: 8, size: 32, batch_size: 4, num_workers: 0}}",
        "modalities={rgb: {encoder: s3d_small, encoder_kwargs: {width: 0.0625}, head_hidden: 16, dim: 8, "
        "queue_size: 16, momentum: 0.99}}",
        "stages=[{name: plain, train: rgb, epochs: 1, mixing: {kind: none}, optim: {lr: 0.01}}, "
        "{name: mix, train: rgb, epochs: 2, mixing: {kind: input, mixer: videomix}, "
        "optim: {name: sgd, lr: 0.05, schedule: cosine, warmup_epochs: 0.5}}]", *extra]


def losses(out_dir) -> list[tuple[int, float]]:
    return [(r["step"], r["loss"]) for r in read_metrics(out_dir / "metrics.jsonl") if "loss" in r]


def interrupt_at_update(monkeypatch, count: int, signum: int = signal.SIGINT) -> None:
    """Send ``signum`` (SIGINT as Ctrl-C does, SIGTERM as a scheduler does) during the ``count``-th update."""
    from vimix_ssl.engine.trainer import Trainer

    original, calls = Trainer._update, {"n": 0}

    def update(self, loss):
        calls["n"] += 1
        if calls["n"] == count:
            os.kill(os.getpid(), signum)
        return original(self, loss)

    monkeypatch.setattr(Trainer, "_update", update)


@pytest.mark.parametrize("signum,code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_signal_checkpoints_says_how_to_continue_and_the_rerun_continues_exactly(
        synth_root, tmp_path, monkeypatch, capsys, signum, code):
    from vimix_ssl.cli import main
    from vimix_ssl.jobs.pretrain.schedule import run_pretrain

    monkeypatch.setenv("VIMIX_THREADS", "1")
    full = tmp_path / "full"
    run_pretrain(tiny_config(synth_root, full))
    reference = losses(full)
    assert len(reference) == 12  # 4 steps per epoch, 1 + 2 epochs

    part, empty = tmp_path / "part", tmp_path / "empty.yaml"
    empty.write_text("{}\n")
    interrupt_at_update(monkeypatch, 6, signum)  # stage "mix", epoch 1, step 2: saved after step 7
    assert main(["pretrain", str(empty), *tiny_overrides(synth_root, part)]) == code  # 128 + signal
    monkeypatch.undo()
    monkeypatch.setenv("VIMIX_THREADS", "1")  # the thread count of the reference run (float sums)
    message = capsys.readouterr().err.strip().splitlines()[-1]
    assert f"{signal.Signals(signum).name} received: checkpoint saved to {part / 'checkpoint.pt'}" in message
    assert "rerun the same command" in message and "resume=auto" in message
    saved = load_checkpoint(part / "checkpoint.pt")
    assert (saved["stage"], saved["epoch"], saved["step_in_epoch"], saved["step"]) == (1, 0, 3, 7)
    assert saved["config"]["stages"][1]["mixing"]["mixer"] == "videomix"
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # the handler is gone after the run
    assert main(["pretrain", str(empty), *tiny_overrides(synth_root, part)]) == 0  # resume=auto
    assert losses(part) == reference  # every loss equal, none duplicated or missing
    final, resumed = load_checkpoint(full / "checkpoint.pt"), load_checkpoint(part / "checkpoint.pt")
    for key, value in final["model"].items():
        assert torch.equal(value, resumed["model"][key]), key
    assert (part / "stage0_plain.pt").is_file() and (part / "stage1_mix.pt").is_file()


def test_nan_guard_stops_with_a_clear_message_and_keeps_the_last_good_checkpoint(
        synth_root, tmp_path, monkeypatch):
    from vimix_ssl.engine.trainer import NonFiniteLossError
    from vimix_ssl.jobs.pretrain.schedule import run_pretrain
    from vimix_ssl.methods.moco import MoCoMethod

    original, calls = MoCoMethod.training_step, {"n": 0}

    def poisoned(self, batch):
        outputs = original(self, batch)
        calls["n"] += 1
        if calls["n"] == 6:  # stage "mix", epoch 1, step 2
            outputs["loss"] = outputs["loss"] * float("nan")
        return outputs

    monkeypatch.setattr(MoCoMethod, "training_step", poisoned)
    out = tmp_path / "nan"
    with pytest.raises(NonFiniteLossError, match=r"loss became nan at epoch 1, step 2 .*global step 6"):
        run_pretrain(tiny_config(synth_root, out))
    kept = load_checkpoint(out / "checkpoint.pt")
    assert (kept["stage"], kept["epoch"], kept["step"]) == (0, 1, 4)  # end of the last good epoch
    assert all(torch.isfinite(v).all() for v in kept["model"].values() if v.is_floating_point())


def test_config_is_saved_with_the_run_and_reloads(synth_root, tmp_path):
    from vimix_ssl.config import to_dict
    from vimix_ssl.jobs.pretrain.schedule import run_pretrain

    config = tiny_config(synth_root, tmp_path / "run", "stages=[{name: a, train: rgb, epochs: 1}]",
                         "knn.every=1", "knn.k=3")
    run_pretrain(config)
    reloaded = load_pretrain_config(tmp_path / "run" / "config.yaml")
    assert to_dict(reloaded) == to_dict(config)
    checkpoint = load_checkpoint(tmp_path / "run" / "checkpoint.pt")
    assert checkpoint["config"] == to_dict(config)
    entry = checkpoint["encoders"]["rgb"]
    assert entry["name"] == "s3d_small" and entry["kwargs"] == {"width": 0.0625}
    monitor = [r for r in read_metrics(tmp_path / "run" / "metrics.jsonl") if "knn_acc" in r]
    assert len(monitor) == 1 and 0.0 <= monitor[0]["knn_acc"] <= 1.0
    assert any((tmp_path / "run" / "tensorboard").iterdir())


def test_queue_not_dividing_the_batch_is_refused_before_training(synth_root, tmp_path):
    from vimix_ssl.config import ConfigError
    from vimix_ssl.jobs.pretrain.schedule import run_pretrain

    with pytest.raises(ConfigError, match=r"queue_size.* 10 .*multiple of"):
        run_pretrain(tiny_config(synth_root, tmp_path / "bad", "modalities.rgb.queue_size=10"))
    assert not (tmp_path / "bad").exists()


def test_lr_schedules():
    cosine = LRSchedule(OptimConfig(lr=1.0, schedule="cosine", warmup_epochs=1, min_lr=0.1), 10, 5)
    assert cosine.lr(0) == pytest.approx(0.1) and cosine.lr(9) == pytest.approx(1.0)
    assert cosine.lr(10) == pytest.approx(1.0)
    assert cosine.lr(30) == pytest.approx(0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * 0.5)))
    assert cosine.lr(49) > 0.1 and cosine.lr(50) == pytest.approx(0.1)
    step = LRSchedule(OptimConfig(lr=0.1, schedule="step", milestones=[2, 4], gamma=0.1), 10, 5)
    assert [round(step.lr(s), 6) for s in (0, 19, 20, 39, 40)] == [0.1, 0.1, 0.01, 0.01, 0.001]
    assert LRSchedule(OptimConfig(lr=0.3), 10, 5).lr(37) == 0.3
    with pytest.raises(ValueError, match="milestones"):
        LRSchedule(OptimConfig(schedule="step", milestones=[0]), 10, 5)


def test_metric_logger_truncates_after_a_step(tmp_path):
    logger = MetricLogger(tmp_path, tensorboard=False)
    for step in range(1, 6):
        logger.log(step, {"loss": float(step)})
    logger.truncate_after(3)
    assert [r["step"] for r in read_metrics(tmp_path / "metrics.jsonl")] == [1, 2, 3]
