"""Linear probe: learns separable features, is reproducible, labels test-set selection."""

from __future__ import annotations

import pytest
import torch

from vimix_ssl.eval.linear import LinearProbe, LinearProbeConfig, probe_on_features, topk_accuracy


def _separable(n_per_class=40, classes=4, dim=12, seed=0):
    g = torch.Generator().manual_seed(seed)
    weights = torch.randn(classes, dim, generator=g)

    def draw(n):
        x = torch.nn.functional.normalize(torch.randn(n * classes * 20, dim, generator=g), dim=1)
        scores = x @ weights.T
        top2 = scores.topk(2, dim=1).values
        y = scores.argmax(1)  # linearly separable by construction ...
        y[top2[:, 0] - top2[:, 1] < 0.5] = -1  # ... with a margin
        keep = torch.cat([torch.nonzero(y == c)[:n, 0] for c in range(classes)])
        return x[keep] * 3, y[keep]  # classes are cones through 0: separable after L2 norm too

    return (*draw(n_per_class), *draw(n_per_class // 2))


def _config(**kw):
    base = dict(epochs=30, batch_size=32, lr=0.1, milestones=[20, 25])  # lr 1.0 is for batch 1024
    base.update(kw)
    return LinearProbeConfig(**base)


def test_probe_learns_linearly_separable_features():
    train_x, train_y, test_x, test_y = _separable()
    out = probe_on_features(train_x, train_y, test_x, test_y, 4, _config())
    assert out.metrics["top1"] >= 0.95
    assert out.metrics["top5"] == 1.0  # 4 classes: top-5 covers them all
    assert out.probabilities.shape == (len(test_y), 4)
    torch.testing.assert_close(out.probabilities.sum(1), torch.ones(len(test_y)))
    assert out.history[-1]["loss"] < out.history[0]["loss"]
    assert out.selected_epoch == 30 and not out.selected_on_test
    assert "test_top1" not in out.history[0]  # the test split is not looked at during training


def test_plain_linear_head_learns_too():
    train_x, train_y, test_x, test_y = _separable(seed=1)
    out = probe_on_features(train_x, train_y, test_x, test_y, 4,
                            _config(head="linear", lr=0.3, weight_decay=0.0))
    assert out.metrics["top1"] >= 0.9
    assert isinstance(out.model.norm, torch.nn.Identity)


def test_probe_is_bit_identical_when_repeated():
    train_x, train_y, test_x, test_y = _separable(seed=2)
    a = probe_on_features(train_x, train_y, test_x, test_y, 4, _config(epochs=5))
    b = probe_on_features(train_x, train_y, test_x, test_y, 4, _config(epochs=5))
    assert torch.equal(a.probabilities, b.probabilities)
    assert a.history == b.history


def test_select_on_test_is_labelled():
    train_x, train_y, test_x, test_y = _separable(seed=3)
    out = probe_on_features(train_x, train_y, test_x, test_y, 4, _config(epochs=6, select_on_test=True))
    assert out.selected_on_test
    best = max(range(6), key=lambda e: out.history[e]["test_top1"])
    assert out.selected_epoch == best + 1
    assert out.metrics["top1"] == out.history[best]["test_top1"]


def test_head_normalises_then_batch_norms():
    probe = LinearProbe(6, 3).eval()
    x = torch.randn(5, 6)
    torch.testing.assert_close(probe(x), probe(x * 7.0))  # scale-invariant thanks to the L2 norm


def test_topk_accuracy():
    scores = torch.tensor([[0.1, 0.7, 0.2], [0.5, 0.2, 0.3]])
    labels = torch.tensor([2, 0])
    assert topk_accuracy(scores, labels, (1, 2)) == {"top1": 0.5, "top2": 1.0}


def test_bad_config_is_a_clear_error():
    with pytest.raises(ValueError, match="milestones"):
        LinearProbeConfig(milestones=[80, 60]).validate()


def test_end_to_end_path_trains_through_a_frozen_encoder():
    from vimix_ssl.eval.linear import end_to_end_batches, train_probe

    class Clips(torch.utils.data.Dataset):  # training-mode samples: one view per video
        def __init__(self):
            g = torch.Generator().manual_seed(0)
            self.x = torch.randn(24, 3, 2, 4, 4, generator=g)
            self.y = torch.arange(24) % 3
            self.x += self.y.view(-1, 1, 1, 1, 1) * 2.0  # class = brightness

        def __len__(self):
            return 24

        def __getitem__(self, i):
            return {"rgb": [self.x[i]], "label": int(self.y[i]), "index": i, "video_id": str(i)}

    torch.manual_seed(0)
    encoder = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(96, 8))
    before = [p.clone() for p in encoder.parameters()]
    data = Clips()
    batches = end_to_end_batches(encoder, data, "rgb", 8, 0, torch.device("cpu"))
    test_x = encoder(data.x).detach()
    out = train_probe(8, 3, batches, lambda m: m(test_x).softmax(1), data.y, _config(epochs=20))
    assert out.metrics["top1"] >= 0.9
    assert all(torch.equal(a, b) for a, b in zip(before, encoder.parameters()))  # encoder stays frozen
    assert not encoder.training


def test_short_probe_on_nearly_collinear_features_predicts_in_eval_mode():
    """Low-variance features (ReLU-pooled backbones) + few steps: eval-mode BN must still work.

    An exponential running average started at (0, 1) keeps ~1e-2 of its initial variance
    after 40 steps, far above the features' ~1e-5 variance, and every prediction collapses.
    """
    import torch

    from vimix_ssl.eval.linear import LinearProbeConfig, probe_on_features

    g = torch.Generator().manual_seed(0)
    classes, dim = 5, 32
    centres = torch.randn(classes, dim, generator=g) * 0.01
    common = torch.ones(dim)

    def sample(n):
        y = torch.arange(n) % classes
        return common + centres[y] + 0.001 * torch.randn(n, dim, generator=g), y

    xtr, ytr = sample(50)
    xte, yte = sample(30)
    out = probe_on_features(xtr, ytr, xte, yte, classes, LinearProbeConfig(epochs=40, milestones=[30]))
    assert out.metrics["top1"] >= 0.95
