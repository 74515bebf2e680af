"""``otel-import-tracer demo``: the demo service of ``deploy/demo`` with tracing on.

No collector is needed: without ``OTEL_*`` export settings the tracer says once that it
exports nothing, and the shutdown lines (and the report, if asked) still come out.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
import urllib.request
from pathlib import Path
from typing import Optional, Sequence

from otel_import_tracer import messages
from otel_import_tracer.config import ENABLE_IMPORT_TRACING, IMPORT_TRACING_ROOT

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


def run_demo(host: str, port: int, exercise: bool) -> int:
    demo_dir = find_demo_dir()
    if demo_dir is None:
        messages.write_lines(
            ["otel-import-tracer: error: the demo service was not found; run this from a "
             "source checkout (pip install -e .) where deploy/demo/src exists."]
        )
        return 2
    os.environ.setdefault(ENABLE_IMPORT_TRACING, "true")
    os.environ.setdefault(IMPORT_TRACING_ROOT, str(demo_dir / "src"))
    os.environ.setdefault("OTEL_SERVICE_NAME", "otel-import-tracer-demo")
    os.chdir(demo_dir)
    sys.path.insert(0, str(demo_dir))
    base = f"http://{host}:{port}"
    messages.info(f"demo service on {base}; try {base}/reports/1.pdf (a lazy import). Ctrl+C stops it.")
    if exercise:
        # uvicorn hands the SIGTERM it handled back to the previous handler once it has shut
        # down gracefully; a no-op there makes the exercise end with status 0.
        signal.signal(signal.SIGTERM, lambda signum, frame: None)
        threading.Thread(target=_exercise, args=(base,), name="demo-exercise", daemon=True).start()

    from otel_import_tracer.process.launcher import run

    return run(["src.main:app", "--host", host, "--port", str(port)])


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
