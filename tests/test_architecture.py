"""The layout's rules, read from the code's imports (every import, those inside functions included).

- No two modules import each other, directly or through others: a circle hidden behind an import
  inside a function is still a circle.
- The hosted dashboard and ``precompute.contract`` (what outside tools may read) reach only each
  other, the package's ``__init__`` and the libraries ``dashboard/requirements.txt`` installs: never
  the build, the neighbour engine, the analyses or their libraries (torch, numba, scikit-learn, ...).
- The README's account of the layout names folders that exist.
"""

from __future__ import annotations

import ast
import re
import sys
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("precompute", "dashboard", "deploy")
#: Import names of what dashboard/requirements.txt installs, and what those bring (streamlit's server,
#: requests' urllib3).
HOST_LIBRARIES = {"streamlit", "altair", "numpy", "pandas", "pyarrow", "annoy", "requests", "tokenizers",
                  "sentencepiece", "vl_convert", "starlette", "urllib3"}
#: Where the hosted dashboard may reach inside the project.
LIGHT = ("dashboard", "precompute.contract")


def module_name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def project_modules() -> dict[str, Path]:
    return {module_name(p): p for pkg in PACKAGES for p in sorted((REPO / pkg).rglob("*.py"))}


def imports(path: Path, modules: dict[str, Path]) -> Iterator[str]:
    """Every module ``path`` imports (project modules by full name, libraries by their top name)."""
    own = module_name(path)
    is_package = path.name == "__init__.py"
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name if alias.name in modules else alias.name.split(".")[0]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = own.split(".")[: len(own.split(".")) - node.level + (1 if is_package else 0)]
                target = ".".join([*base, *([node.module] if node.module else [])])
            else:
                target = node.module or ""
            if target.split(".")[0] not in PACKAGES:
                yield target.split(".")[0]
                continue
            for alias in node.names:  # ``from pkg import module`` names a module; else the name is in ``target``
                yield f"{target}.{alias.name}" if f"{target}.{alias.name}" in modules else target


def graph() -> dict[str, set[str]]:
    modules = project_modules()
    return {name: set(imports(path, modules)) - {name} for name, path in modules.items()}


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in edges.get(v, ()):
            if w not in edges:
                continue
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    sys.setrecursionlimit(10_000)
    for v in sorted(edges):
        if v not in index:
            visit(v)
    return found


def reachable(edges: dict[str, set[str]], start: str) -> set[str]:
    seen, todo = set(), [start]
    while todo:
        v = todo.pop()
        if v not in seen:
            seen.add(v)
            todo.extend(edges.get(v, ()))
    return seen


def test_the_cycle_finder_finds_a_circle_behind_a_function_level_import() -> None:
    assert cycles({"a": {"b"}, "b": {"a", "c"}, "c": set()}) == [["a", "b"]]
    assert cycles({"a": {"b"}, "b": {"c"}, "c": set()}) == []


def test_no_module_imports_itself_through_others() -> None:
    assert cycles(graph()) == []


def test_the_dashboard_and_the_contract_reach_nothing_heavy() -> None:
    edges = graph()
    stdlib = set(sys.stdlib_module_names) | {"__future__"}
    for start in sorted(m for m in edges if m.startswith(LIGHT)):
        reached = reachable(edges, start)
        own = {m for m in reached if m in edges}
        outside = sorted(m for m in own if not m.startswith(LIGHT) and m != "precompute")
        assert outside == [], f"{start} reaches {outside}: the hosted dashboard cannot import them"
        libraries = {m for m in reached if m not in edges} - stdlib
        assert libraries <= HOST_LIBRARIES, (
            f"{start} reaches {sorted(libraries - HOST_LIBRARIES)}, which dashboard/requirements.txt does not install")


def test_the_contract_is_checked_for_real() -> None:
    """The rule above would catch a contract module that imported the build (so it is not vacuous)."""
    edges = graph()
    edges["precompute.contract.schema"] = edges["precompute.contract.schema"] | {"precompute.knn.neighbors"}
    reached = reachable(edges, "dashboard.app")
    assert "precompute.knn.neighbors" in reached and "torch" in reached


def test_the_readmes_layout_names_folders_that_exist() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    section = readme.split("## How the code is laid out", 1)[1].split("\n## ", 1)[0]
    named = set(re.findall(r"`((?:precompute|dashboard|tests|benchmarks|docs)(?:/[\w.]+)*/)`", section))
    assert {"precompute/contract/", "precompute/build/", "precompute/knn/", "precompute/analyses/"} <= named
    missing = sorted(n for n in named if not (REPO / n).is_dir())
    assert missing == [], f"the README's layout names folders that do not exist: {missing}"
