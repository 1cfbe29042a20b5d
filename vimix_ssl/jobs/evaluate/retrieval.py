"""Retrieval R@k of an encoder: test-split queries against the train-split gallery."""

from __future__ import annotations

from typing import Any


def run(args: Any) -> int:
    from vimix_ssl.eval.results import format_metrics, write_result
    from vimix_ssl.eval.retrieval import evaluate_retrieval, write_neighbours
    from vimix_ssl.jobs.evaluate.session import data_label, split_features, start_session

    session = start_session(args)
    config = session.config.retrieval
    windows = {"train": "random"} if config.gallery_windows == "random" else None
    data_windows = session.config.data.eval_windows
    features, cache = split_features(session.config, session.source, session.modality, windows=windows)
    train, test = features["train"], features["test"]
    output = evaluate_retrieval(train.features.numpy(), train.labels.numpy(), test.features.numpy(),
                                test.labels.numpy(), config)
    metrics = {f"R@{k}": value for k, value in output.recall.items()}
    files = {"features": {split: record["cache"] for split, record in cache.items()}}
    if config.save_neighbours:
        from vimix_ssl.eval.results import now_iso

        stamp = now_iso().replace(":", "").replace("+", "p")
        path = write_neighbours(session.run_dir / "eval" / f"neighbours_{session.modality}_{stamp}.json",
                                output, config.save_neighbours, test.video_ids, test.labels.tolist(),
                                train.video_ids, train.labels.tolist())
        files["neighbours"] = str(path)
    protocol = session.protocol(queries="test", gallery="train", cache=cache,
                                gallery_windows=(windows or {}).get("train", data_windows),
                                queries_count=len(test.video_ids), gallery_count=len(train.video_ids))
    path = write_result(session.run_dir, "retrieval", metrics, protocol, session.source.describe(),
                        session.started, data=data_label(session), notes=session.notes(""), files=files)
    print(f"retrieval {session.modality}: {format_metrics(metrics)}  ({path})")
    return 0
