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
from typing import Iterable, List

STOPPING_LINE = "Stopping runtime file tracing..."
FILE_PREFIX = "LOADED_SRC_FILE: "
MODULE_PREFIX = "LOADED_MODULE: "


def shutdown_lines(root: str, files: Iterable[str], modules: Iterable[str]) -> List[str]:
    files = sorted(set(files))
    modules = sorted(set(modules))
    package = os.path.basename(root)
    lines = [STOPPING_LINE, f"Total unique {root}/*.py files loaded: {len(files)}"]
    lines.extend(FILE_PREFIX + path for path in files)
    lines.append(f"Total unique {package}.* modules loaded: {len(modules)}")
    lines.extend(MODULE_PREFIX + name for name in modules)
    return lines
