"""Start tracing as an interpreter starts, before anything of the application is imported.

Three ways in, one function:

- ``otel_import_tracer.pth`` in site-packages: one line that ``site`` runs in every Python process
  of the environment, which checks ``ENABLE_IMPORT_TRACING`` and imports nothing else when it is
  unset or ``false``. A team sets the variable and starts its server as it always does
  (``uvicorn``, ``gunicorn``, ``fastapi run``, ``hypercorn``); workers, spawned or forked, are
  reached the same way.
- ``otel_import_tracer.start`` (PEP 829, Python 3.15+): names ``start`` below; where it is read,
  the ``.pth`` line is not.
- ``sitecustomize``, put first on ``PYTHONPATH`` by ``otel-import-tracer exec`` and the launcher,
  for environments whose site-packages ``.pth`` files do not run (a package installed with
  ``--target``, vendored on ``PYTHONPATH``).

Importing this module costs one ``os`` lookup: the tracer is imported only when tracing is on.

``start_tracing`` (the package's public one) is the only way in to a session: it hands ``tracing``
what a session needs of the process it runs in, which ``tracing`` never imports itself (the
process glue sits above it): the server patches the import hook applies as their modules are
imported (``servers``), the SIGTERM handler (``signals``), and the fork hooks that give a
forked child a session of its own (``fork``).

Tracing is the main interpreter's. ``site`` runs the ``.pth`` line again in every sub-interpreter
(``_interpreters``, 3.14's ``concurrent.interpreters``, an embedding's): there it starts nothing
and says nothing. An isolated one refuses the tracer's threads, and a legacy one would print a
second line set under the process's pid and write over its report.
"""

import os
import sys
import time

TYPE_CHECKING = False  # not typing's: this module is imported by every Python of the environment
if TYPE_CHECKING:
    from typing import Optional

    from otel_import_tracer.config import Config

ENABLE_IMPORT_TRACING = "ENABLE_IMPORT_TRACING"  # the same constant as config's, without importing it
_OFF = ("", "false")
_started = False
# sys.modules and the clock as tracing begins: the tracer reports what it imported (tracer_imports).
modules_before: frozenset = frozenset()
begun_ns = 0


def start() -> None:
    """Start tracing once per process if ``ENABLE_IMPORT_TRACING`` asks for it; never raises.

    ``site`` may run a ``.pth`` file twice (a venv's ``lib64`` symlink), so this is idempotent."""
    global _started, modules_before, begun_ns
    if _started:
        return
    _started = True
    modules_before, begun_ns = frozenset(sys.modules), time.perf_counter_ns()
    if os.environ.get(ENABLE_IMPORT_TRACING, "").strip().lower() in _OFF or not in_main_interpreter():
        return
    try:
        start_tracing()
    except Exception as exc:  # the interpreter must start whatever happens here
        try:
            sys.stderr.write(
                f"otel-import-tracer: warning: import tracing could not start in this process ({exc!r}); "
                "the application is unaffected. Please report this.\n"
            )
        except Exception:
            pass


def start_tracing(config: "Optional[Config]" = None) -> bool:
    """Start tracing if ``ENABLE_IMPORT_TRACING`` is true (or ``config.enabled``).

    Returns whether tracing is running. Calling it again while running does nothing."""
    from otel_import_tracer import tracing
    from otel_import_tracer.config import Config

    if config is None:
        config = Config.from_environ()
    if not config.enabled or not in_main_interpreter():  # a sub-interpreter: the main one's tracing is the process's
        return False
    from otel_import_tracer.process import fork, readiness, servers, signals

    fork.install()
    tracing.hand_in(signals.handler, {**servers.PATCHES, **readiness.PATCHES}, readiness.give_back)
    if not tracing.start_session(config):
        return False
    session = tracing._current()
    if session is not None:
        readiness.watch_marker(os.environ, session.registry)
    return True


def in_main_interpreter() -> bool:
    """Whether this is the process's main interpreter, not a sub-interpreter."""
    import _thread

    is_main = getattr(_thread, "_is_main_interpreter", None)  # 3.12+
    if is_main is not None:
        return bool(is_main())
    try:  # before 3.12: legacy sub-interpreters only, seen by this private module (~0.4 ms to import)
        import _xxsubinterpreters as interpreters
    except ImportError:
        return True
    return bool(interpreters.get_current() == interpreters.get_main())


def chain_sitecustomize(ours: str) -> None:
    """Run the ``sitecustomize`` that ours shadows, if there is one (as ``opentelemetry-instrument``
    and ``ddtrace-run`` do), so a platform's own site customisation keeps working."""
    import importlib.machinery
    import importlib.util

    here = os.path.dirname(os.path.abspath(ours))
    path = [entry for entry in sys.path if os.path.abspath(entry or os.curdir) != here]
    try:
        spec = importlib.machinery.PathFinder.find_spec("sitecustomize", path)
        if spec is None or spec.loader is None:
            return
        module = importlib.util.module_from_spec(spec)
        sys.modules["sitecustomize"] = module
        spec.loader.exec_module(module)
    except Exception as exc:  # as site.py does for a failing sitecustomize: report and go on
        sys.stderr.write(f"Error in sitecustomize; set PYTHONVERBOSE for traceback:\n{type(exc).__name__}: {exc}\n")


def sitecustomize_dir() -> str:
    """The directory ``exec`` and the launcher put first on ``PYTHONPATH``."""
    return os.path.join(os.path.dirname(os.path.abspath(__file__)), "_sitecustomize")


def with_sitecustomize(python_path: str) -> str:
    """``PYTHONPATH`` with our ``sitecustomize`` directory first (once)."""
    ours = sitecustomize_dir()
    entries = [entry for entry in python_path.split(os.pathsep) if entry and entry != ours]
    return os.pathsep.join([ours, *entries])
