"""Atomic writes honour the umask, name the target on failure, and leave findable temp files."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from vimix_ssl.utils.checkpoint import save_checkpoint
from vimix_ssl.utils.io import (
    atomic_open,
    atomic_write_text,
    file_fingerprint,
    remove_stale_temps,
    source_unchanged,
    stale_temps,
    temp_name,
)


@pytest.fixture
def umask():
    """Set the process umask for one test, restore it after."""
    previous = os.umask(0o022)
    os.umask(previous)
    yield lambda value: os.umask(value)
    os.umask(previous)


@pytest.mark.parametrize("mask, mode", [(0o022, 0o644), (0o002, 0o664), (0o077, 0o600)])
def test_atomic_writes_get_the_umask_mode(tmp_path, umask, mask, mode):
    """Issue 18 trial 12: every atomically written file was 0600 whatever the umask."""
    umask(mask)
    atomic_write_text(tmp_path / "config.yaml", "a: 1\n")
    save_checkpoint(tmp_path / "checkpoint.pt", {"w": torch.ones(2)})
    plain = tmp_path / "plain.txt"
    plain.write_text("x")  # what open() gives, the reference
    for name in ("config.yaml", "checkpoint.pt"):
        assert (tmp_path / name).stat().st_mode & 0o777 == mode == plain.stat().st_mode & 0o777, name


def test_a_failed_write_names_the_target_and_leaves_nothing(tmp_path):
    target = tmp_path / "out.bin"
    with pytest.raises(OSError) as info, atomic_open(target, "wb"):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))  # a write(2) error carries no file name
    assert info.value.errno == errno.ENOSPC and info.value.filename == str(target)
    assert list(tmp_path.iterdir()) == []


def test_temp_names_carry_the_writer_pid(tmp_path):
    name = temp_name(tmp_path / "video.frames").name
    assert name.startswith(".video.frames.") and name.endswith(".tmp") and f".{os.getpid()}-" in name


def test_stale_temps_of_dead_writers_are_removed_live_ones_kept(tmp_path):
    """Issue 18 trial 11: orphan .tmp files of a killed run were never cleaned up."""
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True, check=True)
    dead_pid = int(dead.stdout)  # that process has exited
    (tmp_path / "frames" / "A").mkdir(parents=True)
    orphan = tmp_path / "frames" / "A" / f".v.frames.{dead_pid}-0123abcd.tmp"
    orphan.write_bytes(b"partial")
    live = tmp_path / "frames" / f".w.frames.{os.getpid()}-89abcdef.tmp"  # being written by us
    live.write_bytes(b"in progress")
    user = tmp_path / "frames" / ".notes.tmp"  # not our naming scheme: never touched
    user.write_text("mine")
    assert stale_temps(tmp_path) == [orphan]
    assert remove_stale_temps(tmp_path) == [orphan]
    assert not orphan.exists() and live.exists() and user.exists()


def test_a_checkpoint_save_removes_the_partial_file_of_a_killed_save(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True, check=True)
    orphan = tmp_path / f".checkpoint.pt.{int(dead.stdout)}-0123abcd.tmp"
    orphan.write_bytes(b"x" * 1000)
    other = tmp_path / f".metrics.jsonl.{int(dead.stdout)}-0123abcd.tmp"  # another file's: not this save's
    other.write_bytes(b"y")
    save_checkpoint(tmp_path / "checkpoint.pt", {"w": torch.zeros(1)})
    assert not orphan.exists() and other.exists()


def test_fingerprint_sees_content_not_timestamps(tmp_path):
    path = tmp_path / "video.avi"
    path.write_bytes(b"a" * 3000)
    recorded = file_fingerprint(path)
    assert recorded["size"] == 3000 and source_unchanged(recorded, path)
    os.utime(path, ns=(1, 1))
    assert source_unchanged(recorded, path)  # touched: same bytes, other mtime -> the hash says unchanged
    path.write_bytes(b"a" * 2999 + b"b")  # same size, last byte changed
    assert not source_unchanged(recorded, path)
    path.write_bytes(b"a" * 10)
    assert not source_unchanged(recorded, path)  # size differs
    assert not source_unchanged(None, path) and not source_unchanged(recorded, tmp_path / "gone.avi")


def test_fingerprint_reads_only_the_ends_of_a_large_file(tmp_path):
    path = tmp_path / "big.bin"
    data = bytearray(os.urandom(5 << 20))
    path.write_bytes(bytes(data))
    first = file_fingerprint(path)
    data[(5 << 20) // 2] ^= 0xFF  # a change in the middle is not seen (documented: a fast fingerprint)
    path.write_bytes(bytes(data))
    assert file_fingerprint(path)["sha256_ends"] == first["sha256_ends"]
    data[-1] ^= 0xFF
    path.write_bytes(bytes(data))
    assert file_fingerprint(path)["sha256_ends"] != first["sha256_ends"]


def test_paths_are_plain_strings_in_fingerprints(tmp_path):
    (tmp_path / "x").write_bytes(b"1")
    assert set(file_fingerprint(Path(tmp_path / "x"))) == {"size", "mtime_ns", "sha256_ends"}
