"""OTLP JSON traces -> one ``Process`` record per traced process, as if it had read its own report.

What it reads, each a JSON document or JSON Lines of them:

- the Collector's ``file`` exporter: one ``{"resourceSpans": [...]}`` per line, hex ids;
- Tempo's ``/api/v2/traces/<id>``: ``{"trace": {"resourceSpans": [...]}}``, base64 ids, and its
  older ``/api/traces/<id>``: ``{"batches": [...]}``;
- Jaeger's ``/api/v3/traces``: ``{"result": {"resourceSpans": [...]}}``, hex ids.

Each ``app.startup`` span is a process: its ``module.loaded`` and ``module.import_failed``
events are the report's modules and failed imports, offsets from the span's start. A lazy load
after startup is an event on whatever span was current (a request's, or a
``module.lazy_import`` span of its own) in another trace: it joins the process whose
resource (service, host, pid, ...) is the same, or a report of its own when no startup of that
resource is in the input. The ``import <module>`` spans of the waterfall repeat the events and
are not read, but for those of dependencies (``python.module.dependency``: in no event), which
join the startup of their trace; a lazy dependency load is a ``module.dependency_loaded`` event.
Anything malformed is one ``InputError`` at its line, like a bad report.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import json
import re
from typing import Any, Dict, Iterator, List, NoReturn, Optional, Tuple

from otel_import_tracer import semconv
from otel_import_tracer.reading import otlp_lazy
from otel_import_tracer.reading.files import InputError, parse_json
from otel_import_tracer.reading.records import JsonPath, Process, from_document
from otel_import_tracer.schema import SCHEMA, SCHEMA_VERSION
from otel_import_tracer.schema import report_ms as _ms

# The keys that make a JSON document a trace, and where its resourceSpans are under each.
_CONTAINERS = {"resourceSpans": (), "batches": (), "trace": ("resourceSpans",), "result": ("resourceSpans",)}
_FIRST_KEY = re.compile(rb'\{\s*"(\w+)"\s*:')
_HEX_ID = re.compile(r"[0-9a-fA-F]{32}")
_MAX_NS_DIGITS = 20  # nanoseconds since 1970 have 19
STATUS_FROM_TRACE = "from trace"  # a report's status: read back from telemetry, not written by the process


def looks_like_otlp(raw: bytes) -> bool:
    """Whether the input starts as a trace document does (``{"trace": {"resourceSpans"...``: a
    JSON log line may start with ``"trace"`` or ``"result"`` too, so those need the word)."""
    head = raw.lstrip()[:4096]
    match = _FIRST_KEY.match(head)
    if match is None:
        return False
    key = match.group(1).decode("ascii", "replace")
    return key in ("resourceSpans", "batches") or (key in _CONTAINERS and b'"resourceSpans"' in head)


def parse_otlp(text: str, path: str) -> List[Process]:
    """The processes of a trace file (one document, or JSON Lines of them)."""
    processes = _Processes(path)
    for first_line, document_text in _documents(text):
        document = parse_json(document_text, path, first_line)
        at = _Where(path, document_text, first_line)
        for resource_spans in _resource_spans(document, at):
            processes.add(resource_spans, at)
    reports = processes.reports()
    if not reports:
        raise InputError(path, None, f"no {semconv.SPAN_STARTUP} span and no {semconv.EVENT_MODULE_LOADED} event: not a trace of this tool's")
    return reports


def _documents(text: str) -> Iterator[Tuple[int, str]]:
    """(first line, text) of each JSON document: the whole text, or each line of JSON Lines."""
    stripped = text.strip()
    if "\n" not in stripped or not stripped.splitlines()[0].rstrip().endswith("}"):
        yield 1, text  # one document (perhaps pretty-printed)
        return
    for number, line in enumerate(text.splitlines(), 1):
        if line.strip():
            yield number, line


class _Where:
    """Where a document is, to name the line of a value at fault."""

    def __init__(self, path: str, text: str, first_line: int) -> None:
        self.path, self.text, self.first_line = path, text, first_line

    def fail(self, what: str) -> InputError:
        """The error, at the document's line (JSON Lines: exact; a pretty-printed document: its first)."""
        return InputError(self.path, self.first_line, f"not an OTLP trace of this tool: {what}")


def _resource_spans(document: Any, at: _Where) -> List[Any]:
    if not isinstance(document, dict):
        raise at.fail("a JSON object was expected")
    for key, below in _CONTAINERS.items():
        if key in document:
            value = document[key]
            for step in below:
                value = value.get(step, []) if isinstance(value, dict) else None
            if not isinstance(value, list):
                raise at.fail(f'"{key}" holds no list of resourceSpans')
            return value
    raise at.fail(f"none of {', '.join(_CONTAINERS)} at the top")


class _Processes:
    """The reports being built, by resource; lazy loads kept apart until every startup is known."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.startups: Dict[str, List[Dict[str, Any]]] = {}  # resource key -> report documents
        self.lazy: Dict[str, Tuple[Dict[str, Any], List[Dict[str, Any]], List[Dict[str, Any]], List[Dict[str, Any]]]] = {}
        self.dependencies: Dict[Optional[str], List[Dict[str, Any]]] = {}  # trace id -> its startup's dependency loads
        self.lazy_statements: Dict[str, List[Tuple[Any, ...]]] = {}  # resource key -> what later spans say of them

    def add(self, resource_spans: Any, at: _Where) -> None:
        resource = _attributes(_dict(_dict(resource_spans, at).get("resource", {}), at).get("attributes", []), at)
        key = json.dumps(sorted(resource.items()), default=str)
        scopes = resource_spans.get("scopeSpans", resource_spans.get("instrumentationLibrarySpans", []))
        for scope in _list(scopes, at):
            for span in _list(_dict(scope, at).get("spans", []), at):
                self._span(_dict(span, at), resource, key, at)

    def _span(self, span: Dict[str, Any], resource: Dict[str, Any], key: str, at: _Where) -> None:
        if span.get("name") == semconv.SPAN_STARTUP:
            self.startups.setdefault(key, []).append(_startup_document(span, resource, at))
            return
        if str(span.get("name", "")).startswith(semconv.SPAN_IMPORT_PREFIX):
            attributes = _attributes(span.get("attributes", []), at)
            if attributes.get(semconv.ATTR_MODULE_DEPENDENCY) is True:
                start, end = _nanoseconds(span.get("startTimeUnixNano"), at), _nanoseconds(span.get("endTimeUnixNano"), at)
                entry = _dependency(attributes, start, at, lazy=False, duration_ms=_ms(end - start))
                self.dependencies.setdefault(_trace_id(span.get("traceId"), at), []).append(entry)
                return
        for event in _list(span.get("events", []), at):
            event = _dict(event, at)
            if event.get("name") == semconv.EVENT_LAZY_NEVER_USED:
                self._lazy_statement(key, event, at, None)
                continue
            if event.get("name") not in (semconv.EVENT_MODULE_LOADED, semconv.EVENT_IMPORT_FAILED, semconv.EVENT_DEPENDENCY_LOADED):
                continue
            attributes = _attributes(event.get("attributes", []), at)
            if attributes.get(semconv.ATTR_LAZY) and attributes.get(semconv.ATTR_IMPORT_LAZY) == otlp_lazy.LAZY_REIFIED:
                self._lazy_statement(key, event, at, None if span.get("name") == semconv.SPAN_LAZY_IMPORT else _request(span, at))
            if not attributes.get(semconv.ATTR_LAZY):
                continue  # a load or failure of startup, repeated on a waterfall span: app.startup has it
            _, modules, failures, dependencies = self.lazy.setdefault(key, (resource, [], [], []))
            time_ns = _nanoseconds(event.get("timeUnixNano"), at)
            if event.get("name") == semconv.EVENT_MODULE_LOADED:
                modules.append(_module(attributes, time_ns, at, lazy=True))
            elif event.get("name") == semconv.EVENT_DEPENDENCY_LOADED:
                dependencies.append(_dependency(attributes, time_ns, at, lazy=True))
            else:
                failures.append(_failure(attributes, time_ns, at, lazy=True))

    def _lazy_statement(self, key: str, event: Dict[str, Any], at: _Where, request: Optional[Dict[str, str]]) -> None:
        """What a span after startup says of a lazy import statement: reified by a request, or never used."""
        attributes = _attributes(event.get("attributes", []), at)
        time_ns = _nanoseconds(event.get("timeUnixNano"), at)
        if event.get("name") == semconv.EVENT_LAZY_NEVER_USED:
            entry = otlp_lazy.declared_entry(attributes, event.get("attributes"), time_ns)
            if entry is not None:
                self.lazy_statements.setdefault(key, []).append((entry,))
        else:
            self.lazy_statements.setdefault(key, []).append((attributes, time_ns, request))

    def _lazy_imports(self, owners: Dict[str, Dict[str, Any]], documents: List[Dict[str, Any]]) -> None:
        """Each process's lazy import statements: its startup's, then what later spans of its resource said."""
        for key, told in self.lazy_statements.items():
            owner = owners.get(key)
            if owner is None:
                continue  # no startup or lazy load of that process in the input
            entries = owner.setdefault("_lazy", [])
            for item in told:
                if len(item) == 1:
                    otlp_lazy.never_used(entries, item[0])
                else:
                    otlp_lazy.reify(entries, *item)
        for document in documents:
            entries = document.pop("_lazy", None)
            if entries is not None or otlp_lazy.has_lazy_imports(document["python"]):
                document["lazy_imports"] = otlp_lazy.finish(entries or [], document["started_unix_ns"])

    def reports(self) -> List[Process]:
        documents = [document for key in self.startups for document in self.startups[key]]
        for document in documents:  # the waterfall's dependency spans, with the startup of their trace
            found = self.dependencies.get(document["trace_id"], [])
            for entry in found:
                entry["offset_ms"] = _ms(entry.pop("_ns") - document["started_unix_ns"])
            document["dependencies"] = sorted(found, key=lambda entry: entry["offset_ms"])
        # Several processes of one resource: what came after startup goes with the first.
        owners = {key: found[0] for key, found in self.startups.items() if found}
        for key, (resource, modules, failures, dependencies) in self.lazy.items():
            owner = owners.get(key)
            if owner is None:
                owner = _header(resource, "", None, min(entry["_ns"] for entry in modules + failures + dependencies), None)
                documents.append(owner)
                owners[key] = owner
            origin = owner["started_unix_ns"]
            for entry in modules + failures + dependencies:
                entry["offset_ms"] = _ms(entry.pop("_ns") - origin)
            owner["modules"] += modules
            owner["failed_imports"] += failures
            owner["dependencies"] += dependencies
        self._lazy_imports(owners, documents)

        def fail(at: JsonPath, message: str) -> NoReturn:
            raise InputError(self.path, None, message)

        return [from_document(self.path, document, fail) for document in documents]


def _startup_document(span: Dict[str, Any], resource: Dict[str, Any], at: _Where) -> Dict[str, Any]:
    attributes = _attributes(span.get("attributes", []), at)
    start = _nanoseconds(span.get("startTimeUnixNano"), at)
    end = _nanoseconds(span.get("endTimeUnixNano"), at)
    root = attributes.get(semconv.ATTR_TRACING_ROOT)
    if not isinstance(root, str):
        raise at.fail(f"an {semconv.SPAN_STARTUP} span without {semconv.ATTR_TRACING_ROOT}")
    document = _header(resource, root, attributes.get(semconv.ATTR_TRACING_COLLECTOR), start, _trace_id(span.get("traceId"), at))
    document["startup_complete_ms"] = _ms(end - start)
    role, command, entry = (attributes.get(name) for name in (semconv.ATTR_PROCESS_ROLE, semconv.ATTR_PROCESS_COMMAND_ARGS, semconv.ATTR_PROCESS_ENTRY))
    if isinstance(role, str):
        document["role"] = role
    if isinstance(command, list) and all(isinstance(part, str) for part in command):
        document["command"] = command
    if isinstance(entry, str):
        document["entry"] = entry
    if attributes.get(semconv.ATTR_LAZY_PLAN) is True:
        document["lazy_plan"] = True
    if attributes.get(semconv.ATTR_STARTUP_FAILED):
        status = span.get("status")
        document["startup_failure"] = status.get("message", "") if isinstance(status, dict) else ""
    for event in _list(span.get("events", []), at):
        event = _dict(event, at)
        name = event.get("name")
        if name not in (semconv.EVENT_MODULE_LOADED, semconv.EVENT_IMPORT_FAILED, semconv.EVENT_LAZY_DECLARED):
            continue
        event_attributes = _attributes(event.get("attributes", []), at)
        time_ns = _nanoseconds(event.get("timeUnixNano"), at)
        if name == semconv.EVENT_LAZY_DECLARED:  # Python 3.15+: a lazy import statement run during startup
            lazy = otlp_lazy.declared_entry(event_attributes, event.get("attributes"), time_ns)
            if lazy is not None:
                document.setdefault("_lazy", []).append(lazy)
            continue
        if name == semconv.EVENT_MODULE_LOADED:
            entry = _module(event_attributes, time_ns, at, lazy=False)
            document["modules"].append(entry)
        else:
            entry = _failure(event_attributes, time_ns, at, lazy=False)
            document["failed_imports"].append(entry)
        entry["offset_ms"] = _ms(entry.pop("_ns") - start)
    return document


def _header(resource: Dict[str, Any], root: str, collector: Any, start_ns: int, trace_id: Optional[str]) -> Dict[str, Any]:
    pid = resource.get("process.pid")
    return {
        "schema": SCHEMA,
        "schema_version": SCHEMA_VERSION,
        "service": _text(resource.get("service.name")) or None,
        "host": _text(resource.get("host.name")),
        "pid": pid if type(pid) is int else 0,
        "python": _text(resource.get("process.runtime.version")),
        "root": root,
        "collector": _text(collector),
        "trace_id": trace_id,
        "status": STATUS_FROM_TRACE,
        "started_at": datetime.datetime.fromtimestamp(start_ns / 1e9, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "started_unix_ns": start_ns,
        "startup_complete_ms": None,
        "modules": [],
        "failed_imports": [],
        "dependencies": [],
    }


def _module(attributes: Dict[str, Any], time_ns: int, at: _Where, lazy: bool) -> Dict[str, Any]:
    name, file = attributes.get(semconv.ATTR_MODULE_NAME), attributes.get(semconv.ATTR_FILE_PATH)
    if not isinstance(name, str) or not isinstance(file, str):
        raise at.fail(f"a {semconv.EVENT_MODULE_LOADED} event without {semconv.ATTR_MODULE_NAME} and {semconv.ATTR_FILE_PATH}")
    duration = attributes.get(semconv.ATTR_IMPORT_DURATION_MS)
    return _with_stack({
        "name": name,
        "file": file,
        "_ns": time_ns,
        "duration_ms": duration if isinstance(duration, (int, float)) and not isinstance(duration, bool) else None,
        "importer": _text(attributes.get(semconv.ATTR_MODULE_PARENT)) or None,
        "thread": _text(attributes.get(semconv.ATTR_THREAD_NAME)),
        "preloaded": attributes.get(semconv.ATTR_PRELOADED) is True,
        "lazy": lazy,
        "source": "trace",
    }, attributes)


def _with_stack(entry: Dict[str, Any], attributes: Dict[str, Any]) -> Dict[str, Any]:
    """The import stack's parent, from a writer that records it (its timed loads carry a self time;
    a trace from before has neither, and its importers stand in, as in older reports)."""
    if semconv.ATTR_SELF_DURATION_MS in attributes:
        entry["stack_parent"] = _text(attributes.get(semconv.ATTR_STACK_PARENT)) or None
    return entry


def _dependency(attributes: Dict[str, Any], time_ns: int, at: _Where, lazy: bool, duration_ms: Optional[float] = None) -> Dict[str, Any]:
    name, importer_file = attributes.get(semconv.ATTR_MODULE_NAME), attributes.get(semconv.ATTR_FILE_PATH)
    if not isinstance(name, str) or not isinstance(importer_file, str):
        raise at.fail(f"a dependency load without {semconv.ATTR_MODULE_NAME} and {semconv.ATTR_FILE_PATH}")
    if duration_ms is None:
        duration = attributes.get(semconv.ATTR_IMPORT_DURATION_MS)
        duration_ms = duration if isinstance(duration, (int, float)) and not isinstance(duration, bool) else None
    line = attributes.get(semconv.ATTR_LINE_NUMBER)
    return _with_stack({
        "name": name,
        "importer": _text(attributes.get(semconv.ATTR_MODULE_PARENT)) or None,
        "importer_file": importer_file,
        "line": line if type(line) is int else None,
        "_ns": time_ns,
        "duration_ms": duration_ms,
        "thread": _text(attributes.get(semconv.ATTR_THREAD_NAME)),
        "lazy": lazy,
        "distribution": None,
        "version": None,
    }, attributes)


def _failure(attributes: Dict[str, Any], time_ns: int, at: _Where, lazy: bool) -> Dict[str, Any]:
    name = attributes.get(semconv.ATTR_MODULE_NAME)
    if not isinstance(name, str):
        raise at.fail(f"a {semconv.EVENT_IMPORT_FAILED} event without {semconv.ATTR_MODULE_NAME}")
    line = attributes.get(semconv.ATTR_LINE_NUMBER)
    return {
        "name": name,
        "importer": _text(attributes.get(semconv.ATTR_MODULE_PARENT)) or None,
        "importer_file": _text(attributes.get(semconv.ATTR_FILE_PATH)) or None,
        "line": line if type(line) is int else None,
        "exception_type": _text(attributes.get(semconv.ATTR_EXCEPTION_TYPE)),
        "message": _text(attributes.get(semconv.ATTR_EXCEPTION_MESSAGE)),
        "_ns": time_ns,
        "thread": _text(attributes.get(semconv.ATTR_THREAD_NAME)),
        "lazy": lazy,
        "count": 1,
    }


def _attributes(key_values: Any, at: _Where) -> Dict[str, Any]:
    """OTLP ``[{"key": k, "value": {"stringValue": v}}]`` as ``{k: v}`` (scalars; others kept as None)."""
    attributes = {}
    for item in _list(key_values, at):
        item = _dict(item, at)
        key, value = item.get("key"), _dict(item.get("value", {}), at)
        if not isinstance(key, str):
            raise at.fail("an attribute without a key")
        attributes[key] = _value(value, at)
    return attributes


def _value(value: Dict[str, Any], at: _Where) -> Any:
    for kind in ("stringValue", "boolValue", "doubleValue"):
        if kind in value:
            return value[kind]
    if "intValue" in value:  # a string in OTLP JSON (int64), a number from some writers
        return _integer(value["intValue"], at)
    if "arrayValue" in value:  # process.command_args
        values = _dict(value["arrayValue"], at).get("values", [])
        return [_value(_dict(item, at), at) for item in _list(values, at)]
    return None


def _nanoseconds(value: Any, at: _Where) -> int:
    if value is None:
        raise at.fail("a span or event without its time")
    return _integer(value, at)


def _integer(value: Any, at: _Where) -> int:
    if type(value) is int:
        return value
    if isinstance(value, str) and 0 < len(value) <= _MAX_NS_DIGITS and value.lstrip("-").isdigit() and value.isascii():
        return int(value)
    raise at.fail(f"{str(value)[:40]!r} is not an integer")


def _request(span: Dict[str, Any], at: _Where) -> Dict[str, str]:
    """The span a lazy import was reified on (a request's), as a report names it: name and ids in hex."""
    span_id = span.get("spanId")
    if isinstance(span_id, str) and not re.fullmatch(r"[0-9a-fA-F]{16}", span_id):
        try:
            span_id = base64.b64decode(span_id, validate=True).hex()
        except (binascii.Error, ValueError):
            span_id = ""
    return {"name": _text(span.get("name")), "trace_id": _trace_id(span.get("traceId"), at) or "", "span_id": _text(span_id).lower()}


def _trace_id(value: Any, at: _Where) -> Optional[str]:
    """Hex (the Collector, Jaeger) or base64 (Tempo) -> 32 hex digits."""
    if value is None or value == "":  # the OTLP JSON examples leave ids empty
        return None
    if isinstance(value, str) and _HEX_ID.fullmatch(value):
        return value.lower()
    try:
        raw = base64.b64decode(value, validate=True) if isinstance(value, str) else b""
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != 16:
        raise at.fail(f"trace id {str(value)[:40]!r} is neither 32 hex digits nor 16 bytes in base64")
    return raw.hex()


def _dict(value: Any, at: _Where) -> Dict[str, Any]:
    if not isinstance(value, dict):
        raise at.fail(f"a JSON object was expected, not {type(value).__name__}")
    return value


def _list(value: Any, at: _Where) -> List[Any]:
    if not isinstance(value, list):
        raise at.fail(f"a JSON list was expected, not {type(value).__name__}")
    return value


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""

