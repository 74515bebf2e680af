"""A trace's lazy import statements (Python 3.15+) -> a report's ``lazy_imports`` entries, so a saved
trace or a backend gives the lazy plan, the page and the summary what the process's report gives.

What the tracer emits for a statement of the root's code (``telemetry/spans.py``, ``lazy_events.py``):

- on ``app.startup``, a ``module.lazy_declared`` event per statement run during startup, with
  ``python.import.lazy`` as it stood at startup completion: ``declared``, or ``reified`` with the
  line that forced it (``python.import.lazy.forced_at``) and the import's time;
- after startup, the load a statement's first use caused (``module.loaded`` or
  ``module.dependency_loaded``, lazy) with ``python.import.lazy = reified``,
  ``python.import.lazy.declared_at`` and ``forced_at``, on the span current then: the request;
- at stop, a ``module.lazy_never_used`` event per statement never used, on a span of its own.

A use after startup that loaded nothing (the module was already imported) sends nothing: such a
statement stays ``declared`` here where its report says ``reified``.
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Tuple

from otel_import_tracer import semconv
from otel_import_tracer.reading.records import LAZY_DECLARED, LAZY_NEVER, LAZY_REIFIED
from otel_import_tracer.schema import report_ms

LAZY_EVENTS = (semconv.EVENT_LAZY_DECLARED, semconv.EVENT_LAZY_NEVER_USED)


def has_lazy_imports(python: str) -> bool:
    """Whether a process of this ``process.runtime.version`` could have lazy import statements (3.15+)."""
    parts = python.split(".")
    try:
        return (int(parts[0]), int(parts[1])) >= (3, 15)
    except (ValueError, IndexError):
        return False


def declared_entry(attributes: Dict[str, Any], raw: Any, time_ns: int) -> Optional[Dict[str, Any]]:
    """A ``module.lazy_declared`` or ``module.lazy_never_used`` event's statement as a report entry
    (``_ns``: its time, made an offset by the caller), or None if the event does not name one."""
    name, file = attributes.get(semconv.ATTR_MODULE_NAME), attributes.get(semconv.ATTR_FILE_PATH)
    if not isinstance(name, str) or not isinstance(file, str):
        return None
    line = attributes.get(semconv.ATTR_LINE_NUMBER)
    state = attributes.get(semconv.ATTR_IMPORT_LAZY)
    entry = _entry(name, _fromlist(raw), _text(attributes.get(semconv.ATTR_MODULE_PARENT)) or None, file,
                   line if type(line) is int else None, _text(attributes.get(semconv.ATTR_THREAD_NAME)), time_ns)
    if state == LAZY_REIFIED:  # during startup: app.startup says so only for those
        _reified(entry, attributes, after_startup=False, request=None)
    elif state == LAZY_NEVER:
        entry["state"] = LAZY_NEVER
    return entry


def reify(entries: List[Dict[str, Any]], attributes: Dict[str, Any], time_ns: int, request: Optional[Dict[str, str]]) -> None:
    """A load after startup that a statement's first use caused: that statement (by where it is) is
    reified after startup, by ``request``; a statement declared after startup is added."""
    declared_at = attributes.get(semconv.ATTR_LAZY_DECLARED_AT)
    if not isinstance(declared_at, str):
        return
    name = _text(attributes.get(semconv.ATTR_MODULE_NAME))
    entry = _find(entries, declared_at, name)
    if entry is None:
        file, line = _split(declared_at)
        entry = _entry(name, [], None, file, line, _text(attributes.get(semconv.ATTR_THREAD_NAME)), time_ns)
        entries.append(entry)
    if entry["state"] != LAZY_REIFIED:
        entry["reified_ms"] = time_ns
        _reified(entry, attributes, after_startup=True, request=request)


def never_used(entries: List[Dict[str, Any]], entry: Dict[str, Any]) -> None:
    """A ``module.lazy_never_used`` statement: the one declared at startup made ``never``, or added."""
    found = _find(entries, f"{entry['file']}:{entry['line']}", entry["name"])
    if found is None:
        entries.append(entry)
    elif found["state"] == LAZY_DECLARED:
        found["state"] = LAZY_NEVER


def finish(entries: List[Dict[str, Any]], origin_ns: int) -> List[Dict[str, Any]]:
    """The entries with their times as offsets from the process's start, in declaration order."""
    for entry in entries:
        entry["declared_ms"] = report_ms(entry.pop("_ns") - origin_ns)
        if entry["reified_ms"] is not None:
            entry["reified_ms"] = report_ms(entry["reified_ms"] - origin_ns)
    entries.sort(key=lambda entry: entry["declared_ms"])
    return entries


def _entry(name: str, fromlist: List[str], importer: Optional[str], file: str, line: Optional[int], thread: str,
           time_ns: int) -> Dict[str, Any]:
    return {"name": name, "fromlist": fromlist, "importer": importer, "file": file, "line": line, "_ns": time_ns,
            "thread": thread, "state": LAZY_DECLARED, "after_startup": None, "reified_ms": None, "duration_ms": None,
            "loaded": None, "forced_by": None, "forced_file": None, "forced_line": None, "forced_thread": None, "request": None}


def _reified(entry: Dict[str, Any], attributes: Dict[str, Any], after_startup: bool, request: Optional[Dict[str, str]]) -> None:
    entry["state"] = LAZY_REIFIED
    entry["after_startup"] = after_startup
    duration = attributes.get(semconv.ATTR_IMPORT_DURATION_MS)
    if isinstance(duration, (int, float)) and not isinstance(duration, bool):
        entry["duration_ms"] = round(duration, 3)
    forced = attributes.get(semconv.ATTR_LAZY_FORCED_AT)
    if isinstance(forced, str):
        entry["forced_file"], entry["forced_line"] = _split(forced)
    entry["request"] = request


def _find(entries: List[Dict[str, Any]], declared_at: str, name: str) -> Optional[Dict[str, Any]]:
    """The statement declared at ``declared_at``; of several on one line, the one naming ``name`` or a package of it."""
    found = [entry for entry in entries if f"{entry['file']}:{entry['line']}" == declared_at]
    for entry in found:
        if entry["name"] == name or name.startswith(entry["name"] + ".") or entry["name"].startswith(name + "."):
            return entry
    return found[0] if found else None


def _split(where: str) -> Tuple[str, Optional[int]]:
    file, _, line = where.rpartition(":")
    return (file, int(line)) if file and line.isdigit() else (where, None)


def _fromlist(raw: Any) -> List[str]:
    """``python.import.lazy.fromlist`` of an event's raw OTLP attributes (an array of strings)."""
    for item in raw if isinstance(raw, list) else []:
        if isinstance(item, dict) and item.get("key") == semconv.ATTR_LAZY_FROMLIST:
            value = item.get("value")
            array = value.get("arrayValue") if isinstance(value, dict) else None
            values = array.get("values", []) if isinstance(array, dict) else []
            return [v["stringValue"] for v in values if isinstance(v, dict) and isinstance(v.get("stringValue"), str)]
    return []


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""
