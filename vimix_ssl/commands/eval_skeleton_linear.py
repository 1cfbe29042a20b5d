"""``vimix eval skeleton-linear [CONFIG] --encoder FILE``: CrosSCLR linear evaluation on NTU-60."""

from __future__ import annotations

import argparse

HELP = "skeleton linear evaluation (frozen ST-GCN, SGD lr 3.0, 100 epochs) on NTU-60 xsub and/or xview"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from vimix_ssl.commands.eval_retrieval import add_eval_arguments

    add_eval_arguments(parser)
    parser.add_argument("--benchmark", nargs="+", default=["xsub", "xview"], choices=["xsub", "xview"],
                        help="benchmarks to evaluate (default: both)")


def main(args: argparse.Namespace) -> int:
    from vimix_ssl.jobs.evaluate.linear import run_skeleton
    from vimix_ssl.jobs.evaluate.session import run_command

    return run_command(run_skeleton, args)
