"""The record of one lazy import statement (PEP 810, Python 3.15+), written by ``collectors/lazy.py``.

A plain slotted record (``record.py``): the registry imports it on the tracer's start path.
"""

from __future__ import annotations

from otel_import_tracer.record import Record

TYPE_CHECKING = False
if TYPE_CHECKING:
    from threading import RLock
    from typing import Callable, Dict, Iterable, List, Optional, Tuple

# What became of a lazy import statement.
LAZY_DECLARED = "declared"  # bound to a proxy, not used yet
LAZY_REIFIED = "reified"  # first use imported it (or found it imported)
LAZY_NEVER = "never"  # still not used when tracing stopped: its module did not load for it


class LazyImport(Record):
    """A lazy import statement of the root's code (``lazy import x``, ``lazy from x import y``, or
    one the global lazy mode made lazy) and what became of it.

    ``name``: the module it names, resolved; ``importer``: the declaring module; ``end_ns``: the end
    of the load its first use caused, if one did; ``loaded``: the module whose load reified it (None:
    nothing loaded for it that was seen); ``forced_*``: where the first use was; ``request``: the span
    current at a use after startup (name, trace_id, span_id)."""

    __slots__ = ("name", "fromlist", "importer", "file", "line", "declared_ns", "thread", "state", "reified_ns",
                 "end_ns", "loaded", "forced_by", "forced_file", "forced_line", "forced_thread", "after_startup", "request")

    def __init__(self, name: str, fromlist: Tuple[str, ...], importer: str, file: str, line: Optional[int],
                 declared_ns: int, thread: str, state: str = LAZY_DECLARED, reified_ns: Optional[int] = None,
                 end_ns: Optional[int] = None, loaded: Optional[str] = None, forced_by: Optional[str] = None,
                 forced_file: Optional[str] = None, forced_line: Optional[int] = None, forced_thread: Optional[str] = None,
                 after_startup: Optional[bool] = None, request: Optional[Dict[str, str]] = None) -> None:
        self.name = name
        self.fromlist = fromlist
        self.importer = importer
        self.file = file
        self.line = line
        self.declared_ns = declared_ns
        self.thread = thread
        self.state = state
        self.reified_ns = reified_ns
        self.end_ns = end_ns
        self.loaded = loaded
        self.forced_by = forced_by
        self.forced_file = forced_file
        self.forced_line = forced_line
        self.forced_thread = forced_thread
        self.after_startup = after_startup
        self.request = request

    def copy(self) -> LazyImport:
        """A record of its own with the same fields (a forked child's, of a statement still waiting)."""
        return LazyImport(*self._values())

    @property
    def duration_ns(self) -> Optional[int]:
        if self.end_ns is None or self.reified_ns is None:
            return None
        return self.end_ns - self.reified_ns

    @property
    def declared_at(self) -> str:
        return f"{self.file}:{self.line}"

    @property
    def forced_at(self) -> Optional[str]:
        return None if self.forced_file is None else f"{self.forced_file}:{self.forced_line}"


class LazyImportsKept:
    """The registry's lazy import statements (under the ``Registry``'s ``_lock``)."""

    # Lazy import statements kept: one per statement of the root's code that ran.
    MAX_LAZY_IMPORTS = 100_000
    # Plan mode (IMPORT_TRACING_LAZY_PLAN) ran: the tracer, not the code, made the root's imports lazy.
    lazy_plan = False
    # The lazy collector's: makes the declarations it noted records (kept here) before they are read.
    lazy_drain: Optional[Callable[[], None]] = None
    _lock: RLock

    def add_lazy_import(self, lazy: LazyImport) -> bool:
        """Record a lazy import statement as it is declared; False past ``MAX_LAZY_IMPORTS``. Its
        later fields are the lazy collector's to fill in."""
        with self._lock:
            kept: List[LazyImport] = self.__dict__.setdefault("_lazy_imports", [])
            if len(kept) >= self.MAX_LAZY_IMPORTS:
                return False
            kept.append(lazy)
            return True

    def add_lazy_imports(self, made: Iterable[LazyImport]) -> List[LazyImport]:
        """``add_lazy_import`` for several at once (one lock): those kept."""
        with self._lock:
            kept: List[LazyImport] = self.__dict__.setdefault("_lazy_imports", [])
            room = max(self.MAX_LAZY_IMPORTS - len(kept), 0)
            taken = list(made)[:room]
            kept.extend(taken)
            return taken

    def lazy_imports(self) -> List[LazyImport]:
        """Lazy import statements of the root's code, in the order they were declared."""
        drain = self.lazy_drain
        if drain is not None:
            drain()
        with self._lock:
            return list(self.__dict__.get("_lazy_imports", ()))
