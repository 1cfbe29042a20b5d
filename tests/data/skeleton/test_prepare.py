"""``vimix prepare ntu`` on the real sample files, and the dataset over its output."""

from __future__ import annotations

import json
import pickle
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from vimix_ssl import cli
from vimix_ssl.data.skeleton.dataset import SkeletonDataConfig, SkeletonDataset
from vimix_ssl.data.skeleton.ntu import parse_ntu_name, split_of
from vimix_ssl.data.skeleton.parser import read_skeleton
from vimix_ssl.data.skeleton.prepare import NtuPrepareConfig, ParseJob, prepare_ntu
from vimix_ssl.data.skeleton.preprocess import frame50

MAX_FRAMES = 128  # every real sample has <= 124 frames; keeps the arrays small


@pytest.fixture(scope="module")
def prepared(real_data, tmp_path_factory) -> tuple[Path, Path, dict]:
    raw = tmp_path_factory.mktemp("raw")
    for path in (real_data / "ntu_rgbd60" / "nturgb+d_skeletons").glob("*.skeleton"):
        shutil.copy(path, raw / path.name)
    missing = raw.parent / "missing.txt"  # names-only list: skip one real sample
    missing.write_text("S002C001P003R001A003\n")
    out = tmp_path_factory.mktemp("prepared")
    manifest = prepare_ntu(raw, out, missing_list=missing, config=NtuPrepareConfig(max_frames=MAX_FRAMES),
                           workers=1)
    return raw, out, manifest


def test_manifest_describes_every_array(prepared):
    _, out, manifest = prepared
    assert json.loads((out / "manifest.json").read_text()) == manifest
    assert manifest["counts"]["files"] == 12 and manifest["counts"]["missing_skipped"] == 1
    assert manifest["counts"]["usable"] == 11 and manifest["failed"] == []
    assert manifest["num_classes"] == 60 and manifest["dataset"] == "ntu60"  # fixed by the benchmark
    total = 0
    for benchmark, parts in manifest["benchmarks"].items():
        for split, entry in parts.items():
            names = (out / entry["names"]).read_text().split()
            assert len(names) == entry["num_samples"]
            assert all(split_of(n, benchmark) == split for n in names)
            data = np.load(out / entry["data"], mmap_mode="r")
            data50 = np.load(out / entry["frame50"], mmap_mode="r")
            assert isinstance(data, np.memmap) and data.dtype == np.float32
            assert list(data.shape) == entry["data_shape"] == [len(names), 3, MAX_FRAMES, 25, 2]
            assert list(data50.shape) == entry["frame50_shape"] == [len(names), 3, 50, 25, 2]
            labels = np.load(out / entry["label"])
            assert labels.dtype == np.int64
            assert labels.tolist() == [parse_ntu_name(n).action - 1 for n in names]
            total += len(names)
    assert total == 2 * 11
    xsub = manifest["benchmarks"]["xsub"]
    assert (out / xsub["test"]["names"]).read_text().split().count("S002C001P003R001A003") == 0
    assert not list(out.rglob("*.tmp"))  # every write finished and was renamed


def test_arrays_hold_the_parsed_joints_and_their_frame50(prepared):
    raw, out, manifest = prepared
    entry = manifest["benchmarks"]["xview"]["train"]  # cameras 2, 3
    names = (out / entry["names"]).read_text().split()
    data = np.load(out / entry["data"], mmap_mode="r")
    data50 = np.load(out / entry["frame50"], mmap_mode="r")
    frames = np.load(out / entry["num_frames"])
    valid = np.load(out / entry["valid_frames"])
    for i, name in enumerate(names):
        sequence = read_skeleton(raw / f"{name}.skeleton")
        bodies = sequence.max_bodies
        expected = sequence.xyz.astype(np.float32).transpose(3, 0, 2, 1)  # (3, T, 25, B)
        np.testing.assert_array_equal(data[i, :, : sequence.num_frames, :, :bodies], expected)
        assert np.all(data[i, :, sequence.num_frames:] == 0) and np.all(data[i, ..., bodies:] == 0)
        assert frames[i] == valid[i] == sequence.num_frames
        np.testing.assert_array_equal(data50[i], frame50(np.asarray(data[i])))


def test_rerun_resumes_from_the_parse_cache(prepared, tmp_path):
    raw, prepared_out, first = prepared
    out = tmp_path / "out"
    shutil.copytree(prepared_out, out)
    again = prepare_ntu(raw, out, missing_list=None, config=NtuPrepareConfig(max_frames=MAX_FRAMES),
                        workers=1)
    assert again["counts"]["parsed_now"] == 1  # only the sample that was on the missing list before
    assert again["counts"]["parsed_cached"] == 11
    before = first["benchmarks"]["xsub"]["test"]["num_samples"]
    assert again["benchmarks"]["xsub"]["test"]["num_samples"] == before + 1


def test_parse_job_is_picklable_for_worker_processes(tmp_path):
    job = ParseJob("raw", str(tmp_path), 2, "active")
    assert pickle.loads(pickle.dumps(job)) == job


def test_failures_are_reported_with_reasons_and_the_rest_prepared(real_data, tmp_path, capsys):
    raw = tmp_path / "raw"
    raw.mkdir()
    source = real_data / "ntu_rgbd60" / "nturgb+d_skeletons"
    for name in ("S001C001P001R001A011", "S017C003P020R002A054"):
        shutil.copy(source / f"{name}.skeleton", raw)
    lines = (source / "S001C001P001R001A001.skeleton").read_bytes().splitlines(keepends=True)
    (raw / "S001C001P001R001A001.skeleton").write_bytes(b"".join(lines[:500]))  # truncated copy
    code = cli.main(["prepare", "ntu", str(raw), str(tmp_path / "out"), "--workers", "1",
                     "--max-frames", "100", "--dataset", "ntu60"])
    printed = capsys.readouterr().out
    assert code == 1
    assert "1 failed" in printed and "S001C001P001R001A001" in printed and ":501: unexpected end" in printed
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert manifest["counts"]["usable"] == 2 and manifest["num_classes"] == 60
    assert manifest["failed"][0]["name"] == "S001C001P001R001A001"
    assert "SkeletonParseError" in manifest["failed"][0]["reason"]


def test_badly_named_file_is_reported_and_skipped_not_fatal(real_data, tmp_path, capsys):
    raw = tmp_path / "raw"
    raw.mkdir()
    (raw / "clip01.skeleton").write_text("0\n")
    shutil.copy(real_data / "ntu_rgbd60" / "nturgb+d_skeletons" / "S001C001P001R001A011.skeleton", raw)
    assert cli.main(["prepare", "ntu", str(raw), str(tmp_path / "out"), "--workers", "1",
                     "--max-frames", "100"]) == 0
    captured = capsys.readouterr()
    assert "clip01.skeleton" in captured.err and "1 not named like NTU samples left out" in captured.out
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert manifest["badly_named"][0]["file"] == "clip01.skeleton"
    assert manifest["counts"]["usable"] == 1 and manifest["counts"]["badly_named"] == 1


def test_ntu60_leaves_out_ntu120_actions_with_a_count(real_data, tmp_path):
    raw = tmp_path / "raw"
    raw.mkdir()
    source = real_data / "ntu_rgbd60" / "nturgb+d_skeletons"
    shutil.copy(source / "S001C001P001R001A011.skeleton", raw)
    # an NTU-120 action (A061+) with real content: the A050 file under another action number
    shutil.copy(source / "S001C001P001R001A050.skeleton", raw / "S018C001P001R001A061.skeleton")
    ntu60 = prepare_ntu(raw, tmp_path / "60", config=NtuPrepareConfig(max_frames=100), workers=1)
    assert ntu60["num_classes"] == 60 and ntu60["counts"]["usable"] == 1
    assert ntu60["other_actions"]["count"] == 1
    assert ntu60["other_actions"]["names"] == ["S018C001P001R001A061"]
    ntu120 = prepare_ntu(raw, tmp_path / "120", config=NtuPrepareConfig(dataset="ntu120", max_frames=100),
                         workers=1)
    assert ntu120["num_classes"] == 120 and ntu120["counts"]["usable"] == 2
    assert ntu120["other_actions"]["count"] == 0
    xsub = ntu120["benchmarks"]["xsub"]
    labels = [int(v) for b in ("train", "test") for v in np.load(tmp_path / "120" / xsub[b]["label"])]
    assert sorted(labels) == [10, 60]


def test_replaced_skeleton_file_is_parsed_again(real_data, tmp_path):
    """Issue 18 trial 4: the cache was keyed by file name; a replaced, truncated file kept its old parse."""
    raw = tmp_path / "raw"
    raw.mkdir()
    source = real_data / "ntu_rgbd60" / "nturgb+d_skeletons"
    for name in ("S001C001P001R001A011", "S001C001P001R001A050"):
        shutil.copy(source / f"{name}.skeleton", raw)
    config = NtuPrepareConfig(max_frames=128)
    first = prepare_ntu(raw, tmp_path / "out", config=config, workers=1)
    assert first["counts"]["parsed_now"] == 2
    again = prepare_ntu(raw, tmp_path / "out", config=config, workers=1)  # nothing changed: all cached
    assert again["counts"]["parsed_cached"] == 2 and again["counts"]["parsed_now"] == 0
    lines = (raw / "S001C001P001R001A050.skeleton").read_bytes().splitlines(keepends=True)
    (raw / "S001C001P001R001A050.skeleton").write_bytes(b"".join(lines[:400]))  # replaced by a truncated copy
    third = prepare_ntu(raw, tmp_path / "out", config=config, workers=1)
    assert third["counts"]["parsed_cached"] == 1  # exactly the changed file was redone ...
    assert [f["name"] for f in third["failed"]] == ["S001C001P001R001A050"]  # ... and now fails to parse
    assert third["counts"]["usable"] == 1


def test_dataset_reads_frame50_memory_mapped(prepared):
    _, out, _ = prepared
    config = SkeletonDataConfig(root=str(out), benchmark="xsub", streams=["joint", "motion", "bone"])
    train = SkeletonDataset(config, "train", train=True)
    assert isinstance(train.data, np.memmap) and train.data.shape[2] == 50
    torch.manual_seed(0)
    item = train[0]
    assert set(item) == {"joint", "motion", "bone", "label", "index", "video_id"}
    assert item["index"] == 0 and item["video_id"] == train.names[0]
    for stream in ("joint", "motion", "bone"):
        assert len(item[stream]) == 2
        assert all(v.shape == (3, 50, 25, 2) and v.dtype == torch.float32 for v in item[stream])
    assert not torch.equal(item["joint"][0], item["joint"][1])
    assert torch.all(item["motion"][0][:, -1] == 0) and torch.all(item["bone"][1][:, :, 20] == 0)
    # motion of view i is derived from joint view i
    torch.testing.assert_close(item["motion"][1][:, :-1], item["joint"][1][:, 1:] - item["joint"][1][:, :-1])
    torch.manual_seed(0)
    assert torch.equal(train[0]["joint"][0], item["joint"][0])  # reproducible under torch's seed
    assert pickle.loads(pickle.dumps(train))._data is None  # workers reopen the map themselves

    evaluation = SkeletonDataset(SkeletonDataConfig(root=str(out), benchmark="xview", streams=["joint"]),
                                 "test", train=False)
    sample = evaluation[1]
    assert set(sample) == {"joint", "label", "index", "video_id"}
    np.testing.assert_array_equal(sample["joint"].numpy(), evaluation.data[1])
    loader = torch.utils.data.DataLoader(train, batch_size=4)
    batch = next(iter(loader))
    assert batch["joint"][0].shape == (4, 3, 50, 25, 2) and batch["label"].shape == (4,)


def test_dataset_rejects_bad_settings(prepared, tmp_path):
    _, out, _ = prepared
    with pytest.raises(ValueError, match="streams must be a non-empty subset"):
        SkeletonDataset(SkeletonDataConfig(root=str(out), streams=["velocity"]))
    with pytest.raises(FileNotFoundError, match="manifest.json not found"):
        SkeletonDataset(SkeletonDataConfig(root=str(tmp_path)))
