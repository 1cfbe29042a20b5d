"""``vimix study``: several seeds of Vi-Mix Tables 1, 2 and 5 on the synthetic benchmarks."""

from __future__ import annotations

import argparse

HELP = "reproduction study: do Vi-Mix's orderings (Tables 1, 2, 5; flow vs RGB) hold on synthetic data?"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", default="study_out", help="output folder (study.md, study.json, runs)")
    parser.add_argument("--seeds", default="0,1,2", help="comma-separated training seeds")
    parser.add_argument("--tables", default="1,2,5", help="which of Vi-Mix's tables to run")
    parser.add_argument("--stage-epochs", type=int, default=4, help="epochs of each row's stages")
    parser.add_argument("--full", action="store_true", help="the full demo sizes instead of --quick's")
    parser.add_argument("--device", default="auto")


def main(args: argparse.Namespace) -> int:
    import sys

    from vimix_ssl.jobs.demo.run import DemoConfig
    from vimix_ssl.jobs.study import StudyConfig, run_study

    demo = (DemoConfig if args.full else DemoConfig.quick)(out=args.out, device=args.device)
    cfg = StudyConfig(demo=demo, seeds=[int(s) for s in args.seeds.split(",")],
                      tables=[int(t) for t in args.tables.split(",")], stage_epochs=args.stage_epochs)
    result = run_study(cfg, command="vimix study " + " ".join(sys.argv[2:]))
    for c in result["claims"]:
        print(f"{'holds' if c['holds'] else 'fails':5}  {c['claim']}: {c['better']:.1f} vs {c['worse']:.1f}")
    print(f"study: {args.out}/study.md")
    return 0
