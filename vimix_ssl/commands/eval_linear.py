"""``vimix eval linear [CONFIG] --encoder FILE``: linear probe on the frozen encoder."""

from __future__ import annotations

import argparse

HELP = "linear probe (L2-norm -> BN -> Linear) on a frozen encoder: cached features or end-to-end"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from vimix_ssl.commands.eval_retrieval import add_eval_arguments

    add_eval_arguments(parser)


def main(args: argparse.Namespace) -> int:
    from vimix_ssl.jobs.evaluate.linear import run
    from vimix_ssl.jobs.evaluate.session import run_command

    return run_command(run, args)
