"""A synthetic action dataset in the exact UCF101 on-disk layout, whose classes differ by motion.

Each clip shows one textured object (random shape, colours, stripe/checker/noise texture,
start position, size) moving over a random textured background. The class decides the
motion (translation direction, rotation sense, zoom direction, oscillation axis, orbit
sense), so a model can classify it by looking at how things move — the property that
makes it a meaningful smoke test for video self-supervision and optical flow. By default
that is the only class signal. ``scene_cue`` adds the other signal real action datasets
have: a fraction of each class's clips is shown in the class's own scene (background), so
appearance carries part of the label, as a pool does for diving. ``appearance_pool`` shares
looks across classes and the contrast settings tune how visible the object is.

Layout written by :func:`generate_synthetic_ucf` (identical to UCF101's)::

    OUT/<Class>/v_<Class>_g<GG>_c<CC>.avi        MJPG in AVI (OpenCV's built-in writer)
    OUT/ucfTrainTestlist/classInd.txt             "<i> <Class>", 1-based, in MOTIONS order
    OUT/ucfTrainTestlist/trainlist0{1,2,3}.txt    "<Class>/v_....avi <i>"
    OUT/ucfTrainTestlist/testlist0{1,2,3}.txt     "<Class>/v_....avi"

Clips are grouped like UCF101 (``clips_per_group`` clips per group ``gGG``). As in UCF101,
where split 1/2/3 tests on groups g01–g07/g08–g14/g15–g21 of 25, split ``s`` tests on the
``s``-th block of about 7/25 of the groups (blocks wrap around when there are few groups),
so a split never has the same group in train and test. Output is byte-identical for a
seed: every clip draws from its own generator seeded by ``(seed, class index, clip
index)`` and OpenCV's built-in MJPG writer (``cv2.CAP_OPENCV_MJPEG``) stores no timestamps.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vimix_ssl.utils.io import atomic_write_json, atomic_write_text

# Class name -> motion kind. classInd order is this order (deliberately not sorted).
MOTIONS: dict[str, str] = {
    "TranslateRight": "translate",
    "TranslateLeft": "translate",
    "TranslateUp": "translate",
    "TranslateDown": "translate",
    "RotateClockwise": "rotate",
    "RotateCounterclockwise": "rotate",
    "ZoomIn": "zoom",
    "ZoomOut": "zoom",
    "OscillateHorizontal": "oscillate",
    "OscillateVertical": "oscillate",
    "OrbitClockwise": "orbit",
    "OrbitCounterclockwise": "orbit",
    "TranslateDiagonalDown": "translate",
    "TranslateDiagonalUp": "translate",
}
# Unit direction on screen (x right, y down) of the translation classes.
_DIRECTIONS = {
    "TranslateRight": (1.0, 0.0), "TranslateLeft": (-1.0, 0.0),
    "TranslateUp": (0.0, -1.0), "TranslateDown": (0.0, 1.0),
    "TranslateDiagonalDown": (math.sqrt(0.5), math.sqrt(0.5)),
    "TranslateDiagonalUp": (math.sqrt(0.5), -math.sqrt(0.5)),
}
APPEARANCE_STREAM = 7919  # seeds the shared appearance pool apart from the per-clip streams
SCENE_STREAM = 104729  # seeds the class scenes and the per-clip scene draws
SHAPES = ("disc", "square", "triangle", "ellipse", "star")
UCF101_TEST_GROUP_FRACTION = 7 / 25  # split 1 tests on g01-g07 of 25 groups


@dataclass(frozen=True)
class SynthVideoConfig:
    classes: int = 10                 # first N entries of MOTIONS
    per_class: int = 12               # clips per class
    clips_per_group: int = 2          # clips sharing one gGG group id
    frames_min: int = 32              # clip length drawn uniformly in [frames_min, frames_max]
    frames_max: int = 48
    width: int = 128                  # frame size in pixels (4:3 like UCF101's 320x240)
    height: int = 96
    fps: float = 25.0
    jpeg_quality: int = 90            # MJPG quality, 0-100
    seed: int = 0
    # 0: a fresh appearance (background, sprite texture and shape) per clip. N > 0: each clip
    # draws one of N appearances shared across all classes, so clips of different motions look
    # alike and instance discrimination cannot be solved from appearance alone.
    appearance_pool: int = 0
    # Look of the clips. 1, 1, False: full-contrast textures with independent colours (the
    # object can be hard to tell from the background). Lower contrasts flatten the textures
    # towards their mean colour; ``contrasting_sprite`` gives the object the complementary
    # mean colour of the background, so it always stands out — what small models at 32 px
    # need to see the motion (docs/RESULTS.md).
    background_contrast: float = 1.0
    sprite_contrast: float = 1.0
    contrasting_sprite: bool = False
    # Fraction of clips filmed in their class's "scene" (one background per class: colours and
    # pattern) instead of a background of their own look — the scene/action co-occurrence of
    # real datasets (pools for diving, horses for riding). 0: classes differ only by motion.
    scene_cue: float = 0.0

    def validate(self) -> None:
        if not 1 <= self.classes <= len(MOTIONS):
            raise ValueError(f"classes={self.classes}: expected 1..{len(MOTIONS)} (one per motion "
                             f"in {list(MOTIONS)})")
        if self.per_class < 2 or self.clips_per_group < 1 or self.per_class < 2 * self.clips_per_group:
            raise ValueError(f"per_class={self.per_class}, clips_per_group={self.clips_per_group}: need "
                             "per_class >= 2 * clips_per_group so both splits get a group")
        if not 2 <= self.frames_min <= self.frames_max:
            raise ValueError(f"frames {self.frames_min}-{self.frames_max}: expected 2 <= min <= max")
        if self.appearance_pool < 0:
            raise ValueError(f"appearance_pool={self.appearance_pool}: expected 0 (per clip) or a pool size")
        for key in ("background_contrast", "sprite_contrast", "scene_cue"):
            if not 0.0 <= getattr(self, key) <= 1.0:
                raise ValueError(f"{key}={getattr(self, key)}: expected a fraction in [0, 1]")
        if self.width < 16 or self.height < 16:
            raise ValueError(f"size {self.width}x{self.height}: expected at least 16x16")


def class_names(num_classes: int) -> list[str]:
    return list(MOTIONS)[:num_classes]


def num_groups(config: SynthVideoConfig) -> int:
    return math.ceil(config.per_class / config.clips_per_group)


def test_groups(config: SynthVideoConfig, split: int = 1) -> list[int]:
    """1-based group numbers tested in ``split`` (1-3): the split-th block of ~7/25 of the groups."""
    if split not in (1, 2, 3):
        raise ValueError(f"split must be 1, 2 or 3, got {split!r}")
    groups = num_groups(config)
    count = min(groups - 1, max(1, round(groups * UCF101_TEST_GROUP_FRACTION)))
    return sorted(((split - 1) * count + i) % groups + 1 for i in range(count))


def clip_name(class_name: str, group: int, clip: int) -> str:
    return f"v_{class_name}_g{group:02d}_c{clip:02d}.avi"


# ----------------------------------------------------------------------------- rendering


def _texture(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """A random colour texture (H, W, 3) float32 in [0, 255]: stripes, checker or smooth noise."""
    c1, c2 = rng.uniform(0, 255, 3), rng.uniform(0, 255, 3)
    while np.abs(c1 - c2).sum() < 150:  # keep the pattern visible
        c2 = rng.uniform(0, 255, 3)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    kind = rng.integers(3)
    period = rng.uniform(5, 14)
    if kind == 0:
        angle = rng.uniform(0, math.pi)
        t = 0.5 + 0.5 * np.sin(2 * math.pi * (x * math.cos(angle) + y * math.sin(angle)) / period)
    elif kind == 1:
        t = ((np.floor(x / period) + np.floor(y / period)) % 2).astype(np.float32)
    else:
        import cv2

        t = cv2.GaussianBlur(rng.random((height, width), dtype=np.float32), (0, 0), period / 4)
        t = (t - t.min()) / max(float(t.max() - t.min()), 1e-6)
    return (t[..., None] * c1 + (1 - t[..., None]) * c2).astype(np.float32)


def _shape_mask(rng: np.random.Generator, size: int) -> np.ndarray:
    """A (size, size) float32 mask in [0, 1] of a random shape centred in the square."""
    import cv2

    mask = np.zeros((size, size), np.uint8)
    c, r = size // 2, size // 2 - 1
    shape = SHAPES[rng.integers(len(SHAPES))]
    if shape == "disc":
        cv2.circle(mask, (c, c), r, 255, -1, cv2.LINE_AA)
    elif shape == "square":
        h = int(r * 0.75)
        mask[c - h:c + h, c - h:c + h] = 255
    elif shape == "ellipse":
        cv2.ellipse(mask, (c, c), (r, int(r * rng.uniform(0.45, 0.7))), float(rng.uniform(0, 180)),
                    0, 360, 255, -1, cv2.LINE_AA)
    else:
        points = 3 if shape == "triangle" else 10
        angles = np.arange(points) * 2 * math.pi / points + rng.uniform(0, 2 * math.pi)
        radii = np.full(points, r, np.float64) if shape == "triangle" else np.tile([r, r * 0.5], 5)
        poly = np.stack([c + radii * np.cos(angles), c + radii * np.sin(angles)], 1)
        cv2.fillPoly(mask, [np.round(poly).astype(np.int32)], 255, cv2.LINE_AA)
    return mask.astype(np.float32) / 255.0


def _trajectory(motion: str, num_frames: int, width: int, height: int,
                rng: np.random.Generator) -> Callable[[int], tuple[float, float, float, float]]:
    """Per frame ``t`` -> (centre x, centre y, rotation degrees counterclockwise, scale)."""
    kind = MOTIONS[motion]
    mid = (num_frames - 1) / 2
    # Centre of the trajectory: random, the object stays mostly inside the frame.
    cx = rng.uniform(0.35, 0.65) * width
    cy = rng.uniform(0.35, 0.65) * height
    angle0 = rng.uniform(0, 360)
    if kind == "translate":
        dx, dy = _DIRECTIONS[motion]
        reach = 0.6 * (width if abs(dx) > abs(dy) else height)
        speed = rng.uniform(0.5, 1.0) * reach / num_frames  # px per frame
        return lambda t: (cx + dx * speed * (t - mid), cy + dy * speed * (t - mid), angle0, 1.0)
    if kind == "rotate":
        omega = rng.uniform(4, 9) * (-1 if motion == "RotateClockwise" else 1)  # degrees per frame
        return lambda t: (cx, cy, angle0 + omega * t, 1.0)
    if kind == "zoom":
        rate = rng.uniform(0.6, 1.0) * math.log(2.5) / num_frames * (1 if motion == "ZoomIn" else -1)
        return lambda t: (cx, cy, angle0, math.exp(rate * (t - mid)))
    if kind == "oscillate":
        amplitude = rng.uniform(0.12, 0.2) * (width if motion == "OscillateHorizontal" else height)
        period, phase = rng.uniform(8, 16), rng.uniform(0, 2 * math.pi)
        horizontal = motion == "OscillateHorizontal"

        def oscillate(t: int) -> tuple[float, float, float, float]:
            offset = amplitude * math.sin(2 * math.pi * t / period + phase)
            return (cx + offset, cy, angle0, 1.0) if horizontal else (cx, cy + offset, angle0, 1.0)

        return oscillate
    # orbit: circular path; on screen (y down) a clockwise orbit has increasing angle.
    radius = rng.uniform(0.15, 0.25) * min(width, height)
    omega = math.radians(rng.uniform(8, 14)) * (1 if motion == "OrbitClockwise" else -1)
    phase = rng.uniform(0, 2 * math.pi)
    return lambda t: (cx + radius * math.cos(phase + omega * t),
                      cy + radius * math.sin(phase + omega * t), angle0, 1.0)


def _recolour(texture: np.ndarray, contrast: float, mean: np.ndarray | None = None) -> np.ndarray:
    """``texture`` scaled by ``contrast`` about its mean colour, recentred on ``mean`` if given."""
    own = texture.mean(axis=(0, 1), keepdims=True)
    return np.clip((own if mean is None else mean) + contrast * (texture - own), 0, 255).astype(np.float32)


def render_clip_and_masks(motion: str, num_frames: int, width: int, height: int,
                          rng: np.random.Generator, appearance_rng: np.random.Generator | None = None,
                          background_contrast: float = 1.0, sprite_contrast: float = 1.0,
                          contrasting_sprite: bool = False, scene_rng: np.random.Generator | None = None,
                          ) -> tuple[np.ndarray, np.ndarray]:
    """One clip of class ``motion``: uint8 RGB ``(T, H, W, 3)``, the object's float32 alpha ``(T, H, W)``.

    ``appearance_rng`` (default ``rng``) draws the background, sprite texture, size and shape;
    ``rng`` draws the motion (start, speed, phase); ``scene_rng``, when given, the background
    (colours and pattern) instead of ``appearance_rng``. The contrasts and
    ``contrasting_sprite`` are ``SynthVideoConfig``'s look settings.
    """
    import cv2

    if motion not in MOTIONS:
        raise ValueError(f"unknown motion {motion!r}; expected one of {list(MOTIONS)}")
    look = rng if appearance_rng is None else appearance_rng
    background = _texture(look if scene_rng is None else scene_rng, height, width)
    size = int(look.uniform(0.3, 0.45) * min(width, height)) | 1
    sprite = _texture(look, size, size)
    if background_contrast != 1.0 or sprite_contrast != 1.0 or contrasting_sprite:
        complement = 255.0 - background.mean(axis=(0, 1), keepdims=True) if contrasting_sprite else None
        background = _recolour(background, background_contrast)
        sprite = _recolour(sprite, sprite_contrast, complement)
    mask = _shape_mask(look, size)
    where = _trajectory(motion, num_frames, width, height, rng)
    frames = np.empty((num_frames, height, width, 3), np.uint8)
    alphas = np.empty((num_frames, height, width), np.float32)
    centre = ((size - 1) / 2, (size - 1) / 2)
    for t in range(num_frames):
        x, y, angle, scale = where(t)
        matrix = cv2.getRotationMatrix2D(centre, angle, scale)  # about the sprite centre
        matrix[:, 2] += (x - centre[0], y - centre[1])          # then move the centre to (x, y)
        alphas[t] = cv2.warpAffine(mask, matrix, (width, height), flags=cv2.INTER_LINEAR)
        fg = cv2.warpAffine(sprite, matrix, (width, height), flags=cv2.INTER_LINEAR)
        alpha = alphas[t][..., None]
        frames[t] = np.clip(alpha * fg + (1 - alpha) * background + 0.5, 0, 255).astype(np.uint8)
    return frames, alphas


def render_clip(motion: str, num_frames: int, width: int, height: int,
                rng: np.random.Generator) -> np.ndarray:
    """Render one clip of class ``motion``: uint8 RGB ``(T, H, W, 3)``."""
    return render_clip_and_masks(motion, num_frames, width, height, rng)[0]


# ----------------------------------------------------------------------------- writing


def write_avi(path: str | Path, frames: np.ndarray, fps: float = 25.0, jpeg_quality: int = 90) -> None:
    """Write uint8 RGB ``(T, H, W, 3)`` as MJPG AVI atomically (deterministic bytes)."""
    import cv2

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp.avi")
    height, width = frames.shape[1:3]
    writer = cv2.VideoWriter(str(tmp), cv2.CAP_OPENCV_MJPEG, cv2.VideoWriter_fourcc(*"MJPG"),
                             fps, (width, height))
    try:
        if not writer.isOpened():
            raise OSError(f"{path}: OpenCV could not open an MJPG writer")
        writer.set(cv2.VIDEOWRITER_PROP_QUALITY, jpeg_quality)
        for frame in frames:
            writer.write(np.ascontiguousarray(frame[..., ::-1]))  # OpenCV wants BGR
        writer.release()
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        writer.release()
        tmp.unlink(missing_ok=True)


@dataclass
class SynthVideoResult:
    root: Path
    classes: list[str]
    train: list[str]   # split 1, "Class/v_....avi"
    test: list[str]


MARKER = ".vimix_synth_video.json"  # hidden, so the layout stays UCF101's; records the config


def generate_synthetic_ucf(out_dir: str | Path, config: SynthVideoConfig = SynthVideoConfig(),
                           on_clip: Callable[[], None] | None = None,
                           reuse: bool = False) -> SynthVideoResult:
    """Write the dataset to ``out_dir`` (see module docstring); ``on_clip`` is called after each clip.

    ``out_dir`` must be new, empty, or an earlier output of this function (whose clips are
    replaced). ``reuse``: keep an earlier complete output made with the same config as is.
    """
    config.validate()
    out = Path(out_dir)
    names = class_names(config.classes)
    clips = []  # (relative path, 0-based label, group, clip index within the class)
    for label, name in enumerate(names):
        for index in range(config.per_class):
            group, clip = divmod(index, config.clips_per_group)
            clips.append((f"{name}/{clip_name(name, group + 1, clip + 1)}", label, group + 1, index))
    split1 = set(test_groups(config, 1))
    result = SynthVideoResult(root=out, classes=names,
                              train=[c[0] for c in clips if c[2] not in split1],
                              test=[c[0] for c in clips if c[2] in split1])
    marker = {"config": dataclasses.asdict(config), "complete": True}
    if reuse and (out / MARKER).is_file() and json.loads((out / MARKER).read_text()) == marker:
        return result
    if out.is_dir() and any(out.iterdir()):
        if not (out / MARKER).is_file():
            raise FileExistsError(f"{out} is not empty and was not written by `vimix synth video`; "
                                  "choose a new or empty folder")
        for name in MOTIONS:  # an earlier synthetic dataset: drop its clips so none go stale
            for old in (out / name).glob(f"v_{name}_g*_c*.avi"):
                old.unlink()
    atomic_write_json(out / MARKER, {**marker, "complete": False})
    for path, label, _, index in clips:
        rng = np.random.default_rng([config.seed, label, index])  # each clip independent of the others
        num_frames = int(rng.integers(config.frames_min, config.frames_max + 1))
        look = None
        if config.appearance_pool:
            appearance = int(rng.integers(config.appearance_pool))
            look = np.random.default_rng([config.seed, APPEARANCE_STREAM, appearance])
        scene = None
        if config.scene_cue and np.random.default_rng([config.seed, SCENE_STREAM, label, index]).random() \
                < config.scene_cue:
            scene = np.random.default_rng([config.seed, SCENE_STREAM, label])  # the class's scene
        frames = render_clip_and_masks(names[label], num_frames, config.width, config.height, rng, look,
                                       config.background_contrast, config.sprite_contrast,
                                       config.contrasting_sprite, scene)[0]
        write_avi(out / path, frames, config.fps, config.jpeg_quality)
        if on_clip is not None:
            on_clip()
    lists = out / "ucfTrainTestlist"
    atomic_write_text(lists / "classInd.txt", "".join(f"{i + 1} {n}\n" for i, n in enumerate(names)))
    for split in (1, 2, 3):
        tests = set(test_groups(config, split))
        train = "".join(f"{path} {label + 1}\n" for path, label, group, _ in clips if group not in tests)
        test = "".join(f"{path}\n" for path, _, group, _ in clips if group in tests)
        atomic_write_text(lists / f"trainlist0{split}.txt", train)
        atomic_write_text(lists / f"testlist0{split}.txt", test)
    atomic_write_json(out / MARKER, marker)
    return result
