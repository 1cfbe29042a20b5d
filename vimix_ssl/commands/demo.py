"""``vimix demo``: generate data, pre-train with mixup then CMMC, evaluate, write a report."""

from __future__ import annotations

import argparse

HELP = "run the whole method end to end on synthetic (or your own small) data and write a report"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", default="demo_out",
                        help="output folder (data, runs, report.md, report.json)")
    parser.add_argument("--quick", action="store_true", help="smaller data and fewer epochs (≤ 3 minutes)")
    parser.add_argument("--video-root", default=None,
                        help="a dataset in the UCF101 layout (class folders + ucfTrainTestlist/) instead "
                             "of the synthetic videos")
    parser.add_argument("--skeleton-root", default=None,
                        help="a folder of raw NTU .skeleton files (xsub split) instead of synthetic ones")
    parser.add_argument("--device", default="auto", help="auto (CUDA when present) | cpu | cuda")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=None, help="data-preparation processes (default 2)")
    parser.add_argument("--setting", choices=("scene_cue", "motion_only"), default="scene_cue",
                        help="synthetic videos: scene_cue (default: half the clips in their class's "
                             "scene, as actions co-occur with scenes) or motion_only (a fresh look per clip: "
                             "motion is the only class signal)")
    parser.add_argument("--evaluate-on", choices=("test", "validation"), default="test",
                        help="report on the test split, or on a validation split carved from the video "
                             "training list (whole groups), to choose settings without the test split")
    parser.add_argument("--flow-method", default=None, choices=["tvl1", "dis", "farneback"],
                        help="optical flow for the video data (default dis; the paper uses tvl1)")


def main(args: argparse.Namespace) -> int:
    from vimix_ssl.jobs.demo.report import console_table
    from vimix_ssl.jobs.demo.run import SETTINGS, DemoConfig, run_demo, with_overrides

    base = DemoConfig.quick() if args.quick else DemoConfig()
    cfg = with_overrides(base, out=args.out, video_root=args.video_root or "", device=args.device,
                         skeleton_root=args.skeleton_root or "", seed=args.seed, workers=args.workers,
                         flow_method=args.flow_method, evaluate_on=args.evaluate_on, **SETTINGS[args.setting])
    report = run_demo(cfg)
    print(console_table(report))
    print(f"report: {cfg.out}/report.md ({report['timing_seconds']['total']} s)")
    return 0
