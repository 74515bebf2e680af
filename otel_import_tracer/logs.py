"""The shutdown log lines of the original design, exactly, with the process id on the first.

::

    Stopping runtime file tracing... (pid 4242)
    Total unique /app/src/*.py files loaded: <N>
    LOADED_SRC_FILE: <absolute path>          (one per file, sorted)
    Total unique src.* modules loaded: <M>
    LOADED_MODULE: <module name>              (one per module, sorted)

``/app/src`` and ``src`` follow the configured root. Several workers of one service share the
container's stdout and often stop at once: the pid tells their blocks apart, each block is
written while holding a lock shared by every process writing to the same stream, and in whole
lines of at most a pipe's atomic size, so blocks come out whole even when printed together.
``audit`` parses these lines back out of container logs, so the prefixes are constants shared
with the parser.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import sys
import tempfile
import time
from typing import Iterable, Iterator, List

from otel_import_tracer import messages

STOPPING_LINE = "Stopping runtime file tracing..."
FILE_PREFIX = "LOADED_SRC_FILE: "
MODULE_PREFIX = "LOADED_MODULE: "
LOCK_WAIT_SECONDS = 2.0  # then write anyway: a reader copes with interleaved blocks


def stopping_line(pid: int) -> str:
    return f"{STOPPING_LINE} (pid {pid})"


def shutdown_lines(root: str, files: Iterable[str], modules: Iterable[str], pid: int = 0) -> Iterator[str]:
    """The lines, one at a time: at 5,000 modules a list of them would be megabytes held at once."""
    sorted_files = _sorted_once(files)
    sorted_modules = _sorted_once(modules)
    package = os.path.basename(root)
    yield stopping_line(pid or os.getpid())
    yield f"Total unique {root}/*.py files loaded: {len(sorted_files)}"
    for path in sorted_files:
        yield FILE_PREFIX + path
    yield f"Total unique {package}.* modules loaded: {len(sorted_modules)}"
    for name in sorted_modules:
        yield MODULE_PREFIX + name


def _sorted_once(items: Iterable[str]) -> List[str]:
    """Sorted, each item once, without a set (a megabyte at 20,000 items, at the stop's memory peak)."""
    return [item for item, _ in itertools.groupby(sorted(items))]


def write_block(lines: Iterable[str]) -> None:
    """Write one process's line set to stdout, as one block among the blocks of other processes."""
    with _stream_lock(sys.stdout or sys.__stdout__):
        messages.write_lines(lines, stdout=True)


@contextlib.contextmanager
def _stream_lock(stream: object) -> Iterator[None]:
    """An advisory lock named after the stream's file (the container's stdout pipe), taken for a
    bounded time: every worker of a service writes to the same pipe, and each takes its turn."""
    try:
        import fcntl

        status = os.fstat(stream.fileno())  # type: ignore[attr-defined]
        path = os.path.join(tempfile.gettempdir(), f"otel-import-tracer-{status.st_dev}-{status.st_ino}.lock")
        fd = os.open(path, os.O_RDONLY | os.O_CREAT, 0o666)  # read-only: anyone may lock it
    except Exception:  # no fcntl (Windows), no file descriptor, an unwritable /tmp: write unlocked
        yield
        return
    try:
        deadline = time.monotonic() + LOCK_WAIT_SECONDS
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError:
                if time.monotonic() >= deadline:
                    break
                time.sleep(0.01)
        yield
    finally:
        os.close(fd)  # releases the lock
