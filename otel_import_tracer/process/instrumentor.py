"""The ``opentelemetry_instrumentor`` entry point.

``ENABLE_IMPORT_TRACING=true opentelemetry-instrument uvicorn src.main:app`` loads every
installed instrumentor before the application is imported; this one starts collection
then, so the whole startup import graph is seen with no launcher. It follows the
``BaseInstrumentor`` protocol (``instrument`` / ``uninstrument``, idempotent) without
depending on ``opentelemetry-instrumentation``, and imports nothing from OpenTelemetry.
"""

from __future__ import annotations

from typing import Any, Collection

from otel_import_tracer.process.bootstrap import start_tracing
from otel_import_tracer.tracing import stop_tracing


class ImportTracingInstrumentor:
    _instance = None

    def __new__(cls, *args: Any, **kwargs: Any) -> "ImportTracingInstrumentor":
        # One per process, like BaseInstrumentor.
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def instrumentation_dependencies(self) -> Collection[str]:
        return ()

    def instrument(self, **kwargs: Any) -> None:
        """Start tracing if ``ENABLE_IMPORT_TRACING`` is true; otherwise do nothing."""
        start_tracing()

    def uninstrument(self, **kwargs: Any) -> None:
        stop_tracing()
