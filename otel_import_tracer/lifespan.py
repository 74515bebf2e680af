"""FastAPI / Starlette lifespan integration.

::

    app = FastAPI(lifespan=traced_lifespan(lifespan))

start tracing (a no-op if the launcher already did) -> the application's own startup
-> startup complete (``app.startup`` ends) -> serve -> ``stop_tracing()`` -> the
application's own shutdown steps.
"""

from __future__ import annotations

import contextlib
from typing import Any, AsyncIterator, Callable, Optional

from otel_import_tracer.tracing import mark_startup_complete, start_tracing, stop_tracing

Lifespan = Callable[[Any], "contextlib.AbstractAsyncContextManager[Any]"]


def traced_lifespan(lifespan: Optional[Lifespan] = None) -> Callable[[Any], "contextlib.AbstractAsyncContextManager[Any]"]:
    """Wrap an application's lifespan (or none) with import tracing.

    Works as a call, ``FastAPI(lifespan=traced_lifespan(my_lifespan))``, or as a
    decorator on top of ``@asynccontextmanager``.
    """

    @contextlib.asynccontextmanager
    async def _traced(app: Any) -> AsyncIterator[Any]:
        start_tracing()
        try:
            if lifespan is None:
                mark_startup_complete()
                yield None
            else:
                async with lifespan(app) as state:
                    mark_startup_complete()
                    try:
                        yield state
                    finally:
                        # Before the application's own shutdown steps, as in the original design.
                        stop_tracing()
        finally:
            # Also covers a startup that raised, and the no-lifespan case.
            stop_tracing()

    return _traced
