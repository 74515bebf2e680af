"""Where spans go: the application's SDK ``TracerProvider``, or one built from ``OTEL_*``.

Imported only when tracing is on, and then off the application's critical path (in the
export thread, once startup is complete): the SDK and exporters cost hundreds of ms.
"""

from __future__ import annotations

import copy
import dataclasses
import os
import sys
from typing import Any, List, Mapping, Optional, Tuple

from otel_import_tracer import messages
from otel_import_tracer.semconv import INSTRUMENTATION_SCOPE
from otel_import_tracer.version import __version__

OTEL_SDK_DISABLED = "OTEL_SDK_DISABLED"
OTEL_TRACES_EXPORTER = "OTEL_TRACES_EXPORTER"
OTEL_EXPORTER_OTLP_PROTOCOL = "OTEL_EXPORTER_OTLP_PROTOCOL"
OTEL_EXPORTER_OTLP_TRACES_PROTOCOL = "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"
OTEL_EXPORTER_OTLP_ENDPOINT = "OTEL_EXPORTER_OTLP_ENDPOINT"
OTEL_EXPORTER_OTLP_TRACES_ENDPOINT = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"

_HOW_TO_EXPORT = (
    "set OTEL_TRACES_EXPORTER=otlp and OTEL_EXPORTER_OTLP_ENDPOINT (e.g. http://localhost:4317) "
    "to send import traces to a collector"
)


@dataclasses.dataclass
class Destination:
    """A tracer to emit with, and the provider to flush (and shut down, if it is ours)."""

    tracer: Any
    provider: Any
    owned: bool
    description: str


def resolve(environ: Optional[Mapping[str, str]] = None, synchronous: bool = False) -> Optional[Destination]:
    """The application's SDK provider if it installed one, else one of our own; None if
    there is nowhere to send spans (said once, with how to change it). ``synchronous``:
    our own provider exports as spans end, with no thread (for an exiting interpreter)."""
    env = os.environ if environ is None else environ
    # An application that installed an SDK provider has imported the SDK: without it in
    # sys.modules there is none to find, and nothing is imported just to look.
    sdk_trace = sys.modules.get("opentelemetry.sdk.trace")
    if sdk_trace is not None:
        from opentelemetry import trace

        installed = trace.get_tracer_provider()
        if isinstance(installed, sdk_trace.TracerProvider):
            tracer = _unlimited_events(installed.get_tracer(INSTRUMENTATION_SCOPE, __version__))
            return Destination(tracer, installed, owned=False, description="the application's TracerProvider")
    if env.get(OTEL_SDK_DISABLED, "").strip().lower() == "true":
        messages.info(f"{OTEL_SDK_DISABLED}=true: import traces are not exported (logs and report still work).")
        return None
    exporters = _exporters(env)
    return _build_own(exporters, synchronous) if exporters else None


def _build_own(exporters: List[Tuple[str, Any]], synchronous: bool = False) -> Destination:
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import SpanLimits, TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor

    # Never the global provider: an application that chose not to trace keeps not tracing.
    provider = TracerProvider(
        resource=_resource() if synchronous else Resource.create(),
        span_limits=SpanLimits(max_events=SpanLimits.UNSET),
        shutdown_on_exit=False,  # stop_tracing() flushes with a bounded wait instead
    )
    names = []
    for name, exporter in exporters:
        provider.add_span_processor(SimpleSpanProcessor(exporter) if synchronous else BatchSpanProcessor(exporter))
        names.append(name)
    tracer = provider.get_tracer(INSTRUMENTATION_SCOPE, __version__)
    return Destination(tracer, provider, owned=True, description=f"exporter {', '.join(names)}")


def _exporters(env: Mapping[str, str]) -> List[Tuple[str, Any]]:
    requested = env.get(OTEL_TRACES_EXPORTER, "").strip().lower()
    endpoint_set = bool(env.get(OTEL_EXPORTER_OTLP_ENDPOINT) or env.get(OTEL_EXPORTER_OTLP_TRACES_ENDPOINT))
    if not requested:
        if not endpoint_set:
            messages.info(f"no trace exporter is configured, so import traces are not exported; {_HOW_TO_EXPORT}.")
            return []
        requested = "otlp"  # an endpoint alone says clearly enough where to send
    exporters = []
    for name in (part.strip() for part in requested.split(",")):
        if name in ("", "none"):
            continue
        exporter = _exporter(name, env)
        if exporter is not None:
            exporters.append(exporter)
    if not exporters and requested != "none":
        messages.info(f"no usable trace exporter, so import traces are not exported; {_HOW_TO_EXPORT}.")
    return exporters


def _exporter(name: str, env: Mapping[str, str]) -> Optional[Tuple[str, Any]]:
    if name == "console":
        from opentelemetry.sdk.trace.export import ConsoleSpanExporter

        return ("console", ConsoleSpanExporter())
    if name != "otlp":
        messages.warn(
            "bad-otel-traces-exporter",
            f"{OTEL_TRACES_EXPORTER} names {name!r}, which import tracing does not know; "
            "use otlp, console or none.",
        )
        return None
    protocol = (env.get(OTEL_EXPORTER_OTLP_TRACES_PROTOCOL) or env.get(OTEL_EXPORTER_OTLP_PROTOCOL) or "grpc").strip()
    try:
        if protocol == "grpc":
            from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
        elif protocol == "http/protobuf":
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter  # type: ignore[assignment]
        else:
            messages.warn(
                "bad-otlp-protocol",
                f"{OTEL_EXPORTER_OTLP_PROTOCOL}={protocol!r} is not supported; use grpc or http/protobuf.",
            )
            return None
    except ImportError:
        extra = "grpc" if protocol == "grpc" else "http"
        messages.warn(
            "exporter-missing",
            f"the OTLP {protocol} exporter is not installed, so import traces are not exported; "
            f"install it with: pip install 'otel-import-tracer[{extra}]'",
        )
        return None
    return (f"otlp ({protocol})", OTLPSpanExporter())


def _resource() -> Any:
    """``Resource.create()`` without its detector thread pool, for an exiting interpreter:
    the ``OTEL_SERVICE_NAME`` / ``OTEL_RESOURCE_ATTRIBUTES`` detector, run inline."""
    from opentelemetry.sdk.resources import SERVICE_NAME, OTELResourceDetector, Resource

    resource = OTELResourceDetector().detect()
    if not resource.attributes.get(SERVICE_NAME):
        resource = resource.merge(Resource({SERVICE_NAME: "unknown_service"}))
    return resource


def _unlimited_events(tracer: Any) -> Any:
    """Lift the event limit (128 by default, oldest dropped silently) on our tracer only.

    The SDK has no per-span limit API; our tracer belongs to our instrumentation scope,
    so replacing its limits leaves the application's own spans exactly as configured.
    """
    limits = getattr(tracer, "_span_limits", None)
    if limits is None:
        messages.warn(
            "event-limit",
            "this OpenTelemetry SDK version does not let import tracing lift the span event limit; "
            "raise OTEL_SPAN_EVENT_COUNT_LIMIT above your module count so no module.loaded event is dropped.",
        )
        return tracer
    unlimited = copy.copy(limits)
    unlimited.max_events = None
    tracer._span_limits = unlimited
    return tracer
