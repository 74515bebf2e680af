"""The JSON report, the writing side: build it from a snapshot of the session, write it atomically.

One report per process (``IMPORT_TRACING_REPORT``, ``{pid}`` filled in). It is written when
startup completes and again at stop, each time to a temporary file renamed over the
report, so a reader never sees half a document and a kill at any moment after startup
leaves the last complete one. The layout puts one module per line, so the line numbers
in error messages point at the entry at fault. Reading it back is the reading side's
(``otel_import_tracer.reading.report``).
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import json
import os
import platform
import re
import stat
import threading
from typing import Any, Callable, Dict, Iterator, Optional, Tuple

from otel_import_tracer import env, messages
from otel_import_tracer.atomic import NOT_REGULAR, alive_elsewhere, hostname, write_text
from otel_import_tracer.config import IMPORT_TRACING_REPORT, Config
from otel_import_tracer.schema import READABLE_VERSIONS, SCHEMA, SCHEMA_VERSION, STATUS_RUNNING, STATUS_STOPPED
from otel_import_tracer.report_entries import dependency_entries, failure_entry, lazy_import_entry, module_entry
from otel_import_tracer.schema import report_ms as _ms
from otel_import_tracer.version import __version__

__all__ = ["READABLE_VERSIONS", "SCHEMA", "SCHEMA_VERSION", "STATUS_RUNNING", "STATUS_STOPPED", "Snapshot", "Written",
           "build_document", "claim", "dumps", "write_document", "write_report", "write_text"]

_LIST_KEYS = ("modules", "failed_imports", "dependencies")

# -- building and writing ---------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Snapshot:
    """What a report says of a tracing session, taken at one moment: the writer never holds the session."""

    root: str
    collector: str
    running: bool
    role: Optional[str]  # semconv.ROLE_*: server, worker, supervisor, script (kind.role_of)
    started_ns: int
    complete_ns: Optional[int]
    startup_failure: Optional[str]  # lifespan.startup.failed's message
    taken_ns: int
    loads: Tuple[Any, ...]  # the registry's ModuleLoad records
    failures: Tuple[Tuple[Any, int], ...]  # (FailedImport, occurrences)
    dependencies: Tuple[Any, ...]  # DependencyLoad records
    tracer_imports: Tuple[Any, ...] = ()  # (step, modules, start_ns, duration_ns): Registry.note_tracer_imports
    lazy_imports: Tuple[Any, ...] = ()  # LazyImport records (Python 3.15+)
    command: Tuple[str, ...] = ()  # the command line, bounded, secrets redacted (kind.command)
    entry: Optional[str] = None  # what ran as __main__ (kind.entry)
    lazy_plan: bool = False  # plan mode (IMPORT_TRACING_LAZY_PLAN): the tracer made the root's imports lazy

    @classmethod
    def of(cls, registry: Any, collector: str, running: bool, role: Optional[str] = None) -> "Snapshot":
        from otel_import_tracer import kind

        return cls(
            registry.root.root, collector, running, role, registry.started_ns, registry.startup_complete_ns,
            registry.startup_failure, registry.now_ns(), tuple(registry.loads()),
            tuple((failure, registry.failure_count(failure)) for failure in registry.failures()), tuple(registry.dependencies()),
            tuple(getattr(registry, "tracer_imports", ())), tuple(registry.lazy_imports()),
            tuple(kind.command()), kind.entry(registry.root.root), registry.lazy_plan,
        )


def build_document(snapshot: Snapshot, trace_id: Optional[str] = None) -> Dict[str, Any]:
    """The report of a session as the snapshot saw it."""
    origin = snapshot.started_ns
    complete = snapshot.complete_ns
    document: Dict[str, Any] = {
        "schema": SCHEMA,
        "schema_version": SCHEMA_VERSION,
        "tool_version": __version__,
        "service": _service_name(),
        "host": hostname(),
        "pid": os.getpid(),
        "python": platform.python_version(),
        "root": snapshot.root,
        "collector": snapshot.collector,
        "trace_id": trace_id,
        "status": STATUS_RUNNING if snapshot.running else STATUS_STOPPED,
        "started_at": _iso(origin),
        "started_unix_ns": origin,
        "startup_complete_ms": None if complete is None else _ms(complete - origin),
        "startup_failure": snapshot.startup_failure,
        "written_at": _iso(snapshot.taken_ns),
        "modules": [module_entry(load, origin) for load in snapshot.loads],
        "failed_imports": [failure_entry(failure, origin, count) for failure, count in snapshot.failures],
        "dependencies": dependency_entries(list(snapshot.dependencies), origin, resolve=not snapshot.running),
        "role": snapshot.role,
        "command": list(snapshot.command),
        "entry": snapshot.entry,
        # Imported by the tracer (its start, its export), not the application: not in its totals.
        "tracer_imports": [{"step": step, "modules": list(names), "offset_ms": _ms(start - origin), "duration_ms": _ms(duration)}
                           for step, names, start, duration in snapshot.tracer_imports],
    }
    if env.HAS_LAZY_IMPORTS:  # Python 3.15+: the root's lazy import statements (absent before: none could be)
        document["lazy_imports"] = [lazy_import_entry(lazy, origin) for lazy in snapshot.lazy_imports]
        document["lazy_plan"] = snapshot.lazy_plan
    return document


# Writers in several threads (startup, the export thread adding the trace id, stop): whoever
# builds the document later also renames it later, so an older document never replaces a newer.
# Reentrant, for a signal handler that writes while its thread was writing.
_write_lock = threading.RLock()


def _new_write_lock() -> None:
    global _write_lock
    _write_lock = threading.RLock()  # a forked child must not inherit a lock held by a parent's thread


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_new_write_lock)


@dataclasses.dataclass(frozen=True)
class Written:
    """What a write did: the path claimed for the session (kept for its next writes) and the path written."""

    claimed: Optional[str]  # decided at the first write ('' refused: never written); None until then
    path: Optional[str]  # written this time, or None


def write_report(take: Callable[[], Snapshot], config: Config, claimed: Optional[str], trace_id: Optional[str] = None) -> Written:
    """Write a session's report from the snapshot ``take()`` returns; never raises.

    ``claimed``: what the session's previous write returned (None at the first). The path is decided
    at the first write (``claim``) and kept for the session. The snapshot is taken under the write
    lock, so that whoever takes a later snapshot also renames its document later."""
    if not config.report:
        return Written(claimed, None)
    path = claimed
    try:
        with _write_lock:
            if path is None:
                wanted = config.report_path()
                # The first write claims the path, one process at a time: workers start together.
                with _directory_lock(os.path.dirname(os.path.abspath(wanted))):
                    path = claim(wanted, "{pid}" in config.report)
                    if path:
                        try:
                            write_document(build_document(take(), trace_id), path, replace_ours=True)
                        except Exception as exc:
                            _failed(path, config, exc)
                            return Written(path, None)
                return Written(path, path or None)
            if not path:
                return Written(path, None)
            write_document(build_document(take(), trace_id), path, replace_ours=True)
        return Written(path, path)
    except Exception as exc:  # never break the host application over a report
        _failed(path, config, exc)
        return Written(path, None)


def _failed(path: Optional[str], config: Config, exc: Exception) -> None:
    messages.warn(
        "report-failed",
        f"the import report could not be written to {path or config.report_path()!r} ({exc}); set "
        f"{IMPORT_TRACING_REPORT} to a file in a writable directory.",
    )


def claim(path: str, per_process: bool) -> str:
    """Where this process's report goes: ``path`` unless a live process of this host writes there
    (several workers given one path without ``{pid}``), then ``path`` with our pid, said once.

    A path that names something other than a report of ours (a FIFO, a device, somebody's file)
    is refused: '' and a warning. A symlink is followed: the report goes to its target."""
    path = os.path.realpath(path)
    problem = _not_ours(path)
    if problem:
        messages.warn("report-refused", f"{IMPORT_TRACING_REPORT}: {path} {problem}; no report is written there.")
        return ""
    owner = _owner(path)
    if per_process or owner is None or not alive_elsewhere(*owner):
        return path
    stem, suffix = os.path.splitext(path)
    mine = f"{stem}.{os.getpid()}{suffix or '.json'}"
    messages.warn(
        "report-shared",
        f"{IMPORT_TRACING_REPORT}={path} is written by another process too (pid {owner[0]}), so this one "
        f"(pid {os.getpid()}) writes {mine}; put {{pid}} in the path to name them yourself.",
    )
    return mine


@contextlib.contextmanager
def _directory_lock(directory: str) -> Iterator[None]:
    """An advisory lock on the report's directory itself (no lock file left behind); bounded."""
    from otel_import_tracer import locking

    try:
        os.makedirs(directory, exist_ok=True)
    except OSError:  # the write will say why
        pass
    with locking.directory_lock(directory, 2.0):
        yield


_HEAD_BYTES = 4096
_HEAD_FIELD = re.compile(rb'^  "(schema|host|pid)": ("[^"]*"|\d+),?$', re.MULTILINE)


def _head(path: str) -> Dict[str, Any]:
    """The first fields of a report file (``dumps`` writes one per line), or {} if none are."""
    try:
        with open(path, "rb") as stream:
            head = stream.read(_HEAD_BYTES)
    except OSError:
        return {}
    fields = {}
    for match in _HEAD_FIELD.finditer(head):
        try:
            fields[match.group(1).decode()] = json.loads(match.group(2))
        except ValueError:
            pass
    return fields




def _not_ours(path: str) -> str:
    """Why ``path`` must not be replaced by a report, or '' (it does not exist, or is a report)."""
    try:
        status = os.stat(path)
    except OSError:  # absent, or its directory is not one: the write will say what is wrong
        return ""
    if not stat.S_ISREG(status.st_mode):
        return NOT_REGULAR
    if status.st_size and _head(path).get("schema") != SCHEMA:
        return "exists and is not an otel-import-tracer report"
    return ""


def _owner(path: str) -> Optional[Tuple[int, str]]:
    fields = _head(path)
    pid, host = fields.get("pid"), fields.get("host")
    return (pid, host) if isinstance(pid, int) and isinstance(host, str) else None


def write_document(document: Dict[str, Any], path: str, replace_ours: bool = False) -> None:
    """Write ``document`` to ``path`` atomically (``write_text``)."""
    write_text(dumps(document), path, regular_only=replace_ours)


def dumps(document: Dict[str, Any]) -> str:
    """JSON with one top-level field per line and one list entry (module, failure) per line."""
    parts = []
    for key, value in document.items():
        if key in _LIST_KEYS and isinstance(value, list) and value:
            entries = ",\n".join("    " + json.dumps(entry) for entry in value)
            parts.append(f"  {json.dumps(key)}: [\n{entries}\n  ]")
        else:
            parts.append(f"  {json.dumps(key)}: {json.dumps(value)}")
    return "{\n" + ",\n".join(parts) + "\n}\n"


def _service_name() -> Optional[str]:
    """``OTEL_SERVICE_NAME``, else ``service.name`` in ``OTEL_RESOURCE_ATTRIBUTES`` (the SDK's order)."""
    name = os.environ.get("OTEL_SERVICE_NAME", "").strip()
    if name:
        return name
    for pair in os.environ.get("OTEL_RESOURCE_ATTRIBUTES", "").split(","):
        key, _, value = pair.partition("=")
        if key.strip() == "service.name" and value.strip():
            return value.strip()
    return None


def _iso(unix_ns: int) -> str:
    moment = datetime.datetime.fromtimestamp(unix_ns / 1e9, tz=datetime.timezone.utc)
    return moment.isoformat(timespec="microseconds").replace("+00:00", "Z")
