"""Weighted k-nearest-neighbour accuracy of frozen features (the pre-training monitor).

Voting follows InstDisc / MoCo's monitor: each of the ``k`` most cosine-similar memory
samples votes for its label with weight ``exp(similarity / temperature)`` (or 1 with
``temperature=None``: majority vote).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def knn_predict(train_features: Tensor, train_labels: Tensor, test_features: Tensor, k: int = 200,
                temperature: float | None = 0.07, num_classes: int | None = None,
                chunk_size: int = 1024) -> Tensor:
    """Predicted labels (M,) of ``test_features`` (M, D) from the memory ``train_features`` (N, D)."""
    if train_features.shape[0] != train_labels.shape[0]:
        raise ValueError(f"{train_features.shape[0]} memory features for {train_labels.shape[0]} labels")
    if train_features.shape[1] != test_features.shape[1]:
        raise ValueError(f"memory features are {train_features.shape[1]}-d, "
                         f"queries {test_features.shape[1]}-d")
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    memory = F.normalize(train_features.float(), dim=1)  # (N, D)
    labels = train_labels.long()
    classes = num_classes or int(labels.max().item()) + 1
    k = min(k, memory.shape[0])
    predictions = []
    for start in range(0, test_features.shape[0], chunk_size):
        queries = F.normalize(test_features[start:start + chunk_size].float(), dim=1)  # (m, D)
        similarity, neighbours = (queries @ memory.T).topk(k, dim=1)  # (m, k)
        weights = torch.ones_like(similarity) if temperature is None else (similarity / temperature).exp()
        votes = torch.zeros(queries.shape[0], classes, device=queries.device)
        votes.scatter_add_(1, labels[neighbours], weights)  # (m, classes)
        predictions.append(votes.argmax(dim=1))
    return torch.cat(predictions)


def knn_accuracy(train_features: Tensor, train_labels: Tensor, test_features: Tensor, test_labels: Tensor,
                 k: int = 200, temperature: float | None = 0.07, num_classes: int | None = None) -> float:
    """Top-1 accuracy in [0, 1] of the weighted kNN classifier."""
    predicted = knn_predict(train_features, train_labels, test_features, k, temperature, num_classes)
    return (predicted.cpu() == test_labels.long().cpu()).float().mean().item()


@torch.no_grad()
def encode_dataset(encoder: nn.Module, dataset: Any, modality: str, device: torch.device | str = "cpu",
                   prepare: Callable[[Tensor], Tensor] | None = None, batch_size: int = 32,
                   num_workers: int = 0) -> tuple[Tensor, Tensor]:
    """Per-video backbone features (V, D) (mean of L2-normalised clip features) and labels (V,).

    ``dataset`` is in evaluation mode (one tensor or dense windows per video); ``prepare``
    turns the loader's clips into encoder input on the device (e.g. normalisation).
    """
    from vimix_ssl.eval.features import average_per_video, collate_eval

    loader = torch.utils.data.DataLoader(dataset, batch_size=batch_size, shuffle=False,
                                         num_workers=num_workers,
                                         collate_fn=functools.partial(collate_eval, modality=modality))
    was_training = encoder.training
    encoder.eval()
    features, labels = [], []
    try:
        for batch in loader:
            clips = batch["clips"].to(device)  # (N_clips, C, T, H, W) or (N_clips, C, T, V, M)
            if prepare is not None:
                clips = prepare(clips)
            clip_features = F.normalize(encoder(clips).float(), dim=1).cpu()  # (N_clips, D)
            features.append(average_per_video(clip_features, batch["counts"], normalise=True))
            labels.append(batch["label"])
    finally:
        encoder.train(was_training)
    if not features:
        raise ValueError(f"encode_dataset: the dataset is empty ({modality})")
    return torch.cat(features), torch.cat(labels)
