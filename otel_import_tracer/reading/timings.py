"""What module loads say about time: the one accounting the summary, the page and ``diff`` use.

A module's *self* time is its duration minus that of every load begun inside its import on its
thread (its import-stack children: modules of the root and dependencies alike), as
``python -X importtime`` counts it. Reports written before the stack was recorded (no
``stack_parent`` field) fall back to the issuing statement: minus what the module's own code imported.
"""

from __future__ import annotations

import math
from typing import Any, Dict, Iterable, Optional, Sequence

from otel_import_tracer.reading.record_types import ABSENT

TYPE_CHECKING = False
if TYPE_CHECKING:  # a Protocol class costs its making at import, and only a type checker reads it
    from typing import Protocol

    class Timed(Protocol):
        """A load as the time accounting reads it (a ``Module`` or ``Dependency`` record)."""

        name: str
        duration_ms: Optional[float]
        importer: Optional[str]
        stack_parent: Any  # a name, None (top of its thread's stack) or ABSENT (an older report)


def finite(value: Optional[float]) -> float:
    """``value``, or 0 for None, infinities and NaN (a hand-edited report)."""
    return value if value is not None and math.isfinite(value) else 0.0


def has_stack(entries: Iterable[Timed]) -> bool:
    """Whether the loads record the import stack (reports since the stack was; else the importer stands in)."""
    return any(entry.stack_parent is not ABSENT for entry in entries)


def parent_of(entry: Timed, stack: bool) -> Optional[str]:
    """The name of the load this one's time belongs to: its stack parent, or (older reports) its importer."""
    parent = entry.stack_parent if stack else entry.importer
    return parent if isinstance(parent, str) and parent != entry.name else None


def self_times(
    entries: Sequence[Timed], names: Optional[Iterable[str]] = None, dependencies: Sequence[Timed] = ()
) -> Dict[str, float]:
    """Each module's duration minus the durations of its children, modules and ``dependencies``
    alike (for the modules of ``names`` only, if given)."""
    wanted = {entry.name for entry in entries} if names is None else set(names)
    own = {entry.name: finite(entry.duration_ms) for entry in entries if entry.name in wanted}
    loads = [*entries, *dependencies]
    stack = has_stack(loads)
    for entry in loads:
        parent = parent_of(entry, stack)
        if parent in own:
            own[parent] -= finite(entry.duration_ms)
    return {name: max(value, 0.0) for name, value in own.items()}


def dependency_times(entries: Sequence[Timed], dependencies: Sequence[Timed]) -> Dict[str, float]:
    """Per module, the time of the dependency loads among its children (what ``self_times`` took off for them)."""
    stack = has_stack([*entries, *dependencies])
    spent: Dict[str, float] = {}
    for dependency in dependencies:
        parent = parent_of(dependency, stack)
        if parent is not None:
            spent[parent] = spent.get(parent, 0.0) + finite(dependency.duration_ms)
    return spent
