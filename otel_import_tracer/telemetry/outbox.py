"""Where the spans of our own provider wait until the export thread sends them.

The SDK's ``BatchSpanProcessor`` exports from a thread of its own, on its own schedule; an
exiting interpreter may refuse that thread, and a shutdown cut short could not say how much
went out. The outbox has no thread: spans wait in the order they ended (``app.startup`` first,
then the waterfall in start order) until the export thread sends them in batches.
"""

from __future__ import annotations

import threading
from typing import Any, List, Optional

from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

BATCH = 512


class Outbox(SpanProcessor):
    def __init__(self, exporter: SpanExporter) -> None:
        self._exporter = exporter
        self._lock = threading.Lock()
        self._spans: List[ReadableSpan] = []

    def on_start(self, span: Any, parent_context: Optional[Any] = None) -> None:
        pass

    def on_end(self, span: ReadableSpan) -> None:
        with self._lock:
            self._spans.append(span)

    def send(self) -> bool:
        """Export what waits, oldest first, a batch at a time; True if the exporter took all of it.

        A refused batch is dropped with the rest (the exporter has retried it until its own
        timeout): what comes later is tried again."""
        while True:
            with self._lock:
                batch, self._spans = self._spans[:BATCH], self._spans[BATCH:]
            if not batch:
                return True
            if self._exporter.export(batch) is not SpanExportResult.SUCCESS:
                with self._lock:
                    self._spans.clear()
                return False

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self.send()

    def shutdown(self) -> None:
        self._exporter.shutdown()
