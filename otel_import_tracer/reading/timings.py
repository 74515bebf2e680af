"""What a report's module entries say about time, shared by the page and ``diff``."""

from __future__ import annotations

import math
from typing import Any, Dict, Optional, Sequence

Entry = Dict[str, Any]


def finite(value: Optional[float]) -> float:
    """``value``, or 0 for None, infinities and NaN (a hand-edited report)."""
    return value if value is not None and math.isfinite(value) else 0.0


def self_times(entries: Sequence[Entry], names: Optional[Sequence[str]] = None) -> Dict[str, float]:
    """Each module's duration minus the durations of the modules it imported (of ``names`` only, if given)."""
    wanted = {entry["name"] for entry in entries} if names is None else set(names)
    own = {entry["name"]: finite(entry["duration_ms"]) for entry in entries if entry["name"] in wanted}
    for entry in entries:
        parent = entry["importer"]
        if parent in own and parent != entry["name"]:
            own[parent] -= finite(entry["duration_ms"])
    return {name: max(value, 0.0) for name, value in own.items()}
