"""An in-process OTLP trace receiver for tests: real gRPC and HTTP/protobuf servers on 127.0.0.1.

Spans are decoded from the wire format (``opentelemetry-proto``) into plain dataclasses, so a test
asserts on exactly what an exporter sent. ``mode="hang"`` makes both servers accept requests and never
answer; ``SilentServer`` and ``closed_port()`` cover the other ways a collector can be unreachable.
"""

from __future__ import annotations

import base64
import gzip
import socket
import threading
import time
from concurrent import futures
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Dict, List, Optional, Union

import grpc
from google.protobuf import json_format
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc
from opentelemetry.proto.common.v1.common_pb2 import AnyValue

from otel_import_tracer import semconv

PROTOCOLS = ("grpc", "http")


@dataclass
class ReceivedEvent:
    name: str
    time_ns: int
    attributes: Dict[str, Any]


@dataclass
class ReceivedSpan:
    trace_id: str
    span_id: str
    parent_span_id: str
    name: str
    start_ns: int
    end_ns: int
    attributes: Dict[str, Any]
    events: List[ReceivedEvent]
    dropped_events_count: int
    dropped_attributes_count: int
    resource: Dict[str, Any]
    scope_name: str
    protocol: str
    status_code: int = 0  # OTLP: 0 unset, 1 ok, 2 error
    status_message: str = ""

    def event(self, name: str) -> List[ReceivedEvent]:
        return [event for event in self.events if event.name == name]

    @property
    def is_module_import(self) -> bool:
        """An ``import <module>`` span of a module under the root (not of a dependency)."""
        return self.name.startswith(semconv.SPAN_IMPORT_PREFIX) and self.attributes.get(semconv.ATTR_MODULE_DEPENDENCY) is False

    @property
    def is_dependency_import(self) -> bool:
        """An ``import <name>`` span of a module outside the root that the root's code imported."""
        return self.name.startswith(semconv.SPAN_IMPORT_PREFIX) and self.attributes.get(semconv.ATTR_MODULE_DEPENDENCY) is True


def decode_value(value: AnyValue) -> Any:
    kind = value.WhichOneof("value")
    if kind is None:
        return None
    if kind == "array_value":
        return [decode_value(item) for item in value.array_value.values]
    if kind == "kvlist_value":
        return decode_attributes(value.kvlist_value.values)
    return getattr(value, kind)


def decode_attributes(key_values: Any) -> Dict[str, Any]:
    return {kv.key: decode_value(kv.value) for kv in key_values}


def decode_request(request: trace_service_pb2.ExportTraceServiceRequest, protocol: str) -> List[ReceivedSpan]:
    spans = []
    for resource_spans in request.resource_spans:
        resource = decode_attributes(resource_spans.resource.attributes)
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                events = [
                    ReceivedEvent(event.name, event.time_unix_nano, decode_attributes(event.attributes))
                    for event in span.events
                ]
                spans.append(
                    ReceivedSpan(
                        trace_id=span.trace_id.hex(),
                        span_id=span.span_id.hex(),
                        parent_span_id=span.parent_span_id.hex(),
                        name=span.name,
                        start_ns=span.start_time_unix_nano,
                        end_ns=span.end_time_unix_nano,
                        attributes=decode_attributes(span.attributes),
                        events=events,
                        dropped_events_count=span.dropped_events_count,
                        dropped_attributes_count=span.dropped_attributes_count,
                        resource=resource,
                        scope_name=scope_spans.scope.name,
                        protocol=protocol,
                        status_code=span.status.code,
                        status_message=span.status.message,
                    )
                )
    return spans


def otlp_json(request: trace_service_pb2.ExportTraceServiceRequest, ids: str = "hex") -> Dict[str, Any]:
    """An export request in OTLP JSON. ``ids="hex"``: trace and span ids as the OTLP JSON
    encoding (the Collector's ``file`` exporter, Jaeger's API) writes them; ``"base64"``: as the
    protobuf JSON mapping does, which Tempo's trace-by-id API answers with."""
    document = json_format.MessageToDict(request)  # camelCase names, int64 as strings, bytes in base64
    if ids == "hex":
        for resource_spans in document.get("resourceSpans", []):
            for scope_spans in resource_spans.get("scopeSpans", []):
                for span in scope_spans.get("spans", []):
                    for key in ("traceId", "spanId", "parentSpanId"):
                        if key in span:
                            span[key] = base64.b64decode(span[key]).hex()
    return document


class _TraceService(trace_service_pb2_grpc.TraceServiceServicer):
    def __init__(self, receiver: OtlpReceiver) -> None:
        self._receiver = receiver

    def Export(self, request: Any, context: Any) -> Any:  # noqa: N802 (gRPC method name)
        if not self._receiver._received("grpc", request):
            context.abort(grpc.StatusCode.UNAVAILABLE, "receiver stopped")
        return trace_service_pb2.ExportTraceServiceResponse()


def _http_handler(receiver: OtlpReceiver) -> type:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:  # noqa: N802 (http.server naming)
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if self.path.rstrip("/") != "/v1/traces":
                return self._reply(404, b"")
            if self.headers.get("Content-Type", "").split(";")[0].strip() != "application/x-protobuf":
                return self._reply(415, b"")
            if self.headers.get("Content-Encoding", "").lower() == "gzip":
                body = gzip.decompress(body)
            request = trace_service_pb2.ExportTraceServiceRequest.FromString(body)
            if not receiver._received("http", request):
                self.close_connection = True  # released by stop() without an answer
                return None
            return self._reply(200, trace_service_pb2.ExportTraceServiceResponse().SerializeToString())

        def _reply(self, status: int, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", "application/x-protobuf")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (base class signature)
            pass

    return Handler


class OtlpReceiver:
    """Both OTLP servers; ``with OtlpReceiver() as otlp:`` then point an exporter at ``otlp.env(...)``."""

    SLOW_S = 0.5  # how long the "slow" mode takes to answer each export request

    def __init__(self, mode: str = "ok") -> None:
        if mode not in ("ok", "hang", "slow"):
            raise ValueError(f"mode must be 'ok', 'hang' or 'slow', not {mode!r}")
        self.mode = mode
        self._lock = threading.Lock()
        self._spans: List[ReceivedSpan] = []
        self._exports: List[trace_service_pb2.ExportTraceServiceRequest] = []  # as received, for otlp_json
        self._requests = {protocol: 0 for protocol in PROTOCOLS}
        self._stopping = threading.Event()
        self._grpc_server: Optional[grpc.Server] = None
        self._http_server: Optional[ThreadingHTTPServer] = None
        self._http_thread: Optional[threading.Thread] = None
        self.grpc_endpoint = ""
        self.http_endpoint = ""

    def start(self) -> OtlpReceiver:
        self._grpc_server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
        trace_service_pb2_grpc.add_TraceServiceServicer_to_server(_TraceService(self), self._grpc_server)
        grpc_port = self._grpc_server.add_insecure_port("127.0.0.1:0")
        self._grpc_server.start()
        self.grpc_endpoint = f"http://127.0.0.1:{grpc_port}"

        self._http_server = ThreadingHTTPServer(("127.0.0.1", 0), _http_handler(self))
        self._http_server.daemon_threads = True
        self._http_thread = threading.Thread(
            target=self._http_server.serve_forever, kwargs={"poll_interval": 0.05}, name="otlp-http", daemon=True
        )
        self._http_thread.start()
        self.http_endpoint = f"http://127.0.0.1:{self._http_server.server_address[1]}"
        return self

    def stop(self) -> None:
        self._stopping.set()  # first, so hanging handlers return and the servers can stop at once
        if self._grpc_server is not None:
            self._grpc_server.stop(0).wait(5)
            self._grpc_server = None
        if self._http_server is not None:
            self._http_server.shutdown()
            self._http_server.server_close()
            assert self._http_thread is not None
            self._http_thread.join(5)
            self._http_server = None

    def __enter__(self) -> OtlpReceiver:
        return self.start()

    def __exit__(self, *exc_info: Any) -> None:
        self.stop()

    def env(self, protocol: str = "grpc") -> Dict[str, str]:
        """The OTEL_* variables that make a child process's SDK export here over ``protocol``."""
        if protocol == "grpc":
            wire, endpoint = "grpc", self.grpc_endpoint
        elif protocol in ("http", "http/protobuf"):
            wire, endpoint = "http/protobuf", self.http_endpoint
        else:
            raise ValueError(f"protocol must be 'grpc' or 'http/protobuf', not {protocol!r}")
        return {
            "OTEL_TRACES_EXPORTER": "otlp",
            "OTEL_EXPORTER_OTLP_PROTOCOL": wire,
            "OTEL_EXPORTER_OTLP_ENDPOINT": endpoint,
            "OTEL_BSP_SCHEDULE_DELAY": "200",
        }

    def _received(self, protocol: str, request: Any) -> bool:
        """Record one request; False if it is to go unanswered (hang mode, released at stop)."""
        with self._lock:
            self._requests[protocol] += 1
        if self.mode == "hang":
            self._stopping.wait()
            return False
        if self.mode == "slow" and self._stopping.wait(self.SLOW_S):
            return False
        spans = decode_request(request, protocol)
        with self._lock:
            self._spans.extend(spans)
            self._exports.append(request)
        return True

    def exports(self) -> List[trace_service_pb2.ExportTraceServiceRequest]:
        """Every export request answered, in the order received."""
        with self._lock:
            return list(self._exports)

    def request_count(self, protocol: Optional[str] = None) -> int:
        """Export requests received over ``protocol`` ("grpc" or "http"), or over both."""
        with self._lock:
            return sum(count for name, count in self._requests.items() if protocol in (None, name))

    def spans(self, name: Optional[str] = None) -> List[ReceivedSpan]:
        with self._lock:
            return [span for span in self._spans if name is None or span.name == name]

    def clear(self) -> None:
        with self._lock:
            self._spans.clear()
            self._exports.clear()
            self._requests = {protocol: 0 for protocol in PROTOCOLS}

    def wait_for_spans(
        self,
        predicate_or_name: Union[str, Callable[[ReceivedSpan], bool], None] = None,
        count: int = 1,
        timeout: float = 120.0,  # only a failure waits it out; 30 s was short beside other CPU-bound jobs
    ) -> List[ReceivedSpan]:
        """The matching spans once at least ``count`` arrived; AssertionError listing what did, if not."""
        if predicate_or_name is None:
            matches: Callable[[ReceivedSpan], bool] = lambda span: True  # noqa: E731
        elif isinstance(predicate_or_name, str):
            matches = lambda span: span.name == predicate_or_name  # noqa: E731
        else:
            matches = predicate_or_name
        deadline = time.monotonic() + timeout
        while True:
            found = [span for span in self.spans() if matches(span)]
            if len(found) >= count or time.monotonic() >= deadline:
                break
            time.sleep(0.05)
        if len(found) < count:
            raise AssertionError(
                f"expected {count} span(s) matching {predicate_or_name!r} within {timeout}s, got {len(found)}; "
                f"{self.summary()}"
            )
        return found

    def summary(self) -> str:
        spans = self.spans()
        names: Dict[str, int] = {}
        for span in spans:
            names[span.name] = names.get(span.name, 0) + 1
        requests = ", ".join(f"{protocol}={self.request_count(protocol)}" for protocol in PROTOCOLS)
        return f"received {len(spans)} span(s) {names} in requests {requests}"


class SilentServer:
    """A TCP port that accepts connections and never reads or answers (a black-holed collector)."""

    def __init__(self) -> None:
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(64)
        self._sock.settimeout(0.05)  # so the accept loop notices stop()
        self.port: int = self._sock.getsockname()[1]
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self._connections: List[socket.socket] = []
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._accept, name="silent-server", daemon=True)

    def _accept(self) -> None:
        while not self._stopping.is_set():
            try:
                connection, _ = self._sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            self._connections.append(connection)  # held open, never read

    def __enter__(self) -> SilentServer:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self._stopping.set()
        self._thread.join(5)
        self._sock.close()
        for connection in self._connections:
            connection.close()


def closed_port() -> int:
    """A localhost port nothing listens on (connections are refused)."""
    from tests.support.servers import free_port

    return free_port()
