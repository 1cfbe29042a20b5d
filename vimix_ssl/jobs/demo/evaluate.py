"""The demo's evaluation: encoder files per stage, the evaluation config, the metrics of one encoder."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any


def export_encoders(run_dir: Path, modalities: tuple[str, ...], seed: int) -> dict[str, dict[str, Path]]:
    """Encoder files per modality, in training order: random init, end of its stage 0, the end of
    each later stage that trained it except the last (named after the stage, e.g. ``cmmc1``),
    and the end of the schedule (``final``)."""
    from vimix_ssl.models.export import export_from_checkpoint

    final_ckpt = run_dir / "checkpoint.pt"
    files: dict[str, dict[str, Path]] = {}
    for m in modalities:
        out = run_dir / "encoders"
        stage0 = next(run_dir.glob(f"stage*_stage0_{m}.pt"))
        files[m] = {"random": random_encoder_file(final_ckpt, m, seed, out / f"{m}_random.pt"),
                    "stage0": export_from_checkpoint(stage0, m, out / f"{m}_stage0.pt")}
        for kind, path in intermediate_stages(run_dir, m):
            files[m][kind] = export_from_checkpoint(path, m, out / f"{m}_{kind}.pt")
        files[m]["final"] = export_from_checkpoint(final_ckpt, m, out / f"{m}_final.pt")
    return files


def intermediate_stages(run_dir: Path, modality: str) -> list[tuple[str, Path]]:
    """``(stage name without the modality, file)`` of the stages after stage 0 that trained
    ``modality``, in order, without the last one (its weights are the final encoder's)."""
    import re

    pattern = re.compile(rf"stage(\d+)_(.+)_{re.escape(modality)}\.pt")
    found = sorted((int(match.group(1)), match.group(2), path)
                   for path in run_dir.glob(f"stage*_{modality}.pt")
                   if (match := pattern.fullmatch(path.name)) and match.group(2) != "stage0")
    return [(name, path) for _, name, path in found[:-1]]


def random_encoder_file(checkpoint: Path, modality: str, seed: int, out: Path) -> Path:
    """The random baseline: a fresh encoder of ``checkpoint``'s architecture, built under ``seed``."""
    import torch

    from vimix_ssl.models.export import export_encoder
    from vimix_ssl.models.registry import build_encoder
    from vimix_ssl.utils.checkpoint import load_checkpoint

    spec = load_checkpoint(checkpoint)["encoders"][modality]
    torch.manual_seed(seed)
    random = build_encoder(spec["name"], **spec["kwargs"])
    return export_encoder(out, spec["name"], spec["kwargs"], random.state_dict(), modality,
                          meta={"note": "random initialisation"})


def evaluation_config(cfg: Any, video_cfg: dict[str, Any] | None, flow_dir: Path | None,
                      ntu_dir: Path | None, cache_dir: Path) -> Any:
    from vimix_ssl.config import from_dict
    from vimix_ssl.jobs.evaluate.session import EvalConfig

    data: dict[str, Any] = {
        "features": {"cache_dir": str(cache_dir), "device": cfg.device, "videos_per_batch": 8},
        "retrieval": {"ks": [1, 5, 10], "save_neighbours": 0},
        "probe": {"epochs": cfg.probe_epochs, "milestones": [int(cfg.probe_epochs * 0.6),
                                                             int(cfg.probe_epochs * 0.8)]},
        "skeleton_probe": {"epochs": cfg.probe_epochs, "milestones": [int(cfg.probe_epochs * 0.8)]},
        "knn": {"k": cfg.knn_k},
    }
    if video_cfg is not None:
        d = video_cfg["data"]
        data["data"] = {k: d[k] for k in ("dataset", "root", "splits", "clip_len", "stride", "size",
                                              "eval_window_stride")}
        data["data"]["num_workers"] = 0
        data["flow_store"], data["flow_units"] = str(flow_dir), "normalized"
    if ntu_dir is not None:
        data["skeleton"] = {"root": str(ntu_dir), "benchmark": "xsub"}
    config = from_dict(EvalConfig, data)
    config.validate()
    return config


SCORED = ("linear_top1", "r_at_1", "knn_top1")  # metrics with per-video scores (intervals, verdicts)


def standardise(train: Any, test: Any) -> tuple[Any, Any]:
    """Features z-scored per dimension with the *training* split's mean and std.

    A linear classifier of standardised features is a linear classifier of the raw ones (the
    same family), only SGD's conditioning changes. The demo needs it for the skeleton probe:
    small ST-GCN features vary along tiny directions around a large common offset, and the
    plain Linear probe at CrosSCLR's lr 3.0 does not train on them (training loss stays at
    ln(classes)), while kNN and retrieval, which centre and normalise, separate the classes —
    the 20-40-point linear-vs-kNN gaps of earlier demo reports (docs/RESULTS.md).
    """
    mean, std = train.mean(dim=0, keepdim=True), train.std(dim=0, keepdim=True).clamp(min=1e-12)
    return (train - mean) / std, (test - mean) / std


def evaluate_encoder(config: Any, path: Path, modality: str) -> dict[str, Any]:
    """Linear probe, retrieval R@k and kNN of one encoder file (features cached).

    Besides the percentages it returns ``linear_top1_ci`` etc. (95 % bootstrap interval over
    the test videos, ``eval.stats``) and, under ``_scores``, the per-video 0/100 scores of
    ``SCORED`` that paired comparisons between encoders need.
    """
    from vimix_ssl.eval.features import load_eval_encoder
    from vimix_ssl.eval.knn import knn_predict
    from vimix_ssl.eval.linear import probe_on_features
    from vimix_ssl.eval.retrieval import evaluate_retrieval
    from vimix_ssl.eval.stats import correct, interval
    from vimix_ssl.jobs.evaluate.session import modality_kind, split_features

    started = time.perf_counter()
    source = load_eval_encoder(path, modality)
    feats, _ = split_features(config, source, modality)
    train, test = feats["train"], feats["test"]
    num_classes = int(max(train.labels.max(), test.labels.max())) + 1
    skeleton = modality_kind(modality) == "skeleton"
    probe_cfg = config.skeleton_probe if skeleton else config.probe
    # The skeleton probe (peer CrosSCLR: plain Linear, SGD lr 3.0) sees standardised features
    # here; the video probe standardises through its BatchNorm already. See standardise().
    probe_train, probe_test = standardise(train.features, test.features) if skeleton else (train.features,
                                                                                             test.features)
    probe = probe_on_features(probe_train, train.labels, probe_test, test.labels, num_classes,
                              probe_cfg, desc=f"{modality} probe")
    retrieval = evaluate_retrieval(train.features.numpy(), train.labels.numpy(), test.features.numpy(),
                                   test.labels.numpy(), config.retrieval)
    knn = knn_predict(train.features, train.labels, test.features, k=min(config.knn.k, len(train.labels)),
                      temperature=config.knn.temperature, num_classes=num_classes)
    labels, train_labels = test.labels.numpy(), train.labels.numpy()
    predicted = probe.probabilities.argmax(1).cpu().numpy()
    scores = {"linear_top1": correct(predicted, labels),
              "r_at_1": correct(train_labels[retrieval.neighbours[:, 0]], labels),  # nearest: same class?
              "knn_top1": correct(knn.cpu().numpy(), labels)}
    result: dict[str, Any] = {
        "linear_top1": 100 * probe.metrics["top1"], "r_at_1": 100 * retrieval.recall[1],
        "r_at_5": 100 * retrieval.recall[5], "r_at_10": 100 * retrieval.recall[10],
        "knn_top1": float(scores["knn_top1"].mean()),
        "num_train": len(train.labels), "num_test": len(test.labels), "num_classes": num_classes,
        "eval_seconds": round(time.perf_counter() - started, 1),
        "_test_features": test.features.numpy(), "_test_labels": labels, "_predicted": predicted,
        "_scores": scores,
    }
    for metric, values in scores.items():
        ci = interval(values)
        result[f"{metric}_ci"] = [round(ci.low, 2), round(ci.high, 2)]
    return result
