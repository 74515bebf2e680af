"""Root files run without an import, seen where they are run, at a cost per such run only.

No ``sys.modules`` entry and no finder shows these; every collector installs this:

- ``importlib.util.spec_from_file_location``: a spec for a file under the root gets its
  loader's next ``exec_module`` timed, as an import would be (alembic's ``env.py`` and
  migrations, plugin loaders, configuration files).
- ``runpy._run_code``: code of a root file run by ``runpy.run_path``, ``runpy.run_module``
  or ``python -m``, timed.
- The script (``python src/manage.py``): noted when tracing starts, as it is about to run.

Nothing here runs per request, or for a file outside the root. A file run by a bare
``exec(compile(open(path).read(), path, "exec"))`` leaves nothing to patch: the ``audit``
collector (the interpreter's ``exec`` audit event), ``monitoring`` and ``settrace`` see it.
"""

from __future__ import annotations

import importlib.util
import os
import sys
import threading
from typing import Any, Callable, List, Tuple

from otel_import_tracer import messages
from otel_import_tracer.collectors import frames
from otel_import_tracer.collectors.importhook import shadow_exec_module, timed_exec
from otel_import_tracer.naming import SourceRoot
from otel_import_tracer.registry import SOURCE_EXECUTED, ModuleLoad, Registry

# One (registry, root) per running session; the patches are in place while there is one.
_Session = Tuple[Registry, SourceRoot]
_SESSIONS: List[_Session] = []
_lock = threading.Lock()
_originals: List[Tuple[Any, str, Any, Any]] = []  # (owner, attribute, original, ours)


def _spec_from_file_location(*args: Any, **kwargs: Any) -> Any:
    spec = _ORIGINAL_SPEC_FROM_FILE_LOCATION(*args, **kwargs)
    if spec is not None and _SESSIONS:
        try:
            for registry, root in tuple(_SESSIONS):
                hit = root.classify(spec.origin)
                if hit is not None and not registry.knows(hit[0]):
                    loader = spec.loader
                    shadow_exec_module(loader, timed_exec(registry, root, loader, hit[0], hit[1], SOURCE_EXECUTED))
                    break  # one timed exec per loader; the other sessions' sweeps and watchers see it
        except Exception as exc:
            messages.internal_error(exc)
    return spec


_ORIGINAL_SPEC_FROM_FILE_LOCATION: Callable[..., Any] = importlib.util.spec_from_file_location


def _run_code(code: Any, run_globals: Any, *args: Any, **kwargs: Any) -> Any:
    begun: List[Tuple[Registry, ModuleLoad]] = []
    if _SESSIONS:
        try:
            begun = _begin(code.co_filename, sys._getframe(1))
        except Exception as exc:
            messages.internal_error(exc)
    try:
        return _original_run_code(code, run_globals, *args, **kwargs)
    finally:
        for registry, load in begun:
            registry.end_load(load)


def _original_run_code(*args: Any, **kwargs: Any) -> Any:  # replaced by runpy's own at install
    raise RuntimeError("runpy._run_code was not captured")


def _begin(filename: Any, caller: Any) -> List[Tuple[Registry, ModuleLoad]]:
    begun = []
    for registry, root in tuple(_SESSIONS):
        hit = root.classify(filename)
        if hit is not None and not registry.knows(hit[0]):
            parent = frames.describe(frames.importer_frame(caller), root)[0]
            load = registry.begin_load(hit[0], hit[1], parent, threading.current_thread().name, SOURCE_EXECUTED)
            if load is not None:
                begun.append((registry, load))
    return begun


def _install() -> None:
    global _original_run_code
    import runpy  # frozen from 3.11; imported now so that python -m and run_path go through us

    if not _originals:
        _originals.append((importlib.util, "spec_from_file_location", _ORIGINAL_SPEC_FROM_FILE_LOCATION, _spec_from_file_location))
        importlib.util.spec_from_file_location = _spec_from_file_location  # type: ignore[assignment]
        _original_run_code = runpy._run_code  # type: ignore[attr-defined]
        _originals.append((runpy, "_run_code", _original_run_code, _run_code))
        runpy._run_code = _run_code  # type: ignore[attr-defined]


def _uninstall() -> None:
    while _originals:
        owner, attribute, original, ours = _originals.pop()
        if getattr(owner, attribute, None) is ours:  # someone patched over us: leave theirs
            setattr(owner, attribute, original)


class ByHandCollector:
    """Patches the two ways of running a file by hand while a session runs; notes the script."""

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
