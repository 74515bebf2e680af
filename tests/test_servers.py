"""An unmodified service (tests/apps/plain: its own lifespan, no tracer import) under every way
teams start one: the launcher, plain uvicorn, uvicorn --workers, gunicorn with UvicornWorker
(with and without --preload), fastapi run, hypercorn, opentelemetry-instrument, the exec wrapper.

Real servers, real workers, real OTLP over the wire to the suite's receiver. What must hold for
each: app.startup ends before the first request is answered; the report exists while serving;
the lazy import of a request is lazy (on the request span when instrumented); exactly one trace,
one report and one line set per serving process, none from supervisors and masters that loaded
nothing; every import of a worker timed.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from typing import Dict, Iterator, List

import pytest

from otel_import_tracer import semconv
from tests.support import plain_app
from tests.support.otlp_receiver import OtlpReceiver, ReceivedSpan
from tests.support.plain_app import FAILED, LAZY, STARTUP, Run, report_modules, run_service, stopping_pids
from tests.support.servers import child_output, clean_env, console_script, line_sets

pytestmark = [pytest.mark.slow, pytest.mark.collector_independent]

PY = sys.executable
LAUNCHER = [PY, "-m", "otel_import_tracer", "run", "src.main:app", "--port", "{port}"]
UVICORN = [console_script("uvicorn"), "src.main:app", "--port", "{port}"]
GUNICORN = [console_script("gunicorn"), "-k", "uvicorn.workers.UvicornWorker", "-b", "127.0.0.1:{port}"]
INSTRUMENT = [console_script("opentelemetry-instrument")]
EXEC = [console_script("otel-import-tracer"), "exec", "--"]


@pytest.fixture
def receiver() -> Iterator[OtlpReceiver]:
    with OtlpReceiver() as otlp:
        yield otlp


def _loaded(span: ReceivedSpan) -> Dict[str, object]:
    return {e.attributes[semconv.ATTR_MODULE_NAME]: e for e in span.event(semconv.EVENT_MODULE_LOADED)}


def _imports(receiver: OtlpReceiver, trace_id: str) -> List[str]:
    return sorted(s.attributes[semconv.ATTR_MODULE_NAME] for s in receiver.spans()
                  if s.trace_id == trace_id and s.is_module_import)


def _check_startups(run: Run, receiver: OtlpReceiver, processes: int, timed: bool = True) -> List[ReceivedSpan]:
    """One app.startup per serving process, each complete, ended before the first request."""
    try:
        startups = receiver.wait_for_spans(semconv.SPAN_STARTUP, count=processes)
    except AssertionError as error:  # with what the server printed: why its export did not come
        raise AssertionError(f"{error}\n--- the server's output:\n{run.output[-6000:]}") from None
    assert len(startups) == processes, receiver.summary()
    for startup in startups:
        assert startup.end_ns <= run.first_request_ns, "app.startup must end when the app is ready, not at shutdown"
        events = _loaded(startup)
        assert set(events) == STARTUP, set(events) ^ STARTUP
        assert all(not e.attributes.get(semconv.ATTR_LAZY) for e in events.values())
        (failed,) = startup.event(semconv.EVENT_IMPORT_FAILED)
        assert failed.attributes[semconv.ATTR_MODULE_NAME] == FAILED
        if timed:
            assert startup.attributes[semconv.ATTR_PRELOADED_COUNT] == 0
            assert all(semconv.ATTR_IMPORT_DURATION_MS in e.attributes for e in events.values())
            assert _imports(receiver, startup.trace_id) == sorted(STARTUP)
    return startups


def _check_reports_and_lines(run: Run, processes: int) -> None:
    """One report while serving and one line set at shutdown per serving process, the same pids."""
    assert len(run.reports) == processes, run.output
    for pid, document in run.reports.items():
        assert document["status"] == "running" and document["startup_complete_ms"] is not None
        modules = report_modules(document)
        assert STARTUP <= set(modules)
        assert all(not modules[name]["lazy"] for name in STARTUP)
    sets = line_sets(run.output)
    assert sorted(sets) == sorted(run.reports), f"line sets from {sorted(sets)}, reports from {sorted(run.reports)}"
    lazy_somewhere = [pid for pid, modules in sets.items() if LAZY <= set(modules)]
    assert len(lazy_somewhere) == 1  # the worker that served /lazy
    for modules in sets.values():
        assert STARTUP <= set(modules) <= STARTUP | LAZY


def _check_lazy_on_own_span(receiver: OtlpReceiver) -> None:
    (lazy,) = receiver.wait_for_spans(semconv.SPAN_LAZY_IMPORT)
    (event,) = lazy.event(semconv.EVENT_MODULE_LOADED)
    assert event.attributes[semconv.ATTR_MODULE_NAME] == "src.lazy_report"
    assert event.attributes[semconv.ATTR_LAZY] is True


def test_launcher_unmodified_app_startup_ends_when_ready(tmp_path: Path, receiver: OtlpReceiver) -> None:
    run = run_service(LAUNCHER, tmp_path, env=receiver.env("grpc"))
    _check_startups(run, receiver, 1)
    _check_reports_and_lines(run, 1)
    _check_lazy_on_own_span(receiver)


def test_launcher_sigkill_while_serving_keeps_trace_and_report(tmp_path: Path, receiver: OtlpReceiver) -> None:
    run = run_service(LAUNCHER, tmp_path, env=receiver.env("http/protobuf"), stop=signal.SIGKILL, exported=True)
    assert run.returncode == -signal.SIGKILL, run.output
    (startup,) = _check_startups(run, receiver, 1)
    (report,) = [json.loads(p.read_text()) for p in tmp_path.glob("imports-*.json")]
    assert STARTUP <= set(report_modules(report)) and report["trace_id"] == startup.trace_id
    assert [f["name"] for f in report["failed_imports"]] == [FAILED]


def test_opentelemetry_instrument_uvicorn_lazy_import_on_the_request_span(tmp_path: Path, receiver: OtlpReceiver) -> None:
    run = run_service(INSTRUMENT + UVICORN, tmp_path, env={**receiver.env("grpc"), "OTEL_SERVICE_NAME": "plain"})
    (startup,) = _check_startups(run, receiver, 1)
    _check_reports_and_lines(run, 1)
    (request,) = receiver.wait_for_spans(lambda s: s.name == "GET /lazy")
    (event,) = request.event(semconv.EVENT_MODULE_LOADED)
    assert event.attributes[semconv.ATTR_MODULE_NAME] == "src.lazy_report" and event.attributes[semconv.ATTR_LAZY] is True
    assert not receiver.spans(semconv.SPAN_LAZY_IMPORT)
    # The application's own startup work is inside the startup trace.
    (connect,) = receiver.wait_for_spans(plain_app.APP_SPAN)
    assert (connect.trace_id, connect.parent_span_id) == (startup.trace_id, startup.span_id)
    assert startup.start_ns <= connect.start_ns and connect.end_ns <= startup.end_ns
    assert request.trace_id != startup.trace_id


def test_original_manual_glue_under_the_launcher(tmp_path: Path, receiver: OtlpReceiver) -> None:
    # start_tracing() first thing in the lifespan, stop_tracing() after the yield, as the
    # original design wrote it: startup still completes when the lifespan does.
    app = tmp_path / "app"
    shutil.copytree(plain_app.APP_DIR, app)
    main = app / "src" / "main.py"
    main.write_text(main.read_text().replace(
        "async def lifespan(app: FastAPI):\n",
        "async def lifespan(app: FastAPI):\n    from otel_import_tracer import start_tracing, stop_tracing\n    start_tracing()\n",
    ).replace("    yield\n", "    yield\n    stop_tracing()\n"))
    env = {**receiver.env("grpc"), "IMPORT_TRACING_ROOT": str(app / "src")}
    run = run_service([*LAUNCHER, "--app-dir", str(app)], tmp_path, env=env, stop=signal.SIGKILL, exported=True)
    (startup,) = receiver.wait_for_spans(semconv.SPAN_STARTUP)
    assert startup.end_ns <= run.first_request_ns
    assert [e.attributes[semconv.ATTR_MODULE_NAME] for e in startup.event(semconv.EVENT_IMPORT_FAILED)] == [FAILED]
    (report,) = run.reports.values()
    assert report["startup_complete_ms"] is not None


def test_launcher_workers_each_traced_from_the_first_import(tmp_path: Path, receiver: OtlpReceiver) -> None:
    run = run_service([*LAUNCHER, "--workers", "2"], tmp_path, workers=2, env=receiver.env("grpc"))
    startups = _check_startups(run, receiver, 2)
    assert len({s.trace_id for s in startups}) == 2
    _check_reports_and_lines(run, 2)  # nothing from the supervisor


def test_opentelemetry_instrument_gunicorn_workers(tmp_path: Path, receiver: OtlpReceiver) -> None:
    # UvicornWorker resets SIGTERM to the default and uvicorn re-raises it after its graceful
    # shutdown: the worker dies before any exit hook. The lifespan shutdown stops tracing first.
    run = run_service(INSTRUMENT + GUNICORN + ["-w", "2", "src.main:app"], tmp_path, workers=2,
                      env={**receiver.env("http/protobuf"), "OTEL_SERVICE_NAME": "plain"})
    _check_startups(run, receiver, 2)
    _check_reports_and_lines(run, 2)  # nothing from the master, which loaded nothing
    (request,) = receiver.wait_for_spans(lambda s: s.name == "GET /lazy")
    assert [e.attributes[semconv.ATTR_MODULE_NAME] for e in request.event(semconv.EVENT_MODULE_LOADED)] == ["src.lazy_report"]


@pytest.mark.parametrize("way", ["plain", "exec"])
def test_gunicorn_uvicorn_worker(tmp_path: Path, receiver: OtlpReceiver, way: str) -> None:
    prefix = EXEC if way == "exec" else []
    run = run_service(prefix + GUNICORN + ["-w", "2", "src.main:app"], tmp_path, workers=2, env=receiver.env("grpc"))
    _check_startups(run, receiver, 2)
    _check_reports_and_lines(run, 2)


def test_gunicorn_preload_master_sends_the_imports_once(tmp_path: Path, receiver: OtlpReceiver) -> None:
    run = run_service(GUNICORN + ["-w", "2", "--preload", "src.main:app"], tmp_path, workers=3, env=receiver.env("grpc"))
    try:
        startups = receiver.wait_for_spans(semconv.SPAN_STARTUP, count=3)
    except AssertionError as error:
        raise AssertionError(f"{error}\n--- the server's output:\n{run.output[-6000:]}") from None
    timed = [s for s in startups if s.attributes[semconv.ATTR_PRELOADED_COUNT] == 0]
    (master,) = timed  # the master imported the app, and its trace ends when it hands over
    workers = [s for s in startups if s is not master]
    assert _imports(receiver, master.trace_id) == sorted(STARTUP - {"src.plugins", "src.plugins.csv_export"})
    for worker in workers:
        assert worker.end_ns <= run.first_request_ns
        assert _imports(receiver, worker.trace_id) == sorted({"src.plugins", "src.plugins.csv_export"})  # its lifespan only
        assert set(_loaded(worker)) == STARTUP  # inherited modules are listed, as preloaded
    import_spans = [s for s in receiver.spans() if s.is_module_import]
    assert len(import_spans) == len(STARTUP - {"src.plugins", "src.plugins.csv_export"}) + 2 * 2
    sets = line_sets(run.output)
    assert len(sets) == 3 and all(STARTUP - {"src.plugins", "src.plugins.csv_export"} <= set(m) for m in sets.values())


def test_fastapi_run(tmp_path: Path, receiver: OtlpReceiver) -> None:
    argv = [console_script("fastapi"), "run", "src/main.py", "--port", "{port}", "--host", "127.0.0.1"]
    run = run_service(argv, tmp_path, env=receiver.env("grpc"))
    _check_startups(run, receiver, 1)
    _check_reports_and_lines(run, 1)


@pytest.mark.parametrize("workers", [1, 2])
def test_hypercorn(tmp_path: Path, receiver: OtlpReceiver, workers: int) -> None:
    argv = [console_script("hypercorn"), "src.main:app", "--bind", "127.0.0.1:{port}", "--workers", str(workers)]
    run = run_service(argv, tmp_path, workers=workers, env=receiver.env("grpc"))
    _check_startups(run, receiver, workers)
    _check_reports_and_lines(run, workers)


def test_plain_uvicorn_no_launcher_all_imports_timed(tmp_path: Path, receiver: OtlpReceiver) -> None:
    run = run_service(UVICORN, tmp_path, env=receiver.env("grpc"))
    _check_startups(run, receiver, 1)
    _check_reports_and_lines(run, 1)


def test_uvicorn_lifespan_off_startup_ends_when_serving(tmp_path: Path, receiver: OtlpReceiver) -> None:
    # No lifespan protocol: the app's own lifespan never runs (no plugin), startup ends as
    # the server starts serving, and the shutdown still stops tracing.
    run = run_service([*UVICORN, "--lifespan", "off"], tmp_path, env=receiver.env("grpc"))
    (startup,) = receiver.wait_for_spans(semconv.SPAN_STARTUP)
    assert startup.end_ns <= run.first_request_ns
    assert set(_loaded(startup)) == STARTUP - {"src.plugins", "src.plugins.csv_export"}
    assert list(line_sets(run.output)) == list(run.reports)


def test_spawned_helpers_stay_silent(tmp_path: Path) -> None:
    # uvicorn --workers spawns multiprocessing's resource tracker too: a Python process that
    # loads nothing under the root, and with the console exporter used to crash at exit.
    run = run_service(INSTRUMENT + [*UVICORN, "--workers", "2"], tmp_path, workers=2,
                      env={"OTEL_TRACES_EXPORTER": "console", "OTEL_METRICS_EXPORTER": "none", "OTEL_LOGS_EXPORTER": "none"})
    assert len(list(tmp_path.glob("imports-*.json"))) == 2
    assert sorted(stopping_pids(run.output)) == sorted(run.reports)
    assert "Traceback" not in run.output and "ValueError" not in run.output


def test_workers_sharing_one_report_path_each_keep_theirs(tmp_path: Path) -> None:
    shared = tmp_path / "imports-shared.json"
    argv = ["sh", "-c", 'umask 027 && exec "$@"', "sh", *GUNICORN, "-w", "2", "src.main:app"]
    run = run_service(argv, tmp_path, workers=2, env={"IMPORT_TRACING_REPORT": str(shared)})
    reports = sorted(tmp_path.glob("imports-shared*.json"))
    assert len(reports) == 2, run.output
    pids = sorted(json.loads(p.read_text())["pid"] for p in reports)
    assert pids == sorted(stopping_pids(run.output))
    assert run.output.count("[report-shared]") == 1  # the second worker says where it writes
    assert all((p.stat().st_mode & 0o777) == 0o640 for p in reports)  # the umask's, not 0600


def test_logs_of_four_workers_stopping_at_once_audit_cleanly(tmp_path: Path) -> None:
    run = run_service(GUNICORN + ["-w", "4", "src.main:app"], tmp_path, workers=4)
    assert len(line_sets(run.output)) == 4
    audit = subprocess.run(
        [PY, "-m", "otel_import_tracer", "audit", "--root", str(plain_app.ROOT), "--format", "json"],
        input=run.output, capture_output=True, text=True, timeout=60,
    )
    assert audit.returncode == 0, audit.stderr
    result = json.loads(audit.stdout)
    assert result["inputs"] == {"reports": 0, "logs": 1, "traces": 0, "traced_processes": 0}
    assert set(result["never_loaded_modules"]) == {"src.never_used"}


def test_exec_without_tracing_runs_the_command_untouched(tmp_path: Path) -> None:
    result = subprocess.run(
        [console_script("otel-import-tracer"), "exec", "--", PY, "-c", "import os, sys; print(os.environ.get('PYTHONPATH', ''))"],
        env={k: v for k, v in os.environ.items() if k != "ENABLE_IMPORT_TRACING"}, capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "_sitecustomize" not in result.stdout
    missing = subprocess.run([console_script("otel-import-tracer"), "exec", "--", "no-such-command-here"],
                             capture_output=True, text=True, timeout=60)
    assert missing.returncode == 127 and "command not found" in missing.stderr and "Traceback" not in missing.stderr, child_output(missing)


def test_a_failed_startup_ends_app_startup_with_the_error(tmp_path: Path, receiver: OtlpReceiver) -> None:
    app = tmp_path / "app"
    shutil.copytree(plain_app.APP_DIR, app)
    main = app / "src" / "main.py"
    main.write_text(main.read_text().replace("    yield\n", "    raise RuntimeError('database unreachable')\n    yield\n"))
    # HTTP: the process exits at once, and Python 3.12.1 refuses the thread importing gRPC needs then.
    env = clean_env({**receiver.env("http/protobuf"), "ENABLE_IMPORT_TRACING": "true", "IMPORT_TRACING_ROOT": str(app / "src"),
                     "IMPORT_TRACING_REPORT": str(tmp_path / "imports.json"),
                     # the export happens at exit, within this bound: 3 s was too short on a loaded machine
                     "IMPORT_TRACING_SHUTDOWN_TIMEOUT": "20"})
    result = subprocess.run([PY, "-m", "otel_import_tracer", "run", "src.main:app", "--port", "0"],
                            cwd=str(app), env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 3, result.stderr  # uvicorn's "startup failed"
    (startup,) = receiver.wait_for_spans(semconv.SPAN_STARTUP)
    assert startup.status_code == 2 and "database unreachable" in startup.status_message
    assert startup.attributes[semconv.ATTR_STARTUP_FAILED] is True
    assert set(_loaded(startup)) == STARTUP
    report = json.loads((tmp_path / "imports.json").read_text())
    assert "database unreachable" in report["startup_failure"]
    assert line_sets(result.stdout)  # the lines still come out


def test_run_help_says_what_the_launcher_adds_then_uvicorns_options() -> None:
    result = subprocess.run([console_script("otel-import-tracer"), "run", "--help"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, child_output(result)
    assert "the launcher adds to uvicorn" in result.stdout and "--reload" in result.stdout
    assert result.stdout.index("each worker of --workers N") < result.stdout.index("--uds")  # then uvicorn's own


def test_the_forkserver_helper_stays_silent(tmp_path: Path) -> None:
    # multiprocessing's forkserver (the default start method from Python 3.14) imports the main
    # module again (3.14 preloads it) only to fork workers from it: it used to print a second line
    # set and overwrite the main process's report. Workers report what they load themselves.
    root = tmp_path / "src"
    root.mkdir()
    (root / "__init__.py").write_text("")
    (root / "work.py").write_text("import os\n\ndef parent(x):\n    return os.getppid()\n")
    (root / "main.py").write_text(
        "import multiprocessing, os\nfrom src import work\n\n"
        "if __name__ == '__main__':\n"
        "    with multiprocessing.get_context('forkserver').Pool(2) as pool:\n"
        "        (forkserver,) = set(pool.map(work.parent, range(4)))\n"
        "    print('main pid', os.getpid(), 'forkserver pid', forkserver, flush=True)\n"
    )
    result = subprocess.run(
        [PY, str(root / "main.py")], cwd=tmp_path, capture_output=True, text=True, timeout=60,
        env=clean_env({"ENABLE_IMPORT_TRACING": "true", "IMPORT_TRACING_ROOT": str(root), "PYTHONPATH": str(tmp_path),
                       "IMPORT_TRACING_REPORT": str(tmp_path / "imports.json")}),
    )
    assert result.returncode == 0, result.stderr
    words = result.stdout.split("main pid ")[1].split()
    main_pid, forkserver_pid = int(words[0]), int(words[3])
    sets = line_sets(result.stdout)
    assert forkserver_pid not in sets, result.stdout
    assert {"src", "src.work"} <= set(sets[main_pid])  # src.main too where the main script is seen (issue 15)
    assert json.loads((tmp_path / "imports.json").read_text())["pid"] == main_pid
