"""End to end on CPU: `vimix pretrain` of a shipped config on a generated synthetic video dataset.

Prints the kNN accuracy of the random-init and the pre-trained encoder (see the note at the end).
"""

from __future__ import annotations

import statistics
from pathlib import Path

import pytest
import torch

CONFIGS = Path(__file__).resolve().parents[3] / "configs" / "pretrain"


@pytest.fixture(autouse=True)
def one_thread(monkeypatch):
    """One torch thread, as conftest intends: build_train_loader sizes the pool from VIMIX_THREADS or the
    cores, and 2 threads on a shared 2-core machine made these runs up to 25x slower (measured)."""
    monkeypatch.setenv("VIMIX_THREADS", "1")


def _knn(config, mocos) -> float:
    from vimix_ssl.eval.knn import encode_dataset, knn_accuracy
    from vimix_ssl.jobs.pretrain import build

    device = torch.device("cpu")
    prepare = build.build_eval_prepare(config, "rgb", device)
    memory = build.build_dataset(config, ["rgb"], "train", train=False, eval_windows="centre")
    queries = build.build_dataset(config, ["rgb"], "test", train=False, eval_windows="centre")
    encoder = mocos["rgb"].encoder_q
    return knn_accuracy(*encode_dataset(encoder, memory, "rgb", device, prepare),
                        *encode_dataset(encoder, queries, "rgb", device, prepare), k=10)


def test_pretrain_command_on_synthetic_video(tmp_path, capsys):
    from vimix_ssl.cli import main
    from vimix_ssl.data.synthetic_video import SynthVideoConfig, generate_synthetic_ucf
    from vimix_ssl.engine.metrics import read_metrics
    from vimix_ssl.jobs.pretrain import build
    from vimix_ssl.jobs.pretrain.config import load_pretrain_config
    from vimix_ssl.utils.checkpoint import load_checkpoint

    root = tmp_path / "synth"
    generate_synthetic_ucf(root, SynthVideoConfig(classes=4, per_class=16, clips_per_group=2, frames_min=12,
                                                  frames_max=16, width=40, height=32, seed=0))
    overrides = [f"data.root={root}", f"out_dir={tmp_path / 'run'}", "device=cpu", "data.clip_len=8",
                 "data.size=32", "data.batch_size=8", "data.num_workers=0",
                 "data.augment.flip_probability=0.0",  # a flip turns TranslateLeft into TranslateRight
                 "modalities.rgb.encoder_kwargs.width=0.0625",
                 "modalities.rgb.encoder_kwargs.bn_momentum=0.1", "modalities.rgb.head_hidden=64",
                 "modalities.rgb.queue_size=64", "stage_defaults.epochs=12",
                 "stage_defaults.optim.lr=0.003", "log_every=1", "knn.every=6", "knn.k=10"]
    config = load_pretrain_config(CONFIGS / "synth_mixup.yaml", overrides)
    torch.manual_seed(config.seed)
    random_init = _knn(config, build.build_mocos(config))

    assert main(["pretrain", str(CONFIGS / "synth_mixup.yaml"), *overrides]) == 0
    run = tmp_path / "run"
    assert (run / "config.yaml").is_file() and (run / "checkpoint.pt").is_file()
    trained = build.build_mocos(config)
    trained.load_state_dict(load_checkpoint(run / "checkpoint.pt")["model"])
    learned = _knn(config, trained)
    records = read_metrics(run / "metrics.jsonl")
    steps = [r for r in records if "loss" in r]
    first, last = steps[: len(steps) // 4], steps[-len(steps) // 4:]
    accuracy = [statistics.mean(r["pretext_acc"] for r in part) for part in (first, last)]
    with capsys.disabled():
        print(f"\nsynthetic motion classes, kNN top-1: random init {random_init:.3f}, after MoCo+mixup "
              f"{learned:.3f}; pretext accuracy first/last quarter {accuracy[0]:.3f}/{accuracy[1]:.3f}")
    assert [r["epoch"] for r in records if "knn_acc" in r] == [6, 12]  # the monitor ran and was logged
    assert all(0.0 <= r["knn_acc"] <= 1.0 for r in records if "knn_acc" in r)
    assert all(r["lam"] >= 0.5 for r in steps)  # folded per-sample mixup λ, averaged per batch
    assert all(torch.isfinite(torch.tensor(r["loss"])) for r in steps) and len(steps) == 12 * 6
    # kNN improvement over random init is printed, not asserted: on this dataset the classes differ
    # only by motion while appearance is random per clip, and CPU-sized RGB MoCo / i-Mix runs stayed
    # at chance for seeds 0-2 up to 30 epochs (appearance is the contrastive shortcut; the motion
    # signal is what Cross-Modal Manifold CutMix with optical flow adds).


def test_resume_restores_this_ranks_random_state_and_converts_another_world_size():
    import logging

    from vimix_ssl.engine.trainer import Progress
    from vimix_ssl.jobs.pretrain.schedule import ResumePoint, _position_for_world_size, restore_rng
    from vimix_ssl.utils.seed import rng_state

    torch.manual_seed(123)
    mine = rng_state()
    expected = torch.rand(3)
    other = rng_state()  # another rank's stream
    same_world = ResumePoint(0, 1, 3, 11, 11, {"world_size": 1, "rng": mine, "rng_ranks": [mine]})
    restore_rng(same_world, seed=0)
    assert torch.equal(torch.rand(3), expected)  # exact: this process's own state

    records: list[str] = []
    handler = logging.Handler()
    handler.emit = lambda record: records.append(record.getMessage())
    logger = logging.getLogger("vimix.pretrain")
    logger.addHandler(handler)
    try:  # a checkpoint of 2 processes resumed by 1: same samples seen, logged as not exact
        two = ResumePoint(0, 1, 3, 11, 11, {"world_size": 2, "rng": mine, "rng_ranks": [mine, other]})
        position = _position_for_world_size(two, Progress(1, 3, 11), steps_per_epoch=8)
    finally:
        logger.removeHandler(handler)
    assert (position.epoch, position.step_in_epoch, position.step) == (1, 6, 14)
    assert any("written by 2 process(es) with 1" in m and "not exact" in m for m in records)
    restore_rng(two, seed=0)
    first = torch.rand(3)
    restore_rng(two, seed=0)
    assert torch.equal(torch.rand(3), first)  # reseeded deterministically from (seed, step, rank)
