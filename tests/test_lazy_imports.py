"""Python 3.15's explicit lazy imports (PEP 810) of the root's code: declared, reified, never used.

A real uvicorn under ``opentelemetry-instrument`` (the request span comes from the FastAPI
instrumentation), exporting over real OTLP to the receiver; a script for a filter installed
before the tracer starts. Skipped before 3.15: there is no lazy import to see.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any, Dict, Iterator, List

import pytest

from otel_import_tracer import semconv
from tests.support import lazy_app
from tests.support.otlp_receiver import OtlpReceiver, ReceivedSpan
from tests.support.servers import ServiceProcess, child_output, clean_env, console_script, free_port, shutdown_lines

pytestmark = pytest.mark.skipif(
    not hasattr(sys, "set_lazy_imports_filter"), reason="lazy imports (PEP 810) need Python 3.15+"
)

TEST_COLLECTOR = __import__("os").environ.get("IMPORT_TRACING_TEST_COLLECTOR", "auto")


@pytest.fixture
def receiver() -> Iterator[OtlpReceiver]:
    with OtlpReceiver() as otlp:
        yield otlp


def _at(root: Path, marker: str) -> str:
    return f"{root / 'main.py'}:{lazy_app.line_of(marker)}"


@pytest.mark.slow
def test_each_lazy_import_is_declared_reified_or_never_used(tmp_path: Path, receiver: OtlpReceiver) -> None:
    root = lazy_app.write_lazy_app(tmp_path)
    report_path = tmp_path / "report.json"
    port = free_port()
    env = clean_env({
        **receiver.env("grpc"),
        "ENABLE_IMPORT_TRACING": "true",
        "IMPORT_TRACING_ROOT": str(root),
        "IMPORT_TRACING_COLLECTOR": TEST_COLLECTOR,
        "IMPORT_TRACING_REPORT": str(report_path),
        "IMPORT_TRACING_SUMMARY": "true",
        "IMPORT_TRACING_SHUTDOWN_TIMEOUT": "60",
        "OTEL_SERVICE_NAME": "lazy-app",
    })
    argv = [console_script("opentelemetry-instrument"), console_script("uvicorn"), "src.main:app",
            "--host", "127.0.0.1", "--port", str(port)]
    with ServiceProcess(argv, env, tmp_path, port) as service:
        service.wait_ready()
        service.wait_for_output("startup trace", timeout=120)
        status, body = service.get("/filter")
        assert status == 200, service.output()
        seen_by_app = json.loads(body)
        assert service.get(lazy_app.LATE_PATH)[0] == 200
        output = service.stop()

    # The application's filter still decides, and is what it asks for.
    assert seen_by_app["mine"] is True, output
    assert seen_by_app["calls"] == ["src.never_used", "src.late", "src.settings", "src.startup_used", "src.helpers"], output

    # The lines: loads only. A lazy import never used did not load; the others did.
    _, modules, _ = shutdown_lines(output)
    assert lazy_app.NEVER not in modules, output
    assert {lazy_app.LATE, lazy_app.STARTUP_USED, lazy_app.FROM_MODULE, lazy_app.EAGER} <= set(modules), output

    # The report's lazy section: one entry per lazy statement that stayed lazy (settings did not).
    report = json.loads(report_path.read_text())
    entries = {entry["name"]: entry for entry in report["lazy_imports"]}
    assert set(entries) == {lazy_app.NEVER, lazy_app.LATE, lazy_app.STARTUP_USED, lazy_app.FROM_MODULE}, output
    for name, marker in [(lazy_app.NEVER, "never"), (lazy_app.LATE, "late"), (lazy_app.STARTUP_USED, "startup_used"),
                         (lazy_app.FROM_MODULE, "helpers")]:
        entry = entries[name]
        assert (entry["importer"], f"{entry['file']}:{entry['line']}") == ("src.main", _at(root, "DECLARE " + marker)), entry
    assert entries[lazy_app.FROM_MODULE]["fromlist"] == ["shout"]
    never = entries[lazy_app.NEVER]
    assert (never["state"], never["forced_file"], never["duration_ms"]) == ("never", None, None), never
    for name, marker in [(lazy_app.STARTUP_USED, "startup_used"), (lazy_app.FROM_MODULE, "helpers")]:
        entry = entries[name]
        assert (entry["state"], entry["after_startup"]) == ("reified", False), entry
        assert f"{entry['forced_file']}:{entry['forced_line']}" == _at(root, "FORCE " + marker), entry
        assert entry["duration_ms"] is not None and entry["reified_ms"] < report["startup_complete_ms"], entry
    late = entries[lazy_app.LATE]
    assert (late["state"], late["after_startup"]) == ("reified", True), late
    assert f"{late['forced_file']}:{late['forced_line']}" == _at(root, "FORCE late"), late
    assert late["reified_ms"] > report["startup_complete_ms"] and late["thread"], late
    assert late["request"]["name"] == lazy_app.REQUEST_SPAN, late

    # The summary says it in one line.
    (line,) = [line for line in output.splitlines() if line.startswith("otel-import-tracer:   lazy imports:")]
    assert "4 declared" in line and "2 reified during startup" in line and "1 after startup" in line, line
    assert "1 never used (src.never_used)" in line, line

    # The spans: declarations on app.startup, the startup reifications on their import spans,
    # the late one on the request span, the never-used one at stop.
    (startup,) = receiver.wait_for_spans(semconv.SPAN_STARTUP)
    declared = {e.attributes[semconv.ATTR_MODULE_NAME]: e for e in startup.event(semconv.EVENT_LAZY_DECLARED)}
    assert set(declared) == set(entries), startup.events
    assert declared[lazy_app.NEVER].attributes[semconv.ATTR_IMPORT_LAZY] == "declared"
    assert declared[lazy_app.LATE].attributes[semconv.ATTR_IMPORT_LAZY] == "declared"
    assert declared[lazy_app.STARTUP_USED].attributes[semconv.ATTR_IMPORT_LAZY] == "reified"
    assert declared[lazy_app.FROM_MODULE].attributes[semconv.ATTR_LINE_NUMBER] == lazy_app.line_of("DECLARE helpers")
    loaded = {e.attributes[semconv.ATTR_MODULE_NAME]: e for e in startup.event(semconv.EVENT_MODULE_LOADED)}
    assert lazy_app.NEVER not in loaded
    forced = loaded[lazy_app.STARTUP_USED].attributes
    assert forced[semconv.ATTR_IMPORT_LAZY] == "reified", forced
    assert forced[semconv.ATTR_LAZY_FORCED_AT] == _at(root, "FORCE startup_used")
    assert forced[semconv.ATTR_LAZY_DECLARED_AT] == _at(root, "DECLARE startup_used")
    assert semconv.ATTR_IMPORT_LAZY not in loaded[lazy_app.EAGER].attributes  # the app's filter made it eager
    imports = {s.name[len(semconv.SPAN_IMPORT_PREFIX):]: s for s in receiver.spans() if s.is_module_import}
    assert imports[lazy_app.FROM_MODULE].attributes[semconv.ATTR_LAZY_FORCED_AT] == _at(root, "FORCE helpers")

    (request,) = receiver.wait_for_spans(lambda s: s.name == lazy_app.REQUEST_SPAN)
    (late_event,) = request.event(semconv.EVENT_MODULE_LOADED)
    assert late_event.attributes[semconv.ATTR_MODULE_NAME] == lazy_app.LATE
    assert late_event.attributes[semconv.ATTR_IMPORT_LAZY] == "reified"
    assert late_event.attributes[semconv.ATTR_LAZY_FORCED_AT] == _at(root, "FORCE late")
    assert late["request"]["trace_id"] == request.trace_id

    (never_span,) = receiver.wait_for_spans(lambda s: bool(s.event(semconv.EVENT_LAZY_NEVER_USED)))
    (never_event,) = never_span.event(semconv.EVENT_LAZY_NEVER_USED)
    assert never_event.attributes[semconv.ATTR_MODULE_NAME] == lazy_app.NEVER
    assert never_event.attributes[semconv.ATTR_IMPORT_LAZY] == "never"
    assert never_event.attributes[semconv.ATTR_LAZY_DECLARED_AT] == _at(root, "DECLARE never")


SCRIPT = """\
import sys
calls = []

def theirs(importer, name, fromlist):
    if name.startswith("src"):  # the standard library's own lazy imports ask it too
        calls.append(name)
    return name != "src.eager"

sys.set_lazy_imports_filter(theirs)
found = (sys.set_lazy_imports_filter, sys.get_lazy_imports_filter)

import os
import otel_import_tracer
os.environ["ENABLE_IMPORT_TRACING"] = "true"  # only now: nothing started tracing at interpreter start
assert otel_import_tracer.start_tracing()
assert sys.get_lazy_imports_filter() is theirs, sys.get_lazy_imports_filter()
import src.main
assert "src.eager" not in sys.lazy_modules and "src.kept" in sys.lazy_modules, sys.lazy_modules

def later(importer, name, fromlist):
    if name.startswith("src"):
        calls.append("later:" + name)
    return True

sys.set_lazy_imports_filter(later)  # a filter the app installs while tracing runs
assert sys.get_lazy_imports_filter() is later
import src.second
otel_import_tracer.stop_tracing()
# Given back as found, with the app's latest filter in the slot.
assert (sys.set_lazy_imports_filter, sys.get_lazy_imports_filter) == found
assert sys.get_lazy_imports_filter() is later
print("CALLS", calls)
"""


def test_an_app_filter_set_before_and_after_the_tracer_starts_keeps_deciding(tmp_path: Path) -> None:
    root = tmp_path / "src"
    root.mkdir()
    (root / "__init__.py").write_text("")
    (root / "main.py").write_text("lazy import src.kept\nlazy import src.eager\n")
    (root / "second.py").write_text("lazy import src.third\n")
    for name in ("kept", "eager", "third"):
        (root / f"{name}.py").write_text("")
    report = tmp_path / "report.json"
    (tmp_path / "script.py").write_text(SCRIPT)
    env = clean_env({"IMPORT_TRACING_ROOT": str(root),
                     "IMPORT_TRACING_COLLECTOR": TEST_COLLECTOR, "IMPORT_TRACING_REPORT": str(report)})
    result = subprocess.run([sys.executable, "script.py"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, child_output(result)
    assert "CALLS ['src.kept', 'src.eager', 'later:src.third']" in result.stdout, child_output(result)
    entries = {entry["name"]: entry for entry in json.loads(report.read_text())["lazy_imports"]}
    assert {name: entry["state"] for name, entry in entries.items()} == {"src.kept": "never", "src.third": "never"}
    assert entries["src.third"]["importer"] == "src.second"
    _, modules, _ = shutdown_lines(result.stderr + result.stdout)
    assert "src.eager" in modules and "src.kept" not in modules, child_output(result)


PLAN_SCRIPT = """\
import os
import csv  # not the root's code: plan mode leaves it eager
assert type(csv).__name__ == "module", type(csv)
import otel_import_tracer
os.environ["ENABLE_IMPORT_TRACING"] = "true"
assert otel_import_tracer.start_tracing()
import src.main
otel_import_tracer.mark_startup_complete()
print(src.main.later())
otel_import_tracer.stop_tracing()
"""

PLAN_MAIN = """\
import src.startup_used
import src.late
import src.registers_routes
from src.helpers import shout

LIMIT = src.startup_used.LIMIT
GREETING = shout("hi")


def later():
    return src.late.render()
"""


def _plan_run(tmp_path: Path) -> "subprocess.CompletedProcess[str]":
    root = tmp_path / "src"
    root.mkdir()
    files = {"__init__.py": "", "main.py": PLAN_MAIN, "startup_used.py": "import time\ntime.sleep(0.02)\nLIMIT = 1\n",
             "late.py": "import time\ntime.sleep(0.05)\n\ndef render():\n    return 'late'\n",
             "registers_routes.py": "import time\ntime.sleep(0.03)\n", "helpers.py": "def shout(t):\n    return t.upper()\n"}
    for name, text in files.items():
        (root / name).write_text(text)
    (tmp_path / "script.py").write_text(PLAN_SCRIPT)
    env = clean_env({"IMPORT_TRACING_ROOT": str(root), "IMPORT_TRACING_COLLECTOR": TEST_COLLECTOR,
                     "IMPORT_TRACING_REPORT": str(tmp_path / "report.json"), "IMPORT_TRACING_LAZY_PLAN": "true"})
    result = subprocess.run([sys.executable, "script.py"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, child_output(result)
    return result


def _lazy_command(*args: str) -> "subprocess.CompletedProcess[str]":
    return subprocess.run([sys.executable, "-m", "otel_import_tracer", "lazy", *args], capture_output=True, text=True, timeout=120)


def test_plan_mode_and_the_lazy_plan_classify_every_import_statement_of_the_root(tmp_path: Path) -> None:
    run = _plan_run(tmp_path)
    assert "lazy plan mode (IMPORT_TRACING_LAZY_PLAN)" in run.stderr, child_output(run)
    _, modules, _ = shutdown_lines(run.stdout)
    assert "src.registers_routes" not in modules and "src.late" in modules, child_output(run)

    result = _lazy_command(str(tmp_path / "report.json"), "--format", "json")
    assert result.returncode == 0, child_output(result)
    plan = json.loads(result.stdout)
    kinds = {(Path(s["file"]).name, s["name"]): s["kind"] for s in plan["statements"]}
    assert kinds == {("main.py", "src.startup_used"): "during_startup", ("main.py", "src.late"): "after_startup",
                     ("main.py", "src.registers_routes"): "never", ("main.py", "src.helpers"): "during_startup",
                     # the modules' own "import time", used at once wherever they ran
                     ("startup_used.py", "time"): "during_startup", ("late.py", "time"): "after_startup"}, plan
    main = tmp_path / "src" / "main.py"
    by_name = {s["name"]: s for s in plan["statements"] if s["file"] == str(main)}
    assert by_name["src.startup_used"]["forced_at"] == f"{main}:6"
    assert by_name["src.late"]["paste"] == "lazy import src.late" and by_name["src.late"]["startup_ms"] >= 50
    assert by_name["src.helpers"]["fromlist"] == ["shout"]
    ordered = [s["startup_ms"] or 0 for s in plan["statements"]]
    assert ordered == sorted(ordered, reverse=True), plan
    assert any("side effects" in note for note in plan["notes"]), plan

    text = _lazy_command(str(tmp_path), "--exclude", "src.registers_routes")
    assert text.returncode == 0, child_output(text)
    assert "src.registers_routes" not in text.stdout and "(1 excluded)" in text.stdout, text.stdout
    assert f'{main}: __lazy_modules__ = ["src.late"]' in text.stdout, text.stdout
    markdown = _lazy_command(str(tmp_path / "report.json"), "--format", "markdown")
    assert markdown.returncode == 0 and "| after_startup |" in markdown.stdout, child_output(markdown)


FORK_SCRIPT = """\
import os
import sys
import src.main
pid = os.fork()
if pid == 0:
    src.main.use()
    sys.exit(0)
os.waitpid(pid, 0)
"""


@pytest.mark.skipif(not hasattr(__import__("os"), "fork"), reason="needs os.fork")
def test_a_forked_child_reifies_what_its_parent_declared(tmp_path: Path) -> None:
    """A --preload master declares, its worker uses: the worker's report has the statement reified."""
    root = tmp_path / "src"
    root.mkdir()
    (root / "__init__.py").write_text("")
    (root / "main.py").write_text("lazy import src.used\nlazy import src.unused\n\ndef use():\n    return src.used.VALUE\n")
    (root / "used.py").write_text("VALUE = 1\n")
    (root / "unused.py").write_text("")
    (tmp_path / "script.py").write_text(FORK_SCRIPT)
    env = clean_env({"ENABLE_IMPORT_TRACING": "true", "IMPORT_TRACING_ROOT": str(root), "IMPORT_TRACING_COLLECTOR": TEST_COLLECTOR,
                     "IMPORT_TRACING_REPORT": str(tmp_path / "report-{pid}.json")})
    result = subprocess.run([sys.executable, "script.py"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, child_output(result)
    entries = [json.loads(path.read_text())["lazy_imports"] for path in tmp_path.glob("report-*.json")]
    states = sorted(({entry["name"]: entry["state"] for entry in found} for found in entries), key=lambda s: s["src.used"])
    assert states == [{"src.used": "never", "src.unused": "never"},  # the parent: nothing used there
                      {"src.used": "reified", "src.unused": "never"}], (states, child_output(result))
    (used,) = [entry for found in entries for entry in found if entry["state"] == "reified"]
    assert f"{used['forced_file']}:{used['forced_line']}" == f"{root / 'main.py'}:5", used
