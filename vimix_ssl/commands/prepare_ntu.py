"""``vimix prepare ntu RAW_DIR OUT_DIR``: NTU RGB+D .skeleton files -> memory-mappable arrays."""

from __future__ import annotations

import argparse
import sys

HELP = "parse NTU RGB+D .skeleton files into xsub/xview arrays (raw and frame50) with a manifest"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("raw_dir", metavar="RAW_DIR", help="folder of SsssCcccPpppRrrrAaaa.skeleton files")
    parser.add_argument("out_dir", metavar="OUT_DIR", help="output folder (arrays, manifest.json, cache/)")
    parser.add_argument("--workers", type=int, default=None, help="parser processes (default: all cores)")
    parser.add_argument("--missing", metavar="LIST", default=None,
                        help="sample names to skip, e.g. NTU_RGBD_samples_with_missing_skeletons.txt "
                             "(its 3 header lines are skipped; a names-only list works too)")
    parser.add_argument("--max-frames", type=int, default=300, help="T of the raw arrays (default 300)")
    parser.add_argument("--max-bodies", type=int, default=2, help="M, bodies kept per sample (default 2)")
    parser.add_argument("--body-select", choices=("first", "active"), default="first",
                        help="which bodies when a frame lists more than M: the first listed (default) "
                             "or the most active by joint standard deviation")
    parser.add_argument("--frame50-length", type=int, default=50,
                        help="frames of the resampled 'frame50' arrays (default 50)")
    parser.add_argument("--dataset", choices=("ntu60", "ntu120"), default="ntu60",
                        help="benchmark: ntu60 keeps actions A001-A060 (60 classes), ntu120 A001-A120 "
                             "(120 classes); other actions are left out and counted (default %(default)s)")


def main(args: argparse.Namespace) -> int:
    from vimix_ssl.data.skeleton.prepare import NtuPrepareConfig, prepare_ntu

    if args.max_frames < 1 or args.max_bodies < 1 or args.frame50_length < 1:
        print(f"error: --max-frames, --max-bodies and --frame50-length must be >= 1, got "
              f"{args.max_frames}, {args.max_bodies}, {args.frame50_length}", file=sys.stderr)
        return 2
    config = NtuPrepareConfig(dataset=args.dataset, max_frames=args.max_frames, max_bodies=args.max_bodies,
                              body_select=args.body_select, frame50_length=args.frame50_length)
    manifest = prepare_ntu(args.raw_dir, args.out_dir, missing_list=args.missing, config=config,
                           workers=args.workers)
    print(manifest["summary"])
    counts = manifest["counts"]
    print(f"{counts['files']} files: {counts['missing_skipped']} on the missing list skipped, "
          f"{counts['other_actions_skipped']} of actions outside {args.dataset} left out, "
          f"{counts['badly_named']} not named like NTU samples left out, "
          f"{counts['empty']} without any body left out, {counts['usable']} usable, "
          f"{manifest['num_classes']} classes ({args.dataset})")
    for entry in manifest["badly_named"][:5]:
        print(f"  NOT AN NTU NAME {entry['file']}: left out", file=sys.stderr)
    for benchmark, parts in manifest["benchmarks"].items():
        sizes = ", ".join(f"{split} {entry['num_samples']}" for split, entry in parts.items())
        print(f"  {benchmark}: {sizes}")
    print(f"wrote the arrays and {args.out_dir}/manifest.json")
    return 1 if counts["failed"] else 0
