"""Weighted kNN top-1 accuracy of an encoder's frozen features."""

from __future__ import annotations

from typing import Any


def run(args: Any) -> int:
    from vimix_ssl.eval.knn import knn_accuracy
    from vimix_ssl.eval.results import format_metrics, write_result
    from vimix_ssl.jobs.evaluate.session import (
        build_split,
        class_names_of,
        data_label,
        split_features,
        start_session,
    )

    session = start_session(args)
    features, cache = split_features(session.config, session.source, session.modality)
    train, test = features["train"], features["test"]
    knn = session.config.knn
    test_dataset = build_split(session.config, session.modality, "test", encoder=session.source.encoder)
    names = class_names_of(test_dataset)
    num_classes = len(names) or int(max(train.labels.max(), test.labels.max())) + 1
    top1 = knn_accuracy(train.features, train.labels, test.features, test.labels, k=knn.k,
                        temperature=knn.temperature, num_classes=num_classes)
    metrics = {"top1": top1}
    files = {"features": {split: record["cache"] for split, record in cache.items()}}
    path = write_result(session.run_dir, "knn", metrics, session.protocol(cache=cache),
                        session.source.describe(), session.started, data=data_label(session),
                        notes=session.notes(f"k={knn.k}, t={knn.temperature}"), files=files)
    print(f"knn {session.modality}: {format_metrics(metrics)}  ({path})")
    return 0
