"""OpenTelemetry for the tracer: reads the registry, never feeds it.

- At startup completion an export thread imports the SDK (off the application's critical
  path), picks where spans go, and sends ``app.startup`` with one ``module.loaded`` event
  per load and one ``module.import_failed`` per failure, then the import waterfall, flushing
  as it goes: the startup trace is out within moments, so a later SIGKILL loses nothing.
- After that, each lazy load or failure goes on the span current in the importing thread
  (the request span, with the FastAPI instrumentation), synchronously, or to a short span
  of its own, made by the export thread.
- ``shutdown`` waits a bounded time for all of it.

Importing this module imports nothing from OpenTelemetry.
"""

from __future__ import annotations

import queue
import sys
import threading
import time
from typing import Any, Callable, Dict, Optional, Tuple

from otel_import_tracer import messages, semconv
from otel_import_tracer.config import IMPORT_TRACING_SHUTDOWN_TIMEOUT, Config
from otel_import_tracer.registry import FailedImport, Listener, ModuleLoad, Registry
from otel_import_tracer.telemetry.attributes import failure_attributes, load_attributes

# Flush after this many waterfall spans: far below any sane span queue (SDK default 2048),
# so thousands of imports all arrive even through an application's own provider.
FLUSH_EVERY = 512
FLUSH_TIMEOUT_MS = 10_000
LAZY_QUEUE_SIZE = 10_000

_Lazy = Tuple[str, Dict[str, Any], int, int]
_STOP = None


class Telemetry(Listener):
    def __init__(
        self,
        config: Config,
        registry: Registry,
        collector: str,
        on_trace_id: Optional[Callable[[], None]] = None,
    ) -> None:
        self._config = config
        self._registry = registry
        self._collector = collector
        self._on_trace_id = on_trace_id
        self._lazy: "queue.Queue[Optional[_Lazy]]" = queue.Queue(LAZY_QUEUE_SIZE)
        self._worker: Optional[threading.Thread] = None
        self._destination: Any = None
        self._trace_id: Optional[str] = None

    def start(self) -> None:
        self._registry.subscribe(self)
        # The SDK needs concurrent.futures.thread, which registers a threading exit hook when
        # first imported: impossible once the interpreter is exiting, which is when a process
        # without a lifespan exports. Already imported by asyncio apps; ~15 ms otherwise.
        import concurrent.futures.thread  # noqa: F401

    def startup_trace_id(self) -> Optional[str]:
        return self._trace_id

    def startup_complete(self) -> None:
        if self._worker is not None:
            return
        worker = threading.Thread(target=self._run, name="otel-import-tracer-export", daemon=True)
        try:
            worker.start()
        except RuntimeError:
            # The interpreter is exiting (a process without a lifespan; Python 3.12 refuses new
            # threads then): export right here, with a processor that needs no thread.
            self._export(synchronous=True)
            return
        self._worker = worker

    def shutdown(self, timeout: float) -> None:
        """Let the export thread finish its queue, then flush, waiting ``timeout`` seconds at most."""
        self._registry.unsubscribe(self)
        deadline = time.monotonic() + timeout
        worker = self._worker
        if worker is not None:
            try:  # waits for room if lazy imports filled the queue, never past the deadline
                self._lazy.put(_STOP, timeout=max(0.0, deadline - time.monotonic()))
            except queue.Full:
                pass
            worker.join(max(0.0, deadline - time.monotonic()))
            if worker.is_alive():
                self._late(timeout)
                return
        destination = self._destination
        if destination is None:
            return
        closer = threading.Thread(target=self._close, args=(destination, deadline), name="otel-import-tracer-flush", daemon=True)
        try:
            closer.start()
        except RuntimeError:  # exiting: see startup_complete
            self._close(destination, deadline)
            return
        closer.join(max(0.0, deadline - time.monotonic()))
        if closer.is_alive():
            self._late(timeout)

    # -- Listener: runs in the importing thread, inside the import; no imports, no blocking --

    def on_load(self, load: ModuleLoad) -> None:
        if load.lazy:
            end = load.end_ns if load.end_ns is not None else load.start_ns
            self._on_lazy(semconv.EVENT_MODULE_LOADED, load_attributes, load, load.start_ns, end)

    def on_failure(self, failure: FailedImport) -> None:
        if failure.lazy:
            self._on_lazy(semconv.EVENT_IMPORT_FAILED, failure_attributes, failure, failure.time_ns, failure.time_ns)

    def _on_lazy(self, event: str, describe: Callable[[Any], Dict[str, Any]], item: Any, start_ns: int, end_ns: int) -> None:
        try:
            attributes = describe(item)
            api = sys.modules.get("opentelemetry.trace")
            if api is not None:
                span = api.get_current_span()
                if span.is_recording():
                    span.add_event(event, attributes, timestamp=start_ns)
                    return
            self._put((event, attributes, start_ns, end_ns))
        except Exception as exc:
            messages.warn("telemetry-error", f"a lazy import could not be added to a span ({exc!r}).")

    def _put(self, item: Optional[_Lazy]) -> None:
        try:
            self._lazy.put_nowait(item)
        except queue.Full:
            messages.warn("lazy-queue-full", "too many lazy imports at once; some are only in the logs and report.")

    # -- the export thread --

    def _run(self) -> None:
        self._export()
        self._drain_lazy()

    def _export(self, synchronous: bool = False) -> None:
        try:
            from otel_import_tracer.telemetry import setup

            self._destination = setup.resolve(synchronous=synchronous)
            if self._destination is not None:
                self._export_startup(self._destination)
        except Exception as exc:
            messages.warn("telemetry-error", f"import traces could not be exported ({exc!r}); the application is unaffected.")
            self._destination = None

    def _export_startup(self, destination: Any) -> None:
        from otel_import_tracer.telemetry import spans

        registry = self._registry
        loads = [load for load in registry.loads() if not load.lazy]
        failures = [failure for failure in registry.failures() if not failure.lazy]
        end_ns = registry.startup_complete_ns or registry.now_ns()
        attributes = {
            semconv.ATTR_TRACING_ROOT: self._config.root,
            semconv.ATTR_TRACING_COLLECTOR: self._collector,
            semconv.ATTR_MODULE_COUNT: len(loads),
            semconv.ATTR_PRELOADED_COUNT: sum(1 for load in loads if load.preloaded),
            semconv.ATTR_FAILED_IMPORT_COUNT: len(failures),
        }
        # Only its context is kept: the ended span holds every event until it is dropped.
        context = spans.emit_startup(destination.tracer, registry.started_ns, end_ns, loads, failures, attributes).get_span_context()
        if context.is_valid:
            self._trace_id = format(context.trace_id, "032x")
        flushed = destination.provider.force_flush(FLUSH_TIMEOUT_MS)
        if self._trace_id and self._on_trace_id is not None:
            self._on_trace_id()
        imports = 0
        if self._config.spans:
            flush = (lambda: destination.provider.force_flush(FLUSH_TIMEOUT_MS)) if flushed else (lambda: None)
            imports = spans.emit_waterfall(destination.tracer, context, loads, FLUSH_EVERY, flush)
            flushed = destination.provider.force_flush(FLUSH_TIMEOUT_MS) and flushed
        outcome = "exported" if flushed else "not confirmed by the exporter (is the collector reachable?)"
        messages.info(
            f"startup trace {self._trace_id} {outcome}: {len(loads)} module.loaded events, "
            f"{len(failures)} module.import_failed events, {imports} import spans via {destination.description}."
        )

    def _drain_lazy(self) -> None:
        while True:
            item = self._lazy.get()
            if item is _STOP:
                return
            destination = self._destination
            if destination is None:
                continue
            try:
                from otel_import_tracer.telemetry import spans

                event, attributes, start_ns, end_ns = item
                spans.emit_own_span(destination.tracer, event, attributes, start_ns, end_ns)
            except Exception as exc:
                messages.warn("telemetry-error", f"a lazy import span could not be made ({exc!r}).")

    def _close(self, destination: Any, deadline: float) -> None:
        try:
            remaining_ms = max(0, int((deadline - time.monotonic()) * 1000))
            destination.provider.force_flush(remaining_ms)
            if destination.owned:
                destination.provider.shutdown()
        except Exception as exc:
            messages.warn("telemetry-error", f"flushing import traces failed ({exc!r}).")

    def _late(self, timeout: float) -> None:
        messages.warn(
            "shutdown-timeout",
            f"import traces were still being exported after {timeout:g}s and were abandoned so "
            f"shutdown is not held up; raise {IMPORT_TRACING_SHUTDOWN_TIMEOUT} to wait longer.",
        )
