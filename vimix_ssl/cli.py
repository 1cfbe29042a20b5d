"""``vimix <command> [subcommand] ...`` — argument parsing only, no logic.

Each leaf command lives in its own module under ``vimix_ssl.commands`` exposing
``HELP`` (one line), ``add_arguments(parser)`` and ``main(args) -> int | None``.
Command modules import heavy libraries (torch, cv2) inside ``main`` so that
``vimix --help`` stays fast.

Errors: one handler for the whole command line. A user error (a bad config key or value,
a missing or unreadable file, a full disk, a checkpoint that is not one...) prints one
line (or a short list) naming the file, key or value, and exits with code 2, without a
traceback; ``vimix --debug ...`` shows the traceback instead. Anything else is a bug and
keeps its traceback.
"""

from __future__ import annotations

import argparse
import errno
import importlib
import sys
from collections.abc import Sequence

EXIT_USER_ERROR = 2
EXIT_INTERRUPTED = 130
MAX_MESSAGE_LINES = 25  # a "short list": longer messages are cut with a count of what was left out
# Project error types that are not ValueError/OSError subclasses: (module, class name), looked up only
# in modules already imported (an error of that type can only come from a loaded module).
USER_ERROR_TYPES = (("vimix_ssl.utils.checkpoint", "CheckpointError"), ("vimix_ssl.data.store", "StoreError"),
                    ("vimix_ssl.data.video", "VideoReadError"))

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
        "val-split": "vimix_ssl.commands.prepare_val_split",
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
    "doctor": "vimix_ssl.commands.doctor",
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
    parser.add_argument("--debug", action="store_true",
                        help="show the Python traceback of an error instead of a one-line message")
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


def is_user_error(error: BaseException) -> bool:
    """Errors that describe bad input or a failing environment, not a bug in vimix_ssl."""
    if isinstance(error, (ValueError, OSError)):  # ConfigError, SplitError, FileNotFoundError, ENOSPC...
        return True
    for module_name, class_name in USER_ERROR_TYPES:
        cls = getattr(sys.modules.get(module_name), class_name, None)
        if cls is not None and isinstance(error, cls):
            return True
    return False


def format_error(error: BaseException) -> str:
    """The error as a short message that names the file, key or value it is about."""
    if isinstance(error, OSError) and error.strerror and error.filename is not None:
        where = f"{error.filename}" + (f" -> {error.filename2}" if error.filename2 else "")
        if error.errno in (errno.ENOSPC, errno.EDQUOT):
            text = f"no space left on the device writing {where} (the previous file, if any, is kept)"
        elif error.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
            text = f"permission denied: {where} (is the folder writable / the file readable?)"
        elif error.errno == errno.ENOENT:
            text = f"not found: {where}"
        else:
            text = f"{where}: {error.strerror}"
    else:
        text = str(error).strip() or type(error).__name__
        if isinstance(error, KeyError) and error.args:  # str(KeyError) is the repr of the key
            text = f"missing key {error.args[0]!r}"
    lines = text.splitlines()
    if len(lines) > MAX_MESSAGE_LINES:
        lines = lines[:MAX_MESSAGE_LINES] + [f"... and {len(lines) - MAX_MESSAGE_LINES} more lines"]
    return "\n".join(lines)


def _command_name(args: argparse.Namespace) -> str:
    return " ".join(w for w in ("vimix", getattr(args, "command", None), getattr(args, "subcommand", None))
                    if w)


def main(argv: Sequence[str] | None = None) -> int:
    from vimix_ssl.utils.threads import prepare_process

    prepare_process()  # before torch is imported: idle OpenMP threads sleep (utils/threads.py)
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv  # accepted anywhere on the line, also after the command
    parser = build_parser()
    args = parser.parse_args([a for a in argv if a != "--debug"])
    name = _command_name(args)
    try:
        module = importlib.import_module(args._module)
        code = module.main(args)
    except KeyboardInterrupt as e:
        detail = str(e).strip() or "interrupted"
        hint = "" if "rerun" in detail else "; rerun the same command to continue where it stopped"
        print(f"{name}: {detail}{hint}", file=sys.stderr)
        return int(getattr(e, "exit_code", EXIT_INTERRUPTED))  # 143 after SIGTERM (training checkpointed)
    except Exception as e:
        if debug or not is_user_error(e):
            raise
        print(f"{name}: {format_error(e)}", file=sys.stderr)
        return EXIT_USER_ERROR
    return int(code or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
