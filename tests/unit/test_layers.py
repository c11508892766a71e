"""The package's layers: imports flow one way (ARCHITECTURE.md), and there is no cycle."""

import ast
from pathlib import Path

import dvflow

PACKAGE = Path(dvflow.__file__).parent
# Lower layers first; a module may import its own layer and the ones below it.
LAYERS = [
    ("errors", "env", "integrations"),
    ("project", "config"),
    ("snapshot",),
    ("tracking",),
    ("workspace",),
    ("recorder",),
    ("repro",),
    ("apps", "run", "commit", "doctor", "restore", "registry", "plugins", "experiments"),
    ("cli", "__main__"),
]


def _layer(module: str) -> int:
    first = module.split(".")[1] if module.count(".") else ""
    for rank, names in enumerate(LAYERS):
        if first in names:
            return rank
    raise AssertionError(f"{module} is in no layer of ARCHITECTURE.md")


def _modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        if "templates" in path.parts:
            continue
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


def _imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return {n for n in names if n.startswith("dvflow.")}


def test_imports_flow_one_way() -> None:
    wrong = []
    for module, path in _modules().items():
        if module == "dvflow":  # the public API imports lazily from every layer
            continue
        for imported in _imports(path):
            if _layer(imported) > _layer(module):
                wrong.append(f"{module} imports {imported}")
    assert wrong == []


def test_no_import_cycle_between_modules() -> None:
    import networkx as nx

    modules = _modules()
    graph = nx.DiGraph()
    for module, path in modules.items():
        for imported in _imports(path):
            target = imported if imported in modules else imported.rsplit(".", 1)[0]
            if target != module and not module.startswith(f"{target}."):
                graph.add_edge(module, target)
    assert list(nx.simple_cycles(graph)) == []
