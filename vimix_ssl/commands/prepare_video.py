"""``vimix prepare video``: convert a dataset's videos once into a prepared frame store.

::

    vimix prepare video --dataset ucf101 --root data/UCF101 --splits data/ucfTrainTestlist \\
        --out data/ucf101_frames --short-side 128

Every video named by any split (UCF101/HMDB51: splits 1-3; Kinetics: the train and val
CSVs found, or the given CSV; folder: every video) is decoded, resized to the short side,
JPEG-encoded and written as one file per video (atomically). Multiprocess with a progress
bar; rerunning skips finished videos; the summary lists failed videos with their reasons.
"""

from __future__ import annotations

import argparse
import sys

from vimix_ssl.commands._arguments import add_dataset_arguments

HELP = "convert a video dataset into a prepared frame store (resized JPEG frames, one file per video)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_dataset_arguments(parser)
    parser.add_argument("--out", required=True, help="store directory (created; rerun to resume)")
    parser.add_argument("--short-side", type=int, default=128,
                        help="resize frames so the shorter side has this many pixels; 0 keeps the "
                        "original size (default %(default)s)")
    parser.add_argument("--codec", choices=("jpeg", "webp", "png"), default="jpeg",
                        help="frame image codec (default %(default)s)")
    parser.add_argument("--quality", type=int, default=90,
                        help="JPEG / WebP quality 1-100 (default %(default)s)")
    parser.add_argument("--allow-truncated", action="store_true",
                        help="store the decodable part of a truncated video (one that stops decoding before "
                        "its container's frame count) and record it in the file; default: such a video fails")
    parser.add_argument("--workers", type=int, default=None, help="processes (default: all cores)")


def main(args: argparse.Namespace) -> int:
    from vimix_ssl.data.splits import SplitError, all_videos
    from vimix_ssl.data.store import PrepareSpec, StoreError, prepare_video_store

    if args.short_side < 0 or not 1 <= args.quality <= 100:
        print(f"vimix prepare video: --short-side must be >= 0 (got {args.short_side}) and --quality "
              f"in 1..100 (got {args.quality})", file=sys.stderr)
        return 2
    try:
        videos = all_videos(args.dataset, args.root, args.splits)
    except SplitError as e:
        print(f"vimix prepare video: {e}", file=sys.stderr)
        return 2
    if not videos:
        print(f"vimix prepare video: no videos listed for {args.root}", file=sys.stderr)
        return 2
    spec = PrepareSpec(root=args.root, out_dir=args.out, short_side=args.short_side or None,
                       codec=args.codec, quality=args.quality, allow_truncated=args.allow_truncated)
    print(f"{len(videos)} videos from {args.root} -> {args.out} ({args.codec} q{args.quality}, "
          f"short side {args.short_side or 'kept'})", file=sys.stderr)
    try:
        summary = prepare_video_store(videos, args.dataset, spec, workers=args.workers)
    except StoreError as e:
        print(f"vimix prepare video: {e}", file=sys.stderr)
        return 2
    print(summary.format("videos"))
    print(f"store: {args.out}")
    return 1 if summary.failed else 0
