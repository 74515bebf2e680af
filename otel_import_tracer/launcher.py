"""``otel-import-tracer run src.main:app [uvicorn options]``: the original ``run_server.py``.

With tracing on, collection starts before uvicorn imports the application, so the
whole startup import graph is seen, and ``--reload`` is turned off (the reloader runs
the application in a child process that is thrown away on every change). With tracing
off, the arguments go to uvicorn untouched.
"""

from __future__ import annotations

import os
from typing import List, Sequence

from otel_import_tracer import messages
from otel_import_tracer.config import ENABLE_IMPORT_TRACING, is_enabled
from otel_import_tracer.tracing import start_tracing

_RELOAD_FLAG = "--reload"
_RELOAD_ENV = "UVICORN_RELOAD"  # uvicorn's click options also read UVICORN_* variables
_WORKERS_FLAG = "--workers"
_CLICK_TRUE = ("1", "true", "t", "yes", "y", "on")  # what click reads as true from UVICORN_RELOAD


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
        _warn_about_workers(args)
        start_tracing()
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


def _warn_about_workers(args: List[str]) -> None:
    for index, arg in enumerate(args):
        value = None
        if arg == _WORKERS_FLAG and index + 1 < len(args):
            value = args[index + 1]
        elif arg.startswith(_WORKERS_FLAG + "="):
            value = arg.split("=", 1)[1]
        if value is not None and value.strip() not in ("", "1"):
            messages.warn(
                "workers",
                "with --workers, each worker process traces itself from its lifespan "
                "(traced_lifespan); modules imported before that are recorded as preloaded, "
                "without timings. Use IMPORT_TRACING_REPORT with {pid} to keep one report per worker.",
            )
