"""Settings from the environment, as a real service would have them."""

import os
from dataclasses import dataclass


@dataclass(frozen=True)
class Settings:
    service_name: str = os.environ.get("DEMO_SERVICE_NAME", "orders-demo")
    # The export plugin is chosen by name at runtime: importlib.import_module("src.plugins." + name).
    export_plugin: str = os.environ.get("DEMO_EXPORT_PLUGIN", "csv_export")
    page_size: int = int(os.environ.get("DEMO_PAGE_SIZE", "20"))


settings = Settings()
