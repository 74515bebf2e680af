"""``otel-import-tracer diff``: what changed in startup between two sets of runs.

The end-to-end tests change a generated app between sets of real traced runs (one module added,
one made slow by 50 ms; and the unchanged build run again): diff finds exactly those, the gates
of the CI recipe fail on the change and pass on the same build, whose differences are within
the noise. The hand-built reports pin down medians, the noise rule, lazy moves and bad input.
The 20-of-20 repetitions under load are scripts/stress/diff_gate.py's."""

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
SLOW_S = 0.05  # what the head's slow module sleeps: the regression the CI recipe's gates must catch
RECIPE_GATES = ("--fail-if-module-slower", "20", "--fail-if-slower", "10%")  # as README's and docs/diff.md's CI recipe sets them
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
    """Reports of a 30-module generated app (base, and the same build again: same), and of a copy
    with a module added and one made slow (head). The runs alternate, base, head, same, so a busy
    moment of the machine slows all three."""
    where = tmp_path_factory.mktemp("changed-app")
    base, head = where / "base-app", where / "head-app"
    write_package(base, 30, name="src")
    shutil.copytree(base, head)
    (head / "src" / "extra.py").write_text("EXTRA = 1\n")
    last = head / "src" / "mod29.py"
    last.write_text(last.read_text() + "\nfrom src import extra\n")
    slow = head / "src" / "mod10.py"
    slow.write_text(slow.read_text() + f"\nimport time\ntime.sleep({SLOW_S})\n")
    for side in ("base", "head", "same"):
        (where / side).mkdir()
    children: List[str] = []  # each run's stderr, shown when what arrived falls short
    with OtlpReceiver() as receiver:
        otlp = {side: {**receiver.env("http"), "OTEL_SERVICE_NAME": SERVICE, "OTEL_RESOURCE_ATTRIBUTES": f"service.version={version}"}
                for side, version in VERSIONS.items()}
        for _ in range(RUNS_PER_SIDE):
            children.append(traced_run(base, where / "base", otlp["base"]))
            children.append(traced_run(head, where / "head", otlp["head"]))
            children.append(traced_run(base, where / "same", {}))
        EXPORTED[where] = receiver.exports()
        startups = len(receiver.spans(semconv.SPAN_STARTUP))
    shown = "\n---\n".join(children)
    for side in ("base", "head", "same"):
        assert len(list((where / side).glob("imports-*.json"))) == RUNS_PER_SIDE, shown
    assert startups == 2 * RUNS_PER_SIDE, f"{startups} startup spans arrived of {2 * RUNS_PER_SIDE}; the runs' stderr:\n{shown}"
    return where


@pytest.mark.slow  # reads the module's real traced runs
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


@pytest.mark.slow  # reads the module's real traced runs
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


@pytest.mark.slow  # reads the module's real traced runs
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


@pytest.mark.slow  # reads the module's real traced runs
def test_the_new_modules_gate_fails_on_the_changed_app_and_every_gate_passes_on_itself(changed_app: Path) -> None:
    base, head = str(changed_app / "base"), str(changed_app / "head")
    new = run_diff(base, head, "--fail-if-new-modules")
    assert new.returncode == 1, child_output(new)
    assert f"FAILED --fail-if-new-modules: 1 new at startup ({ADDED})" in new.stdout.decode()
    same = run_diff(base, base, "--fail-if-slower", "0%", "--fail-if-new-modules", "--budget-ms", "60000")
    assert same.returncode == 0, child_output(same)
    assert "Gates passed." in same.stdout.decode()


@pytest.mark.slow  # reads the module's real traced runs
def test_the_ci_recipe_fails_on_a_50_ms_regression_in_one_module_and_passes_the_same_build(changed_app: Path) -> None:
    base, head, same = (str(changed_app / side) for side in ("base", "head", "same"))
    regressed = run_diff(base, head, *RECIPE_GATES)
    out = regressed.stdout.decode()
    assert regressed.returncode == 1, child_output(regressed)
    assert f"FAILED --fail-if-module-slower 20 ms: 1 module slower in self time, beyond the noise ({SLOW} +" in out, out
    assert out.split("Biggest changes in import time")[1].splitlines()[2].split()[0] == SLOW, out
    itself = run_diff(base, same, *RECIPE_GATES, "--format", "json")
    assert itself.returncode == 0, child_output(itself)
    found = json.loads(itself.stdout)
    assert found["gates_failed"] == [] and found["noise"]["within_noise"] >= 25, found
    assert all(abs(change["self_delta_ms"]) < 20 for change in found["changes"]), found["changes"]


@pytest.mark.slow  # reads the module's real traced runs
def test_text_and_markdown_name_the_changes(changed_app: Path) -> None:
    text = run_diff(str(changed_app / "base"), str(changed_app / "head")).stdout.decode()
    assert f"Startup diff: base {RUNS_PER_SIDE} startups -> head {RUNS_PER_SIDE} startups (medians)" in text
    assert f"Added (1):\n  {ADDED} (" in text
    assert text.split("Biggest changes in import time")[1].splitlines()[2].split()[0] == SLOW
    markdown = run_diff(str(changed_app / "base"), str(changed_app / "head"), "--format", "markdown").stdout.decode()
    assert "| startup time (median ±MAD) |" in markdown
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
    assert result.base.modules["src.a"] == diff.Timing(cumulative_ms=12, self_ms=12, runs=3, self_spread_ms=2, self_fastest_ms=10)
    assert result.base.modules["src"] == diff.Timing(cumulative_ms=14, self_ms=2, runs=3, self_spread_ms=0, self_fastest_ms=2)
    assert result.base.startup_spread_ms == 10  # MAD of 100, 110, 900: the stalled run counts as one
    assert (result.changes, result.within_noise) == ([], 2)  # no self time moved: nothing changed


def side_reports(tmp_path: Path, label: str, selfs: Sequence[float], startups: Sequence[float]) -> str:
    """A folder of reports, one per startup: ``src`` imports ``src.a``, whose own time is each of ``selfs``."""
    folder = tmp_path / label
    folder.mkdir()
    for index, (own, startup) in enumerate(zip(selfs, startups)):
        modules = [module("src", own + 1.0), module("src.a", own, "src"), module("src.b", 0.3, "src")]
        for entry in modules[1:]:
            entry["stack_parent"] = "src"
        modules[0]["stack_parent"] = None
        hand_report(folder / f"imports-{index}.json", modules, startup_ms=startup)
    return str(folder)


def test_a_change_within_the_noise_is_not_a_change_and_fails_no_gate(tmp_path: Path) -> None:
    # Five startups a side, as a loaded machine gives them: the head's medians moved (src.a +2 ms,
    # startup +11 %), but its fastest runs are not beyond the base's median by three times the
    # base's spread (MAD): noise, not a change.
    base = side_reports(tmp_path, "base", [10, 11, 9, 10, 13], [100, 110, 95, 105, 98])
    head = side_reports(tmp_path, "head", [12, 14, 11, 12, 10], [112, 108, 115, 104, 111])
    result = run_diff(base, head, *RECIPE_GATES, "--format", "json")
    assert result.returncode == 0, child_output(result)
    found = json.loads(result.stdout)
    assert found["changes"] == [] and found["noise"]["within_noise"] == 3, found
    assert (found["base"]["startup_spread_ms"], found["head"]["startup_spread_ms"]) == (5, 3), found
    assert found["startup_change_percent"] == pytest.approx(11.0) and found["startup_beyond_noise"] is False, found
    text = run_diff(base, head, "--fail-if-slower", "10%").stdout.decode()
    assert "Startup time: 100.0 ±5.0 ms -> 111.0 ±3.0 ms, +11.0 ms (+11.0%), within the noise (±15.0 ms)" in text, text
    assert "Biggest changes" not in text and "Within noise: 3 modules, not changes" in text and "Gates passed." in text, text
    # A machine busy for most of one side: 3 of 5 head runs stalled for a time slice in src.a's own
    # code (+30 ms). Its median moved far, with a small MAD; its fastest run did not: load, not code.
    stalled = side_reports(tmp_path, "stalled", [10, 40, 41, 11, 39], [101, 108, 99, 104, 103])
    found = json.loads(run_diff(base, stalled, *RECIPE_GATES, "--format", "json").stdout)
    assert found["changes"] == [] and found["gates_failed"] == [], found
    # The same 50 ms more in src.a's own time on every head run is far beyond that noise: first, and the gates fail.
    slower = side_reports(tmp_path, "slower", [62, 64, 61, 62, 60], [162, 158, 165, 154, 161])
    caught = run_diff(base, slower, *RECIPE_GATES)
    out = caught.stdout.decode()
    assert caught.returncode == 1, child_output(caught)
    assert out.split("Biggest changes in import time")[1].splitlines()[2].split()[:5] == ["src.a", "10.0", "±1.0", "ms", "->"], out
    assert "FAILED --fail-if-module-slower 20 ms: 1 module slower in self time, beyond the noise (src.a +52.0 ms)" in out, out
    assert "FAILED --fail-if-slower 10%: startup is +61.0% (100.0 ms -> 161.0 ms, beyond the noise of ±15.0 ms)" in out, out


def lazy_entry(name: str, state: str, after_startup: Optional[bool] = None, line: int = 3) -> Dict[str, Any]:
    """A report's ``lazy_imports`` entry (report.lazy_import_entry's fields), as Python 3.15 writes it."""
    reified = state == "reified"
    return {
        "name": name, "fromlist": [], "importer": "src.main", "file": "/app/src/main.py", "line": line,
        "declared_ms": 1.0, "thread": "MainThread", "state": state, "after_startup": after_startup,
        "reified_ms": 50.0 if reified else None, "duration_ms": 5.0 if reified else None, "loaded": reified,
        "forced_by": "src.main" if reified else None, "forced_file": "/app/src/main.py" if reified else None,
        "forced_line": 9 if reified else None, "forced_thread": "MainThread" if reified else None, "request": None,
    }


def lazy_report(path: Path, modules: Sequence[Dict[str, Any]], lazy: Optional[Sequence[Dict[str, Any]]]) -> str:
    document = report(modules).document()
    if lazy is not None:
        document["lazy_imports"] = list(lazy)
        document["python"] = "3.15.2"
    return write(path, dumps(document))


def test_imports_moved_between_eager_and_lazy_are_named_with_what_they_did_to_startup(tmp_path: Path) -> None:
    # Base: all eager (a report of 3.14: no lazy_imports at all). Head: src.reports lazy and never
    # used, src.late lazy and first used by a request, src.needed lazy but needed by startup,
    # src.kept eager on both. Swapped, the same three go back to eager.
    eager = [module("src.main", 40), module("src.reports", 12, "src.main"), module("src.late", 8, "src.main"),
             module("src.needed", 5, "src.main"), module("src.kept", 2, "src.main")]
    base = lazy_report(tmp_path / "base.json", eager, None)
    lazy = [module("src.main", 21), module("src.needed", 5, "src.main"), module("src.kept", 2, "src.main"),
            module("src.late", 8, "src.main", lazy=True)]
    head = lazy_report(tmp_path / "head.json", lazy, [lazy_entry("src.reports", "never"), lazy_entry("src.late", "reified", True, 4),
                                                      lazy_entry("src.needed", "reified", False, 5)])
    found = json.loads(run_diff(base, head, "--format", "json").stdout)
    moves = [(m["name"], m["to"], m["fate"], m["base_startup_ms"], m["head_startup_ms"], m["startup_delta_ms"], m["statement"])
             for m in found["lazy_moves"]]
    assert moves == [("src.reports", "lazy", "never used", 12, 0, -12, "/app/src/main.py:3"),
                     ("src.late", "lazy", "first used after startup", 8, 0, -8, "/app/src/main.py:4"),
                     ("src.needed", "lazy", "needed by startup", 5, 5, 0, "/app/src/main.py:5")], found["lazy_moves"]
    back = json.loads(run_diff(head, base, "--format", "json").stdout)["lazy_moves"]
    assert [(m["name"], m["to"], m["startup_delta_ms"]) for m in back] == [("src.reports", "eager", 12), ("src.late", "eager", 8),
                                                                          ("src.needed", "eager", 0)], back
    text = run_diff(base, head).stdout.decode()
    assert "Imports moved between eager and lazy (3):" in text, text
    row = next(line for line in text.splitlines() if line.strip().startswith("src.reports") and "eager" in line)
    assert row.split() == ["src.reports", "eager", "->", "lazy", "(never", "used)", "12.0", "ms", "->", "0.0", "ms", "-12.0", "ms",
                           "/app/src/main.py:3"], text
    markdown = run_diff(base, head, "--format", "markdown").stdout.decode()
    assert "| `src.late` | eager -> lazy (first used after startup) | 8.0 ms -> 0.0 ms | -8.0 ms | /app/src/main.py:4 |" in markdown, markdown
    # Nothing moved: lazy on both sides, or eager on both.
    assert json.loads(run_diff(head, head, "--format", "json").stdout)["lazy_moves"] == []
    assert json.loads(run_diff(base, base, "--format", "json").stdout)["lazy_moves"] == []


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
    assert diff.check(result, diff.Gates(slower_percent=10))[0] == [
        "--fail-if-slower 10%: startup is +15.0% (100.0 ms -> 115.0 ms, beyond the noise of ±1.0 ms)"]
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
    assert "FAILED --fail-if-slower 10%: startup is +50.0% (100.0 ms -> 150.0 ms, beyond the noise of ±1.0 ms)" in slower.stdout.decode()
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
    assert len(re.findall(r"(?<!\\)\|", row)) == 7 and row.count("`") == 2 and "\x1b" not in row
    assert json.loads(diff_render.format_json(result))["changes"][0]["name"] == hostile
