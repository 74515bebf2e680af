"""Issue 24, the package's layout: what a newcomer reading the code should be able to rely on."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Dict, List

import otel_import_tracer

PACKAGE = "otel_import_tracer"
PACKAGE_DIR = Path(otel_import_tracer.__file__).resolve().parent

# -- the reading side ------------------------------------------------------------------------

MAX_LINES = 450
# Files over the limit that other work of issue 24 (and 25) splits; drop each when it lands.
KNOWN_LONG = {
    "telemetry/__init__.py",  # write24
    "collectors/importhook.py",  # write24 / stack25
    "tracing.py",  # write24 (464 lines once issue 27's root note landed)
}


def test_no_file_of_the_package_is_over_450_lines() -> None:
    lengths = {
        str(path.relative_to(PACKAGE_DIR)): len(path.read_text(encoding="utf-8").splitlines()) for path in PACKAGE_DIR.rglob("*.py")
    }
    long = {name: count for name, count in sorted(lengths.items()) if count > MAX_LINES and name not in KNOWN_LONG}
    assert not long, f"files over {MAX_LINES} lines: {long}"


# The package's modules that hold no step of a reading command, only what both sides share:
# the format of the report and of the log lines, names, printable text, the version.
SHARED = {"", "schema", "logs", "naming", "messages", "semconv", "version"}

_CALLS = r"""
import io, json, sys
from otel_import_tracer import cli
files = set()
def profile(frame, event, arg):
    if event == "call":
        files.add(frame.f_code.co_filename)
sys.setprofile(profile)
stdout, sys.stdout = sys.stdout, io.StringIO()
status = cli.main(sys.argv[1:])
sys.setprofile(None)
sys.stdout = stdout
print(json.dumps({"status": status, "files": sorted(files)}))
"""


def called_modules(*args: str) -> List[str]:
    """The package's files whose code runs for ``otel-import-tracer ARGS``, relative to the package."""
    done = subprocess.run([sys.executable, "-c", _CALLS, *args], capture_output=True, timeout=120)
    assert done.returncode == 0, done.stderr.decode()
    found: Dict[str, object] = json.loads(done.stdout)
    assert found["status"] in (0, 1), done.stderr.decode()
    inside = [Path(name).resolve() for name in found["files"]]  # type: ignore[union-attr]
    return sorted({str(path.relative_to(PACKAGE_DIR)) for path in inside if PACKAGE_DIR in path.parents})


def test_audit_of_a_report_runs_in_the_reading_folder_and_the_cli_only(tmp_path: Path) -> None:
    """From argv to output, ``audit REPORT`` stays in ``reading/`` and ``cli.py`` (and the
    leaf modules both sides share): no step of it in the writing side's ``report.py``."""
    root = tmp_path / "src"
    (root / "pkg").mkdir(parents=True)
    for name in ("__init__.py", "main.py", "pkg/__init__.py", "pkg/unused.py"):
        (root / name).write_text("")
    report = tmp_path / "report.json"
    modules = [
        {"name": name, "file": str(root / file), "offset_ms": 1.0, "duration_ms": 2.0, "importer": None, "thread": "MainThread",
         "preloaded": False, "lazy": False, "source": "import"}
        for name, file in (("src", "__init__.py"), ("src.main", "main.py"))
    ]
    report.write_text(json.dumps({
        "schema": "otel-import-tracer/report", "schema_version": 2, "service": None, "host": "h", "pid": 1, "python": "3.11",
        "root": str(root), "collector": "importhook", "trace_id": None, "status": "stopped", "started_at": "2026-01-01T00:00:00Z",
        "started_unix_ns": 0, "startup_complete_ms": 5.0, "modules": modules, "failed_imports": [], "dependencies": [],
    }))
    for output in ("text", "json"):
        ran = called_modules("audit", str(report), "--format", output)
        elsewhere = [name for name in ran if not name.startswith("reading/") and name != "cli.py"
                     and name.replace("/__init__.py", "").replace("__init__.py", "").replace(".py", "") not in SHARED]
        assert not elsewhere, f"audit --format {output} ran code of {elsewhere} (all: {ran})"
        assert any(name.startswith("reading/render/") for name in ran) and "reading/report.py" in ran, ran


def test_an_inputs_kind_is_told_once(tmp_path: Path, monkeypatch: "object") -> None:
    from otel_import_tracer.reading import otlp, sources

    calls: List[bytes] = []
    sniff = otlp.looks_like_otlp

    def counted(raw: bytes) -> bool:
        calls.append(raw)
        return sniff(raw)

    monkeypatch.setattr(otlp, "looks_like_otlp", counted)  # type: ignore[attr-defined]
    log = tmp_path / "app.log"
    log.write_text("LOADED_SRC_FILE: /app/src/main.py\n")
    assert sources.read_input(str(log)).kind == sources.LOG
    assert len(calls) == 1  # the OTLP sniff ran twice for a log


def test_the_never_loaded_files_are_sorted_once(tmp_path: Path) -> None:
    from otel_import_tracer.reading.audit import audit

    (tmp_path / "src").mkdir()
    for name in ("b.py", "a.py"):
        (tmp_path / "src" / name).write_text("")
    result = audit([], str(tmp_path / "src"))
    assert result.never_loaded is result.never_loaded and [Path(f).name for f in result.never_loaded] == ["a.py", "b.py"]
