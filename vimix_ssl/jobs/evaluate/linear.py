"""Linear probe on a frozen encoder: on cached features or end to end on augmented clips."""

from __future__ import annotations

from typing import Any


def run(args: Any) -> int:
    import dataclasses

    from vimix_ssl.eval.features import resolve_device
    from vimix_ssl.eval.finetune import save_predictions
    from vimix_ssl.eval.linear import (
        clip_softmax_average,
        end_to_end_batches,
        probe_on_features,
        train_probe,
    )
    from vimix_ssl.eval.results import format_metrics, write_result
    from vimix_ssl.jobs.evaluate.session import (
        build_split,
        check_split_sizes,
        class_names_of,
        data_label,
        modality_kind,
        screen_split,
        split_features,
        start_session,
    )

    session = start_session(args)
    config, modality = session.config, session.modality
    skeleton = modality_kind(modality) == "skeleton"
    if getattr(args, "require_skeleton", False) and not skeleton:
        raise ValueError(f"{args.encoder} holds a {modality!r} encoder; skeleton linear evaluation needs "
                         "a joint, motion or bone encoder")
    probe = config.skeleton_probe if skeleton else config.probe
    mode = "cached" if skeleton else config.probe_mode
    train_dataset = None
    if mode == "end_to_end":  # screen and size-check the training clips before any feature work
        train_dataset = build_split(config, modality, "train", train=True, encoder=session.source.encoder)
        end_to_end_screening = screen_split(config, train_dataset, "train")
        check_split_sizes({"train": len(train_dataset)}, config.data.batch_size, "end-to-end linear probe",
                          "data.batch_size")
    # the skeleton probe feeds raw pooled features into its Linear (peer: CrosSCLR linear_evaluation.py)
    features_config = dataclasses.replace(config.features, normalise_clips=False) if skeleton else None
    windows = {"train": "random"} if config.probe_train_windows == "random" and not skeleton else None
    features, cache = split_features(config, session.source, modality, windows=windows,
                                     features_config=features_config)
    train, test = features["train"], features["test"]
    test_dataset = build_split(config, modality, "test", encoder=session.source.encoder)
    names = class_names_of(test_dataset)
    num_classes = len(names) or int(max(train.labels.max(), test.labels.max())) + 1
    device = resolve_device(config.features.device)
    if mode == "cached":
        # frozen encoder + deterministic inputs: training on cached features is exact
        output = probe_on_features(train.features, train.labels, test.features, test.labels,
                                   num_classes, probe, device)
    else:
        probe = dataclasses.replace(probe, lr=config.probe_end_to_end_lr, batch_size=config.data.batch_size)
        cache["train"]["end_to_end_screening"] = end_to_end_screening
        augment = config.data.augment.photometric().train() if modality == "rgb" else None
        batches = end_to_end_batches(session.source.encoder, train_dataset, modality, probe.batch_size,
                                     config.data.num_workers, device, augment)
        clip_features, counts = test.clip_features.to(device), test.clip_counts

        def evaluate(model):
            return clip_softmax_average(model, clip_features, counts)

        output = train_probe(train.features.shape[1], num_classes, batches, evaluate,
                             test.labels.long().to(device), probe, device)
    stamp = session.started.replace(":", "").replace("+", "p")
    predictions = save_predictions(session.run_dir / "eval" / f"linear_{modality}_{stamp}.npz",
                                   test.video_ids, test.labels, output.probabilities, modality)
    notes = f"{mode}; " + ("raw features; " if skeleton else "")
    notes += (f"SELECTED ON TEST (epoch {output.selected_epoch})" if output.selected_on_test
              else f"last epoch ({output.selected_epoch})")
    protocol = session.protocol(mode=mode, probe=dataclasses.asdict(probe), bn_mode="encoder frozen, eval()",
                                selected_on_test=output.selected_on_test,
                                selected_epoch=output.selected_epoch, history=output.history, cache=cache,
                                class_names=names, features_normalised=not skeleton and
                                config.features.normalise_clips)
    files = {"predictions": str(predictions),
             "features": {split: record["cache"] for split, record in cache.items()}}
    path = write_result(session.run_dir, "linear", output.metrics, protocol, session.source.describe(),
                        session.started, data=data_label(session), notes=session.notes(notes), files=files)
    print(f"linear {modality}: {format_metrics(output.metrics)} [{notes}]  ({path})")
    return 0


def run_skeleton(args: Any) -> int:
    """CrosSCLR's skeleton linear evaluation on each of ``args.benchmark`` (xsub, xview)."""
    import argparse

    from vimix_ssl.jobs.evaluate.session import run_command
    from vimix_ssl.modalities import SKELETON_MODALITIES

    if args.modality is not None and args.modality not in SKELETON_MODALITIES:
        raise ValueError(f"--modality must be one of {SKELETON_MODALITIES}, got {args.modality!r}")
    code = 0
    for benchmark in args.benchmark:
        one = argparse.Namespace(**vars(args), require_skeleton=True)
        one.overrides = [*args.overrides, f"skeleton.benchmark={benchmark}"]
        code = max(code, run_command(run, one))
    return code
