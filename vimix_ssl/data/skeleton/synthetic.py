"""Synthetic NTU-style skeleton dataset written in the real ``.skeleton`` text format.

Each class is a motion of a simple 25-joint kinematic body (NTU joint order). Per sample the
body size, speed, phase, position, camera rotation about y and sensor noise are random;
about a quarter of the samples add a second, idly swaying person (listed second), and some
start with frames that list no body. Names are ``SsssCcccPpppRrrrAaaa`` with performers
alternating between the xsub train and test sets and cameras 1-3, so ``vimix prepare ntu``
and both benchmarks apply unchanged. Deterministic per seed.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vimix_ssl.data.skeleton.ntu import XSUB_TRAIN_PERFORMERS, NtuName
from vimix_ssl.utils.io import atomic_write_bytes, atomic_write_json

MARKER = ".vimix_synth_skeleton.json"  # written first and last: which folder this function owns
MOTIONS: tuple[str, ...] = ("waving", "jumping", "squatting", "punching", "walking", "clapping",
                            "arms_up", "kicking", "bowing", "side_bend")


@dataclass
class SyntheticSkeletonConfig:
    classes: int = 8  # first `classes` of MOTIONS
    per_class: int = 24
    min_frames: int = 40
    max_frames: int = 80
    two_body_fraction: float = 0.25
    empty_lead_fraction: float = 0.1  # samples whose first 1-3 frames list no body
    noise_metres: float = 0.01
    camera_yaw_degrees: float = 45.0  # cameras 2 and 3 at +-this; per-sample jitter +-10
    seed: int = 0


def _direction(forward: np.ndarray, side: np.ndarray, side_sign: float) -> np.ndarray:
    """Unit vectors (T, 3) of a segment raised ``forward`` (towards -z) and ``side`` (outwards) degrees."""
    f, s = np.radians(forward), np.radians(side)
    return np.stack([side_sign * np.sin(s) * np.cos(f), -np.cos(s) * np.cos(f), -np.sin(f)], axis=-1)


def _pose_angles(motion: str, phase: np.ndarray) -> dict[str, np.ndarray]:
    """Segment angles (degrees) per frame for one motion; ``phase`` in cycles, (T,).

    Keys: left/right upper arm and forearm (``lu``, ``lf``, ``ru``, ``rf``), thigh and shin
    (``lt``, ``ls``, ``rt``, ``rs``) with ``_f`` (forward) / ``_s`` (sideways) elevation from
    hanging straight down, torso lean, and ``lift`` (metres above the ground).
    """
    zero, wave = np.zeros_like(phase), np.sin(2 * np.pi * phase)
    a = {k: zero.copy() for k in ("lu_f", "lu_s", "lf_f", "lf_s", "ru_f", "ru_s", "rf_f", "rf_s",
                                  "lt_f", "ls_f", "rt_f", "rs_f", "torso_f", "torso_s", "lift")}
    a["lu_s"] = a["ru_s"] = zero + 10
    a["lf_s"] = a["rf_s"] = zero + 10
    if motion == "waving":
        a["ru_s"], a["rf_s"] = zero + 95, 160 + 25 * wave
    elif motion == "jumping":
        up = np.maximum(0, wave)
        a["lift"] = 0.3 * up
        a["lt_f"] = a["rt_f"] = 40 * np.maximum(0, -wave)
        a["ls_f"] = a["rs_f"] = -80 * np.maximum(0, -wave)
        a["lu_s"] = a["ru_s"] = 20 + 120 * up
        a["lf_s"] = a["rf_s"] = 20 + 130 * up
    elif motion == "squatting":
        depth = 0.5 - 0.5 * np.cos(2 * np.pi * phase)
        a["lt_f"] = a["rt_f"] = 85 * depth
        a["ls_f"] = a["rs_f"] = -95 * depth
        a["lu_f"] = a["ru_f"] = a["lf_f"] = a["rf_f"] = 80 * depth
    elif motion == "punching":
        left, right = np.maximum(0, wave), np.maximum(0, -wave)
        a["lu_f"], a["ru_f"] = zero + 70, zero + 70
        a["lf_f"], a["rf_f"] = 150 - 70 * left, 150 - 70 * right
    elif motion == "walking":
        a["lt_f"], a["rt_f"] = 25 * wave, -25 * wave
        a["ls_f"], a["rs_f"] = -30 * np.maximum(0, -wave), -30 * np.maximum(0, wave)
        a["lu_f"], a["ru_f"] = -20 * wave, 20 * wave
        a["lf_f"], a["rf_f"] = a["lu_f"] + 15, a["ru_f"] + 15
    elif motion == "clapping":
        a["lu_f"] = a["ru_f"] = zero + 50
        a["lf_f"] = a["rf_f"] = zero + 90
        a["lf_s"] = a["rf_s"] = -25 + 35 * (0.5 + 0.5 * wave)
    elif motion == "arms_up":
        a["lu_s"] = a["ru_s"] = a["lf_s"] = a["rf_s"] = 10 + 160 * (0.5 - 0.5 * np.cos(2 * np.pi * phase))
    elif motion == "kicking":
        kick = np.maximum(0, wave)
        a["rt_f"], a["rs_f"] = 75 * kick, -40 * (1 - kick) * (kick > 0)
        a["lu_s"] = a["ru_s"] = zero + 30
    elif motion == "bowing":
        a["torso_f"] = 55 * (0.5 - 0.5 * np.cos(2 * np.pi * phase))
    elif motion == "side_bend":
        a["torso_s"] = 30 * wave
        a["lu_s"], a["ru_s"] = zero + 20 + 15 * wave, zero + 20 - 15 * wave
    elif motion != "idle":
        raise ValueError(f"unknown synthetic motion {motion!r}; expected one of {MOTIONS}")
    return a


def body_pose(motion: str, phase: np.ndarray, scale: float) -> np.ndarray:
    """(T, 25, 3) joints in the body frame (metres, y up, facing -z, feet on y = 0)."""
    a, frames = _pose_angles(motion, phase), len(phase)
    joints = np.zeros((frames, 25, 3))
    hip = np.zeros((frames, 3))
    torso = -_direction(-a["torso_f"], -a["torso_s"], 1.0)  # up, leaning forward (-z) by torso_f
    joints[:, 0] = hip
    joints[:, 1] = hip + torso * 0.25 * scale
    joints[:, 20] = hip + torso * 0.5 * scale
    joints[:, 2] = joints[:, 20] + torso * 0.08 * scale
    joints[:, 3] = joints[:, 2] + torso * 0.14 * scale
    for side_sign, (shoulder, elbow, wrist, hand, tip, thumb), u, f in (
            (1.0, (4, 5, 6, 7, 21, 22), "lu", "lf"), (-1.0, (8, 9, 10, 11, 23, 24), "ru", "rf")):
        joints[:, shoulder] = joints[:, 20] + np.array([side_sign * 0.18 * scale, -0.02, 0])
        upper = _direction(a[f"{u}_f"], a[f"{u}_s"], side_sign)
        fore = _direction(a[f"{f}_f"], a[f"{f}_s"], side_sign)
        joints[:, elbow] = joints[:, shoulder] + upper * 0.28 * scale
        joints[:, wrist] = joints[:, elbow] + fore * 0.25 * scale
        joints[:, hand] = joints[:, wrist] + fore * 0.07 * scale
        joints[:, tip] = joints[:, hand] + fore * 0.06 * scale
        joints[:, thumb] = joints[:, hand] + np.array([0, 0, -0.04 * scale])
    for side_sign, (hip_j, knee, ankle, foot), t, s in (
            (1.0, (12, 13, 14, 15), "lt", "ls"), (-1.0, (16, 17, 18, 19), "rt", "rs")):
        joints[:, hip_j] = hip + np.array([side_sign * 0.09 * scale, -0.05 * scale, 0])
        thigh = _direction(a[f"{t}_f"], 0 * a[f"{t}_f"], side_sign)
        shin = _direction(a[f"{t}_f"] + a[f"{s}_f"], 0 * a[f"{t}_f"], side_sign)  # knee bend s_f < 0
        joints[:, knee] = joints[:, hip_j] + thigh * 0.42 * scale
        joints[:, ankle] = joints[:, knee] + shin * 0.40 * scale
        joints[:, foot] = joints[:, ankle] + np.array([0, -0.03, -0.12 * scale])
    feet = joints[:, [14, 15, 18, 19], 1].min(axis=1)  # lowest foot point per frame -> ground
    joints[..., 1] -= feet[:, None]
    joints[..., 1] += a["lift"][:, None]
    return joints


def _to_camera(joints: np.ndarray, yaw_degrees: float, position: np.ndarray) -> np.ndarray:
    """Rotate body-frame joints (T, 25, 3) about y and place them in camera coordinates."""
    t = np.radians(yaw_degrees)
    rotation = np.array([[np.cos(t), 0, np.sin(t)], [0, 1, 0], [-np.sin(t), 0, np.cos(t)]])
    return joints @ rotation.T + position


def _format_frames(bodies: list[np.ndarray], ids: list[int], empty_lead: int, newline: str) -> str:
    """The ``.skeleton`` text for bodies (each (T, 25, 3) camera coordinates)."""
    frames = bodies[0].shape[0]
    out = [str(frames + empty_lead)]
    out += ["0"] * empty_lead
    for t in range(frames):
        out.append(str(len(bodies)))
        for body, body_id in zip(bodies, ids):
            out.append(f"{body_id} 0 1 1 1 1 0 0.01 0.02 2")
            out.append("25")
            for x, y, z in body[t]:
                depth_x, depth_y = 256 + 365 * x / z, 212 - 365 * y / z
                color_x, color_y = 960 + 1060 * x / z, 540 - 1060 * y / z
                out.append(f"{x:.7g} {y:.7g} {z:.7g} {depth_x:.7g} {depth_y:.7g} {color_x:.7g} "
                           f"{color_y:.7g} 0 0 0 0 2")
    return newline.join(out) + newline


def _performers() -> list[int]:
    """Performers 1-40 alternating xsub train / test, so every class gets both."""
    train = [p for p in range(1, 41) if p in XSUB_TRAIN_PERFORMERS]
    test = [p for p in range(1, 41) if p not in XSUB_TRAIN_PERFORMERS]
    return [p for pair in zip(train, test) for p in pair]


def sample_names(config: SyntheticSkeletonConfig) -> list[tuple[NtuName, str]]:
    """(NTU name, motion) of every sample: camera cycles 1-3, replication 1-2, then performers."""
    if not 1 <= config.classes <= len(MOTIONS):
        raise ValueError(f"classes must be in 1..{len(MOTIONS)} (the motions {MOTIONS}), "
                         f"got {config.classes}")
    performers = _performers()
    out = []
    for label, motion in enumerate(MOTIONS[: config.classes]):
        for k in range(config.per_class):
            group = k // 6
            name = NtuName(setup=group // len(performers) + 1, camera=k % 3 + 1,
                           performer=performers[group % len(performers)], replication=(k // 3) % 2 + 1,
                           action=label + 1)
            out.append((name, motion))
    return out


def _claim_folder(out_dir: Path, config: SyntheticSkeletonConfig) -> None:
    """Refuse a non-empty folder not written by this function; empty an earlier output of it.

    Most default names are real NTU-60 sample names: writing into a folder of real
    ``.skeleton`` files would overwrite them.
    """
    if out_dir.exists() and not out_dir.is_dir():
        raise FileExistsError(f"{out_dir} exists and is not a folder")
    if out_dir.is_dir() and any(out_dir.iterdir()):
        if not (out_dir / MARKER).is_file():
            raise FileExistsError(f"{out_dir} is not empty and was not written by `vimix synth skeleton` "
                                  "(its files could be real NTU samples of the same names); choose a new "
                                  "or empty folder")
        for old in out_dir.glob("*.skeleton"):  # an earlier synthetic output: no stale sample survives
            old.unlink()
    atomic_write_json(out_dir / MARKER, {"config": dataclasses.asdict(config), "complete": False})


def write_synthetic_skeletons(out_dir: str | Path, config: SyntheticSkeletonConfig) -> list[Path]:
    """Write every sample as ``OUT/<name>.skeleton`` (atomic); returns the paths.

    ``out_dir`` must be new, empty, or an earlier output of this function (whose files are
    replaced): a folder holding anything else is refused with ``FileExistsError``.
    """
    out_dir = Path(out_dir)
    sample_names(config)  # validates the config before touching the folder
    _claim_folder(out_dir, config)
    rng = np.random.default_rng(config.seed)
    paths = []
    for index, (name, motion) in enumerate(sample_names(config)):
        frames = int(rng.integers(config.min_frames, config.max_frames + 1))
        cycles = rng.uniform(1.5, 3.0)
        phase = rng.uniform(0, 1) + cycles * np.arange(frames) / frames
        yaw = {1: 0.0, 2: config.camera_yaw_degrees, 3: -config.camera_yaw_degrees}[name.camera]
        yaw += rng.uniform(-10, 10)
        position = np.array([rng.uniform(-0.5, 0.5), rng.uniform(-0.9, -0.6), rng.uniform(2.6, 3.6)])
        actor = body_pose(motion, phase, rng.uniform(0.85, 1.15))
        if motion == "walking":
            actor[..., 2] -= np.linspace(0, 0.6, frames)[:, None]  # walk towards the camera
        bodies = [_to_camera(actor, yaw, position)]
        if rng.uniform() < config.two_body_fraction:
            idle = body_pose("idle", phase, rng.uniform(0.85, 1.15))
            idle[..., 0] += 0.02 * np.sin(2 * np.pi * phase)[:, None]
            offset = np.array([rng.choice([-1.0, 1.0]) * rng.uniform(0.8, 1.2), 0, rng.uniform(-0.3, 0.3)])
            bodies.append(_to_camera(idle, yaw, position + offset))
        bodies = [b + rng.normal(0, config.noise_metres, b.shape) for b in bodies]
        empty_lead = int(rng.integers(1, 4)) if rng.uniform() < config.empty_lead_fraction else 0
        ids = [72057594037900000 + 2 * index + i for i in range(len(bodies))]
        newline = "\r\n" if index % 2 else "\n"  # both line endings, as in the real data
        path = out_dir / f"{name}.skeleton"
        atomic_write_bytes(path, _format_frames(bodies, ids, empty_lead, newline).encode("ascii"))
        paths.append(path)
    atomic_write_json(out_dir / MARKER, {"config": dataclasses.asdict(config), "complete": True})
    return paths
