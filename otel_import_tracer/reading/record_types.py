"""The record classes every reader yields (``records`` says how they are made and checked):
a module load of the root, a failed import, a dependency load, a lazy import statement.

Cheap to import: a traced process imports them at its stop, for its summary (``ValueRecord``).
"""

from __future__ import annotations

import dataclasses
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Dict, Optional, Tuple


class _Absent:
    """The ``stack_parent`` of an entry that has none: written before the import stack was
    recorded (``None`` is a load begun with no other in progress on its thread)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "ABSENT"

    def __reduce__(self) -> str:
        return "ABSENT"  # one object, across copies and processes


ABSENT: Any = _Absent()


class ValueRecord:
    """What a ``dataclasses.dataclass(slots=True)`` would generate for a record (equality by
    value, so unhashable; a repr of every field), written once here, the ``__init__`` by hand in
    each: generating them was most of what importing this module cost (the parsing and compiling of
    their source: 18 M instructions on 3.12), and a traced process imports it at its stop, for
    the summary. They stay dataclasses (``dataclasses.fields``, ``replace``)."""

    __slots__ = ()
    _FIELDS: Tuple[str, ...] = ()
    __hash__ = None  # type: ignore[assignment]

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return tuple(getattr(self, name) for name in self._FIELDS) == tuple(getattr(other, name) for name in self._FIELDS)

    def __repr__(self) -> str:
        fields = ", ".join(f"{name}={getattr(self, name)!r}" for name in self._FIELDS)
        return f"{type(self).__qualname__}({fields})"


record_class = dataclasses.dataclass(init=False, repr=False, eq=False)  # the methods are ValueRecord's


@record_class
class Module(ValueRecord):
    """A module of the root, loaded (``offset_ms`` after the process's tracing started)."""

    __slots__ = _FIELDS = ("name", "file", "offset_ms", "duration_ms", "importer", "thread", "preloaded", "lazy", "source",
                           "stack_parent")
    name: str
    file: str
    offset_ms: float
    duration_ms: Optional[float]  # None: still loading, or a saved trace without it
    importer: Optional[str]
    thread: str
    preloaded: bool
    lazy: bool
    source: str
    # The load whose import was running on its thread when this one began (the import stack, as
    # ``-X importtime`` nests imports); None: none was; ABSENT: an older report (its importer stands in).
    stack_parent: Optional[str]

    def __init__(self, name: str, file: str, offset_ms: float, duration_ms: Optional[float], importer: Optional[str],
                 thread: str, preloaded: bool, lazy: bool, source: str, stack_parent: Optional[str] = ABSENT) -> None:
        self.name = name
        self.file = file
        self.offset_ms = offset_ms
        self.duration_ms = duration_ms
        self.importer = importer
        self.thread = thread
        self.preloaded = preloaded
        self.lazy = lazy
        self.source = source
        self.stack_parent = stack_parent


@record_class
class Failure(ValueRecord):
    """An import that failed, and where (the first of ``count`` alike)."""

    __slots__ = _FIELDS = ("name", "importer", "importer_file", "line", "exception_type", "message", "offset_ms", "thread",
                           "lazy", "count")
    name: str
    importer: Optional[str]
    importer_file: Optional[str]
    line: Optional[int]
    exception_type: str
    message: str
    offset_ms: float
    thread: str
    lazy: bool
    count: int

    def __init__(self, name: str, importer: Optional[str], importer_file: Optional[str], line: Optional[int],
                 exception_type: str, message: str, offset_ms: float, thread: str, lazy: bool, count: int = 1) -> None:
        self.name = name
        self.importer = importer
        self.importer_file = importer_file
        self.line = line
        self.exception_type = exception_type
        self.message = message
        self.offset_ms = offset_ms
        self.thread = thread
        self.lazy = lazy
        self.count = count


@record_class
class Dependency(ValueRecord):
    """A module from outside the root imported directly by the root's code."""

    __slots__ = _FIELDS = ("name", "importer", "importer_file", "line", "offset_ms", "duration_ms", "thread", "lazy",
                           "distribution", "version", "stack_parent", "by_use")
    name: str
    importer: Optional[str]
    importer_file: str
    line: Optional[int]
    offset_ms: float
    duration_ms: Optional[float]
    thread: str
    lazy: bool
    distribution: Optional[str]
    version: Optional[str]
    stack_parent: Optional[str]  # as Module's
    by_use: bool  # Python 3.15+: loaded by the use of a lazy name at ``line``, not by an import statement

    def __init__(self, name: str, importer: Optional[str], importer_file: str, line: Optional[int], offset_ms: float,
                 duration_ms: Optional[float], thread: str, lazy: bool, distribution: Optional[str], version: Optional[str],
                 stack_parent: Optional[str] = ABSENT, by_use: bool = False) -> None:
        self.name = name
        self.importer = importer
        self.importer_file = importer_file
        self.line = line
        self.offset_ms = offset_ms
        self.duration_ms = duration_ms
        self.thread = thread
        self.lazy = lazy
        self.distribution = distribution
        self.version = version
        self.stack_parent = stack_parent
        self.by_use = by_use


LAZY_DECLARED, LAZY_REIFIED, LAZY_NEVER = "declared", "reified", "never"  # a LazyImport's state, as lazy_record.py says


@record_class
class LazyImport(ValueRecord):
    """A lazy import statement of the root's code in one process (Python 3.15+: a report's
    ``lazy_imports`` entry, or what a trace's lazy-import events say), and what became of it."""

    __slots__ = _FIELDS = ("name", "fromlist", "importer", "file", "line", "state", "after_startup", "duration_ms",
                           "forced_file", "forced_line", "request", "forced_by", "thread")
    name: str
    fromlist: Tuple[str, ...]
    importer: Optional[str]
    file: str
    line: Optional[int]
    state: str  # declared (not used yet), reified or never
    after_startup: Optional[bool]
    duration_ms: Optional[float]
    forced_file: Optional[str]
    forced_line: Optional[int]
    request: Optional[Dict[str, Any]]  # the span current at a use after startup: name, trace_id, span_id
    forced_by: Optional[str]  # the module whose use reified it
    thread: str

    def __init__(self, name: str, fromlist: Tuple[str, ...], importer: Optional[str], file: str, line: Optional[int],
                 state: str, after_startup: Optional[bool], duration_ms: Optional[float], forced_file: Optional[str],
                 forced_line: Optional[int], request: Optional[Dict[str, Any]], forced_by: Optional[str] = None,
                 thread: str = "") -> None:
        self.name = name
        self.fromlist = fromlist
        self.importer = importer
        self.file = file
        self.line = line
        self.state = state
        self.after_startup = after_startup
        self.duration_ms = duration_ms
        self.forced_file = forced_file
        self.forced_line = forced_line
        self.request = request
        self.forced_by = forced_by
        self.thread = thread

    @property
    def forced_at(self) -> Optional[str]:
        return None if self.forced_file is None else f"{self.forced_file}:{self.forced_line}"
