"""``vimix bench``: run the benchmark suite side by side and write JSON + Markdown."""

from __future__ import annotations

import argparse

HELP = "run the benchmarks (loader, augmentation, flow, MoCo/CMMC step, retrieval) and write JSON + Markdown"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", default="bench_results.md",
                        help="Markdown output path; JSON is written beside it (.json)")
    parser.add_argument("--quick", action="store_true", help="tiny sizes (seconds): a smoke run")
    parser.add_argument("--only", default=None,
                        help="comma-separated areas (default: all): loader, flow, moco, cmmc, retrieval")


def main(args: argparse.Namespace) -> int:
    from vimix_ssl.jobs.bench.runner import run_suite

    areas = args.only.split(",") if args.only else None
    results = run_suite(areas=areas, quick=args.quick, out=args.out)
    failed = [r["area"] for r in results if r.get("error")]
    return 1 if failed else 0
