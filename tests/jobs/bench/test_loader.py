"""The loader benchmark finds the UCF101 sample clips through VIMIX_REAL_DATA only and says when absent."""

from __future__ import annotations

from pathlib import Path

from vimix_ssl.jobs.bench import loader


def test_no_variable_means_no_clips_even_beside_a_shared_folder(monkeypatch):
    # A sibling shared/data/real next to the checkout (as CI keeps it) must not be picked up.
    sibling = Path(loader.__file__).resolve().parents[3] / "shared" / "data" / "real"
    monkeypatch.delenv(loader.REAL_DATA_VARIABLE, raising=False)
    clips, note = loader._real_clips()
    assert clips == []
    assert "ABSENT" in note and "VIMIX_REAL_DATA is not set" in note and "docs/TESTING.md" in note
    assert str(sibling) not in note


def test_a_folder_without_clips_is_named(monkeypatch, tmp_path):
    monkeypatch.setenv(loader.REAL_DATA_VARIABLE, str(tmp_path))
    clips, note = loader._real_clips()
    assert clips == []
    assert "ABSENT" in note and str(tmp_path / "ucf101" / "videos") in note


def test_the_clips_come_from_the_variable(monkeypatch, tmp_path):
    videos = tmp_path / "ucf101" / "videos"
    videos.mkdir(parents=True)
    for name in ("b.avi", "a.avi", "notes.txt"):
        (videos / name).write_bytes(b"")
    monkeypatch.setenv(loader.REAL_DATA_VARIABLE, str(tmp_path))
    clips, note = loader._real_clips()
    assert clips == [videos / "a.avi", videos / "b.avi"]
    assert "ABSENT" not in note and "2 from" in note


def test_the_real_samples_are_found(real_data, monkeypatch):
    monkeypatch.setenv(loader.REAL_DATA_VARIABLE, str(real_data))
    clips, _ = loader._real_clips()
    assert clips and all(c.suffix == ".avi" and c.parent == real_data / "ucf101" / "videos" for c in clips)
