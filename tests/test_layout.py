"""The layout (issue 9): SQL only in callreport/repo/, an import graph without cycles, no upward imports."""

from __future__ import annotations

import ast
import graphlib
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "callreport"
# Besides repo/: the engine, migration, pragma and time-budget plumbing, the tables, and the two
# modules that build clauses (subqueries included) for the repository's statements.
SQL_ALLOWED = ("repo/", "migrations/", "db.py", "models.py", "filters.py", "analysis.py")
STATEMENTS = {"select", "insert", "update", "delete", "text", "union", "union_all"}
RUNS = {"execute", "executemany", "exec_driver_sql"}
LEAVES = {"settings", "errors", "principal", "zones", "models", "record", "time_format"}
# What the repository layer must never import: it sits under the HTTP, CLI, worker and export layers.
ABOVE_REPO = ("actions", "http", "app", "cli", "worker", "console", "export", "auth", "demo", "sources")


def module_name(path: Path) -> str:
    """callreport.repo.calls for callreport/repo/calls.py (the package for __init__.py)."""
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in PACKAGE.rglob("*.py")}


def _sql_names(tree: ast.Module) -> tuple[set[str], set[str], set[str]]:
    """Names bound to sqlalchemy modules, to statement functions imported from it, and to tables."""
    modules, functions, tables = set(), set(), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            modules |= {a.asname or a.name for a in node.names if a.name.startswith("sqlalchemy")}
        elif isinstance(node, ast.ImportFrom) and node.module:
            if node.module.startswith("sqlalchemy"):
                modules |= {a.asname or a.name for a in node.names}
                functions |= {a.asname or a.name for a in node.names if a.name in STATEMENTS}
            elif node.module == "callreport.models":
                tables |= {a.asname or a.name for a in node.names}
    return modules, functions, tables


def statements(source: str) -> list[str]:
    """Where the source builds or runs a SQL statement: 'line: code' for each."""
    tree = ast.parse(source)
    modules, functions, tables = _sql_names(tree)
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        f = node.func
        hit = isinstance(f, ast.Name) and f.id in functions
        if isinstance(f, ast.Attribute):
            owner = f.value.id if isinstance(f.value, ast.Name) else None
            hit = (
                f.attr in RUNS
                or (owner in modules and f.attr in STATEMENTS)
                or (owner in tables and f.attr in {"select", "insert", "update", "delete"})
            )
        if hit:
            found.append(f"{node.lineno}: {ast.unparse(node)[:80]}")
    return found


def test_the_scan_finds_statements() -> None:
    source = """
import sqlalchemy as sa
from sqlalchemy import select as pick
from sqlalchemy.dialects import postgresql
from callreport.models import calls as c
def f(conn, storage):
    sa.select(c.c.id)
    pick(c)
    c.update()
    postgresql.insert(c)
    conn.exec_driver_sql("SELECT 1")
    conn.execute(x)
    storage.delete("key")
    sa.case((c.c.id == 1, "a"))
"""
    assert [hit.split(":")[0] for hit in statements(source)] == ["7", "8", "9", "10", "11", "12"]


def test_no_sql_outside_the_repository() -> None:
    outside = {}
    for path in MODULES.values():
        rel = path.relative_to(PACKAGE).as_posix()
        if rel.startswith(SQL_ALLOWED):
            continue
        found = statements(path.read_text(encoding="utf-8"))
        if found:
            outside[rel] = found
    assert outside == {}, "SQL belongs in callreport/repo/"


def runtime_imports(node: ast.AST) -> list[ast.Import | ast.ImportFrom]:
    """The import statements that run (also inside functions); not those under `if TYPE_CHECKING:`."""
    if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
        return [n for child in node.orelse for n in runtime_imports(child)]
    if isinstance(node, ast.Import | ast.ImportFrom):
        return [node]
    return [n for child in ast.iter_child_nodes(node) for n in runtime_imports(child)]


def imports(name: str) -> set[str]:
    """The callreport modules a module imports (also inside functions), packages included."""
    path = MODULES[name]
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out = set()
    for node in runtime_imports(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name in MODULES}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*up, base] if base else up)
            out |= {base} & MODULES.keys()
            out |= {f"{base}.{a.name}" for a in node.names} & MODULES.keys()
    # A module's own packages are always imported before it: not an edge of its making.
    ancestors = {".".join(name.split(".")[:i]) for i in range(1, name.count(".") + 1)}
    return out - {name} - ancestors


GRAPH = {name: imports(name) for name in MODULES}


def short(name: str) -> str:
    return name.removeprefix("callreport.")


def test_import_graph_has_no_cycle() -> None:
    try:
        list(graphlib.TopologicalSorter(GRAPH).static_order())
    except graphlib.CycleError as exc:
        pytest.fail(f"import cycle: {' -> '.join(exc.args[1])}")


def test_leaves_import_only_leaves() -> None:
    reach = {
        short(m): sorted(short(t) for t in GRAPH[m] if short(t) not in LEAVES) for m in GRAPH if short(m) in LEAVES
    }
    assert {m: t for m, t in reach.items() if t} == {}


def test_nothing_reaches_up() -> None:
    """The repository never imports the layers above it; http/ only by the app; actions/ by http/ and the console."""
    wrong = []
    for m, targets in GRAPH.items():
        for t in targets:
            top = short(t).split(".")[0]
            if short(m).startswith("repo") and top in ABOVE_REPO:
                wrong.append(f"{short(m)} -> {short(t)}")
            if top == "http" and short(m).split(".")[0] not in ("http", "app"):
                wrong.append(f"{short(m)} -> {short(t)}")
            if top == "actions" and short(m).split(".")[0] not in ("actions", "http", "console"):
                wrong.append(f"{short(m)} -> {short(t)}")
    assert wrong == []


def test_principal_is_a_leaf_without_sql_or_hashing() -> None:
    source = MODULES["callreport.principal"].read_text(encoding="utf-8")
    assert GRAPH["callreport.principal"] == set()
    assert "sqlalchemy" not in source and "hashlib" not in source


def test_importing_filters_imports_no_credentials_code_and_hashes_nothing() -> None:
    # scrypt replaced by a bomb before any import: importing must not call it (it cost ~40 ms).
    code = (
        "import hashlib, sys\n"
        "def bomb(*a, **k): raise SystemExit('scrypt ran at import')\n"
        "hashlib.scrypt = bomb\n"
        "import callreport.filters\n"
        "assert 'callreport.auth' not in sys.modules, 'filters imported auth'\n"
        "import callreport.auth\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr


MAX_MODULE_LINES = 300
MAX_FUNCTION_LINES = 50
# Being rewritten by others right now (issue 9); each entry goes when that work lands.
OVERSIZE_ALLOWED: set[str] = set()


def oversize(rel: str, source: str) -> list[str]:
    """What is too long: the module (over MAX_MODULE_LINES), its functions (over MAX_FUNCTION_LINES, def to end)."""
    found = []
    if len(source.splitlines()) > MAX_MODULE_LINES:
        found.append(f"{rel} ({len(source.splitlines())} lines)")
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            length = node.end_lineno - node.lineno + 1
            if length > MAX_FUNCTION_LINES:
                found.append(f"{rel}:{node.name} ({length} lines)")
    return found


def test_the_size_scan_finds_long_modules_and_functions() -> None:
    body = "\n".join(f"    x{i} = {i}" for i in range(49))
    fits = f"def fits():\n{body}\n"  # 50 lines
    too_long = f"async def long():\n{body}\n    return 1\n"  # 51 lines
    assert oversize("m.py", fits) == []
    assert oversize("m.py", too_long) == ["m.py:long (51 lines)"]
    nested = "class C:\n    def method(self):\n" + "\n".join(f"        y{i} = {i}" for i in range(60))
    assert oversize("m.py", nested) == ["m.py:method (61 lines)"]
    assert oversize("m.py", "x = 1\n" * 301) == ["m.py (301 lines)"]
    assert oversize("m.py", "x = 1\n" * 300) == []


def test_no_module_over_300_lines_nor_function_over_50() -> None:
    found = []
    for path in MODULES.values():
        rel = path.relative_to(PACKAGE).as_posix()
        found += [
            hit for hit in oversize(rel, path.read_text(encoding="utf-8")) if hit.split(" ")[0] not in OVERSIZE_ALLOWED
        ]
    assert found == [], "split it: modules under ~300 lines, functions under ~50 (issue 9)"


TESTS = PACKAGE.parent / "tests"


def imported_test_modules(source: str) -> list[str]:
    """The test modules (and conftest) a source imports from: shared helpers belong in factories."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        else:
            continue
        found += [n for n in names if n.split(".")[0] == "tests" and n.split(".")[-1].startswith(("test_", "conftest"))]
    return found


def test_the_test_import_scan_finds_test_modules() -> None:
    source = "import tests.test_a\nfrom tests.sources.test_push import URL\nfrom tests.conftest import call\n"
    assert imported_test_modules(source) == ["tests.test_a", "tests.sources.test_push", "tests.conftest"]
    assert imported_test_modules("from tests.factories import call\nfrom tests.sources.helpers import corpus\n") == []


def test_no_test_module_imports_another() -> None:
    found = {
        path.relative_to(TESTS).as_posix(): hits
        for path in TESTS.rglob("*.py")
        if "vendor" not in path.parts and (hits := imported_test_modules(path.read_text(encoding="utf-8")))
    }
    assert found == {}, "move shared helpers to tests/factories.py (fixtures to conftest.py or tests/fixtures/)"
