"""The demo service under real uvicorn, as a user runs it: the log lines match its import graph."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from pathlib import Path

import pytest

from otel_import_tracer.naming import path_for

from tests.support import demo_graph
from tests.support.servers import (
    DEMO_DIR,
    DEMO_ROOT,
    LAUNCHER,
    UVICORN,
    ServiceProcess,
    clean_env,
    console_script,
    free_port,
    shutdown_lines,
    start_demo,
)


def _module_file(name: str) -> str:
    module_path, package_init = path_for(name, str(DEMO_ROOT))
    return package_init if os.path.exists(package_init) else module_path


def _assert_lines_match(output: str, expected: frozenset) -> None:
    files, modules, totals = shutdown_lines(output)
    assert modules == sorted(expected), f"unexpected: {set(modules) ^ set(expected)}"
    assert files == sorted(_module_file(name) for name in expected)
    assert totals == {"files": len(expected), "modules": len(expected)}
    assert not set(modules) & demo_graph.NEVER


def test_launcher_records_startup_plugin_thread_and_lazy_imports() -> None:
    with start_demo() as service:
        service.wait_ready()
        assert service.get("/reports/1.pdf")[0] == 200
        assert service.get("/export")[0] == 200
        output = service.stop()
    assert "Application startup complete." in output
    _assert_lines_match(output, demo_graph.STARTUP | demo_graph.LAZY_BY_ENDPOINT["/reports/1.pdf"])
    for required in (demo_graph.PLUGIN, demo_graph.THREAD_MODULE, "src.reports.pdf"):
        assert f"LOADED_MODULE: {required}\n" in output
    # The lines come after uvicorn's shutdown began and before the app's own shutdown step.
    assert output.index("Shutting down") < output.index("Stopping runtime file tracing...")
    assert output.index("Stopping runtime file tracing...") < output.index("Shutting down orders-demo")


def test_plain_uvicorn_with_only_the_lifespan_still_records_everything() -> None:
    # No launcher: the app is imported before the lifespan starts tracing, so the startup
    # modules are found in sys.modules (preloaded) and nothing is missing.
    with start_demo(launcher=UVICORN) as service:
        service.wait_ready()
        assert service.get("/reports/1.xlsx")[0] == 200
        output = service.stop()
    _assert_lines_match(output, demo_graph.STARTUP | demo_graph.LAZY_BY_ENDPOINT["/reports/1.xlsx"])


def test_console_script_turns_reload_off_with_a_reason() -> None:
    with start_demo(launcher=(console_script("otel-import-tracer"), "run"), extra_args=["--reload"]) as service:
        service.wait_ready()
        output = service.stop()
    assert "--reload is turned off because ENABLE_IMPORT_TRACING=true" in output
    assert "Started reloader process" not in output
    _assert_lines_match(output, demo_graph.STARTUP)


@pytest.mark.collector_independent  # tracing off: no collector runs
def test_tracing_off_behaves_like_plain_uvicorn() -> None:
    with start_demo(env={"ENABLE_IMPORT_TRACING": "false"}) as service:
        service.wait_ready()
        assert service.get("/orders/1")[0] == 200
        output = service.stop()
    assert "Application startup complete." in output
    assert "LOADED_" not in output and "otel-import-tracer" not in output


def test_demo_command_exercises_every_endpoint_and_exits_cleanly(tmp_path: Path) -> None:
    port = free_port()
    result = subprocess.run(
        [console_script("otel-import-tracer"), "demo", "--exercise", "--port", str(port)],
        env={**clean_env(), "TMPDIR": str(tmp_path)}, cwd=str(DEMO_DIR.parent), capture_output=True, text=True, timeout=120,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    lazy = demo_graph.LAZY_BY_ENDPOINT["/reports/1.pdf"] | {"src.reports.spreadsheet"}
    _assert_lines_match(output, demo_graph.STARTUP | lazy)
    assert "GET /reports/1.pdf -> 200" in output
    assert "no trace exporter is configured" in output  # said once, with how to turn it on
    assert "Ctrl+C" not in output and "then it stops by itself" in output  # it stops by itself
    assert "--html" not in result.stderr  # the page is written: no advice to write one
    # It ends with a summary a person reads, and the report and its page, saying where they are.
    summary = [line for line in result.stderr.splitlines() if line.startswith("otel-import-tracer: ")]
    first = next(line for line in summary if "summary:" in line)
    assert first.startswith(
        f"otel-import-tracer: summary: {len(demo_graph.STARTUP | lazy)} modules under {DEMO_ROOT}: "
        f"{len(demo_graph.STARTUP)} at startup, {len(lazy)} lazy; startup complete at +"
    ), first
    assert any(line.startswith("otel-import-tracer:   slowest: src.main ") for line in summary), summary
    assert any(line.startswith("otel-import-tracer:   slowest dependencies: fastapi ") and "(by src.main:" in line for line in summary), summary
    assert any(line.startswith("otel-import-tracer:   lazy: src.reports by src.routers.reports") for line in summary), summary
    failed = f"otel-import-tracer:   failed: {demo_graph.FAILED_OPTIONAL} (ModuleNotFoundError in {demo_graph.FAILED_OPTIONAL_IMPORTER}:"
    assert any(line.startswith(failed) for line in summary), summary
    folder = tmp_path / f"otel-import-tracer-demo-{os.getuid()}"
    report, page = folder / "imports.json", folder / "imports.html"
    assert json.loads(report.read_text())["status"] == "stopped"
    assert f"otel-import-tracer: report: {report}" in summary
    assert any(line.startswith(f"otel-import-tracer: page:   {page} ") for line in summary), summary
    assert "src.reports.pdf" in page.read_text() and (folder.stat().st_mode & 0o777) == 0o700


def test_launcher_without_a_lifespan_still_prints_the_lines_on_sigterm(tmp_path) -> None:  # type: ignore[no-untyped-def]
    # uvicorn hands SIGTERM back to the previous handler after its graceful shutdown, which
    # would kill the process before atexit: the tracer's handler writes the lines first.
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "__init__.py").write_text("")
    (tmp_path / "src" / "main.py").write_text(
        "from fastapi import FastAPI\napp = FastAPI()\n\n@app.get('/health')\ndef health():\n    return {}\n")
    port = free_port()
    env = clean_env({"ENABLE_IMPORT_TRACING": "true", "IMPORT_TRACING_ROOT": str(tmp_path / "src")})
    argv = [*LAUNCHER, "src.main:app", "--port", str(port)]
    with ServiceProcess(argv, env, tmp_path, port) as service:
        service.wait_ready()
        output = service.stop()
        assert service.proc.returncode == -signal.SIGTERM, output  # as plain uvicorn >= 0.29 exits
    assert shutdown_lines(output)[1] == ["src", "src.main"]
