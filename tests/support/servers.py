"""Run real services in subprocesses: start, wait until they answer, call them, stop them.

Output goes to a file, not a pipe, so a chatty server can never block on a full pipe.
"""

from __future__ import annotations

import http.client
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Dict, List, Mapping, Optional, Sequence, Tuple

REPO = Path(__file__).resolve().parents[2]
DEMO_DIR = REPO / "deploy" / "demo"
DEMO_ROOT = DEMO_DIR / "src"


# Ports for the servers the tests start come from below the kernel's ephemeral range (32768-60999
# on Linux): a port taken with bind(0) and let go can be handed out again by the next bind(0), and
# was (a gRPC receiver of another test answered a server's readiness probe in a CI run). Nothing
# binds port 0 into this range, so only two pickers drawing the same number can meet.
_PORTS = range(20000, 32000)


def free_port() -> int:
    """A localhost port nothing listens on now, from outside the ephemeral range."""
    for _ in range(200):
        port = random.choice(_PORTS)
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free localhost port in 20000-31999")


def clean_env(extra: Optional[Mapping[str, str]] = None) -> Dict[str, str]:
    """The test process's environment without anything that would change a child's tracing."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("OTEL_", "IMPORT_TRACING_", "ENABLE_IMPORT_TRACING", "UVICORN_", "COVERAGE_"))
    }
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra or {})
    return env


def without_summary(text: str) -> str:
    """``text`` without the summary the tracer ends a run with on stderr (on by default)."""
    return "".join(line for line in text.splitlines(keepends=True)
                   if not line.startswith(("otel-import-tracer: summary: ", "otel-import-tracer:   ")))


def child_output(result: "subprocess.CompletedProcess") -> str:
    """What a finished child printed, for an assertion's message: its exit status, then the end of
    its stderr and stdout (bytes or text)."""
    parts = [f"exit status {result.returncode}"]
    for stream, data in (("stderr", result.stderr), ("stdout", result.stdout)):
        if data:
            text = data.decode(errors="replace") if isinstance(data, bytes) else data
            parts.append(f"--- {stream}:\n{text[-8000:]}")
    return "\n".join(parts)


# (argv, everything it printed) of each server a test closed; tests/conftest.py shows the last
# ones when the test fails and empties it before each test.
FINISHED: List[Tuple[List[str], str]] = []


class ServiceProcess:
    """A server started from ``argv``; ``stop()`` returns everything it printed."""

    def __init__(self, argv: Sequence[str], env: Mapping[str, str], cwd: Path, port: int) -> None:
        self.argv = list(argv)
        self.port = port
        self.base_url = f"http://127.0.0.1:{port}"
        self._log = tempfile.NamedTemporaryFile(prefix="service-", suffix=".log", delete=False)
        self.proc = subprocess.Popen(
            self.argv, env=dict(env), cwd=str(cwd), stdout=self._log, stderr=subprocess.STDOUT
        )

    def output(self) -> str:
        return Path(self._log.name).read_text(errors="replace")

    def wait_ready(self, path: str = "/health", timeout: float = 180.0) -> None:  # 60 s was missed under load
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"server exited early ({self.proc.returncode}):\n{self.output()}")
            try:
                self.get(path, timeout=2)
                return
            except (OSError, urllib.error.URLError, http.client.HTTPException):
                time.sleep(0.05)
        raise AssertionError(f"server not ready after {timeout}s:\n{self.output()}")

    def wait_for_output(self, text: str, timeout: float = 30.0) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            output = self.output()
            if text in output:
                return output
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        raise AssertionError(f"{text!r} never appeared:\n{self.output()}")

    def get(self, path: str, timeout: float = 10.0) -> Tuple[int, bytes]:
        try:
            with urllib.request.urlopen(self.base_url + path, timeout=timeout) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as error:
            with error:  # an unclosed HTTPError is a ResourceWarning on 3.14
                return error.code, error.read()

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30.0) -> str:
        """Send ``sig`` (SIGTERM like ``docker stop``), wait for exit, return the output."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError(f"server ignored {sig} for {timeout}s:\n{self.output()}")
        return self.output()

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self._log.close()
        try:
            FINISHED.append((self.argv, self.output()))  # shown if the test fails (tests/conftest.py)
        except OSError:
            pass
        try:
            os.unlink(self._log.name)
        except OSError:
            pass

    def __enter__(self) -> "ServiceProcess":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


LAUNCHER = (sys.executable, "-m", "otel_import_tracer", "run")
UVICORN = (sys.executable, "-m", "uvicorn")


def console_script(name: str) -> str:
    """A console script installed beside the running interpreter (the venv's bin/)."""
    return str(Path(sys.executable).parent / name)


def start_demo(
    env: Optional[Mapping[str, str]] = None,
    launcher: Sequence[str] = LAUNCHER,
    app: str = "src.main:app",
    extra_args: Sequence[str] = (),
) -> ServiceProcess:
    """The demo service under real uvicorn through ``launcher``, tracing on unless ``env`` says otherwise."""
    port = free_port()
    full_env = clean_env(
        {
            "ENABLE_IMPORT_TRACING": "true",
            "IMPORT_TRACING_ROOT": str(DEMO_ROOT),
            # The suite runs once per collector; the child uses the same one.
            "IMPORT_TRACING_COLLECTOR": os.environ.get("IMPORT_TRACING_TEST_COLLECTOR", "auto"),
        }
    )
    full_env.update(env or {})
    argv = [*launcher, app, "--host", "127.0.0.1", "--port", str(port), *extra_args]
    return ServiceProcess(argv, full_env, DEMO_DIR, port)


def line_sets(output: str) -> Dict[int, List[str]]:
    """The LOADED_MODULE values of each block, by the pid on its first line (blocks come out whole)."""
    sets: Dict[int, List[str]] = {}
    current: Optional[List[str]] = None
    for line in output.splitlines():
        if line.startswith("Stopping runtime file tracing... (pid "):
            pid = int(line.rsplit(" ", 1)[1].rstrip(")"))
            assert pid not in sets, f"two line sets for pid {pid}"
            current = sets[pid] = []
        elif line.startswith("LOADED_MODULE: ") and current is not None:
            current.append(line[len("LOADED_MODULE: ") :])
    return sets


def shutdown_lines(output: str) -> Tuple[List[str], List[str], Dict[str, int]]:
    """The LOADED_SRC_FILE and LOADED_MODULE values, in printed order, and the two totals."""
    files: List[str] = []
    modules: List[str] = []
    totals: Dict[str, int] = {}
    for line in output.splitlines():
        if line.startswith("LOADED_SRC_FILE: "):
            files.append(line[len("LOADED_SRC_FILE: ") :])
        elif line.startswith("LOADED_MODULE: "):
            modules.append(line[len("LOADED_MODULE: ") :])
        elif line.startswith("Total unique ") and " files loaded: " in line:
            totals["files"] = int(line.rsplit(": ", 1)[1])
        elif line.startswith("Total unique ") and " modules loaded: " in line:
            totals["modules"] = int(line.rsplit(": ", 1)[1])
    return files, modules, totals
