"""Python 3.15's lazy imports read back (issues 24 and 26): from a saved report, a saved trace and a
trace backend, into the same records; the summary, the page and the lazy plan say the same of them.

One real run of the lazy app (``tests/support/lazy_app.py``) under uvicorn and
``opentelemetry-instrument``, exporting over real OTLP to the suite's receiver and writing its
report; its export requests are saved as the Collector's file exporter writes them, and served as
Tempo and Jaeger answer (``tests/support/backends.py``). Skipped before 3.15: no lazy import to see.
"""

from __future__ import annotations

import html
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict, List

import pytest

from tests.support import lazy_app
from tests.support.backends import FakeBackend, traces_of
from tests.support.otlp_receiver import OtlpReceiver, otlp_json
from tests.support.servers import ServiceProcess, child_output, clean_env, console_script, free_port

pytestmark = [
    pytest.mark.skipif(not hasattr(sys, "set_lazy_imports_filter"), reason="lazy imports (PEP 810) need Python 3.15+"),
    pytest.mark.slow,
]

TEST_COLLECTOR = __import__("os").environ.get("IMPORT_TRACING_TEST_COLLECTOR", "auto")
SERVICE = "lazy-app"


class LazyRun:
    def __init__(self, directory: Path, root: Path, report: Path, trace: Path, output: str, exports: List[Any]) -> None:
        self.directory, self.root, self.report, self.trace, self.output, self.exports = directory, root, report, trace, output, exports

    def at(self, marker: str) -> str:
        return f"{self.root / 'main.py'}:{lazy_app.line_of(marker)}"


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> LazyRun:
    directory = tmp_path_factory.mktemp("lazy-run")
    root = lazy_app.write_lazy_app(directory)
    report = directory / "report.json"
    with OtlpReceiver() as receiver:
        env = clean_env({
            **receiver.env("grpc"), "ENABLE_IMPORT_TRACING": "true", "IMPORT_TRACING_ROOT": str(root),
            "IMPORT_TRACING_COLLECTOR": TEST_COLLECTOR, "IMPORT_TRACING_REPORT": str(report), "IMPORT_TRACING_SUMMARY": "true",
            "IMPORT_TRACING_SHUTDOWN_TIMEOUT": "60", "OTEL_SERVICE_NAME": SERVICE,
        })
        port = free_port()
        argv = [console_script("opentelemetry-instrument"), console_script("uvicorn"), "src.main:app",
                "--host", "127.0.0.1", "--port", str(port)]
        with ServiceProcess(argv, env, directory, port) as service:
            service.wait_ready()
            service.wait_for_output("startup trace", timeout=120)
            assert service.get(lazy_app.LATE_PATH)[0] == 200, service.output()
            output = service.stop()  # flushes the request's span and the never-used one
        exports = receiver.exports()
    trace = directory / "trace.jsonl"
    trace.write_text("".join(json.dumps(otlp_json(request)) + "\n" for request in exports))
    return LazyRun(directory, root, report, trace, output, exports)


def _cli(*args: str) -> "subprocess.CompletedProcess[str]":
    return subprocess.run([sys.executable, "-m", "otel_import_tracer", *args], capture_output=True, text=True, timeout=120,
                          env=clean_env())


def _plan(*args: str) -> Dict[str, Any]:
    result = _cli("lazy", *args, "--format", "json")
    assert result.returncode == 0, child_output(result)
    return json.loads(result.stdout)


def test_a_saved_reports_summary_has_the_lazy_line_the_live_one_had(run: LazyRun) -> None:
    from otel_import_tracer.reading.render.summary import render
    from otel_import_tracer.reading.report import read_report

    (live,) = [line for line in run.output.splitlines() if line.startswith("otel-import-tracer:   lazy imports:")]
    assert "4 declared" in live, run.output
    process = read_report(str(run.report))
    assert {lazy.name: lazy.state for lazy in process.lazy_imports or []} == {
        lazy_app.NEVER: "never", lazy_app.LATE: "reified", lazy_app.STARTUP_USED: "reified", lazy_app.FROM_MODULE: "reified"}
    assert live in render(process), (live, render(process))


def _lazy_rows(page: str) -> Dict[str, str]:
    """The text of each row of the page's lazy-imports section, by the module it names."""
    match = re.search(r'<section id="lazy-imports">(.*?)</section>', page, re.DOTALL)
    assert match, "no lazy-imports section"
    rows = {}
    for row in re.findall(r"<tr>(.*?)</tr>", match.group(1), re.DOTALL):
        text = html.unescape(re.sub(r"<[^>]+>", " ", row))
        text = " ".join(text.split())
        name = text.split(" ", 1)[0]
        rows[name] = text
    return rows


def test_the_page_says_what_became_of_each_lazy_import(run: LazyRun) -> None:
    page = run.directory / "page.html"
    result = _cli("report", str(run.report), "--html", str(page))
    assert result.returncode == 0, child_output(result)
    rows = _lazy_rows(page.read_text())
    assert {lazy_app.NEVER, lazy_app.LATE, lazy_app.STARTUP_USED, lazy_app.FROM_MODULE} <= set(rows), rows
    assert "never used" in rows[lazy_app.NEVER] and run.at("DECLARE never") in rows[lazy_app.NEVER], rows
    startup = rows[lazy_app.STARTUP_USED]
    assert "during startup" in startup and run.at("FORCE startup_used") in startup and run.at("DECLARE startup_used") in startup
    assert "during startup" in rows[lazy_app.FROM_MODULE] and "shout" in rows[lazy_app.FROM_MODULE], rows
    late = rows[lazy_app.LATE]
    assert "after startup" in late and lazy_app.REQUEST_SPAN in late and run.at("FORCE late") in late, late


def test_the_lazy_plan_of_a_saved_trace_is_the_plan_of_the_report(run: LazyRun) -> None:
    from_report = _plan(str(run.report))
    kinds = {s["name"]: s["kind"] for s in from_report["statements"]}
    assert kinds == {lazy_app.NEVER: "never", lazy_app.LATE: "after_startup", lazy_app.STARTUP_USED: "during_startup",
                     lazy_app.FROM_MODULE: "during_startup"}, from_report
    from_trace = _plan(str(run.trace))
    assert from_trace == from_report
    by_name = {s["name"]: s for s in from_trace["statements"]}
    assert by_name[lazy_app.STARTUP_USED]["forced_at"] == run.at("FORCE startup_used")
    assert by_name[lazy_app.LATE]["request"].startswith(lazy_app.REQUEST_SPAN + " (trace ")
    assert by_name[lazy_app.FROM_MODULE]["fromlist"] == ["shout"]


@pytest.mark.parametrize("kind", ["tempo", "jaeger"])
def test_the_lazy_plan_of_a_backend_is_the_plan_of_the_report(run: LazyRun, kind: str) -> None:
    with FakeBackend(traces_of(run.exports)) as backend:
        from_backend = _plan(f"--{kind}", backend.url, "--service", SERVICE, "--since", "1d")
    assert from_backend == _plan(str(run.report))
