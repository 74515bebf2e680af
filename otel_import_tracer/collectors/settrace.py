"""The original mechanism: ``sys.settrace`` + ``threading.settrace``.

The trace function runs on every Python call in every traced thread for as long as
tracing is on, which is why it is not the default: it is the reference that sees any
code of the root that runs, in any way. It stays dumb: one dict lookup per call, never
a local trace function of its own (so no line events), and it chains to a trace
function that was already installed (a debugger, coverage.py) instead of replacing it.
"""

from __future__ import annotations

import sys
import threading
from types import FrameType
TYPE_CHECKING = False  # typing is not imported at run time: the app would find it already paid for
if TYPE_CHECKING:
    from typing import Any, Callable, Optional, Set

from otel_import_tracer import env, messages
import otel_import_tracer.collectors.frames as frames
from otel_import_tracer.naming import SourceRoot, imported_name
from otel_import_tracer.registry import Registry

if TYPE_CHECKING:
    TraceFunction = Callable[[FrameType, str, Any], Any]


class _Tracer:
    """One trace function, chained to whatever was installed before it."""

    def __init__(self, registry: Registry, root: SourceRoot, previous: Optional[TraceFunction]) -> None:
        self._registry = registry
        self._root = root
        self.previous = previous
        self._seen: Set[str] = set()
        self.active = True

    def __call__(self, frame: FrameType, event: str, arg: Any) -> Any:
        filename = frame.f_code.co_filename
        if filename not in self._seen and self.active:
            self._first_sight(frame, filename)
        previous = self.previous
        if not self.active and sys.gettrace() is self:
            # Stopped, and still installed in this thread (stop acts on its own thread only):
            # step aside for what was there before, never for what another tool set later.
            sys.settrace(previous)
        if previous is not None:
            return previous(frame, event, arg)
        return None

    def _first_sight(self, frame: FrameType, filename: str) -> None:
        self._seen.add(filename)
        try:
            hit = self._root.classify(filename, imported_name(frame.f_globals))
            if hit is not None and not self._registry.knows(hit[0]):
                parent = frames.describe(frames.importer_frame(frame.f_back), self._root)[0]
                self._registry.note_executed(hit[0], hit[1], parent, threading.current_thread().name)
        except Exception as exc:
            messages.internal_error(exc)


class SettraceCollector:
    """Installs the trace function in this thread, new threads, and (3.12+) running threads."""

    name = "settrace"

    def __init__(self, registry: Registry, root: SourceRoot) -> None:
        self._registry = registry
        self._root = root
        self._main: Optional[_Tracer] = None
        self._threads: Optional[_Tracer] = None
        self._previous_thread_hook: Optional[TraceFunction] = None
        self._all_threads = False
        self._owner = 0

    def start(self) -> None:
        previous = sys.gettrace()
        if previous is not None:
            messages.warn(
                "settrace-chained",
                f"a trace function is already installed ({_describe(previous)}); import tracing "
                "calls it after its own check, so both keep working, at the cost of both.",
            )
        self._previous_thread_hook = _thread_hook()
        self._main = _Tracer(self._registry, self._root, previous)
        self._threads = _Tracer(self._registry, self._root, self._previous_thread_hook)
        self._owner = threading.get_ident()
        self._all_threads = env.HAS_SETTRACE_ALL_THREADS and previous is None and self._previous_thread_hook is None
        if self._all_threads:
            # Nothing to chain to anywhere: reach the threads already running too.
            self._threads = self._main
            threading.settrace_all_threads(self._main)  # type: ignore[attr-defined]
        else:
            threading.settrace(self._threads)
            sys.settrace(self._main)

    def stop(self) -> None:
        if self._main is None or self._threads is None:
            return
        # Threads other than this one remove our function themselves at their next call.
        self._main.active = False
        self._threads.active = False
        if _thread_hook() is self._threads:
            # New threads: what was there before (nothing, when we reached all threads). Never
            # settrace_all_threads(None): it would remove what the app installed since, anywhere.
            threading.settrace(self._previous_thread_hook)  # type: ignore[arg-type]
        if threading.get_ident() != self._owner and not self._all_threads:
            return  # sys.settrace acts on the calling thread only; the starting thread steps aside itself
        current = sys.gettrace()
        if current is self._main:
            sys.settrace(self._main.previous)
        elif current is not None:
            messages.warn(
                "settrace-replaced",
                "another tool replaced the import tracing trace function; it was left in place.",
            )


def _thread_hook() -> Optional[TraceFunction]:
    if hasattr(threading, "gettrace"):
        return threading.gettrace()  # type: ignore[no-any-return]
    return getattr(threading, "_trace_hook", None)  # Python 3.9


def _describe(function: Any) -> str:
    owner = getattr(function, "__self__", None)
    target = owner if owner is not None else function
    return f"{type(target).__module__}.{type(target).__qualname__}"
