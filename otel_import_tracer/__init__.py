"""See which of your own modules a Python service loads, when, how long each took and who
imported whom, in OpenTelemetry (Jaeger, Tempo), in the container log, and in a JSON report.

Importing this package is cheap and does nothing by itself: the public functions are loaded on
first use, tracing starts only with ``ENABLE_IMPORT_TRACING=true``, and OpenTelemetry is
imported only then. (The package's ``.pth`` file imports it in every Python process of the
environment when tracing is on, so it must stay that way.)
"""

# No ``from __future__ import annotations`` here nor in ``process.bootstrap``: it imports ``__future__``,
# before the tracer can note what its start imports (tracer_imports in the report).
TYPE_CHECKING = False  # typing is not imported at run time: the app would find it already paid for

from otel_import_tracer.version import __version__

if TYPE_CHECKING:
    from typing import Any

    from otel_import_tracer.process.bootstrap import start_tracing
    from otel_import_tracer.process.lifespan import traced_lifespan
    from otel_import_tracer.tracing import (
        get_loaded_files,
        get_loaded_modules,
        mark_startup_complete,
        stop_tracing,
    )

__all__ = [
    "__version__",
    "get_loaded_files",
    "get_loaded_modules",
    "mark_startup_complete",
    "start_tracing",
    "stop_tracing",
    "traced_lifespan",
]

_HOMES = {
    "traced_lifespan": "otel_import_tracer.process.lifespan",
    "get_loaded_files": "otel_import_tracer.tracing",
    "get_loaded_modules": "otel_import_tracer.tracing",
    "mark_startup_complete": "otel_import_tracer.tracing",
    "start_tracing": "otel_import_tracer.process.bootstrap",
    "stop_tracing": "otel_import_tracer.tracing",
}


def __getattr__(name: str) -> "Any":
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(home), name)
    globals()[name] = value
    return value


def __dir__() -> list:
    return sorted(set(globals()) | set(__all__))
