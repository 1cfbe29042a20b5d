"""``vimix prepare check --rgb STORE --flow STORE``: list stored videos that are inconsistent or stale.

Flow field ``t`` joins RGB frames ``t`` and ``t + 1``, so a consistent pair has
``flow frames == rgb frames - 1``. Every store file is also compared with the source it
was made from (the fingerprint in its meta; ``vimix_ssl.data.store.source_status``): a
source replaced or removed since is listed as stale. Reads the store headers and at most
the first and last MiB of a source whose mtime changed (fast).
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, field
from pathlib import Path

HELP = ("check prepared stores: flow frames == RGB frames - 1, and every file still matches the source "
        "it was made from")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--rgb", default=None,
                        help="RGB frame store (`vimix prepare video`); without it only each flow file's "
                        "own record of its source frame count is checked")
    parser.add_argument("--flow", default=None, help="flow store (`vimix prepare flow`)")
    parser.add_argument("--show", type=int, default=50, help="list at most this many problems per kind")


@dataclass
class CheckReport:
    checked: int = 0
    missing_flow: list[str] = field(default_factory=list)             # in RGB, not in flow
    extra_flow: list[str] = field(default_factory=list)               # in flow, not in RGB
    mismatched: list[tuple[str, str]] = field(default_factory=list)   # (video id, what differs)
    unreadable: list[tuple[str, str]] = field(default_factory=list)   # (video id, error)
    stale: list[tuple[str, str]] = field(default_factory=list)        # (store/video id, why)

    @property
    def ok(self) -> bool:
        return not (self.missing_flow or self.extra_flow or self.mismatched or self.unreadable or self.stale)


def stale_files(store_dir: str | Path) -> list[tuple[str, str]]:
    """``(video id, why)`` for every file of a store that no longer matches its source."""
    from vimix_ssl.data.flow_store import list_store_videos
    from vimix_ssl.data.store import read_manifest, source_status, store_file_path

    manifest = read_manifest(store_dir)
    root = Path(manifest.get("source_root", ""))
    from_store = manifest.get("modality") == "flow" and manifest.get("source") == "store"
    out = []
    for video_id in list_store_videos(store_dir):
        source = store_file_path(root, video_id) if from_store else root / video_id
        why = source_status(store_file_path(store_dir, video_id), source)
        if why is not None:
            out.append((video_id, why))
    return out


def check_stores(flow_dir: str | Path | None, rgb_dir: str | Path | None = None) -> CheckReport:
    """Frame counts of a flow store against an RGB store (or its own meta); every file against its source."""
    from vimix_ssl.data.flow_store import flow_file_path, list_store_videos
    from vimix_ssl.data.store import StoreError, StoreFile, store_file_path

    report = CheckReport()
    for store in (rgb_dir, flow_dir):
        if store is not None:
            report.stale += [(f"{store}: {video_id}", why) for video_id, why in stale_files(store)]
    if flow_dir is None:
        report.checked = len(list_store_videos(rgb_dir)) if rgb_dir is not None else 0
        return report
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

    if args.rgb is None and args.flow is None:
        print("vimix prepare check: give --rgb STORE, --flow STORE or both", file=sys.stderr)
        return 2
    try:
        report = check_stores(args.flow, args.rgb)
    except StoreError as e:
        print(f"vimix prepare check: {e}", file=sys.stderr)
        return 2
    sections = [("missing flow (in the RGB store, not in the flow store)",
                 [(v, "") for v in report.missing_flow]),
                ("flow without RGB", [(v, "") for v in report.extra_flow]),
                ("frame count mismatch", report.mismatched),
                ("unreadable", report.unreadable),
                ("stale (the source changed since it was prepared)", report.stale)]
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
