"""See which of your own modules a Python service loads, when, how long each took and who
imported whom, in OpenTelemetry (Jaeger, Tempo), in the container log, and in a JSON report.

Importing this package is cheap and does nothing by itself: tracing starts only with
``ENABLE_IMPORT_TRACING=true``, and OpenTelemetry is imported only then.
"""

from otel_import_tracer.lifespan import traced_lifespan
from otel_import_tracer.tracing import (
    get_loaded_files,
    get_loaded_modules,
    mark_startup_complete,
    start_tracing,
    stop_tracing,
)
from otel_import_tracer.version import __version__

__all__ = [
    "__version__",
    "get_loaded_files",
    "get_loaded_modules",
    "mark_startup_complete",
    "start_tracing",
    "stop_tracing",
    "traced_lifespan",
]
