"""The report's entries, one per record of the session: a module loaded, a failed import, a
dependency load (with its distribution, resolved at stop), a lazy import statement. Times are
milliseconds from the session's start (``origin_ns``), rounded as every report writes them."""

from __future__ import annotations

from typing import Any, Callable, Dict, List, Optional, Tuple

from otel_import_tracer.schema import report_ms as _ms


def module_entry(load: Any, origin_ns: int) -> Dict[str, Any]:
    duration = load.duration_ns
    return {
        "name": load.name,
        "file": load.file,
        "offset_ms": _ms(load.start_ns - origin_ns),
        "duration_ms": None if duration is None else _ms(duration),
        "importer": load.parent,
        "thread": load.thread,
        "preloaded": load.preloaded,
        "lazy": load.lazy,
        "source": load.source,
        "stack_parent": _stack_parent(load),  # whose import it ran in; "importer" issued it
    }


def lazy_import_entry(lazy: Any, origin_ns: int) -> Dict[str, Any]:
    """One lazy import statement: where it is, and ``state`` ``declared`` (not used yet),
    ``reified`` (``forced_*``: the use that imported it; ``after_startup``; ``request``: the span
    current then) or ``never`` (not used by the stop: its module did not load for it)."""
    duration = lazy.duration_ns
    return {
        "name": lazy.name,
        "fromlist": list(lazy.fromlist),
        "importer": lazy.importer,
        "file": lazy.file,
        "line": lazy.line,
        "declared_ms": _ms(lazy.declared_ns - origin_ns),
        "thread": lazy.thread,
        "state": lazy.state,
        "after_startup": lazy.after_startup,
        "reified_ms": None if lazy.reified_ns is None else _ms(lazy.reified_ns - origin_ns),
        "duration_ms": None if duration is None else _ms(duration),
        "loaded": lazy.loaded,
        "forced_by": lazy.forced_by,
        "forced_file": lazy.forced_file,
        "forced_line": lazy.forced_line,
        "forced_thread": lazy.forced_thread,
        "request": lazy.request,
    }


def failure_entry(failure: Any, origin_ns: int, count: int) -> Dict[str, Any]:
    return {
        "name": failure.name,
        "importer": failure.importer,
        "importer_file": failure.importer_file,
        "line": failure.line,
        "exception_type": failure.exception_type,
        "message": failure.message,
        "offset_ms": _ms(failure.time_ns - origin_ns),
        "thread": failure.thread,
        "lazy": failure.lazy,
        "count": count,  # occurrences of this failure (what, where); the first one is described
    }


def dependency_entries(dependencies: List[Any], origin_ns: int, resolve: bool) -> List[Dict[str, Any]]:
    """The dependency loads; with ``resolve`` (at stop: it reads the installed distributions'
    metadata once, off the startup path) each with the distribution that provides it."""
    provided: Callable[[str], Tuple[Optional[str], Optional[str]]] = lambda name: (None, None)
    if resolve and dependencies:
        from otel_import_tracer import distributions

        found = distributions.of_all(dependency.name for dependency in dependencies)
        provided = found.__getitem__
    entries = []
    for dependency in dependencies:
        duration = dependency.duration_ns
        distribution, version = provided(dependency.name)
        entry = {
            "name": dependency.name,
            "importer": dependency.importer,
            "importer_file": dependency.importer_file,
            "line": dependency.line,
            "offset_ms": _ms(dependency.start_ns - origin_ns),
            "duration_ms": None if duration is None else _ms(duration),
            "thread": dependency.thread,
            "lazy": dependency.lazy,
            "distribution": distribution,
            "version": version,
            "stack_parent": _stack_parent(dependency),
        }
        if dependency.by_use:  # Python 3.15+: loaded by the use of a lazy name at that line, not an import statement
            entry["by_use"] = True
        entries.append(entry)
    return entries


def _stack_parent(load: Any) -> Optional[str]:
    parent = load.stack_parent
    return None if parent is None else parent.name
