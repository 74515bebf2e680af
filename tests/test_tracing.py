"""The public lifecycle: start, stop, accessors, the shutdown lines, tracing off."""

from __future__ import annotations

import contextlib
import importlib
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import Iterator, List

import pytest

from otel_import_tracer import (
    get_loaded_files,
    get_loaded_modules,
    mark_startup_complete,
    start_tracing,
    stop_tracing,
)
from otel_import_tracer.config import Config
from tests.conftest import SourceTree
from tests.support.otlp_receiver import OtlpReceiver
from tests.support.servers import clean_env, shutdown_lines


def test_shutdown_lines_are_exact_sorted_and_follow_the_root(tree: SourceTree, collector: str, capsys: pytest.CaptureFixture[str]) -> None:
    tree.write("zeta.py", "")
    tree.write("alpha/beta.py", "")
    assert start_tracing(tree.config(collector))
    importlib.import_module(f"{tree.package}.zeta")
    importlib.import_module(f"{tree.package}.alpha.beta")
    stop_tracing()
    p, root = tree.package, tree.root
    lines = capsys.readouterr().out.splitlines()  # stdout: `docker logs app | audit` pipes only stdout
    start = lines.index(f"Stopping runtime file tracing... (pid {os.getpid()})")  # the pid tells workers apart
    assert lines[start : start + 11] == [
        f"Stopping runtime file tracing... (pid {os.getpid()})",
        f"Total unique {root}/*.py files loaded: 4",
        f"LOADED_SRC_FILE: {root}/__init__.py",
        f"LOADED_SRC_FILE: {root}/alpha/__init__.py",
        f"LOADED_SRC_FILE: {root}/alpha/beta.py",
        f"LOADED_SRC_FILE: {root}/zeta.py",
        f"Total unique {p}.* modules loaded: 4",
        f"LOADED_MODULE: {p}",
        f"LOADED_MODULE: {p}.alpha",
        f"LOADED_MODULE: {p}.alpha.beta",
        f"LOADED_MODULE: {p}.zeta",
    ]


def test_thousands_of_shutdown_lines_go_out_whole_in_bounded_writes(monkeypatch: pytest.MonkeyPatch) -> None:
    # 5,000 modules make 10,000 lines: written a few hundred at a time, never one huge string.
    from otel_import_tracer import logs, messages

    writes: List[str] = []

    class Recorder:
        def write(self, text: str) -> None:
            writes.append(text)

        def flush(self) -> None:
            pass

    monkeypatch.setattr(sys, "stdout", Recorder())
    files = [f"/app/src/m{i}.py" for i in range(3000)]
    modules = [f"src.m{i}" for i in range(3000)]
    messages.write_lines(logs.shutdown_lines("/app/src", files, modules), stdout=True)
    assert len(writes) > 10 and all(chunk.endswith("\n") for chunk in writes)
    assert max(len(chunk) for chunk in writes) < 16_000
    lines = "".join(writes).splitlines()
    assert lines == list(logs.shutdown_lines("/app/src", files, modules))
    assert len(lines) == 6003 and lines[-1] == "LOADED_MODULE: src.m999"


def test_a_failure_making_the_lines_is_reported_and_stop_goes_on(tree: SourceTree, collector: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from otel_import_tracer import logs

    def broken(*args: object) -> Iterator[str]:
        yield "Stopping runtime file tracing..."
        raise RuntimeError("disk on fire")

    tree.write("m.py", "")
    assert start_tracing(tree.config(collector))
    importlib.import_module(f"{tree.package}.m")
    monkeypatch.setattr(logs, "shutdown_lines", broken)
    stop_tracing()  # does not raise
    captured = capsys.readouterr()
    assert "the shutdown-lines step failed (RuntimeError('disk on fire'))" in captured.err
    assert "[shutdown-lines-failed]" in captured.err


def test_accessors_return_copies(tree: SourceTree, collector: str) -> None:
    tree.write("m.py", "")
    start_tracing(tree.config(collector))
    importlib.import_module(f"{tree.package}.m")
    files, modules = get_loaded_files(), get_loaded_modules()
    files.clear()
    modules.clear()
    assert str(tree.root / "m.py") in get_loaded_files()
    assert f"{tree.package}.m" in get_loaded_modules()
    stop_tracing()
    assert f"{tree.package}.m" in get_loaded_modules()  # still readable after stop


def test_start_twice_and_stop_twice_are_harmless(tree: SourceTree, collector: str, capsys: pytest.CaptureFixture[str]) -> None:
    finders = len(sys.meta_path)
    tree.write("m.py", "")
    assert start_tracing(tree.config(collector))
    assert start_tracing(tree.config(collector))
    assert len(sys.meta_path) == finders + 1
    importlib.import_module(f"{tree.package}.m")
    stop_tracing()
    stop_tracing()
    assert capsys.readouterr().out.count("Stopping runtime file tracing...") == 1


def test_a_failing_step_of_the_tracer_never_breaks_the_app(
    tree: SourceTree, collector: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from otel_import_tracer.tracing import TracingSession

    def broken(self: TracingSession) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(TracingSession, "write_report", broken)
    tree.write("m.py", "")
    start_tracing(tree.config(collector, report=str(tree.parent / "r.json")))
    mark_startup_complete()
    importlib.import_module(f"{tree.package}.m")
    stop_tracing()
    captured = capsys.readouterr()
    assert f"LOADED_MODULE: {tree.package}.m" in captured.out
    assert captured.err.count("the report step failed (OSError('disk full'))") == 1


def test_stop_without_start_does_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    stop_tracing()
    assert capsys.readouterr() == ("", "")


def test_concurrent_start_and_stop_from_many_threads(tree: SourceTree, collector: str) -> None:
    config = tree.config(collector)
    barrier = threading.Barrier(8)

    def churn(index: int) -> None:
        barrier.wait(timeout=10)
        for _ in range(20):
            start_tracing(config) if index % 2 == 0 else stop_tracing()

    threads = [threading.Thread(target=churn, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads)
    stop_tracing()  # the autouse fixture then checks that no hook is left behind


def test_disabled_tracing_installs_nothing(tree: SourceTree) -> None:
    meta_path, trace = list(sys.meta_path), sys.gettrace()
    assert not start_tracing(Config(enabled=False, root=str(tree.root)))
    assert sys.meta_path == meta_path and sys.gettrace() is trace


def test_missing_root_warns_once_and_hooks_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = Config(enabled=True, root=str(tmp_path / "nope"))
    meta_path = list(sys.meta_path)
    assert not start_tracing(config)
    assert not start_tracing(config)
    assert sys.meta_path == meta_path
    err = capsys.readouterr().err
    assert err.count("warning") == 1
    assert "IMPORT_TRACING_ROOT" in err and str(tmp_path / "nope") in err and "not a directory" in err


def _run_python(code: str, env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code), *args],
        env=clean_env(env), capture_output=True, text=True, timeout=120,
    )


def test_tracing_off_imports_no_opentelemetry_and_sets_no_hook(tmp_path: Path) -> None:
    result = _run_python(
        """
        import sys
        trace, finders = sys.gettrace(), list(sys.meta_path)
        from otel_import_tracer import start_tracing, traced_lifespan, stop_tracing
        assert start_tracing() is False
        stop_tracing()
        assert sys.gettrace() is trace and sys.meta_path == finders
        print(sorted(name for name in sys.modules if name.startswith("opentelemetry")))
        """,
        {"ENABLE_IMPORT_TRACING": "false", "IMPORT_TRACING_ROOT": str(tmp_path)},
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
    assert result.stderr == ""


def test_tracing_on_without_an_exporter_never_imports_the_sdk(tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "__init__.py").write_text("")
    result = _run_python(
        """
        import sys
        from otel_import_tracer import start_tracing
        from otel_import_tracer import mark_startup_complete, stop_tracing
        assert start_tracing() is True
        sys.path.insert(0, sys.argv[-1])
        import src
        before = sorted(name for name in sys.modules if name.startswith("opentelemetry"))
        mark_startup_complete()
        stop_tracing()
        # With nowhere to export to, the SDK is never imported, not even after startup.
        after = sorted(name for name in sys.modules if name.startswith("opentelemetry.sdk"))
        print(before, after)
        """,
        {"ENABLE_IMPORT_TRACING": "true", "IMPORT_TRACING_ROOT": str(tmp_path / "src")},
        str(tmp_path),
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == "[] []"
    assert "no trace exporter is configured" in result.stderr


def _run_job_script(tmp_path: Path, **env: str) -> subprocess.CompletedProcess:
    """A script (no lifespan) that starts tracing, imports ``src.job`` and just ends."""
    root = tmp_path / "src"
    root.mkdir()
    (root / "__init__.py").write_text("")
    (root / "job.py").write_text("RESULT = 1\n")
    return _run_python(
        f"""
        import sys
        sys.path.insert(0, {str(tmp_path)!r})
        from otel_import_tracer import start_tracing
        start_tracing()
        import src.job
        """,
        {"ENABLE_IMPORT_TRACING": "true", "IMPORT_TRACING_ROOT": str(root), **env},
    )


def test_a_script_without_a_lifespan_still_prints_the_lines_at_exit(tmp_path: Path) -> None:
    result = _run_job_script(tmp_path)
    assert result.returncode == 0, result.stderr
    files, modules, totals = shutdown_lines(result.stdout)
    root = tmp_path / "src"
    assert modules == ["src", "src.job"]
    assert files == [str(root / "__init__.py"), str(root / "job.py")]
    assert totals == {"files": 2, "modules": 2}


def test_a_script_run_by_path_and_the_files_it_runs_by_hand_are_all_recorded(tmp_path: Path, collector: str) -> None:
    # `python src/manage.py migrate`, no code change: the script itself is never imported, and its
    # migrations are loaded the way alembic loads them (never in sys.modules).
    root = tmp_path / "src"
    (root / "versions").mkdir(parents=True)
    (root / "__init__.py").write_text("")
    for index in range(3):
        (root / "versions" / f"000{index}_step.py").write_text(f"revision = {index}\n")
    (root / "manage.py").write_text(textwrap.dedent("""
        import importlib.util, os
        here = os.path.dirname(os.path.abspath(__file__))
        for name in sorted(os.listdir(os.path.join(here, "versions"))):
            spec = importlib.util.spec_from_file_location(name[:-3], os.path.join(here, "versions", name))
            spec.loader.exec_module(importlib.util.module_from_spec(spec))
        print("migrated")
    """))
    result = subprocess.run(
        [sys.executable, str(root / "manage.py")],
        env=clean_env({"ENABLE_IMPORT_TRACING": "true", "IMPORT_TRACING_ROOT": str(root),
                       "IMPORT_TRACING_COLLECTOR": collector}),
        capture_output=True, text=True, timeout=120, cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    files, modules, totals = shutdown_lines(result.stdout)
    assert files == [str(root / "manage.py")] + [str(root / "versions" / f"000{i}_step.py") for i in range(3)]
    assert modules == ["src.manage", "src.versions.0000_step", "src.versions.0001_step", "src.versions.0002_step"]


@pytest.mark.collector_independent
def test_the_exec_audit_hook_keeps_the_apps_own_hooks_and_a_refusal_is_one_warning(tmp_path: Path) -> None:
    root = tmp_path / "src"
    root.mkdir()
    (root / "__init__.py").write_text("")
    (root / "job.py").write_text("RESULT = 1\n")
    (root / "extra.py").write_text("EXTRA = 1\n")
    code = """
        import os, sys
        sys.path.insert(0, {parent!r})
        os.environ["ENABLE_IMPORT_TRACING"] = "true"  # not at boot: the app's hook comes first
        events = []
        def refuse(event, args):
            if event == "sys.addaudithook" and {refuse!r}:
                raise RuntimeError("audit hooks are locked down here")
            if event == "exec":
                events.append(args[0].co_filename)
        sys.addaudithook(refuse)
        from otel_import_tracer import start_tracing, stop_tracing
        from otel_import_tracer.collectors import audit
        start_tracing()
        import src.job
        exec(compile(open({extra!r}).read(), {extra!r}, "exec"), {{}})  # a bare exec: only the hook sees it
        stop_tracing()
        assert audit._SINKS == [], audit._SINKS  # nothing of ours runs after stop
        print("app hook saw", sum(name.endswith(("job.py", "extra.py")) for name in events))
    """
    for refuse in (False, True):
        result = _run_python(
            code.format(parent=str(tmp_path), refuse=refuse, extra=str(root / "extra.py")),
            {"ENABLE_IMPORT_TRACING": "false", "IMPORT_TRACING_ROOT": str(root), "IMPORT_TRACING_COLLECTOR": "audit"},
        )
        assert result.returncode == 0, result.stderr
        files, _, _ = shutdown_lines(result.stdout)
        assert "app hook saw 2" in result.stdout
        if refuse:  # imports are still recorded; the file run by a bare exec is not, and the warning says so
            assert files == [str(root / "__init__.py"), str(root / "job.py")]
            assert result.stderr.count("exec audit hook could not be installed") == 1
            assert "IMPORT_TRACING_COLLECTOR=settrace" in result.stderr
        else:
            assert files == [str(root / "__init__.py"), str(root / "extra.py"), str(root / "job.py")]
            assert "audit hook" not in result.stderr


def test_a_script_without_a_lifespan_still_exports_its_startup_trace(tmp_path: Path) -> None:
    # At exit the interpreter refuses new threads (3.12); the export must still go out.
    # 60 s: under load the default 3 s cut the export before the SDK had even been imported.
    result = _run_job_script(tmp_path, OTEL_TRACES_EXPORTER="console", IMPORT_TRACING_SHUTDOWN_TIMEOUT="60")
    assert result.returncode == 0, result.stderr
    assert '"name": "app.startup"' in result.stdout, result.stderr
    assert '"python.module.name": "src.job"' in result.stdout
    assert "Traceback" not in result.stderr and "warning" not in result.stderr


@pytest.mark.collector_independent
def test_sigterm_still_prints_the_lines_and_kills_as_before(tmp_path: Path) -> None:
    root = tmp_path / "src"
    root.mkdir()
    (root / "__init__.py").write_text("")
    (root / "worker.py").write_text("import time\n")
    process = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(f"""
            import sys, time
            sys.path.insert(0, {str(tmp_path)!r})
            from otel_import_tracer import start_tracing
            start_tracing()
            import src.worker
            print("ready", flush=True)
            time.sleep(60)
            """)],
        env=clean_env({"ENABLE_IMPORT_TRACING": "true", "IMPORT_TRACING_ROOT": str(root)}),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    _assert_ready(process)
    process.terminate()
    stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == -signal.SIGTERM, stderr  # the exit a supervisor expects
    assert shutdown_lines(stdout)[1] == ["src", "src.worker"], stderr


def _first_line(process: subprocess.Popen) -> str:
    """The child's first line, read byte by byte from the pipe: ``stdout.readline()`` may buffer
    what follows (the shutdown lines, when the child is fast), and ``communicate`` reads the pipe
    itself, past that buffer, so those lines would be lost to the test."""
    assert process.stdout is not None
    line = b""
    while not line.endswith(b"\n"):
        byte = os.read(process.stdout.fileno(), 1)
        if not byte:
            break
        line += byte
    return line.decode().strip()


def _assert_ready(process: subprocess.Popen) -> None:
    """The child printed "ready" first; if not, the failure shows what it printed instead."""
    first = _first_line(process)
    if first != "ready":
        process.kill()
        stdout, stderr = process.communicate(timeout=30)
        raise AssertionError(f"expected 'ready', got {first!r}; exit {process.returncode}\n--- stderr:\n{stderr}\n--- stdout:\n{stdout}")


@contextlib.contextmanager
def _sigterm_child(tmp_path: Path, body: str, **env: str) -> Iterator[subprocess.Popen]:
    root = tmp_path / "src"
    root.mkdir()
    (root / "__init__.py").write_text("")
    (root / "worker.py").write_text("import time\n")
    code = textwrap.dedent(f"""
        import ctypes, signal, sys, threading, time
        sys.path.insert(0, {str(tmp_path)!r})
        from otel_import_tracer import start_tracing
        start_tracing()
        import src.worker
        print("ready", flush=True)
        """) + textwrap.dedent(body)
    with subprocess.Popen(
        [sys.executable, "-c", code],
        env=clean_env({"ENABLE_IMPORT_TRACING": "true", "IMPORT_TRACING_ROOT": str(root), **env}),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    ) as process:
        try:
            yield process
        finally:
            if process.poll() is None:
                process.kill()
                process.communicate()


@pytest.mark.collector_independent
def test_sigterm_taken_while_the_main_thread_blocks_is_still_acted_on(tmp_path: Path) -> None:
    # CPython runs a Python signal handler at the main thread's next bytecode. A SIGTERM taken
    # by another thread (or just before the main thread enters a blocking call, which is what
    # made the test above hang now and then) leaves the main thread asleep with the handler
    # pending: `docker stop` ignored for the whole sleep. Here the signal is sent to another
    # thread on purpose, so the race is certain rather than one run in a few hundred.
    with _sigterm_child(tmp_path, """
        def send():
            time.sleep(0.3)
            signal.pthread_kill(threading.get_ident(), signal.SIGTERM)
        threading.Thread(target=send).start()
        time.sleep(60)
        """) as process:
        _assert_ready(process)
        started = time.monotonic()
        stdout, stderr = process.communicate(timeout=30)
    assert time.monotonic() - started < 10, "SIGTERM was left pending while the main thread slept"
    assert process.returncode == -signal.SIGTERM, stderr
    assert shutdown_lines(stdout)[1] == ["src", "src.worker"], stderr


@pytest.mark.collector_independent
def test_sigterm_while_the_main_thread_is_stuck_in_native_code_is_bounded(tmp_path: Path) -> None:
    # glibc's system() retries its wait on EINTR: no Python code runs in the main thread until
    # the command ends. The watcher writes the lines itself and ends the process, in bounded time.
    with _sigterm_child(tmp_path, """
        ctypes.CDLL(None).system(b"exec sleep 8 </dev/null >/dev/null 2>&1")
        """, IMPORT_TRACING_SHUTDOWN_TIMEOUT="1") as process:
        _assert_ready(process)
        time.sleep(0.3)
        started = time.monotonic()
        process.terminate()
        stdout, stderr = process.communicate(timeout=30)
    assert time.monotonic() - started < 6, stderr
    assert process.returncode in (-signal.SIGTERM, 128 + signal.SIGTERM), stderr
    assert shutdown_lines(stdout)[1] == ["src", "src.worker"], stderr
    assert "[sigterm-stuck]" in stderr


@pytest.mark.collector_independent
def test_sigterm_while_tracing_stops_waits_for_the_export_then_kills_as_before(tmp_path: Path) -> None:
    # hypercorn --workers 2: the master terminates the second worker as soon as the first has
    # exited, while that worker's lifespan shutdown is still exporting its trace. The SIGTERM must
    # not cut the bounded flush short; once it is done, the process dies of SIGTERM as before.
    with OtlpReceiver(mode="slow") as receiver, _sigterm_child(tmp_path, """
        def send():
            time.sleep(0.3)
            os.kill(os.getpid(), signal.SIGTERM)
        import os
        threading.Thread(target=send).start()
        from otel_import_tracer import stop_tracing
        stop_tracing()
        print("stop returned", flush=True)
        time.sleep(60)
        """, IMPORT_TRACING_SHUTDOWN_TIMEOUT="60", **receiver.env("http")) as process:  # 10 s cut it at load 25
        _assert_ready(process)
        stdout, stderr = process.communicate(timeout=120)
    assert process.returncode == -signal.SIGTERM, stderr
    assert "stop returned" not in stdout  # killed at the end of the stop, not left running
    assert shutdown_lines(stdout)[1] == ["src", "src.worker"], (stdout, stderr)
    startups = receiver.spans("app.startup")
    assert len(startups) == 1, (stderr, receiver.summary())
    (startup,) = startups
    imports = sorted(s.attributes["python.module.name"] for s in receiver.spans() if s.trace_id == startup.trace_id and s is not startup)
    assert imports == ["src", "src.worker"], receiver.summary()


@pytest.mark.collector_independent
@pytest.mark.parametrize("where", ["arming the export thread", "queueing a lazy import", "beginning the stop"])
def test_sigterm_inside_the_tracers_own_critical_section_is_still_acted_on(tmp_path: Path, where: str) -> None:
    # The handler runs in the main thread, at its next bytecode: maybe while that thread holds a
    # lock of the tracer's own (starting the export thread at the first load, adding a lazy import
    # job), or just as its own stop begins (between marking the session stopped and telling the
    # handler a stop is under way, the handler found nothing to stop and killed the process without
    # a line). Stopping must neither wait on a lock forever nor lose the lines. A trace function
    # raises SIGTERM at the third line of the function named, whatever its implementation.
    functions, modules = {
        "arming the export thread": (("arm",), ("otel_import_tracer.telemetry",)),
        "queueing a lazy import": (("put", "put_nowait"), ("queue", "otel_import_tracer.telemetry")),
        "beginning the stop": (("stop",), ("otel_import_tracer.tracing",)),
    }[where]
    lazy = where != "arming the export thread"
    root = tmp_path / "src"
    root.mkdir()
    for name in ("__init__", "worker", "handler"):
        (root / f"{name}.py").write_text("")
    code = textwrap.dedent(f"""
        import signal, sys, time
        sys.path.insert(0, {str(tmp_path)!r})
        from otel_import_tracer import mark_startup_complete, start_tracing, stop_tracing
        lines = 0
        def local(frame, event, arg):
            global lines
            if event == "line":
                lines += 1
                if lines == 3:
                    sys.settrace(None)
                    signal.raise_signal(signal.SIGTERM)
            return local
        def tracer(frame, event, arg):
            module = frame.f_globals.get("__name__", "")
            if frame.f_code.co_name in {functions!r} and module in {modules!r}:
                return local
            return None
        start_tracing()
        if {lazy!r}:
            import src.worker
            mark_startup_complete()
        sys.settrace(tracer)
        import src.handler
        stop_tracing()
        sys.settrace(None)
        print("not stopped", flush=True)
        time.sleep(60)
        """)
    process = subprocess.run(
        [sys.executable, "-c", code], env=clean_env({"ENABLE_IMPORT_TRACING": "true", "IMPORT_TRACING_ROOT": str(root)}),
        capture_output=True, text=True, timeout=30,
    )
    assert process.returncode == -signal.SIGTERM, process.stderr
    assert "not stopped" not in process.stdout
    # Arming happens at the first load under the root (src itself); after it, src.handler is loaded.
    assert ("src.handler" if lazy else "src") in shutdown_lines(process.stdout)[1], process.stdout


def test_shutdown_lines_list_each_file_and_module_once_sorted() -> None:
    from otel_import_tracer import logs

    lines = list(logs.shutdown_lines("/app/src", ["/app/src/b.py", "/app/src/a.py", "/app/src/b.py"], ["src.b", "src.a", "src.b"], pid=7))
    assert lines == [
        "Stopping runtime file tracing... (pid 7)",
        "Total unique /app/src/*.py files loaded: 2",
        "LOADED_SRC_FILE: /app/src/a.py",
        "LOADED_SRC_FILE: /app/src/b.py",
        "Total unique src.* modules loaded: 2",
        "LOADED_MODULE: src.a",
        "LOADED_MODULE: src.b",
    ]
