"""``vimix compare CONFIG --mixers baseline,mixup,videomix,... [--seeds 0,1,2] [key=value ...]``.

Argument parsing only; the job is ``vimix_ssl.jobs.supervised.compare``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from vimix_ssl.jobs.supervised.compare import DEFAULT_MIXERS

HELP = ("train one supervised config with several mixers (same seeds and budget) and tabulate the results "
        "with 95 % intervals and verdicts on the papers' claimed orderings")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("config", help="supervised YAML config, e.g. configs/supervised/synth_baseline.yaml")
    parser.add_argument("overrides", nargs="*", metavar="key=value", help="overrides applied to every run")
    parser.add_argument("--mixers", default=DEFAULT_MIXERS,
                        help="comma-separated mixer names ('baseline' = none; 'randaugment_t[:VARIANT]' = no "
                             "mixer + RandAugment-T; default %(default)s)")
    parser.add_argument("--seeds", metavar="S1,S2,...",
                        help="train every mixer once per seed (runs in OUT/<mixer>/seed<N> when several); "
                             "default: the config's seed only, in OUT/<mixer>")
    parser.add_argument("--out", default="runs/compare", help="folder for the runs and the table")
    parser.add_argument("--test-views", metavar="PROTOCOL",
                        help="test protocol: centre (1 clip, 1 crop), seed000 (2 clips x 3 crops at 256), "
                             "seed002 (10 clips), seed003 (10 clips x 3 crops at 256) or NxM[@S]; "
                             "same as test_views=PROTOCOL")


def parse_seeds(text: str | None) -> list[int] | None:
    """``"0,1,2"`` -> ``[0, 1, 2]``; None -> None (the config's seed). Empty or repeated seeds are
    refused by ``run_comparison``."""
    if text is None:
        return None
    try:
        return [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        raise ValueError(f"--seeds: expected comma-separated integers, got {text!r}") from None


def main(args: argparse.Namespace) -> int:
    from vimix_ssl.config import ConfigError
    from vimix_ssl.jobs.supervised.compare import command_line, markdown, run_comparison

    names = [n.strip() for n in args.mixers.split(",") if n.strip()]
    overrides = [*args.overrides, *([f"test_views={args.test_views}"] if args.test_views else [])]
    command = command_line(args.config, overrides, args.mixers, args.out, args.seeds)
    try:
        seeds = parse_seeds(args.seeds)
        report = run_comparison(args.config, overrides, names, Path(args.out), command, seeds)
    except (ConfigError, ValueError) as e:
        print(f"vimix compare: {args.config}: {e}", file=sys.stderr)
        return 2
    print(markdown(report))
    return 0
