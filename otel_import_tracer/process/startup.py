"""How startup completion is detected, and what each way tells the session.

Startup is complete when the first of these says so (``tracing``'s ``startup_complete`` takes the
first and ignores the rest, so none counts twice):

- the ASGI lifespan, seen from the server's side with no code change (``servers``: uvicorn,
  hypercorn, under gunicorn's ``UvicornWorker`` and ``fastapi run`` too):
  ``lifespan.startup.complete`` or ``.failed``, an application raising from its lifespan call
  once it took ``lifespan.startup``, or else the server going on to serve without it;
- ``traced_lifespan`` (``lifespan``), for servers we do not know;
- ``mark_startup_complete()``, called by the application (``tracing``);
- a gunicorn ``--preload`` master forking its workers (``servers`` -> ``tracing.hand_over``), a
  uvicorn supervisor spawning its own (``tracing.supervise``);
- last, ``stop_tracing()`` (a script, a job: the whole run is the startup).

The lifespan's three moments below are reported by the server patches and ``traced_lifespan``
alike:

- the lifespan begins (in the task that runs it): when the application has an SDK
  ``TracerProvider``, ``app.startup`` becomes the current span of that task, so the spans the
  application makes while starting (database, HTTP, migrations) are its children;
- startup ends (``lifespan.startup.complete``, or ``.failed`` with its message): ``app.startup``
  ends and goes out, the report is written, later loads are lazy;
- shutdown begins: tracing stops (lines, report, bounded flush) before the application's own
  shutdown steps and before the server exits, whatever it then does with its signals.

Each is idempotent, so a server patch and ``traced_lifespan`` together never count twice.
"""

from __future__ import annotations

import contextvars
from typing import Any, Callable, Optional

from otel_import_tracer import tracing

# The token of the attached app.startup context, in the context of the task running the lifespan.
_startup_scope: "contextvars.ContextVar[Optional[Any]]" = contextvars.ContextVar(
    "otel_import_tracer_startup_scope", default=None
)


def quietly(step: Callable[..., None], *args: Any, **kwargs: Any) -> None:
    """The tracer's part of a lifespan: whatever goes wrong in it is reported, never raised."""
    try:
        step(*args, **kwargs)
    except Exception as exc:  # never between the application and its server
        tracing.report_error("lifespan", exc)


def lifespan_begins() -> None:
    """The lifespan starts in the current task: make ``app.startup`` its current span, if it can be."""
    if _startup_scope.get() is not None:
        return
    context = tracing.startup_context()
    if context is None:
        return
    try:
        from opentelemetry import context as otel_context

        _startup_scope.set(otel_context.attach(context))
    except Exception as exc:
        tracing.report_error("lifespan-context", exc)


def startup_ends(failure: Optional[str] = None) -> None:
    """The application finished starting (``failure``: it reported that it could not)."""
    _leave_startup_scope()
    tracing.mark_startup_complete(failure=failure)


def shutdown_begins() -> None:
    """The server starts shutting the application down: stop tracing first."""
    _leave_startup_scope()
    tracing.stop_tracing()


def _leave_startup_scope() -> None:
    token = _startup_scope.get()
    if token is None:
        return
    _startup_scope.set(None)
    try:
        # OpenTelemetry's default runtime context is a ContextVar: reset it where it was set.
        # Called from another task (a framework sending from elsewhere), reset refuses: the
        # context of the lifespan task then keeps app.startup, which has ended anyway.
        token.var.reset(token)
    except (AttributeError, ValueError, RuntimeError):
        pass
