"""Once per process group: what every process of one command would say alike, said by one.

The first traced process of a command (a supervisor, a gunicorn master, a script) names the
group in an environment variable that its children inherit, spawned or forked; a note about
the environment (nothing is exported) is then said by whichever process of the group gets to
it first, through a file created exclusively in a directory private to the user. Workers whose
parent said nothing are siblings: an inherited marker alone could not tell them apart. The
process that made the file removes it at its stop (and the directory, if nothing else is in
it): nothing is left in the temp directory. A worker started after that (a recycled one) says
the note again, once.
"""

from __future__ import annotations

import os
import time
TYPE_CHECKING = False  # typing is not imported at run time: the app would find it already paid for
if TYPE_CHECKING:
    from typing import List, Optional

IMPORT_TRACING_GROUP = "IMPORT_TRACING_GROUP"  # internal: set by the tracer, inherited by children
_STALE_S = 24 * 3600  # notes of a killed process's group are removed when a new one is written
_claimed: List[str] = []  # the notes this process made: removed at its stop (release)


def join() -> str:
    """This process's group, naming a new one (this process's) if it has none."""
    group = os.environ.get(IMPORT_TRACING_GROUP)
    if not group:
        group = os.environ[IMPORT_TRACING_GROUP] = f"{os.getpid()}-{time.time_ns()}"
    return group


def named_by_another() -> bool:
    """This process's group was named by another process (its parent, a server's supervisor)."""
    group = os.environ.get(IMPORT_TRACING_GROUP, "")
    return bool(group) and group.split("-", 1)[0] != str(os.getpid())


def first_to_say(what: str) -> bool:
    """True for the first process of the group to ask about ``what``; True too if it cannot tell."""
    group = os.environ.get(IMPORT_TRACING_GROUP)
    directory = user_temp_directory()
    if not group or directory is None or not group.replace("-", "").isdigit():
        return True
    _prune(directory, what)
    path = os.path.join(directory, f"{what}-{group}")
    try:
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
    except FileExistsError:
        return False
    except OSError:
        return True
    _claimed.append(path)
    return True


def release() -> None:
    """This process stops: remove the notes it made, and their directory if that is now empty."""
    while _claimed:
        path = _claimed.pop()
        for remove, target in ((os.unlink, path), (os.rmdir, os.path.dirname(path))):
            try:
                remove(target)
            except OSError:  # gone already; the directory holds someone else's file
                pass


if hasattr(os, "register_at_fork"):  # a forked child's stop must not remove its parent's notes
    os.register_at_fork(after_in_child=_claimed.clear)


def _prune(directory: str, what: str) -> None:
    """Remove the stale notes of ``what``. A note is made after its group was named, and the name
    holds that time (``join``): a note of a group named within ``_STALE_S`` is not stale, and is
    not looked at (an lstat each: the notes of killed processes pile up on a busy host)."""
    now = time.time()
    try:
        names: List[str] = [name for name in os.listdir(directory) if name.startswith(what + "-")]
        for name in names:
            named_ns = name.rpartition("-")[2]
            if named_ns.isdigit() and 0 <= now - int(named_ns) / 1e9 <= _STALE_S:
                continue
            path = os.path.join(directory, name)
            if now - os.lstat(path).st_mtime > _STALE_S:
                os.unlink(path)
    except OSError:
        pass


def user_temp_directory() -> Optional[str]:
    """``otel-import-tracer-<uid>`` in the temp directory, private to this user; None if impossible."""
    from otel_import_tracer.locking import temp_directory

    uid = os.getuid() if hasattr(os, "getuid") else "user"
    directory = os.path.join(temp_directory(), f"otel-import-tracer-{uid}")
    return directory if private_directory(directory) else None


def private_directory(directory: str) -> bool:
    """``directory`` exists or was made (0700), is no symlink and, on POSIX, is ours alone."""
    try:
        os.makedirs(directory, mode=0o700, exist_ok=True)
        info = os.lstat(directory)
    except OSError:
        return False
    import stat

    if not stat.S_ISDIR(info.st_mode):
        return False
    if hasattr(os, "getuid") and (info.st_uid != os.getuid() or info.st_mode & 0o022):
        return False
    return os.access(directory, os.W_OK)
