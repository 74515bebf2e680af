"""``otel-import-tracer lazy`` on the report of a run before Python 3.15: it explains that the plan needs 3.15."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.servers import child_output, clean_env


@pytest.mark.skipif(hasattr(sys, "set_lazy_imports_filter"), reason="a 3.15 run has lazy imports: tests/test_lazy_imports.py plans from it")
def test_the_plan_of_a_run_before_3_15_says_it_needs_3_15(tmp_path: Path) -> None:
    root = tmp_path / "src"
    root.mkdir()
    (root / "__init__.py").write_text("")
    (root / "main.py").write_text("import json\n")
    env = clean_env({"ENABLE_IMPORT_TRACING": "true", "IMPORT_TRACING_ROOT": str(root),
                     "IMPORT_TRACING_REPORT": str(tmp_path / "report.json"), "IMPORT_TRACING_LAZY_PLAN": "true"})
    run = subprocess.run([sys.executable, "-c", "import src.main"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, child_output(run)
    assert "IMPORT_TRACING_LAZY_PLAN needs Python 3.15" in run.stderr, child_output(run)
    result = subprocess.run([sys.executable, "-m", "otel_import_tracer", "lazy", str(tmp_path / "report.json")],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2, child_output(result)
    assert "the plan needs a run on Python 3.15" in result.stderr and sys.version.split()[0] in result.stderr, child_output(result)
