"""Every test leaves the interpreter's hooks as it found them, and tracing stopped."""

from __future__ import annotations

import os

# The in-process OTLP receiver runs gRPC threads; on Python 3.9 subprocess forks (no vfork),
# and gRPC's fork handlers then abort the child before it execs. Must precede importing grpc.
os.environ.setdefault("GRPC_ENABLE_FORK_SUPPORT", "false")
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any, Iterator, List

import pytest
from hypothesis import HealthCheck, settings

from otel_import_tracer import messages, tracing
from otel_import_tracer.config import Config
from tests.support import servers

# Property-based tests: a bounded run in CI, a long one on request (HYPOTHESIS_PROFILE=long),
# no example database written into the checkout. scripts/test.sh runs "ci" on the newest Python
# and "other-python" on the oldest (the only two that run these python_independent tests): the readers are the same code on each, and what a Python
# version changes under them (json, str, the terminal escapes) shows on any example, not the 100th.
settings.register_profile("ci", max_examples=120, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("other-python", max_examples=30, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("long", max_examples=20_000, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

# The suite runs once per collector: IMPORT_TRACING_TEST_COLLECTOR picks it (CI sets it).
TEST_COLLECTOR = os.environ.get("IMPORT_TRACING_TEST_COLLECTOR", "auto")


def _wakeup_fd() -> int:
    if threading.current_thread() is not threading.main_thread():
        return -1
    fd = signal.set_wakeup_fd(-1)
    if fd != -1:
        signal.set_wakeup_fd(fd)
    return fd


def _hooks() -> tuple:
    monitoring = getattr(sys, "monitoring", None)
    tools = tuple(monitoring.get_tool(i) for i in range(6)) if monitoring else ()
    thread_hook = threading.gettrace() if hasattr(threading, "gettrace") else getattr(threading, "_trace_hook", None)
    lazy = ()  # Python 3.15+: the lazy-imports filter slot and the functions that reach it
    if hasattr(sys, "get_lazy_imports_filter"):
        lazy = (sys.get_lazy_imports_filter(), sys.set_lazy_imports_filter, sys.get_lazy_imports_filter, sys.get_lazy_imports())
    return (sys.gettrace(), thread_hook, tuple(sys.meta_path), tools, signal.getsignal(signal.SIGTERM), _wakeup_fd(), lazy)


# Every child a test ran with subprocess.run, kept until the test's report: a failing test shows
# what its children printed (below), also where an assertion's own message does not (issue 27: a
# diff test saw 3 of 5 startup traces and nobody could see why). The real run, only remembered.
_CHILDREN: List[subprocess.CompletedProcess] = []
_subprocess_run = subprocess.run


def _remembered_run(*args: Any, **kwargs: Any) -> subprocess.CompletedProcess:
    result = _subprocess_run(*args, **kwargs)
    _CHILDREN.append(result)
    return result


subprocess.run = _remembered_run  # type: ignore[assignment]


def _text(data: object) -> str:
    return data.decode(errors="replace") if isinstance(data, bytes) else str(data)


@pytest.fixture(autouse=True)
def clean_hooks() -> Iterator[None]:
    before = _hooks()
    messages.reset_for_tests()
    del _CHILDREN[:]
    del servers.FINISHED[:]
    yield
    tracing.stop_tracing()
    assert _hooks() == before, "a test left a trace function, meta path finder, monitoring tool, signal hook or lazy-imports filter behind"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator[None]:
    """A failing test shows what its last children (subprocess.run) and servers printed; a child
    that ran out of time too: subprocess.run's TimeoutExpired keeps the output captured so far,
    but its message is only the command line."""
    outcome = yield
    report = outcome.get_result()
    if report.failed and call.when in ("setup", "call"):
        shown = 0
        for child in reversed(_CHILDREN):  # the last ones first: the failing assertion is about them
            if child.stderr is None and child.stdout is None:
                continue
            argv = child.args if isinstance(child.args, str) else " ".join(str(a) for a in child.args)
            for stream, data in (("stderr", child.stderr), ("stdout", child.stdout)):
                if data:
                    report.sections.append((f"{stream} of child `{argv[:200]}` (exit {child.returncode})", _text(data)[-8000:]))
            shown += 1
            if shown == 3:
                break
        for argv, output in servers.FINISHED[-3:]:
            report.sections.append((f"output of server `{' '.join(argv)[:200]}`", output[-8000:]))
    error = call.excinfo.value if call.excinfo is not None else None
    if isinstance(error, subprocess.TimeoutExpired):
        for stream, data in (("stdout", error.stdout), ("stderr", error.stderr)):
            if data:
                report.sections.append((f"{stream} of the child that timed out ({call.when})", _text(data)[-20_000:]))


@pytest.hookimpl(tryfirst=True)  # before xdist's, which reads the group into the test's id
def pytest_collection_modifyitems(config: pytest.Config, items: List[pytest.Item]) -> None:
    """A module whose tests share a module-scoped fixture (real runs generated once: the demo's
    traced runs, a changed app's fifteen) keeps its tests on one xdist worker under ``--dist
    loadgroup`` (scripts/test.sh), so the fixture runs once per run, not once per worker that got
    one of its tests (measured before this hook ran first: test_diff's fifteen traced runs set up
    on each of three workers, 3 x 16 CPU-s on 3.15; test_trace_inputs' demo runs 5 times on 3.9)."""
    for item in items:
        definitions = getattr(getattr(item, "_fixtureinfo", None), "name2fixturedefs", {})
        if any(defs and defs[-1].scope == "module" and getattr(defs[-1].func, "__module__", None) == item.module.__name__
               for defs in definitions.values()):
            item.add_marker(pytest.mark.xdist_group(item.module.__name__))


def pytest_runtest_setup(item: pytest.Item) -> None:
    """In an xdist worker under ``--dist loadgroup``, xdist tells the controller a test's group by
    appending ``@group`` to its id; when that stops working (pytest 9.2's ids, pytest-xdist#1386)
    nothing fails, the shared runs are just set up again on every worker: a grouped test fails
    instead."""
    if getattr(item.config.option, "loadgroup", False) and item.get_closest_marker("xdist_group") \
            and not item.nodeid.endswith("@" + item.module.__name__):
        pytest.fail("--dist loadgroup lost this test's xdist_group (its id has no @group): xdist and pytest "
                    "disagree on test ids, see the pytest pin in pyproject.toml", pytrace=False)


@pytest.fixture
def collector() -> str:
    return TEST_COLLECTOR


class SourceTree:
    """A temporary root ``<tmp>/<package>/`` importable as ``<package>``; cleans sys.modules after."""

    def __init__(self, parent: Path, package: str) -> None:
        self.parent = parent
        self.package = package
        self.root = parent / package
        self.root.mkdir()
        (self.root / "__init__.py").write_text("")

    def write(self, relative: str, source: str = "") -> Path:
        path = self.root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        for directory in path.relative_to(self.root).parents:
            init = self.root / directory / "__init__.py"
            if not init.exists():
                init.write_text("")
        path.write_text(source)
        return path

    def config(self, collector: str = TEST_COLLECTOR, **overrides: object) -> Config:
        return Config(enabled=True, root=str(self.root), collector=collector, **overrides)  # type: ignore[arg-type]

    def loaded_in_sys_modules(self) -> List[str]:
        prefix = str(self.root) + os.sep
        return sorted(
            module.__file__
            for module in list(sys.modules.values())
            if isinstance(getattr(module, "__file__", None), str) and module.__file__.startswith(prefix)
        )


@pytest.fixture
def tree(tmp_path: Path) -> Iterator[SourceTree]:
    from tests.support.genapp import unique_package_name

    source = SourceTree(tmp_path, unique_package_name("app"))
    sys.path.insert(0, str(tmp_path))
    try:
        yield source
    finally:
        sys.path.remove(str(tmp_path))
        for name in [n for n in sys.modules if n == source.package or n.startswith(source.package + ".")]:
            del sys.modules[name]
