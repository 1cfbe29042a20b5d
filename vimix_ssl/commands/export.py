"""``vimix export CKPT --modality rgb --out FILE``: extract a standalone encoder file."""

from __future__ import annotations

import argparse
import sys

HELP = "extract one modality's encoder from a training checkpoint into a standalone encoder file"

MODALITY_CHOICES = ("rgb", "flow", "joint", "motion", "bone")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("checkpoint", help="training checkpoint written by `vimix pretrain` / `vimix train`")
    parser.add_argument("--modality", required=True, choices=MODALITY_CHOICES,
                        help="which modality's query encoder to export")
    parser.add_argument("--out", required=True,
                        help="encoder file to write (atomic); load it with vimix_ssl.load_encoder(FILE); "
                        "an existing file is refused unless --force, the input checkpoint always")
    parser.add_argument("--force", action="store_true", help="replace an existing --out file")


def main(args: argparse.Namespace) -> int:
    from vimix_ssl.models.export import export_from_checkpoint, load_encoder
    from vimix_ssl.utils.checkpoint import CheckpointError

    try:
        path = export_from_checkpoint(args.checkpoint, args.modality, args.out, overwrite=args.force)
        encoder = load_encoder(path, expected_modality=args.modality)  # proves the file reloads
    except (CheckpointError, FileNotFoundError, FileExistsError) as e:
        print(f"vimix export: {e}", file=sys.stderr)
        return 2
    spec = encoder.spec
    kwargs = ", ".join(f"{k}={v!r}" for k, v in sorted(spec["kwargs"].items()))
    print(f"wrote {path}: {spec['name']}({kwargs}) for {args.modality!r}, "
          f"{encoder.feature_dim}-d features, epoch {spec['meta'].get('epoch')}, "
          f"step {spec['meta'].get('step')}")
    return 0
