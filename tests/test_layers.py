"""Import order: every module imports only its own floor or the floors below, and no module cycles.

The floors (top to bottom) are listed once, here and in docs/ARCHITECTURE.md. Every import
counts, including the ones made inside functions to keep start-up fast.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "vimix_ssl"

# Highest floor first. A module's floor is that of its first-level name under vimix_ssl.
FLOORS: list[tuple[str, ...]] = [
    ("", "cli", "__main__", "commands"),  # "" = the package root: the public facade (load_encoder)
    ("jobs",),
    ("methods", "eval"),
    ("engine",),
    ("models", "mixing", "ssl", "data"),
    ("config", "modalities", "utils"),
]
FLOOR_OF = {name: level for level, names in enumerate(FLOORS) for name in names}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def first_level(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def resolve(module: str, node: ast.ImportFrom, is_package: bool) -> str:
    if node.level == 0:
        return node.module or ""
    base = module.split(".")
    base = base if is_package else base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def imports_of(path: Path, known: set[str]) -> set[str]:
    """The vimix_ssl modules ``path`` imports (``from pkg import mod`` counts as ``pkg.mod``)."""
    module = module_name(path)
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.split(".")[0] == "vimix_ssl")
        elif isinstance(node, ast.ImportFrom):
            target = resolve(module, node, path.name == "__init__.py")
            if target.split(".")[0] != "vimix_ssl":
                continue
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                found.add(sub if sub in known else target)
    return {m for m in found if m != module}


def graph() -> dict[str, set[str]]:
    files = sorted(PACKAGE.rglob("*.py"))
    known = {module_name(f) for f in files}
    return {module_name(f): imports_of(f, known) for f in files}


def test_every_subpackage_has_a_floor():
    missing = {first_level(m) for m in graph()} - set(FLOOR_OF)
    assert not missing, f"add {sorted(missing)} to FLOORS in tests/test_layers.py and docs/ARCHITECTURE.md"


def test_imports_go_down_only():
    upward = []
    for module, targets in graph().items():
        floor = FLOOR_OF[first_level(module)]
        for target in targets:
            if FLOOR_OF[first_level(target)] < floor:
                upward.append(f"{module} -> {target}")
    assert not upward, "imports that climb a floor:\n" + "\n".join(sorted(upward))


def test_no_import_cycles():
    edges = graph()
    # a package's __init__ is imported with any of its modules: count only explicit imports
    state: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for target in sorted(edges.get(node, ())):
            if state.get(target) == 1:
                cycles.append(stack[stack.index(target):] + [target])
            elif target not in state:
                visit(target)
        stack.pop()
        state[node] = 2

    for node in sorted(edges):
        if node not in state:
            visit(node)
    assert not cycles, "import cycles:\n" + "\n".join(" -> ".join(c) for c in cycles)


@pytest.mark.parametrize("package", ["commands", "jobs"])
def test_the_checker_sees_imports(package):
    """The graph is not empty where imports are known to exist (the test would pass vacuously)."""
    assert any(targets for module, targets in graph().items() if first_level(module) == package)
