"""``vimix list mixers [--arguments]``: every input mixer by name, with aliases and λ meaning."""

from __future__ import annotations

import argparse

HELP = "list video mixers (names, aliases, what lam means, arguments) plus RandAugment-T and SV-Mix"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--arguments", action="store_true",
                        help="also print each mixer's keyword arguments with their defaults")


def describe_mixers(arguments: bool = False) -> list[str]:
    """Lines describing each registered mixer and the two non-registry augmentations."""
    from vimix_ssl.mixing.registry import list_mixers

    lines = []
    for row in list_mixers():
        alias = f" (alias: {row['aliases']})" if row["aliases"] else ""
        lines.append(f"{row['name']:<16} {row['description']}{alias}")
        lines.append(f"{'':<16} lam = {row['lam']}")
        if arguments:
            lines.append(f"{'':<16} arguments: {row['arguments']}")
    lines.append(f"{'svmix':<16} learned selective volume mixup (seed 000); needs the classifier, "
                 "so it is configured in a supervised method (mixer: svmix), not built by name")
    lines.append(f"{'randaugment_t':<16} RandAugment-T (seed 002) per-clip augmentation; variants "
                 "spatial, temporal, temporal+, mix")
    return lines


def main(args: argparse.Namespace) -> int:
    print("\n".join(describe_mixers(args.arguments)))
    return 0
