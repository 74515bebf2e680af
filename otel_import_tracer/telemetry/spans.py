"""Registry records -> spans and span events, following the telemetry contract of DESIGN.md."""

from __future__ import annotations

from typing import Any, Callable, Dict, List, Optional, Sequence, Union

from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode

from otel_import_tracer import semconv
from otel_import_tracer.registry import DependencyLoad, FailedImport, LazyImport, ModuleLoad
from otel_import_tracer.telemetry.attributes import (
    dependency_attributes,
    failure_attributes,
    lazy_attributes,
    load_attributes,
    state_at_startup,
)

_STATUS_CHARS = 2048  # Tempo keeps 2048 bytes of any attribute; a traceback is longer


def start_startup(tracer: Any, start_ns: int) -> Any:
    """The ``app.startup`` span, from when collection started (backdated); ended by ``finish_startup``."""
    return tracer.start_span(semconv.SPAN_STARTUP, kind=SpanKind.INTERNAL, start_time=start_ns)


def finish_startup(
    span: Any,
    end_ns: int,
    loads: Sequence[ModuleLoad],
    failures: Sequence[FailedImport],
    span_attributes: Dict[str, Any],
    failure: Optional[str] = None,
    lazy_imports: Sequence[LazyImport] = (),
) -> Any:
    """One event per load, per failure and per lazy import statement, in time order, the
    attributes, the status; then end it.

    ``failure``: the application's startup failed (``lifespan.startup.failed``) with this message."""
    span.set_attributes(span_attributes)
    # Attributes are built one event at a time: the SDK copies them, and 5,000 dicts held
    # at once would be megabytes at the moment the export's memory peaks.
    records: List[Union[ModuleLoad, FailedImport, LazyImport]] = [*loads, *failures, *lazy_imports]
    records.sort(key=_time_of)
    for record in records:
        if isinstance(record, ModuleLoad):
            span.add_event(semconv.EVENT_MODULE_LOADED, load_attributes(record), timestamp=record.start_ns)
        elif isinstance(record, LazyImport):
            attributes = lazy_attributes(record, state_at_startup(record))
            span.add_event(semconv.EVENT_LAZY_DECLARED, attributes, timestamp=record.declared_ns)
        else:
            span.add_event(semconv.EVENT_IMPORT_FAILED, failure_attributes(record), timestamp=record.time_ns)
    if failure is not None:
        span.set_attribute(semconv.ATTR_STARTUP_FAILED, True)
        span.set_status(Status(StatusCode.ERROR, failure[:_STATUS_CHARS]))
    start_ns = getattr(span, "start_time", None) or end_ns
    span.end(end_time=max(end_ns, start_ns))
    return span


def emit_startup(
    tracer: Any,
    start_ns: int,
    end_ns: int,
    loads: Sequence[ModuleLoad],
    failures: Sequence[FailedImport],
    span_attributes: Dict[str, Any],
) -> Any:
    """The ``app.startup`` span with one event per load and per failure, in time order, ended."""
    return finish_startup(start_startup(tracer, start_ns), end_ns, loads, failures, span_attributes)


def _time_of(record: Union[ModuleLoad, FailedImport, LazyImport]) -> int:
    if isinstance(record, LazyImport):
        return record.declared_ns
    return record.start_ns if isinstance(record, ModuleLoad) else record.time_ns


def emit_waterfall(
    tracer: Any,
    startup_context: Any,
    loads: Sequence[ModuleLoad],
    every: int,
    flush: Callable[[int], None],
    dependencies: Sequence[DependencyLoad] = (),
) -> int:
    """One ``import <name>`` span per timed load, module of the root or dependency (attribute
    ``python.module.dependency``), nested by the import stack: under the import that was running
    on its thread when it began (``stack_parent``), as ``-X importtime`` nests imports, else under
    ``app.startup`` (``startup_context``, its SpanContext). ``flush(count so far)`` runs every
    ``every`` spans so no queue of any size overflows. Returns the number of spans."""
    root_context = trace.set_span_in_context(trace.NonRecordingSpan(startup_context))
    # Parents by SpanContext only: holding the ended spans would keep every attribute of
    # thousands of them alive after the exporter is done with them. Keyed by the record itself
    # (the registry keeps them all alive), as a module and a dependency may share a name.
    contexts: Dict[int, Any] = {}
    count = 0
    records: List[Union[ModuleLoad, DependencyLoad]] = [*loads, *dependencies]
    records.sort(key=lambda record: record.start_ns)  # a stack parent begins before its children
    for record in records:
        if record.end_ns is None:
            continue
        parent_context = None if record.stack_parent is None else contexts.get(id(record.stack_parent))
        context = (
            trace.set_span_in_context(trace.NonRecordingSpan(parent_context)) if parent_context is not None else root_context
        )
        if isinstance(record, ModuleLoad):
            attributes = load_attributes(record)
            attributes[semconv.ATTR_MODULE_DEPENDENCY] = False  # so TraceQL tells the root's spans from dependencies'
        else:
            attributes = dependency_attributes(record)
        span = tracer.start_span(
            semconv.SPAN_IMPORT_PREFIX + record.name,
            context=context,
            kind=SpanKind.INTERNAL,
            start_time=record.start_ns,
            attributes=attributes,
        )
        span.end(end_time=record.end_ns)
        contexts[id(record)] = span.get_span_context()
        count += 1
        if count % every == 0:
            flush(count)
    return count


def emit_own_span(tracer: Any, event_name: str, attributes: Dict[str, Any], start_ns: int, end_ns: int) -> None:
    """A short span of its own, for a lazy import (or failure) made when no span was current."""
    span = tracer.start_span(
        semconv.SPAN_LAZY_IMPORT, kind=SpanKind.INTERNAL, start_time=start_ns, attributes=attributes
    )
    span.add_event(event_name, attributes, timestamp=start_ns)
    span.end(end_time=max(end_ns, start_ns))
