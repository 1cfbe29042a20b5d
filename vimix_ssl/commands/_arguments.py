"""Argument groups shared by several commands (kept free of heavy imports)."""

from __future__ import annotations

import argparse

VIDEO_DATASETS = ("ucf101", "hmdb51", "kinetics400", "folder")


def add_dataset_arguments(parser: argparse.ArgumentParser, required: bool = True,
                          when: str = "") -> None:
    """``--dataset``, ``--root``, ``--splits``: where a video dataset is and how it is annotated."""
    parser.add_argument("--dataset", required=required, choices=VIDEO_DATASETS,
                        help=f"annotation layout of the dataset{when}")
    parser.add_argument("--root", required=required, help=f"dataset root holding the videos{when}")
    parser.add_argument("--splits", default=None,
                        help="split-file folder (UCF101, HMDB51) or Kinetics CSV / CSV folder "
                             "(default: found under --root)")
