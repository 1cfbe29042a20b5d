"""Prepared frame store: container round trip, errors, `vimix prepare video` (resume, failures)."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from vimix_ssl.cli import main as vimix
from vimix_ssl.data.sources import FrameStoreSource, RawVideoSource
from vimix_ssl.data.store import (
    PrepareSpec,
    StoreError,
    StoreFile,
    encode_image,
    prepare_video_store,
    read_manifest,
    read_store_frames,
    store_file_path,
    write_store_file,
)


def write_video(path, frames: np.ndarray, fps: int = 25) -> None:
    """Write uint8 RGB (T, H, W, 3) as MJPG .avi."""
    path.parent.mkdir(parents=True, exist_ok=True)
    size = (frames.shape[2], frames.shape[1])
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, size)
    for frame in frames:
        writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    writer.release()


def test_container_round_trip(tmp_path):
    frames = [bytes([i]) * (i + 1) for i in range(5)]
    path = tmp_path / "a" / "video.frames"
    write_store_file(path, frames, {"codec": "raw", "note": "x"})
    store = StoreFile(path)
    assert store.num_frames == 5 and store.meta == {"codec": "raw", "note": "x"}
    assert store.read_bytes(3) == frames[3]
    assert store.read_many([4, 0, 4]) == [frames[4], frames[0], frames[4]]
    with pytest.raises(StoreError, match="frame 5 requested but the file holds 5"):
        store.read_bytes(5)
    assert list(tmp_path.joinpath("a").iterdir()) == [path]  # no temporary file left behind


def test_image_frames_round_trip_png_exact_jpeg_close(tmp_path):
    rng = np.random.default_rng(0)
    smooth = cv2.GaussianBlur(rng.integers(0, 256, (4, 24, 32, 3), dtype=np.uint8).reshape(96, 32, 3),
                              (7, 7), 3).reshape(4, 24, 32, 3)
    for codec, tolerance in (("png", 0), ("jpeg", 12)):
        path = tmp_path / f"{codec}.frames"
        write_store_file(path, [encode_image(f, codec, 95) for f in smooth], {"channels": 3})
        got = read_store_frames(StoreFile(path), [2, 0, 2])
        assert got.shape == (3, 24, 32, 3) and got.dtype == np.uint8
        assert np.abs(got.astype(int) - smooth[[2, 0, 2]]).mean() <= tolerance


def test_corrupt_and_truncated_files_are_store_errors(tmp_path):
    path = tmp_path / "v.frames"
    write_store_file(path, [b"abcdef", b"ghijkl"], {})
    data = path.read_bytes()
    path.write_bytes(data[:-3])
    with pytest.raises(StoreError, match=r"v.frames: truncated"):
        StoreFile(path)
    path.write_bytes(b"NOTASTORE" + data[9:])
    with pytest.raises(StoreError, match="bad magic"):
        StoreFile(path)
    with pytest.raises(StoreError, match="store file not found"):
        StoreFile(tmp_path / "missing.frames")
    with pytest.raises(ValueError, match="no frames"):
        write_store_file(path, [], {})


@pytest.fixture()
def tiny_ucf(tmp_path):
    """Two classes of MJPG clips in the UCF101 layout, one listed video missing."""
    root, splits = tmp_path / "ucf", tmp_path / "splits"
    rng = np.random.default_rng(0)
    for name, frames in (("A/v_A_g01_c01.avi", 12), ("B/v_B_g01_c01.avi", 9)):
        write_video(root / name, rng.integers(0, 256, (frames, 48, 64, 3), dtype=np.uint8))
    splits.mkdir()
    (splits / "classInd.txt").write_text("1 A\r\n2 B\r\n")
    for split in (1, 2, 3):
        (splits / f"trainlist0{split}.txt").write_text("A/v_A_g01_c01.avi 1\r\nB/v_B_g01_c01.avi 2\r\n")
        (splits / f"testlist0{split}.txt").write_text("B/v_B_g09_c01.avi\r\n")
    return root, splits


def test_prepare_store_resumes_and_reports_failures(tiny_ucf, tmp_path):
    root, _ = tiny_ucf
    out = tmp_path / "store"
    spec = PrepareSpec(root=str(root), out_dir=str(out), short_side=24, quality=90)
    videos = ["A/v_A_g01_c01.avi", "B/v_B_g09_c01.avi", "B/v_B_g01_c01.avi"]
    summary = prepare_video_store(videos, "ucf101", spec, workers=1)
    assert sorted(summary.done) == ["A/v_A_g01_c01.avi", "B/v_B_g01_c01.avi"]
    assert [item for item, _ in summary.failed] == ["B/v_B_g09_c01.avi"]
    assert "file not found" in summary.failed[0][1]
    manifest = read_manifest(out)
    assert (manifest["codec"], manifest["quality"], manifest["short_side"], manifest["dataset"]) == \
        ("jpeg", 90, 24, "ucf101")
    stored = StoreFile(store_file_path(out, "A/v_A_g01_c01.avi"))
    assert (stored.num_frames, stored.meta["height"], stored.meta["width"]) == (12, 24, 32)
    again = prepare_video_store(videos, "ucf101", spec, workers=1)
    assert sorted(again.skipped) == sorted(summary.done) and len(again.failed) == 1
    with pytest.raises(StoreError, match=r"other settings \{'short_side': 24\}"):
        prepare_video_store(videos, "ucf101", PrepareSpec(str(root), str(out), short_side=32), workers=1)


def test_store_source_matches_raw_video(tiny_ucf, tmp_path):
    root, _ = tiny_ucf
    out = tmp_path / "store"
    prepare_video_store(["A/v_A_g01_c01.avi"], "ucf101", PrepareSpec(str(root), str(out), None, "png"), 1)
    raw, store = RawVideoSource(root), FrameStoreSource(out)
    assert store.num_frames("A/v_A_g01_c01.avi") == raw.num_frames("A/v_A_g01_c01.avi") == 12
    video = "A/v_A_g01_c01.avi"
    np.testing.assert_array_equal(store.read(video, [7, 2]), raw.read(video, [7, 2]))
    with pytest.raises(StoreError, match="not in the store"):
        store.read("B/v_B_g01_c01.avi", [0])
    with pytest.raises(StoreError, match="store.json not found"):
        FrameStoreSource(tmp_path)


def test_prepare_and_check_commands(tiny_ucf, tmp_path, capsys):
    root, splits = tiny_ucf
    out = tmp_path / "store"
    args = ["--dataset", "ucf101", "--root", str(root), "--splits", str(splits), "--workers", "1"]
    assert vimix(["prepare", "video", *args, "--out", str(out), "--short-side", "32"]) == 1  # one missing
    printed = capsys.readouterr().out
    assert "2 done" in printed and "1 failed" in printed and "B/v_B_g09_c01.avi" in printed
    assert json.loads((out / "store.json").read_text())["short_side"] == 32
    assert vimix(["data", "check", *args]) == 1
    printed = capsys.readouterr().out
    assert "3 videos checked" in printed and "1 unreadable" in printed and "v_B_g09_c01.avi: " in printed
    assert vimix(["data", "check", *args, "--split", "1", "--subset", "train", "--store", str(out)]) == 0
    assert "0 unreadable" in capsys.readouterr().out


def test_replaced_source_is_prepared_again_and_check_reports_it(tiny_ucf, tmp_path, capsys):
    """Issue 18 trial 4: `prepare video` kept 24 stored frames after the source was replaced by 8."""
    root, _ = tiny_ucf
    out = tmp_path / "store"
    spec = PrepareSpec(root=str(root), out_dir=str(out), short_side=24)
    videos = ["A/v_A_g01_c01.avi", "B/v_B_g01_c01.avi"]
    assert sorted(prepare_video_store(videos, "ucf101", spec, workers=1).done) == videos
    assert vimix(["prepare", "check", "--rgb", str(out)]) == 0
    capsys.readouterr()
    write_video(root / videos[0], np.full((8, 48, 64, 3), 128, np.uint8))  # replaced: 12 -> 8 frames
    assert vimix(["prepare", "check", "--rgb", str(out)]) == 1
    printed = capsys.readouterr().out
    assert "stale" in printed and videos[0] in printed and videos[1] not in printed.split("stale")[1]
    again = prepare_video_store(videos, "ucf101", spec, workers=1)
    assert again.done == [videos[0]] and again.skipped == [videos[1]]  # exactly the changed one
    assert StoreFile(store_file_path(out, videos[0])).num_frames == 8
    assert vimix(["prepare", "check", "--rgb", str(out)]) == 0
    capsys.readouterr()
    (root / videos[1]).unlink()  # sources deleted after preparing (to save space): the store file is kept
    assert prepare_video_store(videos, "ucf101", spec, workers=1).skipped == videos
    assert vimix(["prepare", "check", "--rgb", str(out)]) == 1
    assert "no longer exists" in capsys.readouterr().out


@pytest.fixture()
def truncated_ucf(real_data, tmp_path):
    """A UCF101-layout dataset whose first video is cut in half (164 header frames, fewer decodable)."""
    root, splits = tmp_path / "ucf", tmp_path / "splits"
    data = (real_data / "ucf101/videos/test.avi").read_bytes()
    (root / "A").mkdir(parents=True)
    (root / "A" / "v_A_g01_c01.avi").write_bytes(data[: len(data) // 2])
    write_video(root / "B" / "v_B_g01_c01.avi", np.zeros((6, 24, 32, 3), np.uint8))
    splits.mkdir()
    (splits / "classInd.txt").write_text("1 A\n2 B\n")
    for split in (1, 2, 3):
        (splits / f"trainlist0{split}.txt").write_text("A/v_A_g01_c01.avi 1\n")
        (splits / f"testlist0{split}.txt").write_text("B/v_B_g01_c01.avi\n")
    return root, splits


def test_truncated_video_is_unreadable_for_every_command(truncated_ucf, tmp_path, capsys):
    """Issue 18 trial 5: truncated passed `data check --count-frames` and `prepare` stored half of it."""
    root, splits = truncated_ucf
    args = ["--dataset", "ucf101", "--root", str(root), "--splits", str(splits), "--workers", "1"]
    for extra in ([], ["--count-frames"]):
        assert vimix(["data", "check", *args, *extra]) == 1
        printed = capsys.readouterr().out
        assert "1 unreadable" in printed and "A/v_A_g01_c01.avi" in printed, extra
    assert "truncated: only" in printed  # --count-frames gives the reason with both counts
    store = tmp_path / "store"
    assert vimix(["prepare", "video", *args, "--out", str(store), "--short-side", "16"]) == 1
    printed = capsys.readouterr().out
    assert "1 failed" in printed and "truncated: only" in printed
    assert not store_file_path(store, "A/v_A_g01_c01.avi").exists()
    assert vimix(["prepare", "video", *args, "--out", str(store), "--short-side", "16",
                  "--allow-truncated"]) == 0
    meta = StoreFile(store_file_path(store, "A/v_A_g01_c01.avi")).meta
    assert meta["truncated"] is True and meta["header_frame_count"] == 164 and 0 < meta["num_frames"] < 164
    flow = tmp_path / "flow"
    flow_args = ["prepare", "flow", "--source", "raw", *args, "--out", str(flow), "--method", "dis",
                 "--size", "16"]
    assert vimix(flow_args) == 1
    assert "truncated: only" in capsys.readouterr().out
    assert vimix([*flow_args, "--allow-truncated"]) == 0
    flow_meta = StoreFile(store_file_path(flow, "A/v_A_g01_c01.avi")).meta
    assert flow_meta["truncated"] is True and flow_meta["source_frames"] == meta["num_frames"]
