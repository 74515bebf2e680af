"""Replacing a file atomically: a temporary file beside it, then a rename. Both sides write this way
(the writing side its report, the reading side its HTML page), so it lives below both of them.

The temporary is ``.<name>.<pid>.tmp``; a process killed while writing leaves one behind, removed
by the next write of the same file once its pid is dead.
"""

from __future__ import annotations

import errno
import os
import re
import stat

NOT_REGULAR = "is not a regular file (a FIFO, a device or a directory)"
_TEMPORARY = re.compile(r"^\.(?P<name>.+)\.(?P<pid>\d+)\.tmp$")


def hostname() -> str:
    """``socket.gethostname()``, which is uname's node name: ``socket`` (and ``selectors``) cost
    a short-lived process 12 ms at its stop on 3.12 when it had not imported them."""
    if hasattr(os, "uname"):
        return os.uname().nodename
    import socket

    return socket.gethostname()


def write_text(text: str, path: str, regular_only: bool = False) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically: a temporary file beside it, then a rename.

    A failed write leaves what was at ``path`` as it was. The new file gets the mode of the one it
    replaces, or the umask's (``0o666 & ~umask``). A symlink at ``path`` is replaced, not followed:
    pass its ``os.path.realpath`` to write its target. ``regular_only``: refuse (raise) when
    ``path`` is not a regular file (a FIFO, a device, a directory). First removes the temporaries
    that processes killed while writing ``path`` left (``_remove_stale_temporaries``)."""
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    _remove_stale_temporaries(os.path.abspath(path))
    mode = None
    try:
        status = os.stat(path)
        if regular_only and not stat.S_ISREG(status.st_mode):
            raise OSError(errno.EINVAL, NOT_REGULAR, path)
        mode = stat.S_IMODE(status.st_mode)
    except FileNotFoundError:
        pass
    temp = _temporary_name(os.path.abspath(path), os.getpid())
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0), 0o666)
    try:
        if mode is not None:
            os.fchmod(fd, mode)
        with os.fdopen(fd, "w", encoding="utf-8") as stream:
            stream.write(text)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temp, path)
    except BaseException:
        remove_quietly(temp)
        raise


def alive_elsewhere(pid: int, host: str) -> bool:
    """A process other than this one, alive on this host (on another host: assume alive)."""
    if pid == os.getpid() and host == hostname():
        return False
    if host != hostname():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # PermissionError: it exists, under another user
        return True
    return True


def remove_quietly(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


def _temporary_name(path: str, pid: int) -> str:
    directory, name = os.path.split(path)
    return os.path.join(directory, f".{name}.{pid}.tmp")


def _remove_stale_temporaries(path: str) -> None:
    """A process killed while rewriting ``path`` leaves ``.<name>.<pid>.tmp``: remove those of dead pids."""
    directory, name = os.path.split(path)
    try:
        entries = os.listdir(directory or os.curdir)
    except OSError:
        return
    for entry in entries:
        match = _TEMPORARY.match(entry)
        if match and match.group("name") == name and not alive_elsewhere(int(match.group("pid")), hostname()):
            remove_quietly(os.path.join(directory, entry))
