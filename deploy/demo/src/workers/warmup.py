"""A background thread started at startup; the module it needs is imported in that thread."""

import threading


class CacheWarmer(threading.Thread):
    def __init__(self) -> None:
        super().__init__(name="cache-warmer", daemon=True)
        self.ready = threading.Event()
        self._stop_requested = threading.Event()

    def run(self) -> None:
        from src.workers import cache_loader  # imported by this thread, not the main one

        cache_loader.warm()
        self.ready.set()
        self._stop_requested.wait()

    def stop(self) -> None:
        self._stop_requested.set()


def start_cache_warmer() -> CacheWarmer:
    warmer = CacheWarmer()
    warmer.start()
    return warmer
