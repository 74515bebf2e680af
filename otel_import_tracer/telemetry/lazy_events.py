"""Telemetry of lazy import statements (Python 3.15+): the request that reified one, the ones never used."""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Dict, Optional

from otel_import_tracer import messages, semconv
from otel_import_tracer.lazy_record import LAZY_NEVER
from otel_import_tracer.telemetry.attributes import lazy_attributes


def note_request(item: Any, span: Any) -> None:
    """A lazy load or failure put on ``span``, the current one: when a load reified a lazy import
    statement, the statement keeps the request's name and ids for the report."""
    reified = getattr(item, "reified", None)
    if reified is not None:
        reified.request = span_facts(span)


def never_used(telemetry: Any) -> None:
    """Each lazy import statement never used, on a short span of its own, at stop."""
    try:
        now = telemetry._registry.now_ns()
        for lazy in telemetry._registry.lazy_imports():
            if lazy.state == LAZY_NEVER:
                telemetry._put((semconv.EVENT_LAZY_NEVER_USED, lazy_attributes(lazy, LAZY_NEVER), now, now))
    except Exception as exc:
        messages.warn("telemetry-lazy-never", f"the lazy imports never used could not be described ({exc!r}).")


def span_facts(span: Any) -> Optional[Dict[str, str]]:
    """Name and ids of a span, for the report's word on which request reified a lazy import."""
    try:
        context = span.get_span_context()
        return {"name": str(getattr(span, "name", "")), "trace_id": format(context.trace_id, "032x"),
                "span_id": format(context.span_id, "016x")}
    except Exception:
        return None
