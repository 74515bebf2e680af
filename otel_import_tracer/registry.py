"""The thread-safe record of module loads and failed imports.

Collectors write here and know nothing else; telemetry, the shutdown log lines and
the report read from here. One record per file: the first observer wins, and an
import observed by the import hook always starts before the module's code runs,
so the record with timings is the one kept.

Times are wall-clock nanoseconds since the epoch (what OpenTelemetry wants),
derived from ``perf_counter_ns`` so durations are monotonic and precise.
"""

from __future__ import annotations

import itertools
import sys
import threading
import time
TYPE_CHECKING = False  # typing is not imported at run time: the app would find it already paid for
if TYPE_CHECKING:
    from typing import AbstractSet, Any, Dict, List, Mapping, Optional, Set, Tuple

    from otel_import_tracer.importstack import Stacked

from otel_import_tracer import messages
from otel_import_tracer.importstack import ImportStacks
from otel_import_tracer.lazy_record import LAZY_DECLARED, LAZY_NEVER, LAZY_REIFIED, LazyImport, LazyImportsKept  # noqa: F401 - re-exported
from otel_import_tracer.naming import SourceRoot, is_source, root_files_in
from otel_import_tracer.record import FrozenRecord, Record

# How a load was observed; the report and the telemetry carry it.
SOURCE_IMPORT = "import"  # the import hook saw the module being executed by an import
SOURCE_PRELOADED = "preloaded"  # already in sys.modules when tracing started
SOURCE_EXECUTED = "executed"  # a collector saw code of the file run outside an import we saw
SOURCE_SYS_MODULES = "sys.modules"  # found in sys.modules later, not seen by any hook
SOURCE_INHERITED = "inherited"  # loaded by the parent before this process was forked from it
_NOT_TIMED_HERE = (SOURCE_PRELOADED, SOURCE_INHERITED)

NS_PER_MS = 1_000_000


def ns_to_ms(ns: int) -> float:
    """Nanoseconds (what the registry records) as milliseconds (what reports, lines and attributes say)."""
    return ns / NS_PER_MS


class _Timed(Record):
    """What a timed load (``ModuleLoad``, ``DependencyLoad``) says of its time: ``start_ns``, ``end_ns`` (None while
    it executes or when unknown), and its place on the import stack (``importstack``), not part of its value."""

    __slots__ = ("stack_parent", "children_ns", "reified", "by_use")  # reified: the lazy statement it was the first use of; by_use: a use of a lazy name loaded it
    start_ns: int
    end_ns: Optional[int]

    @property
    def duration_ns(self) -> Optional[int]:
        return None if self.end_ns is None else self.end_ns - self.start_ns

    @property
    def duration_ms(self) -> Optional[float]:
        duration = self.duration_ns
        return None if duration is None else ns_to_ms(duration)

    @property
    def end_or_start_ns(self) -> int:
        """The end, or the start while the end is unknown (a zero-length span)."""
        return self.start_ns if self.end_ns is None else self.end_ns


class ModuleLoad(_Timed):
    """One loaded file. ``end_ns`` stays None while the module executes, or when unknown."""

    __slots__ = ("name", "file", "start_ns", "parent", "thread", "source", "lazy", "end_ns")

    def __init__(self, name: str, file: str, start_ns: int, parent: Optional[str], thread: str, source: str,
                 lazy: bool = False, end_ns: Optional[int] = None, stack_parent: Optional[Stacked] = None) -> None:
        self.name = name
        self.file = file
        self.start_ns = start_ns
        self.parent = parent
        self.thread = thread
        self.source = source
        self.lazy = lazy
        self.end_ns = end_ns
        self.stack_parent, self.children_ns, self.reified, self.by_use = stack_parent, 0, None, False

    @property
    def preloaded(self) -> bool:
        """Already in memory when this process's tracing began (no timing of its own)."""
        return self.source in _NOT_TIMED_HERE


class FailedImport(FrozenRecord):
    """An import, issued by code under the root, that raised."""

    __slots__ = ("name", "importer", "importer_file", "line", "exception_type", "message", "time_ns", "thread", "lazy")

    def __init__(self, name: str, importer: Optional[str], importer_file: Optional[str], line: Optional[int],
                 exception_type: str, message: str, time_ns: int, thread: str, lazy: bool) -> None:
        for field, value in zip(self.__slots__, (name, importer, importer_file, line, exception_type, message, time_ns, thread, lazy)):
            object.__setattr__(self, field, value)


class DependencyLoad(_Timed):
    """A module outside the root loaded by an import that code under the root issued directly
    (``import fastapi`` in ``src/main.py``), or that ran inside the import of a module under the
    root (a library function its body called imported it; ``importer`` is then that library, and
    ``importer_file`` its file): its cumulative time, nothing of what it imported."""

    __slots__ = ("name", "importer", "importer_file", "line", "start_ns", "thread", "lazy", "end_ns")

    def __init__(self, name: str, importer: Optional[str], importer_file: str, line: Optional[int], start_ns: int,
                 thread: str, lazy: bool = False, end_ns: Optional[int] = None, stack_parent: Optional[Stacked] = None) -> None:
        self.name = name
        self.importer = importer
        self.importer_file = importer_file
        self.line = line
        self.start_ns = start_ns
        self.thread = thread
        self.lazy = lazy
        self.end_ns = end_ns
        self.stack_parent, self.children_ns, self.reified, self.by_use = stack_parent, 0, None, False


class Listener:
    """Told about each finished load and each failure, outside the registry lock, in the
    importing thread. A subclass overrides what it wants to hear; the rest does nothing."""

    def on_load(self, load: ModuleLoad) -> None:  # pragma: no cover - interface
        pass

    def on_dependency(self, dependency: DependencyLoad) -> None:  # pragma: no cover - interface
        pass

    def on_failure(self, failure: FailedImport) -> None:  # pragma: no cover - interface
        pass


class Clock:
    """Wall-clock nanoseconds with monotonic, high-resolution steps."""

    def __init__(self) -> None:
        self._wall0 = time.time_ns()
        self._perf0 = time.perf_counter_ns()

    def now_ns(self) -> int:
        return self._wall0 + (time.perf_counter_ns() - self._perf0)


class Registry(LazyImportsKept):
    """Loads by file, failures in order, and the two moments that matter."""

    # Distinct failures kept (dynamic module names could make them unbounded).
    MAX_FAILURES = 1000
    # Dependency loads kept: one per module outside the root, so bounded by what is installed.
    MAX_DEPENDENCIES = 10_000

    def __init__(self, root: SourceRoot, clock: Optional[Clock] = None, dependencies: bool = True) -> None:
        self.root = root
        self.dependencies_on = dependencies  # record DependencyLoad (IMPORT_TRACING_DEPENDENCIES)
        self.clock = clock or Clock()
        self.started_ns = self.clock.now_ns()
        self.startup_complete_ns: Optional[int] = None
        self.startup_complete_wall_ns: Optional[int] = None
        self.startup_failure: Optional[str] = None  # the message of lifespan.startup.failed
        # Reentrant: the SIGTERM handler stops tracing in the main thread, possibly between two
        # bytecodes of a section holding it; a plain lock would deadlock there.
        self._lock = threading.RLock()
        self._loads: Dict[str, ModuleLoad] = {}
        self._swept: Set[Any] = set()  # names of sys.modules whose file a sweep has looked at (sweep)
        # The ``.py`` file named in a sourceless module's code (``co_filename``), often gone: the
        # execution collectors see that name, and must know it is the ``.pyc`` already recorded.
        self._aliases: Set[str] = set()
        self._failures: List[FailedImport] = []
        self._failure_counts: Dict[Tuple[str, Optional[str], Optional[int], str], int] = {}
        self._dependencies: List[DependencyLoad] = []
        self._listeners: Tuple[Listener, ...] = ()  # replaced whole, so reading it needs no lock
        # What the tracer itself imported while this process ran the application (not the app's
        # to pay): (step, modules, start_ns, duration_ns), see note_tracer_imports.
        self.tracer_imports: List[Tuple[str, Tuple[str, ...], int, int]] = []
        self._stacks = ImportStacks()

    def now_ns(self) -> int:
        return self.clock.now_ns()

    def note_tracer_imports(self, step: str, before: AbstractSet[str], since_perf_ns: int) -> None:
        """The modules that are in ``sys.modules`` now and were not in ``before``, other than the
        tracer's own: imported by the tracer's ``step``, which began at ``perf_counter_ns()`` ``since_perf_ns``."""
        duration = time.perf_counter_ns() - since_perf_ns
        added = tuple(sorted(name for name in set(sys.modules) - before if name.partition(".")[0] != "otel_import_tracer"))
        self.tracer_imports.append((step, added, self.clock.now_ns() - duration, duration))

    # -- writing (collectors) -------------------------------------------------------------

    def begin_load(
        self, path: str, name: str, parent: Optional[str], thread: str, source: str, timed: bool = True
    ) -> Optional[ModuleLoad]:
        """Record a load starting now; None if the file is already recorded. ``timed``: ``end_load``
        will close it, so it is on this thread's import stack until then."""
        start = self.clock.now_ns()
        with self._lock:
            if path in self._loads:
                return None
            load = ModuleLoad(
                name=name,
                file=path,
                start_ns=start,
                parent=parent,
                thread=thread,
                source=source,
                lazy=self.startup_complete_ns is not None,
            )
            self._loads[path] = load
        if timed:
            self._stacks.push(load)
        return load

    def end_load(self, load: ModuleLoad) -> None:
        """Close a load begun with ``begin_load`` and tell the listeners."""
        end = self.clock.now_ns()
        with self._lock:
            load.end_ns = end
        self._stacks.pop(load, end - load.start_ns)
        self._notify_load(load)

    def begin_dependency(
        self, name: str, importer: Optional[str], importer_file: str, line: Optional[int], thread: str
    ) -> Optional[DependencyLoad]:
        """Record a dependency load starting now; None past ``MAX_DEPENDENCIES``. No lock: one
        ``list.append`` is atomic, and a module is loaded once, so no two threads record the same one."""
        if len(self._dependencies) >= self.MAX_DEPENDENCIES:
            return None
        dependency = DependencyLoad(name, importer, importer_file, line, self.clock.now_ns(), thread,
                                    self.startup_complete_ns is not None)
        self._dependencies.append(dependency)
        self._stacks.push(dependency)
        return dependency

    def end_dependency(self, dependency: DependencyLoad) -> None:
        end = dependency.end_ns = self.clock.now_ns()
        self._stacks.pop(dependency, end - dependency.start_ns)
        self._notify_dependency(dependency)

    def innermost(self) -> Optional[Stacked]:
        """The timed load in progress on this thread that began last (whose import code runs in now), or None."""
        return self._stacks.innermost()

    def alias(self, claimed: str) -> None:
        """Code of a recorded load names the file ``claimed`` (a sourceless module's ``.py``)."""
        self._aliases.add(claimed)

    def note_executed(self, path: str, name: str, parent: Optional[str], thread: str) -> None:
        """A collector saw code of ``path`` run; record it unless already known."""
        load = self.begin_load(path, name, parent, thread, SOURCE_EXECUTED, timed=False)
        if load is not None:
            self._notify_load(load)

    def add_failure(
        self,
        name: str,
        importer: Optional[str],
        importer_file: Optional[str],
        line: Optional[int],
        exc_type: str,
        message: str,
        thread: str,
    ) -> None:
        """Record a failed import; a repeat of a known one (what, where) only counts.

        A handler retrying an optional import on every request must cost next to nothing
        and make no new span: listeners hear the first occurrence only."""
        key = (name, importer_file, line, exc_type)
        with self._lock:
            count = self._failure_counts.get(key)
            if count is not None:
                self._failure_counts[key] = count + 1
                return
            if len(self._failures) >= self.MAX_FAILURES:
                return
            failure = FailedImport(
                name=name,
                importer=importer,
                importer_file=importer_file,
                line=line,
                exception_type=exc_type,
                message=message,
                time_ns=self.clock.now_ns(),
                thread=thread,
                lazy=self.startup_complete_ns is not None,
            )
            self._failure_counts[key] = 1
            self._failures.append(failure)
        self._notify_failure(failure)

    def failure_count(self, failure: FailedImport) -> int:
        """How many times ``failure`` (what, where) happened."""
        key = (failure.name, failure.importer_file, failure.line, failure.exception_type)
        with self._lock:
            return self._failure_counts.get(key, 0)

    def sweep(
        self, modules: Optional[Mapping[str, object]] = None, preloaded: bool = False, source: Optional[str] = None
    ) -> int:
        """Record every module under the root found in ``sys.modules``; returns how many were new.

        This is what makes the record complete whatever the hooks missed: modules imported
        before tracing started (``preloaded``; ``source`` says how, e.g. inherited from a
        forking parent), or through a finder placed ahead of ours. A sweep of ``sys.modules``
        looks only at the names no sweep has seen with a file (their set difference, taken in C):
        the stop's sweep after startup's costs ~0.3 M instructions, not ~7 M (3.12, 750 modules).
        """
        if modules is None:
            seen: List[Any] = []
            found = root_files_in(sys.modules, self.root, sys.modules.keys() - self._swept, seen)
            self._swept.update(seen)
        else:
            found = root_files_in(modules, self.root)
        if not found:
            return 0
        now = self.clock.now_ns()
        if source is None:
            source = SOURCE_PRELOADED if preloaded else SOURCE_SYS_MODULES
        new: List[ModuleLoad] = []
        with self._lock:
            for path, name in found:
                if path not in self._loads:
                    load = ModuleLoad(
                        name=name,
                        file=path,
                        start_ns=self.started_ns if preloaded else now,
                        parent=None,
                        thread="",
                        source=source,
                        lazy=self.startup_complete_ns is not None,
                    )
                    self._loads[path] = load
                    new.append(load)
        for load in new:
            self._notify_load(load)
        return len(new)

    def mark_startup_complete(self, failure: Optional[str] = None) -> bool:
        """Everything loaded from now on is lazy. Returns False if it was already marked.

        ``failure``: the application reported that its startup failed, and why."""
        with self._lock:
            if self.startup_complete_ns is not None:
                return False
            self.startup_complete_ns = self.clock.now_ns()
            # The system clock then: the application's own spans under app.startup are stamped
            # with it, and it drifts from the monotonic clock the loads are timed with.
            self.startup_complete_wall_ns = time.time_ns()
            self.startup_failure = failure
            return True

    def is_empty(self) -> bool:
        """Nothing under the root loaded or failed here: a supervisor, a reloader, a helper."""
        with self._lock:
            return not self._loads and not self._failures

    def subscribe(self, listener: Listener) -> None:
        with self._lock:
            self._listeners = self._listeners + (listener,)

    def unsubscribe(self, listener: Listener) -> None:
        with self._lock:
            self._listeners = tuple(known for known in self._listeners if known is not listener)

    def knows(self, path: str) -> bool:
        """Whether ``path`` is recorded; lock-free, for the collectors' fast path."""
        return path in self._loads or path in self._aliases

    # -- reading (telemetry, logs, report) ------------------------------------------------

    def loads(self) -> List[ModuleLoad]:
        """All loads, in the order they started."""
        with self._lock:
            loads = list(self._loads.values())
        loads.sort(key=lambda load: (load.start_ns, load.file))
        return loads

    def failures(self) -> List[FailedImport]:
        with self._lock:
            return list(self._failures)

    def dependencies(self) -> List[DependencyLoad]:
        """Dependency loads in the order they started."""
        return list(self._dependencies)

    def files(self) -> Set[str]:
        """The ``.py`` files loaded (a sourceless module's ``.pyc`` is in ``loads()`` only)."""
        with self._lock:
            return {path for path in self._loads if is_source(path)}

    def modules(self) -> Set[str]:
        with self._lock:
            return {load.name for load in self._loads.values()}

    def sorted_files_and_modules(self) -> Tuple[List[str], List[str]]:
        """The ``.py`` files and all module names, sorted, each once: what the shutdown lines print
        (``LOADED_SRC_FILE`` lists source files; a sourceless module is a ``LOADED_MODULE`` only).

        Lists, not the sets ``files()`` and ``modules()`` copy: at 20,000 modules each set is a
        megabyte, and the stop is when the process's memory peaks."""
        with self._lock:
            files = sorted(path for path in self._loads if is_source(path))  # one per file already
            names = sorted(load.name for load in self._loads.values())
        return files, [name for name, _ in itertools.groupby(names)]

    # Each listener is called outside the lock; a listener's error never reaches the importer.

    def _notify_load(self, load: ModuleLoad) -> None:
        for listener in self._listeners:
            try:
                listener.on_load(load)
            except Exception as exc:
                messages.internal_error(exc)

    def _notify_dependency(self, dependency: DependencyLoad) -> None:
        for listener in self._listeners:
            try:
                listener.on_dependency(dependency)
            except Exception as exc:
                messages.internal_error(exc)

    def _notify_failure(self, failure: FailedImport) -> None:
        for listener in self._listeners:
            try:
                listener.on_failure(failure)
            except Exception as exc:
                messages.internal_error(exc)

