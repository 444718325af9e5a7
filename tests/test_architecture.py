"""The layers of src/usergate, checked by reading every module's imports with `ast`.

Imports run down only: api -> services -> security/models; the security core and
the models import neither services nor the api, the services never the api; and
no two modules import each other, directly or around a longer cycle.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "usergate"

# A module in one of these layers may not import the layers named against it.
FORBIDDEN = {
    "usergate.security": ("usergate.services", "usergate.api"),
    "usergate.models": ("usergate.services", "usergate.api"),
    "usergate.services": ("usergate.api",),
}


def module_name(path: Path, root: Path = PACKAGE) -> str:
    parts = path.relative_to(root.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path, modules: set[str], root: Path = PACKAGE) -> set[str]:
    """The usergate modules this file imports (at any depth: inside functions too)."""
    name = module_name(path, root)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - node.level + 1]
                origin = ".".join(base + ([node.module] if node.module else []))
            else:
                origin = node.module or ""
            # `from . import x` names a module when x is one.
            targets = [origin] + [f"{origin}.{alias.name}" for alias in node.names]
        else:
            continue
        for target in targets:
            if target in modules:
                found.add(target)
    found.discard(name)
    return found


def import_graph(root: Path = PACKAGE) -> dict[str, set[str]]:
    paths = sorted(root.rglob("*.py"))
    modules = {module_name(path, root) for path in paths}
    return {module_name(path, root): imports_of(path, modules, root) for path in paths}


def upward_imports(graph: dict[str, set[str]]) -> list[str]:
    found = []
    for module, targets in graph.items():
        for layer, banned in FORBIDDEN.items():
            if module == layer or module.startswith(layer + "."):
                found += [f"{module} imports {target}" for target in sorted(targets)
                          if any(target == b or target.startswith(b + ".") for b in banned)]
    return found


def _is_package_init(module: str, target: str) -> bool:
    # A package's __init__ importing its own submodules (and they importing a
    # sibling through the package) is not a cycle between files of one subject.
    return target.startswith(module + ".")


def import_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every strongly connected set of more than one module (Tarjan), as sorted lists."""
    edges = {m: {t for t in ts if not _is_package_init(m, t)} for m, ts in graph.items()}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in edges.get(node, ()):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return cycles


def test_the_package_is_where_the_test_looks():
    graph = import_graph()
    assert {"usergate.security.tokens", "usergate.api.guards",
            "usergate.services.authentication"} <= graph.keys()
    assert "usergate.security.tokens" in graph["usergate.services.authentication"]


def test_no_upward_import():
    assert upward_imports(import_graph()) == []


def test_no_import_cycle():
    assert import_cycles(import_graph()) == []


@pytest.mark.parametrize(("files", "expected"), [
    ({"security/tokens.py": "from ..services import users\n", "services/users.py": ""},
     "upward"),
    ({"services/a.py": "from ..api import guards\n", "api/guards.py": ""}, "upward"),
    ({"services/a.py": "from . import b\n", "services/b.py": "from .a import x\n"}, "cycle"),
    ({"services/a.py": "def f():\n    from .b import y\n",
      "services/b.py": "from .c import z\n", "services/c.py": "import usergate.services.a\n"},
     "cycle"),
    ({"api/guards.py": "from ..services import a\n", "services/a.py": "from ..security import t\n",
      "security/t.py": ""}, None),
])
def test_the_checks_catch_what_they_are_for(tmp_path, files, expected):
    root = tmp_path / "usergate"
    for name, text in {"__init__.py": "", **files}.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        (path.parent / "__init__.py").touch()
        path.write_text(text)
    graph = import_graph(root)
    found = ("upward" if upward_imports(graph) else None) or (
        "cycle" if import_cycles(graph) else None)
    assert found == expected
