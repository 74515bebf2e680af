"""Any input of the reading side, told apart once by its bytes: a saved trace (OTLP JSON), a
JSON report, or a container log; each read by its reader."""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Any, List, Optional, Sequence, Tuple

from otel_import_tracer.reading import otlp
from otel_import_tracer.reading.files import InputError, decode_report, read_bytes
from otel_import_tracer.reading.logs import LogInput, parse_log
from otel_import_tracer.reading.records import Process
from otel_import_tracer.reading.report import parse_report_text

STDIN = "-"
STDIN_NAME = "<stdin>"


TRACE, REPORT, LOG = "trace", "report", "log"


@dataclasses.dataclass
class Input:
    """One input, read: the processes it holds as records (a report: its own; a saved trace: one
    per startup, and those seen only by their lazy loads; a container log: one per shutdown block)."""

    path: str
    kind: str  # TRACE, REPORT or LOG
    processes: List[Process]


def of_report(process: Process) -> Input:
    return Input(process.path, REPORT, [process])


def of_trace(path: str, processes: List[Process]) -> Input:
    return Input(path, TRACE, processes)


def kind_of(path: str, raw: bytes) -> str:
    """What an input is, told once from its bytes: a saved trace (OTLP JSON), a report (``.json``,
    or JSON content), or else a log."""
    if otlp.looks_like_otlp(raw):
        return TRACE
    return REPORT if path.endswith(".json") or _looks_like_report(raw) else LOG


def load_input(path: str, raw: bytes, problems: Optional[List[InputError]] = None) -> Input:
    """An input from its bytes, by its reader. Bad log lines go to ``problems`` when given, else raise."""
    kind = kind_of(path, raw)
    if kind == LOG:
        return _of_log(parse_log(raw.decode("utf-8", errors="replace").splitlines(), path, problems))
    return _from_text(kind, decode_report(raw, path), path)


def read_input(path: str, stdin: Any = None, problems: Optional[List[InputError]] = None) -> Input:
    """``load_input`` for a file name, or standard input for ``-``."""
    if path == STDIN:
        path = STDIN_NAME
        raw = read_bytes(path, stdin.buffer) if hasattr(stdin, "buffer") else stdin.read().encode("utf-8", "surrogateescape")
    else:
        raw = read_bytes(path)
    kind = kind_of(path, raw)
    if kind == LOG:
        return _of_log(parse_log(raw.decode("utf-8", errors="replace").splitlines(), path, problems))
    text = decode_report(raw, path)
    del raw  # one copy of the input at a time
    return _from_text(kind, text, path)


def _from_text(kind: str, text: str, path: str) -> Input:
    return of_trace(path, otlp.parse_otlp(text, path)) if kind == TRACE else of_report(parse_report_text(text, path))


def _of_log(log: LogInput) -> Input:
    return Input(log.path, LOG, log.processes)


def _looks_like_report(raw: bytes) -> bool:
    """JSON that is not a log of one JSON object per line (a truncated report counts as a report)."""
    text = raw.lstrip()
    if not text.startswith(b"{"):
        return False
    first_line = text.split(b"\n", 1)[0]
    try:
        head = json.loads(first_line)
    except (ValueError, RecursionError):  # nesting too deep is the report reader's to refuse, at its line
        return True
    return isinstance(head, dict) and "schema" in head



def read_inputs(paths: Sequence[str], stdin: Any, skip_bad: bool) -> Tuple[List[Input], List[InputError]]:
    """Every input that could be read, and the problems found. Without ``skip_bad`` a bad input is dropped whole."""
    inputs: List[Input] = []
    problems: List[InputError] = []
    for path in paths:
        found: List[InputError] = []
        try:
            loaded = read_input(path, stdin, found)
        except InputError as error:
            problems.append(error)
            continue
        problems.extend(found)
        if skip_bad or not found:
            inputs.append(loaded)
    return inputs, problems



def recorded_roots(inputs: Sequence[Input]) -> List[str]:
    """The roots the inputs say they were taken under, to default ``--root``."""
    roots = set()
    for item in inputs:
        roots.update(process.root for process in item.processes if process.root)
    return sorted(roots)



def expand_directories(paths: Sequence[str]) -> Tuple[List[str], str]:
    """The files given, each directory as the ``*.json`` and ``*.jsonl`` in it; or what is wrong."""
    files: List[str] = []
    for path in paths:
        if os.path.isdir(path):
            found = sorted(os.path.join(path, name) for name in os.listdir(path) if name.endswith((".json", ".jsonl")))
            if not found:
                return [], f"{path}: no *.json or *.jsonl file in this directory"
            files += found
        else:
            files.append(path)
    return files, ""


def choose_root(given: Optional[str], recorded: List[str]) -> Tuple[Optional[str], str]:
    """``--root``, else the one root the inputs recorded if it exists here; or why there is none."""
    if given:
        return (given, "") if os.path.isdir(given) else (None, f"--root {given}: not a directory")
    if len(recorded) == 1 and os.path.isdir(recorded[0]):
        return recorded[0], ""
    where = ", ".join(recorded) or "no root"
    return None, f"pass --root DIR, the local directory of the code (the inputs recorded {where}, not found here)"
