"""``vimix list encoders [--stages]``: registered encoders, feature sizes and mixable stages."""

from __future__ import annotations

import argparse

HELP = "list registered encoders: feature dim, input layout, mixable stages with channels"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--stages", action="store_true",
                        help="also print every stage (mixable or not) with its output channels")


def describe_encoders(stages: bool = False) -> list[str]:
    """Lines describing each registered encoder at its default arguments."""
    import torch

    from vimix_ssl.models.registry import build_encoder, list_encoders

    lines = []
    for name in list_encoders():
        with torch.device("meta"):  # describe without allocating or initialising weights
            encoder = build_encoder(name)
        layout = ", ".join(f"C={encoder.in_channels}" if axis == "c" else axis.upper()
                           for axis in "b" + encoder.input_layout)
        mixable = ", ".join(f"{s}:{encoder.stage_channels[s]}" for s in encoder.mixable)
        lines.append(f"{name:<14} features {encoder.feature_dim:<5} input ({layout})  "
                     f"hidden ({', '.join(('b' + encoder.feature_layout).upper())})")
        lines.append(f"  mixable: {mixable}")
        if stages:
            for row in encoder.describe():
                flag = "mixable" if row["mixable"] else "-"
                lines.append(f"    {row['stage']:<10} {row['channels']:>5}  {flag}")
    return lines


def main(args: argparse.Namespace) -> int:
    print("\n".join(describe_encoders(args.stages)))
    return 0
