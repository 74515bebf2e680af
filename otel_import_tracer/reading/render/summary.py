"""The few lines a person reads at the end of a run (``IMPORT_TRACING_SUMMARY``, on by default).

On stderr, after the shutdown lines: how many modules, the startup time, the slowest startup
imports with their own time (without every import begun inside theirs), the slowest dependencies (what the root's code imported from
outside it), the lazy and the failed imports, and where the report is. Built
from the registry alone, at stop, so it costs nothing before.
"""

from __future__ import annotations

from typing import List, Optional, Sequence

from otel_import_tracer.messages import PREFIX, printable
from otel_import_tracer.reading.records import LAZY_NEVER, LAZY_REIFIED, LazyImport, Process, of_registry
from otel_import_tracer.registry import Registry
from otel_import_tracer.reading.timings import self_times

SLOWEST = 5
NAMED = 5  # lazy and failed imports named before "and N more"
# Set by a caller that renders the report's page itself after the run and says where (the demo):
# the summary then does not tell the reader to make one.
PAGE_FOLLOWS = False


def summary_lines(registry: Registry, report_path: Optional[str] = None) -> List[str]:
    """The summary of a live registry, read as records."""
    return render(of_registry(registry), report_path)


def render(process: Process, report_path: Optional[str] = None) -> List[str]:
    """The summary of a process's records, live or read back from its report: the same lines."""
    loads = process.modules
    startup = [load for load in loads if not load.lazy]
    lazy = [load for load in loads if load.lazy]
    lines = [f"{len(loads)} modules under {process.root}: {len(startup)} at startup, {len(lazy)} lazy"]
    complete = process.startup_complete_ms
    if complete is not None:
        lines[0] += f"; startup complete at +{_ms_of(complete)}"
    timed = [load for load in startup if load.duration_ms is not None]
    if timed:
        slowest = sorted(timed, key=lambda load: -(load.duration_ms or 0.0))[:SLOWEST]
        timed_dependencies = [dependency for dependency in process.dependencies if dependency.duration_ms is not None]
        own = self_times(timed, [load.name for load in slowest], timed_dependencies)
        lines.append("slowest: " + ", ".join(
            f"{load.name} {_ms_of(load.duration_ms or 0.0)} (self {_ms_of(own[load.name])})" for load in slowest
        ))
    dependencies = [dependency for dependency in process.dependencies if not dependency.lazy and dependency.duration_ms is not None]
    if dependencies:
        slow = sorted(dependencies, key=lambda dependency: -(dependency.duration_ms or 0.0))[:SLOWEST]
        lines.append("slowest dependencies: " + ", ".join(
            f"{dependency.name} {_ms_of(dependency.duration_ms or 0.0)} "
            f"({'lazy, first used at' if dependency.by_use else 'by'} "
            f"{dependency.importer or '?'}{'' if dependency.line is None else f':{dependency.line}'})" for dependency in slow
        ))
    if lazy:
        named = ", ".join(f"{load.name} by {load.importer or '?'}" for load in lazy[:NAMED])
        lines.append(f"lazy: {named}{_more(len(lazy))}")
    if process.lazy_imports:  # Python 3.15+: one line of what became of the lazy import statements
        lines.append(_lazy_imports_line(process.lazy_imports))
    failures = process.failed_imports
    if failures:
        named = ", ".join(
            f"{failure.name} ({failure.exception_type} in {failure.importer or '?'}"
            f"{'' if failure.line is None else f':{failure.line}'}"
            f"{_times(failure.count)})"
            for failure in failures[:NAMED]
        )
        lines.append(f"failed: {named}{_more(len(failures))}")
    if report_path and not PAGE_FOLLOWS:
        lines.append(f"report: {report_path} (a page of it: {PREFIX} report {report_path} --html imports.html)")
    elif not report_path:
        lines.append(f"more: set IMPORT_TRACING_REPORT=imports.json for a report of the run, then "
                     f"{PREFIX} report imports.json --html imports.html; IMPORT_TRACING_SUMMARY=false turns this summary off")
    head, *rest = lines
    return [printable(f"{PREFIX}: summary: {head}")] + [printable(f"{PREFIX}:   {line}") for line in rest]


def _lazy_imports_line(statements: Sequence[LazyImport]) -> str:
    """What became of the root's lazy import statements, in one line."""
    during = [lazy for lazy in statements if lazy.state == LAZY_REIFIED and not lazy.after_startup]
    after = [lazy for lazy in statements if lazy.state == LAZY_REIFIED and lazy.after_startup]
    never = [lazy for lazy in statements if lazy.state == LAZY_NEVER]
    line = (f"lazy imports: {len(statements)} declared, {len(during)} reified during startup, "
            f"{len(after)} after startup, {len(never)} never used")
    if never:
        line += f" ({', '.join(lazy.name for lazy in never[:NAMED])}{_more(len(never))})"
    forced = [lazy for lazy in during if lazy.forced_at is not None][:NAMED]
    if forced:
        line += "; startup forced " + ", ".join(f"{lazy.name} at {lazy.forced_by}:{lazy.forced_line}" for lazy in forced)
    return line


def _ms_of(value: float) -> str:
    return f"{value:.1f} ms" if value < 1000 else f"{value / 1000:.2f} s"


def _more(count: int) -> str:
    return f" and {count - NAMED} more" if count > NAMED else ""


def _times(count: int) -> str:
    return f", {count} times" if count > 1 else ""
