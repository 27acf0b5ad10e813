"""graphls.tuning as a package: its public API, and the house rules its modules keep.

The rules are read from the source (``ast``), function-level imports included:
no import cycle between graphls modules; no private name (one leading underscore)
imported from, or read as an attribute of, another graphls module by the tuning
modules, the CLI or the report; only ``graphls.tuning.*`` imports Optuna; only
``graphls.cli`` (and ``graphls.cli.*``) imports argparse or prints.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

import graphls.tuning

REPO = Path(__file__).resolve().parents[2]
PKG = REPO / "graphls"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in sorted(PKG.rglob("*.py"))}
TREES = {name: ast.parse(path.read_text()) for name, path in MODULES.items()}


def imports(name: str) -> list[tuple[str, str | None]]:
    """``(module, imported name or None)`` for every import in module ``name``, relative
    imports resolved, at any depth (function-level and ``TYPE_CHECKING`` ones too)."""
    package = name if MODULES[name].name == "__init__.py" else name.rpartition(".")[0]
    found: list[tuple[str, str | None]] = []
    for node in ast.walk(TREES[name]):
        if isinstance(node, ast.Import):
            found += [(a.name, None) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                parts = parts[:len(parts) - node.level + 1]
                base = ".".join([*parts, base] if base else parts)
            found += [(base, a.name) for a in node.names]
    return found


def graphls_module(name: str) -> str | None:
    """The graphls module that ``name`` (a module or a name in one) is, or lives in."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def import_graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for name in MODULES:
        targets = set()
        for module, what in imports(name):
            target = graphls_module(f"{module}.{what}" if what else module)
            if target is not None and target != name:
                targets.add(target)
        graph[name] = targets
    return graph


def is_private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def test_public_api_is_re_exported():
    # every name the tests, benchmarks, examples and README import from graphls.tuning
    readme = (REPO / "README.md").read_text()
    used = set(re.findall(r"graphls\.tuning\.(\w+)", readme))
    for path in [*REPO.glob("tests/**/*.py"), *REPO.glob("benchmarks/**/*.py"),
                 *REPO.glob("examples/*.py")]:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module == "graphls.tuning":
                used.update(a.name for a in node.names)
    used -= {"objective", "optimize", "report", "samplers", "settings", "space", "storage",
             "study", "workers"}  # submodules
    assert used >= {"run_study", "StudySettings", "file_lock", "search_space", "write_report"}
    assert sorted(used - set(graphls.tuning.__all__)) == []
    assert graphls.tuning.__all__ == sorted(graphls.tuning.__all__, key=lambda n: (
        not n.isupper(), not n[0].isupper(), n))
    for name in graphls.tuning.__all__:
        assert getattr(graphls.tuning, name) is not None, name


def test_tuning_modules_are_one_concept_each_and_short():
    names = sorted(p.name for p in (PKG / "tuning").glob("*.py"))
    assert names == ["__init__.py", "objective.py", "optimize.py", "report.py", "samplers.py",
                     "settings.py", "space.py", "storage.py", "study.py", "workers.py"]
    for path in (PKG / "tuning").glob("*.py"):
        assert len(path.read_text().splitlines()) < 500, path.name


def test_no_import_cycles_between_graphls_modules():
    graph = import_graph()
    assert graph["graphls.cli.commands"] >= {"graphls.tuning"}  # the arrow: cli to tuning
    state: dict[str, int] = {}  # 1: on the path, 2: done
    path: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycle = [*path[path.index(nxt):], nxt]
                pytest.fail("import cycle: " + " -> ".join(cycle))
            if nxt not in state:
                visit(nxt)
        path.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node)


CLI = sorted(n for n in MODULES if n == "graphls.cli" or n.startswith("graphls.cli."))


@pytest.mark.parametrize("name", sorted(n for n in MODULES if n.startswith("graphls.tuning")
                                        or n in (*CLI, "graphls.report")))
def test_no_private_name_of_another_module_is_used(name):
    bad = [f"from {module} import {what}" for module, what in imports(name)
           if what and is_private(what) and graphls_module(module) not in (None, name)]
    # ``module._name`` where ``module`` is a graphls module imported under that name
    aliases = {}
    for node in ast.walk(TREES[name]):
        if isinstance(node, ast.Import):
            aliases.update({a.asname or a.name: a.name for a in node.names if a.name in MODULES})
        elif isinstance(node, ast.ImportFrom) and node.module:
            aliases.update({a.asname or a.name: f"{node.module}.{a.name}" for a in node.names
                            if f"{node.module}.{a.name}" in MODULES})
    for node in ast.walk(TREES[name]):
        if (isinstance(node, ast.Attribute) and is_private(node.attr)
                and isinstance(node.value, ast.Name) and node.value.id in aliases
                and aliases[node.value.id] != name):
            bad.append(f"{node.value.id}.{node.attr}")
    assert bad == []


def test_only_tuning_imports_optuna_and_only_the_cli_argparse_or_print():
    optuna, argparse, printing = set(), set(), set()
    for name in MODULES:
        for module, _ in imports(name):
            if module.split(".")[0] == "optuna":
                optuna.add(name)
            if module.split(".")[0] == "argparse":
                argparse.add(name)
        if any(isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id == "print"
               for n in ast.walk(TREES[name])):
            printing.add(name)
    assert optuna and all(n.startswith("graphls.tuning.") for n in optuna), sorted(optuna)
    assert "graphls.cli.parser" in argparse and argparse <= set(CLI), sorted(argparse)
    assert "graphls.cli" in printing and printing <= set(CLI), sorted(printing)
