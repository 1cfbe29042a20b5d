"""The reproduction scripts in scripts/ are valid bash, and every `vimix` line in them would start.

Each `vimix ...` (or `torchrun ... -m vimix_ssl ...`) command line is taken from the scripts
(backslash continuations joined, comments dropped, the scripts' variables replaced by their
defaults or by harmless placeholders), parsed with the real command-line parser, and for the
commands that read a CONFIG plus `key=value` overrides the config is resolved through the job's
own loader, so a renamed key, a missing config file or a misplaced override fails here and not
hours into a run.
"""

from __future__ import annotations

import re
import shlex
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from vimix_ssl.cli import build_parser

REPO = Path(__file__).resolve().parents[1]
SCRIPTS_DIR = REPO / "scripts"
SCRIPTS = sorted(p for p in SCRIPTS_DIR.rglob("*") if p.is_file() and p.suffix in (".sh", ".sbatch"))
# One script per paper table the project reproduces, and the launch templates (README, docs/TESTING.md).
EXPECTED = [
    "vimix_table1_ucf101_mixing.sh", "vimix_table2_cmmc_ablation.sh", "vimix_table5_ntu60.sh",
    "videomix_supervised.sh", "temporal_augmentation_supervised.sh", "r3d_rs50_kinetics400.sh",
    "launch/torchrun_one_node.sh", "launch/torchrun_multi_node.sh", "launch/slurm_pretrain.sbatch",
]
PLACEHOLDER = "/nonexistent/placeholder"  # what an unknown variable or a $(...) becomes
DEFAULT = re.compile(r'^\s*(?:local\s+)?([A-Za-z_]\w*)="\$\{\1:-([^}]*)\}"', re.MULTILINE)


@dataclass
class Command:
    script: Path
    line: str  # the joined source line, for messages
    argv: list[str]  # the arguments after `vimix`
    launcher: list[str]  # the tokens before `-m vimix_ssl` (e.g. srun torchrun ...), [] for `vimix`


def logical_lines(text: str) -> list[str]:
    """Source lines with backslash-newline continuations joined."""
    return re.sub(r"\\\n", " ", text).splitlines()


def replace_command_substitutions(line: str) -> str:
    """Every ``$( ... )`` (nested parentheses and quotes included) -> the placeholder."""
    out, i = [], 0
    while i < len(line):
        if line.startswith("$(", i):
            depth, j = 1, i + 2
            while j < len(line) and depth:
                depth += {"(": 1, ")": -1}.get(line[j], 0)
                j += 1
            out.append(PLACEHOLDER)
            i = j
        else:
            out.append(line[i])
            i += 1
    return "".join(out)


def substitute(line: str, values: dict[str, str]) -> str:
    """Shell expansions -> harmless text: the scripts' defaults, else a placeholder path."""
    line = replace_command_substitutions(line).replace('"$@"', "")

    def value(match: re.Match) -> str:
        name = match.group(1) or match.group(3) or match.group(4)
        default = match.group(2)
        if name in values:
            return values[name]
        return default if default is not None else f"{PLACEHOLDER}/{name}"

    pattern = r"\$\{([A-Za-z_]\w*)(?::-([^}]*))?\}|\$([A-Za-z_]\w*)|\$([0-9@*#?])"
    for _ in range(5):  # defaults may refer to other variables
        line = re.sub(pattern, value, line)
    return line


def script_values(text: str) -> dict[str, str]:
    """``NAME="${NAME:-default}"`` assignments -> {NAME: default, with its own variables expanded}."""
    values: dict[str, str] = {}
    for name, default in DEFAULT.findall(text):
        values[name] = substitute(default, values)
    return values


def vimix_commands(script: Path) -> list[Command]:
    text = script.read_text(encoding="utf-8")
    values = script_values(text)
    commands = []
    for raw in logical_lines(text):
        try:
            tokens = shlex.split(substitute(raw, values), comments=True)
        except ValueError as e:  # unbalanced quotes
            raise AssertionError(f"{script}: cannot split {raw.strip()!r}: {e}") from None
        module = tokens.index("vimix_ssl") if "vimix_ssl" in tokens else -1
        if tokens[:1] == ["vimix"]:
            commands.append(Command(script, raw.strip(), tokens[1:], []))
        elif module > 0 and tokens[module - 1] == "-m":  # python -m / torchrun ... -m vimix_ssl
            commands.append(Command(script, raw.strip(), tokens[module + 1:], tokens[:module + 1]))
    return commands


ALL_COMMANDS = [c for s in SCRIPTS for c in vimix_commands(s)]


def where(command: Command) -> str:
    return f"{command.script.relative_to(REPO)}: {command.line}"


def test_the_scripts_are_there():
    present = {str(p.relative_to(SCRIPTS_DIR)) for p in SCRIPTS}
    assert not set(EXPECTED) - present, f"missing scripts: {sorted(set(EXPECTED) - present)}"
    for script in SCRIPTS:
        assert vimix_commands(script), f"{script}: no vimix command line found"
    commands = {c.argv[0] for c in ALL_COMMANDS}
    assert {"pretrain", "train", "compare", "eval", "export", "prepare"} <= commands


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: str(p.relative_to(SCRIPTS_DIR)))
def test_bash_syntax_and_strict_mode(script):
    result = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True)
    assert result.returncode == 0, f"{script}: bash -n failed:\n{result.stderr}"
    text = script.read_text(encoding="utf-8")
    assert text.startswith("#!/usr/bin/env bash\n"), f"{script}: first line must be #!/usr/bin/env bash"
    assert "\nset -euo pipefail\n" in text, f"{script}: missing `set -euo pipefail`"


def test_every_config_named_in_the_scripts_exists():
    for script in SCRIPTS:
        for name in re.findall(r"configs/[\w/.-]+\.yaml", script.read_text(encoding="utf-8")):
            assert (REPO / name).is_file(), f"{script.relative_to(REPO)}: {name} does not exist"


def _literal_config(command: Command, config: str | None) -> Path:
    assert config and config.startswith("configs/"), (
        f"{where(command)}: CONFIG must be a literal path under configs/ (got {config!r}) to be checked")
    return REPO / config


def _harmless(overrides: list[str], tmp_path: Path) -> list[str]:
    """``resume=PATH`` / ``init=FILE`` must name an existing file at load time: point them at an empty one."""
    out = []
    for item in overrides:
        key, _, value = item.partition("=")
        if key in ("resume", "init") and value not in ("auto", "never", ""):
            placeholder = tmp_path / f"{key}_placeholder.pt"
            placeholder.touch()
            item = f"{key}={placeholder}"
        out.append(item)
    return out


def resolve(command: Command, args, tmp_path: Path) -> None:
    """Resolve the command's CONFIG + overrides through the job's loader (what the command does first)."""
    from vimix_ssl.config import load_config
    from vimix_ssl.jobs.evaluate.session import EvalConfig
    from vimix_ssl.jobs.pretrain.build import data_config
    from vimix_ssl.jobs.pretrain.config import load_pretrain_config
    from vimix_ssl.jobs.supervised.compare import DEFAULT_MIXERS
    from vimix_ssl.jobs.supervised.config import load_supervised_config

    if args.command == "pretrain":
        path = _literal_config(command, args.config)
        config = load_pretrain_config(path, _harmless(args.overrides, tmp_path))
        data_config(config)  # the data section, typed and validated as the run builds it
    elif args.command == "train":
        load_supervised_config(_literal_config(command, args.config), _harmless(args.overrides, tmp_path))
    elif args.command == "compare":
        from vimix_ssl.methods.supervised import SVMIX
        from vimix_ssl.mixing.registry import canonical_name

        path = _literal_config(command, args.config)
        for name in (args.mixers or DEFAULT_MIXERS).split(","):
            mixer = SVMIX if name == SVMIX else canonical_name(name)
            load_supervised_config(path, [*_harmless(args.overrides, tmp_path), f"mixer={mixer}"])
    elif args.command == "eval" and args.subcommand != "report":
        if getattr(args, "fuse", None):
            assert args.config is None and not args.overrides, f"{where(command)}: --fuse takes no config"
            return
        load_config(EvalConfig, _literal_config(command, args.config), list(args.overrides))


@pytest.mark.parametrize("command", ALL_COMMANDS, ids=lambda c: f"{c.script.name}:{' '.join(c.argv[:3])}")
def test_command_line_parses_and_its_config_resolves(command, tmp_path):
    parser = build_parser()
    try:
        args = parser.parse_args(command.argv)
    except SystemExit:
        pytest.fail(f"{where(command)}: `vimix` rejects these arguments (see the usage message above)")
    try:
        resolve(command, args, tmp_path)
    except ValueError as e:  # ConfigError is a ValueError
        pytest.fail(f"{where(command)}: {e}")


LAUNCHED = [c for c in ALL_COMMANDS if "torchrun" in c.launcher]


def test_the_launch_templates_use_torchrun():
    flags = " ".join(" ".join(c.launcher) for c in LAUNCHED)
    for needed in ("--standalone", "--rdzv-backend=c10d", "--rdzv-endpoint=", "--max-restarts=", "srun"):
        assert needed in flags, f"no launch template uses {needed}"


@pytest.mark.parametrize("command", LAUNCHED, ids=lambda c: c.script.name)
def test_torchrun_options_parse(command):
    from torch.distributed.run import get_args_parser

    launcher = command.launcher[command.launcher.index("torchrun") + 1:]
    try:
        args = get_args_parser().parse_args([*launcher, *command.argv])
    except SystemExit:
        pytest.fail(f"{where(command)}: torchrun rejects its options (see the usage message above)")
    assert args.module and args.training_script == "vimix_ssl"
    assert args.training_script_args == command.argv
