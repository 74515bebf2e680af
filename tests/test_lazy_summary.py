"""The summary of a Python 3.15 run with a lazy import, live and re-rendered from its saved report.

A dependency that the *use* of a lazy name loaded is named "(lazy, first used at MODULE:LINE)"
in the live summary, and "(by ...)" only for an import statement. Read back from the report,
the same run's summary said "(by src.main:2)": the report did not say the load was a use. A
small script app, traced with a report; skipped before 3.15 (no lazy import to make).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.servers import child_output, clean_env

pytestmark = pytest.mark.skipif(
    not hasattr(sys, "set_lazy_imports_filter"), reason="lazy imports (PEP 810) need Python 3.15+"
)

TEST_COLLECTOR = os.environ.get("IMPORT_TRACING_TEST_COLLECTOR", "auto")
# decimal: outside the root, imported by nothing of the tracer's; its first use, line 2, loads it.
MAIN = "lazy import decimal\nZERO = decimal.Decimal(0)\n"
_MS = re.compile(r"\d+(\.\d+)? m?s\b")  # live times are not rounded as a report's are: the words must match


def test_the_summary_of_a_saved_report_names_a_lazy_use_as_the_live_one_does(tmp_path: Path) -> None:
    from otel_import_tracer.reading.render.summary import render
    from otel_import_tracer.reading.report import read_report

    root = tmp_path / "src"
    root.mkdir()
    (root / "__init__.py").write_text("")
    (root / "main.py").write_text(MAIN)
    (tmp_path / "script.py").write_text("import src.main\n")
    report = tmp_path / "imports.json"
    env = clean_env({"ENABLE_IMPORT_TRACING": "true", "IMPORT_TRACING_ROOT": str(root), "IMPORT_TRACING_COLLECTOR": TEST_COLLECTOR,
                     "IMPORT_TRACING_REPORT": str(report), "PYTHONDONTWRITEBYTECODE": "1"})
    result = subprocess.run([sys.executable, "script.py"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, child_output(result)
    live = [line for line in result.stderr.splitlines() if line.startswith("otel-import-tracer: summary: ")
            or line.startswith("otel-import-tracer:   ")]
    assert any("decimal" in line and "(lazy, first used at src.main:2)" in line for line in live), child_output(result)
    saved = render(read_report(str(report)), str(report))
    assert [_MS.sub("T", line) for line in saved] == [_MS.sub("T", line) for line in live], (saved, child_output(result))
