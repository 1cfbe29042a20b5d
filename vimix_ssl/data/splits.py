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
  ``<label>/<youtube_id>_<start:06d>_<end:06d>.mp4``. Labels are the CSV's sorted unique
  labels (the official label map is alphabetical) unless ``class_names`` is given, e.g.
  the train CSV's labels when parsing the val CSV. A label folder written with
  underscores instead of spaces is found when the root is given.
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


def parse_ucf101(splits: str | Path, split: int = 1, subset: str = "train") -> VideoList:
    """UCF101 ``trainlist0N`` / ``testlist0N`` (``subset='all'``: both)."""
    _check_split(split)
    directory = _find_dir(Path(splits), "classInd.txt", "ucfTrainTestlist")
    classes = ucf101_classes(directory)
    lookup = {name.lower(): i for i, name in enumerate(classes)}
    files = {"train": [f"trainlist0{split}.txt"], "test": [f"testlist0{split}.txt"]}
    files["all"] = files["train"] + files["test"]
    entries = []
    for name in files[_subset(subset)]:
        path = directory / name
        for number, line in enumerate(_lines(path), 1):
            parts = line.split()
            video_id = parts[0].replace("\\", "/")
            folder = video_id.split("/")[0]
            if "/" not in video_id or folder.lower() not in lookup:
                raise SplitError(f"{path}:{number}: {video_id!r} is not '<Class>/<video>' with a class "
                                 "from classInd.txt")
            label = lookup[folder.lower()]
            if len(parts) > 1 and int(parts[1]) != label + 1:
                raise SplitError(f"{path}:{number}: label {parts[1]} disagrees with classInd.txt "
                                 f"({folder} is {label + 1})")
            entries.append(VideoEntry(video_id, label))
    return VideoList(entries, classes)


_HMDB_FILE = re.compile(r"^(?P<action>.+)_test_split(?P<split>[123])\.txt$")


def parse_hmdb51(splits: str | Path, split: int = 1, subset: str = "train") -> VideoList:
    """HMDB51 ``testTrainMulti_7030_splits`` (1 train, 2 test, 0 unused; ``all``: 1 and 2)."""
    _check_split(split)
    directory = _find_dir(Path(splits), "*_test_split1.txt", "testTrainMulti_7030_splits")
    files = sorted(p for p in directory.iterdir()
                   if (m := _HMDB_FILE.match(p.name)) and m["split"] == str(split))
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


def kinetics_video_id(label: str, youtube_id: str, start: float, end: float, extension: str = ".mp4") -> str:
    return f"{label}/{youtube_id}_{int(start):06d}_{int(end):06d}{extension}"


def parse_kinetics400(csv_path: str | Path, root: str | Path | None = None,
                      class_names: Sequence[str] | None = None, extension: str = ".mp4") -> VideoList:
    """A Kinetics annotation CSV (with or without ``is_cc``) -> entries in file order."""
    path = Path(csv_path)
    if not path.is_file():
        raise SplitError(f"annotation file not found: {path}")
    with open(path, encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    required = {"label", "youtube_id", "time_start", "time_end"}
    if not rows:
        raise SplitError(f"{path}: no rows")
    missing = required - set(rows[0])
    if missing:
        raise SplitError(f"{path}: missing column(s) {sorted(missing)}; expected "
                         "label,youtube_id,time_start,time_end,split[,is_cc] (a test CSV has no labels)")
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
                    split: int = 1, subset: str = "train") -> VideoList:
    """Dispatch on ``dataset``; ``splits`` defaults to ``root`` (annotation files found under it)."""
    splits = Path(splits) if splits else Path(root)
    if dataset == "ucf101":
        return parse_ucf101(splits, split, subset)
    if dataset == "hmdb51":
        return parse_hmdb51(splits, split, subset)
    if dataset == "kinetics400":
        return parse_kinetics400(_kinetics_csv(splits, subset), root)
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
        for split in (1, 2, 3):
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
