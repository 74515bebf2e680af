"""Path <-> module name under a root.

``/app/src/models/domain.py`` -> ``src.models.domain`` and
``/app/src/models/__init__.py`` -> ``src.models``: names are derived from the path
relative to the root's parent, not from ``__name__`` (which is ``__main__`` for a
script and can be anything for a file loaded by hand).
"""

from __future__ import annotations

import os
from typing import Dict, Optional, Tuple

SOURCE_SUFFIX = ".py"
# A sourceless image (``python -m compileall -b``, the ``.py`` files deleted): the import system
# loads ``mod.pyc`` beside where ``mod.py`` was (never from ``__pycache__``).
SOURCELESS_SUFFIX = ".pyc"
_PYCACHE = os.sep + "__pycache__" + os.sep
_UNNORMALIZED = os.sep + "."  # "/./" or "/../" somewhere in the path
_DOUBLE_SEP = os.sep + os.sep


def module_name_for(path: str, root: str) -> str:
    """The module name of ``path``, a ``.py`` (or sourceless ``.pyc``) file under ``root`` (both
    absolute, normalized)."""
    parent = os.path.dirname(root)
    prefix = parent if parent.endswith(os.sep) else parent + os.sep
    # Plain slicing: this runs once per file on the import path, and relpath is slow.
    relative = path[len(prefix) :] if path.startswith(prefix) else os.path.relpath(path, parent)
    if relative.endswith(SOURCE_SUFFIX):
        stem = relative[: -len(SOURCE_SUFFIX)]
    elif relative.endswith(SOURCELESS_SUFFIX):
        stem = relative[: -len(SOURCELESS_SUFFIX)]
    else:
        stem = relative
    parts = stem.split(os.sep)
    if parts[-1] == "__init__" and len(parts) > 1:
        parts.pop()
    return ".".join(parts)


def path_for(module_name: str, root: str) -> Tuple[str, str]:
    """The two files a module name can come from: ``pkg/mod.py`` and ``pkg/mod/__init__.py``."""
    base = os.path.join(os.path.dirname(root), *module_name.split("."))
    return base + SOURCE_SUFFIX, os.path.join(base, "__init__" + SOURCE_SUFFIX)


class SourceRoot:
    """Decides whether a file name belongs to the root, caching the answer per file name.

    The cache makes the check a single dict lookup on the hot paths (the settrace
    callback, the monitoring callback, the import hook). File names seen through a
    symlinked or real path of the root are reported under the configured root.
    """

    def __init__(self, root: str) -> None:
        self.root = os.path.abspath(root)
        prefixes = [self.root + os.sep]
        real = os.path.realpath(self.root) + os.sep
        if real != prefixes[0]:
            prefixes.append(real)
        self._prefixes = tuple(prefixes)
        self._cache: Dict[str, Optional[Tuple[str, str]]] = {}

    def classify(self, filename: Optional[str], name: Optional[str] = None) -> Optional[Tuple[str, str]]:
        """``(path, module name)`` if ``filename`` is a ``.py`` file under the root, or a sourceless
        ``.pyc`` one (``is_source`` tells them apart), else None.

        ``name``: the module's name where the caller knows it (the import hook); when it is the
        name the path gives, the cache keeps that string rather than a copy of its own, 64 bytes
        less for every module of the process."""
        if not filename or not filename.endswith(SOURCE_SUFFIX):
            if not filename or not filename.endswith(SOURCELESS_SUFFIX) or _PYCACHE in filename:
                return None  # not cached: names like "<string>" or generated code are unbounded
        try:
            return self._cache[filename]
        except KeyError:
            pass
        result = self._classify_uncached(filename, name)
        self._cache[filename] = result
        return result

    def _classify_uncached(self, filename: str, known: Optional[str]) -> Optional[Tuple[str, str]]:
        path = filename
        if not os.path.isabs(path) or _UNNORMALIZED in path or _DOUBLE_SEP in path:
            path = os.path.normpath(os.path.abspath(path))
        for prefix in self._prefixes:
            if path.startswith(prefix):
                if prefix != self._prefixes[0]:
                    path = self._prefixes[0] + path[len(prefix) :]
                name = module_name_for(path, self.root)
                return path, known if name == known else name
        return None

    @property
    def prefixes(self) -> Tuple[str, ...]:
        """How an absolute, normalized path under the root starts (the root as configured, and
        its real path when that differs)."""
        return self._prefixes

    def exists(self) -> bool:
        return os.path.isdir(self.root)


def is_source(path: str) -> bool:
    """A ``.py`` file, as the ``LOADED_SRC_FILE`` lines list; not a sourceless ``.pyc``."""
    return path.endswith(SOURCE_SUFFIX)
