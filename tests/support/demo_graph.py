"""The demo service's import graph, as designed (see deploy/demo/src)."""

STARTUP = frozenset(
    {
        "src",
        "src.main",
        "src.config",
        "src.config.logging_config",
        "src.config.settings",
        "src.integrations",
        "src.integrations.cache",
        "src.models",
        "src.models.domain",
        "src.routers",
        "src.routers.export",
        "src.routers.health",
        "src.routers.orders",
        "src.routers.reports",
        "src.services",
        "src.services.orders",
        "src.services.plugins",
        "src.utils",
        "src.utils.money",
        "src.workers",
        "src.workers.warmup",
        "src.plugins",
        "src.plugins.csv_export",  # importlib.import_module from settings, in the lifespan
        "src.workers.cache_loader",  # imported by the cache-warmer thread
    }
)
LAZY_BY_ENDPOINT = {
    "/reports/1.pdf": frozenset({"src.reports", "src.reports.pdf"}),
    "/reports/1.xlsx": frozenset({"src.reports", "src.reports.spreadsheet"}),
}
NEVER = frozenset({"src.plugins.xml_export", "src.utils.dates", "src.legacy", "src.legacy.billing"})
ALL = STARTUP | NEVER | frozenset().union(*LAZY_BY_ENDPOINT.values())

PLUGIN = "src.plugins.csv_export"
THREAD_MODULE = "src.workers.cache_loader"
THREAD_NAME = "cache-warmer"
FAILED_OPTIONAL = "fastcache_client"
FAILED_OPTIONAL_IMPORTER = "src.integrations.cache"
