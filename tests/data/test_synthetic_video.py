"""The synthetic motion-only dataset: UCF101 layout, group splits, determinism, motion = class."""

from __future__ import annotations

import re
from pathlib import Path

import cv2
import numpy as np
import pytest

from vimix_ssl import cli
from vimix_ssl.data.datasets import VideoDataset
from vimix_ssl.data.flow import compute_video_flow
from vimix_ssl.data.sources import RawVideoSource
from vimix_ssl.data.splits import all_videos, load_video_list
from vimix_ssl.data.synthetic_video import (
    MOTIONS,
    SynthVideoConfig,
    generate_synthetic_ucf,
    render_clip_and_masks,
)

TINY = SynthVideoConfig(classes=3, per_class=6, clips_per_group=2, frames_min=8, frames_max=10,
                        width=32, height=24, seed=7)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("synth") / "ucf"
    generate_synthetic_ucf(root, TINY)
    return root


def _group(path: str) -> str:
    return re.search(r"_g(\d\d)_c\d\d\.avi$", path).group(1)


def test_layout_is_ucf101s(tiny: Path) -> None:
    lists = tiny / "ucfTrainTestlist"
    assert sorted(p.name for p in lists.iterdir()) == sorted(
        ["classInd.txt"] + [f"{k}list0{s}.txt" for k in ("train", "test") for s in (1, 2, 3)])
    names = list(MOTIONS)[:3]
    assert (lists / "classInd.txt").read_text() == "".join(f"{i + 1} {n}\n" for i, n in enumerate(names))
    for line in (lists / "trainlist01.txt").read_text().splitlines():
        path, label = line.split(" ")
        folder, file = path.split("/")
        assert re.fullmatch(rf"v_{folder}_g\d\d_c\d\d\.avi", file) and int(label) == names.index(folder) + 1
        assert (tiny / path).is_file()
    for line in (lists / "testlist01.txt").read_text().splitlines():
        assert " " not in line and (tiny / line).is_file()
    videos = sorted(p.relative_to(tiny).as_posix() for p in tiny.rglob("*.avi"))
    assert len(videos) == 3 * 6


@pytest.mark.parametrize("split", [1, 2, 3])
def test_splits_are_by_group_and_read_by_the_ucf101_parser(tiny: Path, split: int) -> None:
    train = load_video_list("ucf101", tiny, split=split, subset="train")
    test = load_video_list("ucf101", tiny, split=split, subset="test")
    assert train.class_names == test.class_names == list(MOTIONS)[:3]
    assert len(train) + len(test) == 18 and len(test) > 0 and len(train) > 0
    for cls in range(3):  # no (class, group) in both train and test
        train_groups = {_group(e.video_id) for e in train.entries if e.label == cls}
        test_groups = {_group(e.video_id) for e in test.entries if e.label == cls}
        assert train_groups and test_groups and not train_groups & test_groups
    assert len(all_videos("ucf101", tiny)) == 18


def test_read_back_by_the_ucf101_dataset(tiny: Path) -> None:
    videos = load_video_list("ucf101", tiny, subset="train")
    source = RawVideoSource(tiny, count_frames=True)
    for entry in videos.entries:
        assert TINY.frames_min <= source.num_frames(entry.video_id) <= TINY.frames_max
    dataset = VideoDataset(videos, {"rgb": source}, train=True, clip_len=4, views=2, size=16, strict=True)
    sample = dataset[1]
    assert [v.shape for v in sample["rgb"]] == [(3, 4, 16, 16)] * 2
    assert sample["label"] == videos.entries[1].label and sample["video_id"] == videos.entries[1].video_id
    frames = source.read(videos.entries[0].video_id, [0])
    assert frames.shape == (1, 24, 32, 3) and frames.dtype == np.uint8


def test_same_seed_same_bytes_other_seed_other_bytes(tiny: Path, tmp_path: Path) -> None:
    again = generate_synthetic_ucf(tmp_path / "again", TINY).root
    other = generate_synthetic_ucf(tmp_path / "other", SynthVideoConfig(**{**TINY.__dict__, "seed": 8})).root
    files = sorted(p.relative_to(tiny) for p in tiny.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(again) for p in again.rglob("*") if p.is_file())
    assert all((tiny / f).read_bytes() == (again / f).read_bytes() for f in files)
    assert any((tiny / f).read_bytes() != (other / f).read_bytes() for f in files if f.suffix == ".avi")


def _mean_motion(motion: str, seed: int) -> tuple[float, float, float, float]:
    """Object motion in a rendered clip, from its DIS flow: (mean dx, mean dy, rotation, expansion).

    With ``r`` the pixel's offset from the object's centroid and ``f`` its flow, rotation is
    ``mean(r x f) / mean(|r|^2)`` (rad/frame, > 0 clockwise on screen, y down) and expansion
    ``mean(r . f) / mean(|r|^2)`` (> 0 growing).
    """
    frames, alphas = render_clip_and_masks(motion, 16, 64, 48, np.random.default_rng(seed))
    flow = compute_video_flow(frames, "dis")  # (15, H, W, 2): field t at frame t's pixels
    y, x = np.mgrid[0:48, 0:64].astype(np.float32)
    sums = np.zeros(5)
    for t in range(15):
        inside = alphas[t] > 0.5
        assert inside.sum() > 20, f"{motion}: no object in frame {t}"
        rx, ry = x[inside] - x[inside].mean(), y[inside] - y[inside].mean()
        dx, dy = flow[t][inside].T
        sums += [dx.mean(), dy.mean(), (rx * dy - ry * dx).mean(), (rx * dx + ry * dy).mean(),
                 (rx**2 + ry**2).mean()]
    mean_dx, mean_dy, cross, dot, radius2 = sums / 15
    return mean_dx, mean_dy, cross / radius2, dot / radius2


@pytest.mark.parametrize("seed", [0, 1])
def test_the_class_is_the_motion(seed: int) -> None:
    dx, dy, _, _ = _mean_motion("TranslateRight", seed)
    assert dx > 0.3 and abs(dy) < dx / 2
    dx, dy, _, _ = _mean_motion("TranslateUp", seed)
    assert dy < -0.3 and abs(dx) < -dy / 2
    assert _mean_motion("RotateClockwise", seed)[2] > 0 > _mean_motion("RotateCounterclockwise", seed)[2]
    assert _mean_motion("ZoomIn", seed)[3] > 0 > _mean_motion("ZoomOut", seed)[3]


def test_appearance_is_random_per_clip(tiny: Path) -> None:
    first = [cv2.VideoCapture(str(p)).read()[1] for p in sorted((tiny / "TranslateRight").glob("*.avi"))]
    assert len(first) == 6
    for i in range(len(first)):
        for j in range(i + 1, len(first)):
            assert np.abs(first[i].astype(int) - first[j].astype(int)).mean() > 5


def test_cli_writes_the_dataset_and_rejects_bad_arguments(tmp_path: Path, capsys) -> None:
    out = tmp_path / "cli"
    assert cli.main(["synth", "video", str(out), "--classes", "2", "--per-class", "4", "--frames", "6",
                     "--size", "32x24", "--seed", "3"]) == 0
    assert len(list(out.rglob("*.avi"))) == 8
    capture = cv2.VideoCapture(str(next(out.rglob("*.avi"))))
    assert int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) == 6
    assert int(capture.get(cv2.CAP_PROP_FRAME_WIDTH)) == 32
    assert cli.main(["synth", "video", str(tmp_path / "bad"), "--classes", "99"]) == 2
    assert "classes=99" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli.main(["synth", "video", str(tmp_path / "bad"), "--size", "big"])


def test_rewrites_its_own_output_only(tmp_path: Path) -> None:
    small = SynthVideoConfig(classes=2, per_class=4, clips_per_group=2, frames_min=4, frames_max=4,
                             width=16, height=16)
    out = tmp_path / "ds"
    generate_synthetic_ucf(out, SynthVideoConfig(**{**small.__dict__, "per_class": 6}))
    generate_synthetic_ucf(out, small)  # fewer clips: the old extra clips must not linger
    assert len(list(out.rglob("*.avi"))) == 8
    stamp = {p: p.stat().st_mtime_ns for p in out.rglob("*.avi")}
    generate_synthetic_ucf(out, small, reuse=True)  # same config, complete: kept as is
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*.avi")} == stamp
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "thesis.tex").write_text("precious")
    with pytest.raises(FileExistsError, match="not written by"):
        generate_synthetic_ucf(foreign, small)
    assert (foreign / "thesis.tex").read_text() == "precious"


def test_appearance_pool_shares_looks_across_classes(tmp_path):
    """With a pool, clips of different motions reuse the same background; motion still differs."""
    import numpy as np

    from vimix_ssl.data.synthetic_video import SynthVideoConfig, generate_synthetic_ucf
    from vimix_ssl.data.video import read_all_frames

    cfg = SynthVideoConfig(classes=4, per_class=4, frames_min=6, frames_max=6, width=32, height=24,
                           appearance_pool=1)
    result = generate_synthetic_ucf(tmp_path / "pool", cfg)
    clips = [read_all_frames(result.root / p) for p in result.train[:6]]
    corners = np.stack([c[0, :3, :3].astype(float) for c in clips])  # background corner, frame 0
    assert np.abs(corners - corners[0]).max() < 20  # one look (up to MJPG noise) everywhere
    fresh = generate_synthetic_ucf(tmp_path / "fresh", SynthVideoConfig(
        classes=4, per_class=4, frames_min=6, frames_max=6, width=32, height=24))
    fresh_corners = np.stack([read_all_frames(fresh.root / p)[0, :3, :3].astype(float)
                              for p in fresh.train[:6]])
    assert np.abs(fresh_corners - fresh_corners[0]).max() > 40


def test_look_settings_flatten_the_background_and_contrast_the_object() -> None:
    """Contrast 0 gives a flat background; a contrasting object has the complementary mean colour."""
    rng, look = np.random.default_rng(3), np.random.default_rng(4)
    frames, alphas = render_clip_and_masks("TranslateRight", 6, 64, 48, rng, look, background_contrast=0.0,
                                           sprite_contrast=0.0, contrasting_sprite=True)
    background = frames[alphas < 0.01].astype(float)  # (N, 3) pixels without any object
    sprite = frames[alphas > 0.99].astype(float)
    assert background.std(axis=0).max() < 1.0 and sprite.std(axis=0).max() < 1.0
    np.testing.assert_allclose(sprite.mean(axis=0), 255 - background.mean(axis=0), atol=1.5)
    full = render_clip_and_masks("TranslateRight", 6, 64, 48, np.random.default_rng(3),
                                 np.random.default_rng(4))[0]
    assert full[alphas < 0.01].astype(float).std(axis=0).max() > 10  # default: textured


def _first_frames(result, class_name: str) -> np.ndarray:
    from vimix_ssl.data.video import read_all_frames

    paths = [p for p in result.train + result.test if p.startswith(f"{class_name}/")]
    return np.stack([read_all_frames(result.root / p)[0].astype(float) for p in paths])  # (N, H, W, 3)


def _agreement(frames: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Per frame, the fraction of pixels within 20 levels of ``reference`` (MJPG noise, object)."""
    return (np.abs(frames - reference).max(axis=-1) < 20).mean(axis=(-2, -1))


def test_scene_cue_gives_each_class_its_scene(tmp_path: Path) -> None:
    # one look for every clip: without its class's scene, every clip has the same background
    base = dict(classes=3, per_class=8, frames_min=6, frames_max=6, width=32, height=24, appearance_pool=1)
    always = generate_synthetic_ucf(tmp_path / "always", SynthVideoConfig(**base, scene_cue=1.0))
    frames = [_first_frames(always, name) for name in always.classes]
    scenes = [np.median(f, axis=0) for f in frames]  # the object moves: the median is the scene
    for f, scene in zip(frames, scenes):  # every clip of a class in the class's scene ...
        assert _agreement(f, scene).min() > 0.8  # the object covers the rest
    for a in range(3):  # ... and every other class in another one
        for b in range(a + 1, 3):
            assert _agreement(scenes[a], scenes[b]) < 0.6
    half = generate_synthetic_ucf(tmp_path / "half", SynthVideoConfig(**base, scene_cue=0.5))
    in_scene = (_agreement(_first_frames(half, half.classes[0]), scenes[0]) > 0.8).sum()
    assert 1 <= in_scene <= 7  # some clips of the class in its scene, not all
    with pytest.raises(ValueError, match="scene_cue"):
        SynthVideoConfig(scene_cue=1.5).validate()


def test_cli_passes_the_look_settings(tmp_path: Path) -> None:
    import json

    out = tmp_path / "look"
    assert cli.main(["synth", "video", str(out), "--classes", "2", "--per-class", "4", "--frames", "6",
                     "--size", "32x24", "--background-contrast", "0.3", "--sprite-contrast", "0.2",
                     "--contrasting-sprite", "--scene-cue", "0.5"]) == 0
    config = json.loads((out / ".vimix_synth_video.json").read_text())["config"]
    assert (config["background_contrast"], config["sprite_contrast"], config["contrasting_sprite"],
            config["scene_cue"]) == (0.3, 0.2, True, 0.5)
