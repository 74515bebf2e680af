"""The JSON report: what it holds, atomic writes, strict reading with file and line, merging, kills."""

from __future__ import annotations

import importlib
import json
import os
import re
import signal
import stat
import subprocess
import sys
import threading
import types
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import pytest

from otel_import_tracer import mark_startup_complete, start_tracing, stop_tracing
from otel_import_tracer.config import Config
from otel_import_tracer.naming import SourceRoot
from otel_import_tracer.registry import SOURCE_IMPORT, Registry
from otel_import_tracer.report import (
    SCHEMA,
    SCHEMA_VERSION,
    Snapshot,
    build_document,
    dumps,
    write_document,
    write_report,
)
from otel_import_tracer.reading.files import InputError, line_of
from otel_import_tracer.reading.merge import merge
from otel_import_tracer.reading.records import Module
from otel_import_tracer.reading.report import parse_report, read_report
from tests.conftest import SourceTree
from tests.support import demo_graph
from tests.support.servers import start_demo

# -- a session without hooks: a registry filled by hand ----------------------------------


def fake_session(root: Path, report: Optional[str] = None, running: bool = False) -> Any:
    """What ``write_session_report`` reads from a ``TracingSession``, with loads recorded by hand."""
    source_root = SourceRoot(str(root))
    registry = Registry(source_root)
    return types.SimpleNamespace(
        config=Config(enabled=True, root=str(root), report=report),
        registry=registry,
        root=source_root,
        collector="importhook",
        running=running,
    )


def snapshot(session: Any) -> Snapshot:
    return Snapshot.of(session.registry, session.collector, session.running, getattr(session, "role", None))


def write_session_report(session: Any, trace_id: Optional[str] = None) -> Optional[str]:
    """As a session writes its report: the path claimed at the first write kept for the next. The path written, or None."""
    written = write_report(lambda: snapshot(session), session.config, getattr(session, "report_path", None), trace_id)
    session.report_path = written.claimed
    return written.path


def record(session: Any, relative: str, parent: Optional[str] = None, thread: str = "MainThread") -> None:
    path = os.path.join(session.root.root, relative)
    name = session.root.classify(path)[1]
    load = session.registry.begin_load(path, name, parent, thread, SOURCE_IMPORT)
    session.registry.end_load(load)


def filled_session(tmp_path: Path, report: Optional[str] = None) -> Any:
    session = fake_session(tmp_path / "src", report)
    preloaded = types.ModuleType("src")
    preloaded.__file__ = str(tmp_path / "src" / "__init__.py")
    session.registry.sweep({"src": preloaded}, preloaded=True)
    record(session, "main.py", parent="uvicorn.importer")
    record(session, "models/__init__.py", parent="src.main")
    record(session, "workers/loader.py", parent="src.main", thread="cache-warmer")
    session.registry.add_failure(
        "fastcache_client", "src.main", str(tmp_path / "src" / "main.py"), 3, "ModuleNotFoundError", "No module named 'fastcache_client'", "MainThread"
    )
    session.registry.mark_startup_complete()
    record(session, "reports/pdf.py", parent="src.main")
    return session


def valid_report_text(tmp_path: Path) -> str:
    return dumps(build_document(snapshot(filled_session(tmp_path)), trace_id="ab" * 16))


def test_the_document_holds_the_process_and_every_module(tmp_path: Path) -> None:
    document = build_document(snapshot(filled_session(tmp_path)), trace_id="ab" * 16)
    assert document["schema"] == SCHEMA and document["schema_version"] == SCHEMA_VERSION
    assert document["pid"] == os.getpid() and document["host"] and document["python"].count(".") == 2
    assert document["root"] == str(tmp_path / "src") and document["collector"] == "importhook"
    assert document["trace_id"] == "ab" * 16 and document["status"] == "stopped"
    assert document["started_at"].endswith("Z") and isinstance(document["started_unix_ns"], int)
    assert document["startup_complete_ms"] >= 0
    modules = {entry["name"]: entry for entry in document["modules"]}
    assert list(modules) == ["src", "src.main", "src.models", "src.workers.loader", "src.reports.pdf"]
    assert modules["src"]["preloaded"] and modules["src"]["duration_ms"] is None
    assert modules["src.models"]["importer"] == "src.main" and modules["src.models"]["duration_ms"] >= 0
    assert modules["src.workers.loader"]["thread"] == "cache-warmer"
    assert modules["src.reports.pdf"]["lazy"] and not modules["src.main"]["lazy"]
    assert modules["src.reports.pdf"]["offset_ms"] >= document["startup_complete_ms"]
    (failure,) = document["failed_imports"]
    assert failure["name"] == "fastcache_client" and failure["line"] == 3 and failure["exception_type"] == "ModuleNotFoundError"


def test_the_service_name_comes_from_the_otel_variables(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OTEL_SERVICE_NAME", raising=False)
    monkeypatch.setenv("OTEL_RESOURCE_ATTRIBUTES", "deployment.environment.name=staging, service.name=orders")
    assert build_document(snapshot(fake_session(tmp_path)))["service"] == "orders"
    monkeypatch.setenv("OTEL_SERVICE_NAME", "billing")
    assert build_document(snapshot(fake_session(tmp_path)))["service"] == "billing"


def test_the_layout_is_one_module_per_line_and_reads_back_equal(tmp_path: Path) -> None:
    text = valid_report_text(tmp_path)
    lines = text.splitlines()
    module_lines = [line for line in lines if line.startswith('    {"name": ')]
    assert len(module_lines) == 5 + 1  # five modules and one failed import
    assert json.loads(text) == parse_report(text.encode(), "r.json").document()


def test_write_session_report_fills_pid_and_leaves_no_temporary_file(tmp_path: Path) -> None:
    session = filled_session(tmp_path, report=str(tmp_path / "out" / "report-{pid}.json"))
    path = write_session_report(session, trace_id=None)
    assert path == str(tmp_path / "out" / f"report-{os.getpid()}.json")
    assert read_report(path).header["pid"] == os.getpid()
    assert os.listdir(tmp_path / "out") == [os.path.basename(path)]


def test_write_session_report_without_a_path_writes_nothing(tmp_path: Path) -> None:
    assert write_session_report(filled_session(tmp_path)) is None
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_an_unwritable_report_path_warns_once_and_never_raises(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "a-file").write_text("")
    session = filled_session(tmp_path, report=str(tmp_path / "a-file" / "report.json"))
    assert write_session_report(session) is None
    assert write_session_report(session) is None
    err = capsys.readouterr().err
    assert err.count("[report-failed]") == 1
    assert str(tmp_path / "a-file" / "report.json") in err and "IMPORT_TRACING_REPORT" in err


def test_readers_never_see_a_partial_report_while_it_is_rewritten(tmp_path: Path) -> None:
    document = build_document(snapshot(filled_session(tmp_path)))
    document["modules"] = document["modules"] * 400  # big enough that a plain write is not one syscall
    path = str(tmp_path / "report.json")
    write_document(document, path)
    stop = threading.Event()

    def rewrite() -> None:
        while not stop.is_set():
            write_document(document, path)

    writer = threading.Thread(target=rewrite)
    writer.start()
    try:
        for _ in range(50):
            assert len(read_report(path).modules) == 2000
    finally:
        stop.set()
        writer.join()
    assert os.listdir(tmp_path) == ["report.json"]


# -- strict reading -----------------------------------------------------------------------


def bad(tmp_path: Path, text: str, name: str = "report.json") -> InputError:
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(InputError) as caught:
        read_report(str(path))
    assert caught.value.path == str(path)
    return caught.value


def test_malformed_json_names_the_line(tmp_path: Path) -> None:
    lines = valid_report_text(tmp_path).splitlines()
    lines[18] = lines[18].replace('"file": ', '"file" ')  # a module line, missing its colon
    error = bad(tmp_path, "\n".join(lines))
    assert error.line == 19 and "not valid JSON" in error.message
    assert str(error).startswith(f"{tmp_path / 'report.json'}:19: ")


def test_a_truncated_report_says_so(tmp_path: Path) -> None:
    text = valid_report_text(tmp_path)
    cut = text[: len(text) // 2]
    error = bad(tmp_path, cut)
    assert "truncated" in error.message and error.line == cut.count("\n") + 1


def test_an_empty_report_says_the_process_may_have_died_early(tmp_path: Path) -> None:
    error = bad(tmp_path, "  \n")
    assert error.line == 1 and "empty" in error.message


@pytest.mark.parametrize(
    "version, expected",
    [(3, "newer than this otel-import-tracer"), (0, "not supported"), ("1", "not supported"), ("2", "not supported")],
)
def test_another_schema_version_is_refused_at_its_line(tmp_path: Path, version: Any, expected: str) -> None:
    document = json.loads(valid_report_text(tmp_path))
    document["schema_version"] = version
    error = bad(tmp_path, dumps(document))
    assert error.line == 3 and expected in error.message


def test_a_bad_dependency_entry_is_refused_at_its_line_and_version_1_has_none(tmp_path: Path) -> None:
    document = json.loads(valid_report_text(tmp_path))
    entry = {"name": "fastapi", "importer": "src.main", "importer_file": "/app/src/main.py", "line": 3, "offset_ms": 1.0,
             "duration_ms": 2.0, "thread": "MainThread", "lazy": False, "distribution": "fastapi", "version": "0.115.0"}
    document["dependencies"] = [entry, {**entry, "name": "pydantic", "line": "three"}]
    error = bad(tmp_path, dumps(document))
    assert error.message == 'dependencies[1].line should be an integer or null, not "three"'
    assert dumps(document).splitlines()[error.line - 1].lstrip().startswith('{"name": "pydantic"')
    document["dependencies"] = {"fastapi": 2.0}
    assert "dependencies should be a list" in bad(tmp_path, dumps(document)).message
    document["schema_version"] = 1
    del document["dependencies"]
    path = tmp_path / "v1.json"
    path.write_text(dumps(document))
    assert read_report(str(path)).dependencies == []


def test_json_that_is_not_a_report_is_named_as_such(tmp_path: Path) -> None:
    assert "not an otel-import-tracer report" in bad(tmp_path, '[1, 2]\n').message
    assert "not an otel-import-tracer report" in bad(tmp_path, '{"resourceSpans": []}\n').message


def test_a_wrong_field_type_names_the_entry_and_its_line(tmp_path: Path) -> None:
    document = json.loads(valid_report_text(tmp_path))
    document["modules"][2]["lazy"] = "yes"
    text = dumps(document)
    error = bad(tmp_path, text)
    assert error.line == text.splitlines().index(next(l for l in text.splitlines() if '"lazy": "yes"' in l)) + 1
    assert "modules[2].lazy should be true or false" in error.message


def test_a_missing_field_and_a_non_object_entry_are_named(tmp_path: Path) -> None:
    document = json.loads(valid_report_text(tmp_path))
    del document["failed_imports"][0]["exception_type"]
    assert "failed_imports[0] has no 'exception_type' field" in bad(tmp_path, dumps(document)).message
    document = json.loads(valid_report_text(tmp_path))
    document["modules"][0] = "src"
    assert "modules[0] should be a JSON object" in bad(tmp_path, dumps(document)).message
    document = json.loads(valid_report_text(tmp_path))
    document["pid"] = True
    assert "pid should be an integer" in bad(tmp_path, dumps(document)).message


def test_bytes_that_are_not_utf8_and_missing_files_are_input_errors(tmp_path: Path) -> None:
    path = tmp_path / "binary.json"
    path.write_bytes(b'{\n"schema": "\xff\xfe"\n}')
    with pytest.raises(InputError) as caught:
        read_report(str(path))
    assert caught.value.line == 2
    with pytest.raises(InputError, match="cannot read"):
        read_report(str(tmp_path / "nope.json"))


def test_line_of_finds_nested_values_in_compact_and_pretty_json() -> None:
    pretty = '{\n  "a": 1,\n  "b": [\n    {"x": 1},\n    {"x": 2, "y": [3,\n 4]}\n  ]\n}'
    assert line_of(pretty, ("b", 1, "y", 1)) == 6
    assert line_of(pretty, ("b", 0)) == 4
    assert line_of(pretty, ("missing",)) == 1
    assert line_of('{"a": {"b": "}"}, "c": 2}', ("c",)) == 1


def test_extra_fields_are_allowed_within_a_version(tmp_path: Path) -> None:
    document = json.loads(valid_report_text(tmp_path))
    document["modules"][0]["python.module.request"] = "GET /x"
    document["kubernetes"] = {"pod": "app-1"}
    assert parse_report(dumps(document).encode(), "r.json").header["kubernetes"] == {"pod": "app-1"}


# -- merging ------------------------------------------------------------------------------


def test_merge_counts_processes_and_lazy_loads(tmp_path: Path) -> None:
    first = parse_report(valid_report_text(tmp_path).encode(), "a.json")
    document = json.loads(valid_report_text(tmp_path))
    document["modules"] = [m for m in document["modules"] if m["name"] != "src.reports.pdf"]
    second = parse_report(dumps(document).encode(), "b.json")
    merged = merge([first, second])
    assert merged.inputs == 2
    pdf = merged.files[str(tmp_path / "src" / "reports" / "pdf.py")]
    main = merged.files[str(tmp_path / "src" / "main.py")]
    assert (pdf.module, pdf.processes, pdf.lazy) == ("src.reports.pdf", 1, 1)
    assert (main.processes, main.lazy, main.preloaded) == (2, 0, 0)
    assert merged.files[str(tmp_path / "src" / "__init__.py")].preloaded == 2


# -- a real session and real processes ----------------------------------------------------


def test_a_session_writes_at_startup_and_again_at_stop(tree: SourceTree, collector: str, tmp_path: Path) -> None:
    tree.write("main.py", "from . import helpers\n")
    tree.write("helpers.py", "")
    tree.write("lazy.py", "")
    report = tmp_path / "reports" / "r-{pid}.json"
    assert start_tracing(tree.config(collector, report=str(report)))
    importlib.import_module(f"{tree.package}.main")
    mark_startup_complete()
    path = str(report).replace("{pid}", str(os.getpid()))
    at_startup = read_report(path)
    importlib.import_module(f"{tree.package}.lazy")
    stop_tracing()
    at_stop = read_report(path)
    assert at_startup.header["status"] == "running" and at_stop.header["status"] == "stopped"
    names = lambda r: {m.name: m for m in r.modules}  # noqa: E731
    assert f"{tree.package}.lazy" not in names(at_startup)
    assert names(at_stop)[f"{tree.package}.lazy"].lazy is True
    assert names(at_stop)[f"{tree.package}.helpers"].importer == f"{tree.package}.main"


def module_names(report_path: str) -> Dict[str, Module]:
    return {entry.name: entry for entry in read_report(report_path).modules}


def only_file(directory: Path) -> str:
    files: List[str] = os.listdir(directory)
    assert len(files) == 1, files  # the report, and no temporary file left behind
    return str(directory / files[0])


@pytest.mark.slow
def test_sigkill_after_startup_leaves_a_valid_report(tmp_path: Path) -> None:
    reports = tmp_path / "reports"
    with start_demo(env={"IMPORT_TRACING_REPORT": str(reports / "report-{pid}.json")}) as service:
        service.wait_ready()
        service.stop(signal.SIGKILL)
        pid = service.proc.pid
    path = only_file(reports)
    assert path.endswith(f"report-{pid}.json")
    report = read_report(path)
    assert report.header["status"] == "running" and report.header["pid"] == pid
    assert set(module_names(path)) == demo_graph.STARTUP
    assert [f.name for f in report.failed_imports] == [demo_graph.FAILED_OPTIONAL]


@pytest.mark.slow
def test_sigterm_rewrites_the_report_with_the_lazy_imports(tmp_path: Path) -> None:
    reports = tmp_path / "reports"
    with start_demo(env={"IMPORT_TRACING_REPORT": str(reports / "report-{pid}.json")}) as service:
        service.wait_ready()
        assert service.get("/reports/1.pdf")[0] == 200
        service.stop()
    path = only_file(reports)
    modules = module_names(path)
    assert read_report(path).header["status"] == "stopped"
    assert set(modules) == demo_graph.STARTUP | demo_graph.LAZY_BY_ENDPOINT["/reports/1.pdf"]
    assert modules["src.reports.pdf"].lazy and not modules["src.main"].lazy
    assert modules[demo_graph.THREAD_MODULE].thread == demo_graph.THREAD_NAME


# -- hostile input: every malformed report is one line naming the file and line ---------------


def _module_line_with(text: str, old: str, new: str) -> Tuple[str, int]:
    lines = text.splitlines()
    index = next(i for i, line in enumerate(lines) if '"name": "src.main"' in line)
    assert old in lines[index]
    lines[index] = lines[index].replace(old, new, 1)
    return "\n".join(lines) + "\n", index + 1


@pytest.mark.parametrize("number", ["Infinity", "-Infinity", "NaN", "1e400", "-1e999"])
@pytest.mark.parametrize("field", ["duration_ms", "offset_ms"])
def test_a_number_that_is_not_finite_is_refused_at_its_line(tmp_path: Path, field: str, number: str) -> None:
    # Infinity in a duration made `report --html` loop for ever (measured).
    text, line = _module_line_with(valid_report_text(tmp_path), f'"{field}": ', f'"{field}": {number}, "was": ')
    error = bad(tmp_path, text)
    assert error.line == line and ("too large" in error.message or "NaN or Infinity" in error.message)


def test_infinity_at_startup_complete_is_refused_at_its_line(tmp_path: Path) -> None:
    text = re.sub(r'"startup_complete_ms": [^,]+,', '"startup_complete_ms": Infinity,', valid_report_text(tmp_path))
    error = bad(tmp_path, text)
    assert error.line == next(i for i, l in enumerate(text.splitlines(), 1) if "startup_complete_ms" in l)


def test_a_5000_digit_pid_is_refused_at_its_line_not_a_traceback(tmp_path: Path) -> None:
    # Python 3.11+ raised "Exceeds the limit (4300 digits)" out of json.loads.
    text = re.sub(r'"pid": \d+', '"pid": ' + "9" * 5000, valid_report_text(tmp_path))
    error = bad(tmp_path, text)
    assert error.line == next(i for i, l in enumerate(text.splitlines(), 1) if '"pid"' in l)
    assert "5000 digits" in error.message


def test_json_nested_past_what_json_reads_is_refused_at_its_line(tmp_path: Path) -> None:
    # 1,000 deep raised RecursionError out of json.loads on 3.9-3.11; 3.12 reads 1,000 and 3.13
    # reads 5,000, so the test nests 100,000 deep, past what any of them recurses.
    text = valid_report_text(tmp_path).replace('"status": ', '"deep":\n' + "[" * 100_000 + "]" * 100_000 + ',\n  "status": ', 1)
    error = bad(tmp_path, text)
    assert "nested more than" in error.message
    assert error.line == next(i for i, l in enumerate(text.splitlines(), 1) if l.startswith("["))


def test_json_nesting_that_json_reads_is_an_extra_field_like_any_other(tmp_path: Path) -> None:
    # Where json.loads reads the nesting (1,000 deep on 3.12+) the value sits under a key no
    # reader looks at: the report reads; where it cannot, the refusal is the one above.
    text = valid_report_text(tmp_path).replace('"status": ', '"deep": ' + "[" * 1000 + "]" * 1000 + ', "status": ', 1)
    path = tmp_path / "r.json"
    path.write_text(text)
    try:
        report = read_report(str(path))
    except InputError as error:
        assert "nested more than" in error.message and error.line is not None
    else:
        assert report.modules


def test_a_file_past_the_size_limit_is_refused_before_it_is_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from otel_import_tracer.reading import files

    monkeypatch.setattr(files, "MAX_INPUT_BYTES", 1000)
    error = bad(tmp_path, valid_report_text(tmp_path))
    assert error.line is None and "larger than" in error.message


def test_repeated_values_of_the_entries_are_one_string_each(tmp_path: Path) -> None:
    # A 441,000-module report: one "MainThread" and one "import", not 441,000 of each.
    path = tmp_path / "r.json"
    path.write_text(valid_report_text(tmp_path))
    modules = read_report(str(path)).modules
    assert len({id(entry.thread) for entry in modules}) == len({entry.thread for entry in modules})
    assert len({id(entry.source) for entry in modules}) == len({entry.source for entry in modules})

# -- where IMPORT_TRACING_REPORT points (issue 12) -----------------------------------------


def test_a_report_path_that_is_a_symlink_writes_its_target(tmp_path: Path) -> None:
    target = tmp_path / "real" / "report.json"
    target.parent.mkdir()
    link = tmp_path / "report.json"
    link.symlink_to(target)
    path = write_session_report(filled_session(tmp_path, report=str(link)))
    assert path == str(target) and link.is_symlink() and read_report(str(link)).header["pid"] == os.getpid()


@pytest.mark.parametrize("kind", ["fifo", "device"])
def test_a_report_path_that_is_a_fifo_or_a_device_is_refused_once_without_blocking(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], kind: str
) -> None:
    path = tmp_path / "report.json" if kind == "fifo" else Path("/dev/full")
    if kind == "fifo":
        os.mkfifo(str(path))
    session = filled_session(tmp_path, report=str(path))
    assert write_session_report(session) is None and write_session_report(session) is None
    err = capsys.readouterr().err
    assert err.count("[report-refused]") == 1 and "is not a regular file" in err and "[report-failed]" not in err


def test_a_rewritten_report_keeps_its_mode(tmp_path: Path) -> None:
    path = tmp_path / "report.json"
    session = filled_session(tmp_path, report=str(path))
    write_session_report(session)
    path.chmod(0o644)
    previous = os.umask(0o077)
    try:
        write_session_report(session)
        write_session_report(filled_session(tmp_path, report=str(path)))  # a new process of ours
    finally:
        os.umask(previous)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644


def test_a_temporary_left_by_a_killed_writer_is_removed_at_the_next_write(tmp_path: Path) -> None:
    child = subprocess.Popen([sys.executable, "-c", ""])
    child.wait()  # its pid is now free: the writer it stands for was killed
    path = tmp_path / "report.json"
    session = filled_session(tmp_path, report=str(path))
    write_session_report(session)
    (tmp_path / f".report.json.{child.pid}.tmp").write_text('{\n  "schema": "otel-import-tracer/report",')
    write_session_report(session)  # a rewrite, not the first claim
    assert os.listdir(tmp_path) == ["report.json"]
