"""SIGTERM to multiprocessing forkserver workers, many at once (issue 23).

forkserver (the default start method from Python 3.14) forks each worker from a server process
that has set its own signal wakeup fd, and the worker resets it to none. A worker must still act
on SIGTERM at once, as it does untraced (SIGTERM's default action), even when the signal is taken
while its main thread is about to block. Two checks, one line each; exits 1 if either failed:

- blocked: WORKERS processes whose SIGTERM is taken by another of their threads while the main
  thread sleeps (the race made certain): each must die of SIGTERM within seconds;
- terminate: a Pool of WORKERS, terminated while its workers start and wait for tasks: how long
  ``terminate()`` takes and how many workers were left alive.

    python scripts/stress/forkserver_sigterm.py [--workers 40] [--untraced]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Dict

MAIN = """\
import multiprocessing, os, signal, sys, threading, time
from src import work

def blocked():
    def send():
        time.sleep(0.3)
        signal.pthread_kill(threading.get_ident(), signal.SIGTERM)  # taken by this thread, not main
    threading.Thread(target=send).start()
    time.sleep(60)

if __name__ == "__main__":
    workers, check = int(sys.argv[1]), sys.argv[2]
    ctx = multiprocessing.get_context("forkserver")
    if check == "blocked":
        processes = [ctx.Process(target=blocked) for _ in range(workers)]
        for process in processes:
            process.start()
        deadline = time.monotonic() + 15
        for process in processes:
            process.join(max(0.0, deadline - time.monotonic()))
        hung = [p for p in processes if p.exitcode is None]
        codes = sorted({p.exitcode for p in processes if p.exitcode is not None})
        for process in hung:
            process.kill()
            process.join()
        print(f"RESULT hung={len(hung)} codes={codes}", flush=True)
    else:
        pool = ctx.Pool(workers)
        pool.map(work.square, range(workers))
        workers_before = list(multiprocessing.active_children())
        started = time.monotonic()
        terminating = threading.Thread(target=pool.terminate, daemon=True)
        terminating.start()
        terminating.join(30)
        took = time.monotonic() - started if not terminating.is_alive() else float("inf")
        alive = [p for p in workers_before if p.is_alive()]
        print(f"RESULT hung={len(alive)} terminate={took:.1f}", flush=True)
        for p in alive:
            p.kill()
        os._exit(0)  # not the pool's own exit, which may wait on what hung
"""


def run(workers: int, check: str, traced: bool) -> Dict[str, str]:
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        root = directory / "src"
        root.mkdir()
        (root / "__init__.py").write_text("")
        (root / "work.py").write_text("def square(x):\n    return x * x\n")
        (root / "main.py").write_text(MAIN)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "IMPORT_TRACING_", "ENABLE_IMPORT_TRACING"))}
        env.update(PYTHONPATH=str(directory), OTEL_TRACES_EXPORTER="none", IMPORT_TRACING_SUMMARY="false")
        if traced:
            env.update(ENABLE_IMPORT_TRACING="true", IMPORT_TRACING_ROOT=str(root))
        started = time.monotonic()
        try:
            result = subprocess.run(
                [sys.executable, str(root / "main.py"), str(workers), check], cwd=directory, env=env,
                capture_output=True, text=True, timeout=120,
            )
            out, err = result.stdout, result.stderr
        except subprocess.TimeoutExpired as exc:
            out, err = str(exc.stdout or ""), "timed out\n" + str(exc.stderr or "")
        took = time.monotonic() - started
    fields = dict(word.split("=", 1) for line in out.splitlines() if line.startswith("RESULT ") for word in line.split()[1:])
    fields["elapsed"] = f"{took:.1f}"
    fields["stderr"] = err
    return fields


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=40)
    parser.add_argument("--check", choices=("blocked", "terminate"), action="append")
    parser.add_argument("--untraced", action="store_true", help="run without tracing (the baseline)")
    args = parser.parse_args()
    all_ok = True
    label = "untraced" if args.untraced else "traced"
    for check in args.check or ["blocked", "terminate"]:
        fields = run(args.workers, check, traced=not args.untraced)
        hung = fields.get("hung")
        ok = hung == "0"
        if check == "blocked":
            ok = ok and fields.get("codes") == "[-15]"
            detail = f"{hung} of {args.workers} hung, exit codes {fields.get('codes')}"
        else:
            ok = ok and float(fields.get("terminate", "inf")) < 5.0
            detail = f"{hung} of {args.workers} left alive, terminate() took {fields.get('terminate')} s"
        print(f"forkserver_sigterm {check}: {label}, {detail} (run {fields['elapsed']} s): {'ok' if ok else 'FAILED'}", flush=True)
        if not ok:
            print(textwrap.indent(fields["stderr"][-4000:], "    "), file=sys.stderr, flush=True)
        all_ok = all_ok and ok
    return 0 if all_ok else 1


if __name__ == "__main__":
    sys.exit(main())
