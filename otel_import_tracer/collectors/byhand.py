"""Root files run without an import, seen where they are run, at a cost per such run only.

No ``sys.modules`` entry and no finder shows these; every collector installs this:

- A loader's ``exec_module`` called by hand (``importlib.util.spec_from_file_location``:
  alembic's ``env.py`` and migrations, configuration files; ``SourceFileLoader(name, path)``:
  Airflow's plugins and DAGs): timed by the import hook's stand-in for ``exec_module``
  (``collectors/importhook.py``), whoever calls it.
- ``runpy._run_code``: code of a root file run by ``runpy.run_path``, ``runpy.run_module``
  or ``python -m``, timed by ``_run_code`` below, a stand-in (``collectors/standins.py``):
  the application's tracebacks through it read as they do untraced. The program's own
  ``__main__`` (``python -m pkg``) is noted, not timed: its run is the program's, not an import.
- The script (``python src/manage.py``): noted when tracing starts, as it is about to run.

Nothing here runs per request, or for a file outside the root. A file run by a bare
``exec(compile(open(path).read(), path, "exec"))`` leaves nothing to patch: the ``audit``
collector (the interpreter's ``exec`` audit event), ``monitoring`` and ``settrace`` see it.
"""

from __future__ import annotations

import os
import sys
import threading
TYPE_CHECKING = False  # typing is not imported at run time: the app would find it already paid for
if TYPE_CHECKING:
    from typing import Any, List, Optional, Tuple

from otel_import_tracer import messages
import otel_import_tracer.collectors.frames as frames
import otel_import_tracer.collectors.standins as standins
from otel_import_tracer.naming import SourceRoot
from otel_import_tracer.registry import SOURCE_EXECUTED, ModuleLoad, Registry

# One (registry, root) per running session; the patches are in place while there is one.
if TYPE_CHECKING:
    _Session = Tuple[Registry, SourceRoot]
_SESSIONS: List[_Session] = []
_lock = threading.Lock()
_originals: List[Tuple[Any, str, Any, Any]] = []  # (owner, attribute, original, ours)
# runpy's own _run_code is given this to run: it sets up the module's globals as it does, and
# ours then runs the application's code itself, in its place (one frame, as untraced). Not made
# by compile(): its first call builds the interpreter's AST types (8-12 M instructions, most of
# what starting the tracer cost), which the application seldom needs. A function's empty body,
# made module code (not CO_OPTIMIZED | CO_NEWLOCALS), is what compile("") would give.
def _nothing() -> None:
    pass


_NOTHING = _nothing.__code__.replace(co_filename="<otel-import-tracer>", co_name="<module>",
                                     co_flags=_nothing.__code__.co_flags & ~0x3)
del _nothing


def _run_code(
    code: Any,
    run_globals: Any,
    init_globals: Optional[Any] = None,
    mod_name: Optional[str] = None,
    mod_spec: Optional[Any] = None,
    pkg_name: Optional[str] = None,
    script_name: Optional[str] = None,
) -> Any:
    """``runpy._run_code``, timing a root file's run."""
    _original_run_code(_NOTHING, run_globals, init_globals, mod_name, mod_spec, pkg_name, script_name)
    begun = _begin(code.co_filename, sys._getframe(1), mod_name == "__main__") if _SESSIONS else ()
    try:
        exec(code, run_globals)
    finally:
        for registry, load in begun:
            registry.end_load(load)
    return run_globals


# The line of exec() in _run_code, after its def line; runpy's is the line before its return.
_RUN_CODE_EXEC_LINE = 13


def _original_run_code(*args: Any, **kwargs: Any) -> Any:  # replaced by runpy's own at install
    raise RuntimeError("runpy._run_code was not captured")


def _begin(filename: Any, caller: Any, entry: bool) -> List[Tuple[Registry, ModuleLoad]]:
    """Note the run of a root file; timed unless it is the program's ``__main__`` (``entry``), whose
    run is the program's, not an import: noted untimed, as a script is, and off the import stack,
    so its imports are top-level ones, as ``-X importtime`` shows them."""
    begun: List[Tuple[Registry, ModuleLoad]] = []
    try:
        for registry, root in tuple(_SESSIONS):
            hit = root.classify(filename)
            if hit is not None and not registry.knows(hit[0]):
                parent = frames.describe(frames.importer_frame(caller), root)[0]
                if entry:
                    registry.note_executed(hit[0], hit[1], parent, threading.current_thread().name)
                    continue
                load = registry.begin_load(hit[0], hit[1], parent, threading.current_thread().name, SOURCE_EXECUTED)
                if load is not None:
                    begun.append((registry, load))
    except Exception as exc:
        messages.internal_error(exc)
    return begun


# Before 3.11 runpy is a source file, and importing it brings importlib.util, importlib.abc and
# typing, which the application would then find already imported: it is patched as it is imported
# (the import hook's ``on_import``, ``python -m`` included), if it is not yet. From 3.11 it is
# frozen, no loader of its own to watch: imported at start (with importlib.util: tracer_imports).
RUNPY_ON_IMPORT = sys.version_info < (3, 11)


def _install() -> None:
    runpy = sys.modules.get("runpy")
    if runpy is None:
        if RUNPY_ON_IMPORT:
            return  # patch_runpy, when it is imported
        import runpy  # imported now so that python -m and run_path go through us
    _patch(runpy)


def patch_runpy(runpy: Any) -> None:
    """runpy has just been imported: patch it if a session runs."""
    with _lock:
        if _SESSIONS:
            _patch(runpy)


def _patch(runpy: Any) -> None:
    global _original_run_code
    if not _originals:
        _original_run_code = runpy._run_code  # type: ignore[attr-defined]
        lines = standins.code_lines(_original_run_code.__code__)
        standins.take_place_of(_run_code, _original_run_code, (_RUN_CODE_EXEC_LINE,), (max(lines) - 1,))
        _originals.append((runpy, "_run_code", _original_run_code, _run_code))
        runpy._run_code = _run_code  # type: ignore[attr-defined]


def _uninstall() -> None:
    while _originals:
        owner, attribute, original, ours = _originals.pop()
        if getattr(owner, attribute, None) is ours:  # someone patched over us: leave theirs
            setattr(owner, attribute, original)


class ByHandCollector:
    """Patches runpy while a session runs; notes the script."""

    name = "byhand"

    def __init__(self, registry: Registry, root: SourceRoot) -> None:
        self._session: _Session = (registry, root)

    def start(self) -> None:
        with _lock:
            _install()
            _SESSIONS.append(self._session)
        self._note_script()

    def stop(self) -> None:
        with _lock:
            if self._session in _SESSIONS:
                _SESSIONS.remove(self._session)
            if not _SESSIONS:
                _uninstall()

    def _note_script(self) -> None:
        """``python path/to/script.py`` while the interpreter starts: ``__main__`` has no file yet."""
        main = sys.modules.get("__main__")
        if not sys.argv or not sys.argv[0] or (main is not None and "__file__" in vars(main)):
            return
        registry, root = self._session
        hit = root.classify(os.path.abspath(sys.argv[0]))
        if hit is not None:
            registry.note_executed(hit[0], hit[1], None, threading.current_thread().name)
