"""What a lifespan tells the tracing session, and ``traced_lifespan`` for servers we do not know.

The server patches (``servers``) and ``traced_lifespan`` report the same three moments:

- the lifespan begins (in the task that runs it): when the application has an SDK
  ``TracerProvider``, ``app.startup`` becomes the current span of that task, so the spans the
  application makes while starting (database, HTTP, migrations) are its children;
- startup ends (``lifespan.startup.complete``, or ``.failed`` with its message): ``app.startup``
  ends and goes out, the report is written, later loads are lazy;
- shutdown begins: tracing stops (lines, report, bounded flush) before the application's own
  shutdown steps and before the server exits, whatever it then does with its signals.

Each is idempotent, so a server patch and ``traced_lifespan`` together never count twice.

::

    app = FastAPI(lifespan=traced_lifespan(lifespan))
"""

from __future__ import annotations

import contextlib
import contextvars
from typing import Any, AsyncIterator, Callable, Optional

from otel_import_tracer import tracing

Lifespan = Callable[[Any], "contextlib.AbstractAsyncContextManager[Any]"]

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


def traced_lifespan(lifespan: Optional[Lifespan] = None) -> Callable[[Any], "contextlib.AbstractAsyncContextManager[Any]"]:
    """Wrap an application's lifespan (or none) with import tracing.

    Not needed under uvicorn, gunicorn's UvicornWorker, ``fastapi run`` or hypercorn, where the
    tracer sees the lifespan from the server's side; for other servers it is the way to tell the
    tracer when startup is complete. Works as a call, ``FastAPI(lifespan=traced_lifespan(my_lifespan))``,
    or as a decorator on top of ``@asynccontextmanager``.
    """

    @contextlib.asynccontextmanager
    async def _traced(app: Any) -> AsyncIterator[Any]:
        quietly(tracing.start_tracing)
        quietly(lifespan_begins)
        if lifespan is None:
            quietly(startup_ends)
            try:
                yield None
            finally:
                quietly(shutdown_begins)
            return
        started = False
        try:
            async with lifespan(app) as state:
                started = True
                quietly(startup_ends)
                try:
                    yield state
                finally:
                    # Before the application's own shutdown steps, as in the original design.
                    quietly(shutdown_begins)
        except BaseException as exc:
            if not started:
                quietly(startup_ends, failure=f"{type(exc).__name__}: {exc}")
            raise
        finally:
            quietly(shutdown_begins)  # also covers a startup that raised

    return _traced
