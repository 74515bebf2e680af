"""Names of the spans, span events and attributes this package emits.

Everything that leaves the process (OTLP, the JSON report, the README's TraceQL,
the Grafana dashboard) takes its names from here, so a rename is one edit and
the tests catch any copy that drifted.

Attribute names follow the OpenTelemetry semantic conventions where one exists
(``code.file.path``, ``code.line.number``, ``thread.name``, ``exception.*``);
names without a convention live under ``python.module.*`` (one module) and
``python.import_tracing.*`` (the whole tracing session).
"""

from __future__ import annotations

# Spans.
SPAN_STARTUP = "app.startup"
"""From the start of collection to the end of the application's startup."""

SPAN_IMPORT_PREFIX = "import "
"""Waterfall spans are named ``import <module>``, like ``SELECT <table>`` for databases."""

SPAN_LAZY_IMPORT = "module.lazy_import"
"""A short span of its own for a lazy import (or failure) when no span is current."""

# Span events.
EVENT_MODULE_LOADED = "module.loaded"
EVENT_IMPORT_FAILED = "module.import_failed"
EVENT_LAZY_DECLARED = "module.lazy_declared"
"""On ``app.startup``: one per lazy import statement of the root's code run during startup,
with its ``python.import.lazy`` at startup completion (``declared`` or ``reified``)."""
EVENT_LAZY_NEVER_USED = "module.lazy_never_used"
"""At stop, on a ``module.lazy_import`` span of its own: a lazy import statement never used."""
EVENT_DEPENDENCY_LOADED = "module.dependency_loaded"
"""A lazy dependency load (a request's first ``import pandas``), on the span current then."""

# Attributes of one module load (events and waterfall spans).
ATTR_MODULE_NAME = "python.module.name"
ATTR_FILE_PATH = "code.file.path"
ATTR_LINE_NUMBER = "code.line.number"
ATTR_MODULE_PARENT = "python.module.parent"
ATTR_IMPORT_DURATION_MS = "python.module.import_duration_ms"
ATTR_STACK_PARENT = "python.module.stack_parent"
"""The module whose import was running on the thread when this one began (the import stack, as
``-X importtime`` nests imports), whichever code issued it; ``python.module.parent`` is the issuer."""
ATTR_SELF_DURATION_MS = "python.module.self_duration_ms"
"""The import's own time: ``import_duration_ms`` minus that of every import begun inside it."""
ATTR_THREAD_NAME = "thread.name"
ATTR_PRELOADED = "python.module.preloaded"
ATTR_LAZY = "python.module.lazy"
ATTR_MODULE_DEPENDENCY = "python.module.dependency"
"""True on an ``import <name>`` span of a module outside the root that the root's code imported
directly (its ``code.file.path`` and ``code.line.number`` are where the import is); false on
the spans of the root's own modules."""
ATTR_IMPORT_LAZY = "python.import.lazy"
"""What became of a lazy import statement (PEP 810, Python 3.15+): ``declared`` (not used yet),
``reified`` (its first use imported it: on the load that use caused, and on its declaration),
``never`` (not used when tracing stopped; its module did not load for it)."""
ATTR_LAZY_DECLARED_AT = "python.import.lazy.declared_at"
"""``file:line`` of the lazy import statement."""
ATTR_LAZY_FORCED_AT = "python.import.lazy.forced_at"
"""``file:line`` of the first use that reified it (the line that made the import happen)."""
ATTR_LAZY_FROMLIST = "python.import.lazy.fromlist"
"""The names of a ``lazy from x import a, b`` (``["a", "b"]``), on a statement's own events; absent for ``lazy import x``."""
ATTR_EXCEPTION_TYPE = "exception.type"
ATTR_EXCEPTION_MESSAGE = "exception.message"

# Attributes of the app.startup span.
ATTR_TRACING_ROOT = "python.import_tracing.root"
ATTR_TRACING_COLLECTOR = "python.import_tracing.collector"
ATTR_MODULE_COUNT = "python.import_tracing.module_count"
ATTR_PRELOADED_COUNT = "python.import_tracing.preloaded_count"
ATTR_FAILED_IMPORT_COUNT = "python.import_tracing.failed_import_count"
ATTR_DEPENDENCY_COUNT = "python.import_tracing.dependency_count"
ATTR_STARTUP_FAILED = "python.import_tracing.startup_failed"
"""True when the application reported ``lifespan.startup.failed`` (the span status says why)."""

ATTR_PROCESS_ROLE = "python.import_tracing.process_role"
"""What the process was: ``server`` (its ASGI lifespan ran, or a server started serving),
``worker`` (a forked or multiprocessing child: a gunicorn or ``uvicorn --workers`` worker),
``supervisor`` (a server's supervisor or reloader that imported code of the root, then handed
over to workers that import it again for themselves: its startup is not one to compare) or
``script`` (anything else: the whole run is its startup). Older traces said only ``supervisor``."""

ATTR_PROCESS_COMMAND_ARGS = "process.command_args"
"""The process's command line (the semantic conventions' attribute), bounded, with what looks
like a secret redacted (``kind.command``)."""

ATTR_PROCESS_ENTRY = "python.import_tracing.entry"
"""What ran as ``__main__``: the module of ``python -m`` (``pkg``), a console script's name, a
script's path (relative to the root when inside it), or ``-c``."""

ATTR_LAZY_PLAN = "python.import_tracing.lazy_plan"
"""True when the run was in lazy plan mode (``IMPORT_TRACING_LAZY_PLAN``, Python 3.15+): the tracer,
not the code, made the root's imports lazy; absent otherwise."""

ROLE_SERVER = "server"
ROLE_WORKER = "worker"
ROLE_SUPERVISOR = "supervisor"
ROLE_SCRIPT = "script"

# The tracer (instrumentation scope) name.
INSTRUMENTATION_SCOPE = "otel_import_tracer"
