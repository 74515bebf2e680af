"""Export plugins are found by name at runtime, like many real plugin systems."""

import importlib
from types import ModuleType

PLUGIN_PACKAGE = "src.plugins"


def load_plugin(name: str) -> ModuleType:
    return importlib.import_module(f"{PLUGIN_PACKAGE}.{name}")
