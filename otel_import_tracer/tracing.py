"""Start, startup complete, stop: the lifecycle of one tracing session per process.

The public functions are idempotent and thread-safe. With tracing disabled they do nothing at
all: no hook is installed and OpenTelemetry is not imported.

Startup completion is learnt first come first served, the same moment seen from several places
(``process/__init__.py`` lists them; ``supervise`` gives a supervisor a role of its own), and
last from ``stop_tracing()``. Tracing is the main interpreter's: a sub-interpreter starts none.

A process that loaded nothing under the root (a supervisor, a reloader, a gunicorn master
without ``--preload``, multiprocessing's resource tracker) writes no lines, no report and no
trace. A forked child starts a session of its own (``process/fork.py`` tells that path in
order): it lists the modules it inherited, and a worker forked by a ``--preload`` master reports
them without sending their import spans again.

The process glue (``process/``) sits above this module: ``process/bootstrap.start_tracing`` hands
in what a session needs of its process (``hand_in``) and starts it (``start_session``).
"""

from __future__ import annotations

import sys
import time

# What was imported before the tracer's own modules (or before the .pth line began): the
# tracer's start reports what it added (tracer_imports).
_MODULES_BEFORE = frozenset(sys.modules)
_IMPORTED_FROM_NS = time.perf_counter_ns()
_bootstrap = sys.modules.get("otel_import_tracer.process.bootstrap")
if _bootstrap is not None and _bootstrap.begun_ns:
    _MODULES_BEFORE, _IMPORTED_FROM_NS = _bootstrap.modules_before, _bootstrap.begun_ns

import threading  # noqa: E402
TYPE_CHECKING = False  # typing is not imported at run time: the app would find it already paid for
if TYPE_CHECKING:
    from typing import Any, Callable, List, Optional, Set

from otel_import_tracer import messages, output, semconv
from otel_import_tracer.collectors import Collector, choose, start_collectors, stop_collectors
from otel_import_tracer.config import Config
from otel_import_tracer.naming import SourceRoot
from otel_import_tracer.registry import SOURCE_INHERITED, Listener, ModuleLoad, Registry

if TYPE_CHECKING:
    from otel_import_tracer.collectors.importhook import OnImport

class TracingSession:
    """One run of the tracer: collectors feeding a registry, read by telemetry, logs and report."""

    def __init__(self, config: Config, inherited: bool = False, handed_over: bool = False) -> None:
        self.config = config
        self.root = SourceRoot(config.root, config.root_found, config.root_excludes)
        self.registry = Registry(self.root, dependencies=config.dependencies)
        self.collector = "none"
        self.running = False
        # A forked child: what it holds came from its parent. Only a worker a server handed
        # over to (gunicorn --preload) reports it without loading anything of its own.
        self.inherited = inherited
        self.handed_over = handed_over
        self.helper = False  # serves other processes only (multiprocessing's forkserver)
        self.role: Optional[str] = None  # given at a moment that says it (supervise), else kind.role_of's
        self.asgi = False  # a server's ASGI lifespan ran here (process/servers.py)
        self.report_path: Optional[str] = None  # decided at the first write (report.claim)
        self._collectors: List[Collector] = []
        self._telemetry: Any = None
        self._says_summary = True  # False: another process of the group prints it (output.summary_is_ours)
        self._arm = _Arm(self)

    def start(self) -> bool:
        if not output.root_is_usable(self.config, self.root):
            return False
        try:
            choice = choose(self.config.collector)
            self.collector, self._collectors = start_collectors(
                choice, self.registry, self.root, _on_import, lazy_plan=self.config.lazy_plan)
            self.registry.sweep(preloaded=True, source=SOURCE_INHERITED if self.inherited else None)
        except Exception as exc:
            stop_collectors(self._collectors)
            messages.warn("start-failed", f"import tracing could not start ({exc!r}) and is off; please report this.")
            return False
        self.running = True
        self._telemetry = _start_telemetry(self)
        if _sigterm is not None:
            _sigterm.grace = self.config.shutdown_timeout
            _guard("sigterm", _sigterm.install)  # before arming: the watcher needs its pipe
        self.registry.subscribe(self._arm)
        if not self.registry.is_empty():
            self._arm.on_load(None)
        return True

    def has_output(self) -> bool:
        """Whether this process loaded anything under the root worth a line set, report and trace."""
        if self.registry.is_empty() or self.helper:
            return False
        if self.inherited and not self.handed_over:
            return any(load.source != SOURCE_INHERITED for load in self.registry.loads()) or bool(self.registry.failures())
        return True

    def startup_context(self) -> Any:
        """An OpenTelemetry context with ``app.startup`` current, for the lifespan; None if there
        is no application provider to make the application's own spans its children."""
        if not self.running or self.registry.startup_complete_ns is not None or self._telemetry is None:
            return None
        return self._telemetry.startup_context()

    def startup_complete(self, failure: Optional[str] = None, export: bool = True) -> None:
        """The application finished starting: later loads are lazy; the startup span can go out
        (``export=False``: not yet, see ``release_export``)."""
        if not self.running:
            return
        _guard("sweep", self.registry.sweep)
        for collector in self._collectors:
            reinstate = getattr(collector, "reinstate", None)
            if reinstate is not None:
                _guard("collector", reinstate)
            settle = getattr(collector, "startup_complete", None)  # lazy imports: what startup reified
            if settle is not None:
                _guard("collector", settle)
        if self.registry.mark_startup_complete(failure):
            _guard("give-back", _give_back)
            if self.has_output():
                self._after_startup(export)

    def release_export(self) -> None:
        """Send the startup trace held back by ``startup_complete(export=False)``."""
        if self.running and self.registry.startup_complete_ns is not None and self.has_output():
            if self._telemetry is not None:
                _guard("telemetry", self._telemetry.startup_complete)

    def stop(self) -> None:
        """Collectors off, then the lines first (they matter most), then report and telemetry."""
        if not self.running:
            return
        sigterm = _sigterm
        if sigterm is not None:
            sigterm.stopping()  # first: a SIGTERM from here on waits for this stop, never finds none
        self.running = False
        _guard("give-back", _give_back)
        try:
            self._stop()
        finally:
            if sigterm is not None:
                sigterm.stopped()

    def _stop(self) -> None:
        stop_collectors(self._collectors)
        self._collectors = []
        _guard("sweep", self.registry.sweep)
        if not self.has_output():
            if self._telemetry is not None:
                self._telemetry.discard()
            return
        _guard("root-note", output.announce_root, self.config, self.root, self._telemetry is not None)
        if self._telemetry is not None:
            _guard("telemetry", self._telemetry.announce)  # a note on where traces go comes before the lines
        _guard("shutdown-lines", output.write_lines, self.registry, self.root)
        # Without a lifespan (a script, a worker), the whole run is the startup; one report write, below.
        if self.registry.mark_startup_complete():
            self._after_startup(write=False)
        _guard("report", self.write_report)
        if self.config.summary and self._says_summary:
            _guard("summary", output.write_summary, self.registry, self.report_path, self._telemetry is not None)
        if self._telemetry is not None:
            _guard("telemetry", self._telemetry.startup_complete)  # if it was held back
            _guard("telemetry", self._telemetry.shutdown, self.config.shutdown_timeout)

    def abandon(self) -> None:
        """Leave without a word: the parent's session, inherited by a forked child. Its registry
        and telemetry are left untouched: a thread of the parent may have held their locks."""
        self.running = False
        stop_collectors(self._collectors)
        self._collectors = []

    def _after_startup(self, export: bool = True, write: bool = True) -> None:
        if self._telemetry is not None and self._telemetry.role is None:  # what app.startup says it was
            from otel_import_tracer import kind

            _guard("role", setattr, self._telemetry, "role", kind.role_of(self))
        if self.config.summary:  # one summary per process group: claimed while the workers all run
            self._says_summary = output.summary_is_ours(self._telemetry is not None)
        # Written before the app serves, so a kill at any later moment leaves a valid report.
        if write:
            _guard("report", self.write_report)
        if export and self._telemetry is not None:
            _guard("telemetry", self._telemetry.startup_complete)

    def write_report(self) -> None:
        """Write the JSON report if one is configured (atomically; never raises)."""
        if not self.config.report or not self.has_output():
            return
        from otel_import_tracer.kind import role_of
        from otel_import_tracer.report import Snapshot, write_report

        trace_id = self._telemetry.startup_trace_id() if self._telemetry is not None else None
        take = lambda: Snapshot.of(self.registry, self.collector, self.running, role_of(self))  # noqa: E731
        self.report_path = write_report(take, self.config, self.report_path, trace_id=trace_id).claimed

class _Arm(Listener):
    """At the first load under the root, start what a process with something to lose needs:
    the SIGTERM watcher, the idle export thread (an exiting interpreter may refuse new threads),
    and the exit hook, registered after the export's ``concurrent.futures`` so that it runs first."""

    def __init__(self, session: TracingSession) -> None:
        self._session = session
        self.armed = False

    def on_load(self, load: Optional[ModuleLoad]) -> None:
        if self.armed:
            return
        self.armed = True
        self._session.registry.unsubscribe(self)  # once is all it needs: no call per later load
        if not self._session.helper:  # a forkserver only forks: threads there would only be in the way
            if _sigterm is not None:
                _sigterm.arm()
            if self._session._telemetry is not None:
                self._session._telemetry.arm()
        _register_exit_hook()


def _guard(what: str, step: Callable[..., Any], *args: Any) -> None:
    """Run one step of the tracer's own work; a failure is reported, never raised into the app."""
    try:
        step(*args)
    except Exception as exc:
        report_error(what, exc)


def report_error(what: str, exc: BaseException) -> None:
    messages.warn(f"{what}-failed", f"import tracing: the {what} step failed ({exc!r}); the application is unaffected.")


def _start_telemetry(session: TracingSession) -> Any:
    """Telemetry is optional: if it cannot start, collection and the log lines still work."""
    try:
        from otel_import_tracer.telemetry import Telemetry
    except ImportError:
        return None
    try:
        telemetry = Telemetry(
            session.config, session.registry, session.collector, on_trace_id=session.write_report, inherited=session.inherited
        )
        telemetry.start()
        return telemetry
    except Exception as exc:
        messages.warn("telemetry-failed", f"OpenTelemetry export could not start ({exc!r}); loads are still logged.")
        return None


_lock = threading.RLock()
_session: Optional[TracingSession] = None
_exit_hook_registered = False
_start_noted = False
# What a session needs of its process, handed in by the process glue (``hand_in``); a session
# made without it (as the collectors' tests do) has no SIGTERM handler and no server patches.
_sigterm: Any = None  # process.signals.SigtermHandler: install, arm, stopping, stopped, grace
_on_import: Optional[OnImport] = None
_give_back: Callable[[], None] = lambda: None  # the patches waiting for the end of startup


def hand_in(sigterm: Any, on_import: OnImport, give_back: Callable[[], None] = lambda: None) -> None:
    """The process glue's part (``process/bootstrap.start_tracing``): the SIGTERM handler a session
    installs and arms, the modules whose import the hook hands to a callback (the server patches),
    and what gives back the patches that wait for the end of startup, called when it ends or at stop."""
    global _sigterm, _on_import, _give_back
    _sigterm, _on_import, _give_back = sigterm, on_import, give_back


def start_session(config: Optional[Config] = None) -> bool:
    """Start the process's session if ``config.enabled`` (read from the environment if None); the
    public ``start_tracing`` (``process/bootstrap.py``) calls it with the process glue handed in.

    Returns whether tracing is running. Calling it again while running does nothing.
    """
    global _session, _start_noted
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
        if not _start_noted:  # the process's first session: what starting the tracer imported
            _start_noted = True
            session.registry.note_tracer_imports("start", _MODULES_BEFORE, _IMPORTED_FROM_NS)
        _session = session
        return True


def _register_exit_hook() -> None:
    """Without a lifespan (a script, a worker), stop at exit: lines, report, telemetry.

    ``threading._register_atexit`` runs before the interpreter joins its threads (the export
    thread is still there to send), last registered first: registered once ``concurrent.futures``
    is imported, ours runs before it refuses new work. Plain ``atexit`` is the fallback.
    """
    global _exit_hook_registered
    if _exit_hook_registered:
        return
    _exit_hook_registered = True
    register = getattr(threading, "_register_atexit", None)
    try:
        if register is not None:
            register(stop_tracing)
            return
    except RuntimeError:  # already shutting down
        pass
    import atexit

    atexit.register(stop_tracing)


def mark_startup_complete(failure: Optional[str] = None) -> None:
    """Tell the tracer the application has finished starting (``failure``: it could not start).

    The servers' lifespan tells it by itself; call this where nothing does."""
    with _lock:  # held, so a concurrent stop sees startup either complete or not at all
        if _session is not None:
            _session.startup_complete(failure)


def hand_over() -> None:
    """A server master forks a worker now (gunicorn): its own startup is over, and what it
    imported is theirs to report. Its trace waits for ``handed_over()``: the export thread
    imports the SDK, and a fork in the middle of an import leaves the child a module lock that
    no thread of its own will ever release."""
    global _handed_over
    with _lock:
        if _session is not None:
            _session.startup_complete(export=False)
    _handed_over = True


def handed_over() -> None:
    """The master has forked its workers: its startup trace can go out now."""
    with _lock:
        if _session is not None:
            _session.release_export()


def supervise() -> None:
    """A server's supervisor starts its workers (uvicorn's ``--workers`` and its reloader), fresh
    interpreters that import the application for themselves: what the supervisor imported (an
    entry point's own modules, before ``uvicorn.run``) was its startup, over now. Its trace and
    report go out at once (no fork to wait for: spawned workers exec a new interpreter), and say
    it was a supervisor, so its startup is not compared with the servers'."""
    startup_ends_as(semconv.ROLE_SUPERVISOR, always=True)


def startup_ends_as(role: str, idle: bool = False, always: bool = False, export: bool = True) -> bool:
    """A moment only a server or a supervisor reaches (``process/readiness.py``) ends the startup,
    and says which the process was (``always``: even if it had ended; ``export``: as in ``startup_complete``).
    ``idle``: not while an import is in progress on this thread (still startup). Whether it ended it here."""
    with _lock:
        session = _session
        if session is None or not session.running or (idle and session.registry._stacks.current()) or (
                session.registry.startup_complete_ns is not None and not always):
            return False
        session.role = role
        if session._telemetry is not None:
            session._telemetry.role = role
        session.startup_complete(export=export)
        return True


def awaiting_startup() -> bool:
    """Whether a session runs whose startup has not ended: a patch waiting for its end is of use."""
    session = _session
    return session is not None and session.running and session.registry.startup_complete_ns is None


def helper_process() -> None:
    """This process only serves others (multiprocessing's forkserver, which imports the main
    module again to fork workers from it): the main process and the workers report; it stays silent."""
    with _lock:
        if _session is not None:
            _session.helper = True


def startup_context() -> Any:
    """``app.startup`` as the current span for the lifespan, where the application can make children."""
    session = _session
    return session.startup_context() if session is not None else None


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


# -- fork: the child gets a session of its own (the whole path in order: process/fork.py) ----

_handed_over = False  # this process is a server master whose forks are its workers (gunicorn)


def after_fork_in_child() -> bool:
    """In a forked child: the parent's session is abandoned, the child starts its own.

    True if the child is a worker of multiprocessing's forkserver (the parent only served others)."""
    global _lock, _session, _handed_over
    # Locks another thread of the parent held at fork time would never be released here.
    _lock = threading.RLock()
    parent = _session
    if parent is None or not parent.running:
        return False
    worker, _handed_over = _handed_over, False
    parent.abandon()
    child = TracingSession(parent.config, inherited=True, handed_over=worker)
    _session = child if child.start() else None
    return parent.helper and _session is not None
