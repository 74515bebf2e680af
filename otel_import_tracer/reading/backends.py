"""Startups pulled from a trace backend: Tempo's or Jaeger's HTTP API -> the traces the OTLP reader takes.

Facts each client respects (their APIs, as documented and as their code answers):

- **Tempo** ``/api/search?q=<TraceQL>&start=&end=&limit=`` finds traces but returns no span
  events, so each trace is then fetched by id (``/api/v2/traces/<id>``: OTLP JSON, base64 ids).
  One search may span at most 168 hours, and there is no pagination: ``limit`` takes the first
  N. Windows are therefore cut into pieces of at most 168 h, and a piece whose answer is full is
  cut in two until every answer holds fewer than the limit.
- **Jaeger** v2's ``/api/v3/traces`` needs ``query.service_name`` and both time bounds (RFC 3339)
  and answers OTLP JSON with hex ids, every trace in one ``resourceSpans`` list, or 404 when
  nothing matches. ``query.num_traces`` caps the answer, with no pagination either: cut the
  same way.

Two searches per window: the ``app.startup`` traces, and the traces holding lazy loads (a
``module.loaded`` or ``module.import_failed`` event on a request's span). Fetches run a few at
a time; progress goes to stderr. Every failure is one ``BackendError`` saying what to do.
"""

from __future__ import annotations

import concurrent.futures
import datetime
import json
import math
import os
import re
import socket
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence, Tuple

from otel_import_tracer import semconv

MAX_WINDOW_S = 168 * 3600  # Tempo refuses longer searches
SEARCH_LIMIT = 500  # traces per search answer; a full answer is cut in two
MIN_WINDOW_S = 1.0  # below this a full answer is taken as it is (and said)
CONCURRENCY = 4
TIMEOUT_S = 30.0
MAX_ANSWER_BYTES = 1 << 30
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


class BackendError(Exception):
    """The backend could not be asked or did not answer usefully; the message says what to do."""


Progress = Callable[[str], None]


def stderr_progress(message: str) -> None:
    sys.stderr.write(f"otel-import-tracer: {message}\n")
    sys.stderr.flush()


# -- time windows ---------------------------------------------------------------------------


def parse_duration(text: str) -> float:
    """``7d``, ``12h``, ``30m``, ``90s``, ``2w`` -> seconds."""
    match = _DURATION.match(text)
    if match is None or float(match.group(1)) <= 0:
        raise ValueError(f"{text!r} should be a duration such as 30m, 12h, 7d or 2w")
    return float(match.group(1)) * _UNITS[match.group(2)]


def parse_time(text: str) -> float:
    """RFC 3339 (``2026-12-01T00:00:00Z``, a date alone, an offset) or Unix seconds -> Unix seconds."""
    value = text.strip()
    try:
        return float(value)
    except ValueError:
        pass
    try:
        moment = datetime.datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise ValueError(f"{text!r} should be a time such as 2026-12-01T00:00:00Z or Unix seconds") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.timezone.utc)
    return moment.timestamp()


def window(since: Optional[str], start: Optional[str], end: Optional[str], now: Optional[float] = None) -> Tuple[float, float]:
    """``(start, end)`` in Unix seconds: ``--start``/``--end``, or the last ``--since`` (default 24h)."""
    finish = parse_time(end) if end else (time.time() if now is None else now)
    begin = parse_time(start) if start else finish - parse_duration(since or "24h")
    if begin >= finish:
        raise ValueError("the window's start must come before its end")
    return begin, finish


def pieces(begin: float, finish: float, longest: float = MAX_WINDOW_S) -> List[Tuple[float, float]]:
    """The window cut into consecutive pieces of at most ``longest`` seconds."""
    found = []
    while begin < finish:
        found.append((begin, min(begin + longest, finish)))
        begin += longest
    return found


# -- HTTP -----------------------------------------------------------------------------------


class _Http:
    def __init__(self, base_url: str, headers: Dict[str, str], timeout: float, name: str) -> None:
        parsed = urllib.parse.urlsplit(base_url)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise BackendError(f"{name} URL {base_url!r} should look like http://tempo:3200")
        self.base = base_url.rstrip("/")
        self.headers = {"Accept": "application/json", **headers}
        self.timeout = timeout
        self.name = name

    def get(self, path: str, params: Sequence[Tuple[str, str]] = (), missing_ok: bool = False) -> Optional[Any]:
        """The JSON answer of ``GET path?params``; None for a 404 when ``missing_ok``."""
        url = self.base + path + ("?" + urllib.parse.urlencode(params) if params else "")
        request = urllib.request.Request(url, headers=self.headers)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as answer:
                raw = answer.read(MAX_ANSWER_BYTES + 1)
        except urllib.error.HTTPError as error:
            with error:
                body = error.read(2000).decode("utf-8", "replace")
            if error.code == 404 and missing_ok:
                return None
            raise BackendError(self._http_problem(error.code, url, body)) from None
        except (urllib.error.URLError, socket.timeout, TimeoutError, ConnectionError) as error:
            reason = getattr(error, "reason", error)
            if isinstance(reason, (socket.timeout, TimeoutError)) or "timed out" in str(reason):
                raise BackendError(f"{self.name} at {self.base} did not answer within {self.timeout:g} s ({url}); "
                                   "raise --timeout, or narrow the window") from None
            raise BackendError(f"cannot reach {self.name} at {self.base} ({reason}); check the URL and that it runs") from None
        if len(raw) > MAX_ANSWER_BYTES:
            raise BackendError(f"{self.name} answered more than 1 GiB for {url}; narrow the window")
        try:
            return json.loads(raw)
        except (ValueError, RecursionError):
            raise BackendError(f"{self.name} answered something that is not JSON for {url}: is {self.base} "
                               f"{self.name}'s HTTP API (its query port)?") from None

    def _http_problem(self, code: int, url: str, body: str) -> str:
        detail = " ".join(body.split())[:300]
        if code in (401, 403):
            return (f"{self.name} refused the request ({code}) at {url}: pass credentials with "
                    "--header 'Authorization: Bearer TOKEN' (and --header 'X-Scope-OrgID: TENANT' for a "
                    f"multi-tenant Tempo), or in OTEL_IMPORT_TRACER_HEADERS ({detail})")
        if code == 404:
            return f"{self.name} has no {urllib.parse.urlsplit(url).path} at {self.base} (404): is this {self.name}'s query URL? ({detail})"
        return f"{self.name} answered {code} for {url}: {detail}"


def parse_headers(values: Iterable[str]) -> Dict[str, str]:
    """``Name: value`` flags (and ``OTEL_IMPORT_TRACER_HEADERS``, comma-separated ``name=value``)."""
    headers: Dict[str, str] = {}
    for value in values:
        name, sep, content = value.partition(":")
        if not sep or not name.strip() or "\n" in value or "\r" in value:
            raise ValueError(f"{value!r} should be 'Name: value', e.g. 'Authorization: Bearer TOKEN'")
        headers[name.strip()] = content.strip()
    return headers


def headers_from_environ(text: str) -> Dict[str, str]:
    headers = {}
    for pair in text.split(","):
        name, sep, value = pair.partition("=")
        if sep and name.strip():
            headers[urllib.parse.unquote(name.strip())] = urllib.parse.unquote(value.strip())
    return headers


# -- the clients ----------------------------------------------------------------------------


class _Client:
    name = ""

    def __init__(self, url: str, headers: Dict[str, str], timeout: float = TIMEOUT_S, concurrency: int = CONCURRENCY,
                 progress: Optional[Progress] = None, limit: int = SEARCH_LIMIT) -> None:
        self.http = _Http(url, headers, timeout, self.name)
        self.concurrency = max(1, concurrency)
        self.progress = progress or (lambda message: None)
        self.limit = limit
        self.cut_short = 0  # pieces below MIN_WINDOW_S whose answer was still full

    def pull(self, service: Optional[str], begin: float, finish: float, resource: Dict[str, str], lazy: bool = True) -> str:
        """Every startup of the window (and, with ``lazy``, every lazy load), as JSON Lines of OTLP trace documents."""
        raise NotImplementedError

    def _walk(self, search: Callable[[float, float], List[Any]], begin: float, finish: float, what: str) -> List[Any]:
        """Everything ``search`` finds in the window: 168-hour pieces, each cut in two while its answer is full."""
        found: List[Any] = []
        todo = pieces(math.floor(begin), math.ceil(finish))  # whole seconds, as Tempo takes them
        total = len(todo)
        done = 0
        while todo:
            low, high = todo.pop(0)
            answer = search(low, high)
            if len(answer) >= self.limit and high - low > MIN_WINDOW_S:
                middle = (low + high) // 2
                todo[:0] = [(low, middle), (middle, high)]
                total += 1
                continue
            if len(answer) >= self.limit:
                self.cut_short += 1
            found += answer
            done += 1
            if total > 1:
                self.progress(f"{self.name}: {what}: {done} of {total} windows searched, {len(found)} found")
        return found

    def _fetch_all(self, fetch: Callable[[str], Optional[Any]], ids: Sequence[str]) -> List[Any]:
        """Fetch traces by id, a few at a time, with progress."""
        documents: List[Any] = []
        if not ids:
            return documents
        with concurrent.futures.ThreadPoolExecutor(max_workers=self.concurrency) as pool:
            for index, document in enumerate(pool.map(fetch, ids), 1):
                if document is not None:
                    documents.append(document)
                if index % 50 == 0 or index == len(ids):
                    self.progress(f"{self.name}: fetched {index} of {len(ids)} traces")
        return documents


class TempoClient(_Client):
    name = "Tempo"

    def pull(self, service: Optional[str], begin: float, finish: float, resource: Dict[str, str], lazy: bool = True) -> str:
        filters = [f'resource.service.name = {_traceql_string(service)}'] if service else []
        filters += [f"resource.{key} = {_traceql_string(value)}" for key, value in sorted(resource.items())]
        startups = self._search(" && ".join([f'name = "{semconv.SPAN_STARTUP}"'] + filters), begin, finish, "startups")
        lazy_query = " && ".join(
            [f'event:name =~ "{semconv.EVENT_MODULE_LOADED}|{semconv.EVENT_IMPORT_FAILED}|{semconv.EVENT_LAZY_NEVER_USED}"',
             f'name != "{semconv.SPAN_STARTUP}"']
            + filters
        )
        later = self._search(lazy_query, begin, finish, "lazy loads") if lazy else []
        ids = list(dict.fromkeys(startups + later))  # in order, each once
        self.progress(f"Tempo: {len(startups)} startup traces" + (f" and {len(later)} with lazy loads" if lazy else "")
                      + f"; fetching {len(ids)}")
        documents = self._fetch_all(self._trace, ids)
        return "".join(json.dumps(document) + "\n" for document in documents)

    def _search(self, query: str, begin: float, finish: float, what: str) -> List[str]:
        def search(low: float, high: float) -> List[str]:
            answer = self.http.get("/api/search", [("q", "{ " + query + " }"), ("start", str(int(low))),
                                                   ("end", str(int(high))), ("limit", str(self.limit)), ("spss", "1")])
            traces = answer.get("traces") if isinstance(answer, dict) else None
            if traces is None:
                traces = []
            if not isinstance(traces, list):
                raise BackendError(f"Tempo's search answered without a list of traces: is {self.http.base} Tempo?")
            return [str(trace["traceID"]) for trace in traces if isinstance(trace, dict) and trace.get("traceID")]

        return self._walk(search, begin, finish, what)

    def _trace(self, trace_id: str) -> Optional[Any]:
        document = self.http.get(f"/api/v2/traces/{urllib.parse.quote(trace_id)}", missing_ok=True)
        if document is None:  # gone between the search and the fetch (retention)
            return None
        if not isinstance(document, dict) or not isinstance(document.get("trace"), dict):
            raise BackendError(f"Tempo's trace {trace_id} is not OTLP JSON ({{\"trace\": {{...}}}}): is {self.http.base} Tempo 2.x?")
        document["trace"].setdefault("resourceSpans", [])
        return {"trace": document["trace"]}


class JaegerClient(_Client):
    name = "Jaeger"

    def pull(self, service: Optional[str], begin: float, finish: float, resource: Dict[str, str], lazy: bool = True) -> str:
        # Jaeger cannot search by span name or event: every trace of the service is pulled either way.
        if not service:
            raise BackendError("Jaeger's search needs a service: pass --service NAME (OTEL_SERVICE_NAME of the app)")
        traces = self._walk(lambda low, high: self._search(service, low, high), begin, finish, "traces")
        unique = {_trace_id(document): document for document in traces}  # a trace on a boundary comes twice
        documents = [document for document in unique.values() if _resource_matches(document, resource)]
        self.progress(f"Jaeger: {len(documents)} traces of {service}")
        return "".join(json.dumps(document) + "\n" for document in documents)

    def _search(self, service: str, low: float, high: float) -> List[Any]:
        answer = self.http.get("/api/v3/traces", [
            ("query.service_name", service),
            ("query.start_time_min", rfc3339(low)),
            ("query.start_time_max", rfc3339(high)),
            ("query.num_traces", str(self.limit)),
        ], missing_ok=True)
        if answer is None:  # 404: "No traces found"
            return []
        result = answer.get("result") if isinstance(answer, dict) else None
        spans = result.get("resourceSpans") if isinstance(result, dict) else None
        if not isinstance(spans, list):
            raise BackendError(f"Jaeger's /api/v3/traces answered without result.resourceSpans: is {self.http.base} Jaeger v2?")
        return _by_trace(spans)


def _by_trace(resource_spans: List[Any]) -> List[Any]:
    """Jaeger puts every trace of the answer in one list: one document per trace id, each span
    under its own resource and scope."""
    traces: Dict[str, Dict[Tuple[int, int], Any]] = {}
    for at, entry in enumerate(resource_spans):
        if not isinstance(entry, dict):
            continue
        for where, scope in enumerate(entry.get("scopeSpans") or []):
            for span in (scope.get("spans") or []) if isinstance(scope, dict) else []:
                if isinstance(span, dict):
                    groups = traces.setdefault(str(span.get("traceId")), {})
                    group = groups.get((at, where))
                    if group is None:
                        group = groups[(at, where)] = {**entry, "scopeSpans": [{**scope, "spans": []}]}
                    group["scopeSpans"][0]["spans"].append(span)
    return [{"resourceSpans": list(groups.values())} for groups in traces.values()]


def _trace_id(document: Dict[str, Any]) -> str:
    return str(document["resourceSpans"][0]["scopeSpans"][0]["spans"][0].get("traceId"))


def _resource_matches(document: Dict[str, Any], wanted: Dict[str, str]) -> bool:
    if not wanted:
        return True
    for entry in document["resourceSpans"]:
        attributes = {item.get("key"): item.get("value", {}) for item in (entry.get("resource") or {}).get("attributes", []) if isinstance(item, dict)}
        values = {key: next(iter(value.values()), None) if isinstance(value, dict) and value else None for key, value in attributes.items()}
        if all(str(values.get(key)) == value for key, value in wanted.items()):
            return True
    return False


def _traceql_string(value: str) -> str:
    return json.dumps(value)  # a double-quoted string with \" and \\ escaped, as TraceQL reads it


def rfc3339(seconds: float) -> str:
    """``2026-12-01T00:00:00Z``, with microseconds only when there are some."""
    moment = datetime.datetime.fromtimestamp(seconds, datetime.timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ" if moment.microsecond else "%Y-%m-%dT%H:%M:%SZ")


def client_for(kind: str, url: str, headers: Dict[str, str], **options: Any) -> _Client:
    return (TempoClient if kind == "tempo" else JaegerClient)(url, headers, **options)


def pull_input(kind: str, url: str, service: Optional[str], span: Tuple[Optional[str], Optional[str], Optional[str]],
               resource: Dict[str, str], header_values: Sequence[str], timeout: float, concurrency: int, search_limit: int,
               lazy: bool, label: str = "") -> Tuple[Any, str]:
    """The startups of a backend's window (``span``: since, start, end; with ``lazy`` the lazy loads
    too), read as one trace input; or why there are none (``label``: the diff side asked for)."""
    from otel_import_tracer.reading import otlp
    from otel_import_tracer.reading.files import InputError
    from otel_import_tracer.reading.sources import of_trace

    def progress(message: str) -> None:
        stderr_progress(f"{label}: {message}" if label else message)

    try:
        begin, finish = window(*span)
        headers = headers_from_environ(os.environ.get("OTEL_IMPORT_TRACER_HEADERS", ""))
        headers.update(parse_headers(header_values))
    except ValueError as error:
        return None, str(error)
    when = f"{rfc3339(begin)} to {rfc3339(finish)}"
    filters = "".join(f", {key}={value}" for key, value in sorted(resource.items()))
    try:
        client = client_for(kind, url, headers, timeout=timeout, concurrency=concurrency, progress=progress, limit=max(1, search_limit))
        progress(f"{client.name}: searching {when}" + (f" for service {service}" if service else "") + filters)
        text = client.pull(service, begin, finish, resource, lazy=lazy)
    except BackendError as error:
        return None, str(error)
    if client.cut_short:
        progress(f"warning: {client.cut_short} second(s) of the window held more traces than one answer "
                 f"takes ({client.limit}); some may be missing: raise --search-limit")
    source = f"{client.name} {url}"
    if not text:
        flags = f"--{label}-since or --since, or check --service and --{label}-resource" if label else \
            "--since, or check --service and --resource"
        return None, f"no {'app.startup trace' if kind == 'tempo' else 'trace'} in {client.name} at {url} from {when}" + (
            f" for service {service}" if service else "") + filters + f": widen {flags}"
    try:
        return of_trace(source, otlp.parse_otlp(text, source)), ""
    except InputError as error:
        return None, str(error)
