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
    parser.add_argument("--flow-method", default=None, choices=["tvl1", "dis", "farneback"],
                        help="optical flow for the video data (default dis; the paper uses tvl1)")


def main(args: argparse.Namespace) -> int:
    from vimix_ssl.jobs.demo.run import DemoConfig, run_demo, with_overrides

    base = DemoConfig.quick() if args.quick else DemoConfig()
    cfg = with_overrides(base, out=args.out, video_root=args.video_root or "", device=args.device,
                         skeleton_root=args.skeleton_root or "", seed=args.seed, workers=args.workers,
                         flow_method=args.flow_method)
    report = run_demo(cfg)
    print(f"{'modality':8} {'encoder':7} {'linear':>7} {'R@1':>6} {'R@5':>6} {'R@10':>6} {'kNN':>6}")
    for r in report["results"]:
        print(f"{r['modality']:8} {r['encoder']:7} {r['linear_top1']:7.1f} {r['r_at_1']:6.1f} "
              f"{r['r_at_5']:6.1f} {r['r_at_10']:6.1f} {r['knn_top1']:6.1f}")
    print(f"report: {cfg.out}/report.md ({report['timing_seconds']['total']} s)")
    return 0
