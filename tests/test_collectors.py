"""What each collector records, in-process, against real imports of real files."""

from __future__ import annotations

import _thread
import importlib
import importlib.machinery
import importlib.util
import runpy
import sys
import threading
from pathlib import Path
from typing import Any, List

import pytest

from otel_import_tracer import env, tracing
from otel_import_tracer.registry import SOURCE_EXECUTED, SOURCE_IMPORT, SOURCE_PRELOADED
from otel_import_tracer.tracing import TracingSession
from tests.conftest import SourceTree
from tests.support.genapp import write_package

ALL_COLLECTORS = ["importhook", "settrace", pytest.param("monitoring", marks=pytest.mark.skipif(
    not env.HAS_MONITORING, reason="sys.monitoring needs Python 3.12+"))]
EXECUTION_COLLECTORS = ["settrace", pytest.param("monitoring", marks=pytest.mark.skipif(
    not env.HAS_MONITORING, reason="sys.monitoring needs Python 3.12+"))]


def start(tree: SourceTree, collector: str, **overrides: Any) -> TracingSession:
    session = TracingSession(tree.config(collector=collector, **overrides))
    assert session.start()
    return session


def by_name(session: TracingSession) -> dict:
    return {load.name: load for load in session.registry.loads()}


def test_records_each_import_with_importer_thread_and_duration(tree: SourceTree, collector: str) -> None:
    tree.write("models/domain.py", "import time\ntime.sleep(0.02)\nX = 1\n")
    tree.write("services.py", f"from {tree.package}.models import domain\n")
    tree.write("main.py", f"from {tree.package} import services\n")
    session = start(tree, collector)
    try:
        importlib.import_module(f"{tree.package}.main")
    finally:
        session.stop()
    loads = by_name(session)
    p = tree.package
    assert set(loads) == {p, f"{p}.main", f"{p}.services", f"{p}.models", f"{p}.models.domain"}
    domain = loads[f"{p}.models.domain"]
    assert domain.source == SOURCE_IMPORT and not domain.preloaded and not domain.lazy
    assert domain.file == str(tree.root / "models" / "domain.py")
    assert domain.parent == f"{p}.services"
    assert domain.thread == threading.current_thread().name
    assert domain.duration_ns is not None and domain.duration_ns >= 15_000_000
    # The importer's load encloses the imported module's load.
    services = loads[f"{p}.services"]
    assert services.start_ns <= domain.start_ns and domain.end_ns <= services.end_ns  # type: ignore[operator]
    assert loads[f"{p}.main"].parent == __name__  # imported by this test module


def test_modules_loaded_before_start_are_recorded_as_preloaded(tree: SourceTree, collector: str) -> None:
    tree.write("early.py", "")
    importlib.import_module(f"{tree.package}.early")
    session = start(tree, collector)
    tree.write("late.py", "")
    try:
        importlib.import_module(f"{tree.package}.late")
    finally:
        session.stop()
    loads = by_name(session)
    assert loads[f"{tree.package}.early"].source == SOURCE_PRELOADED
    assert loads[f"{tree.package}.early"].preloaded
    assert loads[f"{tree.package}.late"].source == SOURCE_IMPORT


def test_thread_imports_computed_names_and_lazy_imports(tree: SourceTree, collector: str) -> None:
    tree.write("plugins/alpha.py", "")
    tree.write("plugins/beta.py", "")
    tree.write("worker_dep.py", "")
    tree.write("lazy.py", "")
    session = start(tree, collector)
    try:
        name = "alpha"  # a name computed at runtime, as from settings
        importlib.import_module(f"{tree.package}.plugins." + name)
        worker = threading.Thread(
            target=importlib.import_module, args=(f"{tree.package}.worker_dep",), name="warmup-thread"
        )
        worker.start()
        worker.join()
        session.startup_complete()
        importlib.import_module(f"{tree.package}.lazy")
    finally:
        session.stop()
    loads = by_name(session)
    p = tree.package
    assert f"{p}.plugins.alpha" in loads and f"{p}.plugins.beta" not in loads
    assert loads[f"{p}.worker_dep"].thread == "warmup-thread"
    assert loads[f"{p}.lazy"].lazy and not loads[f"{p}.plugins.alpha"].lazy


def test_recorded_set_equals_ground_truth(tree: SourceTree, collector: str) -> None:
    names = write_package(tree.root, 40, name="pkg", within=tree.package)
    session = start(tree, collector)
    try:
        importlib.import_module(f"{tree.package}.pkg.mod39")
        importlib.import_module(f"{tree.package}.pkg.mod5")
        ground_truth = set(tree.loaded_in_sys_modules())
    finally:
        session.stop()
    assert session.registry.files() == ground_truth
    assert len(ground_truth) == 1 + len(names)  # the tree's own __init__ plus the package
    assert tracing.get_loaded_files() == set()  # this session was not the global one


BARE_EXEC_COLLECTORS = ["audit", *EXECUTION_COLLECTORS]


@pytest.mark.parametrize("collector_name", BARE_EXEC_COLLECTORS)
def test_code_run_by_a_bare_exec_is_recorded_by_the_execution_collectors(tree: SourceTree, collector_name: str) -> None:
    script = tree.write("scripts/oneoff.py", "def main():\n    return 42\nRESULT = main()\n")
    session = start(tree, collector_name)
    try:
        namespace: dict = {"__name__": "__oneoff__"}
        exec(compile(script.read_text(), str(script), "exec"), namespace)
    finally:
        session.stop()
    load = session.registry.loads()[-1]
    assert (load.file, load.source, load.name) == (str(script), SOURCE_EXECUTED, f"{tree.package}.scripts.oneoff")
    assert load.parent == __name__


def run_files_without_imports(tree: SourceTree, bare_exec: bool) -> List[str]:
    """Run root files the ways real applications do without an import statement; return them."""
    ran = []
    for index in range(3):  # alembic: env.py and its migrations, never in sys.modules
        path = tree.write(f"migrations/versions/{index:04d}_step.py", f"revision = {index}\ndef upgrade():\n    pass\n")
        spec = importlib.util.spec_from_file_location(f"migration_{index}", path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        ran.append(str(path))
    script = tree.write("scripts/seed.py", "SEEDED = True\n")
    assert runpy.run_path(str(script))["SEEDED"]
    ran.append(str(script))
    settings = tree.write("settings_local.py", "DEBUG = True\n")
    exec(compile(settings.read_text(), str(settings), "exec"), {})
    if bare_exec:
        ran.append(str(settings))
    return ran


@pytest.mark.parametrize("collector_name", ["importhook", *BARE_EXEC_COLLECTORS])
def test_every_collector_records_exactly_the_files_that_ran(tree: SourceTree, collector_name: str) -> None:
    write_package(tree.root, 30, name="pkg", within=tree.package)
    tree.write("never_run.py", "RAN = True\n")  # in the root, never imported nor run
    session = start(tree, collector_name)
    try:
        importlib.import_module(f"{tree.package}.pkg.mod29")
        ran = run_files_without_imports(tree, bare_exec=collector_name != "importhook")
        ground_truth = set(tree.loaded_in_sys_modules()) | set(ran)
    finally:
        session.stop()
    assert session.registry.files() == ground_truth
    assert len(ground_truth) == 2 + 30 + len(ran)  # package inits, modules, the files run
    loads = {load.file: load for load in session.registry.loads()}
    assert {loads[path].source for path in ran} == {SOURCE_EXECUTED}
    # Run through a loader or runpy, they are timed as imports are; under the root, by the test.
    for path in ran[:4]:
        assert loads[path].duration_ns is not None and loads[path].parent in (__name__, "runpy")


@pytest.mark.skipif(not env.HAS_MONITORING, reason="sys.monitoring needs Python 3.12+")
def test_monitoring_records_code_started_with_no_python_caller(tree: SourceTree, capsys: pytest.CaptureFixture[str]) -> None:
    # A thread started from C runs its first function with no frame above it.
    script = tree.write("jobs/background.py", "def main(done):\n    done.set()\n")
    namespace: dict = {"__name__": "__background__"}
    exec(compile(script.read_text(), str(script), "exec"), namespace)  # before tracing: not recorded
    session = start(tree, "monitoring")
    try:
        done = threading.Event()
        _thread.start_new_thread(namespace["main"], (done,))
        assert done.wait(10)
    finally:
        session.stop()
    recorded = {load.file: load for load in session.registry.loads()}
    assert recorded[str(script)].source == SOURCE_EXECUTED
    assert "internal error" not in capsys.readouterr().err


def test_missing_module_is_a_failed_import_but_a_probe_is_not(tree: SourceTree, collector: str) -> None:
    tree.write(
        "integrations.py",
        "import importlib.util\n"
        "HAS_PROBE = importlib.util.find_spec('probe_only_not_installed') is not None\n"
        "try:\n"
        "    import fancy_client_not_installed\n"
        "except ImportError:\n"
        "    fancy_client_not_installed = None\n",
    )
    session = start(tree, collector)
    try:
        importlib.import_module(f"{tree.package}.integrations")
    finally:
        session.stop()
    (failure,) = session.registry.failures()
    assert failure.name == "fancy_client_not_installed"
    assert failure.exception_type == "ModuleNotFoundError"
    assert failure.message == "No module named 'fancy_client_not_installed'"
    assert failure.importer == f"{tree.package}.integrations"
    assert failure.importer_file == str(tree.root / "integrations.py")
    assert failure.line == 4


def test_from_import_of_a_missing_name_is_not_reported_as_a_missing_module(tree: SourceTree, collector: str) -> None:
    # `from pkg import Name` probes for a submodule `pkg.Name` first; the app gets
    # ImportError("cannot import name"), never that ModuleNotFoundError (LiteLLM's optional LogRecord).
    tree.write(
        "compat.py",
        "try:\n    from json import LogRecordNotInJson\nexcept ImportError as exc:\n    CAUGHT = repr(exc)\n",
    )
    session = start(tree, collector)
    try:
        compat = importlib.import_module(f"{tree.package}.compat")
    finally:
        session.stop()
    assert "cannot import name" in compat.CAUGHT
    assert session.registry.failures() == []


def test_a_missing_module_asked_for_again_and_again_is_one_failure_with_a_count(tree: SourceTree, collector: str) -> None:
    tree.write("handler.py", "def handle():\n    try:\n        import not_installed_anywhere\n    except ImportError:\n        pass\n")
    session = start(tree, collector)
    try:
        handler = importlib.import_module(f"{tree.package}.handler")
        session.startup_complete(export=False)
        for _ in range(500):
            handler.handle()
        importlib.invalidate_caches()  # a module missing before may exist now: looked for again
        handler.handle()
    finally:
        session.stop()
    (failure,) = session.registry.failures()
    assert (failure.name, failure.line, failure.lazy) == ("not_installed_anywhere", 3, True)
    assert session.registry.failure_count(failure) == 501


def test_module_whose_code_raises_is_a_failed_import_and_the_error_is_unchanged(
    tree: SourceTree, collector: str
) -> None:
    tree.write("broken.py", "raise RuntimeError('config missing')\n")
    tree.write("uses_broken.py", f"from {tree.package} import broken\n")
    session = start(tree, collector)
    try:
        with pytest.raises(RuntimeError, match="config missing"):
            importlib.import_module(f"{tree.package}.uses_broken")
    finally:
        session.stop()
    (broken,) = session.registry.failures()  # where it started, not each import it unwound through
    assert (broken.exception_type, broken.message, broken.importer) == (
        "RuntimeError", "config missing", f"{tree.package}.uses_broken")
    assert str(tree.root / "broken.py") in session.registry.files()  # its code ran: it loaded


def test_third_party_package_failing_inside_is_reported_against_our_import(
    tree: SourceTree, tmp_path: Path, collector: str
) -> None:
    site = tmp_path / "site"
    (site / "thirdparty_broken").mkdir(parents=True)
    (site / "thirdparty_broken" / "__init__.py").write_text("from thirdparty_broken import _native\n")
    (site / "thirdparty_ok").mkdir()
    # A library probing its own optional dependency is not our failure.
    (site / "thirdparty_ok" / "__init__.py").write_text(
        "try:\n    import speedups_not_installed\nexcept ImportError:\n    pass\n")
    tree.write("report.py", "import thirdparty_ok\ntry:\n    import thirdparty_broken\nexcept ImportError:\n    pass\n")
    sys.path.insert(0, str(site))
    session = start(tree, collector)
    try:
        importlib.import_module(f"{tree.package}.report")
    finally:
        session.stop()
        sys.path.remove(str(site))
        for name in ("thirdparty_broken", "thirdparty_ok"):
            sys.modules.pop(name, None)
    (failure,) = session.registry.failures()
    assert failure.name == "thirdparty_broken"
    assert failure.exception_type == "ImportError"
    assert "_native" in failure.message
    assert (failure.importer, failure.line) == (f"{tree.package}.report", 3)


def test_thirty_two_threads_importing_two_thousand_modules_record_each_once(tree: SourceTree, collector: str) -> None:
    packages = [write_package(tree.root, 120, name=f"p{index}", fan_in=3, within=tree.package) for index in range(16)]
    # Per package, a circular pair (each imports the other) and a module whose code raises.
    for index in range(16):
        dotted = f"{tree.package}.p{index}"
        tree.write(f"p{index}/ring_a.py", f"from {dotted} import ring_b\nA = 1\n")
        tree.write(f"p{index}/ring_b.py", f"from {dotted} import ring_a\nB = 1\n")
        tree.write(f"p{index}/broken.py", "raise RuntimeError('broken on purpose')\n")
        packages[index] += [f"{dotted}.ring_a", f"{dotted}.ring_b", f"{dotted}.broken"]
    all_names = [name for names in packages for name in names]
    session = start(tree, collector)
    errors: List[BaseException] = []
    raised = []
    barrier = threading.Barrier(32)

    def worker(index: int) -> None:
        try:
            barrier.wait(timeout=30)
            # Two threads per package, importing it from opposite ends, so they collide.
            names = packages[index % 16]
            for name in (names if index < 16 else reversed(names)):
                try:
                    importlib.import_module(name)
                except RuntimeError:
                    raised.append(name)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(i,), name=f"importer-{i}") for i in range(32)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
        assert not any(thread.is_alive() for thread in threads), "deadlock: importer threads still running"
    finally:
        session.stop()
    assert not errors
    assert sorted(raised) == sorted(name for name in all_names if name.endswith(".broken") for _ in range(2))
    loads = session.registry.loads()
    names = [load.name for load in loads]
    assert len(names) == len(set(names))
    assert set(names) == {tree.package} | set(all_names)
    assert len(names) == 1 + 16 * (121 + 3)
    assert {load.thread for load in loads if load.source == SOURCE_IMPORT} <= {f"importer-{i}" for i in range(32)}
    failures = session.registry.failures()
    assert sorted(failure.name for failure in failures) == sorted(name for name in all_names if name.endswith(".broken"))
    assert sum(session.registry.failure_count(failure) for failure in failures) == 32


def test_settrace_chains_to_an_existing_trace_function(tree: SourceTree, capsys: pytest.CaptureFixture[str]) -> None:
    calls: List[str] = []

    def existing(frame: Any, event: str, arg: Any) -> Any:
        if event == "call":
            calls.append(frame.f_code.co_name)
        return None

    def probe() -> int:
        return 1

    tree.write("mod.py", "def f():\n    return 2\nf()\n")
    previous = sys.gettrace()
    sys.settrace(existing)
    try:
        session = start(tree, "settrace")
        try:
            probe()
            importlib.import_module(f"{tree.package}.mod")
        finally:
            session.stop()
        assert sys.gettrace() is existing  # restored, not clobbered
        probe()
    finally:
        sys.settrace(previous)
    assert calls.count("probe") == 2 and "f" in calls
    assert f"{tree.package}.mod" in by_name(session)
    assert "already installed" in capsys.readouterr().err


def test_stopping_settrace_keeps_trace_functions_the_app_installed_later(tree: SourceTree) -> None:
    # A debugger or coverage started after tracing, in this thread and in a worker: both stay.
    def app_trace(frame: Any, event: str, arg: Any) -> Any:
        return None

    def call() -> None:
        pass

    ready, go = threading.Barrier(3), threading.Event()
    seen = {}

    def worker(replace: bool) -> None:
        if replace:
            sys.settrace(app_trace)
        ready.wait()
        go.wait()
        call()  # a trace function of ours left here removes itself at its next call
        seen[replace] = sys.gettrace()
        sys.settrace(None)

    session = start(tree, "settrace")
    threads = [threading.Thread(target=worker, args=(replace,)) for replace in (True, False)]
    try:
        for thread in threads:
            thread.start()
        ready.wait()
        sys.settrace(app_trace)
    finally:
        session.stop()
    try:
        assert sys.gettrace() is app_trace
    finally:
        sys.settrace(None)
        go.set()
        for thread in threads:
            thread.join()
    assert seen == {True: app_trace, False: None}


@pytest.mark.parametrize("collector_name", ["importhook", pytest.param("monitoring", marks=pytest.mark.skipif(
    not env.HAS_MONITORING, reason="sys.monitoring needs Python 3.12+"))])
def test_cheap_collectors_leave_the_trace_function_alone(tree: SourceTree, collector_name: str) -> None:
    before = sys.gettrace()
    session = start(tree, collector_name)
    try:
        assert sys.gettrace() is before
    finally:
        session.stop()


def test_an_error_inside_the_hook_never_reaches_the_app(
    tree: SourceTree, collector: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    tree.write("a.py", "VALUE = 1\n")
    tree.write("b.py", "VALUE = 2\n")
    session = start(tree, collector)

    def explode(*args: Any, **kwargs: Any) -> None:
        raise MemoryError("simulated bug in the tracer")

    monkeypatch.setattr(session.registry, "begin_load", explode)
    monkeypatch.setattr(session.registry, "note_executed", explode)
    try:
        assert importlib.import_module(f"{tree.package}.a").VALUE == 1
        assert importlib.import_module(f"{tree.package}.b").VALUE == 2
    finally:
        monkeypatch.undo()
        session.stop()
    err = capsys.readouterr().err
    assert err.count("internal error") == 1 and "simulated bug" in err
    assert {f"{tree.package}.a", f"{tree.package}.b"} <= set(by_name(session))  # the stop sweep found them


@pytest.mark.skipif(not env.HAS_MONITORING, reason="sys.monitoring needs Python 3.12+")
def test_monitoring_falls_back_when_every_tool_id_is_taken(tree: SourceTree, capsys: pytest.CaptureFixture[str]) -> None:
    from otel_import_tracer.collectors.monitoring import CANDIDATE_TOOL_IDS

    for tool_id in CANDIDATE_TOOL_IDS:
        sys.monitoring.use_tool_id(tool_id, f"other-tool-{tool_id}")
    tree.write("m.py", "")
    try:
        session = start(tree, "monitoring")
        importlib.import_module(f"{tree.package}.m")
        session.stop()
    finally:
        for tool_id in CANDIDATE_TOOL_IDS:
            sys.monitoring.free_tool_id(tool_id)
    assert session.collector == "importhook"
    assert f"{tree.package}.m" in by_name(session)
    err = capsys.readouterr().err
    assert "tool ids are all taken" in err and "other-tool-3" in err and "falling back" in err


@pytest.mark.skipif(env.HAS_MONITORING, reason="only before Python 3.12")
def test_monitoring_requested_before_312_falls_back_with_a_warning(
    tree: SourceTree, capsys: pytest.CaptureFixture[str]
) -> None:
    session = start(tree, "monitoring")
    session.stop()
    assert session.collector == "importhook"
    assert "needs Python 3.12" in capsys.readouterr().err


def test_settrace_never_turns_on_line_tracing(tree: SourceTree) -> None:
    tree.write("probe.py", "import sys\n\ndef local_tracer():\n    return sys._getframe().f_trace\n")
    session = start(tree, "settrace")
    try:
        module = importlib.import_module(f"{tree.package}.probe")
        assert module.local_tracer() is None  # no local trace function: no line events
    finally:
        session.stop()
    assert f"{tree.package}.probe" in by_name(session)


@pytest.mark.skipif(not env.HAS_SETTRACE_ALL_THREADS, reason="threading.settrace_all_threads needs Python 3.12+")
def test_settrace_reaches_threads_that_were_already_running(tree: SourceTree) -> None:
    script = tree.write("jobs/nightly.py", "def run():\n    return 1\nrun()\n")
    go, done = threading.Event(), threading.Event()

    def already_running() -> None:
        go.wait(timeout=30)
        exec(compile(script.read_text(), str(script), "exec"), {"__name__": "nightly"})
        done.set()

    thread = threading.Thread(target=already_running, name="old-thread")
    thread.start()
    session = start(tree, "settrace")
    try:
        go.set()
        assert done.wait(timeout=30)
    finally:
        session.stop()
        thread.join()
    assert by_name(session)[f"{tree.package}.jobs.nightly"].thread == "old-thread"


def test_a_missing_dependency_deep_in_a_chain_is_one_failure(tree: SourceTree, collector: str) -> None:
    tree.write("b.py", "import missing_dependency_xyz\n")
    tree.write("a.py", f"from {tree.package} import b\n")
    session = start(tree, collector)
    try:
        with pytest.raises(ModuleNotFoundError):
            importlib.import_module(f"{tree.package}.a")
    finally:
        session.stop()
    assert [(f.name, f.importer) for f in session.registry.failures()] == [
        ("missing_dependency_xyz", f"{tree.package}.b")]


class AheadFinder:
    """A library's finder put first in sys.meta_path (typeguard's install_import_hook does)."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.asked: List[str] = []

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> Any:
        if not fullname.startswith(self.prefix):
            return None
        self.asked.append(fullname)
        return importlib.machinery.PathFinder.find_spec(fullname, path, target)


def test_a_finder_put_ahead_of_ours_keeps_the_timings(tree: SourceTree, collector: str) -> None:
    tree.write("checked/__init__.py", "")
    for name in ("a", "b", "c"):
        tree.write(f"checked/{name}.py", "import time\ntime.sleep(0.002)\n")
    session = start(tree, collector)
    ahead = AheadFinder(f"{tree.package}.checked.")
    sys.meta_path.insert(0, ahead)
    try:
        for name in ("a", "b", "c"):
            importlib.import_module(f"{tree.package}.checked.{name}")
    finally:
        sys.meta_path.remove(ahead)
        session.stop()
    loads = by_name(session)
    assert sorted(ahead.asked) == [f"{tree.package}.checked.{name}" for name in ("a", "b", "c")]
    for name in ("a", "b", "c"):
        load = loads[f"{tree.package}.checked.{name}"]
        assert load.source == SOURCE_IMPORT and load.duration_ns is not None and load.duration_ns >= 1_000_000


def test_a_meta_path_rebuilt_without_ours_is_one_warning_and_ours_comes_back(
    tree: SourceTree, collector: str, capsys: pytest.CaptureFixture[str]
) -> None:
    tree.write("early.py", "")
    tree.write("lazy.py", "")
    session = start(tree, collector)
    original = list(sys.meta_path)
    try:
        sys.meta_path = [finder for finder in original if type(finder).__name__ != "ImportHookFinder"]
        importlib.import_module(f"{tree.package}.early")
        session.startup_complete(export=False)  # the sweep finds it; our finder goes back in
        importlib.import_module(f"{tree.package}.lazy")
    finally:
        session.stop()
        sys.meta_path = [finder for finder in original if type(finder).__name__ != "ImportHookFinder"]
    loads = by_name(session)
    # Timed anyway: the loaders' exec_module stand-in times root files whatever finder found them.
    assert loads[f"{tree.package}.early"].source == SOURCE_IMPORT and loads[f"{tree.package}.early"].duration_ns is not None
    assert loads[f"{tree.package}.lazy"].source == SOURCE_IMPORT and loads[f"{tree.package}.lazy"].lazy
    err = capsys.readouterr().err
    assert err.count("sys.meta_path was replaced") == 1 and "insert()" in err


def test_a_loader_with_its_own_exec_module_is_left_alone(tree: SourceTree, collector: str) -> None:
    from importlib.machinery import SourceFileLoader
    from importlib.util import spec_from_file_location

    path = tree.write("custom.py", "VALUE = 7\n")

    class Finder:
        def find_spec(self, name, path_=None, target=None):  # type: ignore[no-untyped-def]
            if name != f"{tree.package}.custom":
                return None
            loader = SourceFileLoader(name, str(path))
            run = loader.exec_module
            loader.exec_module = lambda module: run(module)  # an instance attribute of its own
            return spec_from_file_location(name, str(path), loader=loader)

    finder = Finder()
    sys.meta_path.insert(0, finder)
    session = start(tree, collector)
    try:
        assert importlib.import_module(f"{tree.package}.custom").VALUE == 7
    finally:
        session.stop()
        sys.meta_path.remove(finder)
    assert by_name(session)[f"{tree.package}.custom"].source in ("sys.modules", "executed")


def test_a_collector_that_fails_to_start_leaves_nothing_installed(
    tree: SourceTree, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from otel_import_tracer.collectors.settrace import SettraceCollector

    def broken(self: Any) -> None:
        raise RuntimeError("cannot trace here")

    monkeypatch.setattr(SettraceCollector, "start", broken)
    session = TracingSession(tree.config(collector="settrace"))
    assert not session.start()
    assert "could not start" in capsys.readouterr().err  # and the autouse fixture finds no hook left


@pytest.mark.skipif(not env.HAS_MONITORING, reason="sys.monitoring needs Python 3.12+")
def test_a_second_monitoring_session_sees_code_the_first_one_saw(tree: SourceTree) -> None:
    script = tree.write("scripts/again.py", "def run():\n    return 1\nrun()\n")
    code = compile(script.read_text(), str(script), "exec")
    for _ in range(2):
        session = start(tree, "monitoring")
        try:
            exec(code, {"__name__": "again"})
        finally:
            session.stop()
        assert f"{tree.package}.scripts.again" in by_name(session)
