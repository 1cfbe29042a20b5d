"""The demo's evaluation: encoder files per stage, the evaluation config, the metrics of one encoder."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any


def export_encoders(run_dir: Path, modalities: tuple[str, ...], seed: int) -> dict[str, dict[str, Path]]:
    """Encoder files per modality: random init, end of its stage 0, end of the schedule."""
    import torch

    from vimix_ssl.models.export import export_encoder, export_from_checkpoint
    from vimix_ssl.models.registry import build_encoder
    from vimix_ssl.utils.checkpoint import load_checkpoint

    final_ckpt = run_dir / "checkpoint.pt"
    spec = load_checkpoint(final_ckpt)["encoders"]
    files: dict[str, dict[str, Path]] = {}
    for m in modalities:
        out = run_dir / "encoders"
        torch.manual_seed(seed)  # the random baseline: a fresh encoder of the same architecture
        random = build_encoder(spec[m]["name"], **spec[m]["kwargs"])
        stage0 = next(run_dir.glob(f"stage*_stage0_{m}.pt"))
        files[m] = {
            "random": export_encoder(out / f"{m}_random.pt", spec[m]["name"], spec[m]["kwargs"],
                                     random.state_dict(), m, meta={"note": "random initialisation"}),
            "stage0": export_from_checkpoint(stage0, m, out / f"{m}_stage0.pt"),
            "final": export_from_checkpoint(final_ckpt, m, out / f"{m}_final.pt"),
        }
    return files


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
        data["data"] = {k: d[k] for k in ("dataset", "root", "clip_len", "size", "eval_window_stride")}
        data["data"]["num_workers"] = 0
        data["flow_store"], data["flow_units"] = str(flow_dir), "normalized"
    if ntu_dir is not None:
        data["skeleton"] = {"root": str(ntu_dir), "benchmark": "xsub"}
    config = from_dict(EvalConfig, data)
    config.validate()
    return config


def evaluate_encoder(config: Any, path: Path, modality: str) -> dict[str, Any]:
    """Linear probe, retrieval R@k and kNN of one encoder file (features cached)."""
    from vimix_ssl.eval.features import load_eval_encoder
    from vimix_ssl.eval.knn import knn_accuracy
    from vimix_ssl.eval.linear import probe_on_features
    from vimix_ssl.eval.retrieval import evaluate_retrieval
    from vimix_ssl.jobs.evaluate.session import modality_kind, split_features

    started = time.perf_counter()
    source = load_eval_encoder(path, modality)
    feats, _ = split_features(config, source, modality)
    train, test = feats["train"], feats["test"]
    num_classes = int(max(train.labels.max(), test.labels.max())) + 1
    probe_cfg = config.skeleton_probe if modality_kind(modality) == "skeleton" else config.probe
    probe = probe_on_features(train.features, train.labels, test.features, test.labels, num_classes,
                              probe_cfg, desc=f"{modality} probe")
    retrieval = evaluate_retrieval(train.features.numpy(), train.labels.numpy(), test.features.numpy(),
                                   test.labels.numpy(), config.retrieval)
    knn = knn_accuracy(train.features, train.labels, test.features, test.labels,
                       k=min(config.knn.k, len(train.labels)), temperature=config.knn.temperature,
                       num_classes=num_classes)
    return {
        "linear_top1": 100 * probe.metrics["top1"], "r_at_1": 100 * retrieval.recall[1],
        "r_at_5": 100 * retrieval.recall[5], "r_at_10": 100 * retrieval.recall[10], "knn_top1": 100 * knn,
        "num_train": len(train.labels), "num_test": len(test.labels), "num_classes": num_classes,
        "eval_seconds": round(time.perf_counter() - started, 1),
        "_test_features": test.features.numpy(), "_test_labels": test.labels.numpy(),
        "_predicted": probe.probabilities.argmax(1).cpu().numpy(),
    }
