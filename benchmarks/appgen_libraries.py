"""Installed libraries for the generated app's ``libraries`` profile: what real services load most.

Measured on two real API servers (Airflow 3.3.2's ``airflow.api_fastapi.main``, Prefect 3.9.1's
``prefect.server.api.server``, benchmarks/README.md "Real apps"), the import of the app's main
module loads 634 and 371 modules of the app's own code and 1,357 and 1,755 modules outside it:
most of a real startup is its dependencies' (SQLAlchemy, pydantic, FastAPI, ...), which import
each other (47,000-61,000 import statements run by their code), make ``<string>`` code
(dataclasses, attrs, namedtuple: 5,500-27,000 ``compile`` calls) and load plugins by name. The
default generated app loads 1,000 modules of its own and 355 outside (the standard library,
FastAPI, pydantic): the tracer's per-module cost is there most of the startup, so its ratio is
higher than a real service's.

``write_libraries(dest_dir, count, rng)`` writes ``count`` modules in a few top-level packages
``lib_<k>`` beside ``src`` (on ``sys.path``, outside ``IMPORT_TRACING_ROOT``): each package's
``__init__`` imports its modules in order, as libraries do; each module imports earlier modules of
its package and a few of the standard library, defines a dataclass, an enum, a class and a few
functions and calls them; the last package loads its ``plugins`` subpackage's modules with
``importlib.import_module`` in a loop. It returns the modules the application's code may import.
"""

from __future__ import annotations

import os
import random
from typing import List

PACKAGES = 12
_STDLIB = (
    "abc argparse base64 bisect calendar collections contextlib copy csv dataclasses datetime decimal enum "
    "fnmatch functools hashlib heapq hmac inspect io ipaddress itertools json keyword locale logging math "
    "numbers operator pathlib pickle platform pprint queue random re shlex socket string struct tempfile "
    "textwrap threading time traceback types typing urllib.parse uuid warnings weakref zlib"
).split()


def write_libraries(dest_dir: str, count: int, rng: random.Random) -> List[str]:
    """Write ``count`` library modules under ``dest_dir``; the names the application may import."""
    per_package = max(2, count // PACKAGES)
    exported: List[str] = []
    written = 0
    for index in range(PACKAGES):
        budget = per_package if index < PACKAGES - 1 else count - written
        if budget < 2:
            break
        package = f"lib_{index}"
        written += budget
        plugins = budget // 5 if index == PACKAGES - 1 else 0  # the last package loads plugins by name
        modules = [f"{package}.m_{position}" for position in range(budget - 1 - (1 + plugins if plugins else 0))]
        for position, name in enumerate(modules):
            earlier = modules[max(0, position - 12):position]
            _write(dest_dir, name, _render_module(name, rng.sample(earlier, min(len(earlier), rng.randint(1, 4))), rng))
        init = [f'"""Library {index}: imports its modules in order, as libraries do."""', ""]
        init += [f"import {name}  # noqa: F401" for name in modules]
        if plugins:
            plugin_names = [f"{package}.plugins.p_{position}" for position in range(plugins)]
            _write(dest_dir, f"{package}.plugins", '"""Plugins, loaded by name."""\n', package=True)
            for name in plugin_names:
                _write(dest_dir, name, _render_module(name, rng.sample(modules, min(len(modules), 2)), rng))
            init += ["", "import importlib", "",
                     f"PLUGINS = [importlib.import_module(f\"{package}.plugins.p_{{i}}\") for i in range({plugins})]"]
        init += ["", f"VERSION = \"{index}.{rng.randint(0, 20)}.{rng.randint(0, 9)}\""]
        _write(dest_dir, package, "\n".join(init) + "\n", package=True)
        exported += [package] + rng.sample(modules, min(len(modules), 6))
    return exported


def _write(dest_dir: str, name: str, source: str, package: bool = False) -> None:
    path = os.path.join(dest_dir, *name.split("."))
    path = os.path.join(path, "__init__.py") if package else path + ".py"
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(source)


def _render_module(name: str, deps: List[str], rng: random.Random) -> str:
    uid = name.replace(".", "_")
    lines = [f'"""Library module {name}."""', ""]
    lines += [f"import {module}" for module in sorted(rng.sample(_STDLIB, rng.randint(3, 7)))]
    lines += ["import dataclasses", "import enum", "from typing import Dict, List, Optional", ""]
    lines += [f"from {dep} import helper_{dep.replace('.', '_')}" for dep in deps]
    calls = " + ".join(f"helper_{dep.replace('.', '_')}({position})" for position, dep in enumerate(deps)) or "0"
    lines += [
        "", "",
        f"class Kind_{uid}(enum.Enum):",
        "    FIRST = 1", "    SECOND = 2", "    THIRD = 3",
        "", "",
        "@dataclasses.dataclass",
        f"class Record_{uid}:",
        "    key: str",
        "    value: int = 0",
        "    tags: List[str] = dataclasses.field(default_factory=list)",
        "    parent: Optional[str] = None",
        "", "",
        f"class Registry_{uid}:",
        "    def __init__(self) -> None:",
        "        self.items: Dict[str, Record_" + uid + "] = {}",
        "",
        "    def add(self, key: str, value: int) -> None:",
        f"        self.items[key] = Record_{uid}(key, value)",
        "",
        "    def total(self) -> int:",
        "        return sum(item.value for item in self.items.values())",
        "", "",
        f"def helper_{uid}(x: int) -> int:",
        f"    return (x * {rng.randint(3, 97)} + {rng.randint(1, 1000)}) % 1009",
        "", "",
        f"_REGISTRY = Registry_{uid}()",
        f"for _position in range({rng.randint(3, 8)}):",
        f"    _REGISTRY.add(str(_position), helper_{uid}(_position))",
        f"TOTAL = _REGISTRY.total() + {calls}",
    ]
    return "\n".join(lines) + "\n"
