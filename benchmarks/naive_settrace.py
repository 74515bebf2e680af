"""The original design's tracer (``seed/000_ca22dcfdf6e1b54c.txt``), written the straightforward way.

This is the baseline the benchmarks compare against, not part of the product. It is
what the design describes and what a typical first implementation of it looks like:

- ``sys.settrace`` for the current thread and ``threading.settrace`` for new threads;
- one trace function, ``trace_calls``, that looks at ``frame.f_code.co_filename`` on
  **every event** it receives and, for a ``.py`` file under the root, adds the file and
  its module name to two sets under a ``threading.Lock`` (the design's
  ``LOADED_SRC_FILES``, ``LOADED_MODULES`` and ``_trace_lock``);
- ``trace_calls`` **returns itself** as the local trace function. That is what typical
  implementations do (it is the idiom of the ``sys.settrace`` documentation's examples and
  of most snippets that copy them), and what the design says the callback sees: "function
  calls, returns, line execution". The consequence is that every line of every traced
  Python function, not only every call, goes through the callback: this is the cost the
  issue measured (0.07-0.20x throughput). Returning ``None`` for frames outside the root
  would be the obvious first optimisation; a naive implementation does not make it, and
  neither does this one, so it stays an honest picture of the original design.

What is deliberately *not* the original: it is started before the application is
imported (``start_tracing()`` at process start, not in the lifespan), so that, like our
collectors in the benchmarks, it sees every import. The original started it in the
lifespan and therefore missed every module imported before (the whole app, in practice).
``stop_tracing()`` prints the design's shutdown lines to stderr so that the benchmarks
check its completeness the same way as ours; it is registered with ``atexit`` as well.
"""

from __future__ import annotations

import atexit
import os
import sys
import threading
from typing import Any, Optional, Set

SRC_DIR = os.environ.get("IMPORT_TRACING_ROOT", "/app/src")

LOADED_SRC_FILES: Set[str] = set()
LOADED_MODULES: Set[str] = set()
_trace_lock = threading.Lock()
_tracing = False


def _module_name(path: str) -> str:
    relative = os.path.relpath(path, os.path.dirname(SRC_DIR))[: -len(".py")]
    parts = relative.split(os.sep)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def trace_calls(frame: Any, event: str, arg: Any) -> Any:
    """Record the frame's file if it is a ``.py`` file under the root; trace on (every event)."""
    filename = frame.f_code.co_filename
    if filename.startswith(SRC_DIR + os.sep) and filename.endswith(".py"):
        with _trace_lock:
            if filename not in LOADED_SRC_FILES:
                LOADED_SRC_FILES.add(filename)
                LOADED_MODULES.add(_module_name(filename))
    return trace_calls


def start_tracing(root: Optional[str] = None) -> None:
    global SRC_DIR, _tracing
    if root is not None:
        SRC_DIR = os.path.abspath(root)
    if _tracing:
        return
    _tracing = True
    threading.settrace(trace_calls)
    sys.settrace(trace_calls)
    atexit.register(stop_tracing)


def stop_tracing() -> None:
    global _tracing
    if not _tracing:
        return
    _tracing = False
    sys.settrace(None)
    threading.settrace(None)  # type: ignore[arg-type]
    with _trace_lock:
        files = sorted(LOADED_SRC_FILES)
        modules = sorted(LOADED_MODULES)
    package = os.path.basename(SRC_DIR)
    lines = ["Stopping runtime file tracing...", f"Total unique {SRC_DIR}/*.py files loaded: {len(files)}"]
    lines += [f"LOADED_SRC_FILE: {path}" for path in files]
    lines.append(f"Total unique {package}.* modules loaded: {len(modules)}")
    lines += [f"LOADED_MODULE: {name}" for name in modules]
    sys.stderr.write("\n".join(lines) + "\n")
    sys.stderr.flush()


def get_loaded_files() -> Set[str]:
    with _trace_lock:
        return set(LOADED_SRC_FILES)


def get_loaded_modules() -> Set[str]:
    with _trace_lock:
        return set(LOADED_MODULES)
