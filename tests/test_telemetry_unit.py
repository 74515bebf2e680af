"""Span shape from registry records (in-memory exporter) and exporter choice from OTEL_* variables."""

from __future__ import annotations

from typing import Any, Dict, List, Optional

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from otel_import_tracer import semconv
from otel_import_tracer.registry import SOURCE_IMPORT, SOURCE_PRELOADED, DependencyLoad, FailedImport, ModuleLoad
from otel_import_tracer.telemetry import setup, spans

# Nothing here depends on the collector: the per-collector reruns skip it (scripts/test.sh).
pytestmark = pytest.mark.collector_independent

MS = 1_000_000


def load(name: str, start: int, end: Optional[int], parent: Optional[str] = None, thread: str = "MainThread",
         source: str = SOURCE_IMPORT, stack: Any = None) -> ModuleLoad:
    return ModuleLoad(name=name, file=f"/app/{name.replace('.', '/')}.py", start_ns=start * MS, parent=parent,
                      thread=thread, source=source, end_ns=None if end is None else end * MS, stack_parent=stack)


@pytest.fixture
def exporter() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture
def tracer(exporter: InMemorySpanExporter):  # type: ignore[no-untyped-def]
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return setup._unlimited_events(provider.get_tracer(semconv.INSTRUMENTATION_SCOPE))


def test_startup_span_carries_every_event_in_time_order_beyond_the_default_limit(tracer, exporter) -> None:  # type: ignore[no-untyped-def]
    loads = [load(f"src.m{i}", 10 + i, 11 + i) for i in range(300)]
    failure = FailedImport("missing", "src.m5", "/app/src/m5.py", 3, "ModuleNotFoundError",
                           "No module named 'missing'", 15 * MS + 1, "MainThread", False)
    spans.emit_startup(tracer, 5 * MS, 400 * MS, loads, [failure], {semconv.ATTR_MODULE_COUNT: 300})
    (startup,) = exporter.get_finished_spans()
    assert startup.name == semconv.SPAN_STARTUP
    assert (startup.start_time, startup.end_time) == (5 * MS, 400 * MS)
    assert startup.dropped_events == 0 and len(startup.events) == 301
    timestamps = [event.timestamp for event in startup.events]
    assert timestamps == sorted(timestamps)
    failed = [event for event in startup.events if event.name == semconv.EVENT_IMPORT_FAILED]
    assert failed[0].attributes[semconv.ATTR_LINE_NUMBER] == 3


def test_unlimited_events_leave_the_applications_tracers_alone(tracer) -> None:  # type: ignore[no-untyped-def]
    app_provider = TracerProvider()
    ours = setup._unlimited_events(app_provider.get_tracer(semconv.INSTRUMENTATION_SCOPE))
    theirs = app_provider.get_tracer("the.app")
    assert ours._span_limits.max_events is None
    assert theirs._span_limits.max_events == 128


def test_waterfall_nests_by_the_import_stack_not_by_the_issuing_statement(tracer, exporter) -> None:  # type: ignore[no-untyped-def]
    startup = tracer.start_span(semconv.SPAN_STARTUP, start_time=0)
    main = load("src.main", 1, 100, parent="uvicorn.importer")
    models = load("src.models", 2, 20, parent="src.main", stack=main)
    domain = load("src.models.domain", 3, 10, parent="src.models", stack=models)
    slow = load("src.slow", 30, 40, parent="src.helpers", stack=main)  # issued by a function of src.helpers in main's body
    loads = [
        main, models, domain, slow,
        load("src.worker_dep", 50, 60, parent="src.main", thread="worker"),  # another thread: no stack parent
        load("src.plugin", 150, 160, parent="src.main"),  # after its importer's import ended
        load("src.preloaded", 0, None, source=SOURCE_PRELOADED),  # no timing: no span
    ]
    fastapi = DependencyLoad("fastapi", "src.main", "/app/src/main.py", 1, 21 * MS, "MainThread", end_ns=29 * MS, stack_parent=main)
    plugin = load("src.entry_point", 22, 25, parent=None, stack=fastapi)  # loaded by the dependency's import
    loads.append(plugin)
    main.children_ns = 18 * MS + 10 * MS + 8 * MS
    flushes: List[int] = []
    count = spans.emit_waterfall(tracer, startup.get_span_context(), loads, every=2, flush=flushes.append, dependencies=[fastapi])
    startup.end(end_time=200 * MS)
    assert count == 8 and flushes == [2, 4, 6, 8]  # told how many spans went out so far
    finished = {s.name: s for s in exporter.get_finished_spans()}
    parent_of: Dict[str, str] = {}
    ids = {s.context.span_id: s.name for s in finished.values()}
    for name, span in finished.items():
        if span.parent is not None:
            parent_of[name] = ids[span.parent.span_id]
    assert parent_of == {
        "import src.main": "app.startup",
        "import src.models": "import src.main",
        "import src.models.domain": "import src.models",
        "import src.slow": "import src.main",
        "import fastapi": "import src.main",
        "import src.entry_point": "import fastapi",
        "import src.worker_dep": "app.startup",
        "import src.plugin": "app.startup",
    }
    spanned = finished["import src.models.domain"]
    assert (spanned.start_time, spanned.end_time) == (3 * MS, 10 * MS)
    assert spanned.attributes[semconv.ATTR_IMPORT_DURATION_MS] == 7.0
    assert finished["import src.slow"].attributes[semconv.ATTR_MODULE_PARENT] == "src.helpers"  # the issuer stays
    assert finished["import src.slow"].attributes[semconv.ATTR_STACK_PARENT] == "src.main"
    assert finished["import src.main"].attributes[semconv.ATTR_SELF_DURATION_MS] == 99.0 - 36.0


def test_own_span_for_a_lazy_import_holds_the_event(tracer, exporter) -> None:  # type: ignore[no-untyped-def]
    spans.emit_own_span(tracer, semconv.EVENT_MODULE_LOADED, {semconv.ATTR_MODULE_NAME: "src.lazy"}, 5 * MS, 9 * MS)
    (span,) = exporter.get_finished_spans()
    assert span.name == semconv.SPAN_LAZY_IMPORT
    assert (span.start_time, span.end_time) == (5 * MS, 9 * MS)
    assert [(e.name, e.timestamp) for e in span.events] == [(semconv.EVENT_MODULE_LOADED, 5 * MS)]


@pytest.mark.parametrize(
    "env, expected, message",
    [
        ({}, [], None),  # said by unconfigured(), before the shutdown lines
        ({"OTEL_TRACES_EXPORTER": "none"}, [], None),
        ({"OTEL_TRACES_EXPORTER": "console"}, ["console"], None),
        ({"OTEL_TRACES_EXPORTER": "otlp"}, ["otlp (grpc)"], None),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://localhost:4317"}, ["otlp (grpc)"], None),
        ({"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf"}, ["otlp (http/protobuf)"], None),
        ({"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "http/protobuf",
          "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}, ["otlp (http/protobuf)"], None),
        ({"OTEL_TRACES_EXPORTER": "otlp,console"}, ["otlp (grpc)", "console"], None),
        ({"OTEL_TRACES_EXPORTER": "zipkin"}, [], "does not know"),
        ({"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_PROTOCOL": "http/json"}, [], "not supported"),
    ],
)
def test_exporters_follow_the_standard_variables(
    env: Dict[str, str], expected: List[str], message: Optional[str], capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from otel_import_tracer.telemetry import endpoint

    monkeypatch.setattr(endpoint.Endpoint, "problem", lambda self: None)  # nothing listens here
    assert [name for name, _ in setup._exporters(env)] == expected
    err = capsys.readouterr().err
    if message is None:
        assert err == ""
    else:
        assert message in err and err.count("\n") <= 2


def _lazy_load() -> ModuleLoad:
    item = load("src.lazy", 10, 11)
    item.lazy = True
    return item


@pytest.mark.parametrize("api_state", ["initializing", "half-made"])
def test_a_lazy_load_meeting_a_half_imported_api_gets_a_span_of_its_own(
    api_state: str, tracer, monkeypatch: pytest.MonkeyPatch  # type: ignore[no-untyped-def]
) -> None:
    # While the export thread imports the SDK, the app's threads may see opentelemetry.trace half made.
    import opentelemetry.trace

    from otel_import_tracer.config import Config
    from otel_import_tracer.registry import Registry
    from otel_import_tracer.naming import SourceRoot
    from otel_import_tracer.telemetry import Telemetry

    telemetry = Telemetry(Config(enabled=True, root="/app/src"), Registry(SourceRoot("/app/src")), "importhook")
    with tracer.start_as_current_span("GET /reports"):  # a recording span is current
        if api_state == "initializing":
            monkeypatch.setattr(opentelemetry.trace.__spec__, "_initializing", True, raising=False)
        else:
            def half_made(*args: object) -> None:
                raise AttributeError("partially initialized module 'opentelemetry.trace' has no attribute 'INVALID_SPAN'")
            monkeypatch.setattr(opentelemetry.trace, "get_current_span", half_made)
        telemetry.on_load(_lazy_load())
        monkeypatch.undo()
    (job,) = list(telemetry._jobs._items)
    assert job[0] == semconv.EVENT_MODULE_LOADED and job[1][semconv.ATTR_MODULE_NAME] == "src.lazy"


@pytest.mark.parametrize(
    "protocol, value, expected",
    [
        ("grpc", "not a url", "not a URL"),
        ("http/protobuf", "localhost:4317", "not a URL"),  # requests needs a scheme
        ("grpc", "http://collector:99999", "not a URL"),
        ("grpc", "http://nonexistent.invalid:4317", "does not resolve"),  # RFC 6761: never resolves
        ("grpc", "unix:///run/collector.sock", None),  # gRPC's own kind of target: its to judge
    ],
)
def test_an_endpoint_no_attempt_can_reach_is_known_at_once(protocol: str, value: str, expected: Optional[str]) -> None:
    from otel_import_tracer.telemetry.endpoint import Endpoint

    problem = Endpoint(protocol, {"OTEL_EXPORTER_OTLP_ENDPOINT": value}).problem()
    assert problem is None if expected is None else expected in (problem or ""), problem


def test_an_endpoint_that_listens_or_sits_behind_a_proxy_is_left_to_the_exporter() -> None:
    import socket

    from otel_import_tracer.telemetry.endpoint import Endpoint

    with socket.socket() as listening:
        listening.bind(("127.0.0.1", 0))
        listening.listen(1)
        host_port = "127.0.0.1:%d" % listening.getsockname()[1]
        assert Endpoint("grpc", {"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": host_port}).problem() is None
        assert Endpoint("http/protobuf", {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://" + host_port}).problem() is None
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        refused = "http://127.0.0.1:%d" % closed.getsockname()[1]
    assert "Connection refused" in (Endpoint("grpc", {"OTEL_EXPORTER_OTLP_ENDPOINT": refused}).problem() or "")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("https_proxy", "http://proxy.example:3128")
        patch.delenv("no_proxy", raising=False)
        patch.delenv("NO_PROXY", raising=False)
        assert Endpoint("grpc", {"OTEL_EXPORTER_OTLP_ENDPOINT": refused}).problem() is None


@pytest.mark.parametrize(
    "env, note",
    [
        ({}, "no trace exporter is configured"),
        ({"OTEL_SDK_DISABLED": "true", "OTEL_TRACES_EXPORTER": "otlp"}, "OTEL_SDK_DISABLED=true"),
        ({"OTEL_TRACES_EXPORTER": "none"}, None),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4317"}, None),
        ({"OTEL_TRACES_EXPORTER": "console"}, None),
    ],
)
def test_unconfigured_export_is_known_from_the_environment_alone(env: Dict[str, str], note: Optional[str]) -> None:
    found = setup.unconfigured(env)
    assert found is None if note is None else note in (found or ""), found


def test_group_notes_of_killed_processes_are_pruned_and_young_ones_kept(tmp_path: Any) -> None:
    """A note older than a day is removed when the next one of its kind is written; a note of a
    group named within the day is kept without being looked at (its name holds when the group
    was named, and the note was made after that)."""
    import os
    import time

    from otel_import_tracer.telemetry import group

    now_ns = time.time_ns()
    day_ns = 24 * 3600 * 10**9
    stale = tmp_path / f"summary-1-{now_ns - 2 * day_ns}"
    young = tmp_path / f"summary-2-{now_ns - 60 * 10**9}"
    odd = tmp_path / "summary-odd"  # not a name of ours: its age is read from the file
    other = tmp_path / f"no-exporter-3-{now_ns - 2 * day_ns}"
    for path in (stale, young, odd, other):
        path.write_text("")
        os.utime(path, (time.time() - 2 * 24 * 3600,) * 2)
    group._prune(str(tmp_path), "summary")
    assert sorted(path.name for path in tmp_path.iterdir()) == sorted([young.name, other.name])
