"""How a forked child starts tracing: the whole path, in the order it runs.

A process forks its workers (gunicorn's arbiter, multiprocessing's ``fork`` and ``forkserver``
start methods, ``os.fork`` by hand). The child is a copy of the parent at that instant: its
session, its hooks, its locks (held, perhaps, by a thread of the parent that does not exist in
the child) and its SIGTERM pipe. ``install`` registers the three steps below with
``os.register_at_fork`` when tracing starts (``bootstrap.start_tracing``); they run in the thread
that forks.

1. Before the fork (``before_fork``): no thread of ours may exist at a fork (the child would
   inherit locks nobody releases, and Python 3.12+ warns, counting the OS's threads): the
   SIGTERM watcher ends and the wakeup fd is freed (``signals``), the export thread ends once its
   job in hand is done (``_pause_export`` -> ``telemetry``), and we wait, bounded, until
   the OS has let both go (``signals.wait_gone``).
2. In the parent (``after_fork_in_parent``): both threads come back.
3. In the child (``after_fork_in_child``):

   a. ``messages``: a fresh lock for the tracer's output;
   b. ``collectors``: fresh locks for the collectors the child stops and starts again;
   c. ``signals``: a wakeup pipe of the child's own under the same descriptor numbers;
   d. ``tracing.after_fork_in_child``: the parent's session is abandoned (its registry and
      telemetry untouched), and the child starts a session of its own, ``inherited``: the
      ``sys.modules`` sweep lists what it inherited (``registry``), a worker of a ``--preload``
      gunicorn master (``servers`` saw the master hand over) reports those modules without
      sending their import spans again, and from then on it is any session: its first load
      under the root arms the SIGTERM watcher and the export thread, its stop writes the lines,
      its report (``report``, under a file name of its own) and its trace;
   e. a worker of multiprocessing's forkserver (the server only served others:
      ``servers`` marks it a helper) takes the wakeup fd back once multiprocessing resets it.

Modules that keep a lock or a per-process claim reset it themselves at a fork with their own
``os.register_at_fork`` (``locking``, ``report``'s write lock, ``telemetry.group``'s claims).
"""

from __future__ import annotations

import os
import sys
import threading

TYPE_CHECKING = False  # typing is not imported at run time
if TYPE_CHECKING:
    from typing import Any, Optional

from otel_import_tracer import collectors, messages, tracing
from otel_import_tracer.process import readiness, signals

_installed = False


def install() -> None:
    """Register the fork steps, once per process."""
    global _installed
    if _installed or not hasattr(os, "register_at_fork"):
        return
    _installed = True
    os.register_at_fork(before=before_fork, after_in_parent=after_fork_in_parent, after_in_child=after_fork_in_child)


_paused_telemetry: Any = None  # the export thread ended for the fork under way


def _pause_export() -> Optional[threading.Thread]:
    """The export thread ends before a fork, finishing its job in hand first (bounded); the
    thread ended, if there was one, for the caller to wait until the OS has let it go."""
    global _paused_telemetry
    session = tracing._session
    telemetry = session._telemetry if session is not None else None
    if telemetry is None:
        return None
    ended = telemetry.pause(session.config.shutdown_timeout)
    _paused_telemetry = telemetry
    return ended


def _resume_export() -> None:
    """In the parent, after a fork: the export thread comes back."""
    global _paused_telemetry
    telemetry, _paused_telemetry = _paused_telemetry, None
    if telemetry is not None:
        telemetry.resume()


def before_fork() -> None:
    """End our threads (bounded): the SIGTERM watcher, then the export thread."""
    try:
        ended = [signals.handler.before_fork(), _pause_export()]
        signals.wait_gone([thread for thread in ended if thread is not None])
    except Exception as exc:  # never into the application's fork
        tracing.report_error("fork", exc)


def after_fork_in_parent() -> None:
    try:
        signals.handler.after_fork_in_parent()
        _resume_export()
        readiness.after_fork_in_parent()
    except Exception as exc:
        tracing.report_error("fork", exc)


def after_fork_in_child() -> None:
    global _paused_telemetry
    messages.after_fork_in_child()
    collectors.after_fork_in_child()
    signals.handler.after_fork_in_child()  # a wakeup pipe of its own, whatever the session
    _paused_telemetry = None
    if tracing.after_fork_in_child():
        _after_forkserver_reset()


def _after_forkserver_reset() -> None:
    """A forkserver worker: the server's wakeup fd is the worker's until ``_serve_one`` resets it to
    -1, just before the work runs; multiprocessing's own after-fork hooks run then, and ours takes it."""
    util = sys.modules.get("multiprocessing.util")
    register = getattr(util, "register_after_fork", None)
    if register is not None:
        try:
            register(signals.handler, signals.SigtermHandler.reclaim)
        except Exception as exc:
            tracing.report_error("sigterm", exc)
