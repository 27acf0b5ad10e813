"""graphls.data as a package: the public API, a light import, the house rules on imports."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import graphls.data

PACKAGE = Path(graphls.data.__file__).parent
MODULES = {("graphls.data" if p.stem == "__init__" else f"graphls.data.{p.stem}"): p
           for p in sorted(PACKAGE.glob("*.py"))}
# what graphls.data may import besides itself and the standard library: the core and
# torch, PyG, numpy, ogb (ogb only inside functions)
CORE = ("graphls._validation", "graphls.functional", "graphls.priors", "graphls.losses",
        "graphls.nn", "graphls.models", "graphls.metrics", "graphls.calibration")
THIRD_PARTY = ("torch", "torch_geometric", "numpy", "ogb")
PUBLIC_API = ["DATASETS", "DatasetInfo", "DatasetNotFoundError", "add_label_noise",
              "copy_datasets", "list_datasets", "load_dataset", "ogb_evaluate", "resolve_root"]


def _imports(path: Path) -> list[tuple[str, list[str], bool]]:
    """(module, names imported from it, at module level?) for every import in ``path``."""
    tree = ast.parse(path.read_text())
    top = set()
    for node in tree.body:  # module level, including `if TYPE_CHECKING:` blocks
        top.add(node)
        if isinstance(node, ast.If):
            top.update(node.body)
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(a.name, [], node in top) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, f"{path.name}: relative import"
            out.append((node.module, [a.name for a in node.names], node in top))
    return out


def _is_private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def test_public_api_is_re_exported():
    assert sorted(graphls.data.__all__) == PUBLIC_API
    for name in PUBLIC_API:
        obj = getattr(graphls.data, name)
        module = getattr(obj, "__module__", None) or "graphls.data.registry"  # DATASETS: a dict
        assert module in MODULES, (name, module)


@pytest.mark.parametrize("module", sorted(MODULES))
def test_imports_only_the_core_and_its_libraries(module):
    for target, _, at_top in _imports(MODULES[module]):
        root = target.split(".")[0]
        if target == "graphls.data" or target.startswith("graphls.data."):
            continue
        if root == "graphls":
            assert target in CORE, f"{module} imports {target}"
        elif root == "ogb":
            assert not at_top, f"{module} imports ogb at module level"
        else:
            assert root in sys.stdlib_module_names or root in THIRD_PARTY, \
                f"{module} imports {target}"


@pytest.mark.parametrize("module", sorted(MODULES))
def test_no_private_name_crosses_a_module(module):
    path = MODULES[module]
    for target, names, _ in _imports(path):
        private = [n for n in names if _is_private(n)]
        assert not private, f"{module} imports {private} from {target}"
    imported = set()
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):  # the local names the imports bind
        if isinstance(node, ast.Import | ast.ImportFrom):
            imported |= {a.asname or a.name.split(".")[0] for a in node.names}
    for node in ast.walk(tree):
        if (isinstance(node, ast.Attribute) and _is_private(node.attr)
                and isinstance(node.value, ast.Name) and node.value.id in imported):
            raise AssertionError(f"{module} uses {node.value.id}.{node.attr}")


def test_no_import_cycles():
    graph = {}
    for module, path in MODULES.items():
        deps = set()
        for target, names, _ in _imports(path):
            if target in MODULES:
                deps.add(target)
                deps |= {f"{target}.{n}" for n in names if f"{target}.{n}" in MODULES}
        deps.discard(module)
        graph[module] = deps
    # the package's __init__ imports its modules; none of them imports the package back
    for module, deps in graph.items():
        if module != "graphls.data":
            assert "graphls.data" not in deps, f"{module} imports graphls.data"
    state: dict[str, int] = {}

    def visit(m: str, path: list[str]) -> None:
        state[m] = 1
        for d in sorted(graph[m]):
            assert state.get(d) != 1, "import cycle: " + " -> ".join([*path, m, d])
            if d not in state:
                visit(d, [*path, m])
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m, [])


def test_import_is_light():
    code = ("import sys, graphls.data; "
            "print(','.join(m for m in ('torch', 'torch_geometric', 'ogb', 'pandas') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == ""


def test_imports_without_ogb_installed():
    code = ("import sys; sys.modules['ogb'] = None\n"  # `import ogb` now raises ImportError
            "import graphls, graphls.data\n"
            "from graphls.data import *\n"
            "import graphls.data.loading, graphls.data.ogb\n"
            "print(graphls.data.DATASETS['Cora'].name)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "Cora"
