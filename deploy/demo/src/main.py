"""The application: FastAPI with a lifespan that loads a plugin and starts a cache warmer.

Nothing of the tracer in it: ``ENABLE_IMPORT_TRACING=true uvicorn src.main:app`` (or
``otel-import-tracer run src.main:app``, or ``otel-import-tracer demo``) traces it as it is.
"""

import logging
from contextlib import asynccontextmanager

from fastapi import FastAPI

from src.config.logging_config import configure_logging
from src.config.settings import settings
from src.integrations.cache import cache_backend_name
from src.routers import export, health, orders, reports
from src.services.plugins import load_plugin
from src.workers.warmup import start_cache_warmer

configure_logging()
logger = logging.getLogger(__name__)


@asynccontextmanager
async def lifespan(app: FastAPI):
    logger.info("Starting %s (cache backend: %s)", settings.service_name, cache_backend_name())
    app.state.exporter = load_plugin(settings.export_plugin)
    warmer = start_cache_warmer()
    warmer.ready.wait(timeout=10)  # serve only once the caches are warm
    yield
    logger.info("Shutting down %s", settings.service_name)
    warmer.stop()


app = FastAPI(title="Orders demo", lifespan=lifespan)
app.include_router(health.router)
app.include_router(orders.router)
app.include_router(reports.router)
app.include_router(export.router)
