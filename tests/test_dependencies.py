"""Dependency loads: the modules outside the root that the root's code imports directly.

A real app under the root (``tests/apps/deps``) imports three packages from outside it, of
known relative cost: ``slowpkg`` (its import sleeps 250 ms; installed as the distribution
``slow-package 1.2.3``) and ``tinypkg`` from ``src.main``, ``midpkg`` (10 ms) from
``src.models``. Traced with one variable, no code change, exporting over OTLP to the suite's
receiver: the slow one is the top dependency under the right importer in the spans, the
report and the page; the shutdown lines are those of the same run with dependencies off."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict, List

import pytest

from otel_import_tracer import semconv
from otel_import_tracer.reading.otlp import parse_otlp
from otel_import_tracer.reading.records import Dependency
from otel_import_tracer.reading.report import read_report
from otel_import_tracer.report import dumps
from tests.conftest import TEST_COLLECTOR
from tests.support.otlp_receiver import OtlpReceiver, ReceivedSpan, otlp_json
from tests.support.servers import REPO, child_output, clean_env
from tests.test_audit import run_audit
from tests.test_diff import run_diff

APP = REPO / "tests" / "apps" / "deps"
ROOT = APP / "src"
SCRIPT = "import src.main, otel_import_tracer; otel_import_tracer.mark_startup_complete(); import src.later"
SLOW, MID, TINY, LAZY = "slowpkg", "midpkg", "tinypkg", "lazydep"


class Run:
    def __init__(self, result: subprocess.CompletedProcess, report: Path, spans: List[ReceivedSpan], exports: List[Any]) -> None:
        self.out = result.stdout.decode()
        self.err = result.stderr.decode()
        self.report = report
        self.spans = spans
        self.exports = exports  # the export requests, as received

    def loaded_lines(self) -> List[str]:
        return [line for line in self.out.splitlines() if line.startswith(("LOADED_", "Total unique"))]


def traced(where: Path, **env: str) -> Run:
    report = where / "imports.json"
    with OtlpReceiver() as receiver:
        result = subprocess.run(
            [sys.executable, "-c", SCRIPT], cwd=str(APP), capture_output=True, timeout=120,
            env=clean_env({**receiver.env("http"), "ENABLE_IMPORT_TRACING": "true", "IMPORT_TRACING_ROOT": str(ROOT),
                           "IMPORT_TRACING_COLLECTOR": TEST_COLLECTOR, "IMPORT_TRACING_REPORT": str(report),
                           "PYTHONPATH": str(APP / "vendor"), "PYTHONDONTWRITEBYTECODE": "1",
                           # the export is at exit: 3 s cut it on a loaded machine (lazy events lost)
                           "IMPORT_TRACING_SHUTDOWN_TIMEOUT": "60", **env}),
        )
        assert result.returncode == 0, result.stderr.decode()
        spans, exports = receiver.spans(), receiver.exports()
    return Run(result, report, spans, exports)


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    return traced(tmp_path_factory.mktemp("deps-on"))


@pytest.fixture(scope="module")
def run_off(tmp_path_factory: pytest.TempPathFactory) -> Run:
    return traced(tmp_path_factory.mktemp("deps-off"), IMPORT_TRACING_DEPENDENCIES="false")


def dependency_spans(run: Run) -> Dict[str, ReceivedSpan]:
    return {span.attributes[semconv.ATTR_MODULE_NAME]: span for span in run.spans if span.is_dependency_import}


def test_each_direct_import_from_outside_the_root_is_a_child_span_of_its_importer(run: Run) -> None:
    found = dependency_spans(run)
    assert set(found) == {SLOW, MID, TINY}, (sorted(found), run.err)  # nothing below them (slowpkg.core, time)
    modules = {span.attributes[semconv.ATTR_MODULE_NAME]: span for span in run.spans if span.is_module_import}
    for name, importer, line in ((SLOW, "src.main", 7), (TINY, "src.main", 4), (MID, "src.models", 1)):
        span = found[name]
        assert span.name == f"{semconv.SPAN_IMPORT_PREFIX}{name}"
        assert span.parent_span_id == modules[importer].span_id, name  # under the importing module's span
        assert span.attributes[semconv.ATTR_MODULE_PARENT] == importer
        assert span.attributes[semconv.ATTR_FILE_PATH] == str(ROOT / (importer.split(".")[-1] + ".py"))
        assert span.attributes[semconv.ATTR_LINE_NUMBER] == line
        assert span.attributes[semconv.ATTR_THREAD_NAME] == "MainThread"
    duration = {name: (span.end_ns - span.start_ns) / 1e6 for name, span in found.items()}
    assert duration[SLOW] >= 250 and duration[MID] >= 10 and duration[TINY] < duration[MID] < duration[SLOW], duration
    (startup,) = [span for span in run.spans if span.name == semconv.SPAN_STARTUP]
    assert startup.attributes[semconv.ATTR_DEPENDENCY_COUNT] == 3
    assert not startup.event(semconv.EVENT_DEPENDENCY_LOADED)  # the startup's module.loaded events stay the root's
    assert {e.attributes[semconv.ATTR_MODULE_NAME] for e in startup.event(semconv.EVENT_MODULE_LOADED)} == {"src", "src.main", "src.models"}


def test_a_dependency_a_lazy_import_brings_is_an_event_of_its_own(run: Run) -> None:
    events = [(span, event) for span in run.spans for event in span.event(semconv.EVENT_DEPENDENCY_LOADED)]
    assert [event.attributes[semconv.ATTR_MODULE_NAME] for _, event in events] == [LAZY], run.err
    span, event = events[0]
    assert span.name == semconv.SPAN_LAZY_IMPORT  # no span was current: one of its own
    assert event.attributes[semconv.ATTR_LAZY] is True and event.attributes[semconv.ATTR_MODULE_PARENT] == "src.later"


def test_the_report_lists_them_slowest_first_with_their_distribution(run: Run) -> None:
    report = read_report(str(run.report))
    assert report.header["schema_version"] == 2
    slowest = sorted((d for d in report.dependencies if not d.lazy), key=lambda d: -d.duration_ms)
    assert [d.name for d in slowest] == [SLOW, MID, TINY]
    top = slowest[0]
    assert (top.importer, top.line, top.distribution, top.version) == ("src.main", 7, "slow-package", "1.2.3")
    assert top.importer_file == str(ROOT / "main.py") and top.duration_ms >= 250
    assert slowest[1].importer == "src.models" and slowest[1].distribution is None  # a bare module: no distribution
    (lazy,) = [d for d in report.dependencies if d.lazy]
    assert (lazy.name, lazy.importer) == (LAZY, "src.later")
    assert {m.name for m in report.modules} == {"src", "src.main", "src.models", "src.later"}  # the root's only


def test_the_page_draws_them_in_their_colour_and_tables_the_slowest(run: Run, tmp_path: Path) -> None:
    page = tmp_path / "imports.html"
    result = subprocess.run([sys.executable, "-m", "otel_import_tracer", "report", str(run.report), "--html", str(page)],
                            capture_output=True, cwd=str(REPO), env=clean_env(), timeout=60)
    assert result.returncode == 0, result.stderr.decode()
    html = page.read_text()
    assert html.count('<div class="bar dependency"') == 3  # the startup's three, in the waterfall
    table = html[html.index('<table class="dependencies">'):]
    table = table[:table.index("</table>")]
    rows = table.split("<tr>")[2:]
    assert rows[0].startswith(f"<td>{SLOW}</td>") and "<td>slow-package</td><td>1.2.3</td><td>src.main</td>" in rows[0]
    assert f"{ROOT / 'main.py'}:7" in rows[0]
    names = [row.split("</td>")[0][4:] for row in rows]
    assert names[:2] == [SLOW, MID] and sorted(names[2:]) == sorted([TINY, LAZY])  # the last two take next to nothing


def test_the_shutdown_lines_and_audit_are_the_roots_alone_and_the_switch_turns_them_off(run: Run, run_off: Run) -> None:
    assert run.loaded_lines() == run_off.loaded_lines()
    assert run.loaded_lines() and not any(name in line for line in run.loaded_lines() for name in (SLOW, MID, TINY, LAZY))
    assert not dependency_spans(run_off) and not any(span.event(semconv.EVENT_DEPENDENCY_LOADED) for span in run_off.spans)
    assert read_report(str(run_off.report)).dependencies == []
    audited = run_audit(str(run.report), "--root", str(ROOT), "--format", "json")
    assert audited.returncode == 0, child_output(audited)
    assert json.loads(audited.stdout)["never_loaded"] == []  # every file of the root loaded; nothing outside it counted


def test_a_trace_of_the_run_gives_the_reports_dependencies_and_diff_compares_them(run: Run, tmp_path: Path) -> None:
    # What went over the wire, as the Collector's file exporter writes it (one request a line).
    trace_file = tmp_path / "traces.jsonl"
    trace_file.write_text("".join(json.dumps(otlp_json(request)) + "\n" for request in run.exports))
    (from_trace,) = parse_otlp(trace_file.read_text(), str(trace_file))
    report = read_report(str(run.report))

    def facts(dependencies: List[Dependency]) -> List[Any]:
        return sorted((d.name, d.importer, d.importer_file, d.line, d.lazy) for d in dependencies)

    assert facts(from_trace.dependencies) == facts(report.dependencies)
    assert all(abs(a.duration_ms - b.duration_ms) < 0.01 for a, b in zip(
        sorted(from_trace.dependencies, key=lambda d: d.name), sorted(report.dependencies, key=lambda d: d.name)))
    result = run_diff(str(trace_file), str(run.report), "--format", "json")
    assert result.returncode == 0, result.stderr.decode()
    found = json.loads(result.stdout)["dependencies"]
    assert found["compared"] and (found["added"], found["removed"]) == ([], [])
    assert found["changes"] == []  # the same run read two ways: no dependency's time moved beyond the noise
    text = run_diff(str(trace_file), str(run.report)).stdout.decode()
    assert "Dependencies at startup (imported directly by the root's code): 3 -> 3 (0 added, 0 removed)" in text, text  # lazydep is not startup


def test_a_version_1_report_still_reads_and_diff_does_not_call_every_dependency_new(run: Run, tmp_path: Path) -> None:
    report = read_report(str(run.report))
    old = dict(report.document(), schema_version=1)
    del old["dependencies"]
    version_one = tmp_path / "v1.json"
    version_one.write_text(dumps(old))
    assert read_report(str(version_one)).dependencies == []
    result = run_diff(str(version_one), str(run.report), "--format", "json", "--fail-if-new-modules")
    assert result.returncode == 0, result.stderr.decode()
    found = json.loads(result.stdout)
    assert found["dependencies"]["compared"] is False and found["dependencies"]["added"] == []
    assert found["added"] == []
    text = run_diff(str(run.report), str(run.report)).stdout.decode()
    assert "Dependencies at startup (imported directly by the root's code): 3 -> 3 (0 added, 0 removed)" in text
