"""Sub-interpreters (``_interpreters``/``_xxsubinterpreters``, 3.14's ``concurrent.interpreters``;
isolated from 3.12, legacy on every Python): tracing is the main interpreter's. One that imports code of the root is left alone, silently:
the ``.pth`` line that ``site`` runs in it starts nothing, so no hook, no thread, no second line
set under the same pid and no second writer of the report.

Real processes: a script of the app's, tracing on from the environment (the ``.pth`` file).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import plain_app
from tests.support.servers import clean_env, line_sets, without_summary

SCRIPT = """\
import os
import sys

from src import settings  # noqa: F401 (the main interpreter's own root code)

HERE = os.path.dirname(os.path.abspath(__file__))
CODE = f"import sys; sys.path.insert(0, {HERE!r}); import src.cache"
mode = sys.argv[1]
if mode == "concurrent":
    from concurrent import interpreters

    interp = interpreters.create()
    interp.exec(CODE)
    interp.close()
else:
    try:
        import _interpreters as low
    except ImportError:  # 3.12
        import _xxsubinterpreters as low
    if hasattr(low, "new_config"):  # 3.13+: a named configuration
        interp = low.create(mode)
    elif sys.version_info >= (3, 12):
        interp = low.create(isolated=(mode == "isolated"))
    else:  # legacy sub-interpreters only
        interp = low.create()
    failed = low.run_string(interp, CODE)
    if failed is not None:
        raise SystemExit(f"the sub-interpreter failed: {failed}")
    low.destroy(interp)
print("done", flush=True)
"""

MODES = [
    pytest.param("isolated", marks=pytest.mark.skipif(sys.version_info < (3, 12), reason="isolated sub-interpreters are new in 3.12")),
    "legacy",  # shared GIL; before 3.12 the only kind
    pytest.param("concurrent", marks=pytest.mark.skipif(
    sys.version_info < (3, 14), reason="concurrent.interpreters is new in 3.14"))]


@pytest.mark.parametrize("mode", MODES)
def test_a_sub_interpreter_importing_root_code_is_left_alone(tmp_path: Path, collector: str, mode: str) -> None:
    app = tmp_path / "app"
    shutil.copytree(plain_app.APP_DIR, app)
    (app / "job.py").write_text(SCRIPT)
    reports = tmp_path / "reports"
    env = clean_env({"ENABLE_IMPORT_TRACING": "true", "IMPORT_TRACING_ROOT": str(app / "src"),
                     "IMPORT_TRACING_COLLECTOR": collector, "OTEL_TRACES_EXPORTER": "none",
                     "IMPORT_TRACING_REPORT": str(reports / "imports-{pid}.json")})
    result = subprocess.run([sys.executable, "job.py", mode], cwd=str(app), env=env, capture_output=True, text=True, timeout=120)
    output = result.stdout + result.stderr
    assert result.returncode == 0 and "done" in result.stdout, output
    assert "otel-import-tracer:" not in without_summary(output), output  # no internal error, no warning (the summary aside)
    sets = line_sets(result.stdout)  # raises on two line sets of one pid
    assert list(sets.values()) == [["src", "src.settings"]], output  # the main interpreter's
    (path,) = reports.glob("imports-*.json")
    report = json.loads(path.read_text())
    assert report["pid"] in sets and {m["name"] for m in report["modules"]} == {"src", "src.settings"}, output
