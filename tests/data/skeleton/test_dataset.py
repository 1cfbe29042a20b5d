"""The skeleton dataset honours the benchmark: NTU-60 has 60 classes whatever files were prepared."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from vimix_ssl.data.skeleton.dataset import SkeletonDataConfig, SkeletonDataset
from vimix_ssl.data.skeleton.prepare import NtuPrepareConfig, prepare_ntu


@pytest.fixture(scope="module")
def prepared(real_data, tmp_path_factory) -> Path:
    raw = tmp_path_factory.mktemp("raw")
    for path in (real_data / "ntu_rgbd60" / "nturgb+d_skeletons").glob("*.skeleton"):
        shutil.copy(path, raw / path.name)
    out = tmp_path_factory.mktemp("prepared")
    prepare_ntu(raw, out, config=NtuPrepareConfig(max_frames=128), workers=1)
    return out


def test_ntu60_has_60_classes_on_the_12_fixture_files(prepared):
    labels = np.concatenate([np.load(prepared / e["label"]) for parts in json.loads(
        (prepared / "manifest.json").read_text())["benchmarks"].values() for e in parts.values()])
    assert labels.max() + 1 < 60  # the defect: max label + 1 of whatever was prepared
    for split in ("train", "test"):
        dataset = SkeletonDataset(SkeletonDataConfig(root=str(prepared)), split, train=False)
        assert dataset.num_classes == 60


def test_ntu120_actions_in_an_ntu60_dataset_are_refused(prepared, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(prepared, copy)
    manifest = json.loads((copy / "manifest.json").read_text())
    entry = manifest["benchmarks"]["xsub"]["train"]
    labels = np.load(copy / entry["label"])
    labels[0] = 70  # action A071: NTU-120 only
    np.save(copy / entry["label"], labels)
    with pytest.raises(ValueError, match=r"has action A071, outside ntu60's 60 classes"):
        SkeletonDataset(SkeletonDataConfig(root=str(copy)), "train", train=False)
    with pytest.raises(ValueError, match=r"prepared for ntu60, but skeleton.dataset is 'ntu120'"):
        SkeletonDataset(SkeletonDataConfig(root=str(copy), dataset="ntu120"), "train", train=False)
    manifest["dataset"] = "ntu120"
    (copy / "manifest.json").write_text(json.dumps(manifest))
    assert SkeletonDataset(SkeletonDataConfig(root=str(copy), dataset="ntu120"), "train",
                           train=False).num_classes == 120
