"""The reading side: what the tracer and other tools saved, read back and turned into answers.

Readers, one per source, each failing with an ``InputError`` at the file and line at fault:
``report`` (the JSON report), ``logs`` (a container log's shutdown blocks), ``otlp`` (saved
traces: the Collector's file exporter, Tempo's and Jaeger's answers), ``backends`` (Tempo's and
Jaeger's APIs asked directly); ``sources`` tells an input's kind once and hands it to its reader;
``files`` holds what they share (the bytes, JSON with line numbers).

Analyses: ``merge`` (loads over many processes, recorded paths mapped onto the local root),
``audit`` (never-loaded files), ``diff`` (two sets of startups), ``timings`` (self times).

Renderers, in ``render``: the audit's and the diff's text, JSON and Markdown, the HTML page,
the terminal summary. Writing the report is the writing side's (``otel_import_tracer.report``).
"""
