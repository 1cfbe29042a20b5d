"""``vimix eval knn [CONFIG] --encoder FILE``: weighted kNN accuracy of frozen features."""

from __future__ import annotations

import argparse

HELP = "weighted k-nearest-neighbour top-1 accuracy of any encoder's frozen features"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from vimix_ssl.commands.eval_retrieval import add_eval_arguments

    add_eval_arguments(parser)


def _run(args: argparse.Namespace) -> int:
    from vimix_ssl.commands.eval_retrieval import _data_label
    from vimix_ssl.eval import split_features, start_session
    from vimix_ssl.eval.knn import knn_accuracy
    from vimix_ssl.eval.results import format_metrics, write_result

    session = start_session(args)
    features, cache = split_features(session.config, session.source, session.modality)
    train, test = features["train"], features["test"]
    knn = session.config.knn
    num_classes = int(max(train.labels.max(), test.labels.max())) + 1
    top1 = knn_accuracy(train.features, train.labels, test.features, test.labels, k=knn.k,
                        temperature=knn.temperature, num_classes=num_classes)
    metrics = {"top1": top1}
    files = {"features": {split: record["cache"] for split, record in cache.items()}}
    path = write_result(session.run_dir, "knn", metrics, session.protocol(cache=cache),
                        session.source.describe(), session.started, data=_data_label(session),
                        notes=f"k={knn.k}, t={knn.temperature}", files=files)
    print(f"knn {session.modality}: {format_metrics(metrics)}  ({path})")
    return 0


def main(args: argparse.Namespace) -> int:
    from vimix_ssl.eval import run_command

    return run_command(_run, args)
