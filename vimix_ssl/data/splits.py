"""Annotation parsing: UCF101, HMDB51, Kinetics-400 and folder-per-class layouts -> ``VideoList``.

A ``VideoList`` is a list of ``VideoEntry(video_id, label)`` plus the class names;
``video_id`` is the video's path relative to the dataset root.

- UCF101: class order from ``classInd.txt`` (1-based ``"<i> <Class>"``), which is *not*
  ``sorted()`` of the folder names. ``testlist0N.txt`` lines may carry a label or not (the
  first token is the path). Train labels are checked against ``classInd.txt``.
- HMDB51: ``<action>_test_split{1,2,3}.txt`` lines ``"<video>.avi <id>"``: 1 train, 2 test,
  0 unused. Class names are the actions in the split file names, sorted (TSN's
  ``class_list.txt`` has the same names but puts ``kick_ball``/``sword_exercise`` first).
- Kinetics-400: CSV ``label,youtube_id,time_start,time_end,split[,is_cc]``; videos
  ``<label>/<youtube_id>_<start:06d>_<end:06d>.mp4``. The ``split`` column is honoured
  (train = ``train`` rows, test = ``val``/``test`` rows), so one CSV holding both serves
  both subsets and a val CSV never serves as the training list. One class list serves
  every subset: ``label_map`` (one name per line, e.g. ``label_map_k400.txt``) or else the
  train CSV's sorted labels. A label folder written with underscores instead of spaces is
  found when the root is given.
- UCF101 as unpacked from the official archives (``DIR/UCF-101/<Class>/*.avi`` beside
  ``DIR/ucfTrainTestlist/``): with ``root=DIR`` the video ids get the ``UCF-101/`` prefix.
  Any subset of the three splits may be present; asking for a missing one names it.
- Folder: ``root/<class>/<video>``, sorted class folders; if ``root/train`` and
  ``root/test`` (or ``val``) exist, each subset is read from its own folder.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

DATASETS = ("ucf101", "hmdb51", "kinetics400", "folder")
VIDEO_EXTENSIONS = (".avi", ".mp4", ".mkv", ".webm", ".mov", ".mpg", ".mpeg", ".m4v")
SUBSETS = ("train", "test", "all")


class SplitError(ValueError):
    """An annotation file is missing or malformed."""


@dataclass(frozen=True)
class VideoEntry:
    video_id: str  # path relative to the dataset root, "/"-separated
    label: int


@dataclass
class VideoList:
    entries: list[VideoEntry]
    class_names: list[str]

    def __len__(self) -> int:
        return len(self.entries)


def _lines(path: Path) -> list[str]:
    if not path.is_file():
        raise SplitError(f"annotation file not found: {path}")
    with open(path, encoding="utf-8", newline="") as f:
        return [line.strip() for line in f.read().splitlines() if line.strip()]


def _find_dir(splits: Path, marker_glob: str, subdir: str) -> Path:
    """``splits`` itself if it holds ``marker_glob`` files, else ``splits/subdir``."""
    for candidate in (splits, splits / subdir):
        if candidate.is_dir() and any(candidate.glob(marker_glob)):
            return candidate
    raise SplitError(f"no {marker_glob} files in {splits} or {splits / subdir}")


def _check_split(split: int) -> None:
    if split not in (1, 2, 3):
        raise SplitError(f"split must be 1, 2 or 3, got {split!r}")


def ucf101_classes(splits_dir: Path) -> list[str]:
    """Class names in ``classInd.txt`` order (index i-1 holds class i)."""
    path = splits_dir / "classInd.txt"
    names: dict[int, str] = {}
    for number, line in enumerate(_lines(path), 1):
        parts = line.split()
        if len(parts) != 2 or not parts[0].isdigit():
            raise SplitError(f"{path}:{number}: expected '<index> <ClassName>', got {line!r}")
        names[int(parts[0])] = parts[1]
    if sorted(names) != list(range(1, len(names) + 1)):
        raise SplitError(f"{path}: class indices must be 1..{len(names)}, got {sorted(names)[:5]}...")
    return [names[i] for i in range(1, len(names) + 1)]


def ucf101_splits_present(splits: str | Path) -> list[int]:
    """The UCF101 splits (1-3) whose train and test lists are both in the split folder."""
    directory = _find_dir(Path(splits), "classInd.txt", "ucfTrainTestlist")
    return [s for s in (1, 2, 3)
            if (directory / f"trainlist0{s}.txt").is_file() and (directory / f"testlist0{s}.txt").is_file()]


def parse_ucf101(splits: str | Path, split: int = 1, subset: str = "train", prefix: str = "") -> VideoList:
    """UCF101 ``trainlist0N`` / ``testlist0N`` (``subset='all'``: both); ids get ``prefix``."""
    _check_split(split)
    directory = _find_dir(Path(splits), "classInd.txt", "ucfTrainTestlist")
    classes = ucf101_classes(directory)
    lookup = {name.lower(): i for i, name in enumerate(classes)}
    files = {"train": [f"trainlist0{split}.txt"], "test": [f"testlist0{split}.txt"]}
    files["all"] = files["train"] + files["test"]
    entries = []
    for name in files[_subset(subset)]:
        path = directory / name
        if not path.is_file():
            present = ucf101_splits_present(directory)
            raise SplitError(f"UCF101 split {split} is not in {directory}: {name} not found "
                             f"(splits present: {present or 'none'}); choose one with data.split")
        for number, line in enumerate(_lines(path), 1):
            parts = line.split()
            video_id = parts[0].replace("\\", "/")
            folder = video_id.split("/")[0]
            if "/" not in video_id or folder.lower() not in lookup:
                raise SplitError(f"{path}:{number}: {video_id!r} is not '<Class>/<video>' with a class "
                                 "from classInd.txt")
            label = lookup[folder.lower()]
            if len(parts) > 1 and not parts[1].isdigit():
                raise SplitError(f"{path}:{number}: label {parts[1]!r} is not a class number "
                                 f"(expected '<Class>/<video> <1..{len(classes)}>')")
            if len(parts) > 1 and int(parts[1]) != label + 1:
                raise SplitError(f"{path}:{number}: label {parts[1]} disagrees with classInd.txt "
                                 f"({folder} is {label + 1})")
            entries.append(VideoEntry(prefix + video_id, label))
    return VideoList(entries, classes)


UCF101_VIDEO_FOLDER = "UCF-101"  # the official archive unpacks its videos into this folder


def ucf101_prefix(root: str | Path | None, splits: str | Path) -> str:
    """``"UCF-101/"`` when ``root`` is the official unpacked layout (videos one folder down), else ``""``.

    The layout is recognised when ``root/UCF-101`` holds the class folders of ``classInd.txt``
    and ``root`` itself holds none of them.
    """
    if root is None or not (Path(root) / UCF101_VIDEO_FOLDER).is_dir():
        return ""
    classes = ucf101_classes(_find_dir(Path(splits), "classInd.txt", "ucfTrainTestlist"))
    inside = any((Path(root) / UCF101_VIDEO_FOLDER / name).is_dir() for name in classes)
    beside = any((Path(root) / name).is_dir() for name in classes)
    return UCF101_VIDEO_FOLDER + "/" if inside and not beside else ""


_HMDB_FILE = re.compile(r"^(?P<action>.+)_test_split(?P<split>[123])\.txt$")


def parse_hmdb51(splits: str | Path, split: int = 1, subset: str = "train") -> VideoList:
    """HMDB51 ``testTrainMulti_7030_splits`` (1 train, 2 test, 0 unused; ``all``: 1 and 2)."""
    _check_split(split)
    directory = _find_dir(Path(splits), "*_test_split[123].txt", "testTrainMulti_7030_splits")
    files = sorted(p for p in directory.iterdir()
                   if (m := _HMDB_FILE.match(p.name)) and m["split"] == str(split))
    if not files:
        raise SplitError(f"HMDB51 split {split} is not in {directory}: no *_test_split{split}.txt files "
                         f"(splits present: {hmdb51_splits_present(directory) or 'none'}); "
                         "choose one with data.split")
    classes = sorted(_HMDB_FILE.match(p.name)["action"] for p in files)
    wanted = {"train": {"1"}, "test": {"2"}, "all": {"1", "2"}}[_subset(subset)]
    entries = []
    for label, action in enumerate(classes):
        path = directory / f"{action}_test_split{split}.txt"
        for number, line in enumerate(_lines(path), 1):
            parts = line.split()
            if len(parts) != 2 or parts[1] not in ("0", "1", "2"):
                raise SplitError(f"{path}:{number}: expected '<video>.avi <0|1|2>', got {line!r}")
            if parts[1] in wanted:
                entries.append(VideoEntry(f"{action}/{parts[0]}", label))
    return VideoList(entries, classes)


def hmdb51_splits_present(splits: str | Path) -> list[int]:
    directory = _find_dir(Path(splits), "*_test_split[123].txt", "testTrainMulti_7030_splits")
    found = {m["split"] for p in directory.iterdir() if (m := _HMDB_FILE.match(p.name))}
    return [s for s in (1, 2, 3) if str(s) in found]


def kinetics_video_id(label: str, youtube_id: str, start: float, end: float, extension: str = ".mp4") -> str:
    return f"{label}/{youtube_id}_{int(start):06d}_{int(end):06d}{extension}"


KINETICS_SPLIT_VALUES = {"train": ("train",), "test": ("val", "test"), "all": ("train", "val", "test")}


def _kinetics_rows(path: Path) -> list[dict[str, str]]:
    if not path.is_file():
        raise SplitError(f"annotation file not found: {path}")
    with open(path, encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows:
        raise SplitError(f"{path}: no rows")
    return rows


def read_label_map(path: str | Path) -> list[str]:
    """Class names, one per line in index order (e.g. ``label_map_k400.txt``)."""
    names = _lines(Path(path))
    if len(set(names)) != len(names):
        raise SplitError(f"{path}: class names repeat")
    return names


def parse_kinetics400(csv_path: str | Path, root: str | Path | None = None,
                      class_names: Sequence[str] | None = None, extension: str = ".mp4",
                      subset: str | None = None) -> VideoList:
    """A Kinetics annotation CSV (with or without ``is_cc``) -> entries in file order.

    ``subset`` keeps the rows whose ``split`` column is ``train`` (train) or ``val``/``test``
    (test); ``None`` keeps every row. ``class_names`` (the label map or the train CSV's
    labels) fixes the class indices; without it the CSV's own sorted labels are used.
    """
    path = Path(csv_path)
    rows = _kinetics_rows(path)
    required = {"label", "youtube_id", "time_start", "time_end"}
    missing = required - set(rows[0])
    if missing:
        raise SplitError(f"{path}: missing column(s) {sorted(missing)}; expected "
                         "label,youtube_id,time_start,time_end,split[,is_cc] (a test CSV has no labels)")
    if subset is not None:
        wanted = KINETICS_SPLIT_VALUES[_subset(subset)]
        if "split" in rows[0]:
            values = sorted({row["split"] for row in rows})
            rows = [row for row in rows if row["split"] in wanted]
            if not rows:
                raise SplitError(f"{path}: no rows with split {' or '.join(wanted)} for the {subset} subset "
                                 f"(its split column holds {values})")
    classes = list(class_names) if class_names is not None else sorted({row["label"] for row in rows})
    lookup = {name: i for i, name in enumerate(classes)}
    folder = {name: _kinetics_folder(name, root) for name in classes}
    entries = []
    for number, row in enumerate(rows, 2):
        if row["label"] not in lookup:
            raise SplitError(f"{path}:{number}: label {row['label']!r} is not among the "
                             f"{len(classes)} classes")
        try:
            start, end = float(row["time_start"]), float(row["time_end"])
        except ValueError as e:
            raise SplitError(f"{path}:{number}: time_start/time_end must be numbers: {e}") from e
        video_id = kinetics_video_id(folder[row["label"]], row["youtube_id"], start, end, extension)
        entries.append(VideoEntry(video_id, lookup[row["label"]]))
    return VideoList(entries, classes)


def kinetics400_list(splits: str | Path, root: str | Path | None, subset: str,
                     label_map: str | Path | None = None) -> VideoList:
    """The ``subset`` of Kinetics-400 with one class list for every subset.

    ``splits`` is a CSV or a folder of ``kinetics-400_{train,val}.csv``. The class list is
    ``label_map`` if given, else the train CSV's sorted labels; the val CSV's own labels are
    never used (a class missing from it would shift every later index). A CSV without a
    ``split`` column cannot serve as both train and test.
    """
    splits = Path(splits)
    path = _kinetics_csv(splits, subset)
    rows = _kinetics_rows(path)
    if splits.is_file() and subset != "all" and "split" not in rows[0]:
        raise SplitError(f"{path} has no split column, so it cannot give both the train and the test "
                         "videos; pass a folder with kinetics-400_train.csv and kinetics-400_val.csv")
    if not splits.is_file() and subset == "test":
        train_path = _kinetics_csv(splits, "train") if _has_kinetics_csv(splits, "train") else None
        if train_path is not None and train_path.resolve() == path.resolve():
            raise SplitError(f"{path} was found for both train and test; the test subset needs its own "
                             "CSV (kinetics-400_val.csv)")
    if "split" in rows[0] and not any(r["split"] in KINETICS_SPLIT_VALUES[subset] for r in rows):
        raise SplitError(f"{path}: no rows with split {' or '.join(KINETICS_SPLIT_VALUES[subset])} for the "
                         f"{subset} subset (its split column holds {sorted({r['split'] for r in rows})})")
    classes = read_label_map(label_map) if label_map else _kinetics_train_classes(splits)
    return parse_kinetics400(path, root, classes, subset=subset)


def _kinetics_train_classes(splits: Path) -> list[str]:
    """The sorted labels of the training rows (the train CSV, or a CSV's ``split == train`` rows)."""
    if not splits.is_file() and not _has_kinetics_csv(splits, "train"):
        raise SplitError(f"no train CSV in {splits} to take the class list from; give "
                         "data.label_map=label_map_k400.txt (one class name per line)")
    path = splits if splits.is_file() else _kinetics_csv(splits, "train")
    rows = _kinetics_rows(path)
    train = [r for r in rows if r.get("split", "train") == "train" and r.get("label")]
    if not train:
        raise SplitError(f"{path} has no labelled train rows to take the class list from; "
                         "give data.label_map=label_map_k400.txt (one class name per line)")
    return sorted({r["label"] for r in train})


def _kinetics_folder(label: str, root: str | Path | None) -> str:
    if root is not None and not (Path(root) / label).is_dir():
        underscored = label.replace(" ", "_")
        if (Path(root) / underscored).is_dir():
            return underscored
    return label


def scan_folder(root: str | Path, subset: str = "all",
                extensions: Sequence[str] = VIDEO_EXTENSIONS) -> VideoList:
    """``root/<class>/<video>`` (or ``root/<subset>/<class>/<video>``), sorted class folders."""
    root = Path(root)
    if not root.is_dir():
        raise SplitError(f"dataset folder not found: {root}")
    base, prefix = root, ""
    subset = _subset(subset)
    if subset != "all" and (root / "train").is_dir():
        names = ["train"] if subset == "train" else [n for n in ("test", "val") if (root / n).is_dir()]
        if not names:
            raise SplitError(f"{root} has a train/ folder but no test/ or val/ folder")
        base, prefix = root / names[0], names[0] + "/"
    classes = sorted(p.name for p in base.iterdir() if p.is_dir() and not p.name.startswith("."))
    entries = []
    suffixes = {e.lower() for e in extensions}
    for label, name in enumerate(classes):
        for video in sorted((base / name).rglob("*")):
            if video.is_file() and video.suffix.lower() in suffixes:
                entries.append(VideoEntry(prefix + video.relative_to(base).as_posix(), label))
    if not entries:
        raise SplitError(f"no videos ({', '.join(sorted(suffixes))}) in class folders under {base}")
    return VideoList(entries, classes)


def _subset(subset: str) -> str:
    if subset not in SUBSETS:
        raise SplitError(f"subset must be one of {SUBSETS}, got {subset!r}")
    return subset


def load_video_list(dataset: str, root: str | Path, splits: str | Path | None = None,
                    split: int = 1, subset: str = "train", label_map: str | Path | None = None) -> VideoList:
    """Dispatch on ``dataset``; ``splits`` defaults to ``root`` (annotation files found under it).

    ``label_map``: Kinetics class list (one name per line); ignored by no dataset silently:
    it is an error for the others.
    """
    splits = Path(splits) if splits else Path(root)
    if label_map and dataset != "kinetics400":
        raise SplitError(f"label_map {label_map!r} applies to kinetics400, not to {dataset!r}")
    if dataset == "ucf101":
        return parse_ucf101(splits, split, subset, ucf101_prefix(root, splits))
    if dataset == "hmdb51":
        return parse_hmdb51(splits, split, subset)
    if dataset == "kinetics400":
        return kinetics400_list(splits, root, subset, label_map)
    if dataset == "folder":
        return scan_folder(root, subset)
    raise SplitError(f"unknown dataset {dataset!r}; expected one of {DATASETS}")


def _kinetics_csv(splits: Path, subset: str) -> Path:
    if splits.is_file():
        return splits
    names = {"train": ["train"], "test": ["val", "test"], "all": ["train", "val"]}[_subset(subset)]
    for name in names:
        for pattern in (f"kinetics-400_{name}.csv", f"kinetics400_{name}.csv", f"{name}.csv"):
            for directory in (splits, splits / "annotations"):
                if (directory / pattern).is_file():
                    return directory / pattern
    raise SplitError(f"no Kinetics-400 CSV for subset {subset!r} in {splits} (or its annotations/); "
                     "pass the CSV path itself")


def all_videos(dataset: str, root: str | Path, splits: str | Path | None = None) -> list[str]:
    """Every video id named by any split (UCF101/HMDB51: splits 1-3), deduplicated, in order."""
    seen: dict[str, None] = {}
    if dataset in ("ucf101", "hmdb51"):
        folder = Path(splits) if splits else Path(root)
        present = ucf101_splits_present(folder) if dataset == "ucf101" else hmdb51_splits_present(folder)
        if not present:
            raise SplitError(f"no {dataset} split files (split 1, 2 or 3) in {folder}")
        for split in present:
            for entry in load_video_list(dataset, root, splits, split, "all").entries:
                seen.setdefault(entry.video_id)
    elif dataset == "kinetics400":
        splits = Path(splits) if splits else Path(root)
        csvs = [splits] if splits.is_file() else sorted(
            {_kinetics_csv(splits, s) for s in ("train", "test") if _has_kinetics_csv(splits, s)})
        if not csvs:
            _kinetics_csv(splits, "all")  # raises the usual error
        for path in csvs:
            for entry in parse_kinetics400(path, root).entries:
                seen.setdefault(entry.video_id)
    else:
        for entry in load_video_list(dataset, root, splits, 1, "all").entries:
            seen.setdefault(entry.video_id)
    return list(seen)


def _has_kinetics_csv(splits: Path, subset: str) -> bool:
    try:
        _kinetics_csv(splits, subset)
    except SplitError:
        return False
    return True


def missing_videos(root: str | Path, video_ids: Sequence[str]) -> list[str]:
    """The ids in ``video_ids`` with no file under ``root``."""
    return [v for v in video_ids if not (Path(root) / v).is_file()]


def require_videos(root: str | Path, video_ids: Sequence[str], what: str = "the split",
                   shown: int = 10) -> None:
    """Stop before expensive work when listed videos are absent: a SplitError listing them."""
    missing = missing_videos(root, video_ids)
    if missing:
        more = f" and {len(missing) - shown} more" if len(missing) > shown else ""
        raise SplitError(f"{len(missing)} of the {len(video_ids)} videos of {what} are not under {root}: "
                         f"{', '.join(missing[:shown])}{more}")
