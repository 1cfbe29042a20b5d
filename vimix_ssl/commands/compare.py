"""``vimix compare CONFIG --mixers baseline,mixup,videomix,... [key=value ...]``.

Trains the same supervised config once per mixer (same seed, data, model and epochs; only
``mixer`` and ``out_dir`` differ), then writes ``OUT/comparison.json`` and
``OUT/comparison.md`` with top-1/top-5 per mixer and the command that produced them.
A mixer whose run already wrote ``results.json`` is not retrained (delete it to redo).
``mixer_kwargs`` of the config apply to every mixer, so compare from a config without them
(e.g. ``configs/supervised/synth_baseline.yaml``); each mixer then runs at its defaults.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path

HELP = "train one supervised config with several mixers (same seed and budget) and tabulate the results"

DEFAULT_MIXERS = "baseline,mixup,videomix,framecutmix,cubecutmix,fademixup,svmix"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("config", help="supervised YAML config, e.g. configs/supervised/synth_baseline.yaml")
    parser.add_argument("overrides", nargs="*", metavar="key=value", help="overrides applied to every run")
    parser.add_argument("--mixers", default=DEFAULT_MIXERS,
                        help="comma-separated mixer names ('baseline' = none; default %(default)s)")
    parser.add_argument("--out", default="runs/compare", help="folder for the runs and the table")


def markdown_table(rows: list[dict], command: str) -> str:
    lines = ["| mixer | top-1 (%) | top-5 (%) | test videos |", "|---|---:|---:|---:|"]
    lines += [f"| {r['mixer']} | {r['top1']:.2f} | {r['top5']:.2f} | {r['test_videos']} |" for r in rows]
    return "\n".join(lines) + f"\n\nProduced by:\n\n```\n{command}\n```\n"


def main(args: argparse.Namespace) -> int:
    from vimix_ssl.commands.train import load_supervised_config, run_supervised
    from vimix_ssl.config import ConfigError
    from vimix_ssl.methods.supervised import SVMIX
    from vimix_ssl.mixing.registry import canonical_name
    from vimix_ssl.utils.io import atomic_write_json, atomic_write_text

    names = [n.strip() for n in args.mixers.split(",") if n.strip()]
    out = Path(args.out)
    rows = []
    try:
        for name in names:
            mixer = SVMIX if name == SVMIX else canonical_name(name)
            run_dir = out / name
            config = load_supervised_config(args.config, [*args.overrides, f"mixer={mixer}",
                                                          f"out_dir={run_dir}"])
            done = run_dir / "results.json"
            results = json.loads(done.read_text()) if done.is_file() else run_supervised(config)
            rows.append({**results, "mixer": name})
            print(f"{name}: top-1 {results['top1']:.2f}%", file=sys.stderr)
    except (ConfigError, ValueError) as e:
        print(f"vimix compare: {args.config}: {e}", file=sys.stderr)
        return 2
    words = [args.config, *args.overrides, "--mixers", args.mixers, "--out", args.out]
    command = "vimix compare " + " ".join(shlex.quote(a) for a in words)
    atomic_write_json(out / "comparison.json", {"command": command, "rows": rows})
    atomic_write_text(out / "comparison.md", markdown_table(rows, command))
    print(markdown_table(rows, command))
    return 0
