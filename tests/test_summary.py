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
