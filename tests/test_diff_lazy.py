"""``diff`` of an app before and after some of its imports were made lazy (Python 3.15, PEP 810).

A real app traced with a report, run as a script that imports it, marks startup complete, then
uses one module as a request would: before, every import is eager; after, three lines became
``lazy import``: one never used, one first used after startup, one needed by startup. diff names
exactly those three, with what each did to startup. Skipped before 3.15 (no lazy import to make);
the hand-written reports of tests/test_diff.py test the same on every Python.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Dict, Optional

import pytest

from tests.support.otlp_receiver import OtlpReceiver, otlp_json
from tests.support.servers import REPO, child_output, clean_env

pytestmark = pytest.mark.skipif(
    not hasattr(sys, "set_lazy_imports_filter"), reason="lazy imports (PEP 810) need Python 3.15+"
)

TEST_COLLECTOR = os.environ.get("IMPORT_TRACING_TEST_COLLECTOR", "auto")
SCRIPT = """\
import otel_import_tracer
import src.main
otel_import_tracer.mark_startup_complete()
print(src.main.later())
"""
EAGER_MAIN = """\
import src.reports
import src.late
import src.needed
import src.kept

LIMIT = src.needed.LIMIT


def later():
    return src.late.render()
"""
MODULES = {
    "__init__.py": "",
    "reports.py": "import time\ntime.sleep(0.06)\n",
    "late.py": "import time\ntime.sleep(0.04)\n\n\ndef render():\n    return 'late'\n",
    "needed.py": "import time\ntime.sleep(0.02)\nLIMIT = 1\n",
    "kept.py": "KEPT = 1\n",
}
MOVED = {"src.reports": "never used", "src.late": "first used after startup", "src.needed": "needed by startup"}


def run_app(where: Path, main: str, reports: Path, extra: Optional[Dict[str, str]] = None) -> None:
    root = where / "src"
    root.mkdir(parents=True)
    for name, text in {**MODULES, "main.py": main}.items():
        (root / name).write_text(text)
    (where / "script.py").write_text(SCRIPT)
    env = clean_env({"ENABLE_IMPORT_TRACING": "true", "IMPORT_TRACING_ROOT": str(root), "IMPORT_TRACING_COLLECTOR": TEST_COLLECTOR,
                     "IMPORT_TRACING_REPORT": str(reports / "imports-{pid}.json"), "PYTHONDONTWRITEBYTECODE": "1", **(extra or {})})
    result = subprocess.run([sys.executable, "script.py"], cwd=where, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and result.stdout.splitlines()[0] == "late", child_output(result)


def test_diff_names_exactly_the_imports_made_lazy_and_what_each_did_to_startup(tmp_path: Path) -> None:
    lazy_main = EAGER_MAIN.replace("import src.reports", "lazy import src.reports").replace(
        "import src.late", "lazy import src.late").replace("import src.needed", "lazy import src.needed")
    sides = {"before": EAGER_MAIN, "after": lazy_main}
    for side, main in sides.items():
        (tmp_path / side).mkdir()
        run_app(tmp_path / f"{side}-app", main, tmp_path / side)
    result = subprocess.run([sys.executable, "-m", "otel_import_tracer", "diff", str(tmp_path / "before"), str(tmp_path / "after"),
                             "--format", "json"], capture_output=True, text=True, cwd=str(REPO), timeout=120)
    assert result.returncode == 0, child_output(result)
    moves: Dict[str, dict] = {move["name"]: move for move in json.loads(result.stdout)["lazy_moves"]}
    assert {name: (move["to"], move["fate"]) for name, move in moves.items()} == {name: ("lazy", fate) for name, fate in MOVED.items()}, moves
    main = tmp_path / "after-app" / "src" / "main.py"
    assert moves["src.reports"]["statement"] == f"{main}:1" and moves["src.needed"]["statement"] == f"{main}:3", moves
    # Never used and first used after startup: their whole load left startup. Needed by startup: it stayed
    # (its 20 ms on both sides; how much more it took on each is the machine's noise).
    assert moves["src.reports"]["startup_delta_ms"] <= -55 and moves["src.reports"]["head_startup_ms"] == 0, moves
    assert moves["src.late"]["startup_delta_ms"] <= -35 and moves["src.late"]["head_startup_ms"] == 0, moves
    assert moves["src.needed"]["head_startup_ms"] >= 19 and moves["src.needed"]["base_startup_ms"] >= 19, moves
    back = subprocess.run([sys.executable, "-m", "otel_import_tracer", "diff", str(tmp_path / "after"), str(tmp_path / "before")],
                          capture_output=True, text=True, cwd=str(REPO), timeout=120)
    assert back.returncode == 0, child_output(back)
    assert "Imports moved between eager and lazy (3):" in back.stdout, back.stdout
    assert "src.reports  lazy -> eager (never used)" in back.stdout, back.stdout


def test_a_plan_mode_run_says_so_and_diff_does_not_count_its_laziness_as_moves(tmp_path: Path) -> None:
    """Plan mode (IMPORT_TRACING_LAZY_PLAN) makes every import of the root lazy: the code did not
    change. Its report and its app.startup span say the run was in plan mode, and diff against an
    eager run of the same code lists no moves (before: every statement 'went lazy') and says that
    one side was a plan-mode run, from the reports and from the saved trace alike."""
    for side in ("before", "after"):
        (tmp_path / side).mkdir()
    run_app(tmp_path / "before-app", EAGER_MAIN, tmp_path / "before")
    with OtlpReceiver() as receiver:
        # The export's bounded wait at stop: its default 3 s is short on a loaded machine.
        plan_mode = {**receiver.env("grpc"), "IMPORT_TRACING_LAZY_PLAN": "true", "IMPORT_TRACING_SHUTDOWN_TIMEOUT": "60"}
        run_app(tmp_path / "after-app", EAGER_MAIN, tmp_path / "after", plan_mode)
        (startup,) = receiver.wait_for_spans("app.startup")
        exports = receiver.exports()
    (before,), (after,) = (list((tmp_path / side).glob("*.json")) for side in ("before", "after"))
    assert json.loads(before.read_text())["lazy_plan"] is False
    assert json.loads(after.read_text())["lazy_plan"] is True
    assert startup.attributes.get("python.import_tracing.lazy_plan") is True, startup.attributes
    trace = tmp_path / "trace.jsonl"
    trace.write_text("".join(json.dumps(otlp_json(request)) + "\n" for request in exports))

    for head in (tmp_path / "after", trace):
        for output_format in ("json", "text", "markdown"):
            result = subprocess.run([sys.executable, "-m", "otel_import_tracer", "diff", str(tmp_path / "before"), str(head),
                                     "--format", output_format], capture_output=True, text=True, cwd=str(REPO), timeout=120)
            assert result.returncode == 0, child_output(result)
            if output_format == "json":
                document = json.loads(result.stdout)
                assert document["lazy_moves"] == [], (head, document["lazy_moves"])
                assert ("lazy_plan" in document["base"], document["head"].get("lazy_plan")) == (False, True), (head, document)
            else:
                assert "Imports moved between eager and lazy" not in result.stdout and "**Imports moved" not in result.stdout, (head, result.stdout)
                assert "head: a lazy plan mode run" in result.stdout, (head, result.stdout)
