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


@pytest.mark.slow
def test_compare_command_writes_one_table(tmp_path) -> None:
    """End to end on a tiny synthetic dataset: two mixers, one results table (JSON + Markdown)."""
    import json

    from vimix_ssl.cli import main

    root = tmp_path / "synth"
    assert main(["synth", "video", str(root), "--classes", "2", "--per-class", "4", "--frames", "8",
                 "--size", "32x32"]) == 0
    out = tmp_path / "compare"
    code = main(["compare", "configs/supervised/synth_baseline.yaml", f"data.root={root}", "num_classes=2",
                 "epochs=1", "data.clip_len=8", "data.size=32", "data.batch_size=4",
                 "encoder_kwargs.width=0.0625",
                 "--mixers", "baseline,framecutmix", "--out", str(out)])
    assert code == 0
    table = json.loads((out / "comparison.json").read_text())
    assert [r["mixer"] for r in table["rows"]] == ["baseline", "framecutmix"]
    assert all(0 <= r["top1"] <= 100 for r in table["rows"])
    assert "| framecutmix |" in (out / "comparison.md").read_text()
    assert (out / "framecutmix" / "checkpoint.pt").is_file()


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
                                          [*common, "epochs=2", f"out_dir={split}"]))
    assert losses(split) == losses(straight)
