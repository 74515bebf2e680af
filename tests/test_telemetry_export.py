"""Import traces over real OTLP (gRPC and HTTP) from real uvicorn processes to a real receiver."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, Iterator, List

import pytest

from otel_import_tracer import semconv
from tests.support import demo_graph
from tests.support.genapp import write_wide_app
from tests.support.otlp_receiver import OtlpReceiver, ReceivedSpan, SilentServer, closed_port
from tests.support.servers import (
    LAUNCHER,
    ServiceProcess,
    clean_env,
    console_script,
    free_port,
    shutdown_lines,
    start_demo,
)

PROTOCOLS = ["grpc", "http/protobuf"]
LOAD_ATTRIBUTES = {
    semconv.ATTR_MODULE_NAME,
    semconv.ATTR_FILE_PATH,
    semconv.ATTR_MODULE_PARENT,
    semconv.ATTR_IMPORT_DURATION_MS,
    semconv.ATTR_THREAD_NAME,
    semconv.ATTR_PRELOADED,
}


@pytest.fixture
def receiver() -> Iterator[OtlpReceiver]:
    with OtlpReceiver() as otlp:
        yield otlp


def _events(span: ReceivedSpan, name: str) -> List:
    return [event for event in span.events if event.name == name]


def _loaded_names(span: ReceivedSpan) -> List[str]:
    return [e.attributes[semconv.ATTR_MODULE_NAME] for e in _events(span, semconv.EVENT_MODULE_LOADED)]


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_demo_startup_trace_events_waterfall_and_lazy_imports(receiver: OtlpReceiver, protocol: str) -> None:
    with start_demo(env=receiver.env(protocol)) as service:
        service.wait_ready()
        service.wait_for_output("startup trace")
        first_request_ns = time.time_ns()
        assert service.get("/reports/1.pdf")[0] == 200
        assert service.get("/export/yaml_exprot")[0] == 404  # a typo in a plugin name
        output = service.stop()
    _, modules, _ = shutdown_lines(output)

    (startup,) = receiver.wait_for_spans(semconv.SPAN_STARTUP)
    assert startup.protocol == ("grpc" if protocol == "grpc" else "http")
    assert startup.dropped_events_count == 0
    assert startup.parent_span_id == ""
    assert startup.end_ns <= first_request_ns  # closed when startup completed, not at shutdown
    startup_names = _loaded_names(startup)
    assert sorted(startup_names) == sorted(demo_graph.STARTUP)  # one event per module, no repeats
    assert startup.attributes[semconv.ATTR_MODULE_COUNT] == len(demo_graph.STARTUP)
    assert startup.attributes[semconv.ATTR_PRELOADED_COUNT] == 0  # the launcher started before the app import
    assert startup.attributes[semconv.ATTR_FAILED_IMPORT_COUNT] == 1
    assert startup.attributes[semconv.ATTR_TRACING_COLLECTOR] in ("importhook", "audit", "monitoring", "settrace")
    events = {e.attributes[semconv.ATTR_MODULE_NAME]: e for e in _events(startup, semconv.EVENT_MODULE_LOADED)}
    for name, event in events.items():
        assert LOAD_ATTRIBUTES <= set(event.attributes), name
        assert startup.start_ns <= event.time_ns <= startup.end_ns
    assert events[demo_graph.THREAD_MODULE].attributes[semconv.ATTR_THREAD_NAME] == demo_graph.THREAD_NAME
    assert events[demo_graph.PLUGIN].attributes[semconv.ATTR_MODULE_PARENT] == "src.services.plugins"
    assert events["src.models.domain"].attributes[semconv.ATTR_MODULE_PARENT] == "src.models"
    assert events["src.main"].attributes[semconv.ATTR_IMPORT_DURATION_MS] > 0

    (failed,) = _events(startup, semconv.EVENT_IMPORT_FAILED)
    assert failed.attributes[semconv.ATTR_MODULE_NAME] == demo_graph.FAILED_OPTIONAL
    assert failed.attributes[semconv.ATTR_MODULE_PARENT] == demo_graph.FAILED_OPTIONAL_IMPORTER
    assert failed.attributes[semconv.ATTR_FILE_PATH].endswith("src/integrations/cache.py")
    assert failed.attributes[semconv.ATTR_EXCEPTION_TYPE] == "ModuleNotFoundError"
    assert "fastcache_client" in failed.attributes[semconv.ATTR_EXCEPTION_MESSAGE]

    # The waterfall: one span per module import, nested by importer, inside app.startup.
    imports = {s.name[len(semconv.SPAN_IMPORT_PREFIX):]: s for s in receiver.spans()
               if s.is_module_import}
    assert set(imports) == demo_graph.STARTUP
    by_id: Dict[str, ReceivedSpan] = {s.span_id: s for s in [startup, *imports.values()]}
    for name, span in imports.items():
        assert span.trace_id == startup.trace_id
        parent = by_id[span.parent_span_id]
        assert parent.start_ns <= span.start_ns and span.end_ns <= parent.end_ns, name
        if parent is not startup:
            assert parent.attributes[semconv.ATTR_MODULE_NAME] == span.attributes[semconv.ATTR_MODULE_PARENT]
    assert imports["src.main"].parent_span_id == startup.span_id
    assert by_id[imports["src.models.domain"].parent_span_id].name == "import src.models"
    assert by_id[imports["src.routers.orders"].parent_span_id].name == "import src.main"

    # Lazy imports after startup: no span was current (no instrumentation), so a span of their own.
    lazy = receiver.wait_for_spans(semconv.SPAN_LAZY_IMPORT, count=3)
    lazy_names = sorted(name for span in lazy for name in _loaded_names(span))
    (failed_later,) = [e for span in lazy for e in _events(span, semconv.EVENT_IMPORT_FAILED)]
    assert failed_later.attributes[semconv.ATTR_MODULE_NAME] == "src.plugins.yaml_exprot"
    assert failed_later.attributes[semconv.ATTR_LAZY] is True
    assert lazy_names == sorted(demo_graph.LAZY_BY_ENDPOINT["/reports/1.pdf"])
    assert all(event.attributes[semconv.ATTR_LAZY] is True for span in lazy for event in span.events)
    # Every module in the log lines was delivered as exactly one module.loaded event.
    assert sorted(startup_names + lazy_names) == modules


def test_opentelemetry_instrument_puts_lazy_imports_on_the_request_span(receiver: OtlpReceiver) -> None:
    env = {**receiver.env("grpc"), "OTEL_SERVICE_NAME": "orders-demo"}
    launcher = (console_script("opentelemetry-instrument"), console_script("uvicorn"))
    with start_demo(env=env, launcher=launcher) as service:
        service.wait_ready()
        service.wait_for_output("startup trace")
        assert service.get("/reports/1.xlsx")[0] == 200
        assert service.get("/export/yaml_exprot")[0] == 404  # a typo in a plugin name
        output = service.stop()
    assert "via the application's TracerProvider" in output
    (startup,) = receiver.wait_for_spans(semconv.SPAN_STARTUP)
    assert startup.resource["service.name"] == "orders-demo"
    # The instrumentor entry point started collection before the app was imported.
    assert startup.attributes[semconv.ATTR_PRELOADED_COUNT] == 0
    assert sorted(_loaded_names(startup)) == sorted(demo_graph.STARTUP)
    (request,) = receiver.wait_for_spans(lambda s: s.name == "GET /reports/{order_id}.xlsx")
    lazy = _events(request, semconv.EVENT_MODULE_LOADED)
    assert sorted(e.attributes[semconv.ATTR_MODULE_NAME] for e in lazy) == sorted(
        demo_graph.LAZY_BY_ENDPOINT["/reports/1.xlsx"])
    assert all(e.attributes[semconv.ATTR_LAZY] is True for e in lazy)
    assert not receiver.spans(semconv.SPAN_LAZY_IMPORT)
    assert startup.trace_id != request.trace_id  # app.startup is never the current span while serving
    # The failed import after startup is on the span of the request that tried it.
    (typo,) = receiver.wait_for_spans(lambda s: s.name == "GET /export/{plugin_name}")
    (failed,) = _events(typo, semconv.EVENT_IMPORT_FAILED)
    assert failed.attributes[semconv.ATTR_MODULE_NAME] == "src.plugins.yaml_exprot"
    assert failed.attributes[semconv.ATTR_MODULE_PARENT] == "src.services.plugins"
    assert failed.attributes[semconv.ATTR_EXCEPTION_TYPE] == "ModuleNotFoundError"
    assert failed.attributes[semconv.ATTR_LAZY] is True


def _start_generated(tmp_path: Path, n_modules: int, env: Dict[str, str]) -> ServiceProcess:
    write_wide_app(tmp_path, n_modules)
    port = free_port()
    full_env = clean_env({"ENABLE_IMPORT_TRACING": "true", "IMPORT_TRACING_ROOT": str(tmp_path / "src"), **env})
    argv = [*LAUNCHER, "src.main:app", "--host", "127.0.0.1", "--port", str(port)]
    return ServiceProcess(argv, full_env, tmp_path, port)


@pytest.mark.collector_independent
# Over HTTP on the first, oldest and newest Python only (scripts/test.sh): what the protocol changes is
# the SDK's exporter, not the interpreter; gRPC on every Python (90 s each at load 20).
@pytest.mark.parametrize("protocol", [PROTOCOLS[0], pytest.param(PROTOCOLS[1], marks=pytest.mark.python_independent)])
def test_five_thousand_modules_all_arrive(tmp_path: Path, receiver: OtlpReceiver, protocol: str) -> None:
    with _start_generated(tmp_path, 5000, receiver.env(protocol)) as service:
        service.wait_ready(timeout=120)
        service.wait_for_output("startup trace", timeout=120)
        output = service.stop()
    _, modules, totals = shutdown_lines(output)
    assert totals["modules"] == len(modules) > 5000
    (startup,) = receiver.wait_for_spans(semconv.SPAN_STARTUP)
    assert startup.dropped_events_count == 0
    assert sorted(_loaded_names(startup)) == modules
    imports = receiver.wait_for_spans(lambda s: s.is_module_import, count=len(modules))
    assert sorted(s.attributes[semconv.ATTR_MODULE_NAME] for s in imports) == modules


def test_a_large_unmodified_app_exports_at_startup_not_at_stop(tmp_path: Path, receiver: OtlpReceiver) -> None:
    # The LiteLLM proxy (1,717 modules), unmodified, under the launcher: with the export left
    # to stop, the default 3 s shutdown timeout cut it. Startup completion now comes from the
    # lifespan, so the export is under way long before a stop that follows at once.
    # Every import span arrives while it serves, before any stop (waiting for the startup span
    # only and stopping at once left the rest to the 3 s bound, which a loaded machine missed).
    with _start_generated(tmp_path, 1717, receiver.env("grpc")) as service:
        service.wait_ready(timeout=120)
        receiver.wait_for_spans(semconv.SPAN_STARTUP)
        receiver.wait_for_spans(lambda s: s.is_module_import, count=1717)
        output = service.stop()
    _, modules, _ = shutdown_lines(output)
    assert len(modules) > 1717
    imports = receiver.wait_for_spans(lambda s: s.is_module_import, count=len(modules))
    assert sorted(s.attributes[semconv.ATTR_MODULE_NAME] for s in imports) == modules
    assert "[shutdown-timeout]" not in output


@pytest.mark.collector_independent
def test_an_application_provider_is_reused_and_keeps_its_own_limits(tmp_path: Path, receiver: OtlpReceiver) -> None:
    env = {"APP_OTLP_ENDPOINT": receiver.grpc_endpoint}
    service = _start_generated(tmp_path, 300, env)
    shutil.copy(Path(__file__).parent / "apps" / "own_provider_main.py", tmp_path / "src" / "main.py")
    with service:
        service.wait_ready()
        service.wait_for_output("startup trace")
        output = service.stop()
    assert "via the application's TracerProvider" in output
    (startup,) = receiver.wait_for_spans(semconv.SPAN_STARTUP)
    assert startup.resource["service.name"] == "app-with-own-provider"
    assert startup.dropped_events_count == 0 and len(_loaded_names(startup)) > 300
    # One per /health answered: the readiness probe retries a request that took over 2 s (a loaded
    # machine; seen: two spans), and an export retried after a client-side timeout arrives twice.
    owns = receiver.wait_for_spans("app.own-span")
    limits = [(len(own.events), own.dropped_events_count) for own in owns]
    assert limits and set(limits) == {(128, 72)}, limits  # the app's span: its limit, untouched


@pytest.mark.collector_independent
@pytest.mark.parametrize("fault", ["refused", "silent"])
def test_unreachable_collector_neither_blocks_startup_nor_shutdown(tmp_path: Path, fault: str) -> None:
    with SilentServer() as silent:
        endpoint = silent.endpoint if fault == "silent" else f"http://127.0.0.1:{closed_port()}"
        env = {"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_ENDPOINT": endpoint,
               "IMPORT_TRACING_SHUTDOWN_TIMEOUT": "2", "IMPORT_TRACING_REPORT": str(tmp_path / "report.json")}
        with start_demo(env=env) as service:
            service.wait_ready()
            for _ in range(20):
                assert service.get("/orders")[0] == 200
            assert service.get("/reports/1.pdf")[0] == 200
            stopping = time.monotonic()
            output = service.stop()
            shutdown_seconds = time.monotonic() - stopping
    _, modules, _ = shutdown_lines(output)
    assert set(modules) == demo_graph.STARTUP | demo_graph.LAZY_BY_ENDPOINT["/reports/1.pdf"]
    # Bounded by IMPORT_TRACING_SHUTDOWN_TIMEOUT=2, plus uvicorn's own shutdown; generous for slow machines.
    assert shutdown_seconds < 12, output
    assert json.loads((tmp_path / "report.json").read_text())  # the report is still written


def test_sigkill_after_startup_loses_nothing(receiver: OtlpReceiver, tmp_path: Path) -> None:
    report = tmp_path / "report-{pid}.json"
    env = {**receiver.env("grpc"), "IMPORT_TRACING_REPORT": str(report)}
    with start_demo(env=env) as service:
        service.wait_ready()
        service.wait_for_output("startup trace")
        service.stop(sig=signal.SIGKILL)
        pid = service.proc.pid
    (startup,) = receiver.wait_for_spans(semconv.SPAN_STARTUP)
    assert sorted(_loaded_names(startup)) == sorted(demo_graph.STARTUP)
    document = json.loads(Path(str(report).replace("{pid}", str(pid))).read_text())
    assert document  # written atomically when startup completed


@pytest.mark.collector_independent
def test_sdk_disabled_exports_nothing_and_says_so(receiver: OtlpReceiver) -> None:
    env = {**receiver.env("grpc"), "OTEL_SDK_DISABLED": "true"}
    with start_demo(env=env) as service:
        service.wait_ready()
        assert service.get("/reports/1.pdf")[0] == 200
        output = service.stop()
    assert "OTEL_SDK_DISABLED=true: import traces are not exported" in output
    _, modules, _ = shutdown_lines(output)
    assert set(modules) >= demo_graph.STARTUP
    time.sleep(0.5)
    assert receiver.request_count() == 0


def _run_job(tmp_path: Path, env: Dict[str, str], modules: int = 3) -> "subprocess.CompletedProcess[str]":
    """A job (no lifespan, no server): imports its modules and ends; the whole run is the startup."""
    root = tmp_path / "src"
    root.mkdir()
    (root / "__init__.py").write_text("".join(f"from src import m{i}\n" for i in range(modules)))
    for i in range(modules):
        (root / f"m{i}.py").write_text(f"VALUE = {i}\n")
    # "job done" carries the moment (CLOCK_MONOTONIC, the same in every process) the work ended:
    # what follows is the tracer's exit path, which a test can time apart from start and import.
    code = f"import sys, time\nsys.path.insert(0, {str(tmp_path)!r})\nimport src\nprint('job done', time.monotonic(), flush=True)\n"
    return subprocess.run(
        [sys.executable, "-c", code],
        env=clean_env({"ENABLE_IMPORT_TRACING": "true", "IMPORT_TRACING_ROOT": str(root), **env}),
        capture_output=True, text=True, timeout=120,
    )


# Python 3.12.0 and 3.12.1 refuse new threads while exiting (fixed in 3.12.2, gh-113964), and
# importing the gRPC exporter starts one (the SDK's resource detection, in sdk._logs).
EXIT_REFUSES_THREADS = (3, 12, 0) <= sys.version_info[:3] < (3, 12, 2)


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_a_job_without_a_lifespan_exports_at_exit(tmp_path: Path, receiver: OtlpReceiver, protocol: str) -> None:
    started = time.monotonic()
    result = _run_job(tmp_path, {**receiver.env(protocol), "IMPORT_TRACING_SHUTDOWN_TIMEOUT": "20"})
    assert result.returncode == 0, result.stderr
    assert time.monotonic() - started < 40, result.stderr
    if EXIT_REFUSES_THREADS and protocol == "grpc":
        assert "refuses new threads while exiting" in result.stderr and "3.12.2" in result.stderr
        return
    assert "startup trace" in result.stderr and "exported:" in result.stderr, result.stderr
    (startup,) = receiver.wait_for_spans(semconv.SPAN_STARTUP)
    assert sorted(_loaded_names(startup)) == ["src", "src.m0", "src.m1", "src.m2"]
    imports = receiver.wait_for_spans(lambda s: s.is_module_import, count=4)
    assert {s.trace_id for s in imports} == {startup.trace_id}
    assert "Traceback" not in result.stderr


def test_a_job_exporting_to_a_silent_collector_ends_within_the_timeout(tmp_path: Path) -> None:
    # A collector that accepts connections but never answers may yet answer: the SDK retries,
    # and the shutdown timeout bounds the wait (a refused connection is said at once, below).
    with SilentServer() as silent:
        env = {"OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf", "OTEL_EXPORTER_OTLP_ENDPOINT": silent.endpoint,
               "IMPORT_TRACING_SHUTDOWN_TIMEOUT": "1"}
        result = _run_job(tmp_path, env, modules=600)
        ended = time.monotonic()
    assert result.returncode == 0, result.stderr
    done = float(result.stdout.split("job done ", 1)[1].split()[0])
    # From the end of the work to the process's end: 1 s of waiting plus the lines and the report.
    # (Start and import are not timed: they took 13 s beside other CPU-bound jobs.)
    assert ended - done < 8, result.stderr
    assert "LOADED_MODULE: src.m599" in result.stdout
    # A cut export says how much of it went out.
    assert "[shutdown-timeout]" in result.stderr
    # Under load the SDK may still be importing when the timeout ends: then nothing was sent yet.
    assert "0 of 601 import spans" in result.stderr or "nothing was confirmed sent yet" in result.stderr, result.stderr


def _bad_endpoint(fault: str) -> str:
    return "not a url" if fault == "not a url" else f"http://127.0.0.1:{closed_port()}"


def _timed_job(tmp_path: Path, env: Dict[str, str]) -> "tuple[subprocess.CompletedProcess[str], float]":
    started = time.monotonic()
    result = _run_job(tmp_path, env)
    return result, time.monotonic() - started


@pytest.mark.collector_independent
@pytest.mark.parametrize(
    "protocol, fault, variable",
    [
        ("grpc", "not a url", "OTEL_EXPORTER_OTLP_ENDPOINT"),
        ("grpc", "refused", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"),
        ("http/protobuf", "not a url", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"),
        ("http/protobuf", "refused", "OTEL_EXPORTER_OTLP_ENDPOINT"),
    ],
)
def test_a_bad_endpoint_is_named_once_and_holds_nothing_up(tmp_path: Path, protocol: str, fault: str, variable: str) -> None:
    # Issue 23: an endpoint that is not a URL, or where nothing listens, fails every attempt
    # alike. Before: the SDK's "Transient error" lines, then advice to raise the shutdown
    # timeout, the variable never named, and every exit 3-4 s late.
    endpoint = _bad_endpoint(fault)
    # What the exporter setting adds, against the same traced job exporting nothing: the
    # tracer's own start and stop (0.1-0.3 s, near 1 s on a very busy machine) are not the point.
    env = {"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_PROTOCOL": protocol, variable: endpoint}
    runs: Dict[str, List] = {"none": [], "bad": []}
    for attempt in range(2):  # the faster of two each: a busy machine stalls a process now and then
        for kind, job_env in (("none", {"OTEL_TRACES_EXPORTER": "none"}), ("bad", env)):
            (tmp_path / f"{kind}{attempt}").mkdir()
            runs[kind].append(_timed_job(tmp_path / f"{kind}{attempt}", job_env))
    baseline_s = min(elapsed for _, elapsed in runs["none"])
    result, traced_s = min(runs["bad"], key=lambda run: run[1])
    assert result.returncode == 0, result.stderr
    warnings = [line for line in result.stderr.splitlines() if "warning" in line.lower() or "error" in line.lower()]
    assert len(warnings) == 1, result.stderr
    (warning,) = warnings
    assert f"{variable}={endpoint!r}" in warning, result.stderr
    assert ("not a URL" if fault == "not a url" else "Connection refused") in warning, result.stderr
    assert "IMPORT_TRACING_SHUTDOWN_TIMEOUT" not in result.stderr
    assert "Transient error" not in result.stderr
    _, modules, totals = shutdown_lines(result.stdout)
    assert modules == ["src", "src.m0", "src.m1", "src.m2"] and totals["modules"] == 4, result.stdout
    # Before the fix the job exited 3-4 s late (waiting on the exporter's retries); a loaded machine
    # makes the SDK's import alone (CPU, 0.3 s quiet) take over 1 s (seen: +1.0 s at load 10 in CI).
    assert traced_s < baseline_s + 2.0, (traced_s, baseline_s, result.stderr)


@pytest.mark.slow
@pytest.mark.collector_independent
def test_a_service_exporting_where_nothing_listens_stops_at_once(tmp_path: Path) -> None:
    # Issue 27: the newcomer's service with the endpoint at a port nobody listens on was told to
    # raise IMPORT_TRACING_SHUTDOWN_TIMEOUT, and took 4.4 s to stop instead of 0.5 s.
    def stop_seconds(env: Dict[str, str]) -> "tuple[float, str]":
        with start_demo(env=env) as service:
            service.wait_ready()
            assert service.get("/orders")[0] == 200
            time.sleep(1.0)  # the export thread has looked at the endpoint by now
            stopping = time.monotonic()
            output = service.stop()
            return time.monotonic() - stopping, output

    untraced_s, _ = stop_seconds({"ENABLE_IMPORT_TRACING": "false"})
    endpoint = f"http://127.0.0.1:{closed_port()}"
    traced_s, output = stop_seconds({"OTEL_EXPORTER_OTLP_ENDPOINT": endpoint})
    assert output.count("[otlp-endpoint]") == 1 and f"OTEL_EXPORTER_OTLP_ENDPOINT={endpoint!r}" in output, output
    assert "IMPORT_TRACING_SHUTDOWN_TIMEOUT" not in output and "Transient error" not in output, output
    _, modules, _ = shutdown_lines(output)
    assert set(modules) >= demo_graph.STARTUP, output
    assert traced_s < untraced_s + 1.0, (traced_s, untraced_s, output)


SAMPLER_DROPPING_ALL = {"OTEL_TRACES_SAMPLER": "traceidratio", "OTEL_TRACES_SAMPLER_ARG": "0.0"}


@pytest.mark.collector_independent
def test_a_sampler_for_the_applications_traces_keeps_the_tracers_own_startup_trace(tmp_path: Path, receiver: OtlpReceiver) -> None:
    # Issue 27: production configs often sample; the tracer's own provider followed the sampler
    # and the startup trace never left, without a word. It is one trace per process, asked for.
    result = _run_job(tmp_path, {**receiver.env("http/protobuf"), **SAMPLER_DROPPING_ALL, "IMPORT_TRACING_SHUTDOWN_TIMEOUT": "20"})
    assert result.returncode == 0, result.stderr
    assert "startup trace" in result.stderr and "exported:" in result.stderr, result.stderr
    (startup,) = receiver.wait_for_spans(semconv.SPAN_STARTUP)
    assert sorted(_loaded_names(startup)) == ["src", "src.m0", "src.m1", "src.m2"]


@pytest.mark.slow
@pytest.mark.collector_independent
def test_an_application_sampler_dropping_the_startup_trace_is_said_once(receiver: OtlpReceiver) -> None:
    # With the application's provider (opentelemetry-instrument), its sampler decides: the
    # tracer says once that app.startup was dropped and how to keep it, instead of nothing.
    env = {**receiver.env("grpc"), **SAMPLER_DROPPING_ALL}
    launcher = (console_script("opentelemetry-instrument"), console_script("uvicorn"))
    with start_demo(env=env, launcher=launcher) as service:
        service.wait_ready()
        service.wait_for_output("[startup-not-sampled]")
        output = service.stop()
    (line,) = [line for line in output.splitlines() if "[startup-not-sampled]" in line]
    assert "TraceIdRatioBased{0.0}" in line and "to keep it" in line and "OTEL_TRACES_SAMPLER_ARG" in line, output
    assert "startup trace" not in output  # no trace id of a trace that was never sent
    _, modules, _ = shutdown_lines(output)
    assert set(modules) >= demo_graph.STARTUP
    assert not receiver.spans(semconv.SPAN_STARTUP)


NO_EXPORTER_NOTE = "no trace exporter is configured"


@pytest.mark.collector_independent
def test_the_no_exporter_note_of_a_script_comes_before_the_shutdown_lines(tmp_path: Path) -> None:
    # Issue 27: a script said it after the shutdown block, where nobody reading the lines looks.
    root = tmp_path / "src"
    root.mkdir()
    (root / "__init__.py").write_text("from src import job\n")
    (root / "job.py").write_text("")
    temp = tmp_path / "tmp"
    temp.mkdir()
    result = subprocess.run(
        [sys.executable, "-c", f"import sys; sys.path.insert(0, {str(tmp_path)!r}); import src"],
        env=clean_env({"ENABLE_IMPORT_TRACING": "true", "IMPORT_TRACING_ROOT": str(root), "TMPDIR": str(temp)}),
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stdout
    # Issue 23: nothing left in the temp directory (the note's claim is removed at the stop).
    assert [str(path) for path in temp.rglob("*")] == [], result.stdout
    lines = result.stdout.splitlines()
    notes = [index for index, line in enumerate(lines) if NO_EXPORTER_NOTE in line]
    assert len(notes) == 1 and notes[0] < lines.index("LOADED_MODULE: src"), result.stdout
    assert notes[0] < min(index for index, line in enumerate(lines) if line.startswith("Stopping runtime file tracing")), result.stdout


@pytest.mark.slow
@pytest.mark.collector_independent
def test_the_no_exporter_note_is_said_once_for_all_workers(tmp_path: Path) -> None:
    # Issue 27: the newcomer's own service, defaults, under uvicorn --workers 2: each worker said it.
    from tests.support.plain_app import run_service

    run = run_service([sys.executable, "-m", "uvicorn", "src.main:app", "--port", "{port}", "--workers", "2"], tmp_path, workers=2)
    assert len(run.reports) == 2, run.output
    assert run.output.count(NO_EXPORTER_NOTE) == 1, run.output
    lines = run.output.splitlines()
    note = next(index for index, line in enumerate(lines) if NO_EXPORTER_NOTE in line)
    assert note < min(index for index, line in enumerate(lines) if line.startswith("LOADED_")), run.output


LAZY_STORM = """
import sys, threading
sys.path.insert(0, sys.argv[1])
from otel_import_tracer import mark_startup_complete, start_tracing, stop_tracing
start_tracing()
import src
mark_startup_complete()  # the export thread now imports the SDK while the threads import
def worker(first):
    for index in range(first, 2000, 8):
        __import__(f"src.lazy.m{index}")
threads = [threading.Thread(target=worker, args=(first,)) for first in range(8)]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
stop_tracing()
"""


@pytest.mark.collector_independent
def test_a_storm_of_lazy_imports_right_after_startup_loses_no_event(tmp_path: Path, receiver: OtlpReceiver) -> None:
    lazy = tmp_path / "src" / "lazy"
    lazy.mkdir(parents=True)
    (tmp_path / "src" / "__init__.py").write_text("")
    (lazy / "__init__.py").write_text("")
    for index in range(2000):
        (lazy / f"m{index}.py").write_text(f"VALUE = {index}\n")
    result = subprocess.run(
        [sys.executable, "-c", LAZY_STORM, str(tmp_path)],
        env=clean_env({"ENABLE_IMPORT_TRACING": "true", "IMPORT_TRACING_ROOT": str(tmp_path / "src"),
                       "IMPORT_TRACING_SHUTDOWN_TIMEOUT": "60", **receiver.env("grpc")}),
        capture_output=True, text=True, timeout=180,
    )
    assert result.returncode == 0, result.stderr
    assert "could not" not in result.stderr and "too many" not in result.stderr, result.stderr
    spans = receiver.wait_for_spans(semconv.SPAN_LAZY_IMPORT, count=2001, timeout=60)  # src.lazy too
    names = [name for span in spans for name in _loaded_names(span)]
    assert len(names) == len(set(names)) == 2001


FAILING_IMPORT_ON_EVERY_REQUEST = """
import sys
sys.path.insert(0, sys.argv[1])
from otel_import_tracer import mark_startup_complete, start_tracing, stop_tracing
start_tracing()
import src.handler
mark_startup_complete()
for _ in range(2000):
    src.handler.handle()
stop_tracing()
"""


@pytest.mark.collector_independent
def test_a_failing_import_on_every_request_is_one_failure_with_a_count(tmp_path: Path, receiver: OtlpReceiver) -> None:
    root = tmp_path / "src"
    root.mkdir()
    (root / "__init__.py").write_text("")
    (root / "handler.py").write_text(
        "def handle():\n"
        "    try:\n"
        "        import orjson_not_installed_here\n"
        "    except ImportError:\n"
        "        return None\n"
    )
    report = tmp_path / "report.json"
    result = subprocess.run(
        [sys.executable, "-c", FAILING_IMPORT_ON_EVERY_REQUEST, str(tmp_path)],
        env=clean_env({"ENABLE_IMPORT_TRACING": "true", "IMPORT_TRACING_ROOT": str(root),
                       "IMPORT_TRACING_REPORT": str(report), **receiver.env("grpc"),
                       "IMPORT_TRACING_SHUTDOWN_TIMEOUT": "60"}),  # the export at stop: 3 s cut it under load
        capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stderr
    receiver.wait_for_spans(semconv.SPAN_STARTUP)
    time.sleep(0.5)  # any span for a repeat would have come in the same flush as the first
    failed = [event for span in receiver.spans() for event in _events(span, semconv.EVENT_IMPORT_FAILED)]
    assert [event.attributes[semconv.ATTR_MODULE_NAME] for event in failed] == ["orjson_not_installed_here"], result.stderr
    (failure,) = json.loads(report.read_text())["failed_imports"]
    assert (failure["name"], failure["line"], failure["count"]) == ("orjson_not_installed_here", 3, 2000)
