"""The app's wiring: once imported, the app is ready (IMPORT_TRACING_STARTUP_COMPLETE_AT=src.wiring)."""

from src import settings  # noqa: F401


def serve(seconds: float) -> None:
    """Serves (here: waits), the function IMPORT_TRACING_STARTUP_COMPLETE_AT=src.wiring:serve names."""
    import time

    time.sleep(seconds)
    from src import handlers  # noqa: F401 (after startup: lazy)
