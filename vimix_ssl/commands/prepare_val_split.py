"""``vimix prepare val-split SPLITS --out DIR``: a validation split carved from a training list.

Choose settings on it (``data.splits=DIR``: its test list is the validation groups), then
train on the full training list and report once on the test split. See data/validation.py.
"""

from __future__ import annotations

import argparse

HELP = "carve a validation split (whole groups) from a UCF101-layout training list, for choosing settings"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("splits", metavar="SPLITS",
                        help="UCF101 split folder (classInd.txt, trainlist0N.txt), or the dataset root "
                             "holding ucfTrainTestlist/")
    parser.add_argument("--out", required=True, help="new split folder (use it as data.splits)")
    parser.add_argument("--split", type=int, default=1, choices=(1, 2, 3), help="which split (default 1)")
    parser.add_argument("--fraction", type=float, default=0.2,
                        help="share of the training groups held out (default %(default)s)")
    parser.add_argument("--seed", type=int, default=0, help="which groups are drawn (default %(default)s)")


def main(args: argparse.Namespace) -> int:
    from vimix_ssl.data.validation import carve_validation

    record = carve_validation(args.splits, args.out, split=args.split, fraction=args.fraction, seed=args.seed)
    print(f"validation split: {record['validation_videos']} videos in groups {record['validation_groups']}, "
          f"{record['train_videos']} training videos left; wrote {args.out} (use data.splits={args.out})")
    return 0
