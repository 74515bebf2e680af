"""The lazy plan (``otel-import-tracer lazy``): which import statements of the root's code could be lazy.

Reads the ``lazy_imports`` of reports written on Python 3.15+ (every statement of the root's code
when the run was in plan mode, ``IMPORT_TRACING_LAZY_PLAN=true``; the explicit ``lazy`` ones
otherwise), merged over processes, and puts each statement in one of three kinds:

- ``never``: declared, never used in any process: lazy saves its whole time (and it may be dead
  code; or imported for its side effects, which lazy would skip: see ``SIDE_EFFECTS``);
- ``after_startup``: first used after startup complete: lazy moves its time out of startup to the
  first request that needs it;
- ``during_startup``: needed by startup: lazy buys nothing; the use that forced it is named.

Each with the milliseconds of startup at stake (the import's time), biggest first, and the line
to paste. The statements are the processes' ``LazyImport`` records (``reading/records.py``: a
report's ``lazy_imports``, a trace's lazy-import events); the outputs are ``reading/render/lazy_plan.py``'s.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import os
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple

from otel_import_tracer.reading.records import LazyImport, Process


NEVER, AFTER_STARTUP, DURING_STARTUP = "never", "after_startup", "during_startup"
KINDS = (NEVER, AFTER_STARTUP, DURING_STARTUP)
FORMATS = ("text", "json", "markdown")

SIDE_EFFECTS = (
    "'never' means never used by name. An import kept for its side effects (registering routes, "
    "models, plugins, signal handlers) must stay eager: lazy would skip them. Check each before "
    "pasting; leave such modules out with --exclude MODULE."
)


def lazy_imports_of(process: Process) -> Optional[List[LazyImport]]:
    """The process's lazy import statements as records; None when its source has none (a run before
    Python 3.15). The readers check them (``records.lazy_imports_of``)."""
    return process.lazy_imports


@dataclasses.dataclass
class Statement:
    """One import statement of the root's code, over every process that ran it."""

    file: str
    line: Optional[int]
    importer: str
    name: str
    fromlist: Tuple[str, ...]
    kind: str = NEVER
    ms: Optional[float] = None  # the import's time: what startup pays for it
    processes: int = 0
    forced_at: Optional[str] = None  # during_startup: the use that needed it
    request: Optional[str] = None  # after_startup: the span of the first request that needed it
    paste: str = ""

    def to_json(self) -> Dict[str, Any]:
        return {
            "kind": self.kind,
            "name": self.name,
            "fromlist": list(self.fromlist),
            "importer": self.importer,
            "file": self.file,
            "line": self.line,
            "startup_ms": None if self.ms is None else round(self.ms, 3),
            "processes": self.processes,
            "forced_at": self.forced_at,
            "request": self.request,
            "paste": self.paste,
        }


@dataclasses.dataclass
class Plan:
    statements: List[Statement]
    lazy_modules: Dict[str, List[str]]  # file -> the names to put in its __lazy_modules__
    notes: List[str]
    excluded: int = 0


class NoPlan(Exception):
    """Nothing to plan from (reports of Python before 3.15, or no lazy import recorded): why."""


def make_plan(processes: Sequence[Process], exclude: Sequence[str] = ()) -> Plan:
    """The plan of ``processes`` (reports and traces read as records); raises ``NoPlan`` when they cannot give one."""
    with_lazy = [(process, lazy) for process in processes for lazy in [lazy_imports_of(process)] if lazy is not None]
    if not with_lazy:
        pythons = sorted({str(process.header.get("python", "?")) for process in processes})
        raise NoPlan(
            f"the plan needs a run on Python 3.15 or newer (explicit lazy imports, PEP 810); these "
            f"reports are from Python {', '.join(pythons)}. Run the service once on 3.15 with "
            "IMPORT_TRACING_LAZY_PLAN=true and IMPORT_TRACING_REPORT set, then pass its reports."
        )
    timings = _timings(processes)
    seen: Dict[Tuple[str, Optional[int], str], List[LazyImport]] = {}
    for _, statements_of_process in with_lazy:
        for entry in statements_of_process:
            seen.setdefault((entry.file, entry.line, entry.name), []).append(entry)
    statements: List[Statement] = []
    excluded = 0
    for key, entries in seen.items():
        first = entries[0]
        statement = Statement(key[0], key[1], first.importer or "?", key[2], first.fromlist)
        if _excluded(statement, exclude):
            excluded += 1
            continue
        statement.processes = len(entries)
        _classify(statement, entries, timings)
        statement.paste = _paste(statement)
        statements.append(statement)
    statements.sort(key=lambda s: (-(s.ms or 0.0), KINDS.index(s.kind), s.file, s.line or 0))
    notes = []
    if any(s.kind == NEVER for s in statements):
        notes.append(SIDE_EFFECTS)
    if not statements:
        notes.append("no lazy import statement of the root's code was recorded: run with "
                     "IMPORT_TRACING_LAZY_PLAN=true to see every import statement")
    return Plan(statements, _lazy_modules(statements), notes, excluded)


def _timings(processes: Iterable[Process]) -> Dict[str, float]:
    """Module name -> the longest import time any process recorded for it (root modules and dependencies)."""
    times: Dict[str, float] = {}
    for process in processes:
        for module in process.modules:
            if module.duration_ms is not None and not module.preloaded:
                times[module.name] = max(times.get(module.name, 0.0), float(module.duration_ms))
        for dependency in process.dependencies:
            if dependency.duration_ms is not None:
                times[dependency.name] = max(times.get(dependency.name, 0.0), float(dependency.duration_ms))
    return times


def _classify(statement: Statement, entries: List[LazyImport], timings: Dict[str, float]) -> None:
    reified = [entry for entry in entries if entry.state == "reified"]
    during = [entry for entry in reified if entry.after_startup is False]
    after = [entry for entry in reified if entry.after_startup]
    durations = [entry.duration_ms for entry in reified if entry.duration_ms is not None]
    if during:
        statement.kind = DURING_STARTUP
        forced = next((entry for entry in during if entry.forced_file), None)
        if forced is not None:
            statement.forced_at = f"{forced.forced_file}:{forced.forced_line}"
    elif after:
        statement.kind = AFTER_STARTUP
        request = next((entry.request for entry in after if entry.request is not None), None)
        if request is not None:
            statement.request = f"{request.get('name')} (trace {request.get('trace_id')})"
    else:
        statement.kind = NEVER
    if durations:
        statement.ms = max(durations)
    else:  # never loaded for this statement here: its time where some process did load it
        candidates = [statement.name] + [f"{statement.name}.{item}" for item in statement.fromlist]
        known = [timings[name] for name in candidates if name in timings]
        statement.ms = max(known) if known else None


def _excluded(statement: Statement, patterns: Sequence[str]) -> bool:
    names = [statement.name] + [f"{statement.name}.{item}" for item in statement.fromlist]
    return any(fnmatch.fnmatchcase(name, pattern) or name.startswith(pattern + ".") for name in names for pattern in patterns)


def _paste(statement: Statement) -> str:
    """The statement with ``lazy`` in front: its own text when the file is here to read, else rebuilt."""
    if statement.kind == DURING_STARTUP:
        return "(keep it eager: startup needs it)"
    text = _source_line(statement.file, statement.line)
    if text is not None:
        return "lazy " + text
    if statement.fromlist:
        return f"lazy from {statement.name} import {', '.join(statement.fromlist)}"
    return f"lazy import {statement.name}"


def _source_line(path: str, line: Optional[int]) -> Optional[str]:
    if line is None or not os.path.isfile(path):
        return None
    try:
        with open(path, encoding="utf-8") as source:
            for number, text in enumerate(source, 1):
                if number == line:
                    stripped = text.strip()
                    if stripped.startswith(("import ", "from ")) and "(" not in stripped and not stripped.endswith("\\"):
                        return stripped
                    return None
    except (OSError, UnicodeDecodeError):
        return None
    return None


def _lazy_modules(statements: Sequence[Statement]) -> Dict[str, List[str]]:
    """Per file, the modules to name in ``__lazy_modules__`` (the statements that could be lazy)."""
    per_file: Dict[str, List[str]] = {}
    for statement in statements:
        if statement.kind != DURING_STARTUP:
            names = per_file.setdefault(statement.file, [])
            if statement.name not in names:
                names.append(statement.name)
    return {file: sorted(names) for file, names in sorted(per_file.items())}
