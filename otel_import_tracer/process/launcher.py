"""``otel-import-tracer run src.main:app [uvicorn options]``: the original ``run_server.py``.

With tracing on, collection starts before uvicorn imports the application, so the whole
startup import graph is seen; ``--reload`` is turned off (the reloader runs the application
in a child process that is thrown away on every change); and the workers of ``--workers N``,
fresh interpreters spawned by uvicorn, start tracing as they start (our ``sitecustomize``
goes first on ``PYTHONPATH``). With tracing off, the arguments go to uvicorn untouched.
"""

from __future__ import annotations

import os
from typing import List, Sequence

from otel_import_tracer import messages
from otel_import_tracer.config import ENABLE_IMPORT_TRACING, is_enabled
from otel_import_tracer.process import bootstrap

_RELOAD_FLAG = "--reload"
_RELOAD_ENV = "UVICORN_RELOAD"  # uvicorn's click options also read UVICORN_* variables
_CLICK_TRUE = ("1", "true", "t", "yes", "y", "on")  # what click reads as true from UVICORN_RELOAD
PYTHONPATH = "PYTHONPATH"

HELP = """\
usage: otel-import-tracer run APP [uvicorn options]

Run uvicorn with import tracing when ENABLE_IMPORT_TRACING=true: the modules under
IMPORT_TRACING_ROOT (default /app/src, else the working directory's own code) that every
process loads, timed from its first import.

examples:
  ENABLE_IMPORT_TRACING=true otel-import-tracer run src.main:app --host 0.0.0.0 --port 8000 --workers 4
  ENABLE_IMPORT_TRACING=true IMPORT_TRACING_ROOT=$PWD/src otel-import-tracer run src.main:app --port 8000

Every option goes to uvicorn (`otel-import-tracer run --help` prints uvicorn's). With tracing
on, the launcher adds to uvicorn:
  - collection starts before APP is imported, so every module of the startup is timed;
  - --reload (or UVICORN_RELOAD) is turned off, with a warning: the reloader replaces the
    traced process on every change;
  - each worker of --workers N traces itself from its first import (PYTHONPATH gets the
    tracer's sitecustomize), with one startup trace, report and line set per worker.
Startup completion and shutdown come from the ASGI lifespan: no change to the app. With
tracing off this is plain uvicorn. For other servers: otel-import-tracer exec -- COMMAND.
"""


def run(uvicorn_args: Sequence[str]) -> int:
    """Run uvicorn with ``uvicorn_args``; returns the exit status."""
    try:
        from uvicorn.main import main as uvicorn_main
    except ImportError:
        messages.write_lines(
            ["otel-import-tracer: error: the launcher runs uvicorn, which is not installed; "
             "install it with: pip install uvicorn"]
        )
        return 2
    args = list(uvicorn_args)
    if is_enabled():
        args = _without_reload(args)
        os.environ[PYTHONPATH] = bootstrap.with_sitecustomize(os.environ.get(PYTHONPATH, ""))
        bootstrap.start_tracing()
    try:
        uvicorn_main.main(args=args, prog_name="otel-import-tracer run", standalone_mode=True)
    except SystemExit as exit:
        code = exit.code
        return code if isinstance(code, int) else (0 if code is None else 1)
    return 0


def _without_reload(args: List[str]) -> List[str]:
    reload_asked = _RELOAD_FLAG in args or os.environ.get(_RELOAD_ENV, "").strip().lower() in _CLICK_TRUE
    if not reload_asked:
        return args
    os.environ.pop(_RELOAD_ENV, None)
    messages.warn(
        "reload-disabled",
        f"--reload is turned off because {ENABLE_IMPORT_TRACING}=true: the reloader runs the "
        "application in a child process replaced on every change, so its imports would not be "
        f"traced here. Set {ENABLE_IMPORT_TRACING}=false to develop with --reload.",
    )
    return [arg for arg in args if arg != _RELOAD_FLAG]
