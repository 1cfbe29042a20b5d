"""``vimix eval retrieval [CONFIG] --encoder FILE``: nearest-neighbour video retrieval R@k."""

from __future__ import annotations

import argparse

HELP = "video retrieval R@k (queries = test split, gallery = train split, FAISS cosine search)"


MODALITIES = ("rgb", "flow", "joint", "motion", "bone")


def add_eval_arguments(parser: argparse.ArgumentParser, encoder_required: bool = True) -> None:
    """Arguments shared by the `vimix eval` commands (argparse only: `vimix --help` stays fast)."""
    parser.add_argument("config", nargs="?", default=None,
                        help="evaluation YAML (configs/eval/*.yaml); omit to use the defaults")
    parser.add_argument("overrides", nargs="*", default=[],
                        help="key=value overrides, e.g. data.root=/data/ucf101 probe.epochs=50")
    parser.add_argument("--encoder", required=encoder_required,
                        help="encoder file from `vimix export`, or a training checkpoint (+ --modality)")
    parser.add_argument("--modality", default=None, choices=MODALITIES,
                        help="which encoder of a training checkpoint; checked against an encoder file")
    parser.add_argument("--out", default="runs/eval",
                        help="run directory: results in OUT/eval/*.json, table in OUT/results.md")
    parser.add_argument("--protocol", default=None, metavar="NAMES",
                        help="protocol preset(s), comma-separated: clean (default), coclr, crossclr; "
                             "several run one after the other into the same results table")
    parser.add_argument("--force", action="store_true",
                        help="evaluate even when explicit settings (flow_units, normalisation, clip_len, "
                             "size) disagree with the encoder file's record; the result records it")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_eval_arguments(parser)


def main(args: argparse.Namespace) -> int:
    from vimix_ssl.jobs.evaluate.retrieval import run
    from vimix_ssl.jobs.evaluate.session import run_command

    return run_command(run, args)
