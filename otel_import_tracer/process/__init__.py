"""Process glue: how tracing starts in every Python process a service runs, and how it learns
that the application is ready, with no change to the application. It sits above ``tracing`` and
hands it what a session needs of its process; ``tracing`` imports nothing from here.

- ``bootstrap``: starts tracing when an interpreter starts, from the package's ``.pth`` file
  (every Python of the environment the package is installed in), from the ``sitecustomize``
  that ``otel-import-tracer exec`` puts first on ``PYTHONPATH``, or from the launcher; its
  ``start_tracing`` is the public one, and hands the session the server patches, the SIGTERM
  handler and the fork hooks.
- ``fork``: how a forked child (a worker) starts tracing, the whole path in order.
- ``startup``: how startup completion is detected, every way in one list, and the lifespan's
  three moments (shared by ``servers`` and ``traced_lifespan``).
- ``servers``: patches the lifespan of uvicorn and hypercorn, and gunicorn's hand-over to its
  workers, when their modules are imported: startup completion and shutdown are seen from the
  server's side of the ASGI lifespan protocol, and nothing runs per request.
- ``lifespan``: ``traced_lifespan``, the fallback for servers we do not know.
- ``signals``: SIGTERM writes the lines and report, and the process still dies of it, promptly.
- ``launcher`` (``run``) and ``wrapper`` (``exec``): the commands; ``instrumentor``: the
  ``opentelemetry-instrument`` entry point.
"""
