"""The end of startup in a process that is not an ASGI server, with no code change where a
well-known moment says it, and in one line where none does (docs/usage.md says what counts).

A server: the application starts serving.

- gRPC (``grpc.server(...)``, ``grpc.aio.server(...)``): the first ``start()`` of a server.
- ``socketserver`` (``http.server``, ``xmlrpc.server``, ``wsgiref``): the first ``serve_forever()``
  or ``handle_request()``, which waits for requests.

A supervisor: it hands over to its children, the first Python child it starts: a
``multiprocessing`` process (``Process.start``: pools and ``ProcessPoolExecutor`` too) or a
``subprocess`` running this environment's Python. A command it runs (``git``, ``ldconfig``)
hands nothing over.

None counts in an ASGI server, whose lifespan says when startup ends (``stand_down``). Each
counts on the main thread only, outside any import in progress on it (an import that
starts a server or a child is still startup; a metrics server served from a thread of its
own is not the application starting to serve), and only while startup is under way: the first
of them, or of the other ways (``process/__init__.py``), ends it. A server's or supervisor's
``session.role`` says which it was.

Nothing is per request: each patch stands in for a function called once per server or child,
without a frame of ours under the application's (the gRPC server's ``start`` as it is looked
up, ``socketserver._ServerSelector`` as serving begins, ``subprocess._cleanup`` and
``multiprocessing.process._cleanup`` as a child is started), and all are given back as they
were when startup ends, or at stop.

``IMPORT_TRACING_STARTUP_COMPLETE_AT``: ``module`` (startup ends when that module has finished
importing) or ``module:function`` (when that function is first called), for anything else.
"""

from __future__ import annotations

import os
import sys
import threading

TYPE_CHECKING = False  # typing is not imported at run time: the app would find it already paid for
if TYPE_CHECKING:
    from types import ModuleType
    from typing import Any, Callable, Dict, List, Mapping, Optional, Tuple

from otel_import_tracer import messages, semconv, tracing
from otel_import_tracer.config import IMPORT_TRACING_STARTUP_COMPLETE_AT
from otel_import_tracer.registry import Listener

# (owner, attribute, original, ours) of each patch in place.
_given: List[Tuple[Any, str, Any, Any]] = []
_lock = threading.Lock()
_held = False  # a supervisor's startup trace waits for the fork of its first child
_asgi = False  # an ASGI server: its lifespan says when startup ends
_watching: Any = None  # the registry watched for IMPORT_TRACING_STARTUP_COMPLETE_AT


def _after_fork_in_child() -> None:
    """A forked child: a lock a thread of the parent held is not the child's, nor its wait."""
    global _lock, _held
    _lock, _held = threading.Lock(), False


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def _ends(role: str, export: bool = True) -> bool:
    """The moment a server or supervisor reaches: startup ends here, if it counts (the main
    thread, no import in progress); never raises into the application."""
    try:
        if threading.current_thread() is not threading.main_thread():
            return False
        return tracing.startup_ends_as(role, idle=True, export=export)
    except Exception as exc:
        tracing.report_error("startup-end", exc)
        return False


def _take(owner: Any, attribute: str, make: Callable[[Any], Any]) -> None:
    """Put ``make(original)`` in place of ``owner.attribute`` while startup is under way (once)."""
    with _lock:
        original = owner.__dict__.get(attribute) if isinstance(owner, type) else getattr(owner, attribute, None)
        if original is None or any(taken[3] is original for taken in _given) or _asgi or not tracing.awaiting_startup():
            return
        ours = make(original)
        _given.append((owner, attribute, original, ours))
        setattr(owner, attribute, ours)


def stand_down() -> None:
    """An ASGI lifespan begins: it says when startup ends, so a child or a server its startup
    starts (a worker process, a gRPC server beside it) says nothing of it."""
    global _asgi
    _asgi = True
    give_back()


def give_back() -> None:
    """Every patch back as it was (startup has ended, or tracing stops); one the application
    patched over stays theirs."""
    with _lock:
        while _given:
            owner, attribute, original, ours = _given.pop()
            current = owner.__dict__.get(attribute) if isinstance(owner, type) else getattr(owner, attribute, None)
            if current is ours:
                setattr(owner, attribute, original)


# -- servers -------------------------------------------------------------------------------


class _FirstLookup:
    """In a server class's dict in place of its ``start``: looked up on an instance (to be
    called), it says the server starts and hands back the original bound method, so no frame of
    ours is under the call. Looked up on the class (``inspect``, ``functools.wraps``): the original."""

    def __init__(self, original: Any) -> None:
        self.original = original

    def __get__(self, instance: Any, owner: Any = None) -> Any:
        if instance is not None:
            _ends(semconv.ROLE_SERVER)
        return self.original.__get__(instance, owner)


def _patch_grpc(module: ModuleType) -> None:
    _take(module._Server, "start", _FirstLookup)


def _patch_grpc_aio(module: ModuleType) -> None:
    _take(module.Server, "start", _FirstLookup)


def _serving(original: Any) -> Callable[[], Any]:
    def _ServerSelector() -> Any:  # noqa: N802 - called as socketserver calls its selector class
        _ends(semconv.ROLE_SERVER)
        return original()

    return _ServerSelector


def _patch_socketserver(module: ModuleType) -> None:
    _take(module, "_ServerSelector", _serving)


# -- supervisors ---------------------------------------------------------------------------


def _runs_python(program: Any) -> bool:
    """Whether ``program`` (a ``Popen``'s executable or first argument) is a Python."""
    try:
        path = os.fsdecode(program)
    except TypeError:
        return False
    name = os.path.basename(path)
    if name.startswith("python"):
        return True
    return os.path.sep in path and os.path.realpath(path) == os.path.realpath(sys.executable)


def _popen_starts_python(frame: Any) -> bool:
    """In ``Popen.__init__``'s frame: whether the child it starts is a Python."""
    if frame is None or frame.f_code.co_name != "__init__":
        return False
    found = frame.f_locals
    if found.get("shell"):
        return False
    executable, args = found.get("executable"), found.get("args")
    if executable is None:
        if isinstance(args, (list, tuple)):  # never iterate anything else: it may be the app's iterator
            executable = args[0] if args else None
        else:
            executable = args
    return executable is not None and _runs_python(executable)


def _forks(process: Any) -> bool:
    """Whether a ``multiprocessing`` process starting now is forked from this one (the ``fork``
    start method); if that cannot be told, it may be."""
    try:
        method = getattr(type(process), "_start_method", None)
        if method is None:  # the default context's: the one set, else the platform's
            default = sys.modules["multiprocessing.context"]._default_context
            method = (default._actual_context or default._default_context)._name
        return method == "fork"
    except Exception:
        return True


def _starting_a_child(original: Any) -> Callable[[], Any]:
    def _cleanup() -> Any:  # noqa: N802 - called as subprocess and multiprocessing call theirs
        global _held
        try:
            caller = sys._getframe(1)
            process = caller.f_code.co_name == "start" and caller.f_locals.get("self")
            if process:
                # Forked: its trace waits until the fork is over, as a gunicorn master's does
                # (an export in flight at the fork held it up to the shutdown timeout: 3.3 s).
                forks = _forks(process)
                _held = _ends(semconv.ROLE_SUPERVISOR, export=not forks) and forks
            elif _popen_starts_python(caller):
                _ends(semconv.ROLE_SUPERVISOR)
        except Exception as exc:
            tracing.report_error("startup-end", exc)
        return original()

    return _cleanup


def after_fork_in_parent() -> None:
    """A supervisor's fork of its first child is over: its startup trace can go out now."""
    global _held
    if _held:
        _held = False
        tracing.handed_over()


def _patch_subprocess(module: ModuleType) -> None:
    _take(module, "_cleanup", _starting_a_child)


PATCHES: Dict[str, Callable[[ModuleType], None]] = {
    "grpc._server": _patch_grpc,
    "grpc.aio._server": _patch_grpc_aio,
    "socketserver": _patch_socketserver,
    "subprocess": _patch_subprocess,
    "multiprocessing.process": _patch_subprocess,
}
"""Module name -> the patch to apply once it is imported (while startup is under way)."""


# -- IMPORT_TRACING_STARTUP_COMPLETE_AT ----------------------------------------------------


def parse_marker(raw: str) -> Optional[Tuple[str, Optional[str]]]:
    """``module`` or ``module:function`` -> (module, function or None); None if it is neither."""
    module, colon, function = raw.strip().partition(":")
    if not module or not all(part.isidentifier() for part in module.split(".")):
        return None
    if colon and not function.isidentifier():
        return None
    return module, (function if colon else None)


def _bad_marker(raw: str, why: str) -> None:
    messages.warn(
        "bad-startup-complete-at",
        f"{IMPORT_TRACING_STARTUP_COMPLETE_AT}={raw!r} {why}; set it to a module (startup ends when it "
        "has finished importing, e.g. myapp.wiring) or module:function (startup ends when that function "
        "is first called, e.g. myapp.server:serve). The application is unaffected; startup ends as without it.",
    )


class _MarkAt(Listener):
    """Hears the loads until the marker's module has finished importing."""

    def __init__(self, registry: Any, raw: str, module: str, function: Optional[str]) -> None:
        self.registry, self.raw, self.module, self.function = registry, raw, module, function

    def on_load(self, load: Any) -> None:
        if load is not None and load.name == self.module:
            self.reached()

    def on_dependency(self, dependency: Any) -> None:
        if dependency.name == self.module:
            self.reached()

    def reached(self) -> None:
        self.registry.unsubscribe(self)
        if self.function is None:
            tracing.mark_startup_complete()
            return
        module = sys.modules.get(self.module)
        original = getattr(module, self.function, None)
        if not callable(original):
            _bad_marker(self.raw, f"names {self.function}, which module {self.module} does not define")
            return
        _take(module, self.function, _first_call)


def _first_call(original: Any) -> Callable[..., Any]:
    import functools

    @functools.wraps(original)
    def first_call(*args: Any, **kwargs: Any) -> Any:
        give_back()  # before the call: any later call is the application's own function
        try:
            tracing.mark_startup_complete()
        except Exception as exc:
            tracing.report_error("startup-end", exc)
        return original(*args, **kwargs)

    return first_call


def watch_marker(environ: Mapping[str, str], registry: Any) -> None:
    """Read ``IMPORT_TRACING_STARTUP_COMPLETE_AT`` and watch for its moment in ``registry``'s loads."""
    raw = environ.get(IMPORT_TRACING_STARTUP_COMPLETE_AT, "")
    if not raw.strip():
        return
    parsed = parse_marker(raw)
    if parsed is None:
        _bad_marker(raw, "is neither a module nor module:function")
        return
    global _watching
    if _watching is registry:  # tracing was already running: already watched
        return
    _watching = registry
    marker = _MarkAt(registry, raw, *parsed)
    registry.subscribe(marker)
    if parsed[0] in registry.modules():  # imported before tracing started
        marker.reached()
