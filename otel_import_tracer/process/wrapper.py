"""``otel-import-tracer exec -- COMMAND [ARGS]``: run any command with import tracing in every
Python process it starts, in the style of ``opentelemetry-instrument`` and ``ddtrace-run``.

With ``ENABLE_IMPORT_TRACING=true``, the tracer's ``sitecustomize`` goes first on
``PYTHONPATH`` and the command replaces this process (``exec``): gunicorn and its forked
workers, ``fastapi run``, hypercorn and its spawned workers, a script, a job. Each process
starts tracing before it imports the application; those that load nothing under the root
(a supervisor, a master without ``--preload``) stay silent. With tracing off the command runs
untouched. Installed normally, the package's ``.pth`` file does the same for every Python of
the environment; ``exec`` also covers installs whose ``.pth`` files do not run.
"""

from __future__ import annotations

import os
import shutil
import sys
from typing import List, Sequence

from otel_import_tracer.config import is_enabled
from otel_import_tracer.process import bootstrap

PYTHONPATH = "PYTHONPATH"
EXIT_NOT_FOUND = 127  # as a shell says of a command it cannot find

HELP = """\
usage: otel-import-tracer exec [--] COMMAND [ARGS...]

Run COMMAND with import tracing in every Python process it starts (workers included), when
ENABLE_IMPORT_TRACING=true; with tracing off, COMMAND runs untouched. What is traced is the code
under IMPORT_TRACING_ROOT (default /app/src; where that does not exist, the working directory's
own code, so run it from the project folder; or e.g. IMPORT_TRACING_ROOT=$PWD/src).
The tracer's sitecustomize goes first on PYTHONPATH, so this works even where site-packages .pth
files do not run (pip install --target, a package vendored on PYTHONPATH).

examples:
  ENABLE_IMPORT_TRACING=true otel-import-tracer exec -- gunicorn -k uvicorn.workers.UvicornWorker -w 4 src.main:app
  ENABLE_IMPORT_TRACING=true otel-import-tracer exec -- fastapi run src/main.py
  ENABLE_IMPORT_TRACING=true otel-import-tracer exec -- hypercorn src.main:app --workers 2
  ENABLE_IMPORT_TRACING=true IMPORT_TRACING_ROOT=$PWD/src otel-import-tracer exec -- python manage.py migrate

Every variable (IMPORT_TRACING_REPORT, OTEL_EXPORTER_OTLP_ENDPOINT, ...): docs/configuration.md in the
repository.
"""


def run(argv: Sequence[str]) -> int:
    """Replace this process with the command; returns only if it cannot."""
    args: List[str] = list(argv)
    if args and args[0] == "--":
        args = args[1:]
    if not args or args[0] in ("-h", "--help"):
        # Asked for, the help goes to stdout (`exec --help | less`); as a usage error, to stderr.
        (sys.stdout if args else sys.stderr).write(HELP)
        return 0 if args else 2
    executable = shutil.which(args[0])
    if executable is None:
        sys.stderr.write(f"otel-import-tracer: error: {args[0]}: command not found (is it installed, and on PATH?)\n")
        return EXIT_NOT_FOUND
    if is_enabled():
        os.environ[PYTHONPATH] = bootstrap.with_sitecustomize(os.environ.get(PYTHONPATH, ""))
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        os.execv(executable, [args[0], *args[1:]])
    except OSError as exc:
        sys.stderr.write(f"otel-import-tracer: error: cannot run {args[0]}: {exc.strerror or exc}\n")
        return 126
    return 0  # pragma: no cover - execv does not return
