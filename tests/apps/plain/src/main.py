"""An unmodified FastAPI service: a lifespan of its own, nothing of the tracer anywhere.

Its startup does what real ones do: a plugin chosen by name (importlib), an optional
dependency that is missing, and a span of its own (a "database connection") when the
process has an OpenTelemetry SDK provider.
"""

import importlib
from contextlib import asynccontextmanager

from fastapi import FastAPI
from opentelemetry import trace

from src import cache, settings
from src.routes import router

tracer = trace.get_tracer("plain-app")


@asynccontextmanager
async def lifespan(app: FastAPI):
    with tracer.start_as_current_span("db.connect"):
        app.state.plugin = importlib.import_module("src.plugins." + settings.PLUGIN)
    yield


app = FastAPI(lifespan=lifespan)
app.include_router(router)
