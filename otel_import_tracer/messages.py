"""How the tracer talks to the user: straight to the process's stdout and stderr.

The shutdown lines go to stdout, so ``docker logs app | otel-import-tracer audit`` sees
them (a pipe takes only stdout); warnings and notes go to stderr. Not the ``logging`` module: an application's ``dictConfig`` (with the default
``disable_existing_loggers=True``) or a root level of WARNING would silence us, and
the shutdown lines must reach the container log whatever logging the app set up.
Each warning has a slug and is written once per process.
"""

from __future__ import annotations

import itertools
import sys
import threading
from typing import Iterable, Set

PREFIX = "otel-import-tracer"

# Reentrant: the SIGTERM handler may write while the main thread it interrupted holds it.
_lock = threading.RLock()
_warned: Set[str] = set()
# Lines joined per write: the shutdown lines of 5,000 modules are not built as one string.
_LINES_PER_WRITE = 256


def write_lines(lines: Iterable[str], stdout: bool = False) -> None:
    """Write whole lines, none interleaved with another thread's (stderr by default).

    A failing stream is ignored (closed, broken pipe, a reentrant write from a signal
    handler); an error producing ``lines`` is the caller's to handle."""
    stream = (sys.stdout or sys.__stdout__) if stdout else (sys.stderr or sys.__stderr__)
    if stream is None:  # pythonw, or stderr closed: nowhere to write
        return
    pending = iter(lines)
    with _lock:
        while True:
            chunk = "".join(f"{line}\n" for line in itertools.islice(pending, _LINES_PER_WRITE))
            if not chunk:
                break
            try:
                stream.write(chunk)
            except Exception:
                return
        try:
            stream.flush()
        except Exception:
            pass


def info(message: str) -> None:
    write_lines([f"{PREFIX}: {message}"])


def warn(slug: str, message: str) -> None:
    """Warn once per slug; the slug is printed so users can search for it."""
    with _lock:
        if slug in _warned:
            return
        _warned.add(slug)
    write_lines([f"{PREFIX}: warning: {message} [{slug}]"])


def internal_error(exc: BaseException) -> None:
    """Our own bug, caught where it happened: say so once and let the application go on."""
    warn(
        "internal-error",
        f"import tracing hit an internal error ({type(exc).__name__}: {exc}); the application is "
        "unaffected and loaded modules are still recorded at shutdown. Please report this.",
    )


def reset_for_tests() -> None:
    with _lock:
        _warned.clear()
