"""What module loads say about time, shared by the page, ``diff`` and the summary."""

from __future__ import annotations

import math
from typing import Dict, Optional, Protocol, Sequence


class Timed(Protocol):
    """A module load as the time accounting reads it (a ``Module`` record)."""

    name: str
    duration_ms: Optional[float]
    importer: Optional[str]


def finite(value: Optional[float]) -> float:
    """``value``, or 0 for None, infinities and NaN (a hand-edited report)."""
    return value if value is not None and math.isfinite(value) else 0.0


def self_times(entries: Sequence[Timed], names: Optional[Sequence[str]] = None) -> Dict[str, float]:
    """Each module's duration minus the durations of the modules it imported (of ``names`` only, if given)."""
    wanted = {entry.name for entry in entries} if names is None else set(names)
    own = {entry.name: finite(entry.duration_ms) for entry in entries if entry.name in wanted}
    for entry in entries:
        parent = entry.importer
        if parent in own and parent != entry.name:
            own[parent] -= finite(entry.duration_ms)
    return {name: max(value, 0.0) for name, value in own.items()}
