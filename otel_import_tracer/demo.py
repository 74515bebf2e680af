"""``otel-import-tracer demo``: the demo service of ``deploy/demo`` with tracing on.

No collector is needed: without ``OTEL_*`` export settings the tracer says once that it
exports nothing, and the shutdown lines still come out. The demo ends with the summary
(``IMPORT_TRACING_SUMMARY``), writes its report and renders the page of it, and says where.
A port already taken is one error naming it and ``--port``, before anything starts; the report
is written beside the last one and replaces it only once the service has run, so a service
that could not start (the port taken in between) overwrites nothing.
"""

from __future__ import annotations

import errno
import os
import signal
import socket
import stat
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Optional, Sequence

from otel_import_tracer import messages
from otel_import_tracer.config import ENABLE_IMPORT_TRACING, IMPORT_TRACING_REPORT, IMPORT_TRACING_ROOT, IMPORT_TRACING_SUMMARY

DEMO_ENDPOINTS: Sequence[str] = (
    "/health",
    "/orders",
    "/orders/1",
    "/export",
    "/reports/1.pdf",
    "/reports/2.xlsx",
)


def find_demo_dir() -> Optional[Path]:
    """The folder holding the demo's ``src``: beside the package when installed from a
    wheel, or ``deploy/demo`` in a source checkout (editable install)."""
    package_dir = Path(__file__).resolve().parent
    for candidate in (package_dir / "_demo", package_dir.parent / "deploy" / "demo"):
        if (candidate / "src" / "main.py").is_file():
            return candidate
    return None


def default_output_dir() -> Path:
    """Where the demo's report and page go: a folder of the temporary directory (not the
    checkout), the user's own: made 0700, and a fresh one if that name is someone else's or a link."""
    uid = os.getuid() if hasattr(os, "getuid") else 0
    folder = Path(tempfile.gettempdir()) / f"otel-import-tracer-demo-{uid}"
    try:
        folder.mkdir(mode=0o700, exist_ok=True)
        found = os.lstat(folder)
        if stat.S_ISDIR(found.st_mode) and found.st_uid == uid:
            return folder
    except OSError:
        pass
    return Path(tempfile.mkdtemp(prefix="otel-import-tracer-demo-"))


def run_demo(host: str, port: int, exercise: bool) -> int:
    demo_dir = find_demo_dir()
    if demo_dir is None:
        messages.write_lines(
            ["otel-import-tracer: error: the demo service was not found; run this from a "
             "source checkout (pip install -e .) where deploy/demo/src exists."]
        )
        return 2
    if port_taken(host, port):
        messages.write_lines([busy_port_error(host, port)])
        return 1
    os.environ.setdefault(ENABLE_IMPORT_TRACING, "true")
    os.environ.setdefault(IMPORT_TRACING_ROOT, str(demo_dir / "src"))
    os.environ.setdefault("OTEL_SERVICE_NAME", "otel-import-tracer-demo")
    os.environ.setdefault(IMPORT_TRACING_SUMMARY, "true")
    final = temporary = None
    if IMPORT_TRACING_REPORT not in os.environ:
        try:
            output = default_output_dir()
            output.mkdir(parents=True, exist_ok=True)
            final = str(output / "imports.json")
            temporary = str(output / f".imports-{os.getpid()}.json")  # replaces the last one once the service ran
            os.environ[IMPORT_TRACING_REPORT] = temporary
        except OSError as exc:
            messages.info(f"no report or page this time: no folder for them ({exc})")
    from otel_import_tracer.reading.render import summary

    summary.PAGE_FOLLOWS = True  # the page is written below, and said where
    os.chdir(demo_dir)
    sys.path.insert(0, str(demo_dir))
    base = f"http://{host}:{port}"
    if exercise:
        messages.info(f"demo service on {base}: each endpoint is called once, then it stops by itself.")
    else:
        messages.info(f"demo service on {base}; try {base}/reports/1.pdf (a lazy import). Ctrl+C stops it.")
    if exercise:
        # uvicorn hands the SIGTERM it handled back to the previous handler once it has shut
        # down gracefully; a no-op there makes the exercise end with status 0.
        signal.signal(signal.SIGTERM, lambda signum, frame: None)
        threading.Thread(target=_exercise, args=(base,), name="demo-exercise", daemon=True).start()

    from otel_import_tracer.process.launcher import run

    status = run(["src.main:app", "--host", host, "--port", str(port)])
    error = after_run(status, final or os.environ.get(IMPORT_TRACING_REPORT), temporary, demo_dir / "src", host, port)
    if error is not None:
        messages.write_lines([error])
        return status or 1
    return status


def after_run(status: int, report: Optional[str], temporary: Optional[str], root: Path, host: str, port: int) -> Optional[str]:
    """The service has stopped: keep its report (``temporary`` replacing ``report``) and write
    the page if it ran; else remove what it wrote and return the error to print."""
    if status == 0:
        if temporary is not None and os.path.isfile(temporary):
            os.replace(temporary, report)  # type: ignore[arg-type]
        _write_page(report, root)
        return None
    if temporary is not None:
        try:
            os.unlink(temporary)
        except OSError:
            pass
    if port_taken(host, port):  # taken between the check and the server's bind
        return busy_port_error(host, port)
    return f"otel-import-tracer: error: the demo service stopped with status {status}; see its output above."


def port_taken(host: str, port: int) -> bool:
    """Whether something listens on ``host:port`` now: bound as uvicorn binds (``SO_REUSEADDR``,
    so a port a previous run left in TIME_WAIT is free)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError:
        return False  # uvicorn says what is wrong with the host
    for family, kind, protocol, _, address in infos[:1]:
        with socket.socket(family, kind, protocol) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind(address)
            except OSError as exc:
                return exc.errno == errno.EADDRINUSE
    return False


def busy_port_error(host: str, port: int) -> str:
    return (f"otel-import-tracer: error: port {port} on {host} is already in use (another demo still running?); "
            f"choose another with --port, e.g. otel-import-tracer demo --port {port + 1}")


def _write_page(report_path: Optional[str], root: Path) -> None:
    """Render the page of the report the service wrote at stop, beside it, and say where both are."""
    if not report_path or "{pid}" in report_path or not os.path.isfile(report_path):
        return
    from otel_import_tracer.reading import audit, sources
    from otel_import_tracer.reading.files import InputError
    from otel_import_tracer.reading.render import page as html_report
    from otel_import_tracer.reading.report import read_report

    page = os.path.splitext(report_path)[0] + ".html"
    try:
        report = read_report(report_path)
        html_report.write(report, page, audit.audit([sources.of_report(report)], str(root)))
    except (InputError, OSError) as exc:
        messages.info(f"the page of {report_path} could not be written ({exc})")
        return
    messages.info(f"report: {report_path}")
    messages.info(f"page:   {page} (open it in a browser: the startup waterfall, slowest, lazy and never-loaded modules)")


def _exercise(base: str) -> None:
    """Wait for the service, call every endpoint once, then stop it like `docker stop` would."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(base + "/health", timeout=2).read()
            break
        except OSError:
            time.sleep(0.1)
    for path in DEMO_ENDPOINTS:
        try:
            with urllib.request.urlopen(base + path, timeout=10) as response:
                messages.info(f"GET {path} -> {response.status}")
        except OSError as exc:
            messages.info(f"GET {path} failed: {exc}")
    os.kill(os.getpid(), signal.SIGTERM)
