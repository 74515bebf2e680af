"""The shutdown log lines of the original design, exactly.

::

    Stopping runtime file tracing...
    Total unique /app/src/*.py files loaded: <N>
    LOADED_SRC_FILE: <absolute path>          (one per file, sorted)
    Total unique src.* modules loaded: <M>
    LOADED_MODULE: <module name>              (one per module, sorted)

``/app/src`` and ``src`` follow the configured root. ``audit`` parses these lines back
out of container logs, so the prefixes are constants shared with the parser.
"""

from __future__ import annotations

import os
from typing import Iterable, Iterator

STOPPING_LINE = "Stopping runtime file tracing..."
FILE_PREFIX = "LOADED_SRC_FILE: "
MODULE_PREFIX = "LOADED_MODULE: "


def shutdown_lines(root: str, files: Iterable[str], modules: Iterable[str]) -> Iterator[str]:
    """The lines, one at a time: at 5,000 modules a list of them would be megabytes held at once."""
    sorted_files = sorted(set(files))
    sorted_modules = sorted(set(modules))
    package = os.path.basename(root)
    yield STOPPING_LINE
    yield f"Total unique {root}/*.py files loaded: {len(sorted_files)}"
    for path in sorted_files:
        yield FILE_PREFIX + path
    yield f"Total unique {package}.* modules loaded: {len(sorted_modules)}"
    for name in sorted_modules:
        yield MODULE_PREFIX + name
