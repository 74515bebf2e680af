"""What the export thread sends once it has somewhere to send it: the startup trace.

``app.startup`` carries one ``module.loaded`` event per load and one ``module.import_failed``
per failure, and is flushed alone first, so the startup trace is out within moments and a
later SIGKILL loses nothing; then come the import waterfall's spans, in start order, flushed
every ``FLUSH_EVERY``. The trace id goes to the report as soon as it is known.

Imported by the export thread only (the SDK is imported by then): never on the import path.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from otel_import_tracer import messages, semconv

if TYPE_CHECKING:
    from otel_import_tracer.telemetry import Telemetry

# Flush after this many waterfall spans: far below any sane span queue (SDK default 2048),
# so thousands of imports all arrive even through an application's own provider.
FLUSH_EVERY = 512
FLUSH_TIMEOUT_MS = 10_000


def startup_trace(telemetry: Telemetry, destination: Any) -> None:
    """``app.startup`` with an event per load and failure, flushed alone first (the startup trace is
    out within moments), then the import waterfall in batches; the report learns the trace id."""
    from otel_import_tracer.telemetry.spans import emit_waterfall, finish_startup, start_startup

    registry = telemetry._registry
    loads = [load for load in registry.loads() if not load.lazy]
    failures = [failure for failure in registry.failures() if not failure.lazy]
    dependencies = [dependency for dependency in registry.dependencies() if not dependency.lazy and dependency.end_ns is not None]
    end_ns = registry.startup_complete_ns or registry.now_ns()
    attributes = {
        semconv.ATTR_TRACING_ROOT: telemetry._config.root,
        semconv.ATTR_TRACING_COLLECTOR: telemetry._collector,
        semconv.ATTR_MODULE_COUNT: len(loads),
        semconv.ATTR_PRELOADED_COUNT: sum(1 for load in loads if load.preloaded),
        semconv.ATTR_FAILED_IMPORT_COUNT: len(failures),
        semconv.ATTR_DEPENDENCY_COUNT: len(dependencies),
    }
    from otel_import_tracer import kind

    attributes.update(kind.span_attributes(telemetry.role or semconv.ROLE_SCRIPT, registry.root.root))
    if registry.lazy_plan:
        attributes[semconv.ATTR_LAZY_PLAN] = True
    if telemetry._open_startup is not None and registry.startup_complete_wall_ns is not None:
        # The application's spans under it are on the system clock: never end before them.
        end_ns = max(end_ns, registry.startup_complete_wall_ns)
    complete = registry.startup_complete_ns
    lazy_imports = [lazy for lazy in registry.lazy_imports() if complete is None or lazy.declared_ns <= complete]
    span = telemetry._open_startup or start_startup(destination.tracer, registry.started_ns)
    telemetry._open_startup = None
    finish_startup(span, end_ns, loads, failures, attributes, registry.startup_failure, lazy_imports)
    # Only its context is kept: the ended span holds every event until it is dropped.
    context = span.get_span_context()
    del span
    if not context.trace_flags.sampled:
        _not_sampled(destination)
        return
    if context.is_valid:
        telemetry._trace_id = format(context.trace_id, "032x")
    telemetry._imports_planned = (sum(1 for load in loads if load.end_ns is not None) + len(dependencies)) if telemetry._config.spans else 0
    flushed = destination.flush(FLUSH_TIMEOUT_MS)  # app.startup first, alone
    telemetry._startup_sent = flushed
    if telemetry._trace_id and telemetry._on_trace_id is not None:
        telemetry._on_trace_id()
    imports = 0
    if telemetry._config.spans:

        def flush(count: int) -> None:
            # Past an unconfirmed app.startup, do not wait on the exporter for every batch.
            if flushed and destination.flush(FLUSH_TIMEOUT_MS):
                telemetry._imports_sent = count

        imports = emit_waterfall(destination.tracer, context, loads, FLUSH_EVERY, flush, dependencies)
        done = destination.flush(FLUSH_TIMEOUT_MS)
        if done:
            telemetry._imports_sent = imports
        flushed = flushed and done
    outcome = "exported" if flushed else "not confirmed by the exporter (is the collector reachable?)"
    messages.info(
        f"startup trace {telemetry._trace_id} {outcome}: {len(loads)} module.loaded events, "
        f"{len(failures)} module.import_failed events, {imports} import spans via {destination.description}."
    )

def _not_sampled(destination: Any) -> None:
    """The application's sampler dropped ``app.startup`` (and so the waterfall under it)."""
    sampler = getattr(destination.provider, "sampler", None)
    described = getattr(sampler, "get_description", lambda: type(sampler).__name__)()
    raise_ratio = ", or raise OTEL_TRACES_SAMPLER_ARG" if "Ratio" in described else ""
    messages.warn(
        "startup-not-sampled",
        f"app.startup was not sampled by the application's TracerProvider (sampler {described}), so "
        "this process's import trace is not exported (the log lines and report are complete); to keep "
        f"it, sample spans named app.startup always (one per process){raise_ratio}.",
    )
