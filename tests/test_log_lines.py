"""The shutdown lines of real traced runs read back by the real ``audit``: any name, any stdout.

A file under the root may be named anything the file system allows (alembic's
``0000_2_6_2_squashed_migrations.py``, ``seed-db.py``, ``café.py``, a newline, an escape
sequence, bytes that are not UTF-8): its lines must read back to the same name, none may forge
another line or reach the terminal raw, and a strict stdout encoding must not lose them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any, Dict, List, Tuple

import pytest

from otel_import_tracer.reading.logs import parse_log
from tests.support.servers import clean_env

# Loaded with importlib.import_module: names Python loads though no import statement can name them.
IMPORTED = ["versions/0000_2_6_2_squashed_migrations.py", "seed-db.py", "café.py", "données/x.py", "trail .py"]
# Loaded by path, the way alembic loads revisions: names no dotted name can reach.
BY_PATH = [
    "nl\nLOADED_MODULE: src.ghost.py",  # a newline: the rest would be a line of its own
    "esc\x1b[2J.py",  # clears the terminal
    "c1\x85sep\u2028bidi\u202e.py",  # NEL and LINE SEPARATOR split lines in some viewers; a bidi override
    "back\\slash.py",  # a backslash: doubled, as every backslash of a line is
    "back\\x1b\\\x1b.py",  # a backslash spelling an escape next to a real ESC
]
NOT_UTF8 = b"raw\xff\xfe.py"  # an undecodable file name: os.fsdecode gives lone surrogates
PACKAGES = ["__init__.py", "versions/__init__.py", "données/__init__.py"]
LOADED = PACKAGES + IMPORTED + BY_PATH + [os.fsdecode(NOT_UTF8)]  # relative to the root


def make_app(tmp_path: Path, hostile: bool = True) -> None:
    """An app under ``tmp_path/src`` whose ``main.py`` loads every file of ``LOADED`` (or, not
    ``hostile``, only the packages and ``IMPORTED``)."""
    root = tmp_path / "src"
    (root / "versions").mkdir(parents=True)
    (root / "données").mkdir()
    by_path = BY_PATH if hostile else []
    for name in PACKAGES + IMPORTED + by_path:
        (root / name).write_text("VALUE = 1\n", encoding="utf-8")
    if hostile:
        with open(os.path.join(os.fsencode(root), NOT_UTF8), "wb") as stream:
            stream.write(b"VALUE = 1\n")
    (tmp_path / "main.py").write_text(textwrap.dedent(f"""
        import importlib, importlib.util, os, sys
        sys.path.insert(0, {str(tmp_path)!r})
        import src
        for name in {IMPORTED!r}:
            importlib.import_module("src." + name[:-3].replace("/", ".").replace(".__init__", ""))
        for name in {by_path!r} + ([os.fsdecode({NOT_UTF8!r})] if {hostile!r} else []):
            path = os.path.join(os.path.dirname(src.__file__), name)
            spec = importlib.util.spec_from_file_location("by_path", path)
            spec.loader.exec_module(importlib.util.module_from_spec(spec))
        print("app ran")
    """), encoding="utf-8")


def module_of(relative: str) -> str:
    name = "src." + relative[:-3].replace("/", ".")
    return name[: -len(".__init__")] if name.endswith(".__init__") else name


def traced_run(tmp_path: Path, collector: str, **env: str) -> Tuple[bytes, str, Path]:
    """Run the app traced; its stdout (bytes), stderr and the TMPDIR it was given."""
    temp = tmp_path / "tmpdir"
    temp.mkdir()
    result = subprocess.run(
        [sys.executable, str(tmp_path / "main.py")],
        env=clean_env({"ENABLE_IMPORT_TRACING": "true", "IMPORT_TRACING_ROOT": str(tmp_path / "src"),
                       "IMPORT_TRACING_COLLECTOR": collector, "TMPDIR": str(temp), **env}),
        capture_output=True, timeout=120, cwd=tmp_path,
    )
    stderr = result.stderr.decode("utf-8", "replace")
    assert result.returncode == 0, stderr
    assert b"app ran" in result.stdout, stderr
    return result.stdout, stderr, temp


def run_audit(tmp_path: Path, log: bytes) -> Tuple[int, Dict[str, Any], str]:
    (tmp_path / "app.log").write_bytes(log)
    result = subprocess.run(
        [sys.executable, "-m", "otel_import_tracer", "audit", str(tmp_path / "app.log"), "--root", str(tmp_path / "src"), "--format", "json"],
        env=clean_env(), capture_output=True, timeout=120, cwd=tmp_path,
    )
    stderr = result.stderr.decode("utf-8", "replace")
    return result.returncode, json.loads(result.stdout) if result.returncode == 0 else {}, stderr


def check_read_back(tmp_path: Path, stdout: bytes, stderr: str) -> None:
    root = tmp_path / "src"
    status, report, audit_err = run_audit(tmp_path, stdout)
    assert status == 0, (audit_err, stdout, stderr)
    assert report["never_loaded_files"] == [], (report["never_loaded_files"], stdout)
    assert sorted(entry["file"] for entry in report["loaded"]) == sorted(os.path.join(str(root), name) for name in LOADED)
    assert report["outside_root"] == [] and report["missing_locally"] == []
    # The module lines, read by the same reader, name exactly the modules: none forged, none lost.
    got = parse_log(stdout.decode("utf-8", "replace").splitlines(), "app.log")
    assert got.modules == sorted(module_of(name) for name in LOADED), stdout
    assert got.files == sorted(os.path.join(str(root), name) for name in LOADED), stdout


def test_names_no_import_statement_can_spell_are_printed_as_they_are_and_audit_reads_them(tmp_path: Path, collector: str) -> None:
    # Issue 23's first row: audit refused the tracer's own LOADED_MODULE lines for these (exit 2).
    make_app(tmp_path, hostile=False)
    stdout, stderr, _ = traced_run(tmp_path, collector)
    status, report, audit_err = run_audit(tmp_path, stdout)
    assert status == 0, (audit_err, stdout, stderr)
    expected = sorted(str(tmp_path / "src" / name) for name in PACKAGES + IMPORTED)
    assert report["never_loaded_files"] == [] and sorted(entry["file"] for entry in report["loaded"]) == expected
    lines = stdout.split(b"\n")
    for name in PACKAGES + IMPORTED[:-1]:
        assert f"LOADED_MODULE: {module_of(name)}".encode() in lines, stdout
    assert b"LOADED_MODULE: src.trail\\x20" in lines, stdout  # the reader strips around values


def test_any_file_name_under_the_root_reads_back_through_audit_exactly(tmp_path: Path, collector: str) -> None:
    make_app(tmp_path)
    stdout, stderr, _ = traced_run(tmp_path, collector)
    check_read_back(tmp_path, stdout, stderr)
    lines = stdout.split(b"\n")
    assert b"LOADED_MODULE: src.ghost" not in lines, stdout  # no forged line
    assert not any(byte in stdout for byte in (b"\x1b", b"\x85", "\u2028".encode(), "\u202e".encode(), b"\xff")), stdout
    # Ordinary names print as they are; escapes are those of the terminal, and a backslash doubles.
    for name in ("src.versions.0000_2_6_2_squashed_migrations", "src.seed-db", "src.café", "src.données.x"):
        assert f"LOADED_MODULE: {name}".encode() in lines, stdout
    assert "LOADED_MODULE: src.esc\\x1b[2J".encode() in lines, stdout
    assert "LOADED_MODULE: src.back\\\\x1b\\\\\\x1b".encode() in lines, stdout


@pytest.mark.parametrize("encoding", ["ascii", "latin-1"])
def test_a_stdout_that_is_not_utf8_keeps_every_line_escaped(tmp_path: Path, collector: str, encoding: str) -> None:
    # Strict ASCII lost the whole block; latin-1 printed bytes audit (which reads UTF-8) misread.
    make_app(tmp_path)
    stdout, stderr, _ = traced_run(tmp_path, collector, PYTHONIOENCODING=encoding)
    assert stdout.isascii(), stdout
    assert b"LOADED_MODULE: src.caf\\u00e9" in stdout.split(b"\n"), stdout
    check_read_back(tmp_path, stdout, stderr)


@pytest.mark.collector_independent
def test_a_traced_run_leaves_nothing_in_the_temp_directory(tmp_path: Path) -> None:
    root = tmp_path / "src"
    root.mkdir()
    (root / "__init__.py").write_text("")
    (tmp_path / "main.py").write_text(f"import sys\nsys.path.insert(0, {str(tmp_path)!r})\nimport src\nprint('app ran')\n")
    stdout, stderr, temp = traced_run(tmp_path, "auto")
    assert b"LOADED_MODULE: src\n" in stdout, stderr
    assert sorted(os.listdir(temp)) == []


WRITER = """
import sys, time
from otel_import_tracer import logs
start, count = float(sys.argv[1]), int(sys.argv[2])
names = [f"pkg.module_{index:06d}" for index in range(count)]
time.sleep(max(0.0, start - time.time()))
logs.write_block(logs.shutdown_lines("/app/src", [f"/app/src/{name.replace('.', '/')}.py" for name in names], ["src." + name for name in names]))
"""


def blocks_of_workers_writing_at_once(tmp_path: Path, workers: int, modules: int) -> Tuple[bytes, Path]:
    """Start ``workers`` processes that write a block each into one pipe at the same moment."""
    import time

    temp = tmp_path / "tmpdir"
    temp.mkdir()
    read_end, write_end = os.pipe()
    start = time.time() + 1.0 + 0.05 * workers
    env = clean_env({"TMPDIR": str(temp)})
    processes = [
        subprocess.Popen([sys.executable, "-c", WRITER, str(start), str(modules)], stdout=write_end, stderr=subprocess.PIPE, env=env)
        for _ in range(workers)
    ]
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        output = pipe.read()  # until every worker has exited
    for process in processes:
        _, stderr = process.communicate(timeout=60)
        assert process.returncode == 0, stderr.decode("utf-8", "replace")
    return output, temp


@pytest.mark.collector_independent
def test_blocks_of_workers_stopping_at_once_come_out_whole_and_leave_no_file(tmp_path: Path) -> None:
    # 1,000 modules make a block of 70 kB, more than a pipe buffer: unserialized, the workers' 4 kB
    # writes interleave. Each block whole means each is a run of exactly its own lines.
    output, temp = blocks_of_workers_writing_at_once(tmp_path, 3, 1000)
    lines = output.decode("utf-8").splitlines()
    starts = [index for index, line in enumerate(lines) if line.startswith("Stopping runtime file tracing... (pid ")]
    assert starts == [index * 2003 for index in range(3)] and len(lines) == 3 * 2003, starts
    for start in starts:
        block = lines[start : start + 2003]
        assert block[1002] == "Total unique src.* modules loaded: 1000" and block[-1] == "LOADED_MODULE: src.pkg.module_000999"
    assert sorted(os.listdir(temp)) == []


def test_the_modules_header_follows_the_names_not_the_roots_folder() -> None:
    from otel_import_tracer.logs import shutdown_lines as lines_of

    def header(modules: List[str]) -> str:
        return [line for line in lines_of("/proj", [], modules, pid=1) if line.endswith(f"modules loaded: {len(modules)}")][0]

    assert header(["src", "src.db"]) == "Total unique src.* modules loaded: 2"
    assert header(["main", "src", "src.db"]) == "Total unique {main,src}.* modules loaded: 3"
    assert header([]) == "Total unique proj.* modules loaded: 0"
    assert header([f"m{n}" for n in range(7)]) == "Total unique {m0,m1,m2,m3,m4,...}.* modules loaded: 7"
