"""Who is importing: the first frame outside the import machinery.

Shared by every collector so that ``python.module.parent`` means the same thing
whichever observed the load: the module whose code issued the import (for a module
under the root, its name derived from the path; otherwise its ``__name__``).
"""

from __future__ import annotations

import os
import sys
from types import FrameType
TYPE_CHECKING = False  # typing is not imported at run time: the app would find it already paid for
if TYPE_CHECKING:
    from typing import Optional, Set, Tuple

from otel_import_tracer.naming import SourceRoot

# importlib's halves as the interpreter holds them from its start: the tracer imports no
# importlib package (on 3.9 importlib.util brings importlib.abc and typing) before the application.
_bootstrap = sys.modules["_frozen_importlib"]
_bootstrap_external = sys.modules["_frozen_importlib_external"]
_importlib, _util = sys.modules.get("importlib"), sys.modules.get("importlib.util")
_IMPORTLIB_DIR = os.path.join(os.path.dirname(os.__file__), "importlib")  # where the stdlib's is

# Code that runs between an import statement (or import_module) and the module's code.
# Frozen importlib reports '<frozen importlib._bootstrap>', -X frozen_modules=off a real path.
# The import hook adds the file of its wrappers when it is imported.
MACHINERY_FILES: Set[str] = {
    _bootstrap._find_and_load.__code__.co_filename,
    _bootstrap_external.SourceLoader.get_code.__code__.co_filename,
    _importlib.import_module.__code__.co_filename if _importlib else os.path.join(_IMPORTLIB_DIR, "__init__.py"),
    _util.find_spec.__code__.co_filename if _util else os.path.join(_IMPORTLIB_DIR, "util.py"),
}

FIND_AND_LOAD_UNLOCKED = _bootstrap._find_and_load_unlocked.__code__
HANDLE_FROMLIST = _bootstrap._handle_fromlist.__code__


def importer_frame(frame: Optional[FrameType]) -> Optional[FrameType]:
    """The first frame at or above ``frame`` that is not import machinery."""
    while frame is not None and frame.f_code.co_filename in MACHINERY_FILES:
        frame = frame.f_back
    return frame


def describe(frame: Optional[FrameType], root: SourceRoot) -> Tuple[Optional[str], Optional[str], Optional[int]]:
    """``(module name, file under the root or None, line)`` of an importing frame."""
    if frame is None:
        return None, None, None
    hit = root.classify(frame.f_code.co_filename)
    if hit is not None:
        return hit[1], hit[0], frame.f_lineno
    name = frame.f_globals.get("__name__")
    return (name if isinstance(name, str) else None), None, frame.f_lineno


def in_real_import(frame: Optional[FrameType], depth: int = 4) -> bool:
    """True if ``_find_and_load_unlocked`` is among the next ``depth`` frames.

    Tells an import that will raise ModuleNotFoundError from a probe such as
    ``importlib.util.find_spec`` that merely asks.
    """
    while frame is not None and depth > 0:
        if frame.f_code is FIND_AND_LOAD_UNLOCKED:
            return True
        frame = frame.f_back
        depth -= 1
    return False


def in_fromlist_probe(frame: Optional[FrameType], depth: int = 8) -> bool:
    """True if the import was issued by ``from package import name`` looking for a submodule
    ``name``: when there is none, the application gets ``ImportError: cannot import name``
    (or the attribute), never this ModuleNotFoundError, which the import system swallows."""
    while frame is not None and depth > 0:
        if frame.f_code is HANDLE_FROMLIST:
            return True
        frame = frame.f_back
        depth -= 1
    return False
