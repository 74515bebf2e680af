"""Issue 24: a container log is a source like any other. Its reader yields one ``records.Process``
per shutdown block (what the lines carry: the pid, the root, files and module names; no times), and
the audit takes them as it takes a report's, with no branch of its own for logs.

Two real traced processes print their blocks into one log, as two workers of a service do."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import List, Tuple

import pytest

from otel_import_tracer.reading import sources
from otel_import_tracer.reading.records import Module, Process
from tests.support.servers import child_output, clean_env

pytestmark = pytest.mark.python_independent  # the reading side, on lines any Python prints alike

SCRIPT = """\
import os, sys
import src.shared
if sys.argv[1] == "both":
    import src.only_second
print("PID", os.getpid(), flush=True)
"""


def _two_workers(tmp_path: Path) -> Tuple[Path, Path, List[int]]:
    root = tmp_path / "src"
    root.mkdir()
    for name in ("__init__.py", "shared.py", "only_second.py", "unused.py"):
        (root / name).write_text("")
    (tmp_path / "worker.py").write_text(SCRIPT)
    env = clean_env({"ENABLE_IMPORT_TRACING": "true", "IMPORT_TRACING_ROOT": str(root), "IMPORT_TRACING_SUMMARY": "false"})
    log, pids = b"", []
    for which in ("one", "both"):
        run = subprocess.run([sys.executable, "worker.py", which], cwd=tmp_path, env=env, capture_output=True, timeout=120)
        assert run.returncode == 0, child_output(run)
        log += run.stdout
        pids.append(int(next(line for line in run.stdout.decode().splitlines() if line.startswith("PID ")).split()[1]))
    path = tmp_path / "app.log"
    path.write_bytes(log)
    return path, root, pids


def test_a_log_yields_one_process_record_per_block(tmp_path: Path) -> None:
    log, root, pids = _two_workers(tmp_path)
    read = sources.read_input(str(log))
    assert read.kind == sources.LOG
    assert [type(process) for process in read.processes] == [Process, Process], log.read_text()
    assert [process.header.get("pid") for process in read.processes] == pids, log.read_text()
    assert {process.root for process in read.processes} == {str(root)}
    first, second = ({m.name for m in p.modules if m.name} for p in read.processes)
    assert first == {"src", "src.shared"} and second == {"src", "src.shared", "src.only_second"}, log.read_text()
    files = {m.file for p in read.processes for m in p.modules if m.file}
    assert files == {str(root / name) for name in ("__init__.py", "shared.py", "only_second.py")}
    assert all(type(m) is Module and m.offset_ms is None and m.duration_ms is None for p in read.processes for m in p.modules)


def test_the_audit_counts_each_process_of_a_log(tmp_path: Path) -> None:
    """A file two workers loaded, in one log, loaded in 2 processes (the log was counted as one)."""
    log, root, _ = _two_workers(tmp_path)
    result = subprocess.run([sys.executable, "-m", "otel_import_tracer", "audit", str(log), "--root", str(root), "--format", "json"],
                            env=clean_env(), capture_output=True, timeout=120)
    assert result.returncode == 0, child_output(result)
    audit = json.loads(result.stdout)
    processes = {Path(entry["file"]).name: entry["processes"] for entry in audit["loaded"]}
    assert processes == {"__init__.py": 2, "shared.py": 2, "only_second.py": 1}, audit
    assert audit["never_loaded_modules"] == ["src.unused"] and audit["inputs"]["logs"] == 1
