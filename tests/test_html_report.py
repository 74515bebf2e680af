"""``otel-import-tracer report REPORT --html``: the page's content, and a real headless browser rendering it."""

from __future__ import annotations

import dataclasses
import contextlib
import math
import os
import re
import shutil
import signal
import stat
import struct
import subprocess
import sys
import time
import zlib
from pathlib import Path
from typing import Any, Iterator, List, Optional, Tuple

import pytest

from otel_import_tracer.reading.audit import audit
from otel_import_tracer.reading.render import page as html_report
from otel_import_tracer.reading.render.page import render, tree_order
from otel_import_tracer.reading.records import Dependency, Module, Process
from otel_import_tracer.reading.report import parse_report
from otel_import_tracer.reading.sources import of_report
from otel_import_tracer.reading.timings import dependency_times, self_times
from otel_import_tracer.report import SCHEMA, SCHEMA_VERSION, dumps
from tests.support.servers import REPO, child_output, clean_env

# Nothing here depends on the collector: the per-collector reruns skip it (scripts/test.sh).
pytestmark = [pytest.mark.collector_independent, pytest.mark.python_independent]  # the reading side

MAIN_BAR_RGB = (0x3B, 0x73, 0xD9)  # .bar.main in html_report's stylesheet

# (name, importer, offset ms, duration ms, thread, lazy)
MODULES = [
    ("src", "uvicorn.importer", 1.0, 0.1, "MainThread", False),
    ("src.main", "uvicorn.importer", 1.2, 80.0, "MainThread", False),
    ("src.config", "src.main", 2.0, 5.0, "MainThread", False),
    ("src.config.settings", "src.config", 2.5, 4.0, "MainThread", False),
    ("src.routers", "src.main", 8.0, 60.0, "MainThread", False),
    ("src.routers.orders", "src.routers", 9.0, 30.0, "MainThread", False),
    ("src.routers.health", "src.routers", 40.0, 25.0, "MainThread", False),
    ("src.workers.loader", "src.workers", 85.0, 3.0, "cache-warmer", False),
    ("src.reports.pdf", "src.routers.orders", 500.0, 12.0, "AnyIO worker thread", True),
]
PACKAGES = {"src", "src.config", "src.routers", "src.workers"}


def make_report(tmp_path: Path, root: str = "/app/src", message: str = "No module named 'fastcache_client'") -> Process:
    document = {
        "schema": SCHEMA,
        "schema_version": SCHEMA_VERSION,
        "service": "orders",
        "host": "app-7c9",
        "pid": 42,
        "python": "3.11.7",
        "root": root,
        "collector": "monitoring",
        "trace_id": "0af7651916cd43dd8448eb211c80319c",
        "status": "stopped",
        "started_at": "2025-01-01T00:00:00.000000Z",
        "started_unix_ns": 1735689600000000000,
        "startup_complete_ms": 90.0,
        "modules": [
            {
                "name": name,
                "file": root + "/" + "/".join(name.split(".")[1:] + (["__init__"] if name in PACKAGES else [])) + ".py",
                "offset_ms": offset,
                "duration_ms": duration,
                "importer": importer,
                "thread": thread,
                "preloaded": False,
                "lazy": lazy,
                "source": "import",
            }
            for name, importer, offset, duration, thread, lazy in MODULES
        ]
        + [
            {"name": "src.early", "file": root + "/early.py", "offset_ms": 0.0, "duration_ms": None, "importer": None,
             "thread": "", "preloaded": True, "lazy": False, "source": "preloaded"}
        ],
        "failed_imports": [
            {"name": "fastcache_client", "importer": "src.config", "importer_file": root + "/config/__init__.py", "line": 8,
             "exception_type": "ModuleNotFoundError", "message": message, "offset_ms": 2.2, "thread": "MainThread", "lazy": False}
        ],
    }
    path = tmp_path / "report.json"
    path.write_text(dumps(document))
    return parse_report(path.read_bytes(), str(path))


STARTUP_COUNT = sum(not lazy for *_, lazy in MODULES) + 1  # and the preloaded one


def local_tree(tmp_path: Path) -> Path:
    root = tmp_path / "checkout" / "src"
    for relative in ("__init__.py", "main.py", "config/__init__.py", "config/settings.py", "legacy/__init__.py", "legacy/billing.py"):
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        (root / relative).write_text("")
    return root


def bars(page: str) -> List[Tuple[str, str, float, float]]:
    """(module, kind, left %, width %) of every waterfall bar."""
    pattern = re.compile(
        r'<div class="row" data-module="([^"]+)" data-depth="\d+">.*?<div class="bar (\w+)" style="left:([\d.]+)%;width:([\d.]+)%"'
    )
    return [(m, k, float(left), float(width)) for m, k, left, width in pattern.findall(page)]


def test_the_waterfall_has_one_bar_per_startup_module_nested_by_importer(tmp_path: Path) -> None:
    page = render(make_report(tmp_path))
    found = bars(page)
    assert len(found) == STARTUP_COUNT
    assert "src.reports.pdf" not in [name for name, *_ in found]  # lazy: its own section
    depths = dict(re.findall(r'data-module="([^"]+)" data-depth="(\d+)"', page))
    assert depths["src.main"] == "0" and depths["src.routers"] == "1" and depths["src.routers.orders"] == "2"
    by_name = {name: (kind, left, width) for name, kind, left, width in found}
    assert by_name["src.workers.loader"][0] == "thread" and by_name["src.early"][0] == "preloaded"
    kind, left, width = by_name["src.routers"]
    assert kind == "main" and left == pytest.approx(100 * 8.0 / 90.0, abs=0.01) and width == pytest.approx(100 * 60.0 / 90.0, abs=0.01)


def test_tree_order_is_depth_first_by_start_and_survives_cycles() -> None:
    entries = [module(n, i, o) for n, i, o, *_ in MODULES if n != "src.reports.pdf"]
    order = [(entry.name, depth) for entry, depth in tree_order(entries)]
    assert order[:7] == [
        ("src", 0), ("src.main", 0), ("src.config", 1), ("src.config.settings", 2),
        ("src.routers", 1), ("src.routers.orders", 2), ("src.routers.health", 2),
    ]
    cycle = [module("a", "b", 0.0), module("b", "a", 1.0)]
    assert sorted(entry.name for entry, _ in tree_order(cycle)) == ["a", "b"]


def module(name: str, importer: Optional[str], offset_ms: float) -> Module:
    return Module(name, f"/app/{name}.py", offset_ms, 1.0, importer, "MainThread", False, False, "import")


def test_self_time_subtracts_the_direct_imports() -> None:
    entries = [
        dataclasses.replace(module("a", None, 0.0), duration_ms=10.0),
        dataclasses.replace(module("b", "a", 0.0), duration_ms=4.0),
        dataclasses.replace(module("c", "b", 0.0), duration_ms=3.0),
    ]
    assert self_times(entries) == {"a": 6.0, "b": 1.0, "c": 3.0}  # a report from before the stack: importers


def test_self_time_is_the_stack_s_modules_and_dependencies_alike() -> None:
    def timed(name: str, importer: Optional[str], stack_parent: Optional[str], duration_ms: float) -> Module:
        return dataclasses.replace(module(name, importer, 0.0), duration_ms=duration_ms, stack_parent=stack_parent)

    entries = [
        timed("main", None, None, 100.0),
        timed("helpers", "main", "main", 1.0),
        timed("slow", "helpers", "main", 80.0),  # helpers.load() in main's body
        timed("plugins", "main", None, 5.0),  # later, not in main's import
    ]
    fastapi = [Dependency("fastapi", "helpers", "/app/src/helpers.py", 1, 0.0, 12.0, "MainThread", False, None, None, "main")]
    assert self_times(entries, None, fastapi) == {"main": 7.0, "helpers": 1.0, "slow": 80.0, "plugins": 5.0}
    assert dependency_times(entries, fastapi) == {"main": 12.0}


def test_sections_list_slowest_failed_lazy_and_never_loaded(tmp_path: Path) -> None:
    root = local_tree(tmp_path)
    report = make_report(tmp_path)
    page = render(report, audit([of_report(report)], str(root)))
    slowest = page[page.index('id="slowest"') : page.index('id="failed"')]
    assert slowest.index("src.main") < slowest.index("src.routers.orders")
    assert "ModuleNotFoundError" in page and "/app/src/config/__init__.py:8" in page
    lazy = page[page.index('id="lazy"') : page.index('id="never-loaded"')]
    assert "src.reports.pdf" in lazy and "+500.0 ms" in lazy and "AnyIO worker thread" in lazy
    never = page[page.index('id="never-loaded"') :]
    assert "src/legacy/billing.py" in never and "src.legacy" in never
    assert "src/main.py" not in never and "src/config/__init__.py" not in never
    assert "0af7651916cd43dd8448eb211c80319c" in page and "orders" in page


def test_the_page_is_self_contained_and_escapes_what_it_shows(tmp_path: Path) -> None:
    page = render(make_report(tmp_path, message="<script>alert(1)</script>"))
    assert "<script>alert(1)" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page)
    assert "@import" not in page and "url(" not in page
    assert page.count("<script>") == 1  # our own inline filter, nothing loaded


# -- the command ------------------------------------------------------------------------------


def run_report(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "otel_import_tracer", "report", *args],
        capture_output=True, cwd=str(REPO), env=clean_env(), timeout=60,
    )


def test_the_command_writes_the_page_and_remaps_the_root(tmp_path: Path) -> None:
    root = local_tree(tmp_path)
    report = make_report(tmp_path)
    out = tmp_path / "out.html"
    result = run_report(report.path, "--html", str(out), "--root", str(root))
    assert result.returncode == 0, result.stderr.decode()
    page = out.read_text()
    assert "src/legacy/billing.py" in page and len(bars(page)) == STARTUP_COUNT
    result = run_report(report.path, "--html", str(out))  # /app/src is not here
    assert result.returncode == 0, child_output(result)
    assert "pass --root DIR" in out.read_text()


def test_the_command_refuses_a_bad_report_in_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{\n  "schema": "otel-import-tracer/report",\n  "schema_version": 99\n}\n')
    result = run_report(str(bad), "--html", str(tmp_path / "out.html"))
    err = result.stderr.decode()
    assert result.returncode == 2 and err.startswith(f"otel-import-tracer: error: {bad}:3: ") and "Traceback" not in err, child_output(result)
    assert not (tmp_path / "out.html").exists()
    result = run_report(str(bad))
    assert result.returncode == 2 and b"--html" in result.stderr, child_output(result)


# -- a real browser -----------------------------------------------------------------------------

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
BROWSER_FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run", "--window-size=1400,900",
)


def find_browser() -> Optional[str]:
    for name in BROWSERS:
        path = shutil.which(name)
        if path:
            return path
    return None


def browse(browser: str, profile: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [browser, *BROWSER_FLAGS, f"--user-data-dir={profile}", *args], capture_output=True, timeout=120
    )


@pytest.fixture
def browser() -> str:
    path = find_browser()
    if path is None:
        pytest.skip("no chromium binary on PATH (Debian: apt-get install -y chromium)")
    return path


@pytest.mark.once  # the browser, not the Python, is under test
@pytest.mark.slow
def test_a_headless_browser_renders_the_waterfall(browser: str, tmp_path: Path) -> None:
    page = tmp_path / "report.html"
    page.write_text(render(make_report(tmp_path)))
    dom = browse(browser, tmp_path / "profile-dom", "--dump-dom", page.as_uri())
    assert dom.returncode == 0, dom.stderr.decode(errors="replace")[-2000:]
    rendered = dom.stdout.decode()
    assert len(re.findall(r'<div class="bar (main|thread|preloaded)"', rendered)) == STARTUP_COUNT
    assert 'id="filter"' in rendered and "Startup waterfall" in rendered

    png = tmp_path / "shot.png"
    shot = browse(browser, tmp_path / "profile-shot", f"--screenshot={png}", page.as_uri())
    assert shot.returncode == 0 and png.is_file(), shot.stderr.decode(errors="replace")[-2000:]
    width, height, pixels = decode_png(png.read_bytes())
    assert (width, height) == (1400, 900)
    assert len(set(pixels)) > 50, "the screenshot is (nearly) blank"
    assert sum(1 for pixel in pixels if near(pixel, MAIN_BAR_RGB)) > 500, "no waterfall bar colour in the screenshot"


def near(pixel: Tuple[int, int, int], colour: Tuple[int, int, int], tolerance: int = 6) -> bool:
    return all(abs(a - b) <= tolerance for a, b in zip(pixel, colour))


def decode_png(data: bytes) -> Tuple[int, int, List[Tuple[int, int, int]]]:
    """Width, height and RGB pixels of an 8-bit, non-interlaced RGB or RGBA PNG (what Chromium writes)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    position, idat, header = 8, b"", b""
    while position < len(data):
        (length,) = struct.unpack(">I", data[position : position + 4])
        kind, body = data[position + 4 : position + 8], data[position + 8 : position + 8 + length]
        header = body if kind == b"IHDR" else header
        idat += body if kind == b"IDAT" else b""
        position += 12 + length
    width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", header)
    assert depth == 8 and colour in (2, 6) and interlace == 0, (depth, colour, interlace)
    channels = 3 if colour == 2 else 4
    rows = unfilter(zlib.decompress(idat), width * channels, height, channels)
    pixels = [tuple(row[x : x + 3]) for row in rows for x in range(0, len(row), channels)]
    return width, height, pixels  # type: ignore[return-value]


def unfilter(raw: bytes, stride: int, height: int, bpp: int) -> List[bytearray]:
    rows: List[bytearray] = []
    previous = bytearray(stride)
    for y in range(height):
        kind, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)])
        for x in range(stride):
            left = line[x - bpp] if x >= bpp else 0
            up, corner = previous[x], (previous[x - bpp] if x >= bpp else 0)
            line[x] = (line[x] + _predict(kind, left, up, corner)) & 0xFF
        rows.append(line)
        previous = line
    return rows


def _predict(kind: int, left: int, up: int, corner: int) -> int:
    if kind == 0:
        return 0
    if kind == 1:
        return left
    if kind == 2:
        return up
    if kind == 3:
        return (left + up) // 2
    estimate = left + up - corner  # Paeth
    distances = {(abs(estimate - left), 0), (abs(estimate - up), 1), (abs(estimate - corner), 2)}
    return (left, up, corner)[min(distances)[1]]


# -- hostile and huge reports (issue 12) -------------------------------------------------------

HOSTILE = "evil\x1b]0;owned\x07\x1b[2J\rforged\n\u009b31m\ud800"


def assert_clean_text(page: str) -> None:
    """Encodes as UTF-8, and nothing from the inputs that a terminal or browser would act on."""
    page.encode("utf-8")
    assert not re.search("[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff]", page)


def test_the_page_escapes_control_characters_and_lone_surrogates(tmp_path: Path) -> None:
    report = make_report(tmp_path, message=HOSTILE)
    report.modules[1].name = report.modules[1].file = HOSTILE
    page = render(report)
    assert_clean_text(page)
    assert "evil\\x1b]0;owned\\x07\\x1b[2J\\rforged\\n\\u009b31m\\ud800" in page
    assert len(bars(page)) == STARTUP_COUNT


def test_a_file_name_that_is_not_utf8_is_shown_as_its_bytes(tmp_path: Path) -> None:
    root = local_tree(tmp_path)
    with open(os.path.join(os.fsencode(str(root)), b"caf\xe9.py"), "w"):
        pass  # os.walk gives it as "caf\udce9.py"
    out = tmp_path / "out.html"
    result = run_report(make_report(tmp_path).path, "--html", str(out), "--root", str(root))
    assert result.returncode == 0, result.stderr.decode()
    assert "src/caf\\xe9.py" in out.read_text(encoding="utf-8")


def test_a_failed_render_leaves_the_previous_page(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "out.html"
    out.write_text("the previous page")

    def broken(*args: Any) -> str:
        raise RuntimeError("a bug while rendering")

    monkeypatch.setattr(html_report, "render", broken)
    with pytest.raises(RuntimeError):
        html_report.write(make_report(tmp_path), str(out))
    assert out.read_text() == "the previous page"
    assert sorted(os.listdir(tmp_path)) == ["out.html", "report.json"]


@contextlib.contextmanager
def time_limit(seconds: float) -> Iterator[None]:
    """Fail, rather than hang the suite, if the block runs longer (the main thread only)."""

    def expire(signum: int, frame: Any) -> None:
        raise TimeoutError(f"still running after {seconds} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


@pytest.mark.parametrize("value", [math.inf, -math.inf, math.nan, 1.7e308, 5e-324, -3.0])
def test_any_float_in_the_timings_gives_a_page_with_every_bar_on_its_track(tmp_path: Path, value: float) -> None:
    report = make_report(tmp_path)
    report.header["startup_complete_ms"] = value
    report.modules[1].offset_ms = report.modules[2].duration_ms = value
    report.modules[3].offset_ms = report.modules[3].duration_ms = value
    with time_limit(10):
        page = render(report)
    found = bars(page)
    assert len(found) == STARTUP_COUNT
    assert all(0.0 <= left <= 100.0 and 0.0 <= width <= 100.0 for _, _, left, width in found)


def huge_report(tmp_path: Path, startup: int, lazy: int, failures: int) -> Process:
    report = make_report(tmp_path)
    module, failure = report.modules[1], report.failed_imports[0]
    report.modules = [
        dataclasses.replace(module, name=f"src.m{i}", importer="src.main", offset_ms=i * 0.01, duration_ms=float(i % 997), lazy=i >= startup)
        for i in range(startup + lazy)
    ]
    report.failed_imports = [dataclasses.replace(failure, name=f"gone_{i}") for i in range(failures)]
    return report


def test_a_huge_report_draws_the_slowest_and_says_what_it_left_out(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(html_report, "WATERFALL_ROWS", 50)
    monkeypatch.setattr(html_report, "TABLE_ROWS", 30)
    report = huge_report(tmp_path, startup=400, lazy=100, failures=40)
    page = render(report)
    drawn = [name for name, *_ in bars(page)]
    slowest = sorted(report.modules[:400], key=lambda entry: -entry.duration_ms)[:50]
    assert sorted(drawn) == sorted(entry.name for entry in slowest)
    assert "Showing 50 of 400 startup imports, the slowest" in page
    assert "Showing 30 of 100 lazy imports, the slowest" in page and "Showing 30 of 40 failed imports" in page
    assert page.count(f"every module is in the report, {report.path}") == 1
    assert page.count(f"all are in the report, {report.path}") == 2
    lazy_table = page.split('<table class="lazy">', 1)[1].split("</table>", 1)[0]
    assert lazy_table.count("<tr>") == 31  # the header and 30 rows


def test_a_report_of_many_thousand_modules_gives_a_page_a_browser_opens(tmp_path: Path) -> None:
    report = huge_report(tmp_path, startup=30_000, lazy=10_000, failures=5_000)
    started = time.perf_counter()
    page = render(report)
    assert time.perf_counter() - started < 20
    assert len(bars(page)) == html_report.WATERFALL_ROWS
    assert len(page.encode()) < 4_000_000


def test_the_never_loaded_list_is_capped_with_the_command_that_lists_all(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(html_report, "NEVER_LOADED_SHOWN", 1)
    root = local_tree(tmp_path)
    report = make_report(tmp_path, root=str(root))
    result = audit([of_report(report)], str(root))
    page = render(report, result)
    assert len(result.never_loaded) == 2 and page.count("<li>") == 1
    assert f"Showing 1 of {len(result.never_loaded)} never-loaded files: otel-import-tracer audit {report.path} --root {root}" in page


# -- where the page is written ------------------------------------------------------------------


def run_report_bounded(*args: str) -> subprocess.CompletedProcess:
    """``run_report`` that gives up after 20 s: opening a FIFO for writing blocks until a reader comes."""
    return subprocess.run(
        [sys.executable, "-m", "otel_import_tracer", "report", *args],
        capture_output=True, cwd=str(REPO), env=clean_env(), timeout=20,
    )


@pytest.mark.parametrize("kind", ["fifo", "device", "directory"])
def test_the_page_is_not_written_into_a_fifo_a_device_or_a_directory(tmp_path: Path, kind: str) -> None:
    out = {"fifo": tmp_path / "out.html", "device": Path("/dev/full"), "directory": tmp_path}[kind]
    if kind == "fifo":
        os.mkfifo(str(out))
    result = run_report_bounded(make_report(tmp_path).path, "--html", str(out))
    err = result.stderr.decode()
    assert result.returncode == 2 and "Traceback" not in err, err
    assert f"cannot write {out}: is not a regular file" in err


def test_the_page_follows_a_symlink_and_keeps_the_mode_of_the_page_it_replaces(tmp_path: Path) -> None:
    target = tmp_path / "pages" / "imports.html"
    target.parent.mkdir()
    target.write_text("old")
    target.chmod(0o640)
    link = tmp_path / "latest.html"
    link.symlink_to(target)
    result = run_report(make_report(tmp_path).path, "--html", str(link))
    assert result.returncode == 0, result.stderr.decode()
    assert link.is_symlink() and "<!DOCTYPE html>" in target.read_text()
    assert stat.S_IMODE(target.stat().st_mode) == 0o640


def dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", ""])
    child.wait()
    return child.pid


def test_a_temporary_left_by_a_killed_render_is_removed_by_the_next(tmp_path: Path) -> None:
    out = tmp_path / "out.html"
    stale = tmp_path / f".out.html.{dead_pid()}.tmp"
    stale.write_text("half a page")
    result = run_report(make_report(tmp_path).path, "--html", str(out))
    assert result.returncode == 0, result.stderr.decode()
    assert sorted(os.listdir(tmp_path)) == ["out.html", "report.json"]


def test_the_wrote_line_escapes_the_name_of_the_page(tmp_path: Path) -> None:
    out = tmp_path / "page\x1b[2J\rforged.html"
    result = run_report(make_report(tmp_path).path, "--html", str(out))
    err = result.stderr.decode()
    assert result.returncode == 0 and out.exists(), err
    assert "\x1b" not in err and "\r" not in err and "page\\x1b[2J\\rforged.html" in err
