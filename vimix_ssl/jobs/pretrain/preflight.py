"""Pre-flight: everything a training run needs, checked before the first step, reported at once.

``check_pretrain(config)`` (called by ``run_pretrain``) and ``check_supervised(config)``
(called by ``run_supervised``) raise one ``ConfigError`` listing every problem found:

- the config's own values (``pretrain_config_problems``: optimiser, mixing, queue values of
  every stage, so a bad value in the last stage stops the run before the first trains);
- each queue size a multiple of the global batch (keys are enqueued a batch at a time; the
  per-process batch is checked at load already);
- the split lists load and are non-empty (the training split, and the kNN monitor's splits
  when it is on), naming the split folder or file;
- train and test splits disjoint: the same video in both is reported;
- the files each modality reads are present (raw videos, frame-store or flow-store files);
  missing files above ``data.max_bad_fraction`` of the training split are a problem, fewer
  a printed warning (they are skipped like unreadable videos);
- supervised: ``num_classes`` equal to the dataset's class count (smaller: labels would
  index past the classifier; larger: classes that never occur), and every label below it.

During training, :func:`watch_skipped` wraps a training loader: it counts the samples the
dataset replaced because their video was unreadable (each sample's ``"skipped"`` field),
prints a one-line summary at the end of every epoch and of the run (stage), and stops
the run when an epoch's fraction of replaced samples exceeds ``data.max_bad_fraction``.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from vimix_ssl.config import ConfigError
from vimix_ssl.jobs.pretrain.config import PretrainConfig, pretrain_config_problems, raise_problems

SHOWN = 5  # video ids listed per problem
DEFAULT_MAX_BAD_FRACTION = 0.1  # a safety threshold of this toolkit (not a paper value): see VideoDataConfig


class BadDataError(ConfigError):
    """Too many training samples were unreadable (over ``data.max_bad_fraction``)."""


def _listed(ids: Sequence[str]) -> str:
    more = f" and {len(ids) - SHOWN} more" if len(ids) > SHOWN else ""
    return ", ".join(ids[:SHOWN]) + more


def _split_source(data: Any) -> str:
    return str(data.splits or data.root)


def _video_files(config: PretrainConfig, data: Any, modalities: Sequence[str], video_id: str) -> list[Path]:
    from vimix_ssl.data.flow_store import flow_file_path
    from vimix_ssl.data.store import store_file_path

    files = []
    for modality in modalities:
        if modality == "rgb":
            files.append(store_file_path(data.store, video_id) if data.store else Path(data.root) / video_id)
        elif modality == "flow" and config.modalities["flow"].store:
            files.append(flow_file_path(config.modalities["flow"].store, video_id))
    return files


def _load_list(data: Any, subset: str, problems: list[str]) -> Any:
    from vimix_ssl.data.datasets import build_video_list

    try:
        videos = build_video_list(data, subset)
    except (ValueError, OSError) as e:
        problems.append(f"data: the {subset} split cannot be read: {e}")
        return None
    if not videos.entries:
        problems.append(f"data: the {subset} split of {data.dataset} split {data.split} in "
                        f"{_split_source(data)} is empty")
        return None
    return videos


def video_problems(config: PretrainConfig, data: Any, modalities: Sequence[str],
                   need_test: bool, num_classes: int | None = None) -> list[str]:
    """Split, file and class-count problems of a video run."""
    problems: list[str] = []
    train = _load_list(data, "train", problems)
    test = None
    if need_test:
        test = _load_list(data, "test", problems)
    else:  # only for the disjointness check: a missing test list is not this run's problem
        try:
            from vimix_ssl.data.datasets import build_video_list

            test = build_video_list(data, "test")
        except (ValueError, OSError):
            test = None
    if train is not None and test is not None:
        both = sorted({e.video_id for e in train.entries} & {e.video_id for e in test.entries})
        if both:
            problems.append(f"data: {len(both)} video(s) are in both the train and the test split of "
                            f"{_split_source(data)}: {_listed(both)}")
    max_bad = float(getattr(data, "max_bad_fraction", DEFAULT_MAX_BAD_FRACTION))
    for subset, videos in (("train", train), ("test", test if need_test else None)):
        if videos is None:
            continue
        missing = [e.video_id for e in videos.entries
                   if not all(f.is_file() for f in _video_files(config, data, modalities, e.video_id))]
        if not missing:
            continue
        where = data.store or data.root
        fraction = len(missing) / len(videos.entries)
        message = (f"data: {len(missing)} of the {len(videos.entries)} {subset} videos are missing "
                   f"(looked in {where}" + (f" and {config.modalities['flow'].store}" if "flow" in modalities
                                            and config.modalities["flow"].store else "")
                   + f"): {_listed(missing)}")
        if subset == "train" and fraction <= max_bad:
            print(f"warning: {message}; they will be skipped (data.max_bad_fraction {max_bad})",
                  file=sys.stderr)
        else:
            over = f" (over data.max_bad_fraction {max_bad})" if subset == "train" else ""
            problems.append(message + over)
    if num_classes is not None and train is not None:
        problems += class_count_problems(num_classes, train, _split_source(data))
    return problems


def class_count_problems(num_classes: int, videos: Any, where: str) -> list[str]:
    """``num_classes`` against the dataset's classes, both directions."""
    classes = len(videos.class_names)
    top = max(e.label for e in videos.entries)
    if num_classes < classes or top >= num_classes:
        return [f"num_classes: {num_classes} is smaller than the dataset's {max(classes, top + 1)} classes "
                f"({where}: labels go up to {top}); set num_classes={max(classes, top + 1)}"]
    if num_classes > classes:
        return [f"num_classes: {num_classes} is larger than the dataset's {classes} classes ({where}); "
                f"set num_classes={classes}"]
    return []


def skeleton_problems(config: PretrainConfig, data: Any, need_test: bool) -> list[str]:
    from vimix_ssl.data.skeleton.dataset import load_manifest

    try:
        manifest = load_manifest(data.root)
    except (ValueError, OSError) as e:
        return [f"data.root: {e}"]
    problems = []
    splits = manifest.get("benchmarks", {}).get(data.benchmark)
    if splits is None:
        return [f"data.benchmark: {data.root} has no {data.benchmark!r} arrays "
                f"(it has {sorted(manifest.get('benchmarks', {}))})"]
    for split in ("train", "test") if need_test else ("train",):
        entry = splits.get(split) or {}
        if not entry.get("num_samples"):
            problems.append(f"data: the {data.benchmark} {split} split of {data.root} is empty")
        elif not (Path(data.root) / entry[data.arrays]).is_file():
            problems.append(f"data: {Path(data.root) / entry[data.arrays]} is missing")
    return problems


def pretrain_problems(config: PretrainConfig, world_size: int = 1) -> list[str]:
    from vimix_ssl.jobs.pretrain import build

    problems = pretrain_config_problems(config)
    try:
        data = build.data_config(config)
    except ConfigError as e:
        return problems + [str(e)]
    batch = build.batch_size(config)
    global_batch = batch * world_size
    for modality, modality_config in config.modalities.items():
        if world_size > 1 and modality_config.queue_size > 0 and modality_config.queue_size % global_batch:
            problems.append(f"modalities.{modality}.queue_size: {modality_config.queue_size} is not a "
                            f"multiple of the global batch {global_batch} (data.batch_size {batch} x "
                            f"{world_size} process(es)); keys are enqueued a whole batch at a time")
    need_test = config.knn.every > 0
    if build.kind_of(config) == "skeleton":
        return problems + skeleton_problems(config, data, need_test)
    used = sorted({m for stage in config.stages for m in (stage.train, stage.partner) if m})
    return problems + video_problems(config, data, used, need_test)


def check_pretrain(config: PretrainConfig, world_size: int = 1) -> None:
    """Raise one ``ConfigError`` listing every problem of a pre-training run (before any work)."""
    raise_problems(pretrain_problems(config, world_size), "pre-training run")


def check_supervised(config: Any, shim: PretrainConfig) -> None:
    """The supervised run's checks: its optimiser, its data (through ``shim``) and ``num_classes``."""
    from vimix_ssl.jobs.pretrain import build
    from vimix_ssl.jobs.pretrain.config import optim_problems

    problems = optim_problems(config.optim, "optim")
    try:
        data = build.data_config(shim)
    except ConfigError as e:
        raise_problems(problems + [str(e)], "supervised run")
        return
    problems += video_problems(shim, data, ["rgb"], need_test=True, num_classes=config.num_classes)
    raise_problems(problems, "supervised run")


# -- during training -----------------------------------------------------------------------------
class SkipWatch:
    """A training loader that counts replaced (unreadable) samples and stops above a threshold.

    Proxies ``set_epoch``, ``steps_per_epoch`` and ``len`` of the wrapped loader. Counts are
    summed over processes at the end of each epoch (every rank reaches it after the same
    number of steps), so every rank stops together.
    """

    def __init__(self, loader: Any, max_fraction: float, epochs: int | None = None,
                 description: str = "train") -> None:
        if not 0 <= max_fraction <= 1:
            raise ConfigError(f"data.max_bad_fraction: must be in [0, 1], got {max_fraction}")
        self.loader, self.max_fraction, self.description = loader, max_fraction, description
        self.epochs = epochs  # the last epoch's end also prints the run (stage) summary
        self.epoch = 0
        self.total_skipped = self.total_seen = 0
        self.epoch_examples: list[str] = []
        self.run_examples: dict[str, str] = {}

    def __getattr__(self, name: str) -> Any:  # steps_per_epoch, dataset, ...
        return getattr(self.loader, name)

    def __len__(self) -> int:
        return len(self.loader)

    def set_epoch(self, epoch: int, start_batch: int = 0) -> None:
        self.epoch = epoch
        self.loader.set_epoch(epoch, start_batch=start_batch)

    def __iter__(self) -> Iterator[Any]:
        skipped = seen = 0
        examples: dict[str, str] = {}
        for batch in self.loader:
            texts = batch.get("skipped", ()) or ()  # one string per sample: "" or "<video>\t<reason>" lines
            lines = [line for text in texts for line in str(text).splitlines() if line]
            skipped += sum(1 for text in texts if text)
            seen += len(batch["index"]) if "index" in batch else 0
            for line in lines:
                video_id, _, reason = line.partition("\t")
                examples.setdefault(video_id, reason)
            yield batch
        self._end_epoch(skipped, seen, examples)

    def _end_epoch(self, skipped: int, seen: int, examples: dict[str, str]) -> None:
        import torch

        from vimix_ssl.ssl import distributed as dist

        if dist.is_distributed():
            counts = dist.all_reduce_mean(torch.tensor([float(skipped), float(seen)])) * dist.world_size()
            skipped, seen = (int(round(v)) for v in counts.tolist())
        self.total_skipped += skipped
        self.total_seen += seen
        self.run_examples.update(examples)
        fraction = skipped / seen if seen else 0.0
        if dist.is_main_process():
            first = "; ".join(f"{v} ({r})" for v, r in list(examples.items())[:3])
            print(f"{self.description} epoch {self.epoch + 1}: {skipped} of {seen} training samples "
                  f"replaced because their video was unreadable ({100 * fraction:.1f}%; so far "
                  f"{self.total_skipped} of {self.total_seen})" + (f"; e.g. {first}" if first else ""),
                  file=sys.stderr)
        if fraction > self.max_fraction:
            raise BadDataError(
                f"{self.description} epoch {self.epoch + 1}: {skipped} of {seen} training samples "
                f"({100 * fraction:.1f}%) were unreadable, over data.max_bad_fraction={self.max_fraction}; "
                f"stopped (the last epoch's checkpoint is kept). First: "
                f"{_listed(list(self.run_examples))}. `vimix data check` lists every unreadable video")
        if self.epochs is not None and self.epoch + 1 >= self.epochs and dist.is_main_process():
            print(self.summary(), file=sys.stderr)

    def summary(self) -> str:
        fraction = self.total_skipped / self.total_seen if self.total_seen else 0.0
        return (f"{self.description} finished: {self.total_skipped} of {self.total_seen} training samples "
                f"replaced ({100 * fraction:.1f}%), {len(self.run_examples)} distinct unreadable video(s)"
                + (f": {_listed(list(self.run_examples))}" if self.run_examples else ""))


def watch_skipped(loader: Any, config: PretrainConfig, epochs: int | None = None,
                  description: str = "train") -> Any:
    """``loader`` wrapped in a :class:`SkipWatch` for a video run (skeleton data never substitutes)."""
    from vimix_ssl.jobs.pretrain import build

    if build.kind_of(config) != "video":
        return loader
    return SkipWatch(loader, float(build.data_config(config).max_bad_fraction), epochs, description)
