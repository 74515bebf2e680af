"""The test OTLP receiver decodes what the real OpenTelemetry exporters send, and fails fast on faults."""

from __future__ import annotations

import time
from typing import Iterator, List, Optional

import pytest
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from tests.support.otlp_receiver import OtlpReceiver, SilentServer, closed_port

# Nothing here depends on the collector: the per-collector reruns skip it (scripts/test.sh).
pytestmark = pytest.mark.collector_independent

ATTRIBUTES = {
    "str": "text",
    "flag": True,
    "count": 42,
    "ratio": 0.5,
    "names": ["a", "b"],
    "numbers": [1, 2, 3],
    "ratios": [1.5, 2.5],
    "flags": [True, False],
}


@pytest.fixture
def otlp() -> Iterator[OtlpReceiver]:
    with OtlpReceiver() as receiver:
        yield receiver


def make_provider(processor: SpanProcessor) -> TracerProvider:
    provider = TracerProvider(resource=Resource({"service.name": "receiver-test"}), shutdown_on_exit=False)
    provider.add_span_processor(processor)
    return provider


def finished_span() -> List[ReadableSpan]:
    memory = InMemorySpanExporter()
    provider = make_provider(SimpleSpanProcessor(memory))
    provider.get_tracer("test").start_span("doomed").end()
    provider.shutdown()
    return list(memory.get_finished_spans())


@pytest.mark.parametrize(
    "protocol, compression",
    [("grpc", None), ("grpc", "gzip"), ("http/protobuf", None), ("http/protobuf", "gzip")],
)
def test_exporter_configured_from_env_round_trips_span(
    otlp: OtlpReceiver, monkeypatch: pytest.MonkeyPatch, protocol: str, compression: Optional[str]
) -> None:
    for key, value in otlp.env(protocol).items():
        monkeypatch.setenv(key, value)
    if compression:
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_COMPRESSION", compression)
    exporter = GrpcExporter() if protocol == "grpc" else HttpExporter()  # endpoint from the env
    provider = make_provider(BatchSpanProcessor(exporter))
    tracer = provider.get_tracer("receiver.scope")

    before = time.time_ns()
    with tracer.start_as_current_span("parent") as parent:
        with tracer.start_as_current_span("child", attributes=ATTRIBUTES) as child:
            child.add_event("first", {"n": 1, "ok": True}, timestamp=before + 1000)
            child.add_event("second", {"names": ["x", "y"]})
    after = time.time_ns()
    provider.shutdown()

    wire = "grpc" if protocol == "grpc" else "http"
    [got] = otlp.wait_for_spans("child", timeout=5)
    [got_parent] = otlp.spans("parent")
    assert got.trace_id == format(child.get_span_context().trace_id, "032x") == got_parent.trace_id
    assert got.span_id == format(child.get_span_context().span_id, "016x")
    assert got.parent_span_id == got_parent.span_id == format(parent.get_span_context().span_id, "016x")
    assert got_parent.parent_span_id == ""
    assert got.attributes == ATTRIBUTES
    assert isinstance(got.attributes["flag"], bool) and isinstance(got.attributes["count"], int)
    assert before <= got_parent.start_ns <= got.start_ns <= got.end_ns <= got_parent.end_ns <= after
    assert [(e.name, e.attributes) for e in got.events] == [
        ("first", {"n": 1, "ok": True}),
        ("second", {"names": ["x", "y"]}),
    ]
    assert got.events[0].time_ns == before + 1000
    assert got.start_ns <= got.events[1].time_ns <= got.end_ns
    assert got.dropped_events_count == got.dropped_attributes_count == 0
    assert got.resource["service.name"] == "receiver-test"
    assert got.scope_name == "receiver.scope"
    assert got.protocol == wire
    assert otlp.request_count(wire) >= 1 and otlp.request_count() == otlp.request_count(wire)


def test_env_names_the_protocol_and_endpoint(otlp: OtlpReceiver) -> None:
    assert otlp.env("grpc") == {
        "OTEL_TRACES_EXPORTER": "otlp",
        "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
        "OTEL_EXPORTER_OTLP_ENDPOINT": otlp.grpc_endpoint,
        "OTEL_BSP_SCHEDULE_DELAY": "200",
    }
    assert otlp.env("http/protobuf")["OTEL_EXPORTER_OTLP_ENDPOINT"] == otlp.http_endpoint
    assert otlp.grpc_endpoint != otlp.http_endpoint
    assert otlp.http_endpoint.startswith("http://127.0.0.1:")


def test_dropped_events_count_arrives(otlp: OtlpReceiver) -> None:
    provider = make_provider(SimpleSpanProcessor(HttpExporter(endpoint=otlp.http_endpoint + "/v1/traces")))
    with provider.get_tracer("test").start_as_current_span("busy") as span:
        for i in range(130):
            span.add_event(f"e{i}")
    provider.shutdown()
    [got] = otlp.wait_for_spans(lambda s: s.name == "busy", timeout=5)
    assert got.dropped_events_count == 2
    assert got.events[0].name == "e2"  # the SDK evicts the oldest


def test_wait_for_spans_reports_what_did_arrive(otlp: OtlpReceiver) -> None:
    provider = make_provider(SimpleSpanProcessor(GrpcExporter(endpoint=otlp.grpc_endpoint)))
    provider.get_tracer("test").start_span("only-this").end()
    provider.shutdown()
    with pytest.raises(AssertionError, match=r"'only-this': 1.*grpc=1"):
        otlp.wait_for_spans("missing", timeout=0.2)
    otlp.clear()
    assert otlp.spans() == [] and otlp.request_count() == 0


@pytest.mark.parametrize("protocol", ["grpc", "http"])
def test_hang_mode_times_out_the_exporter_and_stops_quickly(protocol: str) -> None:
    spans = finished_span()
    with OtlpReceiver(mode="hang") as otlp:
        if protocol == "grpc":
            exporter: SpanExporter = GrpcExporter(endpoint=otlp.grpc_endpoint, timeout=1)
        else:
            exporter = HttpExporter(endpoint=otlp.http_endpoint + "/v1/traces", timeout=1)
        started = time.monotonic()
        assert exporter.export(spans) == SpanExportResult.FAILURE
        assert time.monotonic() - started < 4
        assert otlp.request_count(protocol) >= 1 and otlp.spans() == []
        stopping = time.monotonic()
    assert time.monotonic() - stopping < 2
    exporter.shutdown()


def test_silent_server_and_closed_port_make_exports_fail_fast() -> None:
    spans = finished_span()
    with SilentServer() as silent:
        exporter = HttpExporter(endpoint=silent.endpoint + "/v1/traces", timeout=1)
        started = time.monotonic()
        assert exporter.export(spans) == SpanExportResult.FAILURE
        assert time.monotonic() - started < 4
        exporter.shutdown()
    exporter = HttpExporter(endpoint=f"http://127.0.0.1:{closed_port()}/v1/traces", timeout=1)
    started = time.monotonic()
    assert exporter.export(spans) == SpanExportResult.FAILURE
    assert time.monotonic() - started < 4
    exporter.shutdown()
