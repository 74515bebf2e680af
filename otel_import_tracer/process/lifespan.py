"""``traced_lifespan``, for servers we do not know: the application's lifespan tells the session
the three moments of a lifespan (``servers``, where the server patches tell them for the
servers we know).

::

    app = FastAPI(lifespan=traced_lifespan(lifespan))
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing is not imported at run time: the app would find it already paid for
if TYPE_CHECKING:
    import contextlib
    from typing import Any, AsyncIterator, Callable, Optional

from otel_import_tracer.process import bootstrap
from otel_import_tracer.process.servers import lifespan_begins, quietly, shutdown_begins, startup_ends

if TYPE_CHECKING:
    Lifespan = Callable[[Any], "contextlib.AbstractAsyncContextManager[Any]"]


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
        quietly(bootstrap.start_tracing)
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
