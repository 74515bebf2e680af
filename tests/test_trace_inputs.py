"""Saved traces as audit inputs: what the demo really sent over OTLP, written as the Collector's
``file`` exporter writes it, as Tempo's trace-by-id API answers (base64 ids) and as Jaeger's
``/api/v3/traces`` answers (hex ids). No Tempo or Jaeger runs here: their answers are built
from the real export requests in the documented shapes. The audit of the traces must give the
same never-loaded files as the audit of the processes' own reports."""

from __future__ import annotations

import json
import subprocess
import urllib.parse
from pathlib import Path
from typing import Any, Dict, FrozenSet, List

import pytest

from otel_import_tracer import semconv
from tests.support import demo_graph
from tests.support.backends import FakeBackend, traces_of
from tests.support.otlp_receiver import OtlpReceiver, closed_port, otlp_json
from tests.support.servers import DEMO_ROOT, start_demo
from tests.test_audit import RUN_REQUESTS, assert_backend_error, assert_clean_error, expected_never, never_loaded, run_audit
from tests.test_diff import run_diff

pytestmark = [pytest.mark.collector_independent, pytest.mark.python_independent]  # the reading side

SERVICE = "otel-import-tracer-demo"
ENVIRONMENTS = {"a": "staging", "b": "production"}  # run -> its deployment.environment.name


class TracedRuns:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.reports: Dict[str, Path] = {}
        self.exports: Dict[str, List[Any]] = {}  # run -> its export requests


@pytest.fixture(scope="module")
def traced(tmp_path_factory: pytest.TempPathFactory) -> TracedRuns:
    """The demo under real uvicorn, twice (gRPC, then HTTP), exporting to the suite's receiver."""
    runs = TracedRuns(tmp_path_factory.mktemp("traced-runs"))
    for (name, requests), protocol in zip(RUN_REQUESTS.items(), ("grpc", "http")):
        report = runs.directory / f"{name}.json"
        with OtlpReceiver() as receiver:
            env = {**receiver.env(protocol), "IMPORT_TRACING_REPORT": str(report), "OTEL_SERVICE_NAME": SERVICE,
                   "OTEL_RESOURCE_ATTRIBUTES": f"deployment.environment.name={ENVIRONMENTS[name]}"}
            with start_demo(env=env) as service:
                service.wait_ready()
                service.wait_for_output("startup trace")
                for path in requests:
                    assert service.get(path)[0] == 200, path
                service.stop()  # flushes every lazy-import span before the process ends
            runs.exports[name] = receiver.exports()
        runs.reports[name] = report
    return runs


def write_jsonl(path: Path, requests: List[Any]) -> Path:
    """As the Collector's file exporter: one export request per line, OTLP JSON, hex ids."""
    path.write_text("".join(json.dumps(otlp_json(request)) + "\n" for request in requests))
    return path


def resource_spans(requests: List[Any], ids: str, trace_id: str = "") -> List[Dict[str, Any]]:
    """Every resourceSpans of the requests, keeping only the spans of ``trace_id`` when given."""
    found = []
    for request in requests:
        for entry in otlp_json(request, ids)["resourceSpans"]:
            for scope in entry.get("scopeSpans", []):
                scope["spans"] = [span for span in scope.get("spans", []) if not trace_id or span["traceId"] == trace_id]
            if any(scope["spans"] for scope in entry.get("scopeSpans", [])):
                found.append(entry)
    return found


def startup_trace_id(requests: List[Any], ids: str) -> str:
    for entry in resource_spans(requests, ids):
        for scope in entry["scopeSpans"]:
            for span in scope["spans"]:
                if span["name"] == semconv.SPAN_STARTUP:
                    return span["traceId"]
    raise AssertionError("no app.startup span was exported")


def audited(*paths: Path) -> subprocess.CompletedProcess:
    return run_audit(*map(str, paths), "--root", str(DEMO_ROOT), "--format", "json")


def inputs_of(result: subprocess.CompletedProcess) -> Dict[str, int]:
    return json.loads(result.stdout)["inputs"]


@pytest.mark.slow  # reads the module's real traced runs
def test_the_collectors_file_of_two_runs_gives_the_audit_of_their_reports(traced: TracedRuns, tmp_path: Path) -> None:
    trace_file = write_jsonl(tmp_path / "traces.jsonl", traced.exports["a"] + traced.exports["b"])
    from_traces = audited(trace_file)
    expected: FrozenSet[str] = expected_never([*RUN_REQUESTS["a"], *RUN_REQUESTS["b"]])
    assert never_loaded(from_traces) == expected
    assert never_loaded(audited(*traced.reports.values())) == expected  # the reports agree
    assert inputs_of(from_traces) == {"reports": 0, "logs": 0, "traces": 1, "traced_processes": 2}
    text = run_audit(str(trace_file), "--root", str(DEMO_ROOT))
    assert text.returncode == 0 and "(0 reports, 0 logs, 1 trace file of 2 processes)" in text.stdout.decode()


@pytest.mark.slow  # reads the module's real traced runs
def test_a_startup_trace_saved_from_tempo_holds_the_startup_modules(traced: TracedRuns, tmp_path: Path) -> None:
    # Tempo's /api/v2/traces/<id>: {"trace": {"resourceSpans": [...]}}, ids in base64. One trace
    # is one startup; the lazy loads of requests are in the requests' own traces.
    trace_id = startup_trace_id(traced.exports["a"], "base64")
    assert len(trace_id) == 24 and trace_id.endswith("==")
    saved = tmp_path / "tempo-trace.json"
    saved.write_text(json.dumps({"trace": {"resourceSpans": resource_spans(traced.exports["a"], "base64", trace_id)}, "status": "complete"}))
    result = audited(saved)
    assert never_loaded(result) == demo_graph.ALL - demo_graph.STARTUP
    assert inputs_of(result)["traced_processes"] == 1


@pytest.mark.slow  # reads the module's real traced runs
def test_a_search_saved_from_jaeger_gives_the_audit_of_its_run(traced: TracedRuns, tmp_path: Path) -> None:
    # Jaeger's /api/v3/traces: {"result": {"resourceSpans": [...]}}, hex ids, every trace in one
    # list; saved pretty-printed, as `curl | jq .` leaves it.
    saved = tmp_path / "jaeger.json"
    saved.write_text(json.dumps({"result": {"resourceSpans": resource_spans(traced.exports["b"], "hex")}}, indent=2))
    assert never_loaded(audited(saved)) == expected_never(RUN_REQUESTS["b"])
    # Mixed with the other run's report: one answer over both.
    both = audited(saved, traced.reports["a"])
    assert never_loaded(both) == expected_never([*RUN_REQUESTS["a"], *RUN_REQUESTS["b"]])
    assert inputs_of(both) == {"reports": 1, "logs": 0, "traces": 1, "traced_processes": 1}


@pytest.mark.slow  # reads the module's real traced runs
def test_lazy_loads_without_their_startup_still_count(traced: TracedRuns, tmp_path: Path) -> None:
    # A window that cut the startup off: only the requests' lazy loads are in it.
    lazy_only = [entry for entry in resource_spans(traced.exports["a"], "hex")
                 if all(span["name"] != semconv.SPAN_STARTUP and not span["name"].startswith(semconv.SPAN_IMPORT_PREFIX)
                        for scope in entry["scopeSpans"] for span in scope["spans"])]
    saved = tmp_path / "lazy.jsonl"
    saved.write_text("".join(json.dumps({"resourceSpans": [entry]}) + "\n" for entry in lazy_only))
    result = audited(saved)
    touched = frozenset().union(*(demo_graph.LAZY_BY_ENDPOINT.get(path, frozenset()) for path in RUN_REQUESTS["a"]))
    assert touched and never_loaded(result) == demo_graph.ALL - touched


@pytest.mark.slow  # reads the module's real traced runs
def test_diff_of_a_runs_trace_and_its_report_finds_nothing_changed(traced: TracedRuns, tmp_path: Path) -> None:
    # The same startup read from what went over the wire and from the process's own report:
    # the same modules with the same import times, so diff has nothing to say and no gate fails.
    trace_file = write_jsonl(tmp_path / "a.jsonl", traced.exports["a"])
    result = run_diff(str(trace_file), str(traced.reports["a"]), "--format", "json", "--fail-if-new-modules", "--fail-if-slower", "1%")
    assert result.returncode == 0, result.stdout.decode() + result.stderr.decode()
    found = json.loads(result.stdout)
    assert (found["base"]["startups"], found["head"]["startups"]) == (1, 1)
    assert found["base"]["modules"] == found["head"]["modules"] == len(demo_graph.STARTUP)
    assert (found["added"], found["removed"], found["new_failures"], found["fixed_failures"]) == ([], [], [], [])
    assert found["changes"] == [] and len(found["unchanged"]) == len(demo_graph.STARTUP), found
    assert all(abs(change["cumulative_delta_ms"]) < 0.01 for change in found["unchanged"])
    assert abs(found["startup_delta_ms"]) < 5  # the span ends when startup completes; the report notes it then


# -- pulled from a trace backend ------------------------------------------------------------
# A local HTTP server answering in Tempo's and Jaeger's documented shapes (tests/support/backends.py),
# holding the traces the demo really sent; no Tempo or Jaeger runs here.

def backend_audit(kind: str, url: str, *args: str) -> subprocess.CompletedProcess:
    return run_audit(f"--{kind}", url, "--root", str(DEMO_ROOT), "--format", "json", "--since", "30d", *args)


@pytest.mark.slow  # reads the module's real traced runs
@pytest.mark.parametrize("kind", ["tempo", "jaeger"])
def test_the_backends_startups_and_lazy_loads_give_the_audit_of_the_reports(traced: TracedRuns, kind: str) -> None:
    # Answers of one more trace than either run made: the whole window's is full and cut in two
    # (Jaeger's answer holds every trace of the service), each run's is not.
    limit = max(len(traces_of(requests)) for requests in traced.exports.values()) + 1
    with FakeBackend(traces_of(traced.exports["a"] + traced.exports["b"])) as backend:
        result = backend_audit(kind, backend.url, "--service", SERVICE, "--search-limit", str(limit))
    err = result.stderr.decode()
    assert never_loaded(result) == expected_never([*RUN_REQUESTS["a"], *RUN_REQUESTS["b"]]), err
    assert inputs_of(result)["traced_processes"] == 2, err
    assert "warning" not in err
    # 30 days: five searches of at most 168 hours (Tempo refuses longer) per query, more where cut.
    searches = [path for path in backend.requests if path.startswith(("/api/search", "/api/v3/traces"))]
    if kind == "tempo":
        assert len(searches) >= 10, searches
        fetched = [path for path in backend.requests if path.startswith("/api/v2/traces/")]
        assert len(fetched) == len(set(fetched)) > 2  # each trace once: the startups and the requests' traces
        assert "fetched" in err
    else:
        assert len(searches) > 5, searches
    assert "windows searched" in err


@pytest.mark.slow  # reads the module's real traced runs
def test_a_resource_filter_keeps_only_its_processes(traced: TracedRuns) -> None:
    with FakeBackend(traces_of(traced.exports["a"] + traced.exports["b"])) as backend:
        for kind in ("tempo", "jaeger"):
            result = backend_audit(kind, backend.url, "--service", SERVICE, "--resource", "deployment.environment.name=staging")
            assert never_loaded(result) == expected_never(RUN_REQUESTS["a"]), kind
            assert inputs_of(result)["traced_processes"] == 1
        assert any("resource.deployment.environment.name" in urllib.parse.unquote_plus(path) for path in backend.requests)


@pytest.mark.slow  # reads the module's real traced runs
def test_credentials_go_with_every_request_and_their_absence_is_said(traced: TracedRuns) -> None:
    with FakeBackend(traces_of(traced.exports["a"]), token="s3cret") as backend:
        refused = backend_audit("tempo", backend.url)
        assert_backend_error(refused, "Tempo refused the request (401)", "--header 'Authorization: Bearer TOKEN'", "X-Scope-OrgID")
        allowed = backend_audit("tempo", backend.url, "--header", "Authorization: Bearer s3cret", "--header", "X-Scope-OrgID: team-a")
        assert never_loaded(allowed) == expected_never(RUN_REQUESTS["a"])
        from_env = run_audit("--jaeger", backend.url, "--service", SERVICE, "--root", str(DEMO_ROOT), "--since", "30d",
                             "--format", "json", env_extra={"OTEL_IMPORT_TRACER_HEADERS": "Authorization=Bearer%20s3cret"})
        assert never_loaded(from_env) == expected_never(RUN_REQUESTS["a"])


@pytest.mark.slow  # reads the module's real traced runs
def test_an_empty_window_a_wrong_url_a_slow_and_an_absent_backend_are_one_clear_error(traced: TracedRuns) -> None:
    with FakeBackend(traces_of(traced.exports["a"])) as backend:
        assert_backend_error(run_audit("--jaeger", backend.url, "--service", SERVICE, "--root", str(DEMO_ROOT),
                                     "--start", "2001-01-01T00:00:00Z", "--end", "2001-01-02T00:00:00Z"),
                           "no trace in Jaeger", "2001-01-01T00:00:00", "widen --since")
        assert_backend_error(backend_audit("tempo", backend.url, "--service", "nobody"), "no app.startup trace in Tempo")
        assert_backend_error(run_audit("--tempo", backend.url + "/jaeger", "--root", str(DEMO_ROOT)),
                           "Tempo has no /jaeger/api/search", "is this Tempo's query URL?")
    with FakeBackend(traces_of(traced.exports["a"]), delay=3) as slow:
        assert_backend_error(backend_audit("tempo", slow.url, "--timeout", "0.5"), "did not answer within 0.5 s", "raise --timeout")
    assert_backend_error(backend_audit("tempo", "http://127.0.0.1:%d" % closed_port()), "cannot reach Tempo at http://127.0.0.1:")
    assert_backend_error(backend_audit("jaeger", "ftp://jaeger"), "should look like http://")
    assert_clean_error(run_audit(str(DEMO_ROOT / "main.py"), "--since", "7d", "--root", str(DEMO_ROOT)),
                       "--since is for a trace backend: add --tempo URL or --jaeger URL")
    assert_backend_error(backend_audit("jaeger", "http://127.0.0.1:1", "--service", SERVICE, "--since", "soon"), "should be a duration")


# -- bad trace files: one clear error at their line -------------------------------------


def a_line(trace_id: str = "ab" * 16, **startup_changes: Any) -> str:
    span = {
        "traceId": trace_id, "spanId": "cd" * 8, "name": semconv.SPAN_STARTUP,
        "startTimeUnixNano": "1796000000000000000", "endTimeUnixNano": "1796000000500000000",
        "attributes": [{"key": semconv.ATTR_TRACING_ROOT, "value": {"stringValue": "/app/src"}}],
        "events": [{"timeUnixNano": "1796000000100000000", "name": semconv.EVENT_MODULE_LOADED, "attributes": [
            {"key": semconv.ATTR_MODULE_NAME, "value": {"stringValue": "src.main"}},
            {"key": semconv.ATTR_FILE_PATH, "value": {"stringValue": "/app/src/main.py"}},
            {"key": semconv.ATTR_IMPORT_DURATION_MS, "value": {"doubleValue": 1.5}}]}],
    }
    span.update(startup_changes)
    return json.dumps({"resourceSpans": [{"resource": {"attributes": []}, "scopeSpans": [{"spans": [span]}]}]})


@pytest.mark.parametrize(
    "bad_line, words",
    [
        ('{"resourceSpans": [{"scopeSpans": [', "ends early"),
        (a_line(trace_id="not-an-id"), "neither 32 hex digits nor 16 bytes"),
        (a_line(startTimeUnixNano="soon"), "'soon' is not an integer"),
        (a_line(attributes=[]), f"without {semconv.ATTR_TRACING_ROOT}"),
        (a_line(events=[{"timeUnixNano": "1", "name": semconv.EVENT_MODULE_LOADED, "attributes": []}]), f"without {semconv.ATTR_MODULE_NAME}"),
        ('{"resourceSpans": {"spans": []}}', 'holds no list of resourceSpans'),
        ('{"resourceSpans": [{"scopeSpans": {}}]}', "a JSON list was expected"),
        ('{"resourceSpans": [], "x": NaN}', "NaN is not a number"),
    ],
    ids=["truncated", "trace-id", "time", "no-root", "event-without-name", "not-a-list", "wrong-type", "nan"],
)
def test_a_bad_line_of_a_trace_file_is_one_error_at_that_line(tmp_path: Path, bad_line: str, words: str) -> None:
    saved = tmp_path / "traces.jsonl"
    saved.write_text(f"{a_line()}\n{a_line()}\n{bad_line}\n{a_line()}\n")
    assert_clean_error(run_audit(str(saved), "--root", str(tmp_path)), f"{saved}:3: ", words)


def test_a_trace_without_our_spans_says_what_it_lacks(tmp_path: Path) -> None:
    saved = tmp_path / "other.json"
    saved.write_text(json.dumps({"resourceSpans": [{"scopeSpans": [{"spans": [{"name": "GET /", "traceId": "ab" * 16}]}]}]}))
    assert_clean_error(run_audit(str(saved), "--root", str(tmp_path)), f"{saved}", "no app.startup span")
