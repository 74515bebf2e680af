"""The record in the corners: files run through a loader by hand, ``LazyLoader``, sourceless
images, odd objects in ``sys.modules``, deep import chains, and the application's tracebacks."""

from __future__ import annotations

import importlib
import importlib.util
import json
import os
import subprocess
import sys
import textwrap
import threading
import types
from importlib.machinery import SourceFileLoader
from pathlib import Path
from typing import Any, Dict, List, Optional

import pytest

from otel_import_tracer.registry import SOURCE_EXECUTED, SOURCE_IMPORT
from otel_import_tracer.tracing import TracingSession
from tests.conftest import SourceTree
from tests.support.servers import clean_env, shutdown_lines, without_summary


def start(tree: SourceTree, collector: str) -> TracingSession:
    session = TracingSession(tree.config(collector=collector))
    assert session.start()
    return session


def by_name(session: TracingSession) -> dict:
    return {load.name: load for load in session.registry.loads()}


def run(argv: List[str], cwd: Path, tracing: Optional[str], **env: str) -> subprocess.CompletedProcess:
    """``argv`` run with tracing on (``tracing`` names the collector) or off (None)."""
    settings = {"ENABLE_IMPORT_TRACING": "false"}
    if tracing is not None:
        settings = {"ENABLE_IMPORT_TRACING": "true", "IMPORT_TRACING_ROOT": str(cwd / "src"),
                    "IMPORT_TRACING_COLLECTOR": tracing, "OTEL_TRACES_EXPORTER": "none"}
    return subprocess.run(argv, env=clean_env({**settings, **env}), cwd=cwd, capture_output=True,
                          text=True, timeout=120)


def write_root(base: Path, files: Dict[str, str]) -> Path:
    root = base / "src"
    root.mkdir()
    (root / "__init__.py").write_text("")
    for name, source in files.items():
        (root / name).write_text(textwrap.dedent(source))
    return root


# -- a file run through a loader by hand ---------------------------------------------------


def test_a_file_run_through_a_loader_by_hand_is_timed_where_it_runs(tree: SourceTree, collector: str) -> None:
    plugin = tree.write("plugins/exporter.py", "import time\ntime.sleep(0.02)\nNAME = 'exporter'\n")
    dag = tree.write("dags/nightly.py", "import time\ntime.sleep(0.02)\nDAG = 'nightly'\n")
    session = start(tree, collector)
    ran: Dict[str, Any] = {}

    def parse_dag() -> None:  # Airflow's DAG processor parses on a thread of its own
        module = types.ModuleType("unusual_prefix_nightly")  # never put in sys.modules
        SourceFileLoader("unusual_prefix_nightly", dag).exec_module(module)  # a Path works untraced too
        ran["dag"] = module.DAG

    try:
        # Airflow's plugins manager: a loader made by hand, the module kept under a name of its own.
        loader = SourceFileLoader("airflow_plugin_exporter", str(plugin))
        spec = importlib.util.spec_from_loader(loader.name, loader)
        assert spec is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module
        loader.exec_module(module)
        worker = threading.Thread(target=parse_dag, name="dag-parser")
        worker.start()
        worker.join()
    finally:
        session.stop()
        sys.modules.pop("airflow_plugin_exporter", None)
    assert (module.NAME, ran["dag"]) == ("exporter", "nightly")
    loads = {load.file: load for load in session.registry.loads()}
    for path, thread in ((plugin, threading.current_thread().name), (dag, "dag-parser")):
        load = loads.get(str(path))
        assert load is not None, f"{path} is not listed: {sorted(loads)}"
        assert (load.source, load.parent, load.thread) == (SOURCE_EXECUTED, __name__, thread)
        assert load.duration_ns is not None and load.duration_ns >= 15_000_000, load


# -- importlib.util.LazyLoader ---------------------------------------------------------------


def lazy_import(name: str) -> types.ModuleType:
    """The recipe of the importlib documentation."""
    spec = importlib.util.find_spec(name)
    assert spec is not None and spec.loader is not None
    loader = importlib.util.LazyLoader(spec.loader)
    spec.loader = loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    loader.exec_module(module)
    return module


def test_a_lazy_module_counts_when_it_executes(tree: SourceTree, collector: str) -> None:
    tree.write("heavy.py", "import time\ntime.sleep(0.02)\nVALUE = 3\n")
    tree.write("never_used.py", "VALUE = 4\n")
    p = tree.package
    session = start(tree, collector)
    try:
        heavy = lazy_import(f"{p}.heavy")
        lazy_import(f"{p}.never_used")
        session.startup_complete(export=False)  # both still pending: neither loaded yet
        assert heavy.VALUE == 3  # executes now, after startup
    finally:
        session.stop()
    loads = by_name(session)
    assert f"{p}.never_used" not in loads
    load = loads[f"{p}.heavy"]
    assert (load.source, load.lazy, load.parent) == (SOURCE_IMPORT, True, __name__)
    assert load.duration_ns is not None and load.duration_ns >= 15_000_000, load


# -- an object in sys.modules whose attribute access raises ---------------------------------


def test_an_object_in_sys_modules_whose_class_raises_is_skipped_even_in_a_forked_child(
    tmp_path: Path, collector: str
) -> None:
    write_root(tmp_path, {"parent_side.py": "", "child_side.py": ""})
    script = tmp_path / "forks.py"
    script.write_text(textwrap.dedent("""
        import os, sys
        sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

        class Unclassifiable:  # a proxy some libraries put in sys.modules
            @property
            def __class__(self):
                raise RuntimeError("no class here")

        sys.modules["odd_proxy"] = Unclassifiable()
        import src.parent_side
        pid = os.fork()
        if pid == 0:
            import src.child_side
            sys.exit(0)
        _, status = os.waitpid(pid, 0)
        sys.exit(os.waitstatus_to_exitcode(status) if hasattr(os, "waitstatus_to_exitcode") else status >> 8)
    """))
    result = run([sys.executable, str(script)], tmp_path, collector)
    assert result.returncode == 0, result.stderr
    assert "start-failed" not in result.stderr and "could not start" not in result.stderr, result.stderr
    blocks = result.stdout.split("Stopping runtime file tracing...")[1:]
    modules = [shutdown_lines(block)[1] for block in blocks]
    assert ["src", "src.child_side", "src.parent_side"] in modules, result.stdout + result.stderr
    assert ["src", "src.parent_side"] in modules, result.stdout + result.stderr


# -- a sourceless image ----------------------------------------------------------------------


def test_a_sourceless_image_lists_its_modules_with_their_pyc_files(tmp_path: Path, collector: str) -> None:
    root = write_root(tmp_path, {"main.py": "from src import models\n", "models.py": "X = 1\n"})
    compiled = subprocess.run([sys.executable, "-m", "compileall", "-b", "-q", str(root)], capture_output=True, text=True)
    assert compiled.returncode == 0, compiled.stdout + compiled.stderr
    for source in root.glob("*.py"):
        source.unlink()
    report = tmp_path / "report.json"
    result = run([sys.executable, "-c", "import src.main"], tmp_path, collector, IMPORT_TRACING_REPORT=str(report))
    assert result.returncode == 0, result.stderr
    files, modules, totals = shutdown_lines(result.stdout)
    assert modules == ["src", "src.main", "src.models"], result.stdout + result.stderr
    assert (files, totals) == ([], {"files": 0, "modules": 3}), result.stdout  # the header says .py files
    assert report.exists(), result.stderr
    entries = {entry["name"]: entry for entry in json.loads(report.read_text())["modules"]}
    assert {name: entry["file"] for name, entry in entries.items()} == {
        "src": str(root / "__init__.pyc"), "src.main": str(root / "main.pyc"), "src.models": str(root / "models.pyc")}
    assert entries["src.models"]["importer"] == "src.main" and entries["src.models"]["duration_ms"] is not None


# -- recursion headroom ----------------------------------------------------------------------

CHAIN = 260


def test_a_chain_of_imports_that_works_untraced_works_traced(tmp_path: Path, collector: str) -> None:
    # src.c000 imports src.c001, which imports src.c002...: the deepest chain that imports.
    write_root(tmp_path, {f"c{i:03d}.py": f"import src.c{i + 1:03d}\n" for i in range(CHAIN - 1)})
    (tmp_path / "src" / f"c{CHAIN - 1:03d}.py").write_text("DEEPEST = True\n")
    # The deepest chain that imports, by bisection (a longer chain imports only if a shorter one
    # does): 9 tries, each at most CHAIN imports, where trying every start from the longest took
    # over a hundred (4.6 CPU-s a collector and Python, 0.3 now; the same depth found).
    probe = textwrap.dedent(f"""
        import importlib, sys
        sys.path.insert(0, {str(tmp_path)!r})
        def imports(first):  # a failed chain leaves nothing in sys.modules; one that imported is let go
            try:
                importlib.import_module(f"src.c{{first:03d}}")
            except RecursionError:
                return False
            for name in [name for name in sys.modules if name.startswith("src.c")]:
                del sys.modules[name]
            return True
        low, high = 0, {CHAIN - 1}  # the last module alone imports
        while low < high:
            middle = (low + high) // 2
            if imports(middle):
                high = middle
            else:
                low = middle + 1
        print("deepest", {CHAIN} - low)
    """)
    untraced = run([sys.executable, "-c", probe], tmp_path, None)
    traced = run([sys.executable, "-c", probe], tmp_path, collector)
    assert untraced.returncode == 0 and traced.returncode == 0, untraced.stderr + traced.stderr
    assert untraced.stdout.startswith("deepest "), untraced.stdout
    assert traced.stdout.splitlines()[0] == untraced.stdout.splitlines()[0], traced.stderr
    assert "internal error" not in traced.stderr, traced.stderr


# -- the application's tracebacks ------------------------------------------------------------

FAILING = {
    "main.py": """
        import sys
        from importlib.machinery import SourceFileLoader
        if sys.argv[1:] == ["by-hand"]:
            import os, types
            path = os.path.join(os.path.dirname(__file__), "broken.py")
            SourceFileLoader("broken_by_hand", path).exec_module(types.ModuleType("broken_by_hand"))
        import src.broken
    """,
    "broken.py": """
        def fail():
            raise ValueError("the application's own error")
        fail()
    """,
}


@pytest.mark.parametrize("how", ["-m", "-c", "by-hand"])
def test_the_applications_traceback_is_the_same_traced(tmp_path: Path, collector: str, how: str) -> None:
    write_root(tmp_path, FAILING)
    argv = {"-m": ["-m", "src.main"], "-c": ["-c", "import src.main"], "by-hand": ["-m", "src.main", "by-hand"]}[how]
    untraced = run([sys.executable, *argv], tmp_path, None)
    traced = run([sys.executable, *argv], tmp_path, collector)
    assert untraced.returncode == traced.returncode == 1
    assert "the application's own error" in untraced.stderr
    assert without_summary(traced.stderr) == untraced.stderr  # the summary follows, after the traceback
    assert traced.stderr.startswith(untraced.stderr)
