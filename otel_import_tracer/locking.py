"""One advisory lock between the processes of a host: ``flock`` on a directory, for a bounded time.

The shutdown lines (the temp directory) and the report's first write (the report's directory)
take turns with the other workers of a service this way. A directory that exists anyway is
locked, never a lock file: a lock file is either left behind, or removed by its holder while
another process, which opened it before the removal, waits on it; that process then holds a lock
on a file no later process sees, and two of them go on at once. ``flock`` locks belong to an open
file description, so each taker opens the directory itself (a descriptor shared with a forked
parent would share its lock), and a forked child closes the copies it inherited of locks its
parent's threads held, without unlocking them (the parent still holds them).
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from typing import Dict, Iterator, Optional, Tuple

# (device, inode) of each directory this process holds -> (thread holding it, its descriptor).
_held: Dict[Tuple[int, int], Tuple[int, int]] = {}
_POLL_SECONDS = 0.01


@contextlib.contextmanager
def directory_lock(directory: Optional[str], seconds: float) -> Iterator[None]:
    """Hold an exclusive advisory lock on ``directory``, waiting at most ``seconds`` for it; past
    that, or where there is no ``flock`` (Windows) or no such directory, go on without it.

    A thread that already holds it goes on (a signal handler that writes the lines while the
    thread it interrupted held the lock for the report): waiting would only time out."""
    fd = _open(directory)
    if fd is None:
        yield
        return
    key: Optional[Tuple[int, int]] = None
    try:
        status = os.fstat(fd)
        key = (status.st_dev, status.st_ino)
        holder = _held.get(key)
        if holder is not None and holder[0] == threading.get_ident():
            key = None  # ours already, on this thread: not ours to release
        elif _take(fd, seconds):
            _held[key] = (threading.get_ident(), fd)
        else:
            key = None
        yield
    finally:
        if key is not None:
            _held.pop(key, None)
        os.close(fd)  # releases the lock


def _open(directory: Optional[str]) -> Optional[int]:
    if not directory:
        return None
    try:
        import fcntl  # noqa: F401  (none on Windows)

        return os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_CLOEXEC", 0))
    except Exception:
        return None


def _take(fd: int, seconds: float) -> bool:
    """The lock within ``seconds``, polled (a blocking ``flock`` cannot time out)."""
    import fcntl

    deadline = time.monotonic() + seconds
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
