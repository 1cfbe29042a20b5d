"""Synthetic NTU-format skeletons: real format, deterministic, both splits, learnable classes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from vimix_ssl import cli
from vimix_ssl.data.skeleton.ntu import parse_ntu_name
from vimix_ssl.data.skeleton.parser import read_skeleton
from vimix_ssl.data.skeleton.prepare import NtuPrepareConfig, prepare_ntu
from vimix_ssl.data.skeleton.synthetic import SyntheticSkeletonConfig, write_synthetic_skeletons


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory) -> tuple[Path, Path, dict]:
    raw = tmp_path_factory.mktemp("synth_raw")
    code = cli.main(["synth", "skeleton", str(raw), "--classes", "8", "--per-class", "24", "--seed", "3"])
    assert code == 0
    out = tmp_path_factory.mktemp("synth_prepared")
    manifest = prepare_ntu(raw, out, config=NtuPrepareConfig(max_frames=100), workers=1)
    return raw, out, manifest


def test_files_have_ntu_names_and_parse_with_the_real_parser(synthetic):
    raw, _, _ = synthetic
    files = sorted(raw.glob("*.skeleton"))
    assert len(files) == 8 * 24
    line_endings, body_counts, empty_lead = set(), set(), 0
    for path in files:
        name = parse_ntu_name(path)
        assert 1 <= name.action <= 8
        sequence = read_skeleton(path, all_fields=True)
        assert 40 <= (sequence.bodies_per_frame > 0).sum() <= 80
        body_counts.add(sequence.max_bodies)
        empty_lead += int(sequence.bodies_per_frame[0] == 0)
        line_endings.add(b"\r\n" in path.read_bytes()[:20])
        assert 2.0 < np.median(sequence.xyz[sequence.bodies_per_frame > 0, 0, :, 2]) < 4.5  # metres away
    assert body_counts == {1, 2} and line_endings == {True, False} and empty_lead > 0


def test_both_benchmarks_have_both_splits_with_every_class(synthetic):
    _, out, manifest = synthetic
    assert manifest["num_classes"] == 60 and manifest["counts"]["usable"] == 192
    for benchmark, parts in manifest["benchmarks"].items():
        for split, entry in parts.items():
            labels = np.load(out / entry["label"])
            assert set(labels.tolist()) == set(range(8)), (benchmark, split)


def test_deterministic_per_seed(tmp_path):
    config = SyntheticSkeletonConfig(classes=2, per_class=3, min_frames=10, max_frames=12, seed=5)
    first = [p.read_bytes() for p in write_synthetic_skeletons(tmp_path / "a", config)]
    again = [p.read_bytes() for p in write_synthetic_skeletons(tmp_path / "b", config)]
    config.seed = 6
    other = [p.read_bytes() for p in write_synthetic_skeletons(tmp_path / "c", config)]
    assert first == again and first != other


def test_too_many_classes_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match="classes must be in 1..10"):
        write_synthetic_skeletons(tmp_path, SyntheticSkeletonConfig(classes=11))


def _nearest_centroid_accuracy(out: Path, entry_train: dict, entry_test: dict, classes: int) -> float:
    train = np.load(out / entry_train["frame50"]).reshape(entry_train["num_samples"], -1)
    test = np.load(out / entry_test["frame50"]).reshape(entry_test["num_samples"], -1)
    train_labels, test_labels = np.load(out / entry_train["label"]), np.load(out / entry_test["label"])
    centroids = np.stack([train[train_labels == c].mean(axis=0) for c in range(classes)])
    predicted = ((test[:, None] - centroids[None]) ** 2).sum(axis=-1).argmin(axis=1)
    return float((predicted == test_labels).mean())


def test_nearest_centroid_on_frame50_joints_beats_chance_clearly(synthetic):
    _, out, manifest = synthetic
    chance = 1 / 8
    for benchmark, parts in manifest["benchmarks"].items():
        accuracy = _nearest_centroid_accuracy(out, parts["train"], parts["test"], 8)
        print(f"synthetic {benchmark}: nearest-centroid accuracy {accuracy:.3f} (chance {chance:.3f})")
        assert accuracy >= 3 * chance, (benchmark, accuracy)
