"""Issue 24, the package's layout: what a newcomer reading the code should be able to rely on."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Set

import otel_import_tracer

PACKAGE = "otel_import_tracer"
PACKAGE_DIR = Path(otel_import_tracer.__file__).resolve().parent

# -- the reading side ------------------------------------------------------------------------

MAX_LINES = 450
# Files allowed over the limit, each with its reason (none since issue 24 landed).
KNOWN_LONG: Set[str] = set()


def test_no_file_of_the_package_is_over_450_lines() -> None:
    lengths = {
        str(path.relative_to(PACKAGE_DIR)): len(path.read_text(encoding="utf-8").splitlines()) for path in PACKAGE_DIR.rglob("*.py")
    }
    long = {name: count for name, count in sorted(lengths.items()) if count > MAX_LINES and name not in KNOWN_LONG}
    assert not long, f"files over {MAX_LINES} lines: {long}"


# The package's modules that hold no step of a reading command, only what both sides share:
# the format of the report and of the log lines, names, printable text, the version.
SHARED = {"", "schema", "logs", "naming", "messages", "semconv", "version"}

_CALLS = r"""
import io, json, sys
from otel_import_tracer import cli
files = set()
def profile(frame, event, arg):
    if event == "call":
        files.add(frame.f_code.co_filename)
sys.setprofile(profile)
stdout, sys.stdout = sys.stdout, io.StringIO()
status = cli.main(sys.argv[1:])
sys.setprofile(None)
sys.stdout = stdout
print(json.dumps({"status": status, "files": sorted(files)}))
"""


def called_modules(*args: str) -> List[str]:
    """The package's files whose code runs for ``otel-import-tracer ARGS``, relative to the package."""
    done = subprocess.run([sys.executable, "-c", _CALLS, *args], capture_output=True, timeout=120)
    assert done.returncode == 0, done.stderr.decode()
    found: Dict[str, object] = json.loads(done.stdout)
    assert found["status"] in (0, 1), done.stderr.decode()
    inside = [Path(name).resolve() for name in found["files"]]  # type: ignore[union-attr]
    return sorted({str(path.relative_to(PACKAGE_DIR)) for path in inside if PACKAGE_DIR in path.parents})


def test_audit_of_a_report_runs_in_the_reading_folder_and_the_cli_only(tmp_path: Path) -> None:
    """From argv to output, ``audit REPORT`` stays in ``reading/`` and the command line (``cli.py``, ``cli_parser.py``; and the
    leaf modules both sides share): no step of it in the writing side's ``report.py``."""
    root = tmp_path / "src"
    (root / "pkg").mkdir(parents=True)
    for name in ("__init__.py", "main.py", "pkg/__init__.py", "pkg/unused.py"):
        (root / name).write_text("")
    report = tmp_path / "report.json"
    modules = [
        {"name": name, "file": str(root / file), "offset_ms": 1.0, "duration_ms": 2.0, "importer": None, "thread": "MainThread",
         "preloaded": False, "lazy": False, "source": "import"}
        for name, file in (("src", "__init__.py"), ("src.main", "main.py"))
    ]
    report.write_text(json.dumps({
        "schema": "otel-import-tracer/report", "schema_version": 2, "service": None, "host": "h", "pid": 1, "python": "3.11",
        "root": str(root), "collector": "importhook", "trace_id": None, "status": "stopped", "started_at": "2026-01-01T00:00:00Z",
        "started_unix_ns": 0, "startup_complete_ms": 5.0, "modules": modules, "failed_imports": [], "dependencies": [],
    }))
    for output in ("text", "json"):
        ran = called_modules("audit", str(report), "--format", output)
        elsewhere = [name for name in ran if not name.startswith("reading/") and name not in ("cli.py", "cli_parser.py")
                     and name.replace("/__init__.py", "").replace("__init__.py", "").replace(".py", "") not in SHARED]
        assert not elsewhere, f"audit --format {output} ran code of {elsewhere} (all: {ran})"
        assert any(name.startswith("reading/render/") for name in ran) and "reading/report.py" in ran, ran


def test_an_inputs_kind_is_told_once(tmp_path: Path, monkeypatch: "object") -> None:
    from otel_import_tracer.reading import otlp, sources

    calls: List[bytes] = []
    sniff = otlp.looks_like_otlp

    def counted(raw: bytes) -> bool:
        calls.append(raw)
        return sniff(raw)

    monkeypatch.setattr(otlp, "looks_like_otlp", counted)  # type: ignore[attr-defined]
    log = tmp_path / "app.log"
    log.write_text("LOADED_SRC_FILE: /app/src/main.py\n")
    assert sources.read_input(str(log)).kind == sources.LOG
    assert len(calls) == 1  # the OTLP sniff ran twice for a log


def test_the_never_loaded_files_are_sorted_once(tmp_path: Path) -> None:
    from otel_import_tracer.reading.audit import audit

    (tmp_path / "src").mkdir()
    for name in ("b.py", "a.py"):
        (tmp_path / "src" / name).write_text("")
    result = audit([], str(tmp_path / "src"))
    assert result.never_loaded is result.never_loaded and [Path(f).name for f in result.never_loaded] == ["a.py", "b.py"]


# -- the writing side and the import graph --------------------------------------------------


def _module_names() -> Dict[str, Path]:
    """Every module of the package by dotted name (a package by its ``__init__``)."""
    names: Dict[str, Path] = {}
    for path in sorted(PACKAGE_DIR.rglob("*.py")):
        parts = list(path.relative_to(PACKAGE_DIR).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        names[".".join([PACKAGE, *parts])] = path
    return names


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(tree: ast.AST) -> Iterator[ast.stmt]:
    """Every import statement, at module level or inside a function, but those under
    ``if TYPE_CHECKING:`` (annotations only: they never run)."""
    stack: List[ast.AST] = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            stack.extend(node.orelse)
            continue
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        stack.extend(ast.iter_child_nodes(node))


def _resolve(module: str, is_package: bool, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    base = module.split(".") if is_package else module.split(".")[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def import_graph() -> Dict[str, Set[str]]:
    """Module -> the package's modules it names in an import statement.

    Function-level imports count like module-level ones: an import made late to keep startup
    cheap is still a dependency, and layering is about who may call whom, not when the import
    runs. ``import a.b`` names ``a.b``; ``from a import b`` names ``a`` (the statement runs
    ``a``'s ``__init__`` and reads ``b`` off it) and ``a.b`` when that is a module. The
    packages Python runs on the way to a named module are not edges: every module would then
    depend on the package facade, which re-exports the public API."""
    modules = _module_names()
    graph: Dict[str, Set[str]] = {}
    for name, path in modules.items():
        is_package = path.name == "__init__.py"
        edges: Set[str] = set()
        for node in _imports(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if isinstance(node, ast.Import):
                edges.update(alias.name for alias in node.names if alias.name in modules)
                continue
            source = _resolve(name, is_package, node)
            if source in modules:
                edges.add(source)
            edges.update(f"{source}.{alias.name}" for alias in node.names if f"{source}.{alias.name}" in modules)
        edges.discard(name)
        graph[name] = edges
    return graph


def find_cycle(graph: Dict[str, Set[str]]) -> Optional[List[str]]:
    """One cycle of ``graph`` as the list of its modules (the first repeated at the end), or None."""
    state: Dict[str, int] = {}  # 1: on the current path, 2: done
    path: List[str] = []

    def visit(node: str) -> Optional[List[str]]:
        state[node] = 1
        path.append(node)
        for target in sorted(graph.get(node, ())):
            if state.get(target) == 1:
                return path[path.index(target):] + [target]
            if target not in state:
                found = visit(target)
                if found is not None:
                    return found
        path.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state:
            found = visit(start)
            if found is not None:
                return found
    return None


def all_cycles(graph: Dict[str, Set[str]]) -> List[List[str]]:
    """One cycle per strongly connected part of ``graph`` that has one (to show them all at once)."""
    cycles = []
    remaining = {node: set(targets) for node, targets in graph.items()}
    while True:
        cycle = find_cycle(remaining)
        if cycle is None:
            return cycles
        cycles.append(cycle)
        remaining[cycle[-2]].discard(cycle[-1])  # break it and look for the next


def test_the_graph_sees_function_level_imports_and_skips_type_checking_ones() -> None:
    graph = import_graph()
    # bootstrap imports tracing inside start_tracing only; the facade imports it for annotations only
    assert f"{PACKAGE}.tracing" in graph[f"{PACKAGE}.process.bootstrap"], graph[f"{PACKAGE}.process.bootstrap"]
    assert f"{PACKAGE}.tracing" not in graph[PACKAGE]
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_the_package_has_no_import_cycle() -> None:
    """Issue 24: layers import downwards only. The process glue sits above ``tracing`` and hands
    it what it needs; a package's ``__init__`` does not import modules that import it back."""
    cycles = all_cycles(import_graph())
    assert not cycles, "import cycles:\n" + "\n".join("  " + " -> ".join(cycle) for cycle in cycles)


def test_the_lifecycle_imports_nothing_of_the_process_glue() -> None:
    """Issue 24: ``process/`` sits above ``tracing`` and hands it what it needs (``hand_in``);
    nothing below the glue reaches up into it, late imports included."""
    graph = import_graph()
    lower = ("tracing", "collectors", "telemetry", "registry", "logs", "messages", "config", "naming", "env", "semconv", "locking")
    below = [name for name in graph if name.split(".")[1:2] and name.split(".")[1] in lower]
    upward = sorted(f"{name} -> {target}" for name in below for target in graph[name] if target.startswith(f"{PACKAGE}.process"))
    assert not upward, "imports of the process glue from below it:\n  " + "\n  ".join(upward)


def _calls(path: Path, name: str) -> List[ast.Call]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return [
        node for node in ast.walk(tree)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == name
    ]


def test_a_forked_childs_path_is_told_in_one_module() -> None:
    """Issue 24: the steps a fork takes (end our threads before it, bring them back in the parent,
    a session of the child's own) are registered in ``process/fork.py`` alone, in order; other
    modules only reset a lock or claim of their own (``after_in_child`` only)."""
    modules = _module_names()
    with_before = sorted(
        name for name, path in modules.items()
        for call in _calls(path, "register_at_fork") if any(keyword.arg == "before" for keyword in call.keywords)
    )
    assert with_before == [f"{PACKAGE}.process.fork"], with_before
    child = next(
        node for node in ast.walk(ast.parse(modules[f"{PACKAGE}.process.fork"].read_text(encoding="utf-8")))
        if isinstance(node, ast.FunctionDef) and node.name == "after_fork_in_child"
    )
    steps = [ast.unparse(call.func) for call in ast.walk(child) if isinstance(call, ast.Call)]
    assert steps[:4] == [
        "messages.after_fork_in_child", "collectors.after_fork_in_child",
        "signals.handler.after_fork_in_child", "tracing.after_fork_in_child",
    ], steps


WRITING_SIDE = ("collectors", "telemetry", "process", "tracing", "registry", "logs", "messages", "config", "naming")


def test_one_helper_per_idiom_on_the_writing_side() -> None:
    """Issue 24: ns -> ms once (``registry.ns_to_ms``), a load's start/end/duration once (the base
    ``ModuleLoad`` and ``DependencyLoad`` share), listeners called directly, not by name."""
    from otel_import_tracer import registry

    assert registry.ModuleLoad.duration_ns is registry.DependencyLoad.duration_ns
    assert registry.ns_to_ms(1_500_000) == 1.5
    modules = _module_names()
    writing = {name: path for name, path in modules.items() if name.split(".")[1:2] and name.split(".")[1] in WRITING_SIDE}
    per_ms = sorted(
        name for name, path in writing.items()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.Constant) and node.value == 1_000_000
    )
    assert per_ms == [f"{PACKAGE}.registry"], per_ms
    by_name = [call for call in ast.walk(ast.parse(modules[f"{PACKAGE}.registry"].read_text(encoding="utf-8")))
               if isinstance(call, ast.Call) and isinstance(call.func, ast.Name) and call.func.id == "getattr"
               and call.args and isinstance(call.args[0], ast.Name) and call.args[0].id == "listener"]
    assert not by_name


# The writing side's modules: the reading side reads what they wrote, never calls them.
WRITING_SIDE_MODULES = ("report", "tracing", "output", "registry", "collectors", "telemetry", "process")


def test_the_reading_side_imports_nothing_of_the_writing_side() -> None:
    """Issue 24: ``reading/`` imports the modules both sides share, never the writing side (the page
    wrote itself with ``report.write_text``; the atomic write lives below both now). The live summary
    is the one reader of the running registry (``reading/render/summary.py``)."""
    graph = import_graph()
    allowed = {f"{PACKAGE}.reading.render.summary": {f"{PACKAGE}.registry"}}
    found = sorted(
        f"{name} -> {target}" for name, targets in graph.items() if name.startswith(f"{PACKAGE}.reading")
        for target in targets if target.split(".")[1:2] and target.split(".")[1] in WRITING_SIDE_MODULES and target not in allowed.get(name, set())
    )
    assert not found, "the reading side imports the writing side:\n  " + "\n  ".join(found)
