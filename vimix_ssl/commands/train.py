"""``vimix train CONFIG [key=value ...]``: supervised training with a video mixer (METHOD §6).

Argument parsing only; the job is ``vimix_ssl.jobs.supervised.run``.
"""

from __future__ import annotations

import argparse

HELP = "supervised video classification with a mixer (mixup, videomix, framecutmix, svmix, ...)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("config", help="YAML config, e.g. configs/supervised/synth_videomix.yaml")
    parser.add_argument("overrides", nargs="*", metavar="key=value",
                        help="dotted overrides, e.g. mixer=framecutmix mixer_kwargs.alpha=5 epochs=2")
    parser.add_argument("--test-views", metavar="PROTOCOL",
                        help="test protocol: centre (1 clip, 1 crop), seed000 (2 clips x 3 crops at 256), "
                             "seed002 (10 clips), seed003 (10 clips x 3 crops at 256) or NxM[@S]; "
                             "same as test_views=PROTOCOL")


def main(args: argparse.Namespace) -> int:
    import sys

    from vimix_ssl.config import ConfigError
    from vimix_ssl.jobs.supervised.config import load_supervised_config
    from vimix_ssl.jobs.supervised.run import run_supervised

    try:
        views = [f"test_views={args.test_views}"] if args.test_views else []
        config = load_supervised_config(args.config, [*args.overrides, *views])
        results = run_supervised(config)
    except ConfigError as e:
        print(f"vimix train: {args.config}: {e}", file=sys.stderr)
        return 2
    print(f"top-1 {results['top1']:.2f}%  top-5 {results['top5']:.2f}%  ({config.out_dir}/results.json)")
    return 0
