"""Stop a uvicorn app on uvloop that installed its own SIGTERM handler, again and again (issue 23).

The app does what ``airflow api-server`` does: ``signal.signal(SIGTERM, ...)`` (exit 0), then
``uvicorn.run()`` in-process. uvloop saves the wakeup fd it finds when its loop starts and puts it
back when the loop stops; untraced that is -1 and every stop exits 0. The tracer must not change
that: same exit status, no traceback. Prints one line per check; exits 1 if any stop differed.

    python scripts/stress/uvloop_sigterm.py [--stops 20] [--loop uvloop|asyncio] [--untraced]
"""

from __future__ import annotations

import argparse
import collections
import importlib.util
import os
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Dict, List, Tuple

APP = """\
async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"ok"})
"""

SERVE = """\
import signal, sys

signal.signal(signal.SIGTERM, lambda *args: sys.exit(0))  # the CLI's own handler, as airflow's

import uvicorn

from src.app import app

uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), loop=sys.argv[2], log_level="info")
"""

# What a stop must not print (each one seen traced on uvloop before the fix).
BAD = ("Traceback", "Bad file descriptor", "Cannot close a running event loop", "was never awaited", "Exception ignored")


def make_app(directory: Path) -> Path:
    root = directory / "src"
    root.mkdir()
    (root / "__init__.py").write_text("")
    (root / "app.py").write_text(APP)
    (directory / "serve.py").write_text(SERVE)
    return root


def env_for(root: Path, traced: bool) -> Dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "IMPORT_TRACING_", "ENABLE_IMPORT_TRACING", "UVICORN_"))}
    env.update(PYTHONUNBUFFERED="1", PYTHONPATH=str(root.parent), OTEL_TRACES_EXPORTER="none")
    if traced:
        env.update(ENABLE_IMPORT_TRACING="true", IMPORT_TRACING_ROOT=str(root))
    return env


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def stop_once(directory: Path, root: Path, loop: str, traced: bool, timeout: float = 30.0) -> Tuple[int, str]:
    """Start the app, wait until it serves, SIGTERM it; its exit status and stderr."""
    err_path = directory / "stderr.txt"
    with open(err_path, "wb") as err:
        process = subprocess.Popen(
            [sys.executable, str(directory / "serve.py"), str(free_port()), loop],
            cwd=directory, env=env_for(root, traced), stdout=subprocess.DEVNULL, stderr=err,
        )
        try:
            deadline = time.monotonic() + timeout
            while b"Application startup complete" not in err_path.read_bytes():
                if process.poll() is not None or time.monotonic() > deadline:
                    break
                time.sleep(0.02)
            process.send_signal(signal.SIGTERM)
            code = process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            code = 999  # hung
    return code, err_path.read_text(errors="replace")


def run(stops: int, loop: str, traced: bool) -> Tuple[bool, str, List[str]]:
    codes: "collections.Counter[int]" = collections.Counter()
    failures: List[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        root = make_app(directory)
        for stop in range(stops):
            code, stderr = stop_once(directory, root, loop, traced)
            codes[code] += 1
            bad = [word for word in BAD if word in stderr]
            if code != 0 or bad:
                failures.append(f"stop {stop + 1}: exit {code}, {bad}\n{stderr}")
    ok = not failures
    summary = (
        f"uvloop_sigterm: {'traced' if traced else 'untraced'} {loop}, {stops} stops, exit codes "
        f"{dict(sorted(codes.items()))}: {'ok' if ok else 'FAILED'}"
    )
    return ok, summary, failures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stops", type=int, default=20)
    parser.add_argument("--loop", choices=("uvloop", "asyncio"), action="append")
    parser.add_argument("--untraced", action="store_true", help="run the app without tracing (the baseline)")
    args = parser.parse_args()
    all_ok = True
    for loop in args.loop or ["uvloop", "asyncio"]:
        if loop == "uvloop" and importlib.util.find_spec("uvloop") is None:
            print(f"uvloop_sigterm: uvloop is not installed for Python {sys.version.split()[0]}: skipped", flush=True)
            continue
        ok, summary, failures = run(args.stops, loop, traced=not args.untraced)
        print(summary, flush=True)
        if failures:
            print(textwrap.indent(failures[0], "    "), file=sys.stderr)
        all_ok = all_ok and ok
    return 0 if all_ok else 1


if __name__ == "__main__":
    sys.exit(main())
