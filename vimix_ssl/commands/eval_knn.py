"""``vimix eval knn [CONFIG] --encoder FILE``: weighted kNN accuracy of frozen features."""

from __future__ import annotations

import argparse

HELP = "weighted k-nearest-neighbour top-1 accuracy of any encoder's frozen features"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from vimix_ssl.commands.eval_retrieval import add_eval_arguments

    add_eval_arguments(parser)


def main(args: argparse.Namespace) -> int:
    from vimix_ssl.jobs.evaluate.knn import run
    from vimix_ssl.jobs.evaluate.session import run_command

    return run_command(run, args)
