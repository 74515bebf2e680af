"""What the ``OTEL_*`` environment asks for, read with ``os`` alone.

``setup`` builds the exporters and needs ``copy``, ``dataclasses`` and ``typing`` (and through
them ``inspect``, ``ast``, ``dis``, ``enum``...); the note said at the stop of a process that
exports nothing (most of them) needs none of it, and a small app would pay for all of it.
"""

from __future__ import annotations

import os

TYPE_CHECKING = False  # typing is not imported at run time: the app would find it already paid for
if TYPE_CHECKING:
    from typing import Mapping, Optional

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


def unconfigured(environ: Optional[Mapping[str, str]] = None) -> Optional[str]:
    """The note to give when the environment asks for no export at all (no SDK needed to tell)."""
    env = os.environ if environ is None else environ
    if env.get(OTEL_SDK_DISABLED, "").strip().lower() == "true":
        return f"{OTEL_SDK_DISABLED}=true: import traces are not exported (logs and report still work)."
    endpoint_set = bool(env.get(OTEL_EXPORTER_OTLP_ENDPOINT) or env.get(OTEL_EXPORTER_OTLP_TRACES_ENDPOINT))
    if not env.get(OTEL_TRACES_EXPORTER, "").strip() and not endpoint_set:
        return f"no trace exporter is configured, so import traces are not exported; {_HOW_TO_EXPORT}."
    return None


def exports_by_itself(environ: Optional[Mapping[str, str]] = None) -> bool:
    """Whether the environment asks for an export of the tracer's own."""
    return unconfigured(environ) is None
