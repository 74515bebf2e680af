"""The records every reader yields, whatever its source: a process's startup, its module loads,
dependency loads and failed imports (lazy ones flagged), each checked the same way.

A report's entries become records while its JSON is decoded (``record_hook``): a 100 MB report
holds one small object per module, never a dict per module beside it. An entry that does not
fit is left as it was, for the report reader to say precisely what is wrong with it, and where
(``problem``). The OTLP reader builds its entries as report entries and turns them into records
with the same functions (``from_document``).
"""

from __future__ import annotations

import dataclasses
import json
import sys
from typing import Any, Callable, Dict, List, Optional, Tuple, Type, Union

from otel_import_tracer.reading.record_types import (  # noqa: F401 - the records, re-exported
    ABSENT, LAZY_DECLARED, LAZY_NEVER, LAZY_REIFIED, Dependency, Failure, LazyImport, Module, ValueRecord, record_class,
)

_NUMBER = (int, float)
JsonPath = Tuple[Union[str, int], ...]

Record = Union[Module, Failure, Dependency]

# Field name -> accepted types (None: the value may be null). Extra fields are allowed,
# so a later writer can add some without bumping the version.
HEADER_FIELDS: Dict[str, Tuple[Any, ...]] = {
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
MODULE_FIELDS: Dict[str, Tuple[Any, ...]] = {
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
FAILURE_FIELDS: Dict[str, Tuple[Any, ...]] = {
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
DEPENDENCY_FIELDS: Dict[str, Tuple[Any, ...]] = {
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
LAZY_IMPORT_FIELDS: Dict[str, Tuple[Any, ...]] = {
    "name": (str,),
    "fromlist": (list,),
    "importer": (str, None),
    "file": (str,),
    "line": (int, None),
    "state": (str,),
    "after_startup": (bool, None),
    "duration_ms": (_NUMBER, None),
    "forced_file": (str, None),
    "forced_line": (int, None),
}  # and "request": an object or null; "forced_by", "thread": strings, where written
LISTS: Tuple[Tuple[str, Type[Any], Dict[str, Tuple[Any, ...]]], ...] = (
    ("modules", Module, MODULE_FIELDS),
    ("failed_imports", Failure, FAILURE_FIELDS),
    ("dependencies", Dependency, DEPENDENCY_FIELDS),
)


@record_class
class Process(ValueRecord):
    """One process as a source saw it: its header (the report's fields, a later writer's extra
    ones kept) and its records."""

    _FIELDS = ("path", "header", "modules", "failed_imports", "dependencies", "lazy_imports")
    path: str  # the input it came from
    header: Dict[str, Any]
    modules: List[Module]
    failed_imports: List[Failure]
    dependencies: List[Dependency]  # none in a version 1 report
    # Python 3.15+: the lazy import statements of the root's code; None: the source had none to say
    # (a run before 3.15, a container log).
    lazy_imports: Optional[List[LazyImport]]

    def __init__(self, path: str, header: Dict[str, Any], modules: List[Module], failed_imports: List[Failure],
                 dependencies: List[Dependency], lazy_imports: Optional[List[LazyImport]] = None) -> None:
        self.path = path
        self.header = header
        self.modules = modules
        self.failed_imports = failed_imports
        self.dependencies = dependencies
        self.lazy_imports = lazy_imports

    @property
    def root(self) -> str:
        return self.header["root"]

    @property
    def startup_complete_ms(self) -> Optional[float]:
        return self.header.get("startup_complete_ms")

    @property
    def role(self) -> Optional[str]:
        """``server``, ``worker``, ``supervisor``, ``script``; None: not said (an older report, a log)."""
        role = self.header.get("role")
        return role if type(role) is str else None

    @property
    def command(self) -> Optional[List[str]]:
        command = self.header.get("command")  # bounded, secrets redacted by the writer
        return command if type(command) is list and all(type(part) is str for part in command) else None

    @property
    def entry(self) -> Optional[str]:
        entry = self.header.get("entry")  # what ran as __main__ (kind.entry)
        return entry if type(entry) is str else None

    @property
    def kind(self) -> Optional[Tuple[str, Optional[str]]]:
        """``(role, entry)``: what the process was, to compare like with like; None: not said."""
        return None if self.role is None else (self.role, self.entry)

    def document(self) -> Dict[str, Any]:
        """As a report document (the records' fields only)."""
        lists = {key: [entry_of(record) for record in getattr(self, key)] for key, _, _ in LISTS}
        if self.lazy_imports is not None:
            lists["lazy_imports"] = [entry_of(record) for record in self.lazy_imports]
        return {**self.header, **lists}


def entry_of(record: Record) -> Dict[str, Any]:
    values = ((field.name, getattr(record, field.name)) for field in dataclasses.fields(record))
    return {name: value for name, value in values if value is not ABSENT}


def _stack_parent(entry: Dict[str, Any]) -> Any:
    """An entry's ``stack_parent``: a name, None, or ABSENT (not written, or not a name: ignored)."""
    parent = entry.get("stack_parent", ABSENT)
    return parent if parent is None or type(parent) is str else ABSENT


# -- entries to records ---------------------------------------------------------------------

_SHARED_KEYS = ("thread", "source", "importer")


def _shared(value: Any) -> Any:
    """Values every entry repeats (thread, source, importer): one string object for all, not one
    per entry (a 441,000-module report holds the same few that many times)."""
    return sys.intern(value) if type(value) is str and len(value) < 200 else value


def module_of(entry: Dict[str, Any]) -> Optional[Module]:
    """The module record of a report entry, or None if the entry does not fit (see ``problem``)."""
    try:
        name, file, offset, duration = entry["name"], entry["file"], entry["offset_ms"], entry["duration_ms"]
        importer, thread, preloaded, lazy, source = entry["importer"], entry["thread"], entry["preloaded"], entry["lazy"], entry["source"]
    except KeyError:
        return None
    if (type(name) is not str or type(file) is not str or type(offset) not in _NUMBER
            or (duration is not None and type(duration) not in _NUMBER) or (importer is not None and type(importer) is not str)
            or type(thread) is not str or type(preloaded) is not bool or type(lazy) is not bool or type(source) is not str):
        return None
    return Module(name, file, offset, duration, _shared(importer), _shared(thread), preloaded, lazy, _shared(source),
                  _shared(_stack_parent(entry)))


def failure_of(entry: Dict[str, Any]) -> Optional[Failure]:
    try:
        name, importer, importer_file, line = entry["name"], entry["importer"], entry["importer_file"], entry["line"]
        exception_type, message, offset, thread, lazy = entry["exception_type"], entry["message"], entry["offset_ms"], entry["thread"], entry["lazy"]
    except KeyError:
        return None
    if (type(name) is not str or (importer is not None and type(importer) is not str)
            or (importer_file is not None and type(importer_file) is not str) or (line is not None and type(line) is not int)
            or type(exception_type) is not str or type(message) is not str or type(offset) not in _NUMBER
            or type(thread) is not str or type(lazy) is not bool):
        return None
    count = entry.get("count")
    return Failure(name, importer, importer_file, line, exception_type, message, offset, thread, lazy, count if type(count) is int else 1)


def dependency_of(entry: Dict[str, Any]) -> Optional[Dependency]:
    try:
        name, importer, importer_file, line = entry["name"], entry["importer"], entry["importer_file"], entry["line"]
        offset, duration, thread, lazy = entry["offset_ms"], entry["duration_ms"], entry["thread"], entry["lazy"]
        distribution, version = entry["distribution"], entry["version"]
    except KeyError:
        return None
    if (type(name) is not str or (importer is not None and type(importer) is not str) or type(importer_file) is not str
            or (line is not None and type(line) is not int) or type(offset) not in _NUMBER
            or (duration is not None and type(duration) not in _NUMBER) or type(thread) is not str or type(lazy) is not bool
            or (distribution is not None and type(distribution) is not str) or (version is not None and type(version) is not str)):
        return None
    return Dependency(name, _shared(importer), importer_file, line, offset, duration, _shared(thread), lazy, distribution, version,
                      _shared(_stack_parent(entry)), entry.get("by_use") is True)


_BUILDERS: Dict[Type[Any], Callable[[Dict[str, Any]], Any]] = {Module: module_of, Failure: failure_of, Dependency: dependency_of}


def record_hook(entry: Dict[str, Any]) -> Any:
    """``json.loads``'s object hook: an entry that is plainly one kind (a key only that kind has,
    none of the others') and fits becomes its record; anything else stays a dict."""
    module, failure, dependency = "preloaded" in entry, "exception_type" in entry, "distribution" in entry
    record = None
    if module and not failure and not dependency:
        record = module_of(entry)
    elif failure and not module and not dependency:
        record = failure_of(entry)
    elif dependency and not module and not failure:
        record = dependency_of(entry)
    if record is not None:
        return record
    for key in _SHARED_KEYS:
        if key in entry:
            entry[key] = _shared(entry[key])
    return entry


def records(entries: List[Any], kind: Type[Any], fields: Dict[str, Tuple[Any, ...]], at: JsonPath,
            fail: Callable[[JsonPath, str], Any]) -> List[Any]:
    """``entries`` as records of ``kind`` (the list itself when the decoder made them all); the
    first entry that is not one is checked field by field, and ``fail`` is told why."""
    if all(type(entry) is kind for entry in entries):
        return entries
    build = _BUILDERS[kind]
    result = []
    for index, entry in enumerate(entries):
        if type(entry) is not kind:
            plain = entry_of(entry) if dataclasses.is_dataclass(entry) else entry  # a record of another kind
            check_fields(plain, fields, at + (index,), fail)
            entry = build(plain)
        result.append(entry)
    return result


def from_document(path: str, document: Dict[str, Any], fail: Callable[[JsonPath, str], Any]) -> Process:
    """The process of a report document (its lists of entries or records) already checked at the top."""
    header = {key: value for key, value in document.items() if key not in _RECORD_KEYS}
    lists = [records(document.get(key) or [], kind, fields, (key,), fail) for key, kind, fields in LISTS]
    return Process(path, header, *lists, lazy_imports=lazy_imports_of(document.get("lazy_imports"), fail))


_RECORD_KEYS = ("modules", "failed_imports", "dependencies", "lazy_imports")


def lazy_imports_of(entries: Any, fail: Callable[[JsonPath, str], Any]) -> Optional[List[LazyImport]]:
    """A report's ``lazy_imports`` as records, each entry checked field by field (None: none written)."""
    if entries is None:
        return None
    if not isinstance(entries, list):
        fail(("lazy_imports",), f"{where(('lazy_imports',))} should be a list, not {json.dumps(entries)[:40]}")
    result = []
    for index, entry in enumerate(entries):
        check_fields(entry, LAZY_IMPORT_FIELDS, ("lazy_imports", index), fail)
        request, forced_by, thread = entry.get("request"), entry.get("forced_by"), entry.get("thread")
        result.append(LazyImport(
            entry["name"], tuple(entry["fromlist"]), entry["importer"], entry["file"], entry["line"], entry["state"],
            entry["after_startup"], entry["duration_ms"], entry["forced_file"], entry["forced_line"],
            request if isinstance(request, dict) else None, forced_by if isinstance(forced_by, str) else None,
            thread if isinstance(thread, str) else "",
        ))
    return result


def of_registry(registry: Any) -> Process:
    """The records of a live registry (``otel_import_tracer.registry.Registry``), for the summary
    a traced process prints at its stop: times as they are, not rounded as a report writes them."""
    origin = registry.started_ns
    complete = registry.startup_complete_ns
    header = {"root": registry.root.root, "startup_complete_ms": None if complete is None else (complete - origin) / _NS_PER_MS}
    modules = [
        Module(load.name, load.file, (load.start_ns - origin) / _NS_PER_MS, _ms_or_none(load.duration_ns), load.parent,
               load.thread, load.preloaded, load.lazy, load.source, _name_of(load.stack_parent))
        for load in registry.loads()
    ]
    failures = [
        Failure(failure.name, failure.importer, failure.importer_file, failure.line, failure.exception_type, failure.message,
                (failure.time_ns - origin) / _NS_PER_MS, failure.thread, failure.lazy, registry.failure_count(failure))
        for failure in registry.failures()
    ]
    dependencies = [
        Dependency(dependency.name, dependency.importer, dependency.importer_file, dependency.line, (dependency.start_ns - origin) / _NS_PER_MS,
                   _ms_or_none(dependency.duration_ns), dependency.thread, dependency.lazy, None, None,
                   _name_of(dependency.stack_parent), dependency.by_use)
        for dependency in registry.dependencies()
    ]
    lazy_imports = [
        LazyImport(lazy.name, tuple(lazy.fromlist), lazy.importer, lazy.file, lazy.line, lazy.state, lazy.after_startup,
                   _ms_or_none(lazy.duration_ns), lazy.forced_file, lazy.forced_line, lazy.request, lazy.forced_by, lazy.thread)
        for lazy in registry.lazy_imports()
    ]
    return Process("", header, modules, failures, dependencies, lazy_imports or None)


_NS_PER_MS = 1_000_000


def _ms_or_none(ns: Optional[int]) -> Optional[float]:
    return None if ns is None else ns / _NS_PER_MS


def _name_of(load: Any) -> Optional[str]:
    return None if load is None else load.name


# -- what is wrong with an entry ------------------------------------------------------------


def check_fields(entry: Any, fields: Dict[str, Tuple[Any, ...]], at: JsonPath, fail: Callable[[JsonPath, str], Any]) -> None:
    if not isinstance(entry, dict):
        fail(at, f"{where(at)} should be a JSON object")
    for name, accepted in fields.items():
        if name not in entry:
            fail(at, f"{where(at)} has no {name!r} field")
        if not _accepts(entry[name], accepted):
            fail(at + (name,), f"{where(at + (name,))} should be {_describe(accepted)}, not {json.dumps(entry[name])[:40]}")


def _accepts(value: Any, accepted: Tuple[Any, ...]) -> bool:
    if value is None:
        return None in accepted
    if isinstance(value, bool):  # bool is an int to Python, never to a reader of the report
        return bool in accepted
    return any(kind is not None and isinstance(value, kind) for kind in accepted)


def _describe(accepted: Tuple[Any, ...]) -> str:
    names = {str: "a string", int: "an integer", _NUMBER: "a number", bool: "true or false", list: "a list", None: "null"}
    return " or ".join(names[kind] for kind in accepted)


def where(at: JsonPath) -> str:
    if not at:
        return "the report"
    text = str(at[0])
    for step in at[1:]:
        text += f"[{step}]" if isinstance(step, int) else f".{step}"
    return text
