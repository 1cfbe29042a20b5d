"""A validation split carved from the training list: whole groups, disjoint, and the test list untouched."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from vimix_ssl.data.splits import SplitError, parse_ucf101
from vimix_ssl.data.validation import carve_validation, validation_record


def _ucf_splits(root, classes=("Walk", "Run"), groups=10, clips=2):
    folder = root / "ucfTrainTestlist"
    folder.mkdir(parents=True)
    (folder / "classInd.txt").write_text("".join(f"{i} {c}\n" for i, c in enumerate(classes, 1)))
    train, test = [], []
    for i, c in enumerate(classes, 1):
        for g in range(1, groups + 1):
            for k in range(1, clips + 1):
                name = f"{c}/v_{c}_g{g:02d}_c{k:02d}.avi"
                (test if g <= 3 else train).append(name if g <= 3 else f"{name} {i}")
    (folder / "trainlist01.txt").write_text("\n".join(train) + "\n")
    (folder / "testlist01.txt").write_text("\n".join(test) + "\n")
    return folder


def _group(video_id):
    return int(video_id.split("_g")[1][:2])


def test_validation_groups_are_whole_disjoint_and_cover_the_training_list(tmp_path):
    source = _ucf_splits(tmp_path / "data")
    record = carve_validation(tmp_path / "data", tmp_path / "val", fraction=0.3, seed=1)
    original = parse_ucf101(source, 1, "train")
    train, val = parse_ucf101(tmp_path / "val", 1, "train"), parse_ucf101(tmp_path / "val", 1, "test")
    train_ids, val_ids = {e.video_id for e in train.entries}, {e.video_id for e in val.entries}
    assert not train_ids & val_ids
    assert train_ids | val_ids == {e.video_id for e in original.entries}
    # whole groups: no group has clips on both sides; no test-list group appears anywhere
    assert not {_group(v) for v in train_ids} & {_group(v) for v in val_ids}
    assert {_group(v) for v in val_ids} == set(record["validation_groups"])
    assert not {_group(v) for v in val_ids} & {1, 2, 3}
    assert len(record["validation_groups"]) == round(0.3 * 7)  # 7 training groups
    assert val.class_names == original.class_names
    # labels follow classInd.txt; the original folder is unchanged
    assert {(e.video_id, e.label) for e in val.entries} <= {(e.video_id, e.label) for e in original.entries}
    assert (source / "testlist01.txt").read_text().count("\n") == 2 * 3 * 2
    assert validation_record(tmp_path / "val")["validation_videos"] == len(val_ids)
    assert validation_record(source) is None


def test_same_seed_same_groups_other_seed_other_groups(tmp_path):
    _ucf_splits(tmp_path / "data", groups=25)
    a = carve_validation(tmp_path / "data", tmp_path / "a", seed=0)["validation_groups"]
    b = carve_validation(tmp_path / "data", tmp_path / "b", seed=0)["validation_groups"]
    c = carve_validation(tmp_path / "data", tmp_path / "c", seed=5)["validation_groups"]
    assert a == b and a != c


def test_refuses_bad_fraction_own_folder_and_names_without_groups(tmp_path):
    source = _ucf_splits(tmp_path / "data")
    with pytest.raises(SplitError, match="fraction"):
        carve_validation(source, tmp_path / "v", fraction=1.0)
    with pytest.raises(SplitError, match="its own folder"):
        carve_validation(source, source)
    (source / "trainlist01.txt").write_text("Walk/walking.avi 1\n")
    with pytest.raises(SplitError, match="walking.avi"):
        carve_validation(source, tmp_path / "v")


def test_command_writes_the_split_and_bad_input_exits_2(tmp_path):
    _ucf_splits(tmp_path / "data")
    run = [sys.executable, "-m", "vimix_ssl", "prepare", "val-split", str(tmp_path / "data")]
    done = subprocess.run([*run, "--out", str(tmp_path / "val")], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert json.loads((tmp_path / "val" / "VALIDATION.json").read_text())["kind"] == "validation"
    bad = subprocess.run([*run, "--out", str(tmp_path / "v2"), "--fraction", "2"], capture_output=True,
                         text=True)
    assert bad.returncode == 2 and "fraction" in bad.stderr and "Traceback" not in bad.stderr
