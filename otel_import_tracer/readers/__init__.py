"""Readers of what other tools saved of our telemetry, each turning its source into ``Report``
records, the shape the audit (and everything computed from inputs) takes.

``otlp``: OTLP JSON, as the Collector's ``file`` exporter writes it and as Tempo's and Jaeger's
trace APIs answer. ``backends``: those APIs asked directly, for a window of startups. The tracer's own report and log are read by ``report`` and ``audit``.
"""
