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
    import sys

    from vimix_ssl.commands import eval_linear
    from vimix_ssl.eval import SKELETON_MODALITIES

    if args.modality is not None and args.modality not in SKELETON_MODALITIES:
        print(f"vimix eval skeleton-linear: --modality must be one of {SKELETON_MODALITIES}, "
              f"got {args.modality!r}", file=sys.stderr)
        return 2
    code = 0
    for benchmark in args.benchmark:
        one = argparse.Namespace(**vars(args), require_skeleton=True)
        one.overrides = [*args.overrides, f"skeleton.benchmark={benchmark}"]
        code = max(code, eval_linear.main(one))
    return code
