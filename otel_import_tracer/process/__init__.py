"""Process glue: how tracing starts in every Python process a service runs, and how it learns
that the application is ready, with no change to the application.

- ``bootstrap``: starts tracing when an interpreter starts, from the package's ``.pth`` file
  (every Python of the environment the package is installed in), from the ``sitecustomize``
  that ``otel-import-tracer exec`` puts first on ``PYTHONPATH``, or from the launcher.
- ``servers``: patches the lifespan of uvicorn and hypercorn, and gunicorn's hand-over to its
  workers, when their modules are imported: startup completion and shutdown are seen from the
  server's side of the ASGI lifespan protocol, and nothing runs per request.
- ``lifespan``: what a lifespan tells the session (shared by ``servers`` and
  ``traced_lifespan``, the fallback for servers we do not know).
- ``signals``: SIGTERM writes the lines and report, and the process still dies of it, promptly.
- ``launcher`` (``run``) and ``wrapper`` (``exec``): the commands; ``instrumentor``: the
  ``opentelemetry-instrument`` entry point.
"""
