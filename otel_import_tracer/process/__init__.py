"""Process glue: how tracing starts in every Python process a service runs, and how it learns
that the application is ready, with no change to the application. It sits above ``tracing`` and
hands it what a session needs of its process; ``tracing`` imports nothing from here.

- ``bootstrap``: starts tracing when an interpreter starts, from the package's ``.pth`` file
  (every Python of the environment the package is installed in), from the ``sitecustomize``
  that ``otel-import-tracer exec`` puts first on ``PYTHONPATH``, or from the launcher; its
  ``start_tracing`` is the public one, and hands the session the server patches, the SIGTERM
  handler and the fork hooks.
- ``fork``: how a forked child (a worker) starts tracing, the whole path in order.
- ``servers``: patches the lifespan of uvicorn and hypercorn, and gunicorn's hand-over to its
  workers, when their modules are imported: startup completion and shutdown are seen from the
  server's side of the ASGI lifespan protocol, and nothing runs per request; and what the
  lifespan's three moments tell the session (shared with ``traced_lifespan``).
- ``lifespan``: ``traced_lifespan``, the fallback for servers we do not know.
- ``readiness``: the end of startup where no ASGI lifespan says it: a gRPC or ``socketserver``
  server starting to serve, a supervisor starting its first Python child, or
  ``IMPORT_TRACING_STARTUP_COMPLETE_AT``.
- ``signals``: SIGTERM writes the lines and report, and the process still dies of it, promptly.
- ``launcher`` (``run``) and ``wrapper`` (``exec``): the commands; ``instrumentor``: the
  ``opentelemetry-instrument`` entry point.

How startup completion is detected: the first of these to say so (``tracing``'s
``startup_complete`` takes the first and ignores the rest, so none counts twice):

1. the ASGI lifespan, seen from the server's side with no code change (``servers``: uvicorn,
   hypercorn, under gunicorn's ``UvicornWorker`` and ``fastapi run`` too):
   ``lifespan.startup.complete`` or ``.failed``, an application raising from its lifespan call
   once it took ``lifespan.startup``, or else the server going on to serve without it;
2. ``traced_lifespan`` (``lifespan``), for servers we do not know;
3. ``mark_startup_complete()``, called by the application (``tracing``);
4. a gunicorn ``--preload`` master forking its workers (``servers`` -> ``tracing.hand_over``),
   a uvicorn supervisor spawning its own (``servers`` -> ``tracing.supervise``);
5. a gRPC or ``socketserver`` server starting to serve, any other process starting its first
   Python child (``readiness`` -> ``tracing.startup_ends_as``: role server, supervisor), and
   ``IMPORT_TRACING_STARTUP_COMPLETE_AT`` (``readiness``);
6. last, ``stop_tracing()`` (a script, a job: the whole run is the startup).
"""
