"""``vimix synth video OUT``: write the synthetic motion-class dataset in UCF101's layout."""

from __future__ import annotations

import argparse
import sys

from vimix_ssl.data.synthetic_video import MOTIONS, SynthVideoConfig

HELP = ("write a synthetic video dataset (classes differ by motion, optionally also by scene) in the "
        "UCF101 layout")

_DEFAULTS = SynthVideoConfig()


def parse_range(text: str) -> tuple[int, int]:
    """``"40"`` -> (40, 40); ``"32-48"`` -> (32, 48)."""
    try:
        low, _, high = text.partition("-")
        return int(low), int(high or low)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--frames {text!r}: expected N or MIN-MAX, e.g. 32-48") from None


def parse_size(text: str) -> tuple[int, int]:
    """``"128x96"`` -> (width 128, height 96)."""
    try:
        width, height = (int(v) for v in text.lower().split("x"))
        return width, height
    except ValueError:
        raise argparse.ArgumentTypeError(f"--size {text!r}: expected WIDTHxHEIGHT, e.g. 128x96") from None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("out", help="output folder (created); becomes the dataset root")
    parser.add_argument("--classes", type=int, default=_DEFAULTS.classes,
                        help=f"number of motion classes, 1..{len(MOTIONS)} (default %(default)s)")
    parser.add_argument("--per-class", type=int, default=_DEFAULTS.per_class,
                        help="clips per class (default %(default)s)")
    parser.add_argument("--clips-per-group", type=int, default=_DEFAULTS.clips_per_group,
                        help="clips per UCF101-style group gXX (default %(default)s)")
    parser.add_argument("--frames", type=parse_range, default=(_DEFAULTS.frames_min, _DEFAULTS.frames_max),
                        help="frames per clip, N or MIN-MAX "
                        f"(default {_DEFAULTS.frames_min}-{_DEFAULTS.frames_max})")
    parser.add_argument("--size", type=parse_size, default=(_DEFAULTS.width, _DEFAULTS.height),
                        help=f"frame size WIDTHxHEIGHT (default {_DEFAULTS.width}x{_DEFAULTS.height})")
    parser.add_argument("--fps", type=float, default=_DEFAULTS.fps, help="frame rate (default %(default)s)")
    parser.add_argument("--quality", type=int, default=_DEFAULTS.jpeg_quality,
                        help="MJPG quality 0-100 (default %(default)s)")
    parser.add_argument("--seed", type=int, default=_DEFAULTS.seed,
                        help="random seed; the same seed gives the same bytes (default %(default)s)")
    parser.add_argument("--appearance-pool", type=int, default=_DEFAULTS.appearance_pool,
                        help="0: a fresh look per clip; N: clips share N looks across classes "
                             "(default %(default)s)")
    parser.add_argument("--background-contrast", type=float, default=_DEFAULTS.background_contrast,
                        help="background texture contrast, 0 (flat) to 1 (default %(default)s)")
    parser.add_argument("--sprite-contrast", type=float, default=_DEFAULTS.sprite_contrast,
                        help="object texture contrast, 0 (flat) to 1 (default %(default)s)")
    parser.add_argument("--contrasting-sprite", action="store_true",
                        help="give the object the complementary colour of its background")
    parser.add_argument("--scene-cue", type=float, default=_DEFAULTS.scene_cue,
                        help="fraction of clips shown in their class's scene (one background per class); "
                             "0: classes differ only by motion (default %(default)s)")
    parser.add_argument("--reuse", action="store_true",
                        help="keep OUT as is if it already holds a complete dataset made with these settings")


def main(args: argparse.Namespace) -> int:
    from vimix_ssl.data.synthetic_video import generate_synthetic_ucf
    from vimix_ssl.utils.logging import progress

    config = SynthVideoConfig(classes=args.classes, per_class=args.per_class,
                              clips_per_group=args.clips_per_group, frames_min=args.frames[0],
                              frames_max=args.frames[1], width=args.size[0], height=args.size[1],
                              fps=args.fps, jpeg_quality=args.quality, seed=args.seed,
                              appearance_pool=args.appearance_pool,
                              background_contrast=args.background_contrast,
                              sprite_contrast=args.sprite_contrast,
                              contrasting_sprite=args.contrasting_sprite,
                              scene_cue=args.scene_cue)
    try:
        config.validate()
    except ValueError as e:
        print(f"vimix synth video: {e}", file=sys.stderr)
        return 2
    bar = progress(total=config.classes * config.per_class, desc="synth video", unit="clip")
    try:
        result = generate_synthetic_ucf(args.out, config, on_clip=lambda: bar.update(1), reuse=args.reuse)
    except FileExistsError as e:
        print(f"vimix synth video: {e}", file=sys.stderr)
        return 2
    finally:
        bar.close()
    print(f"wrote {len(result.train) + len(result.test)} clips of {len(result.classes)} classes to "
          f"{result.root} ({len(result.train)} train / {len(result.test)} test, split file "
          f"{result.root / 'ucfTrainTestlist'})")
    return 0
