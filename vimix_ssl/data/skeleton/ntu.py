"""NTU RGB+D 60 sample names, labels and the cross-subject / cross-view benchmarks.

A sample is named ``SsssCcccPpppRrrrAaaa``: setup, camera, performer (subject),
replication and action, each 1-based and three digits. The label is ``action - 1``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

Benchmark = Literal["xsub", "xview"]
Split = Literal["train", "test"]
BENCHMARKS: tuple[str, ...] = ("xsub", "xview")
SPLITS: tuple[str, ...] = ("train", "test")
NUM_CLASSES_NTU60 = 60
NUM_CLASSES = {"ntu60": 60, "ntu120": 120}  # fixed by the benchmark, never max label + 1 of the files

# METHOD §5 (the NTU RGB+D paper's protocol).
XSUB_TRAIN_PERFORMERS: tuple[int, ...] = (1, 2, 4, 5, 8, 9, 13, 14, 15, 16, 17, 18, 19, 25, 27, 28,
                                          31, 34, 35, 38)
XVIEW_TRAIN_CAMERAS: tuple[int, ...] = (2, 3)
MISSING_LIST_HEADER_LINES = 3  # the official missing-skeleton list starts with prose + a blank line

_NAME = re.compile(r"^S(\d{3})C(\d{3})P(\d{3})R(\d{3})A(\d{3})$")
SKELETON_SUFFIX = ".skeleton"


@dataclass(frozen=True)
class NtuName:
    setup: int
    camera: int
    performer: int
    replication: int
    action: int

    @property
    def label(self) -> int:
        """0-based class index (``action - 1``)."""
        return self.action - 1

    def __str__(self) -> str:
        return (f"S{self.setup:03d}C{self.camera:03d}P{self.performer:03d}"
                f"R{self.replication:03d}A{self.action:03d}")


def sample_name(path_or_name: str | Path) -> str:
    """``.../S001C001P001R001A001.skeleton`` -> ``S001C001P001R001A001``."""
    name = Path(path_or_name).name
    return name[: -len(SKELETON_SUFFIX)] if name.endswith(SKELETON_SUFFIX) else name


def parse_ntu_name(path_or_name: str | Path) -> NtuName:
    """Fields of an NTU sample name (a bare name or a ``.skeleton`` path)."""
    name = sample_name(path_or_name)
    match = _NAME.match(name)
    if match is None:
        raise ValueError(f"{path_or_name!s}: not an NTU sample name; expected SsssCcccPpppRrrrAaaa "
                         f"(e.g. S001C002P003R002A013)")
    fields = NtuName(*(int(g) for g in match.groups()))
    if min(fields.setup, fields.camera, fields.performer, fields.replication, fields.action) < 1:
        raise ValueError(f"{path_or_name!s}: NTU name fields are 1-based, got a 0 in {name}")
    return fields


def is_ntu_name(text: str) -> bool:
    return _NAME.match(sample_name(text)) is not None


def split_of(name: str | NtuName, benchmark: Benchmark, *,
             train_performers: tuple[int, ...] = XSUB_TRAIN_PERFORMERS,
             train_cameras: tuple[int, ...] = XVIEW_TRAIN_CAMERAS) -> Split:
    """``"train"`` or ``"test"`` of a sample under ``benchmark`` (``xsub`` or ``xview``)."""
    fields = name if isinstance(name, NtuName) else parse_ntu_name(name)
    if benchmark == "xsub":
        return "train" if fields.performer in train_performers else "test"
    if benchmark == "xview":
        return "train" if fields.camera in train_cameras else "test"
    raise ValueError(f"benchmark must be one of {BENCHMARKS}, got {benchmark!r}")


def benchmark_classes(dataset: str) -> int:
    """The class count of ``ntu60`` / ``ntu120``."""
    if dataset not in NUM_CLASSES:
        raise ValueError(f"skeleton dataset must be one of {sorted(NUM_CLASSES)}, got {dataset!r}")
    return NUM_CLASSES[dataset]


def split_names(names: list[str], benchmark: Benchmark, **protocol: tuple[int, ...]) -> dict[str, list[str]]:
    """Partition ``names`` (order kept) into ``{"train": [...], "test": [...]}``."""
    out: dict[str, list[str]] = {"train": [], "test": []}
    for name in names:
        out[split_of(name, benchmark, **protocol)].append(name)
    return out


def load_name_list(path: str | Path) -> list[str]:
    """Sample names listed one per line, e.g. the official missing-skeleton list.

    Leading lines that are not sample names (the official list's 3 header lines: prose,
    then a blank line) are skipped; blank lines are ignored; a non-name line after the
    first name is an error naming the file and line. Names may carry ``.skeleton``.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"sample name list not found: {path}")
    names: list[str] = []
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        text = raw.strip()
        if not text:
            continue
        if is_ntu_name(text):
            names.append(sample_name(text))
        elif names:
            raise ValueError(f"{path}:{number}: expected an NTU sample name (SsssCcccPpppRrrrAaaa), "
                             f"got {text[:60]!r}")
        elif number > MISSING_LIST_HEADER_LINES:
            raise ValueError(f"{path}:{number}: more than {MISSING_LIST_HEADER_LINES} header lines "
                             f"before the first sample name: {text[:60]!r}")
    return names
