"""The code's layout: no import cycle among the modules of ``ml`` and ``webapp``, no module a
reader cannot take in at once, and the site in feature packages. Every import counts, those
inside functions and under TYPE_CHECKING too: a cycle hidden in a function is still two
modules that cannot be understood, moved or tested one without the other."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("ml", "webapp")
MAX_LINES = 600


def module_files() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            found[".".join(parts)] = path
    return found


def import_graph() -> dict[str, set[str]]:
    """Each module -> the modules of these packages it imports."""
    modules = module_files()
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        here = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
        imported: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom):
                base = ".".join([*here[: len(here) - node.level + 1], *[node.module or ""]]) if node.level else ""
                target = (base.rstrip(".") if node.level else node.module) or ""
                for alias in node.names:
                    submodule = f"{target}.{alias.name}"
                    imported.add(submodule if submodule in modules else target)
            elif isinstance(node, ast.Import):
                imported.update(alias.name for alias in node.names)
        graph[name] = {module for module in imported if module in modules and module != name}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The groups of modules that import each other, directly or not (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        for other in sorted(graph[module]):
            if other not in index:
                visit(other)
                low[module] = min(low[module], low[other])
            elif other in stack:
                low[module] = min(low[module], index[other])
        if low[module] == index[module]:
            group = []
            while True:
                other = stack.pop()
                group.append(other)
                if other == module:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for module in sorted(graph):
        if module not in index:
            visit(module)
    return found


def test_the_checker_finds_a_cycle_through_several_modules():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(graph) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_the_packages_have_no_import_cycle():
    graph = import_graph()
    assert (
        "webapp.stats.counters" in graph
        and "ml.backends.memory.index" in graph
        and graph["ml.backends.transformer.finetune"]
    )
    assert cycles(graph) == []


def test_no_module_is_longer_than_a_reader_can_hold():
    lengths = {name: len(path.read_text(encoding="utf-8").splitlines()) for name, path in module_files().items()}
    assert len(lengths) > 80
    assert {name: n for name, n in lengths.items() if n > MAX_LINES} == {}


def test_the_site_is_feature_packages_around_its_factory():
    loose = sorted(path.name for path in (ROOT / "webapp").glob("*.py") if path.name != "__init__.py")
    assert loose == []
    features = {path.parent.name for path in (ROOT / "webapp").glob("*/__init__.py")}
    assert {"core", "ask", "history", "review", "auth", "api", "batch", "stats"} <= features
    # Each feature's pages live beside its routes; only the frame every page shares is common.
    owners = {path.parent.parent.name for path in (ROOT / "webapp").glob("*/templates/*.html")}
    assert owners == {"ask", "history", "stats", "batch", "auth", "api"}
    assert sorted(path.name for path in (ROOT / "webapp" / "templates").glob("*.html")) == [
        "_macros.html",
        "base.html",
        "error.html",
    ]
