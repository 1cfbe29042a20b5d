"""Every command in the CLI table exists, is light to import, and parses --help."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

from vimix_ssl.cli import COMMANDS, build_parser


def _leaves():
    for name, target in COMMANDS.items():
        if isinstance(target, str):
            yield (name,), target
        else:
            for leaf, module in target.items():
                yield (name, leaf), module


@pytest.mark.parametrize(
    "words, module_name", list(_leaves()), ids=lambda v: " ".join(v) if isinstance(v, tuple) else v
)
def test_command_module_contract(words, module_name):
    module = importlib.import_module(module_name)
    assert isinstance(module.HELP, str) and module.HELP
    assert callable(module.add_arguments) and callable(module.main)
    with pytest.raises(SystemExit) as exit_info:
        build_parser().parse_args([*words, "--help"])
    assert exit_info.value.code == 0


def test_help_does_not_import_torch():
    code = "import sys; from vimix_ssl.cli import build_parser; build_parser(); print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False", "a command module imports torch at module level"


def test_python_dash_m_entry_point():
    out = subprocess.run([sys.executable, "-m", "vimix_ssl", "--version"], capture_output=True, text=True)
    assert out.returncode == 0 and "vimix_ssl" in out.stdout
