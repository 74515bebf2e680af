"""Processes around the application: a server's supervisor that imported code of the root
before it handed over to its workers, and an application whose lifespan raised.

Real uvicorn, real spawned workers, real OTLP over the wire to the suite's receiver.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, Iterator, List

import pytest

from otel_import_tracer import semconv
from tests.support import plain_app
from tests.support.otlp_receiver import OtlpReceiver, otlp_json
from tests.support.plain_app import wait_for_reports
from tests.support.servers import ServiceProcess, clean_env, console_script, free_port, line_sets

pytestmark = [pytest.mark.slow, pytest.mark.collector_independent]

PY = sys.executable

# Like Airflow's CLI: the entry point imports code of the root, then runs uvicorn with workers.
SERVE = """\
import sys

import uvicorn

from src import settings  # root code, imported by the supervisor before uvicorn starts

if __name__ == "__main__":
    options = {"workers": 2} if sys.argv[2] == "workers" else {"reload": True}
    uvicorn.run("src.main:app", host="127.0.0.1", port=int(sys.argv[1]), log_level="info", **options)
"""
WORKERS = {"workers": 2, "reload": 1}
SUPERVISOR_MODULES = {"src", "src.settings"}


@pytest.fixture
def receiver() -> Iterator[OtlpReceiver]:
    with OtlpReceiver() as otlp:
        yield otlp


def _env(tmp_path: Path, receiver: OtlpReceiver, root: Path, protocol: str = "grpc") -> Dict[str, str]:
    return clean_env({**receiver.env(protocol), "ENABLE_IMPORT_TRACING": "true", "IMPORT_TRACING_ROOT": str(root),
                      "IMPORT_TRACING_REPORT": str(tmp_path / "imports-{pid}.json"),
                      # a failed startup exports at exit, within this bound: 3 s is short on a loaded machine
                      "IMPORT_TRACING_SHUTDOWN_TIMEOUT": "20"})


def _kill_quietly(pids: List[int]) -> None:
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass


@pytest.mark.parametrize("kind", ["workers", "reload"])
def test_uvicorn_supervisor_that_imported_root_code_ends_its_startup_at_hand_over(tmp_path: Path, receiver: OtlpReceiver, kind: str) -> None:
    app = tmp_path / "app"
    shutil.copytree(plain_app.APP_DIR, app)
    (app / "serve.py").write_text(SERVE)
    reports = tmp_path / "reports"
    reports.mkdir()
    port = free_port()
    workers: List[int] = []
    count = WORKERS[kind]
    with ServiceProcess([PY, "serve.py", str(port), kind], _env(reports, receiver, app / "src"), app, port) as service:
        try:
            service.wait_ready(timeout=60)
            # Reports while serving: the supervisor's, written when it handed over, and each worker's.
            found = wait_for_reports(reports, 1 + count, service)
            supervisor_pid = service.proc.pid
            assert supervisor_pid in found, f"no report from the supervisor while serving:\n{service.output()}"
            workers = [pid for pid in found if pid != supervisor_pid]
            supervisor = found[supervisor_pid]
            assert supervisor["startup_complete_ms"] is not None, service.output()
            assert supervisor["role"] == "supervisor", service.output()
            assert {m["name"] for m in supervisor["modules"]} == SUPERVISOR_MODULES, service.output()
            assert all(found[pid].get("role") == semconv.ROLE_WORKER for pid in workers), service.output()  # spawned by it
            # Its app.startup went out while serving, and ended before any worker started.
            startups = receiver.wait_for_spans(semconv.SPAN_STARTUP, count=1 + count, timeout=30)
            by_trace = {s.trace_id: s for s in startups}
            assert supervisor["trace_id"] in by_trace, f"{receiver.summary()}\n{service.output()}"
            ended = by_trace[supervisor["trace_id"]].end_ns
            worker_spans = [s for s in startups if s.trace_id != supervisor["trace_id"]]
            assert len(worker_spans) == count, receiver.summary()
            assert all(ended <= s.start_ns for s in worker_spans), "the supervisor's startup must end when it hands over"
            # SIGKILL of the supervisor later: its report stays.
            service.proc.send_signal(signal.SIGKILL)
            service.proc.wait(timeout=30)
        finally:
            _kill_quietly(workers)
        output = service.output()
    kept = json.loads((reports / f"imports-{supervisor_pid}.json").read_text())
    assert kept["startup_complete_ms"] == supervisor["startup_complete_ms"], output
    assert kept["role"] == "supervisor"
    assert kept["trace_id"] == supervisor["trace_id"]
    # diff compares the servers' startups: the workers', from their reports or their traces.
    assert by_trace[supervisor["trace_id"]].attributes[semconv.ATTR_PROCESS_ROLE] == semconv.ROLE_SUPERVISOR
    trace_file = tmp_path / "traces.jsonl"
    trace_file.write_text("".join(json.dumps(otlp_json(request)) + "\n" for request in receiver.exports()))
    for side in (reports, trace_file):
        result = subprocess.run([PY, "-m", "otel_import_tracer", "diff", str(side), str(side), "--format", "json"],
                                capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stderr
        compared = json.loads(result.stdout)
        assert compared["base"]["startups"] == count, (side, compared["base"], output)



# A plain ASGI application (no framework): its lifespan takes lifespan.startup, then raises.
PLAIN_ASGI = """\
async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        message = await receive()
        if message["type"] == "lifespan.startup":
            from src import settings  # noqa: F401 (its startup's work)
            raise RuntimeError("database unreachable")
        return
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"ok"})
"""


@pytest.mark.parametrize("mode", ["on", "auto", "hypercorn"])
def test_a_plain_asgi_app_raising_in_its_lifespan_is_a_failed_startup(tmp_path: Path, receiver: OtlpReceiver, mode: str) -> None:
    app = tmp_path / "app"
    shutil.copytree(plain_app.APP_DIR, app)
    (app / "src" / "asgi.py").write_text(PLAIN_ASGI)
    # HTTP: the process exits at once, and Python 3.12.1 refuses the thread importing gRPC needs then.
    env = _env(tmp_path, receiver, app / "src", "http/protobuf")
    port = free_port()
    argv = [console_script("uvicorn"), "src.asgi:app", "--port", str(port), "--lifespan", mode]
    if mode == "hypercorn":
        argv = [console_script("hypercorn"), "src.asgi:app", "--bind", f"127.0.0.1:{port}"]
    with ServiceProcess(argv, env, app, port) as service:
        if mode == "on":  # uvicorn: "Application startup failed. Exiting."
            assert service.proc.wait(timeout=60) == 3, service.output()
        else:  # uvicorn: "ASGI 'lifespan' protocol appears unsupported."; hypercorn: "continuing
            # without Lifespan support"; both serve
            service.wait_ready(path="/", timeout=60)
            wait_for_reports(tmp_path, 1, service)
            service.stop()
        output = service.output()
    (path,) = tmp_path.glob("imports-*.json")
    report = json.loads(path.read_text())
    assert report["startup_failure"] and "database unreachable" in report["startup_failure"], output
    (startup,) = receiver.wait_for_spans(semconv.SPAN_STARTUP)
    assert startup.status_code == 2 and "database unreachable" in startup.status_message, output
    assert startup.attributes[semconv.ATTR_STARTUP_FAILED] is True
    assert {"src", "src.asgi", "src.settings"} <= set(m["name"] for m in report["modules"])
    assert line_sets(output), output


def test_an_asgi_app_without_lifespan_support_is_no_failed_startup(tmp_path: Path, receiver: OtlpReceiver) -> None:
    # Under --lifespan auto, an application that refuses the lifespan scope without taking
    # lifespan.startup does not speak the protocol (Django raises so): it starts when it serves.
    app = tmp_path / "app"
    shutil.copytree(plain_app.APP_DIR, app)
    (app / "src" / "asgi.py").write_text(PLAIN_ASGI.replace('        message = await receive()\n', '        raise ValueError("no lifespan here")\n'))
    port = free_port()
    argv = [console_script("uvicorn"), "src.asgi:app", "--port", str(port)]
    with ServiceProcess(argv, _env(tmp_path, receiver, app / "src"), app, port) as service:
        service.wait_ready(path="/", timeout=60)
        (report,) = wait_for_reports(tmp_path, 1, service).values()
        output = service.stop()
    assert report["startup_failure"] is None and report["startup_complete_ms"] is not None, output
