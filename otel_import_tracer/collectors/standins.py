"""Stand-ins: functions of ours that take the place of an import-machinery function one for one.

A wrapper around ``exec_module`` or ``runpy._run_code`` is one more frame between the
application's frames: one frame less of recursion headroom per import level, and a frame of
the tracer in every traceback that passes through it. A stand-in does the work of the
function it replaces itself (the same calls, so the same frames below it) and is shown under
that function's file name, name and line numbers: the interpreter trims it from import
tracebacks as it trims the original (``remove_importlib_frames`` in ``Python/import.c``
matches frames by file name), and a traceback through it reads exactly as one through the
original. ``frames.importer_frame`` skips it for the same reason.
"""

from __future__ import annotations

from types import CodeType, FunctionType
TYPE_CHECKING = False  # typing is not imported at run time: the app would find it already paid for
if TYPE_CHECKING:
    from typing import Any, Callable, List, Sequence


def code_lines(code: CodeType) -> List[int]:
    """The line numbers of ``code``'s instructions (Python 3.9: from ``co_lnotab``)."""
    if hasattr(code, "co_lines"):
        return [line for _, _, line in code.co_lines() if line is not None]
    lines, line, table = [code.co_firstlineno], code.co_firstlineno, code.co_lnotab
    for index in range(1, len(table), 2):
        line += table[index] - 256 if table[index] >= 128 else table[index]
        lines.append(line)
    return lines


def take_place_of(function: Callable[..., Any], original: Callable[..., Any], ours: Sequence[int], theirs: Sequence[int]) -> None:
    """Show ``function`` as ``original``: its file name, its name, and the lines ``ours`` (counted
    from ``function``'s ``def`` line) at ``original``'s lines ``theirs``. The last pair is the call
    that runs the application's code; when the others do not fit (a Python whose function is laid
    out differently) that one still does."""
    assert isinstance(function, FunctionType)
    code, model = function.__code__, original.__code__  # type: ignore[attr-defined]
    changes = {"co_filename": model.co_filename, "co_name": model.co_name,
               "co_firstlineno": max(1, theirs[-1] - ours[-1])}
    if hasattr(model, "co_qualname"):  # Python 3.11+
        changes["co_qualname"] = model.co_qualname
    function.__code__ = code.replace(**changes)


def disguise(function: Callable[..., Any], filename: str) -> None:
    """Give the functions defined inside ``function`` (the wrappers it returns) ``filename``."""
    assert isinstance(function, FunctionType)
    code = function.__code__
    consts = tuple(const.replace(co_filename=filename) if isinstance(const, CodeType) else const for const in code.co_consts)
    function.__code__ = code.replace(co_consts=consts)
