"""``vimix <command> [subcommand] ...`` — argument parsing only, no logic.

Each leaf command lives in its own module under ``vimix_ssl.commands`` exposing
``HELP`` (one line), ``add_arguments(parser)`` and ``main(args) -> int | None``.
Command modules import heavy libraries (torch, cv2) inside ``main`` so that
``vimix --help`` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

# command -> module, or command -> {subcommand -> module}
COMMANDS: dict[str, str | dict[str, str]] = {
    "synth": {
        "video": "vimix_ssl.commands.synth_video",
        "skeleton": "vimix_ssl.commands.synth_skeleton",
    },
    "prepare": {
        "video": "vimix_ssl.commands.prepare_video",
        "flow": "vimix_ssl.commands.prepare_flow",
        "check": "vimix_ssl.commands.prepare_check",
        "ntu": "vimix_ssl.commands.prepare_ntu",
    },
    "data": {
        "check": "vimix_ssl.commands.data_check",
    },
    "list": {
        "encoders": "vimix_ssl.commands.list_encoders",
        "mixers": "vimix_ssl.commands.list_mixers",
    },
    "export": "vimix_ssl.commands.export",
    "pretrain": "vimix_ssl.commands.pretrain",
    "train": "vimix_ssl.commands.train",
    "compare": "vimix_ssl.commands.compare",
    "eval": {
        "retrieval": "vimix_ssl.commands.eval_retrieval",
        "linear": "vimix_ssl.commands.eval_linear",
        "finetune": "vimix_ssl.commands.eval_finetune",
        "knn": "vimix_ssl.commands.eval_knn",
        "skeleton-linear": "vimix_ssl.commands.eval_skeleton_linear",
        "report": "vimix_ssl.commands.eval_report",
    },
    "demo": "vimix_ssl.commands.demo",
    "bench": "vimix_ssl.commands.bench",
    "study": "vimix_ssl.commands.study",
}


def _add_leaf(subparsers: argparse._SubParsersAction, name: str, module_name: str) -> None:
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as e:
        if e.name != module_name:
            raise
        return  # command not installed in this build (tests/test_cli.py requires all of them)
    parser = subparsers.add_parser(name, help=module.HELP, description=module.HELP)
    module.add_arguments(parser)
    parser.set_defaults(_module=module_name)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vimix", description="vimix_ssl: Vi-Mix self-supervised video representation learning")
    parser.add_argument("--version", action="version", version=_version())
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, target in COMMANDS.items():
        if isinstance(target, str):
            _add_leaf(sub, name, target)
            continue
        group = sub.add_parser(name, help=f"{name} subcommands: {', '.join(target)}")
        group_sub = group.add_subparsers(dest="subcommand", metavar="SUBCOMMAND", required=True)
        for leaf, module_name in target.items():
            _add_leaf(group_sub, leaf, module_name)
    return parser


def _version() -> str:
    from vimix_ssl import __version__

    return f"vimix_ssl {__version__}"


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    module = importlib.import_module(args._module)
    try:
        code = module.main(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return int(code or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
