"""``vimix eval report DIR``: Markdown table + plots of a run directory's evaluation results."""

from __future__ import annotations

import argparse

HELP = "render a run directory's evaluation results as Markdown with plots (confusion, PCA, retrieval grid)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dir", help="run directory holding eval/*.json (the --out of `vimix eval ...`)")


def main(args: argparse.Namespace) -> int:
    import sys

    from vimix_ssl.jobs.evaluate.session import render_report

    try:
        path = render_report(args.run_dir)
    except (FileNotFoundError, ValueError) as e:
        print(f"vimix eval report: {e}", file=sys.stderr)
        return 2
    print(f"wrote {path}")
    return 0
