"""Issue 28, processes told apart: reports and traces say what each process was (its role, command
and entry), and ``diff`` compares like with like. Real runs of the plain app: under uvicorn (a
server) and ``python -m`` programs of the same build (scripts)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict, Sequence

import pytest

from otel_import_tracer import semconv
from otel_import_tracer.reading.report import parse_report_text
from tests.support.otlp_receiver import OtlpReceiver, otlp_json
from tests.support.plain_app import APP_DIR, ROOT, run_service
from tests.support.servers import REPO, child_output, clean_env

CLI = [sys.executable, "-m", "otel_import_tracer"]


def run_module(module: str, reports: Path, args: Sequence[str] = (), otlp: Dict[str, str] = {}) -> subprocess.CompletedProcess:
    """``python -m module ARGS`` of the plain app, traced, its report in ``reports``."""
    env = clean_env({
        "ENABLE_IMPORT_TRACING": "true",
        "IMPORT_TRACING_ROOT": str(ROOT),
        "IMPORT_TRACING_REPORT": str(reports / "imports-{pid}.json"),
        "IMPORT_TRACING_SHUTDOWN_TIMEOUT": "60",
        **otlp,
    })
    result = subprocess.run([sys.executable, "-m", module, *args], cwd=str(APP_DIR), env=env, capture_output=True, timeout=120)
    assert result.returncode == 0, child_output(result)
    return result


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, *args], capture_output=True, cwd=str(REPO), env=clean_env(), timeout=300, text=True)


def only_report(folder: Path, result: subprocess.CompletedProcess) -> dict:
    found = list(folder.glob("imports-*.json"))
    assert len(found) == 1, f"{found}\n{child_output(result)}"
    return json.loads(found[0].read_text())


def test_report_and_span_say_role_command_and_entry_with_secrets_redacted(tmp_path: Path) -> None:
    with OtlpReceiver() as receiver:
        result = run_module("src.settings", tmp_path, ["--api-token", "s3cret", "--dsn=postgres://app:hunter2@db/x", "plain"],
                            receiver.env("http"))
        spans = receiver.spans(semconv.SPAN_STARTUP)
        exports = receiver.exports()
    document = only_report(tmp_path, result)
    shown = child_output(result)
    assert document.get("role") == semconv.ROLE_SCRIPT, shown
    assert document.get("entry") == "src.settings", shown
    command = document.get("command")
    assert isinstance(command, list) and command[1:3] == ["-m", "src.settings"], shown
    assert command[3:] == ["--api-token", "REDACTED", "--dsn=postgres://app:REDACTED@db/x", "plain"], shown
    assert "s3cret" not in json.dumps(document) and "hunter2" not in json.dumps(document), shown
    assert len(spans) == 1, shown
    attributes = spans[0].attributes
    assert attributes.get(semconv.ATTR_PROCESS_ROLE) == semconv.ROLE_SCRIPT, (attributes, shown)
    assert attributes.get(semconv.ATTR_PROCESS_COMMAND_ARGS) == command, (attributes, shown)
    assert attributes.get(semconv.ATTR_PROCESS_ENTRY) == "src.settings", (attributes, shown)
    # The saved trace reads back to the same kind of process as the report.
    trace = tmp_path / "trace.jsonl"
    trace.write_text("".join(json.dumps(otlp_json(request)) + "\n" for request in exports))
    process = read_trace(trace)
    assert (process.role, process.entry, process.command) == (semconv.ROLE_SCRIPT, "src.settings", command), shown


def only_name(folder: Path) -> str:
    return next(folder.glob("imports-*.json")).name


def read_trace(path: Path) -> Any:
    from otel_import_tracer.reading import sources

    inputs, problems = sources.read_inputs([str(path)], sys.stdin, skip_bad=False)
    assert not problems, problems
    processes = [process for item in inputs for process in item.processes]
    assert len(processes) == 1, processes
    return processes[0]


def test_an_old_report_without_a_kind_still_reads_and_diffs_as_before(tmp_path: Path) -> None:
    result = run_module("src.settings", tmp_path)
    new = only_report(tmp_path, result)
    old = {key: value for key, value in new.items() if key not in ("role", "command", "entry")}
    (tmp_path / "old.json").write_text(json.dumps(old))
    process = parse_report_text(json.dumps(new), "new.json")
    assert process.kind == (semconv.ROLE_SCRIPT, "src.settings"), child_output(result)
    assert parse_report_text(json.dumps(old), "old.json").kind is None
    done = cli("diff", str(tmp_path / "old.json"), str(tmp_path / only_name(tmp_path)))
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("Startup diff: base 1 startup -> head 1 startup\n"), done.stdout
    assert "Kinds of process" not in done.stdout, done.stdout


@pytest.mark.slow
def test_diff_of_folders_with_two_kinds_compares_each_kind_with_itself(tmp_path: Path) -> None:
    """Each side: a uvicorn server and a ``python -m src.settings`` program of the same build; the
    head also ran ``python -m src.cache``, a kind the base does not hold."""
    servers: Dict[str, float] = {}
    for side in ("base", "head"):
        folder = tmp_path / side
        folder.mkdir()
        run = run_service([sys.executable, "-m", "uvicorn", "src.main:app", "--port", "{port}"], folder, stop=signal.SIGTERM)
        (document,) = run.reports.values()
        assert document.get("role") == semconv.ROLE_SERVER and document.get("entry") == "uvicorn", run.output
        servers[side] = document["startup_complete_ms"]
        run_module("src.settings", folder)
    run_module("src.cache", tmp_path / "head")
    done = cli("diff", str(tmp_path / "base"), str(tmp_path / "head"))
    assert done.returncode == 0, done.stderr + done.stdout
    text = done.stdout
    assert "Only on the head side, not compared: script: src.cache (1 startup)" in text, text
    server_part = text.split("== server: uvicorn ==")[1].split("== script")[0]
    assert f"Startup time: {servers['base']:.1f} ms -> {servers['head']:.1f} ms" in server_part, text
    assert "== script: src.settings ==" in text, text
    as_json = json.loads(cli("diff", str(tmp_path / "base"), str(tmp_path / "head"), "--format", "json").stdout)
    assert [group["kind"]["label"] for group in as_json["kinds"]] == ["server: uvicorn", "script: src.settings"], as_json
    assert [one["kind"]["label"] for one in as_json["head_only"]] == ["script: src.cache"], as_json
    audit = cli("audit", *map(str, sorted((tmp_path / "head").glob("imports-*.json"))), "--root", str(ROOT))
    assert audit.returncode == 0, audit.stderr
    assert "Processes by kind: script: src.cache 1, script: src.settings 1, server: uvicorn 1" in audit.stdout, audit.stdout
    page = tmp_path / "page.html"
    server_report = next(path for path in (tmp_path / "head").glob("imports-*.json") if '"role": "server"' in path.read_text())
    shown = cli("report", str(server_report), "--html", str(page))
    assert shown.returncode == 0, shown.stderr
    assert "<dt>Process</dt><dd>server: uvicorn</dd>" in page.read_text(), page.read_text()[:3000]


@pytest.mark.python_independent
def test_kinds_come_in_a_fixed_order_whatever_order_the_processes_came_in() -> None:
    """A folder's reports are listed by name, which says nothing of kind: under load the script's
    report once came first and diff put ``script: src.settings`` before ``server: uvicorn``."""
    from types import SimpleNamespace

    from otel_import_tracer.reading import kinds

    found = [SimpleNamespace(kind=kind) for kind in (("script", "src.settings"), ("worker", None), ("server", "uvicorn"), None)]
    expected = [("server", "uvicorn"), ("worker", None), ("script", "src.settings"), None]
    assert list(kinds.grouped(found)) == expected  # type: ignore[arg-type]
    assert list(kinds.grouped(found[::-1])) == expected  # type: ignore[arg-type]
