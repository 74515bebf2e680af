"""An input file's bytes and JSON, with the file and line of whatever is wrong with them.

Every reader of the reading side fails the same way: an ``InputError`` naming the file and the
line at fault. ``read_bytes`` refuses what is too large to be ours, ``parse_json`` refuses bad
JSON and values no input of ours holds, ``line_of`` finds the line of a value in valid JSON.
"""

from __future__ import annotations

import json
import math
import os
import re
import stat
from typing import Any, BinaryIO, Callable, Dict, NoReturn, Optional, Tuple, Union

JsonPath = Tuple[Union[str, int], ...]

class InputError(Exception):
    """A bad input file: where it is bad (``line`` None when no line applies) and why."""

    def __init__(self, path: str, line: Optional[int], message: str) -> None:
        super().__init__(path, line, message)
        self.path = path
        self.line = line
        self.message = message

    def __str__(self) -> str:
        where = self.path if self.line is None else f"{self.path}:{self.line}"
        return f"{where}: {self.message}"


MAX_INPUT_BYTES = 1 << 30
"""A report or log larger than this is refused: 1 GiB is about 4 million modules."""
_MAX_INT_DIGITS = 30  # nanoseconds since 1970 have 19; Python refuses past 4,300
_MAX_DEPTH = 100  # a report nests 3 deep; json.loads recurses, and fails past about 1,000


def read_bytes(path: str, stream: Optional[BinaryIO] = None) -> bytes:
    """The bytes of an input file (or of ``stream``), refused past ``MAX_INPUT_BYTES``."""
    try:
        if stream is None:
            with open(path, "rb") as opened:
                return read_bytes(path, opened)
        return _read_at_most(stream, path)
    except OSError as exc:
        raise InputError(path, None, f"cannot read: {exc.strerror or exc}") from None


def _read_at_most(stream: BinaryIO, path: str) -> bytes:
    """All of ``stream``: a regular file by its size, a pipe a megabyte at a time (``read(limit)``
    would allocate the whole limit up front)."""
    too_large = InputError(path, None, f"larger than {MAX_INPUT_BYTES >> 20} MB: not a report or log of this tool (or split it)")
    try:
        status = os.fstat(stream.fileno())
    except (OSError, AttributeError, ValueError):  # io.BytesIO and the like
        status = None
    if status is not None and stat.S_ISREG(status.st_mode):
        if status.st_size > MAX_INPUT_BYTES:
            raise too_large
        return stream.read()
    data = bytearray()
    while True:
        chunk = stream.read(1 << 20)
        if not chunk:
            return bytes(data)
        data += chunk
        if len(data) > MAX_INPUT_BYTES:
            raise too_large



def parse_json(text: str, path: str, first_line: int = 1, object_hook: Optional[Callable[[Dict[str, Any]], Any]] = None) -> Any:
    """``json.loads`` of an input: bad JSON, a value no input of ours holds (``NaN``,
    ``Infinity``, a number too large) and nesting deeper than json reads are each one
    ``InputError`` at their line (``first_line``: the line of the file ``text`` starts at)."""
    try:
        return json.loads(text, parse_int=_parse_int, parse_float=_parse_float, parse_constant=_parse_constant, object_hook=object_hook)
    except json.JSONDecodeError as err:
        raise InputError(path, first_line - 1 + err.lineno, _json_problem(err, text)) from None
    except _Refused as refused:
        raise InputError(path, first_line - 1 + refused.line_in(text), refused.message) from None
    except RecursionError:
        raise InputError(path, first_line - 1 + _too_deep_at(text), f"JSON nested more than {_MAX_DEPTH} deep: not an input of this tool") from None


class _Refused(Exception):
    """A JSON value no report holds (``NaN``, ``Infinity``, a number too large); found again by its text."""

    def __init__(self, token: str, message: str) -> None:
        super().__init__(message)
        self.token = token
        self.message = message

    def line_in(self, text: str) -> int:
        found = re.search(r"[\[:,]\s*" + re.escape(self.token) + r"(?![\w.])", text)
        return text.count("\n", 0, found.end()) + 1 if found else 1


def _parse_int(token: str) -> int:
    if len(token) > _MAX_INT_DIGITS:
        raise _Refused(token, f"an integer of {len(token)} digits: no field of a report is that large")
    return int(token)


def _parse_float(token: str) -> float:
    value = float(token)
    if not math.isfinite(value):
        raise _Refused(token, f"the number {token[:40]} is too large: no field of a report is that large")
    return value


def _parse_constant(token: str) -> NoReturn:
    raise _Refused(token, f"{token} is not a number a report holds (JSON has no NaN or Infinity)")


# Values every module entry repeats: one string object for all, not one per entry (a
# 441,000-module report holds the same thread name, source and importers that many times).
_TOKENS = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{}]')


def _too_deep_at(text: str) -> int:
    """The line where the nesting first passes ``_MAX_DEPTH``, strings skipped."""
    depth = 0
    for token in _TOKENS.finditer(text):
        mark = token.group()
        if mark in "[{":
            depth += 1
            if depth > _MAX_DEPTH:
                return text.count("\n", 0, token.start()) + 1
        elif mark in "]}":
            depth -= 1
    return 1


def decode_report(raw: bytes, path: str) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as err:
        line = raw.count(b"\n", 0, err.start) + 1
        raise InputError(path, line, "not UTF-8 text: this is not a JSON report") from None


def _json_problem(err: json.JSONDecodeError, text: str) -> str:
    end = text.rstrip()
    if err.pos >= len(end) or not end.endswith("}"):
        return "the JSON ends early: the file is truncated (an incomplete copy, or a full disk)"
    return f"not valid JSON: {err.msg} (column {err.colno})"



# -- line numbers of values, for error messages -----------------------------------------

_decoder = json.JSONDecoder()
_SPACE = re.compile(r"[ \t\n\r]*")


def line_of(text: str, at: JsonPath) -> int:
    """The line of the value at ``at`` (keys and indexes) in valid JSON ``text``, or of its deepest parent found."""
    position = _skip_space(text, 0)
    try:
        for step in at:
            found = _child(text, position, step)
            if found is None:
                break
            position = found
    except (ValueError, IndexError, RecursionError):  # cannot happen for text json.loads accepted; stay safe
        pass
    return text.count("\n", 0, position) + 1


def _child(text: str, position: int, step: Union[str, int]) -> Optional[int]:
    opener = text[position]
    if (opener, type(step)) not in (("{", str), ("[", int)):
        return None
    closer = "}" if opener == "{" else "]"
    position = _skip_space(text, position + 1)
    index = 0
    while text[position] != closer:
        if opener == "{":
            key, position = _decoder.raw_decode(text, position)
            position = _skip_space(text, _skip_space(text, position) + 1)  # past the colon
        else:
            key, index = index, index + 1
        if key == step:
            return position
        _, position = _decoder.raw_decode(text, position)
        position = _skip_space(text, position)
        if text[position] == ",":
            position = _skip_space(text, position + 1)
    return None


def _skip_space(text: str, position: int) -> int:
    match = _SPACE.match(text, position)
    return match.end() if match else position


