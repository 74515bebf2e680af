"""The JSON report read back: checked field by field, each error at the file and line at fault.

The writing side (``otel_import_tracer.report``) writes it; this reads it into records."""

from __future__ import annotations

import dataclasses
import json
import operator
import sys
from typing import Any, Callable, Dict, FrozenSet, List, NoReturn, Tuple

from otel_import_tracer.reading.files import InputError, JsonPath, decode_report, line_of, parse_json, read_bytes
from otel_import_tracer.report import READABLE_VERSIONS, SCHEMA, SCHEMA_VERSION
from otel_import_tracer.version import __version__

_NUMBER = (int, float)

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


_SHARED_KEYS = ("thread", "source", "importer")


def _shared_values(entry: Dict[str, Any]) -> Dict[str, Any]:
    for key in _SHARED_KEYS:
        value = entry.get(key)
        if type(value) is str and len(value) < 200:
            entry[key] = sys.intern(value)
    return entry


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


