"""``vimix synth skeleton OUT``: a small synthetic NTU-format skeleton dataset."""

from __future__ import annotations

import argparse
import sys

HELP = "write a synthetic NTU-style .skeleton dataset (prepare it with `vimix prepare ntu`)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("out", metavar="OUT", help="folder for the SsssCcccPpppRrrrAaaa.skeleton files: new, "
                        "empty, or an earlier output of this command (a folder holding other files is "
                        "refused)")
    parser.add_argument("--classes", type=int, default=8, help="number of motion classes (1-10, default 8)")
    parser.add_argument("--per-class", type=int, default=24, help="samples per class (default 24)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (output is deterministic per seed)")
    parser.add_argument("--min-frames", type=int, default=40, help="shortest sequence (default 40)")
    parser.add_argument("--max-frames", type=int, default=80, help="longest sequence (default 80)")


def main(args: argparse.Namespace) -> int:
    from vimix_ssl.data.skeleton.synthetic import MOTIONS, SyntheticSkeletonConfig, write_synthetic_skeletons

    if args.per_class < 1 or not 1 <= args.min_frames <= args.max_frames:
        print(f"vimix synth skeleton: need --per-class >= 1 and 1 <= --min-frames <= --max-frames, got "
              f"{args.per_class}, {args.min_frames}, {args.max_frames}", file=sys.stderr)
        return 2
    config = SyntheticSkeletonConfig(classes=args.classes, per_class=args.per_class, seed=args.seed,
                                     min_frames=args.min_frames, max_frames=args.max_frames)
    try:
        paths = write_synthetic_skeletons(args.out, config)
    except (ValueError, FileExistsError) as e:
        print(f"vimix synth skeleton: {e}", file=sys.stderr)
        return 2
    print(f"wrote {len(paths)} .skeleton files ({args.classes} classes: "
          f"{', '.join(MOTIONS[: args.classes])}) to {args.out}")
    print(f"next: vimix prepare ntu {args.out} OUT_DIR")
    return 0
