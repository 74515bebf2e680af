"""Start, mark startup complete, stop: the lifecycle of one tracing session.

The public functions are idempotent and thread-safe. With tracing disabled they do
nothing at all: no hook is installed and OpenTelemetry is not imported.
"""

from __future__ import annotations

import atexit
import os
import signal
import threading
from typing import Any, Callable, List, Optional, Set

from otel_import_tracer import logs, messages
from otel_import_tracer.collectors import Collector, choose, start_collectors, stop_collectors
from otel_import_tracer.config import IMPORT_TRACING_ROOT, Config
from otel_import_tracer.naming import SourceRoot
from otel_import_tracer.registry import Registry, fork_safe


class TracingSession:
    """One run of the tracer: collectors feeding a registry, read by telemetry, logs and report."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.root = SourceRoot(config.root)
        self.registry = Registry(self.root)
        self.collector = "none"
        self.running = False
        self._collectors: List[Collector] = []
        self._telemetry: Any = None

    def start(self) -> bool:
        if not self.root.exists():
            messages.warn(
                "missing-root",
                f"{IMPORT_TRACING_ROOT}={self.config.root!r} is not a directory, so there is nothing "
                "to trace and no hook was installed. Set it to the directory holding your "
                "application's modules (default /app/src).",
            )
            return False
        try:
            choice = choose(self.config.collector)
            self.collector, self._collectors = start_collectors(choice, self.registry, self.root)
            self.registry.sweep(preloaded=True)
        except Exception as exc:
            stop_collectors(self._collectors)
            messages.warn("start-failed", f"import tracing could not start ({exc!r}) and is off; please report this.")
            return False
        fork_safe(self.registry)
        self.running = True
        self._telemetry = _start_telemetry(self)
        _sigterm.install()
        return True

    def startup_complete(self) -> None:
        """The application finished starting: later loads are lazy; the startup span can go out."""
        if not self.running:
            return
        _guard("sweep", self.registry.sweep)
        if self.registry.mark_startup_complete():
            self._after_startup()

    def stop(self) -> None:
        """Collectors off, then the lines first (they matter most), then report and telemetry."""
        if not self.running:
            return
        self.running = False
        _sigterm.uninstall()
        stop_collectors(self._collectors)
        self._collectors = []
        _guard("sweep", self.registry.sweep)
        _guard("shutdown-lines", self._write_lines)
        # Without a lifespan (a script, a worker), the whole run is the startup.
        if self.registry.mark_startup_complete():
            self._after_startup()
        _guard("report", self.write_report)
        if self._telemetry is not None:
            _guard("telemetry", self._telemetry.shutdown, self.config.shutdown_timeout)

    def _write_lines(self) -> None:
        lines = logs.shutdown_lines(self.root.root, self.registry.files(), self.registry.modules())
        messages.write_lines(lines, stdout=True)

    def _after_startup(self) -> None:
        # Written before the app serves, so a kill at any later moment leaves a valid report.
        _guard("report", self.write_report)
        if self._telemetry is not None:
            _guard("telemetry", self._telemetry.startup_complete)

    def write_report(self) -> None:
        """Write the JSON report if one is configured (atomically; never raises)."""
        if not self.config.report:
            return
        from otel_import_tracer.report import write_session_report

        trace_id = self._telemetry.startup_trace_id() if self._telemetry is not None else None
        write_session_report(self, trace_id=trace_id)


def _guard(what: str, step: Callable[..., Any], *args: Any) -> None:
    """Run one step of the tracer's own work; a failure is reported, never raised into the app."""
    try:
        step(*args)
    except Exception as exc:
        messages.warn(f"{what}-failed", f"import tracing: the {what} step failed ({exc!r}); the application is unaffected.")


def _start_telemetry(session: TracingSession) -> Any:
    """Telemetry is optional: if it cannot start, collection and the log lines still work."""
    try:
        from otel_import_tracer.telemetry import Telemetry
    except ImportError:
        return None
    try:
        telemetry = Telemetry(session.config, session.registry, session.collector, on_trace_id=session.write_report)
        telemetry.start()
        return telemetry
    except Exception as exc:
        messages.warn("telemetry-failed", f"OpenTelemetry export could not start ({exc!r}); loads are still logged.")
        return None


class _SigtermHandler:
    """Stop tracing (lines, report, flush) on SIGTERM, then die of SIGTERM as before.

    Installed only over the default action, from the main thread. uvicorn hands the
    signal back to it after its graceful shutdown (``capture_signals``), and a process
    without uvicorn gets the same: without it, SIGTERM kills before ``atexit`` runs.
    """

    def install(self) -> None:
        if threading.current_thread() is threading.main_thread() and signal.getsignal(signal.SIGTERM) == signal.SIG_DFL:
            signal.signal(signal.SIGTERM, self._handle)

    def uninstall(self) -> None:
        if threading.current_thread() is threading.main_thread() and signal.getsignal(signal.SIGTERM) == self._handle:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)

    def _handle(self, signum: int, frame: Any) -> None:
        try:
            stop_tracing()
        except Exception as exc:  # whatever happens, the process must still die of SIGTERM
            messages.internal_error(exc)
        finally:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            os.kill(os.getpid(), signal.SIGTERM)


_sigterm = _SigtermHandler()
_lock = threading.RLock()
_session: Optional[TracingSession] = None
_atexit_registered = False


def start_tracing(config: Optional[Config] = None) -> bool:
    """Start tracing if ``ENABLE_IMPORT_TRACING`` is true (or ``config.enabled``).

    Returns whether tracing is running. Calling it again while running does nothing.
    """
    global _session, _atexit_registered
    if config is None:
        config = Config.from_environ()
    if not config.enabled:
        return False
    with _lock:
        if _session is not None and _session.running:
            return True
        session = TracingSession(config)
        if not session.start():
            return False
        _session = session
        if not _atexit_registered:
            _register_exit_hook(stop_tracing)
            _atexit_registered = True
        return True


def _register_exit_hook(hook: Callable[[], None]) -> None:
    """Without a lifespan (a script, a worker), stop at exit: lines, report, telemetry.

    ``threading._register_atexit`` runs before the interpreter refuses new threads (the
    export thread and the SDK's span processor need them); plain ``atexit`` is too late.
    """
    register = getattr(threading, "_register_atexit", None)
    try:
        if register is not None:
            register(hook)
            return
    except RuntimeError:  # already shutting down
        pass
    atexit.register(hook)


def mark_startup_complete() -> None:
    """Tell the tracer the application has finished starting (the lifespan does this)."""
    with _lock:  # held, so a concurrent stop sees startup either complete or not at all
        if _session is not None:
            _session.startup_complete()


def stop_tracing() -> None:
    """Stop collecting, write the shutdown lines, the report and flush telemetry (bounded wait)."""
    with _lock:
        session = _session
        if session is None or not session.running:
            return
        session.stop()


def get_loaded_files() -> Set[str]:
    """Absolute paths of the root's ``.py`` files loaded so far (a copy)."""
    session = _current()
    return session.registry.files() if session is not None else set()


def get_loaded_modules() -> Set[str]:
    """Names of the root's modules loaded so far (a copy)."""
    session = _current()
    return session.registry.modules() if session is not None else set()


def _current() -> Optional[TracingSession]:
    session = _session
    if session is not None and session.running:
        _guard("sweep", session.registry.sweep)
    return session
