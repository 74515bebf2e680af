"""``src/main.py`` of an application that sets up OpenTelemetry itself, first thing, as many do.

The tests copy this over the ``main.py`` of a generated app (``genapp.write_wide_app``).

Its provider keeps the SDK's default limits (128 events per span); import tracing must
reuse it (one pipeline, the app's resource) and still deliver every module.loaded event.
"""

import os

from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

provider = TracerProvider(resource=Resource.create({"service.name": "app-with-own-provider"}))
provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=os.environ["APP_OTLP_ENDPOINT"])))
trace.set_tracer_provider(provider)

from fastapi import FastAPI  # noqa: E402

from otel_import_tracer import traced_lifespan  # noqa: E402
from src import gen  # noqa: E402,F401

app = FastAPI(lifespan=traced_lifespan())
tracer = trace.get_tracer("app")


@app.get("/health")
def health() -> dict:
    with tracer.start_as_current_span("app.own-span") as span:
        for index in range(200):  # more than the default limit: the app's spans keep it
            span.add_event(f"step-{index}")
    return {"status": "ok"}
