"""Where spans go: the application's SDK ``TracerProvider``, or one built from ``OTEL_*``.

Imported only when tracing is on, and then off the application's critical path (in the
export thread, once startup is complete): the SDK and exporters cost hundreds of ms.
"""

from __future__ import annotations

import copy
import dataclasses
import os
import sys
from typing import Any, Callable, List, Mapping, Optional, Tuple

from otel_import_tracer import messages
from otel_import_tracer.semconv import INSTRUMENTATION_SCOPE
from otel_import_tracer.version import __version__

from otel_import_tracer.telemetry.environment import (  # noqa: F401 - re-exported
    _HOW_TO_EXPORT,
    OTEL_EXPORTER_OTLP_ENDPOINT,
    OTEL_EXPORTER_OTLP_PROTOCOL,
    OTEL_EXPORTER_OTLP_TRACES_ENDPOINT,
    OTEL_EXPORTER_OTLP_TRACES_PROTOCOL,
    OTEL_SDK_DISABLED,
    OTEL_TRACES_EXPORTER,
    unconfigured,
)


@dataclasses.dataclass
class Destination:
    """A tracer to emit with, the provider behind it, and how to send what was emitted."""

    tracer: Any
    provider: Any
    owned: bool
    description: str
    outboxes: List[Any] = dataclasses.field(default_factory=list)  # ours: spans wait here to be sent

    def flush(self, timeout_ms: int) -> bool:
        """Send what was emitted so far, in order; True if every exporter confirmed it."""
        if self.outboxes:
            return all([outbox.send() for outbox in self.outboxes])
        return bool(self.provider.force_flush(timeout_ms))

    def close(self) -> None:
        if self.owned:
            self.provider.shutdown()


def application_destination() -> Optional[Destination]:
    """The application's SDK provider, if it installed one; imports nothing to find out.

    An application that installed an SDK provider has imported the SDK: without it in
    sys.modules there is none to find."""
    sdk_trace = sys.modules.get("opentelemetry.sdk.trace")
    if sdk_trace is None:
        return None
    from opentelemetry import trace

    installed = trace.get_tracer_provider()
    if not isinstance(installed, sdk_trace.TracerProvider):
        return None
    tracer = _unlimited_events(installed.get_tracer(INSTRUMENTATION_SCOPE, __version__))
    return Destination(tracer, installed, owned=False, description="the application's TracerProvider")


def resolve(
    environ: Optional[Mapping[str, str]] = None, refused: Optional[List["Refused"]] = None, announced: bool = False
) -> Optional[Destination]:
    """The application's SDK provider if it installed one, else one of our own; None if
    there is nowhere to send spans (said, with how to change it, unless ``announced`` already).

    An OTLP exporter whose endpoint cannot be used is not made (nor its SDK imported): it is
    added to ``refused``, to look again later if the caller wants."""
    env = os.environ if environ is None else environ
    installed = application_destination()
    if installed is not None:
        return installed
    note = unconfigured(env)
    if note is not None:
        if not announced:
            messages.info(note)
        return None
    exporters = []
    for name, exporter in _exporters(env):
        if isinstance(exporter, Refused):
            if refused is not None:
                refused.append(exporter)
        else:
            exporters.append((name, exporter))
    return _build_own(exporters) if exporters else None


@dataclasses.dataclass
class Refused:
    """An OTLP exporter not made, because its endpoint cannot be used: why, and how to look again."""

    reason: str
    check: Callable[[], Optional[str]]


def _build_own(exporters: List[Tuple[str, Any]]) -> Destination:
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import SpanLimits, TracerProvider
    from opentelemetry.sdk.trace.sampling import ALWAYS_ON

    from otel_import_tracer.telemetry.outbox import Outbox

    try:
        resource = Resource.create()
    except RuntimeError:  # its detector thread pool, refused by an exiting interpreter
        resource = _resource()
    # Never the global provider: an application that chose not to trace keeps not tracing.
    # Not OTEL_TRACES_SAMPLER's either: it thins out the application's request traces, and
    # would drop at random the one startup trace per process that ENABLE_IMPORT_TRACING asks for.
    provider = TracerProvider(
        sampler=ALWAYS_ON,
        resource=resource,
        span_limits=SpanLimits(max_events=SpanLimits.UNSET),
        shutdown_on_exit=False,  # stop_tracing() flushes with a bounded wait instead
    )
    # No BatchSpanProcessor: it needs a thread of its own (which an exiting interpreter may
    # refuse) and sends in its own order. The export thread sends from the outbox itself.
    outboxes = []
    for _, exporter in exporters:
        outbox = Outbox(exporter)
        provider.add_span_processor(outbox)
        outboxes.append(outbox)
    tracer = provider.get_tracer(INSTRUMENTATION_SCOPE, __version__)
    names = ", ".join(name for name, _ in exporters)
    return Destination(tracer, provider, owned=True, description=f"exporter {names}", outboxes=outboxes)


def _exporters(env: Mapping[str, str]) -> List[Tuple[str, Any]]:
    requested = env.get(OTEL_TRACES_EXPORTER, "").strip().lower()
    endpoint_set = bool(env.get(OTEL_EXPORTER_OTLP_ENDPOINT) or env.get(OTEL_EXPORTER_OTLP_TRACES_ENDPOINT))
    if not requested:
        if not endpoint_set:
            return []  # unconfigured(): said before the shutdown lines
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
    if protocol not in ("grpc", "http/protobuf"):
        messages.warn(
            "bad-otlp-protocol",
            f"{OTEL_EXPORTER_OTLP_PROTOCOL}={protocol!r} is not supported; use grpc or http/protobuf.",
        )
        return None
    name = f"otlp ({protocol})"
    # Before importing the exporter (gRPC alone costs ~0.3 s): an endpoint no attempt can
    # reach is said once, here, instead of by the SDK's retries until the shutdown timeout.
    check = _endpoint_check(protocol, env)
    reason = check()
    if reason is not None:
        return (name, Refused(reason, check))
    exporter = _otlp_exporter(protocol)
    return None if exporter is None else (name, exporter)


def _otlp_exporter(protocol: str) -> Any:
    try:
        if protocol == "grpc":
            from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
        else:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter  # type: ignore[assignment]
    except ImportError:
        # The extra's own requirement, from the index: 'otel-import-tracer[grpc]' is not on it
        # (installed from a checkout or a wheel), so pip could not follow that advice.
        extra = "grpc" if protocol == "grpc" else "http"
        messages.warn(
            "exporter-missing",
            f"the OTLP {protocol} exporter is not installed, so import traces are not exported; "
            f"install it with: pip install opentelemetry-exporter-otlp-proto-{extra} (what the "
            f"package's [{extra}] extra adds; the same version as your opentelemetry-sdk)",
        )
        return None
    return OTLPSpanExporter()


def _endpoint_check(protocol: str, env: Mapping[str, str]) -> Callable[[], Optional[str]]:
    """A look at the OTLP endpoint: None if an export may succeed, else why not (warned once)."""
    from otel_import_tracer.telemetry.endpoint import Endpoint

    endpoint = Endpoint(protocol, env)

    def check() -> Optional[str]:
        problem = endpoint.problem()
        if problem is not None:
            messages.warn(
                "otlp-endpoint",
                f"{endpoint.describe()} cannot be used: {problem}. Import traces are not exported "
                "(the log lines and report are complete).",
            )
        return problem

    return check


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
