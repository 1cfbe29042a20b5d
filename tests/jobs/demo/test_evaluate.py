"""The demo's skeleton probe standardises features with training statistics only."""

from __future__ import annotations

import dataclasses

import torch

from vimix_ssl.eval.linear import probe_on_features
from vimix_ssl.jobs.demo.evaluate import standardise
from vimix_ssl.jobs.evaluate.session import EvalConfig


def _features(count: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Unit-norm features: a large common direction plus class signal 1e-3 in size."""
    generator = torch.Generator().manual_seed(seed)
    labels = torch.arange(count) % 4
    signal = torch.nn.functional.one_hot(labels, 16).float() * 1e-3
    x = torch.ones(count, 16) + signal + 1e-4 * torch.randn(count, 16, generator=generator)
    return torch.nn.functional.normalize(x, dim=1), labels


def test_standardised_features_let_the_skeleton_probe_train():
    train_x, train_y = _features(200, 0)
    test_x, test_y = _features(80, 1)
    config = dataclasses.replace(EvalConfig().skeleton_probe, epochs=20, milestones=[16])
    raw = probe_on_features(train_x, train_y, test_x, test_y, 4, config)
    scaled_train, scaled_test = standardise(train_x, test_x)
    fixed = probe_on_features(scaled_train, train_y, scaled_test, test_y, 4, config)
    assert raw.metrics["top1"] < 0.5 < 0.95 < fixed.metrics["top1"]
    # training statistics only: the test split is shifted by the train mean, not its own
    torch.testing.assert_close(scaled_train.mean(0), torch.zeros(16), atol=1e-2, rtol=0)  # float32
    moved = standardise(train_x, test_x + 1.0)[1]
    torch.testing.assert_close(moved - scaled_test, 1.0 / train_x.std(0, keepdim=True).expand_as(moved))


def test_intermediate_stages_are_the_later_stages_of_a_modality_but_the_last(tmp_path):
    from vimix_ssl.jobs.demo.evaluate import intermediate_stages

    for name in ("stage0_stage0_rgb", "stage1_stage0_flow", "stage2_cmmc1_rgb", "stage3_cmmc1_flow",
                 "stage4_cmmc2_rgb", "stage5_cmmc2_flow", "stage10_cmmc3_rgb", "stage11_cmmc3_flow"):
        (tmp_path / f"{name}.pt").touch()
    assert [k for k, _ in intermediate_stages(tmp_path, "rgb")] == ["cmmc1", "cmmc2"]  # numeric order
    assert [p.name for _, p in intermediate_stages(tmp_path, "flow")] == ["stage3_cmmc1_flow.pt",
                                                                         "stage5_cmmc2_flow.pt"]
    (tmp_path / "stage2_cmmc_joint.pt").touch()
    assert intermediate_stages(tmp_path, "joint") == []  # one CMMC stage: it is the final encoder
