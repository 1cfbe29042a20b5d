"""The video dataset on tiny synthetic .avi files in the UCF101 layout.

Each frame encodes what the dataset did to it: the blue channel is uniform at
``10 + 7 * t`` (frame index t), red is a horizontal ramp (shows flips and crops), green a
vertical ramp.
"""

from __future__ import annotations

import warnings

import cv2
import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from vimix_ssl.config import ConfigError, load_config
from vimix_ssl.data.config import VideoDataConfig
from vimix_ssl.data.datasets import VideoDataset, build_video_dataset, collate_clips, scan_videos
from vimix_ssl.data.sampling import centre_window, dense_windows, random_windows, window_indices
from vimix_ssl.data.sources import FrameStoreSource, RawVideoSource
from vimix_ssl.data.splits import parse_ucf101
from vimix_ssl.data.store import PrepareSpec, prepare_video_store
from vimix_ssl.data.video import VideoReadError

HEIGHT, WIDTH = 48, 64
LENGTHS = {"Up/v_Up_g01_c01.avi": 30, "Up/v_Up_g02_c01.avi": 26, "Down/v_Down_g01_c01.avi": 5}


def frame_image(index: int) -> np.ndarray:
    y, x = np.mgrid[0:HEIGHT, 0:WIDTH]
    return np.stack([x * 255 // (WIDTH - 1), y * 255 // (HEIGHT - 1),
                     np.full_like(x, 10 + 7 * index)], axis=-1).astype(np.uint8)  # RGB


def frame_indices(clip: torch.Tensor) -> list[int]:
    """Frame indices encoded in a (3, T, H, W) uint8 clip."""
    blue = clip[2].float().mean(dim=(1, 2))
    return [round((float(b) - 10) / 7) for b in blue]


def flipped(clip: torch.Tensor) -> bool:
    red = clip[0, 0].float()
    return bool(red[:, -1].mean() < red[:, 0].mean())


@pytest.fixture(scope="module")
def ucf(tmp_path_factory):
    base = tmp_path_factory.mktemp("ucf")
    root, splits = base / "videos", base / "splits"
    for name, length in LENGTHS.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        writer = cv2.VideoWriter(str(root / name), cv2.VideoWriter_fourcc(*"MJPG"), 25, (WIDTH, HEIGHT))
        for t in range(length):
            writer.write(cv2.cvtColor(frame_image(t), cv2.COLOR_RGB2BGR))
        writer.release()
    splits.mkdir()
    (splits / "classInd.txt").write_text("1 Up\r\n2 Down\r\n")
    for split in (1, 2, 3):
        (splits / f"trainlist0{split}.txt").write_text(
            "Up/v_Up_g01_c01.avi 1\r\nUp/v_Up_g02_c01.avi 1\r\nDown/v_Down_g01_c01.avi 2\r\n")
        (splits / f"testlist0{split}.txt").write_text("Up/v_Up_g01_c01.avi\r\nDown/v_Down_g01_c01.avi\r\n")
    return root, splits


def make(ucf, subset="train", **kwargs) -> VideoDataset:
    root, splits = ucf
    options = dict(clip_len=8, size=16, seed=0)
    options.update(kwargs)
    sources = options.pop("sources", {"rgb": RawVideoSource(root)})
    return VideoDataset(parse_ucf101(splits, 1, subset), sources, **options)


def test_training_sample_contract(ucf):
    sample = make(ucf)[1]
    assert set(sample) == {"rgb", "label", "index", "video_id", "skipped"} and sample["skipped"] == ""
    assert (sample["label"], sample["index"], sample["video_id"]) == (0, 1, "Up/v_Up_g02_c01.avi")
    assert len(sample["rgb"]) == 2
    for view in sample["rgb"]:
        assert view.shape == (3, 8, 16, 16) and view.dtype == torch.uint8


@pytest.mark.parametrize("stride", [1, 3])
def test_windows_are_strided_runs_inside_the_video(ucf, stride):
    dataset = make(ucf, stride=stride)
    for epoch in range(3):
        dataset.set_epoch(epoch)
        for view in dataset[0]["rgb"]:
            indices = frame_indices(view)
            assert np.all(np.diff(indices) == stride), indices
            assert 0 <= indices[0] and indices[-1] < 30


def test_views_are_independent_and_each_is_clip_consistent(ucf):
    dataset = make(ucf)
    starts, crops = set(), set()
    for epoch in range(6):
        dataset.set_epoch(epoch)
        first, second = dataset[0]["rgb"]
        starts.add(frame_indices(first)[0] != frame_indices(second)[0])
        crops.add(not torch.equal(first[:2], second[:2]))  # red/green ramps: the crop and flip
        for view in (first, second):  # same crop and flip on every frame
            ramps = view[:2].int()
            assert (ramps - ramps[:, :1]).abs().float().mean() < 2
    assert True in starts  # window starts differ between the views
    assert True in crops


@pytest.mark.parametrize("pad_mode, expected", [("loop", [0, 1, 2, 3, 4, 0, 1, 2]),
                                                ("repeat_last", [0, 1, 2, 3, 4, 4, 4, 4])])
def test_short_video_is_padded_by_repeating_frames(ucf, pad_mode, expected):
    sample = make(ucf, pad_mode=pad_mode)[2]  # the 5-frame video
    for view in sample["rgb"]:
        assert frame_indices(view) == expected


def test_eval_dense_and_centre_windows_are_deterministic(ucf):
    dense = make(ucf, "test", train=False, seed=None, eval_window_stride=10)
    sample = dense[0]  # 30 frames, windows of 8 every 10 frames: starts 0, 10, 20, 22
    assert sample["rgb"].shape == (4, 3, 8, 16, 16)
    assert [frame_indices(clip)[0] for clip in sample["rgb"]] == [0, 10, 20, 22]
    assert torch.equal(dense[0]["rgb"], sample["rgb"])
    assert not any(flipped(clip) for clip in sample["rgb"])
    centre = make(ucf, "test", train=False, eval_windows="centre")[0]
    assert centre["rgb"].shape == (3, 8, 16, 16) and frame_indices(centre["rgb"])[0] == 11
    batch = collate_clips([dense[0], dense[1]])  # the 5-frame video gives one padded window
    assert batch["rgb"].shape == (5, 3, 8, 16, 16)
    assert batch["clip_sample"].tolist() == [0, 0, 0, 0, 1] and batch["label"].tolist() == [0, 1]


class HalfSizeSource:
    """A second image modality: the same frames at half resolution."""

    def __init__(self, raw: RawVideoSource):
        self.raw = raw

    def num_frames(self, video_id: str) -> int:
        return self.raw.num_frames(video_id)

    def read(self, video_id, indices):
        return self.raw.read(video_id, indices)[:, ::2, ::2]


class FakeFlowSource:
    """A flow-like source: one frame fewer than RGB, dx = +1, dy = the red ramp."""

    field_kind = "flow"

    def __init__(self, raw: RawVideoSource):
        self.raw, self.requested = raw, []

    def num_frames(self, video_id: str) -> int:
        return self.raw.num_frames(video_id) - 1

    def read(self, video_id, indices):
        self.requested.extend(indices)
        red = self.raw.read(video_id, indices)[..., 0].astype(np.float32)
        return np.stack([np.ones_like(red), red], axis=-1)  # (T, H, W, 2) float32


def test_modalities_share_crop_and_flip_and_frame_range(ucf):
    raw = RawVideoSource(ucf[0])
    flow = FakeFlowSource(raw)
    dataset = make(ucf, sources={"rgb": raw, "half": HalfSizeSource(raw), "flow": flow}, clip_len=26)
    flips = set()
    for epoch in range(6):
        dataset.set_epoch(epoch)
        sample = dataset[1]  # 26 RGB frames, 25 flow fields: windows of 26 must be padded
        for rgb, half, field in zip(sample["rgb"], sample["half"], sample["flow"]):
            assert field.dtype == torch.float32 and field.shape == (2, 26, 16, 16)
            # same crop at another size: box edges agree to one half-size pixel (~8 ramp levels)
            assert (rgb[:2].float() - half[:2].float()).abs().mean() < 10
            assert (field[1] - rgb[0].float()).abs().mean() < 6  # same crop
            is_flipped = flipped(rgb)
            assert torch.allclose(field[0], torch.tensor(-1.0 if is_flipped else 1.0))  # flip negated dx
            assert flipped(half) == is_flipped
            flips.add(is_flipped)
            assert frame_indices(rgb)[:25] == list(range(25)) and frame_indices(rgb)[25] == 0
    assert max(flow.requested) == 24  # aligned on the shorter modality
    assert flips == {True, False}


def test_bad_videos_are_reported_and_substituted(ucf, tmp_path):
    root, splits = ucf
    videos = parse_ucf101(splits, 1, "train")
    (tmp_path / "Up").mkdir()
    (tmp_path / "Up" / "v_Up_g01_c01.avi").write_bytes(b"not a video" * 10)
    for name in ("Up/v_Up_g02_c01.avi", "Down/v_Down_g01_c01.avi"):
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).symlink_to(root / name)
    dataset = VideoDataset(videos, {"rgb": RawVideoSource(tmp_path)}, clip_len=4, size=8, seed=0)
    with pytest.warns(RuntimeWarning, match=r"1 unreadable video\(s\).*Up/v_Up_g01_c01.avi"):
        sample = dataset[0]
    assert sample["index"] != 0 and sample["video_id"] != "Up/v_Up_g01_c01.avi"
    assert "cannot be opened as a video" in dataset.bad_samples["Up/v_Up_g01_c01.avi"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no second warning for the same video
        assert dataset[0]["index"] == sample["index"]
    strict = VideoDataset(videos, {"rgb": RawVideoSource(tmp_path)}, clip_len=4, size=8, strict=True)
    with pytest.raises(VideoReadError, match="v_Up_g01_c01.avi: cannot be opened"):
        strict[0]
    bad = scan_videos([e.video_id for e in videos.entries], {"rgb": RawVideoSource(tmp_path)})
    assert [video for video, _ in bad] == ["Up/v_Up_g01_c01.avi"]


def test_store_and_raw_sources_give_the_same_samples(ucf, tmp_path):
    root, splits = ucf
    spec = PrepareSpec(str(root), str(tmp_path / "store"), short_side=None, codec="png")
    prepare_video_store(list(LENGTHS), "ucf101", spec, workers=1)
    from_raw = make(ucf)[0]
    from_store = make(ucf, sources={"rgb": FrameStoreSource(tmp_path / "store")})[0]
    for a, b in zip(from_raw["rgb"], from_store["rgb"]):
        assert torch.equal(a, b)


def test_config_builds_a_dataset_and_dataloader(ucf):
    root, splits = ucf
    cfg = load_config(VideoDataConfig, None, [f"root={root}", f"splits={splits}", "clip_len=4", "size=8",
                                              "augment.flip_probability=0.0"])
    defaults = (cfg.augment.crop_area, cfg.augment.blur_probability, cfg.eval_window_stride)
    assert defaults == ((0.2, 1.0), 0.5, 15)
    loader = DataLoader(build_video_dataset(cfg, "train", train=True), batch_size=3, num_workers=0)
    batch = next(iter(loader))
    assert len(batch["rgb"]) == 2 and batch["rgb"][0].shape == (3, 3, 4, 8, 8)
    assert batch["label"].tolist() == [0, 0, 1]
    assert not any(flipped(clip) for view in batch["rgb"] for clip in view)
    normalised = cfg.augment.photometric()(batch["rgb"][0])
    assert normalised.dtype == torch.float32 and normalised.shape == (3, 3, 4, 8, 8)
    with pytest.raises(ConfigError, match=r"augment.grayscale_probability: must be in \[0, 1\], got 1.5"):
        load_config(VideoDataConfig, None, ["augment.grayscale_probability=1.5"])
    with pytest.raises(ConfigError, match=r"data.clip_len: must be >= 1, got 0"):
        load_config(VideoDataConfig, None, ["clip_len=0"])
    with pytest.raises(ConfigError, match=r"pad_mode"):
        load_config(VideoDataConfig, None, ["pad_mode=mirror"])


def test_sampling_functions():
    rng = np.random.default_rng(0)
    for _ in range(20):
        for window in random_windows(40, 8, 2, 2, rng):
            assert window.min() >= 0 and window.max() < 40 and np.all(np.diff(window) == 2)
    windows = dense_windows(100, 32, 1, 15)
    assert [int(w[0]) for w in windows] == [0, 15, 30, 45, 60, 68] and windows[-1][-1] == 99
    assert centre_window(100, 32, 1)[0] == 34 and centre_window(10, 32, 1)[0] == 0
    assert window_indices(0, 5, 2, 4, "loop").tolist() == [0, 2, 0, 2, 0]
    with pytest.raises(ValueError, match="pad_mode"):
        window_indices(0, 4, 1, 10, "mirror")


# -- issue 16: nothing substituted in evaluation; skipped samples exposed in training --------------

def _with_bad_first_video(ucf, tmp_path):
    root, _ = ucf
    (tmp_path / "Up").mkdir()
    (tmp_path / "Up" / "v_Up_g01_c01.avi").write_bytes(b"not a video" * 10)
    for name in ("Up/v_Up_g02_c01.avi", "Down/v_Down_g01_c01.avi"):
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).symlink_to(root / name)
    return {"rgb": RawVideoSource(tmp_path)}


def test_evaluation_never_substitutes_an_unreadable_video(ucf, tmp_path):
    from vimix_ssl.data.datasets import UnreadableVideoError

    sources = _with_bad_first_video(ucf, tmp_path)
    dataset = make(ucf, "train", train=False, sources=sources)  # strict=False, as the data default
    with pytest.raises(UnreadableVideoError, match=r"^Up/v_Up_g01_c01.avi: unreadable \(sample 0\)"):
        dataset[0]
    assert dataset[1]["video_id"] == "Up/v_Up_g02_c01.avi" and not dataset.bad_samples
    dataset.exclude(["Up/v_Up_g01_c01.avi"])  # the evaluators' explicit exclusion
    assert [dataset[i]["video_id"] for i in range(len(dataset))] == ["Up/v_Up_g02_c01.avi",
                                                                     "Down/v_Down_g01_c01.avi"]
    assert dataset.source_files("Down/v_Down_g01_c01.avi") == [str(tmp_path / "Down/v_Down_g01_c01.avi")]


def test_training_reports_every_skipped_sample(ucf, tmp_path):
    sources = _with_bad_first_video(ucf, tmp_path)
    dataset = make(ucf, "train", sources=sources)
    loader = DataLoader(dataset, batch_size=3, num_workers=1)  # in a worker: the main copy sees nothing
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        batch = next(iter(loader))
    skipped = [line for entry in batch["skipped"] for line in entry.splitlines()]
    assert len(skipped) == 1 and skipped[0].startswith("Up/v_Up_g01_c01.avi\tVideoReadError:")
    assert batch["video_id"][0] != "Up/v_Up_g01_c01.avi"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        dataset.set_epoch(3)
        dataset[0]
    assert dataset.skip_log == [(3, 0, "Up/v_Up_g01_c01.avi", dataset.bad_samples["Up/v_Up_g01_c01.avi"])]


def test_coclr_dense_windows_match_coclr_frame_sampler():
    """Reference: CoCLR dataset/lmdb_dataset.py frame_sampler (mode test), written out as a loop."""
    from vimix_ssl.data.datasets import coclr_dense_windows

    def reference(total, num_frames, ds):
        if total - num_frames * ds <= 0:
            sequence = [i * ds for i in range(num_frames) if i * ds < total]
            return [[0] * (num_frames - len(sequence)) + sequence]
        windows, start = [], 0
        step = num_frames * ds // 2 - 1
        while start <= total - num_frames * ds:
            windows.append([start + i * ds for i in range(num_frames)])
            start += step
        return windows

    for total in (5, 17, 32, 33, 47, 48, 100, 161):
        for ds in (1, 2):
            ours = [w.tolist() for w in coclr_dense_windows(total, 32, ds, 32 * ds // 2 - 1)]
            assert ours == reference(total, 32, ds), (total, ds)


def test_random_evaluation_window_is_seeded_per_sample(ucf):
    a, b = make(ucf, "train", train=False, eval_windows="random"), make(ucf, "train", train=False,
                                                                        eval_windows="random")
    first, again = a[0]["rgb"], b[0]["rgb"]
    assert first.shape == (3, 8, 16, 16) and torch.equal(first, again)
    starts = {frame_indices(make(ucf, "train", train=False, eval_windows="random")[i]["rgb"])[0]
              for i in range(2)}
    assert all(0 <= s <= 30 - 8 for s in starts)


def test_full_frame_evaluation_keeps_the_aspect_ratio(ucf):
    square = make(ucf, "test", train=False, eval_windows="centre")
    full = make(ucf, "test", train=False, eval_windows="centre")
    full.eval_frame = "full"
    assert square[0]["rgb"].shape == (3, 8, 16, 16)
    clip = full[0]["rgb"]
    assert clip.shape == (3, 8, 16, round(WIDTH * 16 / HEIGHT))  # short side = size, 48x64 -> 16x21
    red = clip[0, 0].float().mean(dim=0)  # red = x ramp: the whole width, 0 at the left, 255 at the right
    assert red[0] < 15 and red[-1] > 240
    assert frame_indices(clip) == frame_indices(square[0]["rgb"])
