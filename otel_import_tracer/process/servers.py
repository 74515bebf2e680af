"""The servers' side of the ASGI lifespan, and gunicorn's hand-over, with no code change; and
what the lifespan's three moments tell the session, here and from ``traced_lifespan`` alike:

- the lifespan begins (in the task that runs it): when the application has an SDK
  ``TracerProvider``, ``app.startup`` becomes the current span of that task, so the spans the
  application makes while starting (database, HTTP, migrations) are its children;
- startup ends (``lifespan.startup.complete``, or ``.failed`` with its message): ``app.startup``
  ends and goes out, the report is written, later loads are lazy;
- shutdown begins: tracing stops (lines, report, bounded flush) before the application's own
  shutdown steps and before the server exits, whatever it then does with its signals.

Each is idempotent, so a server patch and ``traced_lifespan`` together never count twice.

When tracing is on, the import hook calls ``patch`` for the modules below as they are imported
(or at start, for those already imported), and each patch wraps a few methods of a server's
lifespan class, once. Those methods run a handful of times per process (startup, shutdown), never
per request, so serving costs nothing more:

- uvicorn (also under gunicorn's ``UvicornWorker`` and ``fastapi run``): ``LifespanOn`` runs the
  lifespan task (``main``) and receives the application's messages (``send``); ``LifespanOff``
  (``--lifespan off``) has no protocol, so startup ends when the server starts serving.
- hypercorn (asyncio and trio): ``Lifespan.handle_lifespan`` / ``asgi_send`` likewise.
- an application that raises from its lifespan call once it took ``lifespan.startup`` (or under
  uvicorn's ``--lifespan on``, which then exits) has failed to start, whatever its framework:
  Starlette says so with ``lifespan.startup.failed``, a plain ASGI application only raises, and
  the server swallows the exception. The lifespan task's one call of the application is watched
  for it; an application that raises without taking ``lifespan.startup`` under ``auto`` does not
  speak the protocol, and starts when the server serves.
- gunicorn: the arbiter forking a worker (``spawn_worker``) ends the startup of a ``--preload``
  master, which hands its imports over to the workers; its trace goes out once the batch of
  forks is over (``spawn_workers``), so no fork splits the export thread's imports.
- uvicorn's supervisors (``Multiprocess`` for ``--workers N``, ``BaseReload`` for ``--reload``)
  starting their spawned workers: a supervisor whose entry point imported code of the root
  before ``uvicorn.run`` ends its startup there and says it was a supervisor; one that loaded
  nothing stays silent as before.

- multiprocessing's forkserver (the default start method from Python 3.14): a helper that
  re-imports the main module only to fork workers from it, silent like the resource tracker.

An application that does not speak the lifespan protocol still gets both ends: startup when the
server goes on to serve without it, and shutdown when the server shuts down.
"""

from __future__ import annotations

from _collections_abc import Mapping  # collections.abc's, already imported by the interpreter (collections is not)
from types import ModuleType
TYPE_CHECKING = False  # typing is not imported at run time: the app would find it already paid for
if TYPE_CHECKING:
    import contextvars
    from typing import Any, Callable, Dict, List, Optional, Tuple

from otel_import_tracer import tracing
from otel_import_tracer.process import readiness

# The token of the attached app.startup context, in the context of the task running the lifespan.
# Made at the first lifespan: the tracer imports contextvars no earlier than the application.
_startup_scope: "Optional[contextvars.ContextVar[Optional[Any]]]" = None


def _scope() -> "contextvars.ContextVar[Optional[Any]]":
    global _startup_scope
    if _startup_scope is None:
        import contextvars

        _startup_scope = contextvars.ContextVar("otel_import_tracer_startup_scope", default=None)
    return _startup_scope


def quietly(step: Callable[..., None], *args: Any, **kwargs: Any) -> None:
    """The tracer's part of a lifespan: whatever goes wrong in it is reported, never raised."""
    try:
        step(*args, **kwargs)
    except Exception as exc:  # never between the application and its server
        tracing.report_error("lifespan", exc)


def lifespan_begins() -> None:
    """The lifespan starts in the current task: make ``app.startup`` its current span, if it can be."""
    readiness.stand_down()  # an ASGI server: not a supervisor of the children its startup starts
    if _scope().get() is not None:
        return
    context = tracing.startup_context()
    if context is None:
        return
    try:
        from opentelemetry import context as otel_context

        _scope().set(otel_context.attach(context))
    except Exception as exc:
        tracing.report_error("lifespan-context", exc)


def startup_ends(failure: Optional[str] = None) -> None:
    """The application finished starting (``failure``: it reported that it could not)."""
    _leave_startup_scope()
    _serving_asgi()
    tracing.mark_startup_complete(failure=failure)


def shutdown_begins() -> None:
    """The server starts shutting the application down: stop tracing first."""
    _leave_startup_scope()
    _serving_asgi()
    tracing.stop_tracing()


def _serving_asgi() -> None:
    """An ASGI server's lifespan runs in this process: its role is ``server`` (``kind.role_of``)."""
    session = tracing._session
    if session is not None:
        session.asgi = True


def _leave_startup_scope() -> None:
    token = _scope().get()
    if token is None:
        return
    _scope().set(None)
    try:
        # OpenTelemetry's default runtime context is a ContextVar: reset it where it was set.
        # Called from another task (a framework sending from elsewhere), reset refuses: the
        # context of the lifespan task then keeps app.startup, which has ended anyway.
        token.var.reset(token)
    except (AttributeError, ValueError, RuntimeError):
        pass


# -- the patches --

_PATCHED = "_otel_import_tracer_patched"
_STARTUP = "lifespan.startup"
_STARTUP_COMPLETE = "lifespan.startup.complete"
_STARTUP_FAILED = "lifespan.startup.failed"


def _startup_message(message: Any) -> None:
    """Startup ends with the application's own word on it, before the server acts on it."""
    kind = message.get("type") if isinstance(message, Mapping) else None
    if kind == _STARTUP_COMPLETE:
        startup_ends()
    elif kind == _STARTUP_FAILED:
        startup_ends(failure=str(message.get("message") or "the application reported lifespan.startup.failed"))


def _wrap(cls: Any, name: str, make: Callable[[Callable[..., Any]], Callable[..., Any]]) -> None:
    import functools  # at the patch, not at start: on 3.14 it brings collections

    original = getattr(cls, name, None)
    if original is not None:
        setattr(cls, name, functools.wraps(original)(make(original)))


def _runs_lifespan(original: Callable[..., Any], where: Callable[[Any], Tuple[Any, str, bool]]) -> Callable[..., Any]:
    """``where(self)``: what holds the application for the lifespan call, under which attribute,
    and whether the server fails the startup of an application that raises without taking
    ``lifespan.startup`` (uvicorn's ``--lifespan on``)."""

    async def run(self: Any, *args: Any, **kwargs: Any) -> Any:
        quietly(lifespan_begins)  # in the lifespan's own task: its context is the one to set
        watched = _watch_the_call(self, where)
        try:
            return await original(self, *args, **kwargs)
        finally:
            if watched is not None:
                quietly(watched)

    return run


def _watch_the_call(server_side: Any, where: Callable[[Any], Tuple[Any, str, bool]]) -> Optional[Callable[[], None]]:
    """Watch the one lifespan call of the application (an exception out of it), not the others.

    The server reads the application from ``holder.attribute`` and calls it before its first
    ``await``, so it is swapped for the watcher only while nothing else can run; the watcher
    puts the application back as it is called. Returns what puts it back if it never was."""
    try:
        holder, attribute, strict = where(server_side)
        app = getattr(holder, attribute)
    except Exception as exc:  # another version of the server, shaped differently
        tracing.report_error("lifespan-watch", exc)
        return None

    def give_back() -> None:
        if getattr(holder, attribute, None) is watcher:
            setattr(holder, attribute, app)

    async def watcher(scope: Any, receive: Callable[[], Any], *rest: Any) -> Any:
        give_back()
        if not isinstance(scope, Mapping) or scope.get("type") != "lifespan":
            return await app(scope, receive, *rest)
        asked: List[bool] = []

        async def taking(*args: Any) -> Any:
            message = await receive(*args)
            if isinstance(message, Mapping) and message.get("type") == _STARTUP:
                asked.append(True)
            return message

        try:
            return await app(scope, taking, *rest)
        except Exception as exc:
            if asked or strict:  # raised from its startup: failed, whatever the framework
                quietly(startup_ends, failure=f"{type(exc).__name__}: {exc}")
            raise

    try:
        setattr(holder, attribute, watcher)
    except Exception as exc:
        tracing.report_error("lifespan-watch", exc)
        return None
    return give_back


def _uvicorn_app(server_side: Any) -> Tuple[Any, str, bool]:
    config = server_side.config
    return config, "loaded_app", config.lifespan == "on"


def _hypercorn_app(server_side: Any) -> Tuple[Any, str, bool]:
    return server_side, "app", False  # hypercorn goes on without lifespan support


def _receives_messages(original: Callable[..., Any]) -> Callable[..., Any]:
    async def send(self: Any, message: Any, *args: Any, **kwargs: Any) -> Any:
        quietly(_startup_message, message)
        return await original(self, message, *args, **kwargs)

    return send


def _then_startup_ends(original: Callable[..., Any]) -> Callable[..., Any]:
    async def startup(self: Any, *args: Any, **kwargs: Any) -> Any:
        result = await original(self, *args, **kwargs)
        quietly(startup_ends)  # no-op if the application said so already; else it serves without
        return result

    return startup


def _shutdown_first(original: Callable[..., Any]) -> Callable[..., Any]:
    async def shutdown(self: Any, *args: Any, **kwargs: Any) -> Any:
        quietly(shutdown_begins)
        return await original(self, *args, **kwargs)

    return shutdown


def _patch_uvicorn_on(module: ModuleType) -> None:
    cls = module.LifespanOn
    _wrap(cls, "main", lambda original: _runs_lifespan(original, _uvicorn_app))
    _wrap(cls, "send", _receives_messages)
    _wrap(cls, "startup", _then_startup_ends)
    _wrap(cls, "shutdown", _shutdown_first)


def _patch_uvicorn_off(module: ModuleType) -> None:
    cls = module.LifespanOff
    _wrap(cls, "startup", _then_startup_ends)
    _wrap(cls, "shutdown", _shutdown_first)


def _patch_hypercorn(module: ModuleType) -> None:
    cls = module.Lifespan
    _wrap(cls, "handle_lifespan", lambda original: _runs_lifespan(original, _hypercorn_app))
    _wrap(cls, "asgi_send", _receives_messages)
    _wrap(cls, "wait_for_startup", _then_startup_ends)
    _wrap(cls, "wait_for_shutdown", _shutdown_first)


def _before_forking(original: Callable[..., Any]) -> Callable[..., Any]:
    def spawn_worker(self: Any, *args: Any, **kwargs: Any) -> Any:
        quietly(tracing.hand_over)  # the master's startup ends here; the workers it forks serve
        return original(self, *args, **kwargs)

    return spawn_worker


def _after_forking(original: Callable[..., Any]) -> Callable[..., Any]:
    def spawn_workers(self: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return original(self, *args, **kwargs)
        finally:
            quietly(tracing.handed_over)  # no more forks for now: the master's trace can go

    return spawn_workers


def _before_spawning(original: Callable[..., Any]) -> Callable[..., Any]:
    def start_workers(self: Any, *args: Any, **kwargs: Any) -> Any:
        quietly(tracing.supervise)  # the workers are new interpreters that import the app themselves
        return original(self, *args, **kwargs)

    return start_workers


def _patch_uvicorn_multiprocess(module: ModuleType) -> None:
    # init_processes: uvicorn 0.30+; startup: the releases before it.
    _wrap(module.Multiprocess, "init_processes", _before_spawning)
    _wrap(module.Multiprocess, "startup", _before_spawning)


def _patch_uvicorn_reloader(module: ModuleType) -> None:
    _wrap(module.BaseReload, "startup", _before_spawning)


def _serves_other_processes(original: Callable[..., Any]) -> Callable[..., Any]:
    def main(*args: Any, **kwargs: Any) -> Any:
        quietly(tracing.helper_process)  # before it preloads __main__: nothing of it is reported
        return original(*args, **kwargs)

    return main


def _patch_forkserver(module: ModuleType) -> None:
    _wrap(module, "main", _serves_other_processes)


def _patch_gunicorn_arbiter(module: ModuleType) -> None:
    cls = module.Arbiter
    _wrap(cls, "spawn_worker", _before_forking)
    _wrap(cls, "spawn_workers", _after_forking)


PATCHES: Dict[str, Callable[[ModuleType], None]] = {
    "uvicorn.lifespan.on": _patch_uvicorn_on,
    "uvicorn.lifespan.off": _patch_uvicorn_off,
    "hypercorn.asyncio.lifespan": _patch_hypercorn,
    "hypercorn.trio.lifespan": _patch_hypercorn,
    "uvicorn.supervisors.multiprocess": _patch_uvicorn_multiprocess,
    "uvicorn.supervisors.basereload": _patch_uvicorn_reloader,
    "gunicorn.arbiter": _patch_gunicorn_arbiter,
    "multiprocessing.forkserver": _patch_forkserver,
}
"""Module name -> the patch to apply once it is imported."""


def patch(module: ModuleType) -> None:
    """Apply the patch for ``module`` once per process; a server we do not understand is left alone."""
    name = getattr(module, "__name__", None)
    apply: Optional[Callable[[ModuleType], None]] = PATCHES.get(name) if isinstance(name, str) else None
    if apply is None or getattr(module, _PATCHED, False):
        return
    setattr(module, _PATCHED, True)
    try:
        apply(module)
    except Exception as exc:  # another version of the server, shaped differently
        tracing.report_error(f"server-patch-{name}", exc)
