"""An optional dependency: use the fast cache client if it is installed, else a dict.

The client is never installed in the demo, so this import fails at startup every time:
the tracer reports it as module.import_failed.
"""

try:
    import fastcache_client  # noqa: F401  (optional, not installed)

    _BACKEND = "fastcache"
except ImportError:
    _BACKEND = "in-process dict"


def cache_backend_name() -> str:
    return _BACKEND
