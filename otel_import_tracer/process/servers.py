"""The servers' side of the ASGI lifespan, and gunicorn's hand-over, with no code change.

When tracing is on, the import hook calls ``patch`` for the modules below as they are imported
(or at start, for those already imported), and each patch wraps a few methods of a server's
lifespan class, once. Those methods run a handful of times per process (startup, shutdown), never
per request, so serving costs nothing more:

- uvicorn (also under gunicorn's ``UvicornWorker`` and ``fastapi run``): ``LifespanOn`` runs the
  lifespan task (``main``) and receives the application's messages (``send``); ``LifespanOff``
  (``--lifespan off``) has no protocol, so startup ends when the server starts serving.
- hypercorn (asyncio and trio): ``Lifespan.handle_lifespan`` / ``asgi_send`` likewise.
- gunicorn: the arbiter forking a worker (``spawn_worker``) ends the startup of a ``--preload``
  master, which hands its imports over to the workers; its trace goes out once the batch of
  forks is over (``spawn_workers``), so no fork splits the export thread's imports.

- multiprocessing's forkserver (the default start method from Python 3.14): a helper that
  re-imports the main module only to fork workers from it, silent like the resource tracker.

An application that does not speak the lifespan protocol still gets both ends: startup when the
server goes on to serve without it, and shutdown when the server shuts down.
"""

from __future__ import annotations

import functools
from types import ModuleType
from typing import Any, Callable, Dict, Mapping, Optional

from otel_import_tracer import tracing
from otel_import_tracer.process import lifespan
from otel_import_tracer.process.lifespan import quietly

_PATCHED = "_otel_import_tracer_patched"
_STARTUP_COMPLETE = "lifespan.startup.complete"
_STARTUP_FAILED = "lifespan.startup.failed"


def _startup_message(message: Any) -> None:
    """Startup ends with the application's own word on it, before the server acts on it."""
    kind = message.get("type") if isinstance(message, Mapping) else None
    if kind == _STARTUP_COMPLETE:
        lifespan.startup_ends()
    elif kind == _STARTUP_FAILED:
        lifespan.startup_ends(failure=str(message.get("message") or "the application reported lifespan.startup.failed"))


def _wrap(cls: Any, name: str, make: Callable[[Callable[..., Any]], Callable[..., Any]]) -> None:
    original = getattr(cls, name, None)
    if original is not None:
        setattr(cls, name, functools.wraps(original)(make(original)))


def _runs_lifespan(original: Callable[..., Any]) -> Callable[..., Any]:
    async def run(self: Any, *args: Any, **kwargs: Any) -> Any:
        quietly(lifespan.lifespan_begins)  # in the lifespan's own task: its context is the one to set
        return await original(self, *args, **kwargs)

    return run


def _receives_messages(original: Callable[..., Any]) -> Callable[..., Any]:
    async def send(self: Any, message: Any, *args: Any, **kwargs: Any) -> Any:
        quietly(_startup_message, message)
        return await original(self, message, *args, **kwargs)

    return send


def _then_startup_ends(original: Callable[..., Any]) -> Callable[..., Any]:
    async def startup(self: Any, *args: Any, **kwargs: Any) -> Any:
        result = await original(self, *args, **kwargs)
        quietly(lifespan.startup_ends)  # no-op if the application said so already; else it serves without
        return result

    return startup


def _shutdown_first(original: Callable[..., Any]) -> Callable[..., Any]:
    async def shutdown(self: Any, *args: Any, **kwargs: Any) -> Any:
        quietly(lifespan.shutdown_begins)
        return await original(self, *args, **kwargs)

    return shutdown


def _patch_uvicorn_on(module: ModuleType) -> None:
    cls = module.LifespanOn
    _wrap(cls, "main", _runs_lifespan)
    _wrap(cls, "send", _receives_messages)
    _wrap(cls, "startup", _then_startup_ends)
    _wrap(cls, "shutdown", _shutdown_first)


def _patch_uvicorn_off(module: ModuleType) -> None:
    cls = module.LifespanOff
    _wrap(cls, "startup", _then_startup_ends)
    _wrap(cls, "shutdown", _shutdown_first)


def _patch_hypercorn(module: ModuleType) -> None:
    cls = module.Lifespan
    _wrap(cls, "handle_lifespan", _runs_lifespan)
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
