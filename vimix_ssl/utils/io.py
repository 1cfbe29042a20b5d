"""Atomic file writes: a crash mid-write never leaves a truncated file where a good one was.

A write goes to a temporary file beside the target, named ``.<name>.<pid>-<random>.tmp``,
which is fsynced and renamed over the target. The temporary file is created with mode
``0o666`` filtered by the process umask (as ``open()`` does), so the written file has the
permissions the user's umask asks for, not ``mkstemp``'s private ``0o600``.

A process killed mid-write (``kill -9``, power loss) leaves its temporary file behind; the
pid in its name makes it findable: :func:`remove_stale_temps` deletes those whose writer
is no longer running (called by the ``prepare`` commands at start, and by
``save_checkpoint`` for the checkpoint it replaces).
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import re
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

# .<target name>.<writer pid>-<random hex>.tmp
_TEMP_NAME = re.compile(r"^\.(?P<target>.+)\.(?P<pid>\d+)-[0-9a-f]{8}\.tmp$")
FINGERPRINT_BLOCK = 1 << 20  # bytes hashed at each end of a file by `file_fingerprint`


def temp_name(path: Path) -> Path:
    """A fresh temporary path beside ``path`` in the naming scheme above."""
    return path.parent / f".{path.name}.{os.getpid()}-{secrets.token_hex(4)}.tmp"


def _create_exclusive(path: Path) -> None:
    # mode 0o666 & ~umask, as a plain open() would create it
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))


def _with_filename(error: OSError, path: Path, replace: bool = False) -> OSError:
    """``error`` naming ``path`` (a failed write(2) carries no file name; ``replace``: the temp's name)."""
    if error.filename is not None and not replace:
        return error
    named = type(error)(error.errno, error.strerror or os.strerror(error.errno or 0), str(path))
    named.__cause__ = error
    return named


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """A temporary path beside ``path`` to write to; on success fsync it and rename it over ``path``.

    For writers that need a file name (memory maps, libraries). On any exception the
    temporary file is removed and ``path`` is left untouched; an ``OSError`` (e.g. ENOSPC,
    EACCES) names ``path``.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = temp_name(path)
        _create_exclusive(tmp)
    except OSError as e:
        raise _with_filename(e, path, replace=True) from e
    try:
        yield tmp
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as e:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        if isinstance(e, OSError):
            raise _with_filename(e, path, replace=str(e.filename or "") == str(tmp)) from e
        raise


@contextlib.contextmanager
def atomic_open(path: str | Path, mode: str = "wb") -> Iterator[IO[Any]]:
    """Open a temporary file beside ``path``; on success fsync and rename it over ``path``.

    On any exception the temporary file is removed and ``path`` is left untouched.
    """
    with atomic_path(path) as tmp, open(tmp, mode, **({} if "b" in mode else {"encoding": "utf-8"})) as f:
        yield f


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    with atomic_open(path, "wb") as f:
        f.write(data)


def atomic_write_text(path: str | Path, text: str) -> None:
    with atomic_open(path, "w") as f:
        f.write(text)


def atomic_write_json(path: str | Path, obj: Any) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=False) + "\n")


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's live process
        return True
    return True


def stale_temps(directory: str | Path, target: str | None = None) -> list[Path]:
    """Temporary files under ``directory`` (recursively) left by writers that are no longer running.

    ``target``: only those of that file name, directly in ``directory``.
    """
    directory = Path(directory)
    if not directory.is_dir():
        return []
    candidates = directory.glob(f".{target}.*.tmp") if target else directory.rglob(".*.tmp")
    found = []
    for candidate in candidates:
        match = _TEMP_NAME.match(candidate.name)
        if match and candidate.is_file() and not _pid_alive(int(match["pid"])):
            found.append(candidate)
    return sorted(found)


def remove_stale_temps(directory: str | Path, target: str | None = None) -> list[Path]:
    """Delete the files :func:`stale_temps` finds; returns them."""
    removed = []
    for path in stale_temps(directory, target):
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
            removed.append(path)
    return removed


def file_sha256(path: str | Path, chunk: int = 1 << 20) -> str:
    """Hex SHA-256 of a file's bytes (used to key feature caches)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def file_fingerprint(path: str | Path, block: int = FINGERPRINT_BLOCK,
                     middle: bool = False) -> dict[str, Any]:
    """What identifies a source file's content cheaply: size, mtime and a content hash.

    The hash is SHA-256 of the size and the first and last ``block`` bytes (with ``middle``,
    also the ``block`` bytes around the middle), or of the whole file when it is no longer
    than those blocks: a replaced or truncated file changes it, and reading it costs at most
    2 or 3 blocks whatever the file size. ``source_unchanged`` compares a file with one.
    """
    path = Path(path)
    stat = path.stat()
    h = hashlib.sha256(str(stat.st_size).encode())
    blocks = 3 if middle else 2
    with open(path, "rb") as f:
        if stat.st_size <= blocks * block:
            h.update(f.read())
        else:
            offsets = [0] + ([stat.st_size // 2 - block // 2] if middle else []) + [stat.st_size - block]
            for offset in offsets:
                f.seek(offset)
                h.update(f.read(block))
    return {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "sha256_ends": h.hexdigest()}


def source_unchanged(recorded: Any, path: str | Path) -> bool:
    """True if ``path`` still holds the content a recorded :func:`file_fingerprint` describes.

    A different size means changed; the same size and mtime means unchanged without reading
    the file (the fast path of a rerun); otherwise the content hash decides, so a ``touch``
    or a copy of the same bytes is not a change.
    """
    if not isinstance(recorded, dict):
        return False
    try:
        stat = Path(path).stat()
    except OSError:
        return False
    if recorded.get("size") != stat.st_size:
        return False
    if recorded.get("mtime_ns") == stat.st_mtime_ns:
        return True
    return recorded.get("sha256_ends") == file_fingerprint(path)["sha256_ends"]


def is_disk_full(error: BaseException) -> bool:
    return isinstance(error, OSError) and error.errno in (errno.ENOSPC, errno.EDQUOT)
