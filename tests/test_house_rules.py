"""The package's import rules (STYLE.md §1-§2), checked on its source with ``ast``.

Every ``import`` statement of every module under ``graphls/`` counts, wherever it
sits (module level, in a function, in a ``try``), relative imports included. Not
counted: imports under ``if TYPE_CHECKING:`` for the cycle rule (they never run),
implicit imports of a module's parent packages (so a package's ``__init__``
re-exporting its submodules is no cycle with them), and ``graphls/__init__.py``'s
lazy PEP 562 table (strings resolved by ``importlib``, not import statements).

Rules:

- ``import-cycle``: no cycle among graphls modules; each import on a cycle is
  reported with the cycle it closes.
- ``core-imports``: the core imports only the standard library, torch,
  torch_geometric and other core modules.
- ``optuna-only-in-tuning``: only ``graphls.tuning`` (and ``graphls.tuning.*``)
  imports optuna.
- ``argparse-only-in-cli``: only ``graphls.cli`` (and ``graphls.cli.*``) imports
  argparse, the one place that parses arguments.
- ``private-name``: no private name (``_x``, not a dunder) of a graphls module is
  imported from another one (``from graphls.x import _y``) or read as an attribute
  of an imported graphls module (``mod._y``); private *modules*
  (``graphls._validation``) are fine.
"""

from __future__ import annotations

import ast
import functools
import sys
import textwrap
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

PACKAGE_DIR = Path(__file__).resolve().parents[1] / "graphls"

CORE = (
    "graphls.functional",
    "graphls.priors",
    "graphls.losses",
    "graphls.sparse",
    "graphls.nn",
    "graphls.models",
    "graphls.metrics",
    "graphls.calibration",
    "graphls._validation",
)
CORE_THIRD_PARTY = ("torch", "torch_geometric")
OPTUNA_OWNERS = ("graphls.tuning",)
ARGPARSE_OWNERS = ("graphls.cli",)

RULES = (
    "import-cycle",
    "core-imports",
    "optuna-only-in-tuning",
    "argparse-only-in-cli",
    "private-name",
)


# ---------------------------------------------------------------------------
# the checker
# ---------------------------------------------------------------------------

@dataclass(frozen=True)
class Import:
    """One imported module (one alias of one import statement)."""

    module: str  # the importing module
    line: int
    target: str  # absolute dotted name of the module imported ("torch.nn", "graphls.nn")
    name: str | None  # for ``from base import name``: the name, when it is not a submodule
    binding: tuple[str, str] | None  # (local name, the package module it names), if any
    type_only: bool  # under ``if TYPE_CHECKING:``


@dataclass(frozen=True)
class Violation:
    module: str
    path: str
    line: int
    rule: str
    detail: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.module}: [{self.rule}] {self.detail}"


def within(module: str, prefixes: Iterable[str]) -> bool:
    """``module`` is one of ``prefixes`` or inside one of them (a package's submodule)."""
    return any(module == p or module.startswith(p + ".") for p in prefixes)


def is_private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def discover(package_dir: Path) -> dict[str, Path]:
    """Every module of the package: dotted name -> file (``__init__.py`` for a package)."""
    root = package_dir.parent
    modules = {}
    for path in sorted(package_dir.rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        if "__pycache__" in parts:
            continue
        if parts[-1] == "__init__":
            parts.pop()
        modules[".".join(parts)] = path
    return modules


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _walk(node: ast.AST, type_only: bool = False) -> Iterator[tuple[ast.AST, bool]]:
    """Every node below ``node``, with whether it sits under ``if TYPE_CHECKING:``."""
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.If) and _is_type_checking(child.test):
            yield child, type_only
            yield from _walk(child.test, type_only)
            for stmt in child.body:
                yield stmt, True
                yield from _walk(stmt, True)
            for stmt in child.orelse:
                yield stmt, type_only
                yield from _walk(stmt, type_only)
        else:
            yield child, type_only
            yield from _walk(child, type_only)


def parse_imports(module: str, path: Path, modules: Iterable[str]) -> tuple[list[Import], ast.AST]:
    """The imports of one module, absolute names resolved, and its syntax tree."""
    known = set(modules)
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = []
    for node, type_only in _walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                # ``import graphls.x`` binds ``graphls``; ``import graphls.x as y`` binds graphls.x
                bound = alias.name if alias.asname else alias.name.partition(".")[0]
                local = alias.asname or bound
                found.append(Import(module, node.lineno, alias.name, None,
                                    (local, bound) if bound in known else None, type_only))
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")
                base_parts = parts[: len(parts) - (node.level - 1)]
                base = ".".join([*base_parts, *([node.module] if node.module else [])])
            else:
                base = node.module or ""
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                if sub in known:  # ``from graphls import report``: the submodule
                    found.append(Import(module, node.lineno, sub, None,
                                        (alias.asname or alias.name, sub), type_only))
                else:
                    found.append(Import(module, node.lineno, base, alias.name, None, type_only))
    return found, tree


def _cycles(edges: dict[str, dict[str, list[int]]]) -> list[set[str]]:
    """Strongly connected components with a cycle (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in edges.get(v, {}):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            scc = set()
            while True:
                w = stack.pop()
                on_stack.discard(w)
                scc.add(w)
                if w == v:
                    break
            if len(scc) > 1 or v in edges.get(v, {}):
                out.append(scc)

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return out


def _path(edges: dict[str, dict[str, list[int]]], start: str, goal: str,
          allowed: set[str]) -> list[str]:
    """A shortest import path ``start -> ... -> goal`` inside ``allowed``."""
    prev: dict[str, str | None] = {start: None}
    queue = deque([start])
    while queue:
        v = queue.popleft()
        if v == goal:
            break
        for w in sorted(edges.get(v, {})):
            if w in allowed and w not in prev:
                prev[w] = v
                queue.append(w)
    path = [goal]
    while prev[path[-1]] is not None:
        path.append(prev[path[-1]])  # type: ignore[arg-type]
    return path[::-1]


def check_package(package_dir: Path) -> list[Violation]:
    """Every house-rule violation in the package at ``package_dir``."""
    modules = discover(package_dir)
    root = package_dir.parent
    pkg = package_dir.name
    violations: list[Violation] = []
    edges: dict[str, dict[str, list[int]]] = {m: {} for m in modules}

    def add(module: str, line: int, rule: str, detail: str) -> None:
        rel = modules[module].relative_to(root).as_posix()
        violations.append(Violation(module, rel, line, rule, detail))

    for module, path in modules.items():
        imports, tree = parse_imports(module, path, modules)
        bindings: dict[str, str] = {}
        for imp in imports:
            top = imp.target.partition(".")[0]
            internal = top == pkg
            if internal and imp.target in modules and imp.target != module and not imp.type_only:
                lines = edges[module].setdefault(imp.target, [])
                if imp.line not in lines:  # one report per statement, not per name
                    lines.append(imp.line)
            if imp.binding is not None:
                bindings[imp.binding[0]] = imp.binding[1]
            if within(module, CORE) and not (
                    top in sys.stdlib_module_names or top in CORE_THIRD_PARTY
                    or imp.target == pkg or (internal and within(imp.target, CORE))):
                add(module, imp.line, "core-imports",
                    f"the core module imports {imp.target}; the core imports only the "
                    f"standard library, {', '.join(CORE_THIRD_PARTY)} and other core modules "
                    f"({', '.join(CORE)})")
            if top == "optuna" and not within(module, OPTUNA_OWNERS):
                add(module, imp.line, "optuna-only-in-tuning",
                    f"imports {imp.target}; only {', '.join(OPTUNA_OWNERS)} imports optuna")
            if top == "argparse" and not within(module, ARGPARSE_OWNERS):
                add(module, imp.line, "argparse-only-in-cli",
                    f"imports argparse; only {', '.join(ARGPARSE_OWNERS)} parses arguments")
            if internal and imp.name is not None and is_private(imp.name):
                add(module, imp.line, "private-name",
                    f"imports the private name {imp.name} from {imp.target}")

        # ``mod._y`` where ``mod`` (or ``pkg.mod``) is an imported graphls module
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Attribute) and is_private(node.attr)):
                continue
            chain = []
            value = node.value
            while isinstance(value, ast.Attribute):
                chain.append(value.attr)
                value = value.value
            if not isinstance(value, ast.Name) or value.id not in bindings:
                continue
            owner = ".".join([bindings[value.id], *reversed(chain)])
            if owner in modules and f"{owner}.{node.attr}" not in modules:
                add(module, node.lineno, "private-name",
                    f"reads the private name {owner}.{node.attr}")

    for scc in _cycles(edges):
        for module in sorted(scc):
            for target, lines in sorted(edges[module].items()):
                if target not in scc:
                    continue
                back = _path(edges, target, module, scc)
                cycle = " -> ".join([module, *back])
                for line in lines:
                    add(module, line, "import-cycle",
                        f"imports {target}, closing the cycle {cycle}")
    return sorted(violations, key=lambda v: (v.rule, v.path, v.line, v.detail))


def _report(violations: Iterable[Violation]) -> str:
    return "\n".join(str(v) for v in violations)


# ---------------------------------------------------------------------------
# the package
# ---------------------------------------------------------------------------

@functools.cache
def package_violations() -> tuple[Violation, ...]:
    return tuple(check_package(PACKAGE_DIR))


def test_the_rules_see_the_package():
    modules = discover(PACKAGE_DIR)
    assert "graphls" in modules and len(modules) > 5
    missing = [c for c in (*CORE, *OPTUNA_OWNERS, *ARGPARSE_OWNERS)
               if not any(within(m, [c]) for m in modules)]
    assert not missing, f"modules named by the house rules are gone (update the rules): {missing}"


@pytest.mark.parametrize("rule", RULES)
def test_house_rule(rule):
    found = [v for v in package_violations() if v.rule == rule]
    assert not found, f"{len(found)} violation(s) of {rule}:\n{_report(found)}"


# ---------------------------------------------------------------------------
# the checker on a fake package: one violation of each kind, and none elsewhere
# ---------------------------------------------------------------------------

FAKE = {
    "__init__.py": '''
        import importlib
        from typing import TYPE_CHECKING

        _EXPORTS = {"GCN": "graphls.models"}
        if TYPE_CHECKING:
            from graphls.models import GCN

        def __getattr__(name):
            return getattr(importlib.import_module(_EXPORTS[name]), name)
    ''',
    "_validation.py": '''
        import math
        import torch
    ''',
    "models.py": '''
        from __future__ import annotations
        import torch_geometric.nn
        from graphls import __version__
        from graphls._validation import check
        from . import _validation

        def f():
            import numpy  # expect: core-imports
            return _validation.check, numpy
    ''',
    "cli/__init__.py": '''
        from graphls.cli.parser import build_parser

        def main():
            from graphls.tuning import run
    ''',
    "cli/parser.py": '''
        import argparse
        from argparse import ArgumentParser
    ''',
    "tuning/__init__.py": '''
        from graphls.tuning.space import Space
        from .study import run
    ''',
    "tuning/space.py": '''
        import optuna
        from optuna.trial import Trial
    ''',
    "tuning/study.py": '''
        import optuna.storages
        from graphls.engine import fit
    ''',
    "engine.py": '''
        import graphls.models
        from graphls import models as m
        from graphls.models import GCN, __version__
        from graphls.nn import _Transposed  # expect: private-name

        def fit(self):
            from argparse import Namespace  # expect: argparse-only-in-cli
            import optuna.trial  # expect: optuna-only-in-tuning
            from graphls import report  # expect: import-cycle
            self._x = graphls._validation.check
            return (m._helper,  # expect: private-name
                    graphls.models._other)  # expect: private-name
    ''',
    "nn.py": '''
        _Transposed = object
    ''',
    "report.py": '''
        def plot():
            from .engine import fit  # expect: import-cycle
    ''',
}


def _write_fake(root: Path) -> Path:
    pkg = root / "graphls"
    for rel, text in FAKE.items():
        path = pkg / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return pkg


def _expected(pkg: Path) -> set[tuple[str, int, str]]:
    out = set()
    for path in pkg.rglob("*.py"):
        for line, text in enumerate(path.read_text().splitlines(), start=1):
            if "# expect: " in text:
                rule = text.split("# expect: ")[1].strip()
                out.add((path.relative_to(pkg.parent).as_posix(), line, rule))
    return out


def test_the_checker_finds_one_violation_of_each_kind(tmp_path):
    pkg = _write_fake(tmp_path)
    found = check_package(pkg)
    assert {(v.path, v.line, v.rule) for v in found} == _expected(pkg), _report(found)
    assert {v.rule for v in found} == set(RULES)
    by_rule = {v.rule: v for v in found}
    assert str(by_rule["core-imports"]).startswith(
        "graphls/models.py:8: graphls.models: [core-imports] the core module imports numpy")
    cycle = [v for v in found if v.rule == "import-cycle"]
    assert {v.detail for v in cycle} == {
        "imports graphls.report, closing the cycle graphls.engine -> graphls.report -> "
        "graphls.engine",
        "imports graphls.engine, closing the cycle graphls.report -> graphls.engine -> "
        "graphls.report",
    }


def test_type_checking_imports_and_reexports_make_no_cycle(tmp_path):
    pkg = _write_fake(tmp_path)
    (pkg / "report.py").write_text("from typing import TYPE_CHECKING\n"
                                   "if TYPE_CHECKING:\n    from graphls.engine import fit\n")
    assert [v for v in check_package(pkg) if v.rule == "import-cycle"] == []


def test_relative_imports_resolve(tmp_path):
    pkg = _write_fake(tmp_path)
    imports, _ = parse_imports("graphls.tuning", pkg / "tuning" / "__init__.py", discover(pkg))
    assert [(i.target, i.name) for i in imports] == [
        ("graphls.tuning.space", "Space"), ("graphls.tuning.study", "run")]
