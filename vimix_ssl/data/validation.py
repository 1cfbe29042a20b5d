"""A validation split carved from a UCF101-layout training list, for choosing settings.

Settings (shapes, budgets, learning rates) are chosen on a validation split, never on the
test split. ``carve_validation`` writes a split folder in UCF101's format whose
``trainlist0N.txt`` is the original training list minus some of its *groups* and whose
``testlist0N.txt`` is those groups: every command then evaluates on the validation split
when given ``data.splits=FOLDER``; the test list is not read. Groups (``_gNN_`` in the
file name: clips cut from one long video share a group) are kept whole, as UCF101's own
splits do, so no clip in validation has a sibling in training. ``VALIDATION.json`` in the
folder records where it came from, and every result evaluated on it says "validation".
"""

from __future__ import annotations

import random
import re
from pathlib import Path
from typing import Any

from vimix_ssl.data.splits import SplitError, _find_dir, _lines, parse_ucf101
from vimix_ssl.utils.io import atomic_write_json, atomic_write_text

RECORD = "VALIDATION.json"
_GROUP = re.compile(r"_g(\d+)_c\d+", re.IGNORECASE)


def video_group(video_id: str) -> int:
    """The UCF101 group number of ``<Class>/v_<Class>_gGG_cCC.avi``."""
    match = _GROUP.search(Path(video_id).name)
    if match is None:
        raise SplitError(f"{video_id!r}: no UCF101 group (_gNN_cNN) in the file name; a validation split "
                         "keeps groups whole and needs them")
    return int(match.group(1))


def carve_validation(splits: str | Path, out: str | Path, split: int = 1, fraction: float = 0.2,
                     seed: int = 0) -> dict[str, Any]:
    """Write ``out/{classInd,trainlist0S,testlist0S}.txt`` with validation groups as the test list.

    ``fraction`` of the training list's groups (at least one, at most all but one), drawn
    with ``seed``, become the validation list. Returns the record written to ``VALIDATION.json``.
    """
    if not 0.0 < fraction < 1.0:
        raise SplitError(f"validation fraction: expected a value in (0, 1), got {fraction}")
    source = _find_dir(Path(splits), "classInd.txt", "ucfTrainTestlist")
    out = Path(out)
    if out.resolve() == source.resolve():
        raise SplitError(f"{out}: the validation split must go to its own folder, not over {source}")
    train_file = source / f"trainlist0{split}.txt"
    parse_ucf101(source, split, "train")  # validates the list and its labels against classInd.txt
    lines = _lines(train_file)
    groups = sorted({video_group(line.split()[0]) for line in lines})
    if len(groups) < 2:
        raise SplitError(f"{train_file}: {len(groups)} group(s); a validation split needs at least 2")
    count = min(len(groups) - 1, max(1, round(fraction * len(groups))))
    held = sorted(random.Random(seed).sample(groups, count))
    held_set = set(held)
    train = [line for line in lines if video_group(line.split()[0]) not in held_set]
    val = [line.split()[0] for line in lines if video_group(line.split()[0]) in held_set]
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "classInd.txt", (source / "classInd.txt").read_text(encoding="utf-8"))
    atomic_write_text(out / f"trainlist0{split}.txt", "\n".join(train) + "\n")
    atomic_write_text(out / f"testlist0{split}.txt", "\n".join(val) + "\n")
    record = {"kind": "validation", "source": str(train_file), "split": split, "fraction": fraction,
              "seed": seed, "validation_groups": held, "train_videos": len(train),
              "validation_videos": len(val),
              "note": f"testlist0{split}.txt is a validation split carved from {train_file.name}; "
                      "the original test list is not used"}
    atomic_write_json(out / RECORD, record)
    return record


def validation_record(splits: str | Path | None) -> dict[str, Any] | None:
    """The ``VALIDATION.json`` record of a split folder, or None for ordinary split folders."""
    if not splits:
        return None
    path = Path(splits) / RECORD
    if not path.is_file():
        return None
    import json

    return json.loads(path.read_text(encoding="utf-8"))
