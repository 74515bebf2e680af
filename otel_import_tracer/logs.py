"""The shutdown log lines of the original design, exactly, with the process id on the first.

::

    Stopping runtime file tracing... (pid 4242)
    Total unique /app/src/*.py files loaded: <N>
    LOADED_SRC_FILE: <absolute path>          (one per file, sorted)
    Total unique src.* modules loaded: <M>
    LOADED_MODULE: <module name>              (one per module, sorted)

``/app/src`` follows the configured root, ``src`` the module names: their top-level package
when they share one (the root's name when there are none), else the top-level names in braces
(``{app,main}.*``: a root holding several). ``audit`` parses these lines back out of
container logs, so the prefixes are constants shared with the parser, and every name reads
back exactly (``escape``/``unescape``): a name is printed as it is (``0000_squashed.py``,
``seed-db``, ``café``), unless it holds a character that must not reach a log raw (a newline
would forge a line of its own, ESC acts on the terminal; see ``messages.UNPRINTABLE``), a
backslash, or whitespace at either end (the reader strips around a value). Those are escaped
the way ``messages.printable`` shows them on a terminal (``\\n``, ``\\x1b``, ``\\u2028``; a
byte of a file name that is not UTF-8 as ``\\xff``), and a backslash is doubled, ``\\\\``, so
that every backslash in a value starts an escape and none is ambiguous. On a stdout that is not
UTF-8 (``PYTHONIOENCODING=ascii``, strict) every character past ASCII is escaped too
(``caf\\u00e9``): never an error that would lose the block, never bytes ``audit`` cannot read.

Several workers of one service share the container's stdout and often stop at once: the pid
tells their blocks apart, each block is written while holding a lock shared by every process
writing to the same stream (see ``write_block``), and in whole lines of at most a pipe's atomic
size, so blocks come out whole even when printed together.
"""

from __future__ import annotations

import itertools
import os
import re
import sys
TYPE_CHECKING = False  # typing is not imported at run time: the app would find it already paid for
if TYPE_CHECKING:
    from typing import Dict, Iterable, Iterator, List, Optional

from otel_import_tracer import messages

STOPPING_LINE = "Stopping runtime file tracing..."
FILE_PREFIX = "LOADED_SRC_FILE: "
MODULE_PREFIX = "LOADED_MODULE: "
LOCK_WAIT_SECONDS = 2.0  # then write anyway: a reader copes with interleaved blocks

# What a value escapes: the characters printable escapes, and the backslash that starts an escape.
_UNSAFE = f"[\\\\{messages.UNPRINTABLE}]"
# What unescape reads: \xNN (a byte: below 0x80 the ASCII character, above it the byte of a name
# that is not UTF-8, U+DC80..U+DCFF), \uNNNN, \UNNNNNNNN, and \n \r \t \\.
_ESCAPE = r"\\(?:x([0-9a-fA-F]{2})|u([0-9a-fA-F]{4})|U([0-9a-fA-F]{8})|(.))"
# Both compiled at their first use (_compiled), not at import: the stop of a traced process
# imports this module to write its lines, and compiling them cost it 6 M instructions (3.12),
# for names that almost never need an escape.
_patterns: Dict[str, "re.Pattern[str]"] = {}
_UNESCAPED = {"n": "\n", "r": "\r", "t": "\t", "\\": "\\"}


def stopping_line(pid: int) -> str:
    return f"{STOPPING_LINE} (pid {pid})"


def shutdown_lines(root: str, files: Iterable[str], modules: Iterable[str], pid: int = 0) -> Iterator[str]:
    """The lines, one at a time: at 5,000 modules a list of them would be megabytes held at once."""
    sorted_files = _sorted_once(files)
    sorted_modules = _sorted_once(modules)
    package = _packages(sorted_modules) or os.path.basename(root)
    yield stopping_line(pid or os.getpid())
    yield f"Total unique {escape(root)}/*.py files loaded: {len(sorted_files)}"
    for path in sorted_files:
        yield FILE_PREFIX + escape(path)
    yield f"Total unique {escape(package)}.* modules loaded: {len(sorted_modules)}"
    for name in sorted_modules:
        yield MODULE_PREFIX + escape(name)


def _packages(sorted_modules: List[str]) -> str:
    """The top-level name the modules share, or ``{a,b}`` for several (the first few, then ``...``)."""
    tops = sorted({name.split(".", 1)[0] for name in sorted_modules})
    if len(tops) <= 1:
        return tops[0] if tops else ""
    return "{" + ",".join(tops[:5] + (["..."] if len(tops) > 5 else [])) + "}"


def escape(value: str) -> str:
    """``value`` as one line's text that ``unescape`` reads back exactly (see the module's doc).

    A name with no backslash, no control character and no whitespace at its ends (every name of
    an ordinary app) is returned as it is: checked in C, once per file and module at the stop."""
    if value.isprintable() and "\\" not in value and value[:1] != " " and value[-1:] != " ":
        return value
    value = _compiled(_UNSAFE).sub(_escape_match, value)
    if value[:1].isspace():  # the reader strips around a value: whitespace at an end is escaped
        value = messages.escape_char(value[0]) + value[1:]
    if value[-1:].isspace():
        value = value[:-1] + messages.escape_char(value[-1])
    return value


def unescape(text: str) -> str:
    """The name ``escape`` gave ``text`` for. A backslash not starting an escape is kept: a line
    of a version before escapes (``LOADED_SRC_FILE: /app/src/a\\b.py``) reads as it was."""
    if "\\" not in text:
        return text
    return _compiled(_ESCAPE, re.DOTALL).sub(_unescape_match, text)


def _compiled(pattern: str, flags: int = 0) -> "re.Pattern[str]":
    compiled = _patterns.get(pattern)
    if compiled is None:
        compiled = _patterns[pattern] = re.compile(pattern, flags)
    return compiled


def _escape_match(match: "re.Match[str]") -> str:
    return messages.escape_char(match.group())


def _unescape_match(match: "re.Match[str]") -> str:
    byte, short, long, other = match.groups()
    if byte is not None:
        code = int(byte, 16)
        return chr(code if code < 0x80 else 0xDC00 + code)
    if short is not None or long is not None:
        code = int(short or long, 16)
        return chr(code) if code <= 0x10FFFF else match.group()
    return _UNESCAPED.get(other, match.group())


def ascii_escaped(line: str) -> str:
    """``line`` with each character past ASCII escaped (``caf\\u00e9``): for a stdout that is
    not UTF-8. A strict ASCII one would raise and lose the block; any other (latin-1) would
    print bytes that ``audit``, which reads logs as UTF-8, cannot read back."""
    if line.isascii():
        return line
    return "".join(char if char < "\x80" else messages.escape_char(char) for char in line)


def is_utf8(stream: object) -> bool:
    """Whether ``stream`` encodes as UTF-8 (or says nothing of its encoding: a test's buffer)."""
    encoding = getattr(stream, "encoding", None)
    if not isinstance(encoding, str):
        return True
    try:
        import codecs

        return codecs.lookup(encoding).name == "utf-8"
    except LookupError:
        return False


def _sorted_once(items: Iterable[str]) -> List[str]:
    """Sorted, each item once, without a set (a megabyte at 20,000 items, at the stop's memory peak)."""
    return [item for item, _ in itertools.groupby(sorted(items))]


def write_block(lines: Iterable[str]) -> None:
    """Write one process's line set to stdout, as one block among the blocks of other processes.

    Every worker of a service writes to the same stdout pipe, and each takes its turn: the lock
    is a file of the temp directory named after that pipe (its device and inode), so only the
    processes writing to the same stream wait for each other, and never longer than
    ``LOCK_WAIT_SECONDS`` (then the block is written anyway: the reader copes with interleaved
    blocks). Its holder removes it before releasing it, so nothing is left in the temp directory;
    ``locking.file_lock`` says why a waiter that opened it before the removal cannot go on too."""
    from otel_import_tracer import locking

    stream = sys.stdout or sys.__stdout__
    if not is_utf8(stream):
        lines = (ascii_escaped(line) for line in lines)
    path = _lock_path(stream)
    if path is None:  # no file descriptor (a StringIO), no temp directory: write unlocked
        messages.write_lines(lines, stdout=True)
        return
    with locking.file_lock(path, LOCK_WAIT_SECONDS):
        messages.write_lines(lines, stdout=True)


def _lock_path(stream: object) -> Optional[str]:
    try:
        from otel_import_tracer import locking

        status = os.fstat(stream.fileno())  # type: ignore[attr-defined]
        return os.path.join(locking.temp_directory(), f"otel-import-tracer-{status.st_dev}-{status.st_ino}.lock")
    except Exception:
        return None
