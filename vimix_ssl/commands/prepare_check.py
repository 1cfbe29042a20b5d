"""``vimix prepare check --rgb STORE --flow STORE``: list videos whose flow and RGB frame counts disagree.

Flow field ``t`` joins RGB frames ``t`` and ``t + 1``, so a consistent pair has
``flow frames == rgb frames - 1``. Reads only the container headers (fast).
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, field
from pathlib import Path

HELP = "check that a flow store matches an RGB frame store (flow frames == RGB frames - 1)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--rgb", default=None,
                        help="RGB frame store (`vimix prepare video`); without it only each flow file's "
                        "own record of its source frame count is checked")
    parser.add_argument("--flow", required=True, help="flow store (`vimix prepare flow`)")
    parser.add_argument("--show", type=int, default=50, help="list at most this many problems per kind")


@dataclass
class CheckReport:
    checked: int = 0
    missing_flow: list[str] = field(default_factory=list)             # in RGB, not in flow
    extra_flow: list[str] = field(default_factory=list)               # in flow, not in RGB
    mismatched: list[tuple[str, str]] = field(default_factory=list)   # (video id, what differs)
    unreadable: list[tuple[str, str]] = field(default_factory=list)   # (video id, error)

    @property
    def ok(self) -> bool:
        return not (self.missing_flow or self.extra_flow or self.mismatched or self.unreadable)


def check_stores(flow_dir: str | Path, rgb_dir: str | Path | None = None) -> CheckReport:
    """Compare frame counts of every video of a flow store with an RGB store (or its own meta)."""
    from vimix_ssl.data.flow_store import flow_file_path, list_store_videos
    from vimix_ssl.data.store import StoreError, StoreFile, store_file_path

    report = CheckReport()
    flow_videos = list_store_videos(flow_dir)
    rgb_videos = list_store_videos(rgb_dir) if rgb_dir is not None else flow_videos
    in_flow = set(flow_videos)
    report.missing_flow = [v for v in rgb_videos if v not in in_flow]
    report.extra_flow = sorted(in_flow - set(rgb_videos))
    for video_id in rgb_videos:
        if video_id not in in_flow:
            continue
        report.checked += 1
        try:
            flow = StoreFile(flow_file_path(flow_dir, video_id))
            recorded = flow.meta.get("source_frames")
            rgb = StoreFile(store_file_path(rgb_dir, video_id)).num_frames if rgb_dir is not None else None
        except StoreError as e:
            report.unreadable.append((video_id, str(e)))
            continue
        problems = []
        if rgb is not None and flow.num_frames != rgb - 1:
            problems.append(f"flow has {flow.num_frames} frames, RGB has {rgb} (expected {rgb - 1})")
        if recorded is not None and flow.num_frames != int(recorded) - 1:
            problems.append(f"flow has {flow.num_frames} frames but records a {recorded}-frame source")
        elif recorded is not None and rgb is not None and int(recorded) != rgb:
            problems.append(f"flow was computed from {recorded} frames, the RGB store holds {rgb}")
        if problems:
            report.mismatched.append((video_id, "; ".join(problems)))
    return report


def main(args: argparse.Namespace) -> int:
    from vimix_ssl.data.store import StoreError

    try:
        report = check_stores(args.flow, args.rgb)
    except StoreError as e:
        print(f"vimix prepare check: {e}", file=sys.stderr)
        return 2
    sections = [("missing flow (in the RGB store, not in the flow store)",
                 [(v, "") for v in report.missing_flow]),
                ("flow without RGB", [(v, "") for v in report.extra_flow]),
                ("frame count mismatch", report.mismatched),
                ("unreadable", report.unreadable)]
    for title, items in sections:
        if items:
            print(f"{title}: {len(items)}")
            for video_id, reason in items[:args.show]:
                print(f"  {video_id}" + (f": {reason}" if reason else ""))
            if len(items) > args.show:
                print(f"  ... and {len(items) - args.show} more")
    verdict = "consistent" if report.ok else "PROBLEMS FOUND (see above)"
    print(f"checked {report.checked} videos: {verdict}")
    return 0 if report.ok else 1
