"""The readers of reports and logs, fuzzed: whatever the bytes, a result or one clear error.

A report is a file anyone can edit, truncate or fill with a full disk's garbage; a container
log holds every line the application and its access log printed. Whatever they hold, the
readers return an ``Input`` of records, a log's one process per block (which the audit, its text and JSON output and
the page then take without fail) or raise one ``InputError`` naming the file and a line of it,
in bounded time: never another exception, never a hang. And in a log, only the tracer's own
blocks count: no other line, wherever it sits and whatever it holds, adds a file or a module.

``HYPOTHESIS_PROFILE=long`` runs 20,000 examples per test instead of the CI's 120.
"""

from __future__ import annotations

import base64
import json
import math
import re
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from otel_import_tracer.reading.audit import audit
from otel_import_tracer.reading.files import InputError
from otel_import_tracer.reading.records import Process
from otel_import_tracer.reading.logs import _decoration
from otel_import_tracer.reading.render.audit import format_json, format_text
from otel_import_tracer.reading.render.page import render
from otel_import_tracer.reading.sources import LOG, REPORT, TRACE, Input, load_input
from otel_import_tracer.logs import FILE_PREFIX, MODULE_PREFIX, ascii_escaped, shutdown_lines, unescape
from otel_import_tracer.report import SCHEMA, SCHEMA_VERSION, dumps

pytestmark = [pytest.mark.collector_independent, pytest.mark.python_independent]  # the reading side

SECONDS_PER_EXAMPLE = 5.0
FILES = ("__init__.py", "main.py", "api/__init__.py", "api/routes.py", "models.py")


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A checkout the reports' modules come from, so the audit and the page do their real work."""
    tree = tmp_path_factory.mktemp("checkout") / "src"
    for name in FILES + ("never.py",):
        (tree / name).parent.mkdir(parents=True, exist_ok=True)
        (tree / name).write_text("")
    return str(tree)


MODULES = ("src", "src.main", "src.api", "src.api.routes", "src.models")


def document(root: str) -> Dict[str, Any]:
    modules = [
        {
            "name": name,
            "file": f"{root}/{file}",
            "offset_ms": 1.5 * index,
            "duration_ms": 0.25 if index else None,
            "importer": "src.main" if index > 1 else None,
            "thread": "MainThread",
            "preloaded": index == 0,
            "lazy": index == 4,
            "source": "import",
        }
        for index, (name, file) in enumerate(zip(MODULES, FILES))
    ]
    failure = {
        "name": "src.gone",
        "importer": "src.main",
        "importer_file": f"{root}/main.py",
        "line": 3,
        "exception_type": "ModuleNotFoundError",
        "message": "No module named 'src.gone'",
        "offset_ms": 2.0,
        "thread": "MainThread",
        "lazy": False,
    }
    return {
        "schema": SCHEMA,
        "schema_version": SCHEMA_VERSION,
        "service": "api",
        "host": "web-1",
        "pid": 4242,
        "python": "3.11.9",
        "root": root,
        "collector": "importhook",
        "trace_id": "ab" * 16,
        "status": "stopped",
        "started_at": "2026-12-01T10:00:00.000000Z",
        "started_unix_ns": 1_796_000_000_000_000_000,
        "startup_complete_ms": 12.5,
        "modules": modules,
        "failed_imports": [failure],
    }


def assert_one_clear_error(error: InputError, path: str, raw: bytes) -> None:
    assert error.path == path
    assert error.line is None or 1 <= error.line <= raw.count(b"\n") + 1, (error.line, raw.count(b"\n"))
    assert str(error).startswith(f"{path}:") and error.message.strip()


def use(report_or_log: Any, root: str) -> None:
    """What the CLI does with an input it read: the audit, its outputs, and (a report) the page."""
    result = audit([report_or_log], root)
    format_text(result).encode("utf-8")
    format_json(result).encode("utf-8")
    if report_or_log.kind != LOG:  # ``report --html`` takes a report (a log's processes have no header to show)
        for process in report_or_log.processes:
            render(process, result, "a note").encode("utf-8")


def read(raw: bytes, path: str, root: str, problems: Optional[List[InputError]] = None) -> Any:
    """``load_input`` then ``use``, bounded in time; an ``InputError`` is returned, checked."""
    started = time.monotonic()
    try:
        got = load_input(path, raw, problems)
    except InputError as error:
        assert_one_clear_error(error, path, raw)
        got = error
    else:
        assert isinstance(got, Input) and all(isinstance(process, Process) for process in got.processes)
        use(got, root)
    for problem in problems or ():
        assert_one_clear_error(problem, path, raw)
    assert time.monotonic() - started < SECONDS_PER_EXAMPLE
    return got


# --- reports: a valid one, mutated ----------------------------------------------------------

# What a hostile or broken report puts where a value was: every row of the table, and
# every JSON type in a field of another.
HOSTILE_TOKENS = [
    b"Infinity", b"-Infinity", b"NaN", b"1e400", b"-1e400", b"1e-400", b"9" * 5000, b"-" + b"9" * 31, b"9" * 30,
    b"[" * 100_000, b"{\"a\":" * 2000, b"[" * 1000 + b"]" * 1000, b"null", b"true", b"[]", b"{}", b'""', b'"\\ud800"',
    b'"\\u0000"', b'"\x1b]0;title\x07"', b"\xff\xfe", b"\xed\xa0\x80", b"\xc3", b"\x00", b"\n", b",", b":", b'"', b"\\",
]
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(st.characters(blacklist_categories=())),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3),
    max_leaves=8,
)


@st.composite
def byte_mutations(draw: Any, raw: bytes) -> bytes:
    """Bytes flipped, cut out or inserted (hostile tokens often), or the file cut short."""
    data = bytearray(raw)
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(data)))
        kind = draw(st.sampled_from(["flip", "cut", "insert", "replace-number", "truncate"]))
        if kind == "flip" and at < len(data):
            data[at] = draw(st.integers(0, 255))
        elif kind == "cut":
            del data[at : at + draw(st.integers(1, 64))]
        elif kind == "insert":
            data[at:at] = draw(st.sampled_from(HOSTILE_TOKENS) | st.binary(min_size=1, max_size=8))
        elif kind == "replace-number":
            numbers = list(re.finditer(rb"-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?", bytes(data)))
            if numbers:
                number = draw(st.sampled_from(numbers))
                data[number.start() : number.end()] = draw(st.sampled_from(HOSTILE_TOKENS))
        elif kind == "truncate":
            del data[at:]
    return bytes(data)


# Values json.dumps cannot write, put in by their text: nesting deeper than json.loads reads
# (100,000: past every Python's limit), and more digits than int() takes (4,300).
RAW_VALUES = {"\x00deep": "[" * 100_000 + "]" * 100_000, "\x00digits": "9" * 5000}
REFUSED = [float("inf"), float("-inf"), float("nan"), 10**40, -(10**30), *RAW_VALUES]


def refused(value: Any) -> bool:
    """Whether a value holds a number no report holds: non-finite, or an integer past 30 digits."""
    if isinstance(value, str):
        return value in RAW_VALUES
    if isinstance(value, float):
        return not math.isfinite(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return len(str(value)) > 30
    if isinstance(value, dict):
        return any(refused(item) for item in value.values())
    return isinstance(value, list) and any(refused(item) for item in value)


@st.composite
def field_mutations(draw: Any, data: Dict[str, Any]) -> Tuple[bytes, bool]:
    """One field of the header, a module or the failure given a value of any JSON type, or
    removed; and whether the value is one the reader must refuse."""
    data = json.loads(json.dumps(data))
    target = draw(st.sampled_from(["header", "module", "failure"]))
    entry = data if target == "header" else (data["modules"][draw(st.integers(0, len(FILES) - 1))] if target == "module" else data["failed_imports"][0])
    key = draw(st.sampled_from(sorted(entry)))
    value = draw(json_values | st.sampled_from(REFUSED))
    if draw(st.integers(0, 3)):
        entry[key] = value
    else:
        del entry[key]
        value = None
    indent = draw(st.sampled_from([None, 2]))
    text = json.dumps(data, indent=indent, allow_nan=True)
    for sentinel, raw in RAW_VALUES.items():
        text = text.replace(json.dumps(sentinel), raw)
    return text.encode("utf-8"), refused(value)


@given(data=st.data())
def test_any_damage_to_a_report_reads_as_a_report_or_one_error_at_a_line(root: str, data: Any) -> None:
    raw = data.draw(byte_mutations(dumps(document(root)).encode("utf-8")))
    got = read(raw, "damaged.json", root)
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:  # a report is UTF-8 JSON: other bytes are refused, not guessed at
        assert isinstance(got, InputError) and "UTF-8" in got.message


@given(data=st.data())
def test_any_value_in_any_field_of_a_report_reads_as_a_report_or_one_error_at_a_line(root: str, data: Any) -> None:
    raw, must_refuse = data.draw(field_mutations(document(root)))
    got = read(raw, "edited.json", root)
    if isinstance(got, InputError):
        assert got.line is not None  # the field is in the file: its line is named
    if must_refuse:  # NaN, Infinity, 10**40: refused wherever they are, extra fields too
        assert isinstance(got, InputError), raw


def test_the_undamaged_report_reads(root: str) -> None:
    # The fuzzing above starts from a report the reader takes (else it would only test refusals).
    got = read(dumps(document(root)).encode("utf-8"), "valid.json", root)
    assert got.kind == REPORT and len(got.processes[0].modules) == len(FILES)


@given(data=st.data())
def test_any_damage_to_a_trace_file_reads_as_its_processes_or_one_error_at_a_line(root: str, data: Any) -> None:
    from tests.test_trace_inputs import a_line

    lines = [a_line(), a_line(trace_id=base64.b64encode(bytes(16)).decode())]
    raw = data.draw(byte_mutations(("\n".join(lines) + "\n").encode("utf-8")))
    read(raw, "traces.jsonl", root)


def test_the_undamaged_trace_file_reads(root: str) -> None:
    from tests.test_trace_inputs import a_line

    got = read((a_line() + "\n" + a_line() + "\n").encode("utf-8"), "traces.jsonl", root)
    assert got.kind == TRACE and [len(process.modules) for process in got.processes] == [1, 1]


# --- logs: the tracer's blocks among everyone else's lines -----------------------------------

LINE_BREAKS = "\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029"  # str.splitlines splits at each
one_line = st.text(st.characters(blacklist_categories=(), blacklist_characters=LINE_BREAKS), max_size=30)
# What the log's transport puts before each line; a timestamp's digits change from line to line.
DECORATIONS = ["", "app-1  | ", "[pod/app-7c9d5/app] ", "2026-12-01T10:00:{n:02d}.{n}Z ", "Dec 01 10:00:{n:02d} host app[4242]: "]
identifiers = st.from_regex(r"[a-z_][a-z0-9_]{0,8}", fullmatch=True)


@st.composite
def blocks(draw: Any) -> Tuple[str, List[str], List[str], List[str]]:
    """(decoration, its block's lines, the files and the modules they list)."""
    names = draw(st.lists(identifiers, max_size=5, unique=True))
    files = [f"/app/src/{name}.py" for name in names]
    modules = ["src." + name for name in names]
    decoration = draw(st.sampled_from(DECORATIONS))
    lines = [decoration.format(n=n % 60) + line for n, line in enumerate(shutdown_lines("/app/src", files, modules, pid=draw(st.integers(1, 99999))))]
    return decoration, lines, sorted(set(files)), sorted(set(modules))


@st.composite
def foreign_lines(draw: Any, decoration: str) -> str:
    """Someone else's line naming a file or module: under another decoration than the block's."""
    other = draw(one_line.filter(lambda text: "LOADED_" not in text))
    assume(_decoration(other, len(other)) != _decoration(decoration.format(n=0), len(decoration.format(n=0))))
    prefix = draw(st.sampled_from([FILE_PREFIX, MODULE_PREFIX]))
    value = draw(st.sampled_from(["/app/src/x.py", "src.x", "/app/src/x.py HTTP/1.1\" 200", ""]) | one_line)
    return other + prefix + value


@given(data=st.data())
def test_only_the_tracers_own_block_counts_whatever_lines_surround_it(root: str, data: Any) -> None:
    decoration, block, files, modules = data.draw(blocks())
    lines = list(block)
    for _ in range(data.draw(st.integers(0, 6))):
        line = data.draw(foreign_lines(decoration) | one_line.filter(lambda text: "LOADED_" not in text and "Stopping runtime" not in text))
        lines.insert(data.draw(st.integers(0, len(lines))), line)
    for _ in range(data.draw(st.integers(0, 2))):  # under the block's own decoration, but outside it
        line = decoration.format(n=0) + data.draw(st.sampled_from([FILE_PREFIX + "/app/src/x.py", MODULE_PREFIX + "src.x"]))
        lines.insert(data.draw(st.sampled_from([0, len(lines)])), line)
    raw = "\n".join(lines).encode("utf-8", "surrogatepass")
    problems: List[InputError] = []
    got = read(raw, "app.log", root, problems)
    assert problems == []
    if files:
        assert got.kind == LOG and (_log_files(got), _log_modules(got)) == (files, modules), lines


# Any name a file system or a module can have: every code point, lone surrogates (a file name
# that is not UTF-8) included, the hostile ones and backslashes often.
any_name = st.lists(
    st.characters(blacklist_categories=())
    | st.sampled_from(list(LINE_BREAKS + "\\\x1b\x00\x7f\x9b\u202e\udcff\ud800 \u3000"))
    | st.sampled_from([FILE_PREFIX, MODULE_PREFIX, "\\x1b", "\\u00e9", "Total unique ", "Stopping runtime file tracing..."]),
    min_size=1, max_size=12,
).map("".join)


@given(names=st.lists(any_name, min_size=1, max_size=6), decoration=st.sampled_from(DECORATIONS), root=st.sampled_from(["/app/src", "/srv/my app/src\u00e9", "/x/s\nrc"]), ascii=st.booleans())
def test_any_name_the_writer_prints_reads_back_exactly_in_one_line_each(names: List[str], decoration: str, root: str, ascii: bool) -> None:
    # Writer to reader: every file and module, whatever its code points, is one line that reads
    # back to exactly that name (an ASCII stdout gets escapes, not an error), and no other line.
    package = root.rsplit("/", 1)[1]
    files = [f"{root}/{name}.py" for name in names]
    modules = [f"{package}.{name}" for name in names]
    lines = [ascii_escaped(line) if ascii else line for line in shutdown_lines(root, files, modules, pid=42)]
    assert len(lines) == 3 + 2 * len(set(names))
    raw = "\n".join(decoration.format(n=n % 60) + line for n, line in enumerate(lines)).encode("ascii" if ascii else "utf-8")  # strict: no surrogate left
    assert not any(char in line for line in lines for char in LINE_BREAKS)
    got = load_input("app.log", raw)
    (process,) = got.processes
    assert (_log_files(got), _log_modules(got), process.root) == (sorted(set(files)), sorted(set(modules)), root), lines


HOSTILE_LINES = [
    "Stopping runtime file tracing... (pid 1)", "Stopping runtime file tracing...", "Total unique /app/src/*.py files loaded: 3",
    "Total unique /app/src/*.py files loaded: " + "9" * 5000, "Total unique src.* modules loaded: 2", "Total unique " * 5000,
    FILE_PREFIX, FILE_PREFIX + "relative.py", FILE_PREFIX + "/app/src/x.pyc", MODULE_PREFIX + "1bad", MODULE_PREFIX + "a..b",
    FILE_PREFIX + "/app/src/\x1b[2J.py", "\x00" * 100, "\ud800", "{\"schema\": \"x\"}", "x" * 100_000,
]


@given(data=st.data())
def test_any_damage_to_a_log_reads_as_its_loads_or_errors_at_their_lines(root: str, data: Any) -> None:
    lines: List[str] = []
    for _ in range(data.draw(st.integers(1, 3))):
        lines += data.draw(blocks())[1]
    for _ in range(data.draw(st.integers(1, 6))):
        at = data.draw(st.integers(0, len(lines)))
        kind = data.draw(st.sampled_from(["insert", "delete", "cut", "duplicate"]))
        if kind == "insert":
            lines.insert(at, data.draw(st.sampled_from(HOSTILE_LINES) | one_line))
        elif at < len(lines) and kind == "delete":
            del lines[at]
        elif at < len(lines) and kind == "cut":
            lines[at] = lines[at][: data.draw(st.integers(0, len(lines[at])))]
        elif at < len(lines):
            lines.insert(at, lines[at])
    raw = "\n".join(lines).encode("utf-8", "surrogatepass")
    decoded = raw.decode("utf-8", "replace").splitlines()
    named = {unescape(line[line.find(prefix) + len(prefix) :].strip()) for line in decoded for prefix in (FILE_PREFIX, MODULE_PREFIX) if prefix in line}
    for problems in (None, []):  # raised at the first bad line, or each collected (--skip-bad)
        got = read(raw, "damaged.log", root, problems)
        if isinstance(got, Input) and got.kind == LOG:
            assert set(_log_files(got)) | set(_log_modules(got)) <= named  # nothing counted that no line named


def test_a_log_is_refused_past_its_size_without_reading_it_all(tmp_path: Path) -> None:
    # Bounded memory: the size is checked before reading (a sparse file costs no disk here).
    from otel_import_tracer.reading.files import MAX_INPUT_BYTES
    from otel_import_tracer.reading.sources import read_input

    huge = tmp_path / "huge.log"
    with open(huge, "wb") as out:
        out.truncate(MAX_INPUT_BYTES + 1)
    with pytest.raises(InputError, match="larger than 1024 MB"):
        read_input(str(huge))


def _log_files(got: Input) -> List[str]:
    """The files of a log's process records (each block's records: its file lines, its module lines)."""
    return sorted(record.file for process in got.processes for record in process.modules if record.file)


def _log_modules(got: Input) -> List[str]:
    return sorted(record.name for process in got.processes for record in process.modules if record.name)
