"""``otel-import-tracer diff``: what changed in startup between two sets of runs.

The end-to-end tests change a generated app between two sets of real traced runs (one module
added, one made slow by 200 ms): diff finds exactly those, and the new-modules gate fails. The
time gates are tested on reports built by hand: a whole process's startup time moves with the
machine's load by more than 50 ms on a busy CI machine, even in medians, where one module's own
time does not. The hand-built reports also pin down medians and bad input."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import urllib.parse
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

import pytest

from otel_import_tracer import semconv
from otel_import_tracer.reading import diff
from otel_import_tracer.reading.render import diff as diff_render
from otel_import_tracer.reading.records import Process
from otel_import_tracer.reading.report import parse_report_text
from otel_import_tracer.report import SCHEMA, SCHEMA_VERSION, dumps
from tests.support.backends import FakeBackend, traces_of
from tests.support.genapp import write_package
from tests.support.otlp_receiver import OtlpReceiver
from tests.support.servers import REPO, child_output, clean_env
from tests.test_audit import assert_backend_error, assert_clean_error

pytestmark = [pytest.mark.collector_independent, pytest.mark.python_independent]  # the reading side

CLI = [sys.executable, "-m", "otel_import_tracer", "diff"]
RUNS_PER_SIDE = 5  # medians of five: a scheduler stall in one run moves nothing
SLOW = "src.mod10"
SLOW_S = 0.2  # what the head's slow module sleeps: 50 ms was within a loaded machine's noise (another module moved 25 ms)
ADDED = "src.extra"
SERVICE = "genapp"
VERSIONS = {"base": "1.0.0", "head": "1.1.0"}  # each side's service.version, as a release would set it
EXPORTED: Dict[Path, List[Any]] = {}  # changed_app -> the export requests of its runs


def run_diff(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, *args], capture_output=True, cwd=str(REPO), env=clean_env(), timeout=300)


def traced_run(app: Path, reports: Path, otlp: Dict[str, str]) -> str:
    """Import the app as a user would turn tracing on: one variable, no code change; ``otlp`` says
    where its spans go. Returns the child's stderr (its shutdown lines), for the assertions that
    count what arrived. The shutdown timeout is generous: on a loaded machine the default 3 s can
    cut an export that is merely slow, and nothing here is about that timeout."""
    env = {
        **clean_env(),
        **otlp,
        "ENABLE_IMPORT_TRACING": "true",
        "IMPORT_TRACING_ROOT": str(app / "src"),
        "IMPORT_TRACING_REPORT": str(reports / "imports-{pid}.json"),
        "IMPORT_TRACING_SHUTDOWN_TIMEOUT": "60",
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    result = subprocess.run([sys.executable, "-c", "import src.mod29"], cwd=str(app), env=env, capture_output=True, timeout=120)
    stderr = result.stderr.decode(errors="replace")
    assert result.returncode == 0, stderr
    return stderr


@pytest.fixture(scope="module")
def changed_app(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Reports of a 30-module generated app (base), and of a copy with a module added and one made
    slow (head). The runs alternate, base then head, so a busy moment of the machine slows both."""
    where = tmp_path_factory.mktemp("changed-app")
    base, head = where / "base-app", where / "head-app"
    write_package(base, 30, name="src")
    shutil.copytree(base, head)
    (head / "src" / "extra.py").write_text("EXTRA = 1\n")
    last = head / "src" / "mod29.py"
    last.write_text(last.read_text() + "\nfrom src import extra\n")
    slow = head / "src" / "mod10.py"
    slow.write_text(slow.read_text() + f"\nimport time\ntime.sleep({SLOW_S})\n")
    for side in ("base", "head"):
        (where / side).mkdir()
    children: List[str] = []  # each run's stderr, shown when what arrived falls short
    with OtlpReceiver() as receiver:
        otlp = {side: {**receiver.env("http"), "OTEL_SERVICE_NAME": SERVICE, "OTEL_RESOURCE_ATTRIBUTES": f"service.version={version}"}
                for side, version in VERSIONS.items()}
        for _ in range(RUNS_PER_SIDE):
            children.append(traced_run(base, where / "base", otlp["base"]))
            children.append(traced_run(head, where / "head", otlp["head"]))
        EXPORTED[where] = receiver.exports()
        startups = len(receiver.spans(semconv.SPAN_STARTUP))
    shown = "\n---\n".join(children)
    for side in ("base", "head"):
        assert len(list((where / side).glob("imports-*.json"))) == RUNS_PER_SIDE, shown
    assert startups == 2 * RUNS_PER_SIDE, f"{startups} startup spans arrived of {2 * RUNS_PER_SIDE}; the runs' stderr:\n{shown}"
    return where


def test_diff_of_a_changed_app_finds_the_added_module_and_the_slow_one(changed_app: Path) -> None:
    result = run_diff(str(changed_app / "base"), str(changed_app / "head"), "--format", "json")
    assert result.returncode == 0, result.stderr.decode()
    found = json.loads(result.stdout)
    assert (found["base"]["startups"], found["head"]["startups"]) == (RUNS_PER_SIDE, RUNS_PER_SIDE)
    assert (found["added"], found["removed"], found["new_failures"]) == ([ADDED], [], [])
    top = found["changes"][0]
    assert top["name"] == SLOW, found["changes"][:3]
    assert SLOW_S * 900 <= top["self_delta_ms"] < SLOW_S * 10_000, top
    assert all(abs(change["self_delta_ms"]) < SLOW_S * 500 for change in found["changes"][1:]), [c for c in found["changes"][1:] if abs(c["self_delta_ms"]) >= SLOW_S * 500]
    # Not the startup time: the whole process moves with the machine's load, by more than 50 ms
    # on a busy CI machine even in medians of five, where one module's own time does not.


@pytest.mark.parametrize("kind", ["tempo", "jaeger"])
def test_two_releases_pulled_from_the_backend_show_the_same_changes_and_fail_the_gate(changed_app: Path, kind: str) -> None:
    # The runs' spans as Tempo and Jaeger would answer them: a local HTTP server answering in
    # their documented shapes (tests/support/backends.py); no Tempo or Jaeger runs here. The
    # sides are the two releases of one service in one window, told apart by service.version.
    with FakeBackend(traces_of(EXPORTED[changed_app])) as backend:
        result = run_diff(f"--{kind}", backend.url, "--service", SERVICE, "--since", "1d", "--format", "json",
                          "--base-resource", f"service.version={VERSIONS['base']}",
                          "--head-resource", f"service.version={VERSIONS['head']}", "--fail-if-new-modules")
    err = result.stderr.decode()
    assert result.returncode == 1, err  # the gate: src.extra is new
    found = json.loads(result.stdout)
    assert (found["base"]["startups"], found["head"]["startups"]) == (RUNS_PER_SIDE, RUNS_PER_SIDE), err
    assert (found["added"], found["removed"], found["new_failures"]) == ([ADDED], [], [])
    assert found["changes"][0]["name"] == SLOW and SLOW_S * 900 <= found["changes"][0]["self_delta_ms"] < SLOW_S * 10_000, found["changes"][:3]
    assert f"base: {kind.capitalize()}: searching" in err and f"service.version={VERSIONS['head']}" in err
    if kind == "tempo":  # diff needs the startups only: no search for lazy loads
        searches = [urllib.parse.unquote_plus(path) for path in backend.requests if path.startswith("/api/search")]
        assert searches and all(f'name = "{semconv.SPAN_STARTUP}"' in search for search in searches), searches


def test_a_side_from_files_and_the_other_from_the_backend(changed_app: Path) -> None:
    # The main branch's reports saved by CI against what staging runs now.
    with FakeBackend(traces_of(EXPORTED[changed_app])) as backend:
        mixed = run_diff(str(changed_app / "base"), "--tempo", backend.url, "--since", "1d", "--format", "json",
                         "--head-resource", f"service.version={VERSIONS['head']}")
        empty = run_diff(str(changed_app / "base"), "--tempo", backend.url, "--head-start", "2001-01-01", "--head-end", "2001-01-02")
    assert mixed.returncode == 0, mixed.stderr.decode()
    found = json.loads(mixed.stdout)
    assert (found["head"]["startups"], found["added"], found["changes"][0]["name"]) == (RUNS_PER_SIDE, [ADDED], SLOW)
    assert_backend_error(empty, "head: no app.startup trace in Tempo", "2001-01-01T00:00:00Z", "widen --head-since or --since")


def test_the_new_modules_gate_fails_on_the_changed_app_and_every_gate_passes_on_itself(changed_app: Path) -> None:
    base, head = str(changed_app / "base"), str(changed_app / "head")
    new = run_diff(base, head, "--fail-if-new-modules")
    assert new.returncode == 1, child_output(new)
    assert f"FAILED --fail-if-new-modules: 1 new at startup ({ADDED})" in new.stdout.decode()
    same = run_diff(base, base, "--fail-if-slower", "0%", "--fail-if-new-modules", "--budget-ms", "60000")
    assert same.returncode == 0, child_output(same)
    assert "Gates passed." in same.stdout.decode()


def test_text_and_markdown_name_the_changes(changed_app: Path) -> None:
    text = run_diff(str(changed_app / "base"), str(changed_app / "head")).stdout.decode()
    assert f"Startup diff: base {RUNS_PER_SIDE} startups -> head {RUNS_PER_SIDE} startups (medians)" in text
    assert f"Added (1):\n  {ADDED} (" in text
    assert text.split("Biggest changes in import time")[1].splitlines()[2].split()[0] == SLOW
    markdown = run_diff(str(changed_app / "base"), str(changed_app / "head"), "--format", "markdown").stdout.decode()
    assert "| startup time |" in markdown
    assert f"**Added** (1): `{ADDED}`" in markdown
    assert f"| `{SLOW}` |" in markdown


# -- reports by hand -------------------------------------------------------------------------


def module(name: str, duration: Optional[float], importer: Optional[str] = None, lazy: bool = False) -> Dict[str, Any]:
    return {
        "name": name, "file": f"/app/{name.replace('.', '/')}.py", "offset_ms": 0.0, "duration_ms": duration,
        "importer": importer, "thread": "MainThread", "preloaded": False, "lazy": lazy, "source": "import",
    }


def report(modules: Sequence[Dict[str, Any]], startup_ms: Optional[float] = 100.0, failures: Sequence[Dict[str, Any]] = ()) -> Process:
    document = {
        "schema": SCHEMA, "schema_version": SCHEMA_VERSION, "service": "s", "host": "h", "pid": 1,
        "python": "3.11.7", "root": "/app/src", "collector": "importhook", "trace_id": None, "status": "stopped",
        "started_at": "2026-01-01T00:00:00.000000Z", "started_unix_ns": 0, "startup_complete_ms": startup_ms,
        "modules": list(modules), "failed_imports": list(failures),
    }
    return parse_report_text(dumps(document), "by-hand.json")


def failure(name: str, importer: str = "src.main") -> Dict[str, Any]:
    return {
        "name": name, "importer": importer, "importer_file": "/app/src/main.py", "line": 3,
        "exception_type": "ModuleNotFoundError", "message": f"No module named {name!r}", "offset_ms": 1.0,
        "thread": "MainThread", "lazy": False, "count": 1,
    }


def test_each_side_is_the_median_of_its_startups() -> None:
    base = [report([module("src", d + 2, None), module("src.a", d, "src")], startup_ms=s) for d, s in ((10, 100), (12, 110), (95, 900))]
    head = [report([module("src", 14, None), module("src.a", 12, "src")], startup_ms=105)]
    result = diff.diff(base, head)
    assert result.base.startup_ms == 110 and result.head.startup_ms == 105
    assert result.base.modules["src.a"] == diff.Timing(cumulative_ms=12, self_ms=12, runs=3)
    assert result.base.modules["src"] == diff.Timing(cumulative_ms=14, self_ms=2, runs=3)
    assert [change.self_delta_ms for change in result.changes] == [0, 0]


def test_lazy_loads_are_not_compared_and_failures_are_matched_by_what_and_where() -> None:
    base = [report([module("src", 1), module("src.lazy", 5, lazy=True)], failures=[failure("gone"), failure("kept")])]
    head = [report([module("src", 1)], failures=[failure("kept"), failure("kept", importer="src.other"), failure("new")])]
    result = diff.diff(base, head)
    assert (result.added, result.removed) == ([], [])
    assert [(f.name, f.importer) for f in result.new_failures] == [("kept", "src.other"), ("new", "src.main")]
    assert [f.name for f in result.fixed_failures] == ["gone"]


def test_budget_and_slower_gates_and_what_they_cannot_tell() -> None:
    base, head = [report([module("src", 1)], startup_ms=100)], [report([module("src", 1)], startup_ms=115)]
    result = diff.diff(base, head)
    assert diff.check(result, diff.Gates(slower_percent=10))[0] == ["--fail-if-slower 10%: startup is +15.0% (100.0 ms -> 115.0 ms)"]
    assert diff.check(result, diff.Gates(slower_percent=15)) == ([], [])
    assert diff.check(result, diff.Gates(budget_ms=110))[0] == ["--budget-ms 110: startup took 115.0 ms"]
    unfinished = diff.diff(base, [report([module("src", 1)], startup_ms=None)])
    assert diff.check(unfinished, diff.Gates(slower_percent=10, budget_ms=1))[1] == [
        "--fail-if-slower: no startup time on the head side (no startup completed)",
        "--budget-ms: no startup time on the head side (no startup completed)",
    ]


def write(path: Path, text: str) -> str:
    path.write_text(text)
    return str(path)


def hand_report(path: Path, modules: Sequence[Dict[str, Any]], startup_ms: Optional[float] = 100.0) -> str:
    return write(path, dumps(report(modules, startup_ms).document()))


def test_the_time_gates_exit_1_when_the_head_is_slower(tmp_path: Path) -> None:
    base = hand_report(tmp_path / "base.json", [module("src", 1)], startup_ms=100)
    head = hand_report(tmp_path / "head.json", [module("src", 1)], startup_ms=150)
    slower = run_diff(base, head, "--fail-if-slower", "10%", "--budget-ms", "120")
    assert slower.returncode == 1, child_output(slower)
    assert "FAILED --fail-if-slower 10%: startup is +50.0% (100.0 ms -> 150.0 ms)" in slower.stdout.decode()
    assert "FAILED --budget-ms 120: startup took 150.0 ms" in slower.stdout.decode()
    passed = run_diff(base, head, "--fail-if-slower", "50%", "--budget-ms", "150")
    assert passed.returncode == 0, child_output(passed)


def test_a_gate_the_inputs_cannot_answer_exits_2(tmp_path: Path) -> None:
    base = hand_report(tmp_path / "base.json", [module("src", 1)])
    head = hand_report(tmp_path / "head.json", [module("src", 1)], startup_ms=None)
    result = run_diff(base, head, "--budget-ms", "500")
    assert result.returncode == 2, child_output(result)
    assert "CANNOT TELL --budget-ms" in result.stdout.decode()


@pytest.mark.parametrize(
    "args, words",
    [
        (["only-one.json"], "diff needs a base and a head"),
        (["--base", "{base}"], "diff needs a base and a head"),
        (["a", "b", "c"], "diff takes BASE and HEAD; give a side more inputs with --base and --head"),
        (["{base}", "{base}", "--tempo", "http://127.0.0.1:1"], "--tempo is for a side with no file, but both sides have inputs"),
        (["{base}", "--jaeger", "http://127.0.0.1:1", "--base-since", "1d"], "--base-since is for a base side pulled from the backend"),
        (["{base}", "{base}", "--head-resource", "a=b"], "--head-resource is for a trace backend: add --tempo URL"),
        (["--tempo", "http://127.0.0.1:1", "--since", "7d"], "both sides would be the same backend query"),
        (["{base}", "{log}"], "a log has no import timings"),
        (["{base}", "{bad}"], "bad.json:4: "),
        (["{base}", "{empty_dir}"], "no *.json or *.jsonl file in this directory"),
        (["{base}", "{lazy_only}"], "head: no startup in"),
        (["{base}", "{base}", "--fail-if-slower", "ten"], "should be a percentage"),
    ],
    ids=["one-side", "no-head", "three-sides", "backend-unused", "side-option-with-files", "side-option-no-backend", "same-query", "log", "malformed", "empty-dir", "no-startup", "bad-percent"],
)
def test_bad_usage_and_input_is_one_clear_line_and_status_2(tmp_path: Path, args: List[str], words: str) -> None:
    (tmp_path / "empty").mkdir()
    names = {
        "base": hand_report(tmp_path / "base.json", [module("src", 1)]),
        "log": write(tmp_path / "app.log", "Stopping runtime file tracing...\nLOADED_SRC_FILE: /app/src/x.py\n"),
        "bad": write(tmp_path / "bad.json", '{\n  "schema": "otel-import-tracer/report",\n  "schema_version": 1,\n  oops\n}\n'),
        "empty_dir": str(tmp_path / "empty"),
        "lazy_only": hand_report(tmp_path / "lazy.json", [module("src", 1, lazy=True)], startup_ms=None),
    }
    result = run_diff(*(arg.format(**names) for arg in args))
    if "should be a percentage" in words:  # argparse's own usage error
        assert result.returncode == 2 and words in result.stderr.decode() and "Traceback" not in result.stderr.decode(), child_output(result)
    else:
        assert_clean_error(result, words)
    assert result.stdout == b""


def test_names_cannot_break_out_of_the_terminal_or_the_markdown_table() -> None:
    hostile = "src.a|b`c\x1b[2J\nforged"
    result = diff.diff([report([module(hostile, 1)])], [report([module(hostile, 60)])])
    text = diff_render.format_text(result)
    assert "\x1b" not in text and "\nforged" not in text and "\\x1b[2J\\nforged" in text
    markdown = diff_render.format_markdown(result)
    row = next(line for line in markdown.splitlines() if "2J" in line)
    assert len(re.findall(r"(?<!\\)\|", row)) == 6 and row.count("`") == 2 and "\x1b" not in row
    assert json.loads(diff_render.format_json(result))["changes"][0]["name"] == hostile
