"""Which installed distribution provides an imported name: ``yaml`` -> ``("PyYAML", "6.0.2")``.

Read once per process, at stop (the report's dependencies), never on the import path: one
pass over the installed distributions' metadata (``importlib.metadata.packages_distributions``
where Python has it, 3.10+, the same reading by hand on 3.9). The standard library and
modules no distribution declares give ``(None, None)``.
"""

from __future__ import annotations

import sys
from typing import Any, Dict, List, Optional, Tuple

_table: Optional[Dict[str, List[Any]]] = None  # top-level name -> the distributions installing it


def of(module: str) -> Tuple[Optional[str], Optional[str]]:
    """The distribution and version that provide ``module`` (its top-level package); never raises."""
    top = module.partition(".")[0]
    if top in getattr(sys, "stdlib_module_names", ()) or top in sys.builtin_module_names:
        return None, None
    global _table
    if _table is None:
        try:
            _table = _read()
        except Exception:  # broken metadata of someone's package must not cost the report
            _table = {}
    found = _table.get(top) or []
    if len(found) > 1:  # a namespace package (opentelemetry, google): the one holding the module
        try:
            found = [dist for dist in found if _holds(dist, module.split("."))] or found
        except Exception:
            pass
    if not found:
        return None, None
    return found[0].metadata["Name"], found[0].version


def _read() -> Dict[str, List[Any]]:
    import importlib.metadata as metadata

    table: Dict[str, List[Any]] = {}
    seen = set()
    for dist in metadata.distributions():
        name = dist.metadata["Name"]
        if not name or name.lower() in seen:  # a distribution on sys.path twice: the first wins, as for imports
            continue
        seen.add(name.lower())
        for top in _top_level(dist):
            table.setdefault(top, []).append(dist)
    return table


def _holds(dist: Any, parts: List[str]) -> bool:
    """Whether the distribution installs the module ``parts`` (a package's directory or a file)."""
    depth = len(parts)
    for path in dist.files or ():
        file_parts = path.parts
        if len(file_parts) > depth and list(file_parts[:depth]) == parts:
            return True  # a file inside the package
        if len(file_parts) == depth and list(file_parts[:-1]) == parts[:-1] and file_parts[-1].split(".", 1)[0] == parts[-1]:
            return True  # the module's own file
    return False


def _top_level(dist: "object") -> List[str]:
    """The top-level names a distribution installs: ``top_level.txt``, else its files."""
    declared = (dist.read_text("top_level.txt") or "").split()  # type: ignore[attr-defined]
    if declared:
        return declared
    names = []
    for path in dist.files or ():  # type: ignore[attr-defined]
        parts = path.parts
        if not parts or parts[0].endswith((".dist-info", ".egg-info")) or parts[0] in ("..", "__pycache__"):
            continue
        first = parts[0]
        if len(parts) == 1:
            if not first.endswith(".py") and ".cpython-" not in first and not first.endswith(".so"):
                continue
            first = first.split(".", 1)[0]
        if first.isidentifier() and first not in names:
            names.append(first)
    return names
