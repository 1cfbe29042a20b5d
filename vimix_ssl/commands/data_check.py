"""``vimix data check``: find every unreadable video of a dataset before training does.

::

    vimix data check --dataset ucf101 --root data/UCF101 --splits data/ucfTrainTestlist
    vimix data check --dataset ucf101 --root data/UCF101 --store data/ucf101_frames

Checks every video named by any split (or one split's subset with ``--split``): opens it
and decodes its first and last frame (``--count-frames``: decodes every frame, which also
catches a header that over-counts). Prints the count and the first few paths with their
reasons; exits 1 if any video is unreadable.
"""

from __future__ import annotations

import argparse
import sys

from vimix_ssl.commands._arguments import add_dataset_arguments

HELP = "scan a dataset (raw videos or a prepared store) and report unreadable videos"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_dataset_arguments(parser)
    parser.add_argument("--split", type=int, choices=(1, 2, 3), default=None,
                        help="check only this split's --subset (default: every video of every split)")
    parser.add_argument("--subset", choices=("train", "test", "all"), default="all",
                        help="with --split: which part (default %(default)s)")
    parser.add_argument("--store", default=None,
                        help="check this prepared frame store instead of the raw videos")
    parser.add_argument("--count-frames", action="store_true",
                        help="raw videos: decode every frame (slow, exact) instead of first and last")
    parser.add_argument("--workers", type=int, default=None, help="processes (default: all cores)")
    parser.add_argument("--show", type=int, default=10,
                        help="how many bad videos to list (default %(default)s)")


def main(args: argparse.Namespace) -> int:
    from vimix_ssl.data.datasets import scan_videos
    from vimix_ssl.data.sources import FrameStoreSource, RawVideoSource
    from vimix_ssl.data.splits import SplitError, all_videos, load_video_list
    from vimix_ssl.data.store import StoreError

    try:
        if args.split is None:
            videos = all_videos(args.dataset, args.root, args.splits)
        else:
            listed = load_video_list(args.dataset, args.root, args.splits, args.split, args.subset)
            videos = [entry.video_id for entry in listed.entries]
        source = (FrameStoreSource(args.store) if args.store
                  else RawVideoSource(args.root, count_frames=args.count_frames))
    except (SplitError, StoreError) as e:
        print(f"vimix data check: {e}", file=sys.stderr)
        return 2
    bad = scan_videos(videos, {"rgb": source}, workers=args.workers)
    where = args.store or args.root
    print(f"{len(videos)} videos checked in {where}: {len(bad)} unreadable")
    for video_id, reason in bad[:args.show]:
        print(f"  {video_id}: {reason}")
    if len(bad) > args.show:
        print(f"  ... and {len(bad) - args.show} more")
    return 1 if bad else 0
