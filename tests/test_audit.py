"""``otel-import-tracer audit``: never-loaded files over many reports and logs, remapped roots, bad input."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Dict, FrozenSet, Iterable, List, Optional, Sequence

import pytest

from otel_import_tracer.reading.audit import inventory
from otel_import_tracer.reading.files import InputError
from otel_import_tracer.reading.logs import parse_log
from otel_import_tracer.reading.merge import PathMapper
from otel_import_tracer.reading.sources import load_input
from otel_import_tracer.logs import shutdown_lines
from otel_import_tracer.report import SCHEMA, SCHEMA_VERSION, dumps
from tests.support import demo_graph
from tests.support.servers import DEMO_ROOT, REPO, child_output, clean_env, start_demo

pytestmark = pytest.mark.python_independent  # the reading side (the demo runs it reads are tested on every Python elsewhere)

CLI = [sys.executable, "-m", "otel_import_tracer", "audit"]


def run_audit(*args: str, stdin: Optional[bytes] = None, env_extra: Optional[Dict[str, str]] = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*CLI, *args], input=stdin, capture_output=True, cwd=str(REPO), env={**clean_env(), **(env_extra or {})}, timeout=300
    )


def never_loaded(result: subprocess.CompletedProcess) -> FrozenSet[str]:
    assert result.returncode in (0, 1), result.stderr.decode()
    return frozenset(json.loads(result.stdout)["never_loaded_modules"])


def expected_never(requested: Iterable[str]) -> FrozenSet[str]:
    """The demo's modules nothing imports, plus the lazy ones no request touched."""
    touched = frozenset().union(*(demo_graph.LAZY_BY_ENDPOINT.get(path, frozenset()) for path in requested))
    return demo_graph.ALL - demo_graph.STARTUP - touched


# -- two real runs of the demo --------------------------------------------------------------

RUN_REQUESTS = {"a": ("/reports/1.pdf", "/orders"), "b": ("/health", "/export")}


class DemoRuns:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.reports: Dict[str, Path] = {}
        self.logs: Dict[str, Path] = {}


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> DemoRuns:
    """The demo under real uvicorn, twice, with different requests: its reports and container logs."""
    result = DemoRuns(tmp_path_factory.mktemp("demo-runs"))
    for name, requests in RUN_REQUESTS.items():
        pattern = result.directory / f"{name}-{{pid}}.json"
        with start_demo(env={"IMPORT_TRACING_REPORT": str(pattern)}) as service:
            service.wait_ready()
            for path in requests:
                assert service.get(path)[0] == 200, path
            output = service.stop()
            result.reports[name] = Path(str(pattern).replace("{pid}", str(service.proc.pid)))
        result.logs[name] = result.directory / f"{name}.log"
        result.logs[name].write_text(output)
    return result


@pytest.mark.slow
def test_two_runs_merged_leave_exactly_the_unimported_and_untouched_lazy_modules(runs: DemoRuns) -> None:
    result = run_audit(str(runs.reports["a"]), str(runs.reports["b"]), "--format", "json")
    assert never_loaded(result) == expected_never(RUN_REQUESTS["a"] + RUN_REQUESTS["b"])
    assert never_loaded(result) == demo_graph.NEVER | {"src.reports.spreadsheet"}
    document = json.loads(result.stdout)
    assert document["totals"]["files"] == len(demo_graph.ALL)
    assert document["inputs"] == {"reports": 2, "logs": 0, "traces": 0, "traced_processes": 0}
    loaded = {entry["module"]: entry for entry in document["loaded"]}
    assert loaded["src.main"]["processes"] == 2
    assert (loaded["src.reports.pdf"]["processes"], loaded["src.reports.pdf"]["lazy_in"]) == (1, 1)


@pytest.mark.slow
def test_one_run_alone_lacks_the_other_runs_lazy_imports(runs: DemoRuns) -> None:
    for name in RUN_REQUESTS:
        assert never_loaded(run_audit(str(runs.reports[name]), "--format", "json")) == expected_never(RUN_REQUESTS[name])


@pytest.mark.slow
def test_container_logs_on_stdin_give_the_same_answer(runs: DemoRuns) -> None:
    logs = runs.logs["a"].read_bytes() + runs.logs["b"].read_bytes()
    result = run_audit("--root", str(DEMO_ROOT), "--format", "json", stdin=logs)
    assert never_loaded(result) == expected_never(RUN_REQUESTS["a"] + RUN_REQUESTS["b"])


@pytest.mark.slow
def test_reports_and_logs_mix(runs: DemoRuns) -> None:
    result = run_audit(str(runs.reports["a"]), str(runs.logs["b"]), "--format", "json")
    assert never_loaded(result) == expected_never(RUN_REQUESTS["a"] + RUN_REQUESTS["b"])
    assert json.loads(result.stdout)["inputs"] == {"reports": 1, "logs": 1, "traces": 0, "traced_processes": 0}


@pytest.mark.slow
def test_text_output_groups_by_package_with_totals(runs: DemoRuns) -> None:
    result = run_audit(str(runs.reports["a"]), str(runs.reports["b"]))
    out = result.stdout.decode()
    assert result.returncode == 0, result.stderr.decode()
    assert "src.legacy  (2 of 2 files never loaded)" in out
    assert "  src/legacy/__init__.py  src.legacy\n  src/legacy/billing.py   src.legacy.billing\n" in out
    assert "src.reports  (1 of 3 files never loaded)" in out
    assert "Total: 31 files, 26 loaded (83.9%), 5 never loaded." in out
    assert "not that its code is used" in out


@pytest.mark.slow
def test_fail_if_unused_exits_1_and_excludes_can_clear_it(runs: DemoRuns) -> None:
    both = [str(runs.reports["a"]), str(runs.reports["b"])]
    assert run_audit(*both, "--fail-if-unused").returncode == 1
    excludes = ["--exclude", "legacy/*", "--exclude", "*/xml_export.py", "--exclude", "utils/dates.py", "--exclude", "reports/spreadsheet.py"]
    result = run_audit(*both, "--fail-if-unused", *excludes, "--format", "json")
    assert result.returncode == 0, result.stdout
    assert json.loads(result.stdout)["totals"] == {"files": 26, "loaded": 26, "never_loaded": 0, "loaded_percent": 100.0}


def containerize(report: Path, destination: Path, container_root: str = "/app/src") -> Path:
    """The report as a container would have written it: every path under ``container_root``."""
    text = report.read_text().replace(str(DEMO_ROOT), container_root)
    destination.write_text(text)
    return destination


@pytest.mark.slow
def test_reports_from_a_container_remap_onto_a_local_checkout(runs: DemoRuns, tmp_path: Path) -> None:
    checkout = tmp_path / "checkout" / "src"
    shutil.copytree(DEMO_ROOT, checkout)
    a = containerize(runs.reports["a"], tmp_path / "a.json")
    b = containerize(runs.reports["b"], tmp_path / "b.json")
    assert json.loads(a.read_text())["root"] == "/app/src"
    result = run_audit(str(a), str(b), "--root", str(checkout), "--format", "json")
    document = json.loads(result.stdout)
    assert frozenset(document["never_loaded_modules"]) == expected_never(RUN_REQUESTS["a"] + RUN_REQUESTS["b"])
    assert document["outside_root"] == [] and document["root"] == str(checkout)
    assert all(f.startswith(str(checkout)) for f in document["never_loaded_files"])


@pytest.mark.slow
def test_logs_from_a_container_remap_with_a_path_map_to_a_differently_named_directory(runs: DemoRuns, tmp_path: Path) -> None:
    checkout = tmp_path / "code"
    shutil.copytree(DEMO_ROOT, checkout)
    log = runs.logs["a"].read_text().replace(str(DEMO_ROOT), "/srv/service/src")
    lines = [line for line in log.splitlines() if "LOADED_SRC_FILE: " in line]  # grep'd: no header, no modules
    result = run_audit("--root", str(checkout), "--path-map", f"/srv/service/src={checkout}", "--format", "json", stdin="\n".join(lines).encode())
    assert never_loaded(result) == {n.replace("src", "code", 1) for n in expected_never(RUN_REQUESTS["a"])}


@pytest.mark.slow
def test_without_root_the_recorded_root_must_exist_here(runs: DemoRuns, tmp_path: Path) -> None:
    a = containerize(runs.reports["a"], tmp_path / "a.json", container_root="/nowhere/src")
    result = run_audit(str(a))
    assert result.returncode == 2, child_output(result)
    assert result.stderr.decode().startswith("otel-import-tracer: error: pass --root DIR")


# -- log parsing ------------------------------------------------------------------------------


def demo_log_lines(root: str = "/app/src", files: Sequence[str] = ("__init__.py", "main.py"), modules: Sequence[str] = ("src", "src.main")) -> List[str]:
    return list(shutdown_lines(root, [f"{root}/{f}" for f in files], modules))


@pytest.mark.parametrize(
    "decorate",
    [
        lambda n: "",
        lambda n: f"2024-05-01T10:00:{n:02d}.{'123456789'[: 9 - n % 4]}Z ",  # docker logs -t: the fraction's length varies
        lambda n: "app-1  | ",  # docker compose
        lambda n: "[pod/app-7c9d5/app] ",  # kubectl logs --prefix
        lambda n: f"Dec 01 10:00:{n:02d} host app[4242]: ",  # journald, syslog
    ],
    ids=["bare", "docker-timestamps", "compose", "kubectl-prefix", "journald"],
)
def test_blocks_are_read_under_whatever_the_log_transport_put_before_them(decorate: Any) -> None:
    lines = [decorate(n) + line + ("\r" if n % 2 else "") for n, line in enumerate(_block(42, ["__init__", "main"]))]
    lines.insert(3, decorate(3) + "INFO: handled GET /status")  # the app's own line, inside the block
    log = parse_log(lines, "app.log")
    assert log.files == ["/app/src/__init__.py", "/app/src/main.py"]
    assert log.modules == ["src.__init__", "src.main"] and log.roots == ["/app/src"]


def test_a_loaded_line_inside_someone_elses_line_is_not_a_load() -> None:
    # Measured: an application line naming a file counted it as loaded, and an access-log URL
    # holding the prefix made the audit exit 2.
    block = [f"app-1  | {line}" for line in _block(42, ["main"])]
    lines = [
        "app-1  | INFO handled LOADED_SRC_FILE: /app/src/x.py",
        *block[:3],
        "app-1  | INFO handled LOADED_SRC_FILE: /app/src/y.py",  # between two lines of the block
        '10.0.0.1 - - "GET /?q=LOADED_SRC_FILE: x HTTP/1.1" 200',
        *block[3:],
        "app-1  | WARNING LOADED_MODULE: src.z",
        "app-1  | Total unique /app/src/*.py files loaded: 99",  # no "Stopping..." of ours before it
    ]
    problems: List[InputError] = []
    log = parse_log(lines, "app.log", problems)
    assert problems == []
    assert log.files == ["/app/src/main.py"] and log.modules == ["src.main"]


def test_an_absurd_total_is_not_a_header() -> None:
    lines = [*_block(42, ["main"]), "Stopping runtime file tracing... (pid 1)", "Total unique /a/*.py files loaded: " + "9" * 5000]
    assert parse_log(lines, "app.log").files == ["/app/src/main.py"]


def test_a_line_of_many_totals_is_read_in_linear_time() -> None:
    # Measured: searching each "Total unique " of a 208 kB line for a files total took 50 s
    # (a 1 MB line: twenty minutes), on a log line anyone can make the service print.
    hostile = "Total unique " * 16_000
    lines = [hostile, *_block(42, ["main"]), hostile + "/*.py files loaded: 0"]  # the last: no "Stopping..." before it
    started = time.monotonic()
    log = parse_log(lines, "app.log")
    assert time.monotonic() - started < 2.0  # linear: milliseconds; quadratic: 50 s
    assert log.files == ["/app/src/main.py"] and log.modules == ["src.main"]


def test_garbage_between_the_lines_is_ignored() -> None:
    lines = ["\x00\x1b[31mgarbage\x1b[0m", "{\"json\": \"log\"}", *demo_log_lines(), "Traceback (most recent call last):", "LOADED_SOMETHING_ELSE: x"]
    log = parse_log(lines, "app.log")
    assert len(log.files) == 2 and len(log.modules) == 2


def test_a_cut_line_names_the_file_and_line() -> None:
    lines = demo_log_lines()
    lines[3] = "LOADED_SRC_FILE: /app/src/ma"
    with pytest.raises(InputError) as caught:
        parse_log(lines, "app.log")
    assert (caught.value.path, caught.value.line) == ("app.log", 4)
    assert "absolute .py path" in caught.value.message


def test_fewer_files_than_announced_is_a_cut_log() -> None:
    lines = demo_log_lines()
    del lines[2]
    problems: List[InputError] = []
    log = parse_log(lines, "app.log", problems)
    assert [(p.line, "announces 2 files but 1" in p.message) for p in problems] == [(2, True)]
    assert log.files == ["/app/src/main.py"]  # with a problems list, the good lines still count


def _block(pid: int, names: Sequence[str]) -> List[str]:
    return list(shutdown_lines("/app/src", [f"/app/src/{n}.py" for n in names], [f"src.{n}" for n in names], pid=pid))


def _interleave(*blocks: List[str]) -> List[str]:
    """Line by line, as workers printing at once without the writer's lock would."""
    out: List[str] = []
    for row in range(max(map(len, blocks))):
        out.extend(block[row] for block in blocks if row < len(block))
    return out


def test_blocks_of_several_workers_interleaved_line_by_line_all_count() -> None:
    first, second = _block(11, ["a", "b", "c"]), _block(12, ["d", "e"])
    problems: List[InputError] = []
    log = parse_log(["INFO: noise", *_interleave(first, second), "INFO: Shutting down"], "workers.log", problems)
    assert problems == []
    assert sorted(log.files) == [f"/app/src/{n}.py" for n in "abcde"]
    assert sorted(log.modules) == [f"src.{n}" for n in "abcde"]


def test_a_cut_among_interleaved_blocks_names_them() -> None:
    lines = _interleave(_block(11, ["a", "b", "c"]), _block(12, ["d", "e"]))
    del lines[-1]
    problems: List[InputError] = []
    parse_log(lines, "workers.log", problems)
    (problem,) = problems
    assert problem.line == 3 and "pids 11, 12" in problem.message and "a cut log" in problem.message


def test_a_loaded_line_after_complete_blocks_is_not_theirs() -> None:
    lines = [*_block(11, ["a"]), "LOADED_SRC_FILE: /app/src/stray.py"]
    assert parse_log(lines, "app.log").files == ["/app/src/a.py"]


def test_a_log_of_loaded_lines_alone_counts_them_all() -> None:
    # `grep LOADED_ app.log | otel-import-tracer audit`: no block to check them against.
    lines = [line for line in _block(11, ["a", "b"]) if line.startswith("LOADED_")]
    log = parse_log(["app-1  | " + line for line in lines], "grepped.log")
    assert log.files == ["/app/src/a.py", "/app/src/b.py"] and log.modules == ["src.a", "src.b"]


def test_a_log_of_the_original_format_without_a_pid_still_reads() -> None:
    lines = [line.replace(" (pid 7)", "") for line in _block(7, ["a", "b"])]
    assert lines[0] == "Stopping runtime file tracing..."
    assert sorted(parse_log(lines, "old.log").modules) == ["src.a", "src.b"]


def test_a_log_without_any_loaded_line_says_how_to_get_them() -> None:
    with pytest.raises(InputError, match="SIGTERM") as caught:
        parse_log(["INFO: started", "INFO: stopped"], "app.log")
    assert caught.value.line is None and str(caught.value).startswith("app.log: no LOADED_SRC_FILE")


def test_reports_and_logs_are_told_apart_by_content() -> None:
    assert load_input("x.log", "\n".join(demo_log_lines()).encode()).processes[0].modules
    json_log = b'{"level": "info", "msg": "hi"}\n' + "\n".join(demo_log_lines()).encode()
    assert load_input("x.log", json_log).processes[0].modules
    with pytest.raises(InputError, match="truncated"):
        load_input("x.json", b'{\n  "schema": "otel-import-tracer/rep')


# -- remapping and inventory --------------------------------------------------------------------


def test_path_mapper_places_recorded_paths_under_the_local_root(tmp_path: Path) -> None:
    root = tmp_path / "src"
    (root / "pkg").mkdir(parents=True)
    for name in ("__init__.py", "pkg/__init__.py", "pkg/mod.py"):
        (root / name).write_text("")
    mapper = PathMapper(str(root), [("/opt/vendored", str(root / "pkg"))])
    local = str(root / "pkg" / "mod.py")
    assert mapper.relocate("/app/src/pkg/mod.py", None, "/app/src") == local
    assert mapper.relocate("/app/src/pkg/mod.py", None, "/app/src/") == local
    assert mapper.relocate(local, None, None) == local
    assert mapper.relocate("/elsewhere/src/pkg/mod.py", None, None) == local  # the ancestor named like the root
    assert mapper.relocate("/opt/vendored/mod.py", None, "/app/src") == local
    assert mapper.relocate("/opt/code/pkg/mod.py", "src.pkg.mod", None) == local  # by module name
    assert mapper.relocate("/opt/code/other.py", None, None) is None
    assert mapper.file_for_module("src.pkg") == str(root / "pkg" / "__init__.py")
    assert mapper.file_for_module("src") == str(root / "__init__.py")


def test_inventory_skips_caches_hidden_directories_and_excludes(tmp_path: Path) -> None:
    root = tmp_path / "src"
    for name in ("__init__.py", "a.py", "notes.txt", "__pycache__/a.cpython-311.py", ".venv/lib.py", "legacy/old.py", "legacy/deep/older.py", "tests/test_a.py"):
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text("")
    files = inventory(str(root), excludes=["legacy/*", str(root / "tests") + "/*"])
    assert files == {str(root / "__init__.py"): "src", str(root / "a.py"): "src.a"}


# -- bad input at the command line ----------------------------------------------------------


def small_tree(tmp_path: Path) -> Path:
    root = tmp_path / "src"
    (root / "pkg").mkdir(parents=True)
    for name in ("__init__.py", "main.py", "pkg/__init__.py", "pkg/unused.py"):
        (root / name).write_text("")
    return root


def small_report(root: Path, **changes: object) -> str:
    document = {
        "schema": SCHEMA,
        "schema_version": SCHEMA_VERSION,
        "service": "s",
        "host": "h",
        "pid": 1,
        "python": "3.11.7",
        "root": "/app/src",
        "collector": "importhook",
        "trace_id": None,
        "status": "stopped",
        "started_at": "2025-01-01T00:00:00.000000Z",
        "started_unix_ns": 0,
        "startup_complete_ms": 1.0,
        "modules": [
            {"name": n, "file": f, "offset_ms": 0.0, "duration_ms": 0.1, "importer": None, "thread": "MainThread", "preloaded": False, "lazy": False, "source": "import"}
            for n, f in (("src", "/app/src/__init__.py"), ("src.main", "/app/src/main.py"))
        ],
        "failed_imports": [],
    }
    document.update(changes)
    return dumps(document)


def assert_clean_error(result: subprocess.CompletedProcess, *fragments: str) -> str:
    err = result.stderr.decode()
    assert result.returncode == 2, child_output(result)
    assert "Traceback" not in err, err
    assert err.startswith("otel-import-tracer: error: "), err
    for fragment in fragments:
        assert fragment in err, err
    return err


def assert_backend_error(result: subprocess.CompletedProcess, *fragments: str) -> None:
    """Status 2, no traceback, and the last line on stderr the error (progress lines come before it)."""
    err = result.stderr.decode()
    assert result.returncode == 2 and "Traceback" not in err, err
    last = err.splitlines()[-1]
    assert last.startswith("otel-import-tracer: error: "), err
    for fragment in fragments:
        assert fragment in last, err


@pytest.mark.parametrize(
    "content, where, words",
    [
        ('{\n  "schema": "otel-import-tracer/report",\n  "schema_version": 1,\n  oops\n}\n', ":4:", "not valid JSON"),
        ('{\n  "schema": "otel-import-tracer/report",\n  "schema_version": 1,\n  "modules": [\n    {"name": "src", "fi', ":5:", "truncated"),
        ('{\n  "schema": "otel-import-tracer/report",\n  "schema_version": 7\n}\n', ":3:", "upgrade otel-import-tracer"),
        ("", ":1:", "empty"),
    ],
    ids=["malformed", "truncated", "newer-schema", "empty"],
)
def test_a_bad_report_is_one_clear_line_and_status_2(tmp_path: Path, content: str, where: str, words: str) -> None:
    root = small_tree(tmp_path)
    bad = tmp_path / "bad.json"
    bad.write_text(content)
    good = tmp_path / "good.json"
    good.write_text(small_report(root))
    result = run_audit(str(good), str(bad), "--root", str(root))
    err = assert_clean_error(result, f"{bad}{where}", words, "--skip-bad")
    assert result.stdout == b""
    assert str(good) not in err


def test_skip_bad_counts_the_good_reports_and_warns_about_the_bad(tmp_path: Path) -> None:
    root = small_tree(tmp_path)
    bad = tmp_path / "bad.json"
    bad.write_text(small_report(root, schema_version=3))
    good = tmp_path / "good.json"
    good.write_text(small_report(root))
    result = run_audit(str(good), str(bad), "--root", str(root), "--skip-bad", "--format", "json")
    assert result.returncode == 0, child_output(result)
    assert result.stderr.decode().startswith(f"otel-import-tracer: warning: {bad}:3: report schema version 3")
    document = json.loads(result.stdout)
    assert document["never_loaded_modules"] == ["src.pkg", "src.pkg.unused"]
    assert document["inputs"] == {"reports": 1, "logs": 0, "traces": 0, "traced_processes": 0}


def test_a_log_with_garbage_and_a_cut_line_fails_or_is_skipped_line_by_line(tmp_path: Path) -> None:
    root = small_tree(tmp_path)
    lines = ["\x1b[0mnoise", *demo_log_lines(files=("__init__.py", "main.py", "pkg/__init__.py", "pkg/unused.py"), modules=())]
    lines[6] = "LOADED_SRC_FILE: /app/src/pkg/unu"  # the block's last file line, cut
    log = "\n".join(lines).encode() + b"\n\xff\xfe binary tail\n"
    err = assert_clean_error(run_audit("--root", str(root), stdin=log), "<stdin>:7:", "absolute .py path")
    assert "Traceback" not in err
    result = run_audit("--root", str(root), "--skip-bad", "--format", "json", stdin=log)
    assert result.returncode == 0, child_output(result)
    assert "otel-import-tracer: warning: <stdin>:7:" in result.stderr.decode()
    assert json.loads(result.stdout)["never_loaded_modules"] == ["src.pkg.unused"]


def test_unreadable_inputs_and_nothing_usable_are_errors(tmp_path: Path) -> None:
    root = small_tree(tmp_path)
    assert_clean_error(run_audit(str(tmp_path / "missing.json"), "--root", str(root)), "missing.json: cannot read")
    empty_log = tmp_path / "empty.log"
    empty_log.write_text("INFO: nothing here\n")
    result = run_audit(str(empty_log), "--root", str(root), "--skip-bad")
    assert result.returncode == 2 and "no usable input" in result.stderr.decode(), child_output(result)
    assert "Traceback" not in result.stderr.decode()
    assert_clean_error(run_audit(str(tmp_path / "x"), "--root", str(tmp_path / "nope")), "cannot read")


def test_a_root_with_no_python_files_and_a_wrong_root_are_errors(tmp_path: Path) -> None:
    root = small_tree(tmp_path)
    good = tmp_path / "good.json"
    good.write_text(small_report(root))
    assert_clean_error(run_audit(str(good), "--root", str(tmp_path / "nope")), "not a directory")
    (tmp_path / "empty").mkdir()
    assert_clean_error(run_audit(str(good), "--root", str(tmp_path / "empty")), "no .py files")


def test_loaded_files_outside_the_root_or_gone_are_pointed_out(tmp_path: Path) -> None:
    root = small_tree(tmp_path)
    grepped = b"LOADED_SRC_FILE: /opt/other/x.py\nLOADED_SRC_FILE: /app/src/main.py\n"
    result = run_audit("--root", str(root), stdin=grepped)
    assert result.returncode == 0, child_output(result)
    out = result.stdout.decode()
    assert "Could not place 1 loaded file under" in out and "/opt/other/x.py" in out and "--path-map" in out
    log = "\n".join(shutdown_lines("/app/src", ["/app/src/main.py", "/app/src/removed.py"], [])).encode()
    result = run_audit("--root", str(root), "--format", "json", stdin=log)
    assert json.loads(result.stdout)["missing_locally"] == [str(root / "removed.py")]


def test_bad_usage_is_status_2(tmp_path: Path) -> None:
    result = run_audit("--path-map", "nonsense", "--root", str(tmp_path))
    assert result.returncode == 2 and b"RECORDED=LOCAL" in result.stderr, child_output(result)
    result = run_audit("--format", "xml")
    assert result.returncode == 2 and b"Traceback" not in result.stderr, child_output(result)


def test_inventory_follows_a_directory_linked_into_the_root_once(tmp_path: Path) -> None:
    # Imported through the link, its files are recorded under the root: the walk must count them.
    outside = tmp_path / "shared_plugins"
    outside.mkdir()
    (outside / "plugin.py").write_text("")
    root = tmp_path / "src"
    root.mkdir()
    (root / "main.py").write_text("")
    (root / "plugins").symlink_to(outside, target_is_directory=True)
    (root / "plugins" / "again").symlink_to(root, target_is_directory=True)  # a loop back up
    assert sorted(inventory(str(root))) == [str(root / "main.py"), str(root / "plugins" / "plugin.py")]


# -- hostile names on the terminal (issue 12) ----------------------------------------------

HOSTILE = "evil\x1b]0;owned\x07\x1b[2J\rforged\n\u009b31m"
HOSTILE_SHOWN = "evil\\x1b]0;owned\\x07\\x1b[2J\\rforged\\n\\u009b31m"


def assert_printable(text: str) -> None:
    """Nothing a terminal acts on but the newlines ending our own lines, and every line one of ours."""
    assert not re.search("[\x00-\x09\x0b-\x1f\x7f-\x9f\ud800-\udfff]", text), text


def test_text_output_escapes_control_characters_and_bytes_that_are_not_utf8(tmp_path: Path) -> None:
    root = small_tree(tmp_path)
    (root / f"{HOSTILE}.py").write_text("")
    with open(os.path.join(os.fsencode(str(root)), b"caf\xe9.py"), "w"):
        pass
    report = tmp_path / "report.json"
    report.write_text(small_report(root))
    result = run_audit(str(report), "--root", str(root))
    assert result.returncode == 0, result.stderr.decode()
    out = result.stdout.decode("utf-8")
    assert_printable(out)
    assert f"src/{HOSTILE_SHOWN}.py" in out and "src/caf\\xe9.py" in out
    assert not any(line.startswith("forged") for line in out.splitlines())


def test_json_output_keeps_hostile_names_exact_and_escaped_by_json(tmp_path: Path) -> None:
    root = small_tree(tmp_path)
    (root / f"{HOSTILE}.py").write_text("")
    report = tmp_path / "report.json"
    report.write_text(small_report(root))
    result = run_audit(str(report), "--root", str(root), "--format", "json")
    assert result.returncode == 0 and result.stdout.isascii(), child_output(result)
    assert str(root / f"{HOSTILE}.py") in json.loads(result.stdout)["never_loaded_files"]


@pytest.mark.parametrize("skip_bad", [False, True])
def test_errors_and_warnings_escape_the_names_they_quote(tmp_path: Path, skip_bad: bool) -> None:
    root = small_tree(tmp_path)
    good = tmp_path / "good.json"
    good.write_text(small_report(root))
    missing = tmp_path / f"{HOSTILE}.log"
    result = run_audit(str(good), str(missing), "--root", str(root), *(["--skip-bad"] if skip_bad else []))
    err = result.stderr.decode("utf-8")
    assert result.returncode == (0 if skip_bad else 2), err
    assert_printable(err)
    assert HOSTILE_SHOWN in err and all(line.startswith("otel-import-tracer: ") for line in err.splitlines())


def test_a_first_line_nested_past_json_s_recursion_limit_is_one_error_at_its_line() -> None:
    # Found by the fuzz test of trace files: telling a report from a log read the first line with
    # json.loads, whose RecursionError escaped as a traceback.
    raw = b'{"a":' * 100_000 + b"1" + b"}" * 100_000 + b"\n"
    with pytest.raises(InputError) as caught:
        load_input("traces.jsonl", raw)
    assert caught.value.path == "traces.jsonl" and caught.value.line == 1
