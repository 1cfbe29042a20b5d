"""Parser for the NTU RGB+D ``.skeleton`` text format (Kinect v2 body frames).

Layout (one value group per line; CRLF or LF)::

    <frame count>
    per frame:  <body count>
      per body: <10-field body info>   bodyID clippedEdges handLeftConfidence handLeftState
                                       handRightConfidence handRightState isRestricted leanX leanY
                                       trackingState
                <joint count = 25>
                25 x <12 values>       x y z depthX depthY colorX colorY orientW orientX orientY
                                       orientZ trackingState

Speed: the structure is walked over line indices only (a few Python operations per body);
all joint lines of a file are converted to floats in one NumPy call. Only when that bulk
conversion fails is the file re-scanned line by line to name the offending line.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

NUM_JOINTS = 25
BODY_INFO_FIELDS = 10
JOINT_FIELDS = 12
BodySelect = Literal["first", "active"]


class SkeletonParseError(ValueError):
    """A ``.skeleton`` file does not follow the format; names the file and the 1-based line."""

    def __init__(self, path: str | Path, line: int, message: str) -> None:
        self.path = str(path)
        self.line = line
        super().__init__(f"{path}:{line}: {message}")


@dataclass
class SkeletonSequence:
    """One parsed file. Bodies are indexed by their position within each frame ("slot")."""

    path: str
    bodies_per_frame: np.ndarray  # (T,) int64, bodies listed in each frame
    body_ids: list[list[str]]  # per frame, the tracking id of each listed body
    joints: np.ndarray  # (T, B_max, 25, F) float64, F = 3 (xyz) or 12 (all fields); absent slots 0

    @property
    def num_frames(self) -> int:
        return int(self.bodies_per_frame.shape[0])

    @property
    def max_bodies(self) -> int:
        return int(self.joints.shape[1])

    @property
    def xyz(self) -> np.ndarray:
        """(T, B_max, 25, 3) camera coordinates in metres."""
        return self.joints[..., :3]


def _fail_at(path: Path, lines: list[bytes], index: int, message: str) -> SkeletonParseError:
    if index >= len(lines):
        return SkeletonParseError(path, len(lines) + 1, f"unexpected end of file: {message}")
    return SkeletonParseError(path, index + 1, message)


def _read_int(path: Path, lines: list[bytes], index: int, what: str) -> int:
    if index >= len(lines):
        raise _fail_at(path, lines, index, f"expected {what}")
    raw = lines[index].strip()
    try:
        return int(raw)
    except ValueError:
        raise SkeletonParseError(path, index + 1, f"expected {what} (an integer), got {raw[:60]!r}") from None


def _locate_bad_joint_line(path: Path, lines: list[bytes], starts: list[int]) -> SkeletonParseError:
    """Slow path: find the first joint line that is not 12 finite numbers."""
    for start in starts:
        for i in range(start, start + NUM_JOINTS):
            fields = lines[i].split()
            if len(fields) != JOINT_FIELDS:
                return SkeletonParseError(
                    path, i + 1, f"joint line has {len(fields)} fields, expected {JOINT_FIELDS}")
            try:
                values = [float(v) for v in fields]
            except ValueError:
                return SkeletonParseError(path, i + 1, f"non-numeric joint value in {lines[i][:80]!r}")
            if not all(np.isfinite(values)):
                return SkeletonParseError(path, i + 1, f"non-finite joint value in {lines[i][:80]!r}")
    return SkeletonParseError(path, 1, "joint values could not be read (no single bad line found)")


def read_skeleton(path: str | Path, *, all_fields: bool = False) -> SkeletonSequence:
    """Parse one ``.skeleton`` file; raise :class:`SkeletonParseError` on malformed input."""
    path = Path(path)
    lines = path.read_bytes().splitlines()  # handles \n, \r\n and \r
    num_frames = _read_int(path, lines, 0, "the frame count")
    if num_frames < 0:
        raise SkeletonParseError(path, 1, f"negative frame count {num_frames}")
    bodies_per_frame = np.zeros(num_frames, dtype=np.int64)
    body_ids: list[list[str]] = []
    starts: list[int] = []  # line index of each body's first joint line
    slots: list[tuple[int, int]] = []  # (frame, slot) of each body
    i = 1
    for frame in range(num_frames):
        count = _read_int(path, lines, i, f"the body count of frame {frame + 1}/{num_frames}")
        if count < 0:
            raise SkeletonParseError(path, i + 1, f"negative body count {count}")
        bodies_per_frame[frame] = count
        i += 1
        ids = []
        for slot in range(count):
            if i >= len(lines):
                raise _fail_at(path, lines, i, f"body info of frame {frame + 1}, body {slot + 1}")
            info = lines[i].split()
            if len(info) != BODY_INFO_FIELDS:
                raise SkeletonParseError(
                    path, i + 1, f"body info line has {len(info)} fields, expected {BODY_INFO_FIELDS}")
            ids.append(info[0].decode("ascii", "replace"))
            joint_count = _read_int(path, lines, i + 1, "the joint count")
            if joint_count != NUM_JOINTS:
                raise SkeletonParseError(path, i + 2, f"joint count {joint_count}, expected {NUM_JOINTS}")
            if i + 2 + NUM_JOINTS > len(lines):
                raise _fail_at(path, lines, len(lines),
                               f"frame {frame + 1} body {slot + 1} needs {NUM_JOINTS} joint lines")
            starts.append(i + 2)
            slots.append((frame, slot))
            i += 2 + NUM_JOINTS
        body_ids.append(ids)
    for j in range(i, len(lines)):
        if lines[j].strip():
            raise SkeletonParseError(path, j + 1, f"trailing data after the last frame: {lines[j][:60]!r}")

    max_bodies = int(bodies_per_frame.max()) if num_frames else 0
    width = JOINT_FIELDS if all_fields else 3
    joints = np.zeros((num_frames, max_bodies, NUM_JOINTS, width), dtype=np.float64)
    if starts:
        values = _bulk_joint_values(path, lines, starts)  # (bodies, 25, 12)
        frames, slot_index = np.array(slots).T
        joints[frames, slot_index] = values[..., :width]
    return SkeletonSequence(str(path), bodies_per_frame, body_ids, joints)


def _bulk_joint_values(path: Path, lines: list[bytes], starts: list[int]) -> np.ndarray:
    """All joint lines as one (bodies, 25, 12) float64 array, validated line by line."""
    rows = [lines[k].split() for s in starts for k in range(s, s + NUM_JOINTS)]
    try:
        values = np.array(rows, dtype=np.float64)
    except ValueError:  # ragged rows or a non-numeric token
        raise _locate_bad_joint_line(path, lines, starts) from None
    if values.ndim != 2 or values.shape[1] != JOINT_FIELDS or not np.isfinite(values).all():
        raise _locate_bad_joint_line(path, lines, starts)
    return values.reshape(len(starts), NUM_JOINTS, JOINT_FIELDS)


def body_activity(xyz: np.ndarray) -> np.ndarray:
    """Per slot, sum over x, y, z of the std of the coordinates over its present frames and joints.

    ``xyz``: (T, B, 25, 3). A slot present in no frame gets activity 0. This is the
    ST-GCN/mmskeleton ``get_nonzero_std`` criterion for choosing the most active bodies.
    """
    activity = np.zeros(xyz.shape[1], dtype=np.float64)
    for b in range(xyz.shape[1]):
        body = xyz[:, b]  # (T, 25, 3)
        present = body[np.abs(body).sum(axis=(1, 2)) != 0]
        if len(present):
            activity[b] = present.reshape(-1, 3).std(axis=0).sum()
    return activity


def select_bodies(sequence: SkeletonSequence, max_bodies: int = 2,
                  body_select: BodySelect = "first") -> np.ndarray:
    """Keep ``max_bodies`` slots: (T, max_bodies, 25, 3) float64, absent bodies zero.

    ``first``: the first ``max_bodies`` bodies listed in each frame (the ST-GCN/CrosSCLR
    convention). ``active``: the ``max_bodies`` slots with the largest :func:`body_activity`
    (mmskeleton's criterion), kept in their listing order, so it differs from ``first`` only
    when some frame lists more than ``max_bodies`` bodies.
    """
    xyz = sequence.xyz
    if body_select == "first":
        chosen = list(range(min(max_bodies, xyz.shape[1])))
    elif body_select == "active":
        order = np.argsort(-body_activity(xyz), kind="stable")
        chosen = sorted(int(b) for b in order[:max_bodies])
    else:
        raise ValueError(f"body_select must be 'first' or 'active', got {body_select!r}")
    out = np.zeros((xyz.shape[0], max_bodies, NUM_JOINTS, 3), dtype=np.float64)
    out[:, :len(chosen)] = xyz[:, chosen]
    return out
