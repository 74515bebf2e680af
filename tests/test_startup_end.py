"""A startup that ends in every long-running process, not only ASGI servers (issue 28).

Real processes of tests/apps/longrun run with ``python -m``, real gRPC and http.server, real
OTLP over the wire to the suite's receiver: a server's startup ends when it starts serving, a
supervisor's when it hands over to its children, anything else's where
``IMPORT_TRACING_STARTUP_COMPLETE_AT`` says; the report is written and the trace sent then,
so a SIGKILL while serving keeps both. The ``__main__`` module's run is not an import time.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, Iterator

import pytest

from otel_import_tracer import semconv
from tests.support.otlp_receiver import OtlpReceiver
from tests.support.plain_app import report_modules, wait_for_reports
from tests.support.servers import ServiceProcess, child_output, clean_env, free_port

APP = Path(__file__).resolve().parent / "apps" / "longrun"
PY = sys.executable


@pytest.fixture
def receiver() -> Iterator[OtlpReceiver]:
    with OtlpReceiver() as otlp:
        yield otlp


def _env(reports: Path, receiver: "OtlpReceiver | None" = None, protocol: str = "grpc", **extra: str) -> Dict[str, str]:
    return clean_env({**(receiver.env(protocol) if receiver is not None else {}),
                      "ENABLE_IMPORT_TRACING": "true", "IMPORT_TRACING_ROOT": str(APP / "src"),
                      "IMPORT_TRACING_COLLECTOR": os.environ.get("IMPORT_TRACING_TEST_COLLECTOR", "auto"),
                      "IMPORT_TRACING_REPORT": str(reports / "imports-{pid}.json"),
                      "IMPORT_TRACING_SHUTDOWN_TIMEOUT": "20", **extra})


def _run(argv: list, env: Dict[str, str]) -> "subprocess.CompletedProcess[str]":
    return subprocess.run([PY, "-m", *argv], cwd=APP, env=env, capture_output=True, text=True, timeout=60)


def _report(reports: Path) -> dict:
    (path,) = reports.glob("imports-*.json")
    return json.loads(path.read_text())


@pytest.mark.slow
@pytest.mark.parametrize("module", ["src.grpc_server", "src.grpc_aio_server"])
def test_a_python_m_grpc_server_ends_its_startup_when_it_serves(tmp_path: Path, receiver: OtlpReceiver, module: str) -> None:
    import grpc

    port = free_port()
    with ServiceProcess([PY, "-m", module, str(port)], _env(tmp_path, receiver), APP, port) as service:
        service.wait_for_output("serving")
        (serving,) = wait_for_reports(tmp_path, 1, service, timeout=30).values()
        output = service.output()
        assert serving["startup_complete_ms"] is not None and serving["status"] == "running", output
        assert serving["role"] == semconv.ROLE_SERVER, output
        (startup,) = receiver.wait_for_spans(semconv.SPAN_STARTUP, timeout=30)
        for _ in range(100):  # the report is written again once the trace id is known
            serving = _report(tmp_path)
            if serving["trace_id"] is not None:
                break
            time.sleep(0.05)
        assert startup.trace_id == serving["trace_id"] and startup.attributes[semconv.ATTR_PROCESS_ROLE] == "server", output
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            assert channel.unary_unary("/longrun.Ping/Ping")(b"x", timeout=30) == b"pong:x"
        service.proc.send_signal(signal.SIGKILL)
        service.proc.wait(timeout=30)
        output = service.output()
    kept = _report(tmp_path)
    assert kept["startup_complete_ms"] == serving["startup_complete_ms"] and kept["trace_id"] == serving["trace_id"], output
    modules = report_modules(kept)
    assert {"src", "src.settings", module} <= set(modules), output
    assert not any(entry["lazy"] for entry in modules.values()), output  # the request came after the report
    assert modules[module]["duration_ms"] is None, output  # __main__: the run is not an import


@pytest.mark.slow
def test_a_socketserver_server_ends_its_startup_when_it_serves(tmp_path: Path) -> None:
    port = free_port()
    with ServiceProcess([PY, "-m", "src.http_server", str(port)], _env(tmp_path), APP, port) as service:
        service.wait_ready(path="/", timeout=60)
        (serving,) = wait_for_reports(tmp_path, 1, service, timeout=30).values()
        assert serving["startup_complete_ms"] is not None and serving["role"] == semconv.ROLE_SERVER, service.output()
        assert "src.handlers" not in report_modules(serving), service.output()  # startup ended before the request
        service.proc.send_signal(signal.SIGKILL)
        service.proc.wait(timeout=30)
    assert _report(tmp_path)["startup_complete_ms"] == serving["startup_complete_ms"], service.output()


def test_a_supervisor_ends_its_startup_when_it_hands_over_to_its_children(tmp_path: Path, receiver: OtlpReceiver) -> None:
    untraced = _run(["src.supervise"], clean_env())
    # HTTP: the children export as they exit, and Python 3.12.1 refuses the thread importing gRPC needs then.
    result = _run(["src.supervise"], _env(tmp_path, receiver, "http/protobuf"))
    assert result.returncode == untraced.returncode == 0, child_output(result)
    reports = {json.loads(path.read_text())["pid"]: json.loads(path.read_text()) for path in tmp_path.glob("imports-*.json")}
    assert len(reports) == 3, child_output(result)
    (supervisor,) = [report for report in reports.values() if "src.supervise" in report_modules(report)]
    children = [report for report in reports.values() if report is not supervisor]
    assert supervisor["role"] == semconv.ROLE_SUPERVISOR, child_output(result)
    assert set(report_modules(supervisor)) == {"src", "src.settings", "src.supervise"}, child_output(result)
    assert all(set(report_modules(child)) == {"src", "src.child", "src.work"} for child in children), child_output(result)
    # Three traces: the supervisor's ends before either child starts; each child's at its end.
    spans = {span.trace_id: span for span in receiver.wait_for_spans(semconv.SPAN_STARTUP, count=3, timeout=30)}
    assert set(spans) == {report["trace_id"] for report in reports.values()}, f"{receiver.summary()}\n{child_output(result)}"
    handed_over = spans[supervisor["trace_id"]].end_ns
    for child in children:
        span = spans[child["trace_id"]]
        assert handed_over <= span.start_ns, child_output(result)
        assert span.end_ns - span.start_ns >= 300_000_000, child_output(result)  # its whole run: a script


@pytest.mark.parametrize("marker, lazy", [("src.wiring", {"src.work", "src.handlers"}), ("src.wiring:serve", {"src.handlers"})])
def test_the_startup_complete_at_variable_ends_the_startup(tmp_path: Path, marker: str, lazy: set) -> None:
    result = _run(["src.marked", "0.2"], _env(tmp_path, IMPORT_TRACING_STARTUP_COMPLETE_AT=marker))
    assert result.returncode == 0 and "warning" not in result.stderr, child_output(result)
    modules = report_modules(_report(tmp_path))
    assert {name for name, entry in modules.items() if entry["lazy"]} == lazy, child_output(result)


@pytest.mark.parametrize("bad", ["src.wiring:", "src wiring", "src.wiring:nothing", "a:b:c"])
def test_a_bad_startup_complete_at_warns_once_and_changes_nothing(tmp_path: Path, bad: str) -> None:
    untraced = _run(["src.marked", "0"], clean_env())
    result = _run(["src.marked", "0"], _env(tmp_path, IMPORT_TRACING_STARTUP_COMPLETE_AT=bad))
    assert result.returncode == untraced.returncode == 0, child_output(result)
    warnings = [line for line in result.stderr.splitlines() if "IMPORT_TRACING_STARTUP_COMPLETE_AT" in line]
    assert len(warnings) == 1 and "module:function" in warnings[0], child_output(result)
    assert not any(entry["lazy"] for entry in _report(tmp_path)["modules"]), child_output(result)


def test_the_main_module_run_is_not_an_import_time(tmp_path: Path) -> None:
    begun = time.monotonic()
    result = _run(["src.job", "1.0"], _env(tmp_path))
    assert result.returncode == 0 and time.monotonic() - begun >= 1.0, child_output(result)
    job = report_modules(_report(tmp_path))["src.job"]
    assert job["duration_ms"] is None or job["duration_ms"] < 500, child_output(result)
    slowest = [line for line in result.stderr.splitlines() if "slowest:" in line]
    assert slowest and "src.job" not in slowest[0], child_output(result)
    # its imports are top-level ones, not children of a load that lasted the run
    assert report_modules(_report(tmp_path))["src.settings"]["stack_parent"] is None, child_output(result)


def test_a_child_or_server_while_importing_or_from_a_thread_is_still_startup(tmp_path: Path) -> None:
    result = _run(["src.probing"], _env(tmp_path))
    assert result.returncode == 0, child_output(result)
    report = _report(tmp_path)
    assert report["role"] == semconv.ROLE_SCRIPT and not any(entry["lazy"] for entry in report["modules"]), child_output(result)
    assert "src.work" in report_modules(report), child_output(result)


def test_the_patches_are_given_back_when_startup_ends(tmp_path: Path) -> None:
    result = _run(["src.given_back"], _env(tmp_path))
    assert result.returncode == 0, child_output(result)
    lines = dict(line.split(" ", 1) for line in result.stdout.splitlines() if line.startswith(("starting", "started")))
    everything = "{'socketserver': %s, 'subprocess': %s, 'multiprocessing': %s, 'grpc': %s}"
    assert lines["starting"] == everything % (False, False, False, False), child_output(result)  # in place while starting
    assert lines["started"] == everything % (True, True, True, True), child_output(result)


def test_a_supervisor_forking_its_children_sends_its_trace_after_the_fork(tmp_path: Path, receiver: OtlpReceiver) -> None:
    # An export in flight at a fork holds the fork up to the shutdown timeout (20 s here): the
    # supervisor's trace waits until its first child is forked, as a gunicorn master's does.
    result = _run(["src.supervise_mp"], _env(tmp_path, receiver))
    assert result.returncode == 0, child_output(result)
    took = float(result.stdout.split("first start took ")[1].split(" s")[0])
    assert took < 10, child_output(result)
    reports = [json.loads(path.read_text()) for path in tmp_path.glob("imports-*.json")]
    (supervisor,) = [report for report in reports if report["role"] == semconv.ROLE_SUPERVISOR]
    assert set(report_modules(supervisor)) == {"src", "src.settings", "src.supervise_mp"}, child_output(result)
    assert not any(entry["lazy"] for entry in supervisor["modules"]), child_output(result)
    assert supervisor["trace_id"] is not None, child_output(result)
    receiver.wait_for_spans(lambda span: span.name == semconv.SPAN_STARTUP and span.trace_id == supervisor["trace_id"], timeout=30)


@pytest.mark.slow
def test_an_asgi_server_starting_a_child_in_its_lifespan_is_no_supervisor(tmp_path: Path) -> None:
    port = free_port()
    argv = [PY, "-m", "uvicorn", "src.asgi_spawner:app", "--port", str(port)]
    with ServiceProcess(argv, _env(tmp_path), APP, port) as service:
        service.wait_ready(path="/", timeout=60)
        (serving,) = wait_for_reports(tmp_path, 1, service, timeout=30).values()
        output = service.stop()
    assert serving["role"] == semconv.ROLE_SERVER, output
    assert report_modules(serving)["src.work"]["lazy"] is False, output
