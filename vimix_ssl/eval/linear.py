"""Linear probe on a frozen encoder (METHOD §7).

Head: L2-normalise → BatchNorm1d → Linear (video, peer: CoCLR) or a plain Linear
(skeleton, peer: CrosSCLR). SGD with momentum, step decay. One training loop serves the
fast path (cached per-video features) and the end-to-end path (augmented clips through
the frozen encoder): both hand it an epoch's batches of ``(features, labels)``.

No model selection happens on the test split: the reported numbers are those of the last
epoch. ``select_on_test: true`` reports the best test epoch instead and the result says so.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Literal

import torch
from torch import Tensor, nn

from vimix_ssl.utils.seed import deterministic_algorithms

HeadKind = Literal["norm_bn_linear", "linear"]


@dataclass
class LinearProbeConfig:
    """Optimisation protocol of the probe; recorded with every result."""

    head: HeadKind = "norm_bn_linear"  # L2-norm → BN → Linear (peer: CoCLR); "linear" (CrosSCLR)
    epochs: int = 100
    batch_size: int = 1024  # cached features (peer: CoCLR); end-to-end uses the data loader's
    lr: float = 1.0  # cached features; peer end-to-end: 0.1
    momentum: float = 0.9
    weight_decay: float = 1e-3
    milestones: list[int] = field(default_factory=lambda: [60, 80])  # lr × gamma at these epochs
    gamma: float = 0.1
    select_on_test: bool = False  # report the best test epoch (labelled in the result)
    seed: int = 0  # shuffling and head initialisation

    def validate(self) -> None:
        if self.epochs < 1 or self.batch_size < 1:
            raise ValueError(f"probe.epochs and probe.batch_size must be >= 1, "
                             f"got {self.epochs} and {self.batch_size}")
        if sorted(self.milestones) != list(self.milestones):
            raise ValueError(f"probe.milestones must be increasing, got {self.milestones}")


class LinearProbe(nn.Module):
    """``(B, D)`` features -> ``(B, num_classes)`` logits."""

    def __init__(self, feature_dim: int, num_classes: int, head: HeadKind = "norm_bn_linear") -> None:
        super().__init__()
        if head not in ("norm_bn_linear", "linear"):
            raise ValueError(f"probe.head must be norm_bn_linear or linear, got {head!r}")
        self.head = head
        # momentum=None: running statistics are the cumulative average over every training
        # batch. The probe's inputs are fixed features, so this converges to the exact
        # feature statistics; an exponential average would keep a trace of its (0, 1) start
        # for short probes, which breaks eval-mode predictions on low-variance features.
        self.norm = (nn.BatchNorm1d(feature_dim, momentum=None) if head == "norm_bn_linear"
                     else nn.Identity())
        self.fc = nn.Linear(feature_dim, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        if self.head == "norm_bn_linear":
            x = nn.functional.normalize(x, dim=1)
        return self.fc(self.norm(x))


def topk_accuracy(scores: Tensor, labels: Tensor, ks: Iterable[int] = (1, 5)) -> dict[str, float]:
    """``scores`` ``(N, C)``, ``labels`` ``(N,)`` -> ``{"top1": .., "top5": ..}`` in [0, 1]."""
    out = {}
    for k in ks:
        kk = min(k, scores.shape[1])
        top = scores.topk(kk, dim=1).indices  # (N, kk)
        out[f"top{k}"] = float((top == labels[:, None]).any(dim=1).float().mean())
    return out


@dataclass
class ProbeOutput:
    model: LinearProbe
    metrics: dict[str, float]  # top1 / top5 on the test split
    probabilities: Tensor  # (N_test, C) softmax of the reported model
    history: list[dict[str, float]]  # per epoch: loss (and test top1 when selecting on test)
    selected_epoch: int  # 1-based epoch whose model is reported
    selected_on_test: bool


BatchSource = Callable[[int, torch.Generator], Iterable[tuple[Tensor, Tensor]]]
Evaluator = Callable[[LinearProbe], Tensor]  # probe -> (N_test, C) probabilities


def train_probe(feature_dim: int, num_classes: int, batches: BatchSource, evaluate: Evaluator,
                test_labels: Tensor, config: LinearProbeConfig, device: str | torch.device = "cpu",
                desc: str = "linear probe") -> ProbeOutput:
    """Train a probe on ``batches(epoch, generator)`` and report it on the test split."""
    from vimix_ssl.utils.logging import progress

    config.validate()
    generator = torch.Generator().manual_seed(config.seed)
    with deterministic_algorithms():
        torch.manual_seed(config.seed)
        model = LinearProbe(feature_dim, num_classes, config.head).to(device)
        optimiser = torch.optim.SGD(model.parameters(), lr=config.lr, momentum=config.momentum,
                                    weight_decay=config.weight_decay)
        schedule = torch.optim.lr_scheduler.MultiStepLR(optimiser, config.milestones, config.gamma)
        history: list[dict[str, float]] = []
        best: tuple[float, int, dict] | None = None
        bar = progress(total=config.epochs, desc=desc, unit="epoch")
        for epoch in range(config.epochs):
            model.train()
            total, count = 0.0, 0
            for features, labels in batches(epoch, generator):
                features, labels = features.to(device).float(), labels.to(device)
                loss = nn.functional.cross_entropy(model(features), labels)
                optimiser.zero_grad(set_to_none=True)
                loss.backward()
                optimiser.step()
                total += float(loss.detach()) * len(labels)
                count += len(labels)
            schedule.step()
            record = {"epoch": epoch + 1, "loss": total / max(count, 1)}
            if config.select_on_test:
                top1 = topk_accuracy(_evaluate(model, evaluate), test_labels, (1,))["top1"]
                record["test_top1"] = top1
                if best is None or top1 > best[0]:
                    best = (top1, epoch + 1, copy.deepcopy(model.state_dict()))
            history.append(record)
            bar.set_postfix(loss=f"{record['loss']:.4f}")
            bar.update(1)
        bar.close()
        selected_epoch = config.epochs
        if best is not None:
            model.load_state_dict(best[2])
            selected_epoch = best[1]
        probabilities = _evaluate(model, evaluate)
    metrics = topk_accuracy(probabilities, test_labels.to(probabilities.device))
    return ProbeOutput(model, metrics, probabilities.cpu(), history, selected_epoch,
                       config.select_on_test)


def _evaluate(model: LinearProbe, evaluate: Evaluator) -> Tensor:
    model.eval()
    with torch.no_grad():
        return evaluate(model)


def feature_batches(features: Tensor, labels: Tensor, batch_size: int) -> BatchSource:
    """Shuffled mini-batches of cached ``(N, D)`` features, reproducible from the generator."""
    if len(features) != len(labels):
        raise ValueError(f"{len(features)} feature rows but {len(labels)} labels")

    def batches(epoch: int, generator: torch.Generator) -> Iterator[tuple[Tensor, Tensor]]:
        order = torch.randperm(len(features), generator=generator)
        for start in range(0, len(order), batch_size):
            chunk = order[start:start + batch_size]
            if len(chunk) < 2 and len(order) >= 2:
                continue  # BatchNorm cannot train on a batch of one
            yield features[chunk], labels[chunk]

    return batches


def probe_on_features(train_features: Tensor, train_labels: Tensor, test_features: Tensor,
                      test_labels: Tensor, num_classes: int, config: LinearProbeConfig,
                      device: str | torch.device = "cpu", desc: str = "linear probe") -> ProbeOutput:
    """Fast path: probe trained on cached ``(N, D)`` features, tested on ``(M, D)``."""
    train_features, test_features = train_features.float(), test_features.float()
    test_on_device = test_features.to(device)

    def evaluate(model: LinearProbe) -> Tensor:
        return model(test_on_device).softmax(dim=1)

    return train_probe(train_features.shape[1], num_classes,
                       feature_batches(train_features, train_labels.long(), config.batch_size),
                       evaluate, test_labels.long().to(device), config, device, desc)


def clip_softmax_average(model: LinearProbe, clip_features: Tensor, clip_counts: Tensor) -> Tensor:
    """Per-clip ``(N_clips_total, D)`` features -> per-video mean softmax ``(V, C)``."""
    from vimix_ssl.eval.features import average_per_video

    return average_per_video(model(clip_features).softmax(dim=1), clip_counts, normalise=False)


def end_to_end_batches(encoder: nn.Module, dataset: torch.utils.data.Dataset, modality: str,
                       batch_size: int, workers: int, device: torch.device,
                       augment: Callable[[Tensor], Tensor] | None = None) -> BatchSource:
    """Augmented training clips through the frozen encoder (eval mode, no gradient) each epoch.

    ``dataset`` is in training mode with one view; ``augment`` is the batched photometric
    augmentation + normalisation (RGB) applied on ``device``.
    """
    encoder = encoder.to(device).eval()

    def batches(epoch: int, generator: torch.Generator) -> Iterator[tuple[Tensor, Tensor]]:
        loader = torch.utils.data.DataLoader(dataset, batch_size=batch_size, shuffle=True, drop_last=True,
                                             generator=generator, num_workers=workers)
        for batch in loader:
            view = batch[modality]
            clips = (view[0] if isinstance(view, (list, tuple)) else view).to(device)  # (B, C, T, H, W)
            with torch.no_grad():  # leave the context before yielding: the probe needs gradients
                if augment is not None:
                    clips = augment(clips)
                features = encoder(clips).float()  # (B, D)
            yield features, batch["label"]

    return batches
