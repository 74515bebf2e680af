"""The JSON report: build it from a session, write it atomically, read it back strictly, merge many.

One report per process (``IMPORT_TRACING_REPORT``, ``{pid}`` filled in). It is written when
startup completes and again at stop, each time to a temporary file renamed over the
report, so a reader never sees half a document and a kill at any moment after startup
leaves the last complete one. The layout puts one module per line, so the line numbers
in error messages point at the entry at fault.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import errno
import json
import math
import operator
import os
import platform
import re
import socket
import stat
import sys
import threading
from typing import Any, BinaryIO, Callable, Dict, FrozenSet, Iterable, Iterator, List, NoReturn, Optional, Tuple, Union

from otel_import_tracer import messages
from otel_import_tracer.config import IMPORT_TRACING_REPORT
from otel_import_tracer.version import __version__

SCHEMA = "otel-import-tracer/report"
SCHEMA_VERSION = 2
"""Bumped on any change a reader of the previous version would misread. 2: ``dependencies``."""
READABLE_VERSIONS = (1, 2)  # version 1 has no dependencies: read as none

STATUS_RUNNING = "running"  # written at startup completion; the process went on serving
STATUS_STOPPED = "stopped"  # written at stop: lazy imports up to the end are included

_LIST_KEYS = ("modules", "failed_imports", "dependencies")
_NUMBER = (int, float)
_NS_PER_MS = 1_000_000

# Field name -> accepted types (None: the value may be null). Extra fields are allowed,
# so a later writer can add some without bumping the version.
_HEADER_FIELDS: Dict[str, Tuple[Any, ...]] = {
    "service": (str, None),
    "host": (str,),
    "pid": (int,),
    "python": (str,),
    "root": (str,),
    "collector": (str,),
    "trace_id": (str, None),
    "status": (str,),
    "started_at": (str,),
    "started_unix_ns": (int,),
    "startup_complete_ms": (_NUMBER, None),
    "modules": (list,),
    "failed_imports": (list,),
}
_MODULE_FIELDS: Dict[str, Tuple[Any, ...]] = {
    "name": (str,),
    "file": (str,),
    "offset_ms": (_NUMBER,),
    "duration_ms": (_NUMBER, None),
    "importer": (str, None),
    "thread": (str,),
    "preloaded": (bool,),
    "lazy": (bool,),
    "source": (str,),
}
_FAILURE_FIELDS: Dict[str, Tuple[Any, ...]] = {
    "name": (str,),
    "importer": (str, None),
    "importer_file": (str, None),
    "line": (int, None),
    "exception_type": (str,),
    "message": (str,),
    "offset_ms": (_NUMBER,),
    "thread": (str,),
    "lazy": (bool,),
}

_DEPENDENCY_FIELDS: Dict[str, Tuple[Any, ...]] = {
    "name": (str,),
    "importer": (str, None),
    "importer_file": (str,),
    "line": (int, None),
    "offset_ms": (_NUMBER,),
    "duration_ms": (_NUMBER, None),
    "thread": (str,),
    "lazy": (bool,),
    "distribution": (str, None),
    "version": (str, None),
}

JsonPath = Tuple[Union[str, int], ...]


class InputError(Exception):
    """A bad input file: where it is bad (``line`` None when no line applies) and why."""

    def __init__(self, path: str, line: Optional[int], message: str) -> None:
        super().__init__(path, line, message)
        self.path = path
        self.line = line
        self.message = message

    def __str__(self) -> str:
        where = self.path if self.line is None else f"{self.path}:{self.line}"
        return f"{where}: {self.message}"


# -- building and writing ---------------------------------------------------------------


def build_document(session: Any, trace_id: Optional[str] = None) -> Dict[str, Any]:
    """The report of a ``TracingSession`` as it stands now."""
    registry = session.registry
    origin = registry.started_ns
    complete = registry.startup_complete_ns
    return {
        "schema": SCHEMA,
        "schema_version": SCHEMA_VERSION,
        "tool_version": __version__,
        "service": _service_name(),
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "python": platform.python_version(),
        "root": session.root.root,
        "collector": session.collector,
        "trace_id": trace_id,
        "status": STATUS_RUNNING if session.running else STATUS_STOPPED,
        "started_at": _iso(origin),
        "started_unix_ns": origin,
        "startup_complete_ms": None if complete is None else _ms(complete - origin),
        "startup_failure": registry.startup_failure,  # lifespan.startup.failed's message
        "written_at": _iso(registry.now_ns()),
        "modules": [_module_entry(load, origin) for load in registry.loads()],
        "failed_imports": [
            _failure_entry(failure, origin, registry.failure_count(failure)) for failure in registry.failures()
        ],
        "dependencies": _dependency_entries(registry.dependencies(), origin, resolve=not session.running),
        "role": getattr(session, "role", None),  # "supervisor", or null: a server of the application
    }


# Writers in several threads (startup, the export thread adding the trace id, stop): whoever
# builds the document later also renames it later, so an older document never replaces a newer.
# Reentrant, for a signal handler that writes while its thread was writing.
_write_lock = threading.RLock()


def _new_write_lock() -> None:
    global _write_lock
    _write_lock = threading.RLock()  # a forked child must not inherit a lock held by a parent's thread


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_new_write_lock)


def write_session_report(session: Any, trace_id: Optional[str] = None) -> Optional[str]:
    """Write the session's report; the path written, or None. Never raises.

    The path is decided at the first write (``claim``) and kept for the session."""
    if not session.config.report:
        return None
    path = getattr(session, "report_path", None)
    try:
        with _write_lock:
            if path is None:
                wanted = session.config.report_path()
                # The first write claims the path, one process at a time: workers start together.
                with _directory_lock(os.path.dirname(os.path.abspath(wanted))):
                    path = session.report_path = claim(wanted, "{pid}" in session.config.report)
                    if path:
                        write_document(build_document(session, trace_id), path, replace_ours=True)
                return path or None
            if not path:
                return None
            write_document(build_document(session, trace_id), path, replace_ours=True)
        return path
    except Exception as exc:  # never break the host application over a report
        messages.warn(
            "report-failed",
            f"the import report could not be written to {path or session.config.report_path()!r} ({exc}); set "
            f"{IMPORT_TRACING_REPORT} to a file in a writable directory.",
        )
        return None


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
    if per_process or owner is None or not _alive_elsewhere(*owner):
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


_NOT_REGULAR = "is not a regular file (a FIFO, a device or a directory)"


def _not_ours(path: str) -> str:
    """Why ``path`` must not be replaced by a report, or '' (it does not exist, or is a report)."""
    try:
        status = os.stat(path)
    except OSError:  # absent, or its directory is not one: the write will say what is wrong
        return ""
    if not stat.S_ISREG(status.st_mode):
        return _NOT_REGULAR
    if status.st_size and _head(path).get("schema") != SCHEMA:
        return "exists and is not an otel-import-tracer report"
    return ""


def _owner(path: str) -> Optional[Tuple[int, str]]:
    fields = _head(path)
    pid, host = fields.get("pid"), fields.get("host")
    return (pid, host) if isinstance(pid, int) and isinstance(host, str) else None


def _alive_elsewhere(pid: int, host: str) -> bool:
    """A process other than this one, alive on this host (on another host: assume alive)."""
    if pid == os.getpid() and host == socket.gethostname():
        return False
    if host != socket.gethostname():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # PermissionError: it exists, under another user
        return True
    return True


def _temporary_name(path: str, pid: int) -> str:
    directory, name = os.path.split(path)
    return os.path.join(directory, f".{name}.{pid}.tmp")


_TEMPORARY = re.compile(r"^\.(?P<name>.+)\.(?P<pid>\d+)\.tmp$")


def _remove_stale_temporaries(path: str) -> None:
    """A process killed while rewriting its report leaves ``.<name>.<pid>.tmp``: remove those of dead pids."""
    directory, name = os.path.split(path)
    try:
        entries = os.listdir(directory or os.curdir)
    except OSError:
        return
    for entry in entries:
        match = _TEMPORARY.match(entry)
        if match and match.group("name") == name and not _alive_elsewhere(int(match.group("pid")), socket.gethostname()):
            _remove_quietly(os.path.join(directory, entry))


def write_document(document: Dict[str, Any], path: str, replace_ours: bool = False) -> None:
    """Write ``document`` to ``path`` atomically (``write_text``)."""
    write_text(dumps(document), path, regular_only=replace_ours)


def write_text(text: str, path: str, regular_only: bool = False) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically: a temporary file beside it, then a rename.

    A failed write leaves what was at ``path`` as it was. The new file gets the mode of the one it
    replaces, or the umask's (``0o666 & ~umask``). A symlink at ``path`` is replaced, not followed:
    pass its ``os.path.realpath`` to write its target. ``regular_only``: refuse (raise) when
    ``path`` is not a regular file (a FIFO, a device, a directory). First removes the temporaries
    that processes killed while writing ``path`` left (``_remove_stale_temporaries``)."""
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    _remove_stale_temporaries(os.path.abspath(path))
    mode = None
    try:
        status = os.stat(path)
        if regular_only and not stat.S_ISREG(status.st_mode):
            raise OSError(errno.EINVAL, _NOT_REGULAR, path)
        mode = stat.S_IMODE(status.st_mode)
    except FileNotFoundError:
        pass
    temp = _temporary_name(os.path.abspath(path), os.getpid())
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0), 0o666)
    try:
        if mode is not None:
            os.fchmod(fd, mode)
        with os.fdopen(fd, "w", encoding="utf-8") as stream:
            stream.write(text)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temp, path)
    except BaseException:
        _remove_quietly(temp)
        raise


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


def _module_entry(load: Any, origin_ns: int) -> Dict[str, Any]:
    duration = load.duration_ns
    return {
        "name": load.name,
        "file": load.file,
        "offset_ms": _ms(load.start_ns - origin_ns),
        "duration_ms": None if duration is None else _ms(duration),
        "importer": load.parent,
        "thread": load.thread,
        "preloaded": load.preloaded,
        "lazy": load.lazy,
        "source": load.source,
    }


def _failure_entry(failure: Any, origin_ns: int, count: int) -> Dict[str, Any]:
    return {
        "name": failure.name,
        "importer": failure.importer,
        "importer_file": failure.importer_file,
        "line": failure.line,
        "exception_type": failure.exception_type,
        "message": failure.message,
        "offset_ms": _ms(failure.time_ns - origin_ns),
        "thread": failure.thread,
        "lazy": failure.lazy,
        "count": count,  # occurrences of this failure (what, where); the first one is described
    }


def _dependency_entries(dependencies: List[Any], origin_ns: int, resolve: bool) -> List[Dict[str, Any]]:
    """The dependency loads; with ``resolve`` (at stop: it reads the installed distributions'
    metadata once, off the startup path) each with the distribution that provides it."""
    provided: Callable[[str], Tuple[Optional[str], Optional[str]]] = lambda name: (None, None)
    if resolve and dependencies:
        from otel_import_tracer import distributions

        found = distributions.of_all(dependency.name for dependency in dependencies)
        provided = found.__getitem__
    entries = []
    for dependency in dependencies:
        duration = dependency.duration_ns
        distribution, version = provided(dependency.name)
        entries.append({
            "name": dependency.name,
            "importer": dependency.importer,
            "importer_file": dependency.importer_file,
            "line": dependency.line,
            "offset_ms": _ms(dependency.start_ns - origin_ns),
            "duration_ms": None if duration is None else _ms(duration),
            "thread": dependency.thread,
            "lazy": dependency.lazy,
            "distribution": distribution,
            "version": version,
        })
    return entries


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


def _ms(ns: int) -> float:
    return round(ns / _NS_PER_MS, 3)


def _iso(unix_ns: int) -> str:
    moment = datetime.datetime.fromtimestamp(unix_ns / 1e9, tz=datetime.timezone.utc)
    return moment.isoformat(timespec="microseconds").replace("+00:00", "Z")


def _remove_quietly(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


# -- reading ----------------------------------------------------------------------------


@dataclasses.dataclass
class Report:
    """A report read back and checked: its file name and its document."""

    path: str
    data: Dict[str, Any]

    @property
    def root(self) -> str:
        return self.data["root"]

    @property
    def modules(self) -> List[Dict[str, Any]]:
        return self.data["modules"]

    @property
    def failed_imports(self) -> List[Dict[str, Any]]:
        return self.data["failed_imports"]

    @property
    def dependencies(self) -> List[Dict[str, Any]]:
        """Dependency loads (none in a version 1 report)."""
        return self.data.get("dependencies") or []


MAX_INPUT_BYTES = 1 << 30
"""A report or log larger than this is refused: 1 GiB is about 4 million modules."""
_MAX_INT_DIGITS = 30  # nanoseconds since 1970 have 19; Python refuses past 4,300
_MAX_DEPTH = 100  # a report nests 3 deep; json.loads recurses, and fails past about 1,000


def read_bytes(path: str, stream: Optional[BinaryIO] = None) -> bytes:
    """The bytes of an input file (or of ``stream``), refused past ``MAX_INPUT_BYTES``."""
    try:
        if stream is None:
            with open(path, "rb") as opened:
                return read_bytes(path, opened)
        return _read_at_most(stream, path)
    except OSError as exc:
        raise InputError(path, None, f"cannot read: {exc.strerror or exc}") from None


def _read_at_most(stream: BinaryIO, path: str) -> bytes:
    """All of ``stream``: a regular file by its size, a pipe a megabyte at a time (``read(limit)``
    would allocate the whole limit up front)."""
    too_large = InputError(path, None, f"larger than {MAX_INPUT_BYTES >> 20} MB: not a report or log of this tool (or split it)")
    try:
        status = os.fstat(stream.fileno())
    except (OSError, AttributeError, ValueError):  # io.BytesIO and the like
        status = None
    if status is not None and stat.S_ISREG(status.st_mode):
        if status.st_size > MAX_INPUT_BYTES:
            raise too_large
        return stream.read()
    data = bytearray()
    while True:
        chunk = stream.read(1 << 20)
        if not chunk:
            return bytes(data)
        data += chunk
        if len(data) > MAX_INPUT_BYTES:
            raise too_large


def read_report(path: str) -> Report:
    """Read and check the report at ``path``; raises ``InputError`` naming the file and line."""
    return parse_report_text(decode_report(read_bytes(path), path), path)


def parse_report(raw: bytes, path: str) -> Report:
    """Check a report's bytes; ``path`` is only used in error messages."""
    return parse_report_text(decode_report(raw, path), path)


def parse_report_text(text: str, path: str) -> Report:
    """``parse_report`` of text already decoded: a caller that drops the bytes first holds one
    copy of a 100 MB report while its document is built, not two."""
    if not text or text.isspace():
        raise InputError(path, 1, "the file is empty: the process may have been killed before its report was written")
    data = parse_json(text, path, object_hook=_shared_values)
    _check_report(data, text, path)
    return Report(path, data)


def parse_json(text: str, path: str, first_line: int = 1, object_hook: Optional[Callable[[Dict[str, Any]], Any]] = None) -> Any:
    """``json.loads`` of an input: bad JSON, a value no input of ours holds (``NaN``,
    ``Infinity``, a number too large) and nesting deeper than json reads are each one
    ``InputError`` at their line (``first_line``: the line of the file ``text`` starts at)."""
    try:
        return json.loads(text, parse_int=_parse_int, parse_float=_parse_float, parse_constant=_parse_constant, object_hook=object_hook)
    except json.JSONDecodeError as err:
        raise InputError(path, first_line - 1 + err.lineno, _json_problem(err, text)) from None
    except _Refused as refused:
        raise InputError(path, first_line - 1 + refused.line_in(text), refused.message) from None
    except RecursionError:
        raise InputError(path, first_line - 1 + _too_deep_at(text), f"JSON nested more than {_MAX_DEPTH} deep: not an input of this tool") from None


class _Refused(Exception):
    """A JSON value no report holds (``NaN``, ``Infinity``, a number too large); found again by its text."""

    def __init__(self, token: str, message: str) -> None:
        super().__init__(message)
        self.token = token
        self.message = message

    def line_in(self, text: str) -> int:
        found = re.search(r"[\[:,]\s*" + re.escape(self.token) + r"(?![\w.])", text)
        return text.count("\n", 0, found.end()) + 1 if found else 1


def _parse_int(token: str) -> int:
    if len(token) > _MAX_INT_DIGITS:
        raise _Refused(token, f"an integer of {len(token)} digits: no field of a report is that large")
    return int(token)


def _parse_float(token: str) -> float:
    value = float(token)
    if not math.isfinite(value):
        raise _Refused(token, f"the number {token[:40]} is too large: no field of a report is that large")
    return value


def _parse_constant(token: str) -> NoReturn:
    raise _Refused(token, f"{token} is not a number a report holds (JSON has no NaN or Infinity)")


# Values every module entry repeats: one string object for all, not one per entry (a
# 441,000-module report holds the same thread name, source and importers that many times).
_SHARED_KEYS = ("thread", "source", "importer")


def _shared_values(entry: Dict[str, Any]) -> Dict[str, Any]:
    for key in _SHARED_KEYS:
        value = entry.get(key)
        if type(value) is str and len(value) < 200:
            entry[key] = sys.intern(value)
    return entry


_TOKENS = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{}]')


def _too_deep_at(text: str) -> int:
    """The line where the nesting first passes ``_MAX_DEPTH``, strings skipped."""
    depth = 0
    for token in _TOKENS.finditer(text):
        mark = token.group()
        if mark in "[{":
            depth += 1
            if depth > _MAX_DEPTH:
                return text.count("\n", 0, token.start()) + 1
        elif mark in "]}":
            depth -= 1
    return 1


def decode_report(raw: bytes, path: str) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as err:
        line = raw.count(b"\n", 0, err.start) + 1
        raise InputError(path, line, "not UTF-8 text: this is not a JSON report") from None


def _json_problem(err: json.JSONDecodeError, text: str) -> str:
    end = text.rstrip()
    if err.pos >= len(end) or not end.endswith("}"):
        return "the JSON ends early: the file is truncated (an incomplete copy, or a full disk)"
    return f"not valid JSON: {err.msg} (column {err.colno})"


def _check_report(data: Any, text: str, path: str) -> None:
    def fail(at: JsonPath, message: str) -> NoReturn:
        raise InputError(path, line_of(text, at), message)

    if not isinstance(data, dict) or data.get("schema") != SCHEMA:
        fail((), f"not an otel-import-tracer report (no \"schema\": \"{SCHEMA}\" field)")
    version = data.get("schema_version")
    if type(version) is not int or version not in READABLE_VERSIONS:
        fail(("schema_version",), _version_problem(version))
    _check_fields(data, _HEADER_FIELDS, (), fail)
    if "dependencies" in data and not isinstance(data["dependencies"], list):
        fail(("dependencies",), f"{_where(('dependencies',))} should be a list, not {json.dumps(data['dependencies'])[:40]}")
    for key, fields, shape in (("modules", _MODULE_FIELDS, _MODULE_SHAPE), ("failed_imports", _FAILURE_FIELDS, _FAILURE_SHAPE),
                               ("dependencies", _DEPENDENCY_FIELDS, _DEPENDENCY_SHAPE)):
        entries = data.get(key, [])
        if not shape.fits_all(entries):  # the fast check says no: find the entry and say why
            for index, entry in enumerate(entries):
                _check_fields(entry, fields, (key, index), fail)


def _version_problem(version: Any) -> str:
    if isinstance(version, int) and not isinstance(version, bool) and version > SCHEMA_VERSION:
        return (
            f"report schema version {version} is newer than this otel-import-tracer ({__version__}) "
            f"reads (version {SCHEMA_VERSION}); upgrade otel-import-tracer"
        )
    return (
        f"report schema version {version!r} is not supported (this otel-import-tracer reads "
        f"versions {', '.join(map(str, READABLE_VERSIONS))}); write the report again with a matching otel-import-tracer"
    )


def _check_fields(
    entry: Any, fields: Dict[str, Tuple[Any, ...]], at: JsonPath, fail: Callable[[JsonPath, str], NoReturn]
) -> None:
    if not isinstance(entry, dict):
        fail(at, f"{_where(at)} should be a JSON object")
    for name, accepted in fields.items():
        if name not in entry:
            fail(at, f"{_where(at)} has no {name!r} field")
        if not _accepts(entry[name], accepted):
            fail(at + (name,), f"{_where(at + (name,))} should be {_describe(accepted)}, not {json.dumps(entry[name])[:40]}")


class _Shape:
    """A fast yes/no for a whole list of entries: all objects, every field present, every type allowed."""

    def __init__(self, fields: Dict[str, Tuple[Any, ...]]) -> None:
        self.keys = frozenset(fields)
        self.types = tuple((name, _json_types(accepted)) for name, accepted in fields.items())

    def fits_all(self, entries: List[Any]) -> bool:
        # Reports hold many thousands of entries: whole-list passes that run in C, no Python call per entry.
        if not set(map(type, entries)) <= {dict} or not all(map(self.keys.issubset, entries)):
            return False
        return all(set(map(type, map(operator.itemgetter(name), entries))) <= types for name, types in self.types)


def _json_types(accepted: Tuple[Any, ...]) -> FrozenSet[type]:
    exact = {str: (str,), int: (int,), _NUMBER: _NUMBER, bool: (bool,), list: (list,), None: (type(None),)}
    return frozenset(kind for option in accepted for kind in exact[option])


_MODULE_SHAPE = _Shape(_MODULE_FIELDS)
_FAILURE_SHAPE = _Shape(_FAILURE_FIELDS)
_DEPENDENCY_SHAPE = _Shape(_DEPENDENCY_FIELDS)


def _accepts(value: Any, accepted: Tuple[Any, ...]) -> bool:
    if value is None:
        return None in accepted
    if isinstance(value, bool):  # bool is an int to Python, never to a reader of the report
        return bool in accepted
    return any(kind is not None and isinstance(value, kind) for kind in accepted)


def _describe(accepted: Tuple[Any, ...]) -> str:
    names = {str: "a string", int: "an integer", _NUMBER: "a number", bool: "true or false", list: "a list", None: "null"}
    return " or ".join(names[kind] for kind in accepted)


def _where(at: JsonPath) -> str:
    if not at:
        return "the report"
    text = str(at[0])
    for step in at[1:]:
        text += f"[{step}]" if isinstance(step, int) else f".{step}"
    return text


# -- line numbers of values, for error messages -----------------------------------------

_decoder = json.JSONDecoder()
_SPACE = re.compile(r"[ \t\n\r]*")


def line_of(text: str, at: JsonPath) -> int:
    """The line of the value at ``at`` (keys and indexes) in valid JSON ``text``, or of its deepest parent found."""
    position = _skip_space(text, 0)
    try:
        for step in at:
            found = _child(text, position, step)
            if found is None:
                break
            position = found
    except (ValueError, IndexError, RecursionError):  # cannot happen for text json.loads accepted; stay safe
        pass
    return text.count("\n", 0, position) + 1


def _child(text: str, position: int, step: Union[str, int]) -> Optional[int]:
    opener = text[position]
    if (opener, type(step)) not in (("{", str), ("[", int)):
        return None
    closer = "}" if opener == "{" else "]"
    position = _skip_space(text, position + 1)
    index = 0
    while text[position] != closer:
        if opener == "{":
            key, position = _decoder.raw_decode(text, position)
            position = _skip_space(text, _skip_space(text, position) + 1)  # past the colon
        else:
            key, index = index, index + 1
        if key == step:
            return position
        _, position = _decoder.raw_decode(text, position)
        position = _skip_space(text, position)
        if text[position] == ",":
            position = _skip_space(text, position + 1)
    return None


def _skip_space(text: str, position: int) -> int:
    match = _SPACE.match(text, position)
    return match.end() if match else position


# -- merging ----------------------------------------------------------------------------


@dataclasses.dataclass(**({"slots": True} if sys.version_info >= (3, 10) else {}))
class MergedFile:
    """One file over many processes: in how many it loaded, how many lazily or preloaded."""

    module: str
    processes: int = 0
    lazy: int = 0
    preloaded: int = 0


class Merge:
    """Loaded files over many reports (and log inputs), keyed by file name."""

    def __init__(self) -> None:
        self.files: Dict[str, MergedFile] = {}
        self.inputs = 0

    def add_report(self, report: Report, relocate: Optional[Callable[[str, str], Optional[str]]] = None) -> List[str]:
        """Count a report's modules, placed by ``relocate(file, module)``; returns the files it could not place."""
        self.inputs += 1
        unplaced = []
        for entry in report.modules:
            file = entry["file"] if relocate is None else relocate(entry["file"], entry["name"])
            if file is None:
                unplaced.append(entry["file"])
            else:
                self.add(file, entry["name"], entry["lazy"], entry["preloaded"])
        return unplaced

    def add(self, file: str, module: str, lazy: bool = False, preloaded: bool = False) -> None:
        merged = self.files.get(file)
        if merged is None:
            merged = self.files[file] = MergedFile(module)
        merged.processes += 1
        merged.lazy += lazy
        merged.preloaded += preloaded


def merge(reports: Iterable[Report]) -> Merge:
    """Merge reports taken under the same root (``audit`` remaps roots that differ)."""
    result = Merge()
    for report in reports:
        result.add_report(report)
    return result
