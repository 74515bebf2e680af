"""Issue 27, a newcomer's first hour: one variable on a laptop, names as the code imports them,
a summary by default, and a demo that says what went wrong."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Dict, List

import pytest

from otel_import_tracer.config import DEFAULT_ROOT
from tests.support.servers import DEMO_DIR, child_output, clean_env, console_script, shutdown_lines


def _write(base: Path, files: Dict[str, str]) -> None:
    for relative, source in files.items():
        path = base / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(source))


def _traced(cwd: Path, argv: List[str], **env: str) -> "subprocess.CompletedProcess[str]":
    full = clean_env({"ENABLE_IMPORT_TRACING": "true",
                      "IMPORT_TRACING_COLLECTOR": os.environ.get("IMPORT_TRACING_TEST_COLLECTOR", "auto"), **env})
    return subprocess.run([sys.executable, *argv], cwd=str(cwd), env=full, capture_output=True, text=True, timeout=60)


# A laptop project: its code in ./src and a script beside it, a virtualenv and build output in it.
_PROJECT = {
    "src/__init__.py": "",
    "src/db.py": "from src import models\n",
    "src/models.py": "",
    "main.py": """\
        import os, sys
        here = os.path.dirname(os.path.abspath(__file__))
        for extra in (".venv/lib/python3/site-packages", "venv/lib/site-packages", "build/lib",
                      "node_modules/tool", "vendor/lib/python3/site-packages"):
            sys.path.append(os.path.join(here, extra))
        import src.db
        import hidden_dep, venv_dep, built, node_thing, vendored
        """,
    ".venv/pyvenv.cfg": "",
    ".venv/lib/python3/site-packages/hidden_dep.py": "",
    "venv/pyvenv.cfg": "",
    "venv/lib/site-packages/venv_dep.py": "",
    "build/lib/built.py": "",
    "node_modules/tool/node_thing.py": "",
    "vendor/lib/python3/site-packages/vendored.py": "",
}


@pytest.mark.skipif(os.path.isdir(DEFAULT_ROOT), reason=f"{DEFAULT_ROOT} exists here: it is the root")
def test_on_a_laptop_one_variable_traces_the_working_directory_code_and_says_so(tmp_path: Path) -> None:
    project = tmp_path / "proj"
    _write(project, _PROJECT)
    result = _traced(project, ["main.py"])
    assert result.returncode == 0, child_output(result)
    files, modules, totals = shutdown_lines(result.stdout)
    # Named as imported (./ is the sys.path entry); the script by its path under the working directory.
    assert modules == ["main", "src", "src.db", "src.models"], child_output(result)
    assert files == sorted(str(project / name) for name in ("main.py", "src/__init__.py", "src/db.py", "src/models.py"))
    assert "Total unique {main,src}.* modules loaded: 4" in result.stdout.splitlines()
    said = [line for line in result.stderr.splitlines() if "IMPORT_TRACING_ROOT" in line]
    assert len(said) == 1 and str(project) in said[0] and "set IMPORT_TRACING_ROOT" in said[0], child_output(result)
    assert "warning" not in result.stderr, child_output(result)


@pytest.mark.skipif(os.path.isdir(DEFAULT_ROOT), reason=f"{DEFAULT_ROOT} exists here: it is the root")
def test_a_working_directory_without_code_of_its_own_says_there_is_nothing_to_trace(tmp_path: Path) -> None:
    _write(tmp_path, {"notes.txt": "", ".venv/lib/x.py": "", "build/lib/y.py": ""})
    result = _traced(tmp_path, ["-c", "import json"])
    assert result.returncode == 0, child_output(result)
    assert "Stopping runtime file tracing" not in result.stdout, child_output(result)
    assert "IMPORT_TRACING_ROOT is not set" in result.stderr and "holds no Python code" in result.stderr, child_output(result)


def test_a_root_above_the_sys_path_entry_names_modules_as_they_are_imported(tmp_path: Path) -> None:
    project = tmp_path / "app"
    _write(project, {
        "src/__init__.py": "",
        "src/db.py": "import src.models\n",
        "src/models.py": "",
        "src/plugins/by_hand.py": "",
        "main.py": """\
            import importlib.util, os
            import src.db
            path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "src", "plugins", "by_hand.py")
            spec = importlib.util.spec_from_file_location("by_hand", path)
            spec.loader.exec_module(importlib.util.module_from_spec(spec))
            """,
    })
    result = _traced(project, ["main.py"], IMPORT_TRACING_ROOT=str(project))
    assert result.returncode == 0, child_output(result)
    _, modules, _ = shutdown_lines(result.stdout)
    # Imported: the name it was imported under. Run or loaded by hand: the path's name, as before.
    assert modules == ["app.main", "app.src.plugins.by_hand", "src", "src.db", "src.models"], child_output(result)
    assert "Total unique {app,src}.* modules loaded: 5" in result.stdout.splitlines()


def test_by_default_a_summary_follows_the_lines_and_the_no_export_note_precedes_them(tmp_path: Path) -> None:
    _write(tmp_path, {
        "src/__init__.py": "",
        "src/main.py": "import src.db\ntry:\n    import src.optional\nexcept ImportError:\n    pass\n",
        "src/db.py": "",
    })
    argv = ["-c", "import src.main"]
    both = subprocess.run([sys.executable, *argv], cwd=str(tmp_path), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          env=clean_env({"ENABLE_IMPORT_TRACING": "true", "IMPORT_TRACING_ROOT": str(tmp_path / "src"),
                                         "IMPORT_TRACING_COLLECTOR": os.environ.get("IMPORT_TRACING_TEST_COLLECTOR", "auto")}),
                          timeout=60)
    lines = both.stdout.splitlines()
    assert both.returncode == 0, both.stdout

    def where(text: str) -> List[int]:
        return [number for number, line in enumerate(lines) if text in line]

    note, stopping, summary = where("no trace exporter is configured"), where("Stopping runtime file tracing"), where("summary: ")
    assert len(note) == 1 and len(stopping) == 1 and len(summary) == 1, both.stdout
    assert note[0] < stopping[0] < summary[0], both.stdout
    rest = "\n".join(lines[summary[0]:])
    assert "3 modules under" in rest and "3 at startup, 0 lazy" in rest and "failed: src.optional" in rest, both.stdout
    assert "IMPORT_TRACING_REPORT" in rest, both.stdout  # where to see more
    # Turned off: the lines alone, exactly as before.
    off = _traced(tmp_path, argv, IMPORT_TRACING_ROOT=str(tmp_path / "src"), IMPORT_TRACING_SUMMARY="false")
    assert off.returncode == 0 and "summary" not in off.stderr, child_output(off)
    assert shutdown_lines(off.stdout) == shutdown_lines(both.stdout), child_output(off)


@pytest.mark.slow
def test_the_demo_on_a_busy_port_says_so_once_and_overwrites_nothing(tmp_path: Path) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        folder = tmp_path / f"otel-import-tracer-demo-{os.getuid()}"
        folder.mkdir(mode=0o700)
        (folder / "imports.json").write_text("previous report")
        (folder / "imports.html").write_text("previous page")
        result = subprocess.run([console_script("otel-import-tracer"), "demo", "--port", str(port)],
                                env={**clean_env(), "TMPDIR": str(tmp_path)}, cwd=str(DEMO_DIR.parent),
                                capture_output=True, text=True, timeout=60)
    assert result.returncode not in (0, 3), child_output(result)
    errors = [line for line in result.stderr.splitlines() if "error" in line.lower()]
    assert len(errors) == 1 and str(port) in errors[0] and "--port" in errors[0], child_output(result)
    assert "summary" not in result.stderr and "LOADED_MODULE" not in result.stdout, child_output(result)
    assert (folder / "imports.json").read_text() == "previous report"
    assert (folder / "imports.html").read_text() == "previous page"


def test_the_demo_s_bind_failure_after_the_check_overwrites_nothing_and_names_the_port(tmp_path: Path) -> None:
    # The port taken between the demo's check and the server's bind: the server stops with status 3.
    from otel_import_tracer import demo

    (tmp_path / "imports.json").write_text("previous report")
    (tmp_path / ".imports-1.json").write_text("{}")
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        assert demo.port_taken("127.0.0.1", port)
        message = demo.after_run(3, str(tmp_path / "imports.json"), str(tmp_path / ".imports-1.json"), DEMO_DIR / "src", "127.0.0.1", port)
    assert message is not None and f"port {port}" in message and "--port" in message
    assert (tmp_path / "imports.json").read_text() == "previous report" and not (tmp_path / ".imports-1.json").exists()
    assert not demo.port_taken("127.0.0.1", port)
