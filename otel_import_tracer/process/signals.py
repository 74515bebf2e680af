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

The wakeup pipe is the process's for life: made once, never closed. ``set_wakeup_fd`` is one
slot that code saves and puts back: uvloop's loop saves the fd it finds when it starts running
and restores it when it stops, which for a CLI that runs ``uvicorn.run()`` in-process (airflow
api-server) is after the lifespan shutdown that stopped tracing. A pipe closed at that stop made
the restore fail (EBADF: exit 1 instead of 0), or, with the number reused by then, pointed the
signal module at someone else's socket. Closing only once nobody holds it cannot be known (there
is no reading the slot without writing it), so the pipe stays open: two descriptors and 64 KiB at
most, written to without blocking, read by nobody once tracing stops. Tracing stopped puts back
the -1 it found when the slot still holds our pipe; a loop that saved it puts it back later.
Not taking the slot at all would cost the prompt SIGTERM: the wakeup fd is the only way a thread
learns of a signal as it lands (``sigwait``/``signalfd`` need it blocked, a mask that children
inherit even across ``exec``), and closing the pipe "when unused" would need to know who saved it.

Threads at a fork. A ``fork()`` with threads running leaves the child locks no one releases, and
Python 3.12+ warns of it (``DeprecationWarning``); the count is the OS's (``/proc/self/stat``),
so our threads must be gone, not idle. Before a fork the watcher is ended and joined (and
the pipe taken out of the slot, so a signal to the new child cannot land in the parent's pipe);
after it, the parent gets both back, and the child a pipe of its own under the same descriptor
numbers (``dup2``: whoever saved the number keeps a working pipe, shared with nobody).

A forkserver worker (the default start method from 3.14) is forked from a server that set its
own wakeup fd, and resets the slot to -1 before running the work: ``reclaim`` takes it back then.

A SIGTERM while tracing is already stopping (hypercorn's master terminates its last workers while
they run their lifespan shutdown) lets the stop finish its bounded flush first: the handler stays
installed until the stop ends, and the process dies of SIGTERM then.
"""

from __future__ import annotations

import os
# The C module behind ``signal``, already imported by the interpreter: ``signal`` itself imports
# ``enum`` (and 3.11's ``enum`` ``re``...), which the application would then find already imported.
# The same functions; handlers read back as ints (0 is SIG_DFL), which compare equal to its enums.
import _signal as signal
import threading
import time
TYPE_CHECKING = False  # typing is not imported at run time: the app would find it already paid for
if TYPE_CHECKING:
    from typing import Any, Callable, List, Optional, Tuple

from otel_import_tracer import messages, tracing

_NUDGE_AFTER = 0.05  # seconds to let the main thread start the handler by itself
_NUDGE_EVERY = 0.25
_JOIN_WATCHER = 1.0  # seconds to wait for the watcher to end (it is never busy longer but in _nudge)
_QUIT = b"\0"  # not a signal number: tells the watcher to end


class SigtermHandler:
    """Owns SIGTERM while nobody else does; ``stop`` is the tracer's stop, ``grace`` its time bound."""

    def __init__(self, stop: Callable[[], None]) -> None:
        self._stop = stop
        self.grace = 3.0
        self._handling = threading.Event()
        self._pipe: Optional[Tuple[int, int]] = None  # (read fd, write fd): ours for life, never closed
        self._watcher: Optional[threading.Thread] = None
        self._armed = False  # the session wants the watcher (it has something to lose)
        self._in_slot = False  # we made our pipe the wakeup fd (someone may have taken the slot since)
        self._forking: Optional[Tuple[bool, bool]] = None  # (watcher was running, pipe was the wakeup fd)
        self._stopper: Optional[int] = None  # the thread running the tracer's stop
        self._stopped = threading.Event()
        self._pending = False  # a SIGTERM came during the stop; die when it ends

    # -- main thread --

    def install(self) -> None:
        if not _on_main_thread():
            return
        current = signal.getsignal(signal.SIGTERM)
        if current != signal.SIG_DFL and current != self._handle:  # ours: a forked child's, inherited
            return
        self._handling.clear()
        self._pending = False
        if current != self._handle:
            signal.signal(signal.SIGTERM, self._handle)
        if self._pipe is not None and self._watcher is None:
            _drain(self._pipe[0])  # what came while SIGTERM was not ours is not ours to act on
        self._own_wakeup_fd()

    def uninstall(self) -> None:
        if not _on_main_thread():
            return
        if signal.getsignal(signal.SIGTERM) == self._handle:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
        if self._in_slot:
            self._leave_slot()  # -1 as we found it; one who saved ours puts it back later
        self._armed = False
        self._end_watcher()

    def reclaim(self) -> None:
        """Take the wakeup fd back if the slot is free again and SIGTERM is still ours (a forkserver
        worker, once the server's reset is done); start the watcher if the session wants it."""
        if _on_main_thread() and signal.getsignal(signal.SIGTERM) == self._handle:
            self._own_wakeup_fd()
            if self._armed:
                self._start_watcher()

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

    def _own_wakeup_fd(self) -> bool:
        """Make our pipe the wakeup fd if the slot is free (or ours already); True if it is ours."""
        try:
            previous = signal.set_wakeup_fd(-1)
        except (ValueError, OSError):
            return False
        try:
            if previous != -1 and (self._pipe is None or previous != self._pipe[1]):
                signal.set_wakeup_fd(previous)  # someone else's (an event loop): leave it to them
                self._in_slot = False
                return False
            if self._pipe is None:
                read_fd, write_fd = os.pipe()
                os.set_blocking(write_fd, False)
                self._pipe = (read_fd, write_fd)
            signal.set_wakeup_fd(self._pipe[1], warn_on_full_buffer=False)
            self._in_slot = True
            return True
        except (ValueError, OSError):
            return False

    def _leave_slot(self) -> bool:
        """Give the slot back (-1) if it still holds our pipe; True if it did. Only where we put it:
        reading the slot means emptying it for a moment, when a signal would wake no one."""
        self._in_slot = False
        return self._pipe is not None and _unset_wakeup_fd(self._pipe[1])

    # -- any thread --

    def arm(self) -> None:
        """Start the watcher, once the process has something to lose (its first load under the root)."""
        self._armed = True
        self._start_watcher()

    def _start_watcher(self) -> None:
        if self._pipe is None or self._watcher is not None:
            return
        watcher = threading.Thread(target=self._watch, args=(self._pipe[0],), name="otel-import-tracer-sigterm", daemon=True)
        self._watcher = watcher  # before it runs: it ends when it is no longer the current one
        try:
            watcher.start()
        except RuntimeError:  # the interpreter is exiting
            self._watcher = None

    def _end_watcher(self) -> bool:
        """End the watcher and wait (bounded) for its thread to be gone; True if one was running."""
        watcher, self._watcher = self._watcher, None
        if watcher is None or self._pipe is None:
            return False
        _write(self._pipe, _QUIT)
        if watcher is not threading.current_thread():
            try:
                watcher.join(_JOIN_WATCHER)
            except RuntimeError:  # never started
                pass
        return True

    def before_fork(self) -> Optional[threading.Thread]:
        """End the watcher for a fork (the slot freed too, from the main thread); the thread ended."""
        watcher = self._watcher
        running = self._end_watcher()
        unset = self._in_slot and _on_main_thread() and self._leave_slot()
        self._forking = (running, unset)
        return watcher if running else None

    # -- fork: no thread of ours may exist at it (os.register_at_fork, in the forking thread) --

    def after_fork_in_parent(self) -> None:
        forking, self._forking = self._forking, None
        if forking is None:
            return
        running, unset = forking
        if unset:
            self._own_wakeup_fd()
        if running:
            self._start_watcher()

    def after_fork_in_child(self) -> None:
        """A pipe of the child's own under the same numbers; the session's start arms the watcher."""
        forking, self._forking = self._forking, None
        self._watcher = None
        self._armed = False
        self._handling = threading.Event()
        self._stopper, self._stopped, self._pending = None, threading.Event(), False
        if self._pipe is not None:
            _renew(self._pipe)
            if forking is not None and forking[1]:
                self._own_wakeup_fd()

    def _watch(self, read_fd: int) -> None:
        current = threading.current_thread()
        try:
            while self._watcher is current:
                data = os.read(read_fd, 64)
                if not data:
                    return
                if self._watcher is not current:  # told to end (a _QUIT an earlier one left is not)
                    if signal.SIGTERM in data:  # the next watcher's (after a fork), or drained
                        _write(self._pipe, bytes([signal.SIGTERM]))
                    return
                if signal.SIGTERM in data and self._handling.wait(_NUDGE_AFTER) is False:
                    self._nudge()
        except OSError:
            return

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


def _stop_tracing() -> None:
    tracing.stop_tracing()


handler = SigtermHandler(_stop_tracing)
"""The process's one handler, handed to ``tracing`` by ``bootstrap.start_tracing``; ``fork`` ends
and renews its watcher and pipe around a fork."""


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


def _write(pipe: Optional[Tuple[int, int]], data: bytes) -> None:
    if pipe is not None:
        try:
            os.write(pipe[1], data)
        except OSError:  # full: the watcher has plenty to read already
            pass


def wait_gone(threads: List[threading.Thread], timeout: float = 0.1) -> None:
    """Wait (bounded) until joined threads are gone from the OS's count too, which is what
    Python 3.12+ reads to warn at a fork: a joined thread may still be exiting for a moment."""
    task = "/proc/self/task/"
    if not threads or not os.path.isdir(task):
        return
    ids = [thread.native_id for thread in threads if getattr(thread, "native_id", None)]
    deadline = time.monotonic() + timeout
    while any(os.path.exists(f"{task}{native_id}") for native_id in ids) and time.monotonic() < deadline:
        time.sleep(0.0005)


def _renew(pipe: Tuple[int, int]) -> None:
    """Replace a pipe shared with the parent by a new one under the same descriptor numbers."""
    try:
        read_fd, write_fd = os.pipe()
    except OSError:
        return
    try:
        os.set_blocking(write_fd, False)
        os.dup2(read_fd, pipe[0], inheritable=False)
        os.dup2(write_fd, pipe[1], inheritable=False)
    except OSError:
        pass
    finally:
        os.close(read_fd)
        os.close(write_fd)


def _drain(read_fd: int) -> None:
    try:
        os.set_blocking(read_fd, False)
        while os.read(read_fd, 4096):
            pass
    except OSError:  # BlockingIOError: empty
        pass
    finally:
        try:
            os.set_blocking(read_fd, True)
        except OSError:
            pass


def _on_main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()
