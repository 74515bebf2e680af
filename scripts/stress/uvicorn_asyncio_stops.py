"""Stop a traced uvicorn (asyncio loop) serving the plain test app with SIGTERM, again and again.

Each stop, like ``docker stop``: start ``uvicorn src.main:app --loop asyncio`` on tests/apps/plain
with tracing on, wait until it answers and its report is written, call /lazy (a lazy import),
send SIGTERM. Every stop must exit as the same server does untraced (one untraced stop first
says how), within a bound, with one complete line set (every startup module and the lazy one)
and no traceback. Prints one line for the check; exits 1 if any stop differed, showing its output.

    python scripts/stress/uvicorn_asyncio_stops.py [--stops 20] [--timeout 30] [--start-timeout 120]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Dict, List, Optional, Tuple

REPO = Path(__file__).resolve().parents[2]
APP_DIR = REPO / "tests" / "apps" / "plain"
ROOT = APP_DIR / "src"
# As tests/support/plain_app.py says: what the app loads at startup, and what /lazy adds.
STARTUP = {"src", "src.main", "src.cache", "src.settings", "src.routes", "src.plugins", "src.plugins.csv_export"}
LAZY = {"src.lazy_report"}
BAD = ("Traceback", "Exception ignored", "was never awaited")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def clean_env(extra: Dict[str, str]) -> Dict[str, str]:
    """This environment without anything that changes a child's tracing (tests/support/servers.py)."""
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("OTEL_", "IMPORT_TRACING_", "ENABLE_IMPORT_TRACING", "UVICORN_", "COVERAGE_"))}
    env.update({"PYTHONUNBUFFERED": "1", "PYTHONDONTWRITEBYTECODE": "1", **extra})
    return env


def get(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            response.read()
            return response.status
    except urllib.error.HTTPError as error:
        with error:
            return error.code


def line_set(output: str) -> Tuple[int, List[str]]:
    """How many line sets were printed, and the LOADED_MODULE values (tests/support/servers.py)."""
    blocks = sum(line.startswith("Stopping runtime file tracing... (pid ") for line in output.splitlines())
    modules = [line[len("LOADED_MODULE: "):] for line in output.splitlines() if line.startswith("LOADED_MODULE: ")]
    return blocks, modules


def one_stop(workdir: Path, traced: bool, timeout: float, start_timeout: float) -> Tuple[Optional[int], float, str, Optional[str]]:
    """Start, serve /lazy, SIGTERM: (exit status, seconds from SIGTERM to exit, output, problem or None)."""
    port = free_port()
    report = workdir / f"imports-{port}.json"
    extra = {"ENABLE_IMPORT_TRACING": "true", "IMPORT_TRACING_ROOT": str(ROOT), "IMPORT_TRACING_REPORT": str(report)} if traced else {}
    if traced and os.environ.get("IMPORT_TRACING_TEST_COLLECTOR"):
        extra["IMPORT_TRACING_COLLECTOR"] = os.environ["IMPORT_TRACING_TEST_COLLECTOR"]
    log_path = workdir / f"uvicorn-{port}.log"
    argv = [sys.executable, "-m", "uvicorn", "src.main:app", "--loop", "asyncio", "--host", "127.0.0.1", "--port", str(port)]
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(argv, cwd=str(APP_DIR), env=clean_env(extra), stdout=log, stderr=subprocess.STDOUT)

    def output() -> str:
        return log_path.read_text(errors="replace")

    try:
        deadline = time.monotonic() + start_timeout
        while True:  # answering, and (traced) its startup report written
            if proc.poll() is not None:
                return proc.returncode, 0.0, output(), f"exited before serving ({proc.returncode})"
            if time.monotonic() > deadline:
                return None, 0.0, output(), f"not ready after {start_timeout:g} s"
            try:
                if get(f"http://127.0.0.1:{port}/health") == 200 and (not traced or _report_ready(report)):
                    break
            except OSError:
                pass
            time.sleep(0.05)
        status = get(f"http://127.0.0.1:{port}/lazy")
        if status != 200:
            return None, 0.0, output(), f"/lazy answered {status}"
        stopped = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None, timeout, output(), f"still running {timeout:g} s after SIGTERM"
        return proc.returncode, time.monotonic() - stopped, output(), None
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def _report_ready(report: Path) -> bool:
    try:
        return json.loads(report.read_text()).get("startup_complete_ms") is not None
    except (OSError, ValueError):
        return False


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stops", type=int, default=20)
    parser.add_argument("--timeout", type=float, default=30.0, help="bound on a stop, seconds")
    parser.add_argument("--start-timeout", type=float, default=120.0,
                        help="bound on starting (not what is checked; a loaded 2-core machine took over 30 s)")
    options = parser.parse_args()
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="stress-uvicorn-") as tmp:
        workdir = Path(tmp)
        expected, _, untraced_output, problem = one_stop(workdir, traced=False, timeout=options.timeout, start_timeout=options.start_timeout)
        if problem:
            print(f"uvicorn asyncio SIGTERM stops: the untraced stop failed ({problem}): FAILED", flush=True)
            print(textwrap.indent(untraced_output[-4000:], "    "), file=sys.stderr)
            return 1
        failures: List[str] = []
        slowest = 0.0
        for number in range(1, options.stops + 1):
            code, took, output, problem = one_stop(workdir, traced=True, timeout=options.timeout, start_timeout=options.start_timeout)
            slowest = max(slowest, took)
            if problem is None and code != expected:
                problem = f"exit status {code}, untraced {expected}"
            blocks, modules = line_set(output)
            if problem is None and (blocks != 1 or set(modules) != STARTUP | LAZY or len(modules) != len(set(modules))):
                problem = f"{blocks} line sets, modules {sorted(modules)} (expected {sorted(STARTUP | LAZY)})"
            bad = [word for word in BAD if word in output]
            if problem is None and bad:
                problem = f"printed {bad}"
            if problem:
                failures.append(f"stop {number}: {problem}\n{textwrap.indent(output[-4000:], '    ')}")
    verdict = "ok" if not failures else "FAILED"
    print(f"uvicorn asyncio SIGTERM stops: {options.stops - len(failures)} of {options.stops} exit {expected} as untraced "
          f"with one complete line set, slowest stop {slowest:.2f} s ({time.monotonic() - started:.0f} s): {verdict}", flush=True)
    for failure in failures[:3]:
        print(failure, file=sys.stderr)
    return 0 if not failures else 1


if __name__ == "__main__":
    sys.exit(main())
