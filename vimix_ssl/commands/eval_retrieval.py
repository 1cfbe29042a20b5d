"""``vimix eval retrieval [CONFIG] --encoder FILE``: nearest-neighbour video retrieval R@k."""

from __future__ import annotations

import argparse

HELP = "video retrieval R@k (queries = test split, gallery = train split, FAISS cosine search)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from vimix_ssl.eval import add_eval_arguments

    add_eval_arguments(parser)


def _run(args: argparse.Namespace) -> int:
    from vimix_ssl.eval import split_features, start_session
    from vimix_ssl.eval.results import format_metrics, write_result
    from vimix_ssl.eval.retrieval import evaluate_retrieval, write_neighbours

    session = start_session(args)
    config = session.config.retrieval
    features, cache = split_features(session.config, session.source, session.modality)
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
                                queries_count=len(test.video_ids), gallery_count=len(train.video_ids))
    path = write_result(session.run_dir, "retrieval", metrics, protocol, session.source.describe(),
                        session.started, data=_data_label(session), files=files)
    print(f"retrieval {session.modality}: {format_metrics(metrics)}  ({path})")
    return 0


def _data_label(session) -> str:
    from vimix_ssl.eval import modality_kind

    if modality_kind(session.modality) == "skeleton":
        return f"ntu {session.config.skeleton.benchmark}"
    return f"{session.config.data.dataset} split {session.config.data.split}"


def main(args: argparse.Namespace) -> int:
    from vimix_ssl.eval import run_command

    return run_command(_run, args)
