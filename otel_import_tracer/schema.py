"""The JSON report's format, shared by the side that writes it (``report``) and the side that
reads it back (``reading``)."""

SCHEMA = "otel-import-tracer/report"
SCHEMA_VERSION = 2
"""Bumped on any change a reader of the previous version would misread. 2: ``dependencies``."""
READABLE_VERSIONS = (1, 2)  # version 1 has no dependencies: read as none

STATUS_RUNNING = "running"  # written at startup completion; the process went on serving
STATUS_STOPPED = "stopped"  # written at stop: lazy imports up to the end are included


def report_ms(ns: int) -> float:
    """Nanoseconds as a report writes milliseconds: rounded to the microsecond. The OTLP reader
    turns a saved trace's nanoseconds into a report with the same rounding."""
    return round(ns / 1_000_000, 3)
