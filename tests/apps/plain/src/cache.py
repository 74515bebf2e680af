try:
    import fastcache_client  # noqa: F401 (optional, and not installed)
except ImportError:
    fastcache_client = None
