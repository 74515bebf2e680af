"""Dependencies priced as the app pays them: the tracer imports almost nothing the app would.

``tests/apps/preimports``: a root module importing ``json``, ``logging``, ``dataclasses`` and
``typing`` writes ``sys.modules`` as its body starts. The same interpreter start, traced and not
(``site`` and all): what the traced one holds more, apart from the tracer's own modules, the app
finds already imported, unpriced. Before this was fixed it was 48 modules on 3.11 (typing,
dataclasses, logging, re, enum, ...): "slowest dependencies" listed ``json`` alone, at 1.9 ms."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import List, Set

from tests.conftest import TEST_COLLECTOR
from tests.support.servers import REPO, child_output, clean_env

APP = REPO / "tests" / "apps" / "preimports"
ROOT = APP / "src"
APP_IMPORTS = ("dataclasses", "json", "logging", "typing")


def modules_at_first_import(tmp_path: Path, name: str, code: str = "import src.main", **env: str) -> Set[str]:
    out = tmp_path / f"{name}.txt"
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=str(APP), capture_output=True, timeout=60,
        env=clean_env({"PREIMPORTS_OUT": str(out), "PYTHONDONTWRITEBYTECODE": "1", **env}),
    )
    assert result.returncode == 0, child_output(result)
    return set(out.read_text().split("\n"))


# What the tracer may import before the app, each with what it imports in turn on this Python
# (measured in a fresh interpreter, not written down):
# - threading: its locks and thread names; the export thread and the SIGTERM watcher are threads
#   (3.9-3.12: collections, functools, operator...; 3.14+: a few builtins);
# - runpy: patched at start, so that ``python -m`` and ``run_path`` of a root file are timed; it
#   must be in place before runpy runs the main module (frozen since 3.11; importlib.machinery and
#   importlib.util, and on 3.11 contextlib, come with it);
# - __future__: what ``from __future__ import annotations`` imports (3.9-compatible annotations);
# - _xxsubinterpreters (before 3.12) and atexit: builtin modules, nothing to price; the first is
#   how a sub-interpreter is told apart, where the tracer must not start.
# Nothing else: no typing, dataclasses, re, enum, signal, logging, concurrent.futures, contextvars.
CANNOT_DO_WITHOUT = ("threading", "runpy", "__future__", "_xxsubinterpreters", "atexit")


def cannot_do_without(tmp_path: Path) -> Set[str]:
    out = tmp_path / "allowed.txt"
    code = (f"import sys; a = set(sys.modules)\nfor name in {CANNOT_DO_WITHOUT!r}:\n    try: __import__(name)\n"
            f"    except ImportError: pass\nopen({str(out)!r}, 'w').write('\\n'.join(set(sys.modules) - a))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=60, env=clean_env())
    assert result.returncode == 0, child_output(result)
    return set(out.read_text().split("\n"))


def loaded_by_its_own_statement() -> Set[str]:
    """The app's four imports that its own statement loads, untraced (on 3.9 one of the others
    brings typing first): each is a dependency load of its own in the report."""
    code = (f"import sys\nfor name in {APP_IMPORTS!r}:\n    if name not in sys.modules:\n"
            "        __import__(name)\n        print(name)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env=clean_env())
    assert result.returncode == 0, child_output(result)
    return set(result.stdout.split())


def test_the_tracer_imports_nothing_the_app_would_before_its_first_import(tmp_path: Path) -> None:
    untraced = modules_at_first_import(tmp_path, "untraced")
    report = tmp_path / "imports.json"
    traced = modules_at_first_import(
        tmp_path, "traced", ENABLE_IMPORT_TRACING="true", IMPORT_TRACING_ROOT=str(ROOT),
        IMPORT_TRACING_COLLECTOR=TEST_COLLECTOR, IMPORT_TRACING_REPORT=str(report),
    )
    extra = sorted(name for name in traced - untraced if name.split(".")[0] != "otel_import_tracer")
    unexpected: List[str] = sorted(set(extra) - cannot_do_without(tmp_path))
    assert not unexpected, f"{len(extra)} modules imported by the tracer before the app's first import, of which not allowed: {unexpected}"

    document = json.loads(report.read_text())
    dependencies = {entry["name"] for entry in document["dependencies"]}
    expected = loaded_by_its_own_statement()
    assert expected <= dependencies, f"the app's own imports {sorted(expected)} priced as its dependencies: {sorted(dependencies)}"
    # What the tracer did import early is in the report as its own, with its cost.
    imported = {name for entry in document["tracer_imports"] for name in entry["modules"]}
    assert set(extra) <= imported, (sorted(extra), document["tracer_imports"])
    assert all(entry["duration_ms"] >= 0 for entry in document["tracer_imports"])


def test_exporting_what_the_tracer_imports_early_is_reported_as_its_own(tmp_path: Path) -> None:
    """With an exporter set, the export needs concurrent.futures.thread imported before the
    interpreter exits: it is imported at the first load under the root, and the report says so."""
    untraced = modules_at_first_import(tmp_path, "untraced")
    report = tmp_path / "imports.json"
    traced = modules_at_first_import(
        tmp_path, "traced", ENABLE_IMPORT_TRACING="true", IMPORT_TRACING_ROOT=str(ROOT),
        IMPORT_TRACING_COLLECTOR=TEST_COLLECTOR, IMPORT_TRACING_REPORT=str(report),
        OTEL_TRACES_EXPORTER="otlp", OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:9", IMPORT_TRACING_SHUTDOWN_TIMEOUT="1",
    )
    extra = {name for name in traced - untraced if name.split(".")[0] != "otel_import_tracer"}
    document = json.loads(report.read_text())
    steps = {entry["step"]: entry for entry in document["tracer_imports"]}
    assert "concurrent.futures.thread" in extra and "concurrent.futures.thread" in steps["export"]["modules"], document["tracer_imports"]
    assert extra <= {name for entry in steps.values() for name in entry["modules"]}, (sorted(extra), document["tracer_imports"])
