"""OpenTelemetry for the tracer: reads the registry, never feeds it.

- One export thread per process, started idle at the first load under the root (an exiting
  interpreter may refuse new threads, so it must exist before it is needed). At startup
  completion it imports the SDK (off the application's critical path), picks where spans go,
  and sends ``app.startup`` with one ``module.loaded`` event per load and one
  ``module.import_failed`` per failure first, then the import waterfall in start order: the
  startup trace is out within moments, so a later SIGKILL loses nothing (``export``: what the
  thread sends; this module: the thread, its jobs, and the listener that feeds it).
- Where the application has an SDK provider, ``app.startup`` is started when the lifespan
  begins and is the current span of the lifespan task, so the application's own startup spans
  are its children; the export thread adds the events and ends it at startup completion.
- After that, each lazy load or failure goes on the span current in the importing thread
  (the request span, with the FastAPI instrumentation), synchronously, or to a short span
  of its own, made by the export thread.
- ``shutdown`` waits a bounded time for all of it, and says how much went out if it was cut.

Importing this module imports nothing from OpenTelemetry.
"""

from __future__ import annotations

import _thread
import os
import sys
import threading
import time

# collections' C half, imported by threading: collections itself is not, on 3.14+.
from _collections import deque
TYPE_CHECKING = False  # typing is not imported at run time: the app would find it already paid for
if TYPE_CHECKING:
    from typing import Any, Callable, Dict, List, Optional, Tuple

from otel_import_tracer import messages, semconv
from otel_import_tracer.config import IMPORT_TRACING_SHUTDOWN_TIMEOUT, Config
from otel_import_tracer.registry import DependencyLoad, FailedImport, Listener, ModuleLoad, Registry
from otel_import_tracer.telemetry import lazy_events
from otel_import_tracer.telemetry.environment import exports_by_itself, unconfigured
from otel_import_tracer.telemetry.attributes import dependency_attributes, failure_attributes, load_attributes

JOB_QUEUE_SIZE = 10_000
RECHECK_AFTER_S = 10.0

if TYPE_CHECKING:
    _Lazy = Tuple[str, Dict[str, Any], int, int]
_STARTUP = "startup"
_STOP = "stop"
_PAUSE = "pause"  # a fork is coming: end the thread; a new one takes the jobs after it


class _Jobs:
    """The export thread's jobs; adding one is safe from a signal handler that interrupted another add.

    ``queue.Queue`` guards itself with a plain lock: a SIGTERM handler stopping tracing while the
    main thread is inside ``put`` (a lazy import) would wait on that lock forever. A deque's append
    and a raw lock's release are single C calls, which no Python signal handler can interrupt.
    """

    def __init__(self, size: int) -> None:
        self._items: "deque[Any]" = deque()
        self._size = size
        self._ready = _thread.allocate_lock()  # released when there may be something to take
        self._ready.acquire()

    def put(self, item: Any, always: bool = False, first: bool = False) -> bool:
        """Add ``item``; False if the jobs are full (``always``: add it anyway; ``first``: before the rest)."""
        if not always and len(self._items) >= self._size:
            return False
        if first:
            self._items.appendleft(item)
        else:
            self._items.append(item)
        try:
            self._ready.release()
        except RuntimeError:  # already released: the thread will find this one too
            pass
        return True

    def get(self) -> Any:
        """The oldest job, waiting for one (the export thread only)."""
        while True:
            try:
                return self._items.popleft()
            except IndexError:
                self._ready.acquire()

    def empty(self) -> bool:
        return not self._items


class Telemetry(Listener):
    def __init__(
        self,
        config: Config,
        registry: Registry,
        collector: str,
        on_trace_id: Optional[Callable[[], None]] = None,
        inherited: bool = False,
    ) -> None:
        self._config = config
        self._registry = registry
        self._collector = collector
        self._on_trace_id = on_trace_id
        self._jobs = _Jobs(JOB_QUEUE_SIZE)
        self._worker: Optional[threading.Thread] = None
        self._worker_lock = threading.Lock()
        self._done = threading.Event()  # the export thread has finished its last job
        # Around a fork (pause, resume): the thread ends at its next job and a new one goes on.
        self._pause_lock = threading.Lock()
        self._pausing = False
        self._paused = False
        self._destination: Any = None
        self._refused: Any = None  # an OTLP endpoint found unusable: (when, setup.Refused)
        self._open_startup: Any = None  # app.startup, started at the lifespan's beginning
        self._trace_id: Optional[str] = None
        self._startup_queued = False
        self._announced = False
        self._discarded = False
        self.role: Optional[str] = None  # semconv.ROLE_SUPERVISOR, said on app.startup
        # What went out, for the message when a shutdown cuts the export short.
        self._startup_sent = False
        self._imports_planned = 0
        self._imports_sent = 0

    def start(self) -> None:
        from otel_import_tracer.telemetry import group

        group.join()  # before any child is started: they inherit it
        self._registry.subscribe(self)

    def announce(self) -> None:
        """If the environment asks for no export, say so now (before the shutdown lines), once
        per process group: every worker of a command would say the same. Imports no SDK."""
        if self._announced:
            return
        self._announced = True
        from otel_import_tracer.telemetry import group
        note = unconfigured()  # without setup, which brings dataclasses, inspect, ast... to a small app
        if note is None or _application_destination() is not None:
            return
        if group.first_to_say("no-export"):
            messages.info(note)

    def arm(self) -> bool:
        """Start the export thread (idle until there is something to send); False if impossible."""
        # Bounded: a SIGTERM handler may have interrupted this very thread while it held the lock.
        if not self._worker_lock.acquire(timeout=1.0):
            return False
        try:
            return self._start_worker()
        finally:
            self._worker_lock.release()

    def _start_worker(self) -> bool:
        if self._worker is not None:
            return True
        # The SDK needs concurrent.futures.thread, which registers a threading exit hook when
        # first imported: refused once the interpreter is exiting, which is when a process
        # without a lifespan exports. Already imported by asyncio apps; ~15 ms otherwise (with
        # logging, traceback, queue...), paid only by a process that loads something under the
        # root and exports by itself, and reported as the tracer's. Without an exporter set,
        # nothing: an application's own provider came with the SDK, imported by the application.
        if "concurrent.futures.thread" not in sys.modules and exports_by_itself():
            before, since = frozenset(sys.modules), time.perf_counter_ns()
            try:
                import concurrent.futures.thread  # noqa: F401
            except RuntimeError:
                pass
            self._registry.note_tracer_imports("export", before, since)
        worker = threading.Thread(target=self._run, name="otel-import-tracer-export", daemon=True)
        try:
            worker.start()
        except RuntimeError:  # the interpreter is exiting and refuses new threads
            return False
        self._worker = worker
        return True

    def pause(self, timeout: float) -> Optional[threading.Thread]:
        """A fork is coming: end the export thread once its job in hand is done (waiting
        ``timeout`` at most), so that the fork finds no thread of ours. The thread ended, if it did."""
        worker = self._worker
        if worker is None or not worker.is_alive():
            return None
        with self._pause_lock:
            self._pausing = True
        self._jobs.put(_PAUSE, always=True, first=True)
        worker.join(timeout)
        return None if worker.is_alive() else worker

    def resume(self) -> None:
        """The fork is done (in the parent): a new export thread takes the jobs that wait."""
        with self._pause_lock:
            if not self._pausing:
                return
            self._pausing = False  # a thread still busy ignores the pause when it gets to it
            if not self._paused:
                return
            self._paused = False
            worker = threading.Thread(target=self._run, name="otel-import-tracer-export", daemon=True)
            try:
                worker.start()
            except RuntimeError:  # the interpreter is exiting: shutdown then says nothing went out
                self._done.set()
                return
            self._worker = worker

    def _pause_now(self) -> bool:
        with self._pause_lock:
            self._paused = self._pausing
            return self._paused

    def startup_trace_id(self) -> Optional[str]:
        return self._trace_id

    def startup_context(self) -> Any:
        """Start ``app.startup`` now on the application's provider and return a context holding it."""
        if self._open_startup is not None or self._startup_queued:
            return None
        destination = _application_destination()
        if destination is None:
            return None
        from opentelemetry import trace

        from otel_import_tracer.telemetry import spans

        self._destination = destination
        self._open_startup = spans.start_startup(destination.tracer, self._registry.started_ns)
        return trace.set_span_in_context(self._open_startup)

    def startup_complete(self) -> None:
        if self._startup_queued:
            return
        self._startup_queued = True
        self.announce()
        if not self.arm():
            messages.warn(
                "telemetry-no-thread",
                "the export thread could not be started (the interpreter is exiting, or a signal "
                "interrupted its start), so this process's import trace is not exported (the log lines "
                "and report are complete).",
            )
            return
        self._put(_STARTUP)

    def shutdown(self, timeout: float) -> None:
        """Let the export thread send what it has, waiting ``timeout`` seconds at most."""
        self._registry.unsubscribe(self)
        _release_notes()
        if self._worker is None:
            return
        deadline = time.monotonic() + timeout
        lazy_events.never_used(self)
        self._jobs.put(_STOP, always=True)  # after any lazy imports still waiting
        if not self._done.wait(max(0.0, deadline - time.monotonic())):
            self._late(timeout)

    def discard(self) -> None:
        """Nothing of this process is worth sending (it loaded nothing under the root)."""
        self._registry.unsubscribe(self)
        _release_notes()
        self._discarded = True
        if self._worker is not None:
            self._jobs.put(_STOP, always=True)

    # -- Listener: runs in the importing thread, inside the import; no imports, no blocking --

    def on_load(self, load: ModuleLoad) -> None:
        if load.lazy:
            self._on_lazy(semconv.EVENT_MODULE_LOADED, load_attributes, load, load.start_ns, load.end_or_start_ns)

    def on_dependency(self, dependency: DependencyLoad) -> None:
        if dependency.lazy:
            self._on_lazy(
                semconv.EVENT_DEPENDENCY_LOADED, dependency_attributes, dependency, dependency.start_ns, dependency.end_or_start_ns
            )

    def on_failure(self, failure: FailedImport) -> None:
        if failure.lazy:
            self._on_lazy(semconv.EVENT_IMPORT_FAILED, failure_attributes, failure, failure.time_ns, failure.time_ns)

    def _on_lazy(self, event: str, describe: Callable[[Any], Dict[str, Any]], item: Any, start_ns: int, end_ns: int) -> None:
        try:
            attributes = describe(item)
        except Exception as exc:
            messages.warn("telemetry-lazy-attributes", f"a lazy import could not be described ({exc!r}); please report this.")
            return
        span = _current_span()
        if span is not None:
            try:
                span.add_event(event, attributes, timestamp=start_ns)
                lazy_events.note_request(item, span)
                return
            except Exception as exc:
                messages.warn(
                    "telemetry-lazy-current-span",
                    f"a lazy import could not be added to the current span ({exc!r}); it gets a span of its own.",
                )
        self._put((event, attributes, start_ns, end_ns))

    def _put(self, item: Any) -> None:
        if not self._jobs.put(item):
            messages.warn("lazy-queue-full", "too many lazy imports at once; some are only in the logs and report.")

    # -- the export thread --

    def _run(self) -> None:
        finished = True
        try:
            while True:
                job = self._jobs.get()
                if job == _PAUSE:
                    if self._pause_now():
                        finished = False
                        return
                    continue
                if job == _STOP:
                    if not self._discarded:
                        self._final_flush()
                    return
                if self._discarded:
                    continue
                if job == _STARTUP:
                    self._export()
                else:
                    self._export_lazy(job)
        finally:
            if finished:
                self._done.set()

    def _export(self) -> None:
        try:
            note = None if "opentelemetry.sdk.trace" in sys.modules else unconfigured()
            if self._destination is None and note is not None:  # setup.resolve's answer, without setup
                if not self._announced:
                    messages.info(note)
                return
            from otel_import_tracer.telemetry import setup

            if self._destination is None:
                refused: List[Any] = []
                self._destination = setup.resolve(refused=refused, announced=self._announced)
                if refused:
                    self._refused = (time.monotonic(), refused[0])
            if self._destination is not None:
                from otel_import_tracer.telemetry import export

                export.startup_trace(self, self._destination)
        except Exception as exc:
            self._destination = None
            messages.warn(
                "telemetry-export-error",
                f"import traces could not be exported ({_why(exc)}); the application is unaffected.",
            )

    def _export_lazy(self, item: _Lazy) -> None:
        destination = self._destination
        if destination is None:
            return
        try:
            from otel_import_tracer.telemetry import spans
            from otel_import_tracer.telemetry.export import FLUSH_TIMEOUT_MS

            event, attributes, start_ns, end_ns = item
            spans.emit_own_span(destination.tracer, event, attributes, start_ns, end_ns)
            if self._jobs.empty():
                destination.flush(FLUSH_TIMEOUT_MS)
        except Exception as exc:
            messages.warn("telemetry-lazy-span", f"a lazy import span could not be made ({exc!r}).")

    def _final_flush(self) -> None:
        if self._destination is None and self._refused is not None:
            self._look_again()
        destination = self._destination
        if destination is None:
            return
        try:
            from otel_import_tracer.telemetry.export import FLUSH_TIMEOUT_MS

            destination.flush(FLUSH_TIMEOUT_MS)
            destination.close()
        except Exception as exc:
            messages.warn("telemetry-flush-error", f"flushing import traces failed ({exc!r}).")

    def _look_again(self) -> None:
        """An endpoint refused a while ago (a collector starting after the app): once more at
        stop, and the startup trace if it now accepts; at once after, it would refuse again."""
        refused_at, refused = self._refused
        self._refused = None
        if time.monotonic() - refused_at < RECHECK_AFTER_S or refused.check() is not None:
            return
        self._export()

    def _late(self, timeout: float) -> None:
        if not self._startup_sent and not self._imports_planned:
            # Not queued, the SDK still importing, or the spans not built yet: "0 of 0" would say nothing.
            sent = "nothing was confirmed sent yet"
        else:
            sent = (
                f"app.startup {'was' if self._startup_sent else 'was not yet'} exported, "
                f"{self._imports_sent} of {self._imports_planned} import spans"
            )
        messages.warn(
            "shutdown-timeout",
            f"import traces were still being exported after {timeout:g}s and were abandoned so "
            f"shutdown is not held up ({sent}); raise {IMPORT_TRACING_SHUTDOWN_TIMEOUT} to wait longer.",
        )


def _current_span() -> Any:
    """The recording span current in this thread, or None.

    None while OpenTelemetry's API is still being imported (by the export thread, or by the
    application): a half-made module may lack what it is about to define, and the load must
    not be lost for it; it then gets a span of its own."""
    trace = sys.modules.get("opentelemetry.trace")
    if trace is None or _initializing(trace) or _initializing(sys.modules.get("opentelemetry.context")):
        return None
    try:
        span = trace.get_current_span()
        return span if span.is_recording() else None
    except Exception:
        return None


def _initializing(module: Any) -> bool:
    return bool(getattr(getattr(module, "__spec__", None), "_initializing", False))


def _why(exc: BaseException) -> str:
    if isinstance(exc, RuntimeError) and "interpreter shutdown" in str(exc):
        return (
            f"{exc}: Python {sys.version.split()[0]} refuses new threads while exiting, which importing the "
            "exporter needs (fixed in Python 3.12.2); complete startup before exit (a lifespan, "
            "mark_startup_complete()) or upgrade Python"
        )
    return repr(exc)


def _release_notes() -> None:
    group = sys.modules.get("otel_import_tracer.telemetry.group")
    if group is not None:  # imported by start(); nothing to release otherwise
        group.release()


def _application_destination() -> Any:  # setup's answer, without importing setup where there is no SDK to find
    if "opentelemetry.sdk.trace" not in sys.modules:
        return None
    from otel_import_tracer.telemetry import setup
    return setup.application_destination()
