"""``vimix eval finetune [CONFIG] --encoder FILE`` or ``vimix eval finetune --fuse RGB.npz FLOW.npz``."""

from __future__ import annotations

import argparse

HELP = ("finetune the whole network (backbone at lr/10, dropout, optional mixer; ten-crop x dense-clip "
        "test), or fuse two streams' predictions")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from vimix_ssl.commands.eval_retrieval import add_eval_arguments

    add_eval_arguments(parser, encoder_required=False)
    parser.add_argument("--fuse", nargs=2, metavar=("FIRST", "SECOND"), default=None,
                        help="two-stream fusion: average the per-video probabilities of two "
                             "finetune results (predictions .npz) instead of training")


def main(args: argparse.Namespace) -> int:
    from vimix_ssl.jobs.evaluate.finetune import run
    from vimix_ssl.jobs.evaluate.session import run_command

    return run_command(run, args)
