"""Video decoding on the real sample clips: frame counts, index reads, resize on decode, clear errors."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from vimix_ssl.data.video import (
    VideoReader,
    VideoReadError,
    iter_frames,
    probe_video,
    read_all_frames,
    read_frames,
    short_side_size,
    truncation,
)

# (path under real/, frames decoded, width, height) as recorded in SOURCES.md
REAL_VIDEOS = [
    ("ucf101/videos/test.avi", 164, 320, 240),
    ("ucf101/videos/example.avi", 131, 320, 240),
    ("kinetics400/videos/demo.mp4", 280, 340, 256),
    ("kinetics400/videos/test.mp4", 300, 340, 256),
    ("ntu_rgbd60/nturgb+d_rgb/S001C001P001R001A001_rgb.avi", 103, 1920, 1080),
]


@pytest.mark.parametrize("relative, frames, width, height", REAL_VIDEOS, ids=[v[0] for v in REAL_VIDEOS])
def test_real_videos_have_recorded_frame_counts(real_data, relative, frames, width, height):
    info = probe_video(real_data / relative, count_frames=True)  # counted by decoding
    assert (info.num_frames, info.width, info.height) == (frames, width, height)
    with VideoReader(real_data / relative, short_side=64) as reader:
        assert reader.num_frames == frames  # the header agrees for these files
        clip = reader.read([0, frames // 2, frames - 1])
    expected_height, expected_width = short_side_size(height, width, 64)
    assert clip.shape == (3, expected_height, expected_width, 3) and clip.dtype == np.uint8
    assert min(clip.shape[1:3]) == 64


def test_ntu_1080p_resize_on_decode(real_data):
    clip = read_frames(real_data / "ntu_rgbd60/nturgb+d_rgb/S001C001P001R001A001_rgb.avi",
                       [0, 51, 102], short_side=128)
    assert clip.shape == (3, 128, 228, 3)


@pytest.mark.parametrize("relative", ["ucf101/videos/test.avi", "kinetics400/videos/demo.mp4"])
def test_read_equals_sequential_decode(real_data, relative):
    full = read_all_frames(real_data / relative)
    with VideoReader(real_data / relative) as reader:
        for indices in ([5, 3, 5, 150],  # unordered with a repeat
                        list(range(10, 18)) + list(range(120, 128)),  # two windows far apart
                        [100, 101, 102], [0, 1]):  # a seek backwards after a read
            np.testing.assert_array_equal(reader.read(indices), full[indices])
    assert full.shape[-1] == 3


def test_frames_are_rgb_not_bgr(tmp_path):
    import cv2

    path = tmp_path / "red.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 25, (32, 32))
    red_in_bgr = np.zeros((32, 32, 3), np.uint8)
    red_in_bgr[..., 2] = 255
    for _ in range(3):
        writer.write(red_in_bgr)
    writer.release()
    frame = read_frames(path, [1])[0].astype(int)
    assert frame[..., 0].mean() > 200 and frame[..., 2].mean() < 50


def test_request_past_the_end_is_an_error(real_data):
    with VideoReader(real_data / "ucf101/videos/test.avi") as reader:
        with pytest.raises(VideoReadError, match="frame 164 requested but the video has 164 frames"):
            reader.read([0, 164])


def test_truncated_avi_names_file_and_problem(real_data, tmp_path):
    data = (real_data / "ucf101/videos/test.avi").read_bytes()
    path = tmp_path / "truncated.avi"
    path.write_bytes(data[: len(data) // 2])
    with VideoReader(path) as reader:
        assert reader.num_frames == 164  # the header still claims every frame
        with pytest.raises(VideoReadError, match="truncated or corrupt") as error:
            reader.read([160])
    assert str(path) in str(error.value)
    with pytest.raises(VideoReadError, match=r"truncated: only \d+ of the 164 frames"):
        probe_video(path, count_frames=True)  # counting by decoding finds it short: truncated
    info = probe_video(path, count_frames=True, allow_truncated=True)  # only when asked: the real length
    assert 0 < info.num_frames < 164
    assert read_frames(path, [info.num_frames - 1]).shape == (1, 240, 320, 3)
    with pytest.raises(VideoReadError, match="truncated: only"):
        list(iter_frames(path))  # decoding everything ends in the same error
    assert len(list(iter_frames(path, allow_truncated=True))) == info.num_frames


def test_truncation_rule():
    """Exact for containers with a frame index; a 2 % margin for the duration-estimated ones."""
    assert truncation("a.avi", 164, 164) is None and truncation("a.avi", 10, 0) is None
    assert "truncated: only 163 of the 164" in truncation("a.avi", 163, 164)
    assert "truncated" in truncation("a.mp4", 12, 24)
    assert truncation("a.mkv", 98, 100) is None and "truncated" in truncation("a.mkv", 97, 100)
    assert truncation("a.webm", 9, 10) is None  # at least one frame of margin


def test_truncated_mp4_cannot_be_opened(real_data, tmp_path):
    data = (real_data / "kinetics400/videos/demo.mp4").read_bytes()
    path = tmp_path / "truncated.mp4"
    path.write_bytes(data[: len(data) // 2])  # the moov atom is at the end: no index
    with pytest.raises(VideoReadError, match="cannot be opened as a video") as error:
        VideoReader(path)
    assert str(path) in str(error.value)


def test_avi_header_without_frames(real_data, tmp_path):
    data = (real_data / "ucf101/videos/test.avi").read_bytes()
    path = tmp_path / "header_only.avi"
    path.write_bytes(data[:15000])
    with pytest.raises(VideoReadError, match=r"truncated|no decodable frames|cannot be opened"):
        probe_video(path, count_frames=True)


@pytest.mark.parametrize("content, message", [
    (b"this is a text file, not a video\n" * 50, "cannot be opened as a video"),
    (b"", "file is empty"),
    (None, "file not found"),
])
def test_bad_files_give_clear_errors(tmp_path, content, message):
    path = tmp_path / "clip.avi"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(VideoReadError, match=message) as error:
        read_frames(path, [0])
    assert error.value.path == str(path)


def test_error_survives_pickling_between_processes(tmp_path):
    error = VideoReadError(tmp_path / "x.avi", "file not found")
    copy = pickle.loads(pickle.dumps(error))
    assert (copy.path, copy.reason, str(copy)) == (error.path, error.reason, str(error))


def test_short_side_size():
    assert short_side_size(240, 320, 128) == (128, 171)
    assert short_side_size(320, 240, 128) == (171, 128)
    assert short_side_size(240, 320, None) == (240, 320)


def test_count_frames_then_read_from_start(tmp_path):
    """count_frames=True decodes to the end; the reader must rewind so frame 0 still reads."""
    import cv2
    import numpy as np

    from vimix_ssl.data.video import VideoReader

    path = tmp_path / "c.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 25, (32, 24))
    for i in range(6):
        writer.write(np.full((24, 32, 3), 40 * i, np.uint8))
    writer.release()
    reader = VideoReader(path, count_frames=True)
    assert reader.num_frames == 6
    frames = reader.read([0, 5])
    assert frames.shape == (2, 24, 32, 3) and frames[0].mean() < frames[1].mean()
