"""``vimix prepare flow``: compute optical flow of a dataset into a flow store (parallel, resumable).

From raw videos::

    vimix prepare flow --source raw --dataset ucf101 --root data/UCF101 \\
        --splits data/ucfTrainTestlist --out data/ucf101_flow --size 128

or from a frame store made by ``vimix prepare video`` (same frames, same count)::

    vimix prepare flow --source store --store data/ucf101_frames --out data/ucf101_flow

Rerunning skips finished videos; the summary lists failed videos with their reasons.
"""

from __future__ import annotations

import argparse
import sys

from vimix_ssl.commands._arguments import add_dataset_arguments

HELP = "compute optical flow (TV-L1 / DIS / Farneback) of a dataset into a flow store"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--source", choices=("raw", "store"), default="raw",
                        help="read frames from raw videos (--dataset/--root/--splits) or from a frame "
                        "store (--store) (default %(default)s)")
    add_dataset_arguments(parser, required=False, when=" (source raw; every video of every split)")
    parser.add_argument("--store",
                        help="frame store directory written by `vimix prepare video` (source store)")
    parser.add_argument("--out", required=True, help="flow store directory (created; reused to resume)")
    parser.add_argument("--method", choices=("tvl1", "dis", "farneback"), default="tvl1",
                        help="tvl1: OpenCV TV-L1 with default parameters (the peer recipe); dis, "
                        "farneback: fast (default %(default)s)")
    parser.add_argument("--size", type=int, default=None, metavar="SHORT_SIDE",
                        help="resize frames to this short side before computing flow (flow is then in "
                        "resized pixels; default: as read)")
    parser.add_argument("--bound", type=float, default=20.0,
                        help="clip flow to +-BOUND px before mapping to 0-255 (default %(default)s)")
    parser.add_argument("--allow-truncated", action="store_true",
                        help="store the decodable part of a truncated video (one that stops decoding before "
                        "its container's frame count) and record it in the file; default: such a video fails")
    parser.add_argument("--workers", type=int, default=None,
                        help="processes (default: all cores)")
    parser.add_argument("--chunk-frames", type=int, default=64,
                        help="frames decoded at once per video (bounds memory; default %(default)s)")


def list_videos(args: argparse.Namespace) -> tuple[list[str], str]:
    """(video ids, source root) named by the arguments; ``ValueError`` names what is missing."""
    if args.source == "store":
        from vimix_ssl.data.flow_store import list_store_videos

        if not args.store:
            raise ValueError("--source store needs --store DIR (a frame store from `vimix prepare video`)")
        return list_store_videos(args.store), args.store
    from vimix_ssl.data.splits import all_videos

    if not args.dataset or not args.root:
        raise ValueError("--source raw needs --dataset and --root (and --splits unless found under --root)")
    return all_videos(args.dataset, args.root, args.splits), args.root


def main(args: argparse.Namespace) -> int:
    from vimix_ssl.data.flow_extract import FlowExtractSpec, extract_flow_store
    from vimix_ssl.data.splits import SplitError
    from vimix_ssl.data.store import StoreError

    try:
        videos, source_root = list_videos(args)
        spec = FlowExtractSpec(source=args.source, source_root=str(source_root), out_dir=args.out,
                               method=args.method, bound=args.bound, short_side=args.size,
                               chunk_frames=args.chunk_frames, allow_truncated=args.allow_truncated)
        spec.validate()
    except (ValueError, SplitError, StoreError) as e:
        print(f"vimix prepare flow: {e}", file=sys.stderr)
        return 2
    if not videos:
        print(f"vimix prepare flow: no videos found in {source_root}", file=sys.stderr)
        return 2
    print(f"{len(videos)} videos from {source_root} -> {args.out} ({args.method}, bound {args.bound} px, "
          f"short side {args.size or 'as read'})", file=sys.stderr)
    try:
        summary = extract_flow_store(videos, spec, workers=args.workers, desc=f"flow {args.method}")
    except StoreError as e:
        print(f"vimix prepare flow: {e}", file=sys.stderr)
        return 2
    print(summary.format("videos"))
    print(f"flow store: {args.out}")
    return 1 if summary.failed else 0
