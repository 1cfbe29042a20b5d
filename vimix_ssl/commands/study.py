"""``vimix study``: several seeds of Vi-Mix Tables 1, 2 and 5 on the synthetic benchmarks."""

from __future__ import annotations

import argparse

HELP = "reproduction study: do Vi-Mix's orderings (Tables 1, 2, 5; flow vs RGB) hold on synthetic data?"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", default="study_out", help="output folder (study.md, study.json, runs)")
    parser.add_argument("--seeds", default="0,1,2", help="comma-separated training seeds")
    parser.add_argument("--tables", default="1,2,5", help="which of Vi-Mix's tables to run")
    parser.add_argument("--table1-modalities", default="rgb",
                        help="modalities whose stage 0 runs Table 1's input-mixing rows (rgb, flow; "
                             "the paper: rgb)")
    parser.add_argument("--stage-epochs", type=int, default=4, help="epochs of each row's stages")
    parser.add_argument("--stage0-epochs", type=int, default=None,
                        help="epochs of every video stage 0 (default: the demo's for the chosen size)")
    parser.add_argument("--video-per-class", type=int, default=300,
                        help="synthetic videos per class (default %(default)s: >= 500 test clips)")
    parser.add_argument("--skeleton-per-class", type=int, default=100,
                        help="synthetic skeleton samples per class for Table 5 (default %(default)s)")
    parser.add_argument("--video-stride", type=int, default=None,
                        help="frames between a clip's frames (default: the demo's)")
    parser.add_argument("--settings", default="motion_only,scene_cue",
                        help="synthetic video settings, comma-separated (motion_only, scene_cue)")
    parser.add_argument("--evaluate-on", choices=("test", "validation"), default="test",
                        help="test split, or a validation split carved from the training list (whole groups) "
                             "for choosing settings")
    parser.add_argument("--full", action="store_true", help="the full demo sizes instead of --quick's")
    parser.add_argument("--device", default="auto")


def main(args: argparse.Namespace) -> int:
    import sys

    from vimix_ssl.jobs.demo.run import DemoConfig
    from vimix_ssl.jobs.study import StudyConfig, run_study

    sizes = {} if args.video_stride is None else {"video_stride": args.video_stride}
    demo = (DemoConfig if args.full else DemoConfig.quick)(out=args.out, device=args.device, **sizes)
    cfg = StudyConfig(demo=demo, seeds=[int(s) for s in args.seeds.split(",")],
                      tables=[int(t) for t in args.tables.split(",")], stage_epochs=args.stage_epochs,
                      stage0_epochs=args.stage0_epochs, video_per_class=args.video_per_class,
                      skeleton_per_class=args.skeleton_per_class,
                      table1_modalities=args.table1_modalities.split(","),
                      settings=args.settings.split(","), evaluate_on=args.evaluate_on)
    result = run_study(cfg, command="vimix study " + " ".join(sys.argv[2:]))
    for c in result["claims"]:
        verdict = c["verdict"] or ("higher mean, no interval" if c["holds"] else "lower mean, no interval")
        difference = f" ({c['difference']:+.1f} [{c['low']:+.1f}, {c['high']:+.1f}])" if c["verdict"] else ""
        print(f"{c['setting']}: {c['claim']}: {c['better']:.1f} vs {c['worse']:.1f}{difference}: {verdict}")
    print(f"study: {args.out}/study.md")
    return 0
