"""The shape of the code that docs/ARCHITECTURE.md promises: no module imports itself back in a circle.

The layers between packages are checked by import-linter (`make lint`, contract in pyproject.toml); this
test checks the files: a circle of module-level imports (a.py imports b.py imports a.py) is how two
modules that belong apart grow together, and Python resolves it only by the accident of import order.
Imports for type checking only and imports inside functions are not module-level imports.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "marketplace"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _module_level_imports(tree: ast.Module) -> list[ast.ImportFrom | ast.Import]:
    found: list[ast.ImportFrom | ast.Import] = []
    for node in tree.body:
        if isinstance(node, ast.Import | ast.ImportFrom):
            found.append(node)
        elif (isinstance(node, ast.If) and not _is_type_checking(node)) or isinstance(node, ast.Try):
            found.extend(n for n in node.body if isinstance(n, ast.Import | ast.ImportFrom))
    return found


def import_graph() -> dict[str, set[str]]:
    files = {_module_name(path): path for path in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {name: set() for name in files}
    for name, path in files.items():
        for node in _module_level_imports(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("marketplace"):
                for alias in node.names:
                    target = f"{node.module}.{alias.name}"
                    graph[name].add(target if target in files else node.module)
            elif isinstance(node, ast.Import):
                graph[name].update(a.name for a in node.names if a.name in files)
    return {name: {t for t in targets if t in files and t != name} for name, targets in graph.items()}


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iteratively)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, targets = work[-1]
            for target in targets:
                if target not in index:
                    index[target] = low[target] = counter
                    counter += 1
                    stack.append(target)
                    on_stack.add(target)
                    work.append((target, iter(sorted(graph[target]))))
                    break
                if target in on_stack:
                    low[node] = min(low[node], index[target])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        found.append(sorted(component))
    return found


def test_the_circle_finder_finds_a_circle():
    assert circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert circles({"a": {"b"}, "b": set()}) == []


def test_no_module_of_the_application_imports_itself_back_in_a_circle():
    assert circles(import_graph()) == []


def _inner_imports_without_reason() -> list[str]:
    """Imports of another area (or the kernel) inside a function, with no comment on the line or in the block of
    imports and comments right above it: an import hidden in a function is a sign of a wrong arrow, so one
    that must stay there says why."""
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        lines = path.read_text(encoding="utf-8").splitlines()
        tree = ast.parse("\n".join(lines))
        module = _module_name(path)
        area = module.split(".")[1] if module.count(".") else ""
        in_functions = [
            inner
            for function in ast.walk(tree)
            if isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef)
            for inner in ast.walk(function)
        ]
        for node in in_functions:
            if not isinstance(node, ast.ImportFrom):
                continue
            if not (node.module or "").startswith("marketplace"):
                continue
            if node.module.split(".")[1:2] == [area]:
                continue
            index = node.lineno - 1
            reason = "#" in lines[index]
            while not reason and index > 0:
                index -= 1
                above = lines[index].strip()
                if above.startswith("#"):
                    reason = True
                elif not above.startswith(("from ", "import ")) and above:
                    break
            if not reason:
                found.append(f"{path.relative_to(ROOT)}:{node.lineno} imports {node.module}")
    return found


def test_an_import_of_another_area_inside_a_function_says_why():
    assert _inner_imports_without_reason() == []
