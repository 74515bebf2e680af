"""The unmodified service of tests/apps/plain, and how to run it under a real server.

``run_service`` starts a command as a user would, waits until every worker has finished
starting (its report exists while it serves), calls it, stops it with SIGTERM like
``docker stop`` and returns what came out: the log, the reports read while serving, and
when the first request was sent.
"""

from __future__ import annotations

import dataclasses
import json
import signal
import time
from pathlib import Path
from typing import Dict, List, Mapping, Optional, Sequence

from tests.support.servers import ServiceProcess, clean_env, free_port

APP_DIR = Path(__file__).resolve().parents[1] / "apps" / "plain"
ROOT = APP_DIR / "src"
STARTUP = frozenset({"src", "src.main", "src.cache", "src.settings", "src.routes", "src.plugins", "src.plugins.csv_export"})
LAZY = frozenset({"src.lazy_report"})
FAILED = "fastcache_client"
APP_SPAN = "db.connect"  # the span the app makes in its lifespan, when it has an SDK provider


@dataclasses.dataclass
class Run:
    output: str
    reports: Dict[int, dict]  # pid -> the report as it was while the process served
    first_request_ns: int
    returncode: Optional[int]


def run_service(
    argv: Sequence[str],
    tmp_path: Path,
    workers: int = 1,
    env: Optional[Mapping[str, str]] = None,
    paths: Sequence[str] = ("/lazy",),
    stop: int = signal.SIGTERM,
    exported: bool = False,
) -> Run:
    """``argv`` may hold ``{port}``; tracing is on, reports go to ``tmp_path``. ``exported``: wait
    until every worker's startup trace went out before calling it (a SIGKILL test)."""
    port = free_port()
    full_env = clean_env(
        {
            "ENABLE_IMPORT_TRACING": "true",
            "IMPORT_TRACING_ROOT": str(ROOT),
            "IMPORT_TRACING_REPORT": str(tmp_path / "imports-{pid}.json"),
            # The exports at stop finish: the default 3 s cut the workers' startup traces on a
            # loaded machine. A test of the bound itself sets its own.
            "IMPORT_TRACING_SHUTDOWN_TIMEOUT": "60",
            # uvicorn --workers restarts a worker that has not answered its health check within
            # 5 s: beside other CPU-bound jobs, starting took longer ("Child process died", four times).
            "UVICORN_TIMEOUT_WORKER_HEALTHCHECK": "120",
            **(env or {}),
        }
    )
    command = [part.replace("{port}", str(port)) for part in argv]
    with ServiceProcess(command, full_env, APP_DIR, port) as service:
        service.wait_ready(timeout=180)
        reports = wait_for_reports(tmp_path, workers, service)
        while exported and service.output().count("otel-import-tracer: startup trace") < workers:
            service.wait_for_output("otel-import-tracer: startup trace")
            time.sleep(0.05)
        first_request_ns = time.time_ns()
        for path in paths:
            status, _ = service.get(path)
            assert status == 200, (path, status, service.output())
        output = service.stop(sig=stop)
        return Run(output, reports, first_request_ns, service.proc.returncode)


def wait_for_reports(tmp_path: Path, count: int, service: ServiceProcess, timeout: float = 60) -> Dict[int, dict]:
    """The reports written at startup completion, ``count`` of them (one per worker)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = {}
        for path in tmp_path.glob("imports-*.json"):
            try:
                document = json.loads(path.read_text())
            except ValueError:
                continue  # never half-written (atomic), but a copy in progress elsewhere may be
            found[document["pid"]] = document
        if len(found) >= count:
            return found
        time.sleep(0.05)
    raise AssertionError(f"{count} reports expected while serving, found {sorted(p.name for p in tmp_path.iterdir())}:\n{service.output()}")


def report_modules(document: dict) -> Dict[str, dict]:
    return {entry["name"]: entry for entry in document["modules"]}


def stopping_pids(output: str) -> List[int]:
    return [int(line.rsplit(" ", 1)[1].rstrip(")")) for line in output.splitlines()
            if line.startswith("Stopping runtime file tracing... (pid ")]
