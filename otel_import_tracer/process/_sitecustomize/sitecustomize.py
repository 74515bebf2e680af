"""Put first on ``PYTHONPATH`` by ``otel-import-tracer exec`` and the launcher: every Python process
the command starts (spawned workers included) starts tracing before it imports anything of the
application, then runs the ``sitecustomize`` this one shadows."""

from otel_import_tracer.process import bootstrap

bootstrap.start()
bootstrap.chain_sitecustomize(__file__)
