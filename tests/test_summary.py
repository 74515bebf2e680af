"""The summary at the end of a run (``IMPORT_TRACING_SUMMARY``): built from a registry by hand here;
the demo's own summary, from a real run, is in ``tests/test_demo_service.py``."""

from __future__ import annotations

from pathlib import Path

import pytest

from otel_import_tracer.naming import SourceRoot
from otel_import_tracer.registry import SOURCE_IMPORT, Clock, Registry
from otel_import_tracer.reading.render.summary import summary_lines

pytestmark = pytest.mark.collector_independent


class StepClock(Clock):
    """Every reading one millisecond after the last: durations a test can predict."""

    def __init__(self) -> None:
        super().__init__()
        self.ns = 0

    def now_ns(self) -> int:
        self.ns += 1_000_000
        return self.ns


def registry_of(tmp_path: Path) -> Registry:
    return Registry(SourceRoot(str(tmp_path / "src")), StepClock())


def load(registry: Registry, name: str, parent: str = "src.main") -> None:
    registry.end_load(registry.begin_load(f"/x/{name}.py", name, parent, "MainThread", SOURCE_IMPORT))


def test_modules_startup_slowest_with_self_time_lazy_failed_and_the_report(tmp_path: Path) -> None:
    registry = registry_of(tmp_path)
    outer = registry.begin_load("/x/src/main.py", "src.main", None, "MainThread", SOURCE_IMPORT)  # at 2 ms (tracing began at 1)
    load(registry, "src.db")  # 3 -> 4 ms
    registry.end_load(outer)  # 5 ms: 3 ms in all, 2 of its own
    registry.end_dependency(registry.begin_dependency("fastapi", "src.main", "/x/src/main.py", 3, "MainThread"))  # 6 -> 7 ms
    registry.add_failure("fastcache", "src.main", "/x/src/main.py", 8, "ModuleNotFoundError", "No module named 'fastcache'", "MainThread")
    registry.add_failure("fastcache", "src.main", "/x/src/main.py", 8, "ModuleNotFoundError", "No module named 'fastcache'", "MainThread")
    registry.mark_startup_complete()  # at 9 ms, 8 after tracing began (1 ms); the failure was at 8
    for index in range(7):
        load(registry, f"src.lazy{index}", "src.routes")
    lines = summary_lines(registry, "/var/log/imports.json")
    assert lines == [
        f"otel-import-tracer: summary: 9 modules under {tmp_path / 'src'}: 2 at startup, 7 lazy; startup complete at +8.0 ms",
        "otel-import-tracer:   slowest: src.main 3.0 ms (self 2.0 ms), src.db 1.0 ms (self 1.0 ms)",
        "otel-import-tracer:   slowest dependencies: fastapi 1.0 ms (by src.main:3)",
        "otel-import-tracer:   lazy: src.lazy0 by src.routes, src.lazy1 by src.routes, src.lazy2 by src.routes, "
        "src.lazy3 by src.routes, src.lazy4 by src.routes and 2 more",
        "otel-import-tracer:   failed: fastcache (ModuleNotFoundError in src.main:8, 2 times)",
        "otel-import-tracer:   report: /var/log/imports.json (a page of it: otel-import-tracer report "
        "/var/log/imports.json --html imports.html)",
    ]


def test_names_reach_the_terminal_escaped(tmp_path: Path) -> None:
    registry = registry_of(tmp_path)
    load(registry, "src.\x1b]0;owned\x07", parent="\r\nforged")
    lines = summary_lines(registry)
    assert len(lines) == 3 and lines[2].startswith("otel-import-tracer:   more: set IMPORT_TRACING_REPORT=")  # no report: how to get one
    assert all("\x1b" not in line and "\r" not in line and "\n" not in line for line in lines)
    assert "src.\\x1b]0;owned\\x07" in lines[1]


def test_the_import_stack_is_per_thread_and_self_time_is_the_stack_s(tmp_path: Path) -> None:
    import threading

    registry = registry_of(tmp_path)
    main = registry.begin_load("/x/src/main.py", "src.main", None, "MainThread", SOURCE_IMPORT)
    fastapi = registry.begin_dependency("fastapi", "src.helpers", "/x/src/helpers.py", 2, "MainThread")
    plugin = registry.begin_load("/x/src/entry.py", "src.entry", None, "MainThread", SOURCE_IMPORT)  # by the dependency
    registry.end_load(plugin)
    registry.end_dependency(fastapi)
    seen = {}

    def elsewhere() -> None:  # another thread: its stack is its own, even while src.main's import runs
        other = registry.begin_load("/x/src/threaded.py", "src.threaded", "src.main", "worker", SOURCE_IMPORT)
        seen["parent"] = other.stack_parent
        registry.end_load(other)

    worker = threading.Thread(target=elsewhere)
    worker.start()
    worker.join()
    registry.note_executed("/x/src/script.py", "src.script", None, "MainThread")  # untimed: not on the stack
    slow = registry.begin_load("/x/src/slow.py", "src.slow", "src.helpers", "MainThread", SOURCE_IMPORT)
    registry.end_load(slow)
    registry.end_load(main)
    assert seen["parent"] is None
    assert fastapi.stack_parent is main and plugin.stack_parent is fastapi and slow.stack_parent is main
    assert slow.parent == "src.helpers"  # the issuer stays
    # main: 2 -> 12 ms (10 ms), fastapi 3 -> 6 (with src.entry 4 -> 5), src.slow 10 -> 11: 6 ms of its own
    assert (main.duration_ns, main.children_ns) == (10_000_000, 4_000_000)
    assert "src.main 10.0 ms (self 6.0 ms)" in summary_lines(registry)[1]
    assert registry._stacks.current() == []
