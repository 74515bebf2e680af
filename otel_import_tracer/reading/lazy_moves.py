"""``diff``'s imports that moved between eager and lazy (Python 3.15's ``lazy import``, PEP 810).

A module is lazy on a side when a ``lazy import`` statement of the root's code named it in one of
the side's startups (``Process.lazy_imports``: a report's or a trace's, Python 3.15+); eager when the side loaded it
and no statement of it was lazy (every report before 3.15 is all eager). A move is a module lazy
on one side and eager on the other. What it did to startup is the module's own load in startup
(its cumulative time when it loaded before startup complete, 0 when it did not), median over each
side's startups: lazy saves all of it when the module is never used or first used after startup,
nothing when startup needs it anyway (the lazy side's fate says which).

A run in lazy plan mode (``IMPORT_TRACING_LAZY_PLAN``: its report's ``lazy_plan``, its
``app.startup``'s attribute) had every import of the root's code made lazy by the tracer, not by
the code: its statements are neither lazy nor eager here, so it makes no move (the diff says that
a side held such a run).
"""

from __future__ import annotations

import dataclasses
import statistics
from typing import Dict, List, Sequence, Set

from otel_import_tracer.reading.records import LazyImport, Process

NEVER_USED, AFTER_STARTUP, AT_STARTUP = "never used", "first used after startup", "needed by startup"


@dataclasses.dataclass(frozen=True)
class LazyMove:
    """A module imported eagerly on one side and lazily on the other."""

    name: str
    to_lazy: bool  # True: eager on base, lazy on head; False: back to eager
    fate: str  # on the lazy side: NEVER_USED, AFTER_STARTUP or AT_STARTUP
    base_ms: float  # its load's time in startup (median over the side's startups; 0: not loaded in startup)
    head_ms: float
    where: str  # the lazy statement, file:line

    @property
    def delta_ms(self) -> float:
        return self.head_ms - self.base_ms


def plan_mode(process: Process) -> bool:
    """Whether the process ran in lazy plan mode (the tracer made the root's imports lazy)."""
    return process.header.get("lazy_plan") is True


def lazy_moves(base: Sequence[Process], head: Sequence[Process]) -> List[LazyMove]:
    """The modules that went lazy (or back to eager) from ``base`` to ``head``; biggest effect on startup first."""
    base = [process for process in base if not plan_mode(process)]
    head = [process for process in head if not plan_mode(process)]
    lazy = {"base": _lazy_statements(base), "head": _lazy_statements(head)}
    loaded = {"base": _loaded(base), "head": _loaded(head)}
    moves = []
    for lazy_side, eager_side in (("head", "base"), ("base", "head")):
        for name, statements in sorted(lazy[lazy_side].items()):
            if name in lazy[eager_side] or name not in loaded[eager_side]:
                continue  # lazy on both sides, or the other side never imported it: no move
            first = statements[0]
            moves.append(LazyMove(
                name, lazy_side == "head", _fate(statements), _startup_ms(base, name), _startup_ms(head, name),
                f"{first.file}:{first.line if first.line is not None else '?'}",
            ))
    moves.sort(key=lambda move: (-abs(move.delta_ms), move.name))
    return moves


def _lazy_statements(processes: Sequence[Process]) -> Dict[str, List[LazyImport]]:
    """Module name -> the side's lazy statements of it."""
    found: Dict[str, List[LazyImport]] = {}
    for process in processes:
        for statement in process.lazy_imports or ():
            found.setdefault(statement.name, []).append(statement)
    return found


def _loaded(processes: Sequence[Process]) -> Set[str]:
    return {load.name for process in processes for load in [*process.modules, *process.dependencies]}


def _fate(statements: Sequence[LazyImport]) -> str:
    reified = [statement for statement in statements if statement.state == "reified"]
    if any(statement.after_startup is False for statement in reified):
        return AT_STARTUP
    return AFTER_STARTUP if reified else NEVER_USED


def _startup_ms(processes: Sequence[Process], name: str) -> float:
    """The median over ``processes`` of the module's load time in startup (0 where it did not load then)."""
    times = [_in_startup(process, name) for process in processes]
    return statistics.median(times) if times else 0.0


def _in_startup(process: Process, name: str) -> float:
    for load in [*process.modules, *process.dependencies]:
        if load.name == name and not load.lazy and load.duration_ms is not None:
            return float(load.duration_ms)
    return 0.0

