"""The package layout is the architecture: layers import downwards only, no import cycles, small modules.

Layers, lowest first: ``core`` <- ``data``, ``models`` (peers: neither imports the other) <- ``generate`` <-
``study`` <- ``report`` <- the entry points (``run``, ``pipeline``, ``compare``, ``merge``, ``__main__``).
Every import counts, also the ones inside functions (they are how heavy modules load late, not a way
around the layers).
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Dict, List, Set

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "idg"
LAYERS = {"core": 0, "data": 1, "models": 1, "generate": 2, "study": 3, "report": 4}
ENTRY_POINTS = {"__init__", "__main__", "run", "pipeline", "compare", "merge"}
MAX_LINES = 400


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def modules() -> Dict[str, Path]:
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _runtime_nodes(tree: ast.AST):
    """Every node that runs: all of them but the bodies of ``if TYPE_CHECKING:`` (type hints only)."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
            yield from (n for child in node.orelse for n in [child, *_runtime_nodes(child)])
            continue
        yield node
        yield from _runtime_nodes(node)


def imports_of(path: Path, known: Set[str]) -> Set[str]:
    """The idg modules ``path`` imports (``from idg.x import y`` counts as ``idg.x.y`` when that is a module)."""
    out: Set[str] = set()
    for node in _runtime_nodes(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        else:
            continue
        out |= {n for n in names if n in known}
    return out


def layer(name: str) -> int:
    parts = name.split(".")
    if len(parts) == 1 or parts[1] in ENTRY_POINTS:
        return 5
    return LAYERS[parts[1]]


def graph() -> Dict[str, Set[str]]:
    mods = modules()
    # a package's __init__ is imported with each of its modules: count only real edges, not parent packages
    return {name: {m for m in imports_of(path, set(mods)) if not name.startswith(m + ".")} for name, path in mods.items()}


def test_top_level_holds_only_entry_points_and_the_layers():
    top = {p.stem for p in PACKAGE.glob("*.py")}
    assert top <= ENTRY_POINTS, f"modules at the top of idg/ that belong in a layer: {sorted(top - ENTRY_POINTS)}"
    packages = {p.name for p in PACKAGE.iterdir() if p.is_dir() and (p / "__init__.py").is_file()}
    assert packages == set(LAYERS)


def test_every_package_says_what_lives_there_and_what_it_may_import():
    for pkg in LAYERS:
        doc = ast.get_docstring(ast.parse((PACKAGE / pkg / "__init__.py").read_text()))
        assert doc and "import" in doc.lower(), f"idg/{pkg}/__init__.py needs a docstring naming what it may import"


def test_layers_import_downwards_only():
    wrong: List[str] = []
    for name, deps in graph().items():
        for dep in deps:
            if name.split(".")[1:2] == dep.split(".")[1:2]:
                continue  # inside one package
            same_peer = layer(dep) == layer(name) and layer(name) < 5
            if layer(dep) > layer(name) or same_peer:
                wrong.append(f"{name} imports {dep}")
    assert not wrong, "imports against the layers:\n" + "\n".join(sorted(wrong))


def test_no_import_cycles():
    g = graph()
    state: Dict[str, int] = {}  # 1: on the path, 2: done
    cycles: List[List[str]] = []

    def visit(node: str, path: List[str]) -> None:
        state[node] = 1
        for dep in sorted(g.get(node, ())):
            if state.get(dep) == 1:
                cycles.append(path[path.index(dep):] + [dep] if dep in path else [node, dep])
            elif dep not in state:
                visit(dep, path + [dep])
        state[node] = 2

    for node in sorted(g):
        if node not in state:
            visit(node, [node])
    assert not cycles, "import cycles:\n" + "\n".join(" -> ".join(c) for c in cycles)


@pytest.mark.parametrize("name", sorted(modules()))
def test_modules_stay_small(name):
    lines = len(modules()[name].read_text().splitlines())
    assert lines <= MAX_LINES, f"{name} has {lines} lines (> {MAX_LINES}): split it by concern"


def test_the_checker_sees_a_cycle_and_an_upward_import(tmp_path, monkeypatch):
    """The checks above can fail: a fake package with an upward import and a cycle trips both."""
    fake = tmp_path / "idg"
    for pkg in LAYERS:
        (fake / pkg).mkdir(parents=True)
        (fake / pkg / "__init__.py").write_text('"""may import nothing"""\n')
    (fake / "__init__.py").write_text("")
    (fake / "core" / "a.py").write_text("from idg.study import b\n")
    (fake / "study" / "b.py").write_text("def f():\n    import idg.core.a\n")
    monkeypatch.setattr(__import__(__name__), "PACKAGE", fake)
    with pytest.raises(AssertionError, match="idg.core.a imports idg.study.b"):
        test_layers_import_downwards_only()
    with pytest.raises(AssertionError, match="import cycles"):
        test_no_import_cycles()
