"""Issue 26's demo rows on Python 3.15: the demo with every import lazy (``PYTHON_LAZY_IMPORTS=all``).

Measured on 2026-12-07: the summary said "slowest dependencies: fastapi.applications 418.1 ms
(by src.main:34)", where line 34 is where ``FastAPI`` is first *used*, shown as if it were an
import statement. The real ``otel-import-tracer demo --exercise`` runs here, as a user runs it.
Skipped before 3.15: there is no lazy import to see.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import List

import pytest

from otel_import_tracer.naming import path_for
from tests.support.servers import DEMO_DIR, DEMO_ROOT, clean_env, console_script, free_port

pytestmark = pytest.mark.skipif(
    not hasattr(sys, "set_lazy_imports_filter"), reason="lazy imports (PEP 810) need Python 3.15+"
)

# "(by src.main:34)": an import statement of the root's code, as the summary names one.
_BY_SITE = re.compile(r"\bby (src(?:\.\w+)*):(\d+)\b")


def _source_line(module: str, line: int) -> str:
    module_path, package_init = path_for(module, str(DEMO_ROOT))
    path = package_init if os.path.exists(package_init) else module_path
    return Path(path).read_text(encoding="utf-8").splitlines()[line - 1].strip()


def _is_import_statement(text: str) -> bool:
    return text.startswith(("import ", "from ", "lazy import ", "lazy from ")) or "import_module(" in text


def _main_line(marker: str) -> int:
    lines = (DEMO_ROOT / "main.py").read_text(encoding="utf-8").splitlines()
    return next(number for number, text in enumerate(lines, 1) if text.startswith(marker))


@pytest.mark.slow
def test_the_demo_with_every_import_lazy_tells_uses_from_import_statements(tmp_path: Path) -> None:
    env = {**clean_env(), "TMPDIR": str(tmp_path), "PYTHON_LAZY_IMPORTS": "all",
           "IMPORT_TRACING_REPORT": str(tmp_path / "imports.json")}
    result = subprocess.run(
        [console_script("otel-import-tracer"), "demo", "--exercise", "--port", str(free_port())],
        env=env, cwd=str(DEMO_DIR.parent), capture_output=True, text=True, timeout=120,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    summary: List[str] = [line for line in result.stderr.splitlines() if line.startswith("otel-import-tracer:   ")]
    assert summary, output

    # Declarations are told from reifications: how many statements were declared lazy, and what
    # became of them, with the use that forced each during startup.
    lazy_line = next((line for line in summary if line.startswith("otel-import-tracer:   lazy imports: ")), None)
    assert lazy_line is not None, output
    assert re.search(r"lazy imports: \d+ declared, \d+ reified during startup, \d+ after startup", lazy_line), lazy_line
    use = _main_line("app = FastAPI(")  # where FastAPI is first used: no import statement
    assert f"forced fastapi at src.main:{use}" in lazy_line, lazy_line

    # No use site is presented as an import statement: every "by MODULE:LINE" is one.
    for line in summary:
        for module, number in _BY_SITE.findall(line):
            text = _source_line(module, int(number))
            assert _is_import_statement(text), f"{module}:{number} is {text!r}, not an import statement:\n{line}\n\n{output}"
    dependencies = next(line for line in summary if line.startswith("otel-import-tracer:   slowest dependencies: "))
    # fastapi.applications is loaded by that use of FastAPI: said as a use of a lazy import.
    assert re.search(rf"fastapi\.applications [\d.]+ m?s \(lazy, first used at src\.main:{use}\)", dependencies), dependencies


@pytest.mark.slow
def test_the_demo_with_the_plans_lines_applied_no_longer_imports_what_went_lazy() -> None:
    """The benchmark's first half: a staging run of a copy of the demo in plan mode, the plan's
    lines pasted into a second copy; its startup no longer imports csv (the export plugin's, used
    only by a request), and imports nothing the first did not."""
    result = subprocess.run([sys.executable, "-m", "benchmarks.bench_lazy_plan", "--rounds", "0"], cwd=str(DEMO_DIR.parent.parent),
                            env=clean_env(), capture_output=True, text=True, timeout=240)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "applied: src/plugins/csv_export.py:3: lazy import csv  (after_startup," in result.stdout, output
    assert "modules no longer imported by startup (untraced, before - after): _csv, csv\n" in result.stdout, output
