"""``vimix pretrain CONFIG [key=value ...]``: MoCo / i-Mix / SkeletonCLR / Vi-Mix schedule pre-training."""

from __future__ import annotations

import argparse

HELP = "self-supervised pre-training (MoCo, i-Mix, SkeletonCLR, Vi-Mix stage schedules) from a YAML config"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("config", help="YAML config, e.g. configs/pretrain/ucf101_mixup.yaml")
    parser.add_argument("overrides", nargs="*", metavar="key=value",
                        help="dotted overrides, e.g. out_dir=runs/x data.root=/data/ucf101 "
                             "stage_defaults.epochs=10 resume=never")
    parser.epilog = ("Multi-GPU: torchrun --nproc_per_node=N -m vimix_ssl pretrain CONFIG ... "
                     "(data.batch_size is per process). Ctrl-C saves a checkpoint; rerunning the same "
                     "command resumes (resume=auto).")


def main(args: argparse.Namespace) -> int:
    import sys

    from vimix_ssl.config import ConfigError
    from vimix_ssl.engine.trainer import NonFiniteLossError
    from vimix_ssl.jobs.pretrain.config import load_pretrain_config
    from vimix_ssl.jobs.pretrain.schedule import run_pretrain

    # Other errors (bad config values, missing files, unreadable checkpoints, a full disk) reach the
    # one handler in vimix_ssl.cli: a message and exit code 2 (a traceback with --debug).
    try:
        config = load_pretrain_config(args.config, args.overrides)
    except ConfigError as e:
        if str(e).startswith(str(args.config)):
            raise
        raise ConfigError(f"{args.config}: {e}") from e
    try:
        out_dir = run_pretrain(config)
    except NonFiniteLossError as e:
        print(f"vimix pretrain: {e}", file=sys.stderr)
        return 3
    print(f"pre-training finished: {out_dir}")
    return 0
