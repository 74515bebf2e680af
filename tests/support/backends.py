"""A local HTTP server answering as Tempo's and Jaeger v2's query APIs do, for the audit's clients.

No Tempo or Jaeger runs here. The server holds real traces (what the demo sent over OTLP) and
answers in the documented shapes (see ../shared/reference/deploy-stack.md):

- Tempo ``/api/search?q=&start=&end=&limit=``: ``{"traces": [{"traceID", ...}]}`` with hex ids, no
  span events, the first ``limit`` traces only (no pagination), 400 past 168 hours; a query
  naming ``app.startup`` finds startups, one naming ``event:name`` the traces with our events on
  other spans. ``/api/v2/traces/<id>``: ``{"trace": {"resourceSpans": [...]}}``, base64 ids.
- Jaeger ``/api/v3/traces``: both time bounds required (400), ``{"result": {"resourceSpans":
  [...]}}`` with hex ids and every trace in one list, the first ``query.num_traces``, 404
  ``{"error": {"httpCode": 404, "message": "No traces found"}}`` when nothing matches.

Modes: ``token`` (401 without ``Authorization: Bearer <token>``; Tempo also wants
``X-Scope-OrgID``), ``delay`` (seconds before each answer).
"""

from __future__ import annotations

import datetime
import http.server
import json
import re
import sys
import threading
import time
import urllib.parse
from typing import Any, Dict, List, Optional

from otel_import_tracer import semconv
from tests.support.otlp_receiver import otlp_json

MAX_TEMPO_WINDOW_S = 168 * 3600


class Trace:
    def __init__(self, trace_id: str, hex_entries: List[Dict[str, Any]], base64_entries: List[Dict[str, Any]]) -> None:
        self.trace_id = trace_id  # hex
        self.hex_entries = hex_entries
        self.base64_entries = base64_entries
        spans = [span for entry in hex_entries for scope in entry["scopeSpans"] for span in scope["spans"]]
        self.start_s = min(int(span["startTimeUnixNano"]) for span in spans) / 1e9
        self.service = next(
            (a["value"]["stringValue"] for a in hex_entries[0]["resource"]["attributes"] if a["key"] == "service.name"), ""
        )
        self.resource = {
            a["key"]: next(iter(a["value"].values())) for a in hex_entries[0]["resource"]["attributes"] if a.get("value")
        }
        self.has_startup = any(span["name"] == semconv.SPAN_STARTUP for span in spans)
        self.has_lazy = any(
            span["name"] != semconv.SPAN_STARTUP and not span["name"].startswith(semconv.SPAN_IMPORT_PREFIX)
            and any(event["name"] in (semconv.EVENT_MODULE_LOADED, semconv.EVENT_IMPORT_FAILED, semconv.EVENT_LAZY_NEVER_USED)
                    for event in span.get("events", []))
            for span in spans
        )


def traces_of(requests: List[Any]) -> List[Trace]:
    """Each trace id of the export requests with its spans, in the hex and the base64 forms."""
    grouped: Dict[str, Dict[str, List[Dict[str, Any]]]] = {}
    for request in requests:
        for ids in ("hex", "base64"):
            hex_entries = otlp_json(request, "hex")["resourceSpans"]
            entries = otlp_json(request, ids)["resourceSpans"]
            for hex_entry, entry in zip(hex_entries, entries):
                for hex_scope, scope in zip(hex_entry["scopeSpans"], entry["scopeSpans"]):
                    for hex_span, span in zip(hex_scope["spans"], scope["spans"]):
                        target = grouped.setdefault(hex_span["traceId"], {"hex": [], "base64": []})[ids]
                        target.append({**entry, "scopeSpans": [{**scope, "spans": [span]}]})
    return [Trace(trace_id, forms["hex"], forms["base64"]) for trace_id, forms in grouped.items()]


class FakeBackend:
    def __init__(self, traces: List[Trace], token: Optional[str] = None, delay: float = 0.0) -> None:
        self.traces = traces
        self.token = token
        self.delay = delay
        self.requests: List[str] = []  # every path asked, with its query
        self._server = _QuietServer(("127.0.0.1", 0), _handler(self))
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> "FakeBackend":
        self._thread.start()
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self._server.shutdown()
        self._server.server_close()

    def answer(self, path: str, query: Dict[str, List[str]], headers: Any) -> tuple:
        if self.delay:
            time.sleep(self.delay)
        tempo = path.startswith("/api/search") or path.startswith("/api/v2/")
        if self.token is not None:
            if headers.get("Authorization") != f"Bearer {self.token}" or (tempo and not headers.get("X-Scope-OrgID")):
                return 401, {"error": "unauthorized"} if not tempo else "no org id"
        one = {key: values[0] for key, values in query.items()}
        if path == "/api/search":
            start, end, limit = float(one["start"]), float(one["end"]), int(one.get("limit", "20"))
            if end - start > MAX_TEMPO_WINDOW_S:
                return 400, "range specified by start and end exceeds 168h0m0s. received start=... end=..."
            wants_startup = f'name = "{semconv.SPAN_STARTUP}"' in one["q"]
            found = [t for t in self.traces if start <= t.start_s < end and (t.has_startup if wants_startup else t.has_lazy)
                     and all(t.resource.get(key) == value for key, value in _filters(one["q"]).items())]
            return 200, {"traces": [{"traceID": t.trace_id, "rootServiceName": t.service,
                                     "startTimeUnixNano": str(int(t.start_s * 1e9))} for t in found[:limit]]}
        if path.startswith("/api/v2/traces/"):
            wanted = path.rsplit("/", 1)[1]
            for trace in self.traces:
                if trace.trace_id == wanted:
                    return 200, {"trace": {"resourceSpans": trace.base64_entries}, "status": "complete"}
            return 404, "trace not found"
        if path == "/api/v3/traces":
            if "query.start_time_min" not in one or "query.start_time_max" not in one:
                return 400, {"error": {"httpCode": 400, "message": "start time min and max are required parameters"}}
            start, end = _seconds(one["query.start_time_min"]), _seconds(one["query.start_time_max"])
            found = [t for t in self.traces if start <= t.start_s <= end and t.service == one.get("query.service_name")]
            found = found[: int(one.get("query.num_traces", "20"))]
            if not found:
                return 404, {"error": {"httpCode": 404, "message": "No traces found"}}
            return 200, {"result": {"resourceSpans": [entry for t in found for entry in t.hex_entries]}}
        return 404, "404 page not found"


def _filters(traceql: str) -> Dict[str, Any]:
    """The ``resource.KEY = "VALUE"`` conditions of a TraceQL query."""
    return {key: json.loads(value) for key, value in re.findall(r'resource\.([\w.]+) = ("(?:[^"\\]|\\.)*")', traceql)}


class _QuietServer(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that gave up (its --timeout) resets the connection: not the server's error."""
        if not isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            super().handle_error(request, client_address)


def _seconds(rfc3339: str) -> float:
    return datetime.datetime.fromisoformat(rfc3339.replace("Z", "+00:00")).timestamp()


def _handler(backend: FakeBackend) -> type:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server naming)
            parsed = urllib.parse.urlsplit(self.path)
            backend.requests.append(self.path)
            status, body = backend.answer(parsed.path, urllib.parse.parse_qs(parsed.query), self.headers)
            data = (json.dumps(body) if not isinstance(body, str) else body).encode()
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json" if not isinstance(body, str) else "text/plain")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):  # the client gave up (its timeout)
                pass

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (base class signature)
            pass

    return Handler
