"""Advisory locks between the processes of a host: ``flock``, for a bounded time, nothing left behind.

The shutdown lines (a lock file named after the stdout they are written to) and the report's
first write (the report's directory) take turns with the other workers of a service this way.
Past the wait the caller goes on unlocked: a lock only orders output, it must never hang a stop.

``flock`` locks belong to an open file description, so each taker opens the file itself (a
descriptor inherited from a forked parent would share the parent's lock), and a forked child
closes the copies it inherited of locks its parent's other threads held, without unlocking them
(the parent still holds them).
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
import time
from typing import Callable, Dict, Iterator, Optional, Tuple

# What this process holds (a directory's (device, inode), or a lock file's path) -> (the thread
# holding it, its descriptor).
_held: Dict[object, Tuple[int, int]] = {}
_POLL_SECONDS = 0.01
_OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_CLOEXEC", 0)


@contextlib.contextmanager
def directory_lock(directory: Optional[str], seconds: float) -> Iterator[None]:
    """Hold an exclusive lock on ``directory`` itself, which exists anyway: no file is made."""
    fd = _open(directory, getattr(os, "O_DIRECTORY", 0)) if directory else None
    if fd is None:
        yield
        return
    try:
        status = os.fstat(fd)
        with _holding((status.st_dev, status.st_ino), fd, lambda: _take(fd, time.monotonic() + seconds)):
            yield
    finally:
        os.close(fd)  # releases the lock


@contextlib.contextmanager
def file_lock(path: str, seconds: float) -> Iterator[None]:
    """Hold an exclusive lock on the file ``path``, made for it and removed by its holder.

    The holder removes the file while it still holds the lock, so nothing is left. A process
    that opened the file before its removal then gets a lock on a file no one else sees, so each
    taker checks, once it holds the lock, that ``path`` still names the file it locked, and
    starts again if not: at any moment only the holder of the file ``path`` names goes on."""
    if threading.get_ident() == _held.get(path, (None,))[0]:
        yield  # ours already, on this thread (a signal handler): not ours to release
        return
    fd = _take_file(path, time.monotonic() + seconds)
    if fd is None:
        yield
        return
    _held[path] = (threading.get_ident(), fd)
    taker = os.getpid()
    try:
        yield
    finally:
        _held.pop(path, None)
        try:
            if os.getpid() == taker:  # not a child forked inside: the lock is its parent's
                os.unlink(path)  # while held: a waiter finds it gone and starts again
        except OSError:
            pass  # another user's file in a sticky /tmp: it stays, and still serves as the lock
        os.close(fd)


@contextlib.contextmanager
def _holding(key: object, fd: int, take: Callable[[], bool]) -> Iterator[None]:
    """Take the lock with ``take`` unless this thread holds ``key`` already (a signal handler that
    writes the lines while the code it interrupted held it: waiting would only time out)."""
    holder = _held.get(key)
    if holder is not None and holder[0] == threading.get_ident():
        yield
        return
    if not take():
        yield
        return
    _held[key] = (threading.get_ident(), fd)
    try:
        yield
    finally:
        _held.pop(key, None)


def _open(path: str, flags: int = 0) -> Optional[int]:
    try:
        import fcntl  # noqa: F401  (none on Windows: no lock)

        return os.open(path, _OPEN_FLAGS | flags, 0o666)
    except Exception:  # no such directory, no permission: no lock
        return None


def _take_file(path: str, deadline: float) -> Optional[int]:
    """A descriptor of the file ``path`` names, locked, or None by ``deadline``."""
    while True:
        fd = _open(path, os.O_CREAT)
        if fd is None:
            return None
        if _take(fd, deadline) and _still_named(fd, path):
            return fd
        os.close(fd)
        if time.monotonic() >= deadline:
            return None


def _still_named(fd: int, path: str) -> bool:
    try:
        mine, named = os.fstat(fd), os.stat(path)
    except OSError:  # removed by the holder before us
        return False
    return (mine.st_dev, mine.st_ino) == (named.st_dev, named.st_ino)


def _take(fd: int, deadline: float) -> bool:
    """The lock by ``deadline``, polled: a blocking ``flock`` cannot time out."""
    import fcntl

    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except OSError:
            if time.monotonic() >= deadline:
                return False
            time.sleep(_POLL_SECONDS)


def _after_fork_in_child() -> None:
    """Close the inherited copies of the locks the parent's other threads held: those threads
    are not in the child, and the copies would keep the locks taken for as long as it lives.
    The forking thread (the child's only one) closes its own on leaving its ``with``."""
    me = threading.get_ident()
    for key, (thread, fd) in list(_held.items()):
        if thread != me:
            del _held[key]
            try:
                os.close(fd)
            except OSError:
                pass


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def temp_directory() -> str:
    """``tempfile.gettempdir()`` without importing ``tempfile`` (it brings shutil, random, bz2,
    lzma: 12 ms of a short-lived process's stop on 3.12): tempfile's own answer when the
    application imported it, else the first writable directory of the places it tries."""
    tempfile = sys.modules.get("tempfile")
    if tempfile is None and os.name == "posix":
        for candidate in [os.environ.get(name) for name in ("TMPDIR", "TEMP", "TMP")] + ["/tmp", "/var/tmp", "/usr/tmp"]:
            if candidate and os.path.isdir(candidate) and os.access(candidate, os.W_OK | os.X_OK):
                return os.path.abspath(candidate)
    import tempfile

    return tempfile.gettempdir()
