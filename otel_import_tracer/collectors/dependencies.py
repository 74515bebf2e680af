"""Dependency loads: which imports of a module outside the root are nodes, and their timing.

By the import stack's accounting (``importstack``) a load is a node when it runs inside the
import of a module under the root, whichever code issued it: ``import fastapi`` in
``src/main.py``, and as much a library function that ``src/main.py``'s body calls and that
imports lazily (``fastapi.FastAPI()``, a plugin loader), which ``-X importtime`` also counts
as the module's child. A load is a node too when code under the root issues it outside any
import (a function at run time, a lazy import after startup). What a dependency imports in
turn is its own time, not a node: while a dependency executes, nothing is looked at.

The import hook asks ``issuer`` for every module outside the root about to be executed, so
the common cases cost a frame check and a thread-local lookup: an import inside a dependency
(most of a large app's imports) never looks at the frames.
"""

from __future__ import annotations

import threading

TYPE_CHECKING = False  # typing is not imported at run time: the app would find it already paid for
if TYPE_CHECKING:
    from types import FrameType, ModuleType
    from typing import Any, Callable, Optional, Tuple

    Issuer = Tuple[Optional[str], str, Optional[int], bool]

from otel_import_tracer import messages
import otel_import_tracer.collectors.failures as failures
import otel_import_tracer.collectors.frames as frames
from otel_import_tracer.naming import SourceRoot
from otel_import_tracer.registry import ModuleLoad, Registry


def issuer(registry: Registry, root: SourceRoot, caller: FrameType) -> Optional[Issuer]:
    """``(module, file, line, by the root's code)`` of the statement that issued an import that is
    a dependency node, or None. ``caller``: the frame that asked the finders."""
    if not frames.in_real_import(caller):
        return None  # a probe (importlib.util.find_spec): nothing is executed
    inside = registry.innermost()
    if inside is not None and type(inside) is not ModuleLoad:
        return None  # inside a dependency's import: part of its time
    frame = frames.importer_frame(caller)
    name, file, line = frames.describe(frame, root)
    if file is not None:
        return name, file, line, True
    if not registry.dependencies_on:
        return None  # only the root's own statements are kept then: no walk up the stack
    if inside is None or frame is None or not _called_by_body(frame, inside.file):  # type: ignore[union-attr]
        return None  # neither issued by the root's code nor by a call the executing root module made
    return name, frame.f_code.co_filename, line, False


def _called_by_body(frame: FrameType, path: str) -> bool:
    """Whether ``frame`` runs in a call made by the code of ``path`` (the root module executing), with
    no module body between (an import that is no node: what it imports is its time, not a node of
    the root module's) and no frame of the tracer's (the tracer's own imports are never the app's)."""
    for _ in range(_MAX_DEPTH):
        if frame is None:
            return False
        code = frame.f_code
        if code.co_filename == path:
            return True
        if code.co_filename not in frames.MACHINERY_FILES:
            if code.co_name == "<module>":
                return False
            name = frame.f_globals.get("__name__")
            if type(name) is str and name.startswith(_TRACER):
                return False
        frame = frame.f_back  # type: ignore[assignment]
    return False


_MAX_DEPTH = 200  # frames looked at before giving up (a deep call, then not a node)
_TRACER = __name__.partition(".")[0] + "."


def timed_dependency(
    registry: Registry, loader: Any, fullname: str, issued: Issuer, unshadow: Callable[[Any], None]
) -> Callable[[ModuleType], None]:
    """An ``exec_module`` for one call that records the dependency load around the real one."""
    timed = registry.dependencies_on
    module_name, file, line, by_root = issued

    def exec_module(module: ModuleType) -> None:
        unshadow(loader)
        dependency = None
        if timed:
            try:
                dependency = registry.begin_dependency(fullname, module_name, file, line, threading.current_thread().name)
            except Exception as exc:
                messages.internal_error(exc)
        try:
            loader.exec_module(module)
        except Exception as exc:
            if by_root:  # issued by a library, the failure is the library's to handle (an optional import)
                failures.record_exec_failure(registry, fullname, module_name, file, line, exc)
            raise
        finally:
            if dependency is not None:
                registry.end_dependency(dependency)

    return exec_module
