"""Finetuning an encoder end to end, and two-stream fusion of two finetune results."""

from __future__ import annotations

from typing import Any


def fuse(args: Any) -> int:
    from pathlib import Path

    from vimix_ssl.eval.finetune import fuse_two_stream, save_predictions
    from vimix_ssl.eval.results import format_metrics, now_iso, write_result

    started = now_iso()
    fused = fuse_two_stream(*args.fuse)
    run_dir = Path(args.out)
    stamp = started.replace(":", "").replace("+", "p")
    predictions = save_predictions(run_dir / "eval" / f"two_stream_{stamp}.npz", fused["video_ids"],
                                   fused["labels"], fused["probabilities"], "two-stream")
    protocol = {"fusion": "mean of the two models' per-video softmax", "streams": fused["streams"]}
    path = write_result(run_dir, "two-stream", fused["metrics"], protocol, None, started,
                        notes=" + ".join(s["modality"] for s in fused["streams"].values()),
                        files={"predictions": str(predictions)})
    print(f"two-stream: {format_metrics(fused['metrics'])}  ({path})")
    return 0


def run(args: Any) -> int:
    import dataclasses
    import functools

    import torch

    from vimix_ssl.eval.features import resolve_device
    from vimix_ssl.eval.finetune import (
        FinetuneModel,
        collate_by_frame_shape,
        predict_videos,
        save_predictions,
        train_finetune,
    )
    from vimix_ssl.eval.linear import topk_accuracy
    from vimix_ssl.eval.results import format_metrics, write_result
    from vimix_ssl.jobs.evaluate.session import (
        build_split,
        check_split_sizes,
        class_names_of,
        data_label,
        exclusion_summary,
        input_preparer,
        modality_kind,
        screen_split,
        start_session,
    )

    if args.fuse:
        return fuse(args)
    if not args.encoder:
        raise ValueError("give --encoder FILE to finetune, or --fuse FIRST SECOND to fuse two results")
    session = start_session(args)
    config, modality = session.config, session.modality
    if modality_kind(modality) != "video":
        raise ValueError(f"finetune evaluates video encoders (rgb, flow), got {modality!r}")
    device = resolve_device(config.features.device)
    torch.manual_seed(config.finetune.seed)
    encoder = session.source.encoder
    train_set = build_split(config, modality, "train", train=True, encoder=encoder)
    test_size = round(config.data.size * config.finetune.test_resize_ratio)
    test_set = build_split(config, modality, "test", encoder=encoder, size=test_size)
    test_set.eval_crop_fraction = 1.0  # finetune testing crops with test_resize_ratio and test_crops
    test_set.eval_frame = config.finetune.test_frame  # square: centre square; full: whole frame, aspect kept
    screening = {"train": {"screening": screen_split(config, train_set, "train")},
                 "test": {"screening": screen_split(config, test_set, "test")}}
    check_split_sizes({"train": len(train_set), "test": len(test_set)}, config.data.batch_size, "finetune",
                      "data.batch_size")
    names = class_names_of(test_set)
    model = FinetuneModel(encoder, encoder.feature_dim, len(names), config.finetune.dropout)
    augment = config.data.augment.photometric().train().to(device) if modality == "rgb" else None
    prepare = input_preparer(config, modality)

    def train_batches(epoch: int):
        loader = torch.utils.data.DataLoader(train_set, batch_size=config.data.batch_size, shuffle=True,
                                             drop_last=True, num_workers=config.data.num_workers)
        for batch in loader:
            clips = batch[modality][0].to(device)  # (B, C, T, H, W)
            yield (augment(clips) if augment is not None else clips), batch["label"]

    def test_batches():
        loader = torch.utils.data.DataLoader(test_set, batch_size=config.features.videos_per_batch,
                                             num_workers=config.data.num_workers,
                                             collate_fn=functools.partial(collate_by_frame_shape,
                                                                          modality=modality))
        for group in loader:  # videos whose frames differ in shape are run separately, in order
            for batch in group:
                clips = batch["clips"].to(device)
                yield (prepare(clips) if prepare is not None else clips), batch["counts"]

    history = train_finetune(model, train_batches, len(names), config.finetune, device)
    probabilities = predict_videos(model, test_batches(), config.data.size, config.finetune, device,
                                   flow=modality == "flow")
    labels = torch.tensor([entry.label for entry in test_set.videos.entries])
    ids = [entry.video_id for entry in test_set.videos.entries]
    metrics = topk_accuracy(probabilities, labels)
    stamp = session.started.replace(":", "").replace("+", "p")
    predictions = save_predictions(session.run_dir / "eval" / f"finetune_{modality}_{stamp}.npz", ids,
                                   labels, probabilities, modality)
    protocol = session.protocol(finetune=dataclasses.asdict(config.finetune), history=history,
                                test=f"{config.finetune.test_crops} crops x {config.data.eval_windows} "
                                     "windows, mean softmax",
                                test_frame_size=test_size if config.finetune.test_frame == "square"
                                else f"short side {test_size}, aspect ratio kept",
                                class_names=names, loop="vimix_ssl.eval.finetune",
                                exclusions=exclusion_summary(screening))
    mixer = config.finetune.mixer or "no mixer"
    path = write_result(session.run_dir, "finetune", metrics, protocol, session.source.describe(),
                        session.started, data=data_label(session),
                        notes=session.notes(f"{mixer}; last epoch"),
                        files={"predictions": str(predictions)})
    print(f"finetune {modality}: {format_metrics(metrics)}  ({path})")
    return 0
