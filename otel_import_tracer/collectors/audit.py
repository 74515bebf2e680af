"""The interpreter's ``exec`` audit event: every code object run by ``exec``, on every Python.

The import system runs each module body with ``exec``, and so do ``runpy.run_path``,
``spec_from_file_location(...).loader.exec_module(...)`` (alembic's migrations) and
``exec(compile(open(f).read(), f, "exec"))``. An audit hook (``sys.addaudithook``, PEP 578)
sees each of those once, as it starts, with its code object; ``cpython.run_file`` names the
script of ``python path/to/script.py``. A file under the root that the import hook did not
see is recorded as executed (no duration: the event marks a start only).

An audit hook can never be removed. The one installed here is shared by every session of
the process (forked children included); with no session running it costs one check of an
empty list per audit event, and it never raises into the audited operation. The interpreter's
own cost per audit event, once any hook exists, is larger: about 1,550 instructions on 3.11
whatever the hook does (measured with a no-op hook against none), and FastAPI raises five
``builtins.id`` events per request. That is why this is the opt-in ``audit`` collector and not
part of the default.
"""

from __future__ import annotations

import sys
import threading
TYPE_CHECKING = False  # typing is not imported at run time: the app would find it already paid for
if TYPE_CHECKING:
    from typing import Any, Callable, List, Optional, Tuple

from otel_import_tracer import messages
import otel_import_tracer.collectors.frames as frames
from otel_import_tracer.naming import SourceRoot, registered_name
from otel_import_tracer.registry import Registry

# (event, args) -> None, one per running session.
if TYPE_CHECKING:
    _Sink = Callable[[str, Tuple[Any, ...]], None]
_SINKS: List[_Sink] = []
_installed_lock = threading.Lock()
_installed = False

_EXEC = "exec"
_RUN_FILE = "cpython.run_file"


def _hook(
    event: str,
    args: Tuple[Any, ...],
    _sinks: List[_Sink] = _SINKS,
    _events: Tuple[str, str] = (_EXEC, _RUN_FILE),
    _tuple: Any = tuple,
    _error: Any = Exception,
) -> None:
    # Everything bound as a default: at interpreter exit module globals may already be gone,
    # and an audit hook that raises aborts the operation it audits.
    if _sinks and event in _events:
        for sink in _tuple(_sinks):
            try:
                sink(event, args)
            except _error:
                pass


def _install() -> None:
    global _installed
    with _installed_lock:
        if _installed:
            return
        sys.addaudithook(_hook)
        # A hook that refuses "sys.addaudithook" with a RuntimeError makes it do nothing, silently.
        heard: List[str] = []
        probe: _Sink = lambda event, args: heard.append(event)  # noqa: E731
        _SINKS.append(probe)
        try:
            exec(_PROBE, {})
        finally:
            _SINKS.remove(probe)
        if not heard:
            raise RuntimeError("another audit hook refused it")
        _installed = True


_PROBE = compile("", "<otel-import-tracer audit probe>", "exec")


class ExecAuditCollector:
    """Records root files whose code ``exec`` ran (and the script) that no import showed."""

    name = "exec-audit"

    def __init__(self, registry: Registry, root: SourceRoot) -> None:
        self._registry = registry
        self._root = root
        self._sink: Optional[_Sink] = None

    def start(self) -> None:
        _install()
        self._sink = self._on_event
        _SINKS.append(self._sink)

    def stop(self) -> None:
        sink, self._sink = self._sink, None
        if sink is not None and sink in _SINKS:
            _SINKS.remove(sink)

    def _on_event(self, event: str, args: Tuple[Any, ...]) -> None:
        try:
            if event == _EXEC:
                filename = getattr(args[0], "co_filename", None)
            else:
                filename = args[0]
            # Named as the other collectors name it: the name a module registered by hand is
            # in sys.modules under (they read it from the running frame's globals, which the
            # audit event does not give), else the path's.
            name = registered_name(filename) if isinstance(filename, str) and filename.startswith(self._root.prefixes) else None
            hit = self._root.classify(filename, name)
            if hit is None or self._registry.knows(hit[0]):
                return
            parent = None
            if event == _EXEC:  # frame 0 is this method, 1 the hook, 2 the caller of exec
                parent = frames.describe(frames.importer_frame(sys._getframe(2)), self._root)[0]
            self._registry.note_executed(hit[0], hit[1], parent, threading.current_thread().name)
        except Exception as exc:
            messages.internal_error(exc)
