"""A FastAPI service that uses Python 3.15's explicit lazy imports (PEP 810), written at test time.

Written out by the tests, never kept as files in the repository: ``lazy import`` is a syntax error
before 3.15, and tools that compile every file of the checkout would trip on it. Its imports:

- ``src.never_used``: ``lazy import``, never used;
- ``src.late``: ``lazy import``, first used by the request ``GET /late``;
- ``src.startup_used``: ``lazy import``, used at module level while the app starts;
- ``src.helpers``: ``lazy from src.helpers import shout``, used in the lifespan (startup);
- ``src.settings``: ``lazy import``, which the application's own filter makes eager (its rule:
  settings load at once), installed at import time, after the tracer started: it must keep deciding.
"""

from __future__ import annotations

from pathlib import Path
from typing import Dict

NEVER, LATE, STARTUP_USED, FROM_MODULE, EAGER = "src.never_used", "src.late", "src.startup_used", "src.helpers", "src.settings"
LATE_PATH = "/late"
REQUEST_SPAN = "GET /late"

MAIN = '''\
import sys
from contextlib import asynccontextmanager

FILTER_CALLS = []


def app_filter(importer, name, fromlist):
    """The application's rule: its settings are imported at once, never lazily."""
    if name.startswith("src"):  # the standard library's own lazy imports ask it too
        FILTER_CALLS.append(name)
    return name != "src.settings"


sys.set_lazy_imports_filter(app_filter)

from fastapi import FastAPI

lazy import src.never_used  # DECLARE never
lazy import src.late  # DECLARE late
lazy import src.settings  # DECLARE settings
lazy import src.startup_used  # DECLARE startup_used
lazy from src.helpers import shout  # DECLARE helpers

LIMIT = src.startup_used.LIMIT  # FORCE startup_used


@asynccontextmanager
async def lifespan(app):
    app.state.greeting = shout("ready")  # FORCE helpers
    yield


app = FastAPI(lifespan=lifespan)


@app.get("/health")
def health():
    return {"ok": True}


@app.get("/late")
def late():
    return {"late": src.late.render()}  # FORCE late


@app.get("/filter")
def the_filter():
    return {"mine": sys.get_lazy_imports_filter() is app_filter, "calls": FILTER_CALLS}
'''

FILES: Dict[str, str] = {
    "__init__.py": "",
    "main.py": MAIN,
    "never_used.py": "import time\ntime.sleep(0.001)\n",
    "late.py": "def render():\n    return 'late'\n",
    "settings.py": "NAME = 'lazy-app'\n",
    "startup_used.py": "LIMIT = 10\n",
    "helpers.py": "def shout(text):\n    return text.upper()\n",
}


def write_lazy_app(directory: Path) -> Path:
    """Write the app under ``directory/src``; returns that root."""
    root = directory / "src"
    root.mkdir(parents=True, exist_ok=True)
    for name, text in FILES.items():
        (root / name).write_text(text)
    return root


def line_of(marker: str) -> int:
    """The line of ``main.py`` ending with ``# <marker>``."""
    for number, line in enumerate(MAIN.splitlines(), 1):
        if line.endswith("# " + marker):
            return number
    raise KeyError(marker)
