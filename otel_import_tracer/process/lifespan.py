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

TYPE_CHECKING = False  # typing is not imported at run time: the app would find it already paid for
if TYPE_CHECKING:
    import contextlib
    import contextvars
    from typing import Any, AsyncIterator, Callable, Optional

from otel_import_tracer import tracing

if TYPE_CHECKING:
    Lifespan = Callable[[Any], "contextlib.AbstractAsyncContextManager[Any]"]

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
    tracing.mark_startup_complete(failure=failure)


def shutdown_begins() -> None:
    """The server starts shutting the application down: stop tracing first."""
    _leave_startup_scope()
    tracing.stop_tracing()


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


def traced_lifespan(lifespan: Optional[Lifespan] = None) -> Callable[[Any], "contextlib.AbstractAsyncContextManager[Any]"]:
    """Wrap an application's lifespan (or none) with import tracing.

    Not needed under uvicorn, gunicorn's UvicornWorker, ``fastapi run`` or hypercorn, where the
    tracer sees the lifespan from the server's side; for other servers it is the way to tell the
    tracer when startup is complete. Works as a call, ``FastAPI(lifespan=traced_lifespan(my_lifespan))``,
    or as a decorator on top of ``@asynccontextmanager``.
    """
    import contextlib

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
