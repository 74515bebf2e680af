"""How the tracer talks to the user: straight to the process's stdout and stderr.

The shutdown lines go to stdout, so ``docker logs app | otel-import-tracer audit`` sees
them (a pipe takes only stdout); warnings and notes go to stderr. Not the ``logging`` module: an application's ``dictConfig`` (with the default
``disable_existing_loggers=True``) or a root level of WARNING would silence us, and
the shutdown lines must reach the container log whatever logging the app set up.
Each warning has a slug and is written once per process.
"""

from __future__ import annotations

import sys
import threading
TYPE_CHECKING = False  # typing is not imported at run time: the app would find it already paid for
if TYPE_CHECKING:
    import re
    from typing import Any, Iterable, Iterator, List, Set

PREFIX = "otel-import-tracer"

# Reentrant: the SIGTERM handler may write while the main thread it interrupted holds it.
_lock = threading.RLock()
_warned: Set[str] = set()
# At most this many bytes per write, whole lines only: a pipe (the container log) takes a write
# of up to PIPE_BUF bytes in one piece, so workers writing at once never split each other's lines.
CHUNK_BYTES = 4096


def write_lines(lines: Iterable[str], stdout: bool = False) -> None:
    """Write whole lines, none interleaved with another thread's (stderr by default).

    Each write is flushed, so lines of other processes sharing the stream fall between whole
    chunks, never inside a line. A failing stream is ignored (closed, broken pipe, a reentrant
    write from a signal handler); an error producing ``lines`` is the caller's to handle."""
    stream = (sys.stdout or sys.__stdout__) if stdout else (sys.stderr or sys.__stderr__)
    if stream is None:  # pythonw, or stderr closed: nowhere to write
        return
    with _lock:
        try:
            stream.flush()  # what the application left in the buffer goes out on its own
        except Exception:
            return
        for chunk in _chunks(lines):
            try:
                stream.write(chunk)
                stream.flush()
            except Exception:
                return


def _chunks(lines: Iterable[str]) -> Iterator[str]:
    """Whole lines joined into pieces of at most ``CHUNK_BYTES`` (a longer line goes alone)."""
    parts: List[str] = []
    size = 0
    for line in lines:
        text = line + "\n"
        length = len(text.encode("utf-8", "replace")) if not text.isascii() else len(text)
        if parts and size + length > CHUNK_BYTES:
            yield "".join(parts)
            parts, size = [], 0
        parts.append(text)
        size += length
    if parts:
        yield "".join(parts)


# What must not reach a terminal or a log raw: C0 controls (ESC starts a sequence that can clear
# the screen or set the title, CR and newline forge lines), DEL, C1 controls (U+009B is a one-char
# CSI, U+0085 a line break), the line and paragraph separators that log viewers and
# str.splitlines break lines at, the bidi overrides that reorder what is shown, and lone
# surrogates (a file name that is not UTF-8, as os.walk decodes it), which no UTF-8 stream can
# encode.
UNPRINTABLE = "\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff"
_unprintable: Any = None  # its pattern, compiled at first use: the tracer imports no re before the app
_SHORT_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t", "\\": "\\\\"}


def printable(text: str) -> str:
    """``text`` safe to show on a terminal or a page: what ``_UNPRINTABLE`` matches becomes an escape.

    ``\\x1b``, ``\\n``, ``\\u202e``; a surrogate that stands for an undecodable byte of a file
    name (``\\udcff``) shows as that byte, ``\\xff``. Everything else is kept as it is. The
    shutdown lines use the same escapes (``logs.escape``), and also double a backslash so that
    they read back exactly; here, for a reader, a backslash is left as it is."""
    global _unprintable
    if text.isprintable():  # none of UNPRINTABLE is printable: told in C, no pattern compiled (the summary's lines)
        return text
    if _unprintable is None:
        import re

        _unprintable = re.compile(f"[{UNPRINTABLE}]")
    return _unprintable.sub(_escape, text)


def _escape(match: "re.Match[str]") -> str:
    return escape_char(match.group())


def escape_char(char: str) -> str:
    """The escape of one character: ``\\xNN`` stands for one byte of a name (an ASCII control,
    or a byte of a file name that is not UTF-8, which ``os.fsdecode`` gave as U+DCNN),
    ``\\uNNNN`` for any other character (U+0085 is ``\\u0085``, two bytes in UTF-8), so no
    escape stands for two things."""
    short = _SHORT_ESCAPES.get(char)
    if short is not None:
        return short
    code = ord(char)
    if code < 0x80:
        return f"\\x{code:02x}"
    if 0xDC80 <= code <= 0xDCFF:  # os.fsdecode's surrogateescape of byte code - 0xDC00
        return f"\\x{code - 0xDC00:02x}"
    return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"


def info(message: str) -> None:
    write_lines([f"{PREFIX}: {message}"])


def warn(slug: str, message: str) -> None:
    """Warn once per slug; the slug is printed so users can search for it."""
    with _lock:
        if slug in _warned:
            return
        _warned.add(slug)
    write_lines([f"{PREFIX}: warning: {message} [{slug}]"])


def internal_error(exc: BaseException) -> None:
    """Our own bug, caught where it happened: say so once and let the application go on."""
    warn(
        "internal-error",
        f"import tracing hit an internal error ({type(exc).__name__}: {exc}); the application is "
        "unaffected and loaded modules are still recorded at shutdown. Please report this.",
    )


def after_fork_in_child() -> None:
    """The parent's lock may have been held by another of its threads at fork time."""
    global _lock
    _lock = threading.RLock()


def reset_for_tests() -> None:
    with _lock:
        _warned.clear()
