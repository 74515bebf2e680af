"""SIGTERM: stop tracing (lines, report, flush), then die of SIGTERM as before, promptly.

Installed only over the default action, from the main thread: a process whose SIGTERM nobody
handles would otherwise die before ``atexit`` runs. A server that installs its own handler (uvicorn,
gunicorn) replaces ours, and the lifespan shutdown stops tracing instead.

Why a watcher thread. A Python signal handler runs in the main thread, at its next bytecode. If
SIGTERM lands just before the main thread enters a blocking call (``time.sleep``, a lock, a
read), CPython has already taken the signal, and the call blocks to its end with the handler
pending: a process sleeping for a minute ignores ``docker stop`` for that minute, then gets
SIGKILLed. So, where nobody else uses it, the signal module's wakeup fd is ours: the C-level
handler writes the signal's number to it at once, and a watcher thread that sees SIGTERM without
our handler having started interrupts the main thread again (``pthread_kill``), which makes the
blocking call return and the handler run. If the main thread still cannot run Python (stuck in C
code), the watcher stops tracing itself and ends the process after a bounded wait.

A SIGTERM while tracing is already stopping (hypercorn's master terminates its last workers while
they run their lifespan shutdown) lets the stop finish its bounded flush first: the handler stays
installed until the stop ends, and the process dies of SIGTERM then.
"""

from __future__ import annotations

import os
import signal
import threading
from typing import Any, Callable, Optional

from otel_import_tracer import messages

_NUDGE_AFTER = 0.05  # seconds to let the main thread start the handler by itself
_NUDGE_EVERY = 0.25
_QUIT = b"\0"  # not a signal number: tells the watcher to end


class SigtermHandler:
    """Owns SIGTERM while nobody else does; ``stop`` is the tracer's stop, ``grace`` its time bound."""

    def __init__(self, stop: Callable[[], None]) -> None:
        self._stop = stop
        self.grace = 3.0
        self._handling = threading.Event()
        self._wakeup: Optional[tuple] = None  # (read fd, write fd) of our wakeup pipe
        self._watcher: Optional[threading.Thread] = None
        self._stopper: Optional[int] = None  # the thread running the tracer's stop
        self._stopped = threading.Event()
        self._pending = False  # a SIGTERM came during the stop; die when it ends

    # -- main thread --

    def install(self) -> None:
        if not _on_main_thread() or signal.getsignal(signal.SIGTERM) != signal.SIG_DFL:
            return
        self._handling.clear()
        self._pending = False
        signal.signal(signal.SIGTERM, self._handle)
        self._own_wakeup_fd()

    def uninstall(self) -> None:
        if not _on_main_thread():
            return
        if signal.getsignal(signal.SIGTERM) == self._handle:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
        self._release_wakeup_fd()

    def _handle(self, signum: int, frame: Any) -> None:
        self._handling.set()
        stopper = self._stopper
        if stopper == threading.get_ident():
            self._pending = True  # we interrupted the stop itself: it ends the process when done
            return
        if stopper is not None:  # another thread is stopping: wait for it, bounded
            self._stopped.wait(self.grace + 1.0)
            _die()
            return
        try:
            self._stop()
        except Exception as exc:  # whatever happens, the process must still die of SIGTERM
            messages.internal_error(exc)
        finally:
            _die()

    # -- the tracer's stop, any thread --

    def stopping(self) -> None:
        """The tracer's stop begins: a SIGTERM from now on waits for it to end."""
        self._stopped.clear()
        self._stopper = threading.get_ident()

    def stopped(self) -> None:
        """The tracer's stop has ended: die of a SIGTERM that came meanwhile, else give SIGTERM back."""
        self._stopper = None
        self._stopped.set()
        if self._pending and _on_main_thread():
            _die()
        self.uninstall()

    def _own_wakeup_fd(self) -> None:
        if self._wakeup is not None:
            return
        read_fd, write_fd = os.pipe()
        os.set_blocking(write_fd, False)
        try:
            previous = signal.set_wakeup_fd(write_fd, warn_on_full_buffer=False)
        except (ValueError, OSError):
            previous = -2
        if previous != -1:  # someone else's (an event loop): leave it to them
            if previous >= 0:
                signal.set_wakeup_fd(previous)
            os.close(read_fd)
            os.close(write_fd)
            return
        self._wakeup = (read_fd, write_fd)

    def _release_wakeup_fd(self) -> None:
        if self._wakeup is None:
            return
        read_fd, write_fd = self._wakeup
        self._wakeup = None
        _unset_wakeup_fd(write_fd)
        try:
            os.write(write_fd, _QUIT)  # the watcher closes both ends
        except OSError:
            pass
        if self._watcher is None:
            _close(read_fd, write_fd)
        self._watcher = None  # the old one closes its pipe and ends; a next session starts its own

    # -- any thread --

    def arm(self) -> None:
        """Start the watcher, once the process has something to lose (its first load under the root)."""
        if self._wakeup is None or self._watcher is not None:
            return
        watcher = threading.Thread(target=self._watch, args=self._wakeup, name="otel-import-tracer-sigterm", daemon=True)
        try:
            watcher.start()
        except RuntimeError:  # the interpreter is exiting
            return
        self._watcher = watcher

    def after_fork_in_child(self) -> None:
        """The watcher thread did not survive the fork; the pipe did (shared with the parent)."""
        self._watcher = None
        self._handling = threading.Event()
        self._stopper, self._stopped, self._pending = None, threading.Event(), False
        if self._wakeup is not None and _on_main_thread():
            wakeup, self._wakeup = self._wakeup, None
            if _unset_wakeup_fd(wakeup[1]):
                self._own_wakeup_fd()  # a pipe of the child's own, not one shared with the parent
            _close(*wakeup)

    def _watch(self, read_fd: int, write_fd: int) -> None:
        try:
            while True:
                data = os.read(read_fd, 64)
                if not data or _QUIT in data:
                    return
                if signal.SIGTERM in data and self._handling.wait(_NUDGE_AFTER) is False:
                    self._nudge()
        except OSError:
            return
        finally:
            _close(read_fd, write_fd)

    def _nudge(self) -> None:
        """Interrupt the main thread until it runs our handler; past the grace, do its work here."""
        main = threading.main_thread().ident
        waited = 0.0
        deadline = self.grace + 2.0
        while not self._handling.is_set() and waited < deadline:
            if signal.getsignal(signal.SIGTERM) != self._handle or main is None:
                return  # someone else handles SIGTERM now
            signal.pthread_kill(main, signal.SIGTERM)
            self._handling.wait(_NUDGE_EVERY)
            waited += _NUDGE_EVERY
        if self._handling.is_set():
            return
        messages.warn(
            "sigterm-stuck",
            "SIGTERM arrived while the main thread was stuck in native code; import tracing wrote its "
            "lines and report from another thread and ends the process as SIGTERM would have.",
        )
        try:
            if self._stopper is not None:  # a stop is under way (and holds the tracer's lock)
                self._stopped.wait(self.grace)
            else:
                self._stop()
        finally:
            os._exit(128 + signal.SIGTERM)


def _die() -> None:
    """End the process as SIGTERM's default action would."""
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    os.kill(os.getpid(), signal.SIGTERM)


def _unset_wakeup_fd(ours: int) -> bool:
    """Unset the wakeup fd if it is still ``ours``; a new owner keeps theirs. True if it was ours."""
    try:
        current = signal.set_wakeup_fd(-1)
        if current != ours and current != -1:
            signal.set_wakeup_fd(current)
        return current == ours
    except (ValueError, OSError):
        return False


def _on_main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


def _close(*fds: int) -> None:
    for fd in fds:
        try:
            os.close(fd)
        except OSError:
            pass
