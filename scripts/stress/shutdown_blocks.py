"""Many workers writing their shutdown lines into one pipe at the same moment, many times.

Each round starts WORKERS processes that write a block of MODULES modules each into one pipe at
the same instant (the lock of ``logs.write_block`` serializes them), then checks that every block
came out whole (a run of exactly its own lines), that ``audit``'s log reader reads every block
back with no problem, and that nothing was left in the temp directory. One line per round;
exit status 1 if any round failed.

    python scripts/stress/shutdown_blocks.py [--rounds 20] [--workers 40] [--modules 500]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from typing import List

WRITER = """
import sys, time
from otel_import_tracer import logs
start, count = float(sys.argv[1]), int(sys.argv[2])
names = [f"pkg.módulo-{index:06d}" for index in range(count)]
time.sleep(max(0.0, start - time.time()))
logs.write_block(logs.shutdown_lines("/app/src", [f"/app/src/{name.replace('.', '/')}.py" for name in names], ["src." + name for name in names]))
"""


def one_round(workers: int, modules: int) -> List[str]:
    """What went wrong in one round (nothing: an empty list)."""
    from otel_import_tracer.reading.files import InputError
    from otel_import_tracer.reading.logs import parse_log

    with tempfile.TemporaryDirectory() as temp:
        env = dict(os.environ, TMPDIR=temp, PYTHONIOENCODING="utf-8")
        read_end, write_end = os.pipe()
        start = time.time() + 1.0 + 0.05 * workers
        processes = [
            subprocess.Popen([sys.executable, "-c", WRITER, str(start), str(modules)], stdout=write_end, stderr=subprocess.PIPE, env=env)
            for _ in range(workers)
        ]
        os.close(write_end)
        with os.fdopen(read_end, "rb") as pipe:
            output = pipe.read().decode("utf-8")
        failures = []
        for process in processes:
            _, stderr = process.communicate(timeout=120)
            if process.returncode != 0:
                failures.append(f"a worker exited {process.returncode}: {stderr.decode('utf-8', 'replace')[-300:]}")
        lines = output.splitlines()
        size = 3 + 2 * modules
        starts = [index for index, line in enumerate(lines) if line.startswith("Stopping runtime file tracing... (pid ")]
        if starts != [index * size for index in range(workers)] or len(lines) != workers * size:
            failures.append(f"blocks not whole: {len(starts)} blocks starting at lines {starts[:6]}..., {len(lines)} lines")
        problems: List[InputError] = []
        log = parse_log(lines, "workers.log", problems)
        if problems or len(log.modules) != workers * modules:
            failures.append(f"audit read {len(log.modules)} modules of {workers * modules}; {problems[:2]}")
        if os.listdir(temp):
            failures.append(f"left in the temp directory: {os.listdir(temp)}")
        return failures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--workers", type=int, default=40)
    parser.add_argument("--modules", type=int, default=500)
    options = parser.parse_args()
    failed = 0
    for number in range(1, options.rounds + 1):
        started = time.monotonic()
        failures = one_round(options.workers, options.modules)
        failed += bool(failures)
        verdict = "ok" if not failures else "FAILED: " + "; ".join(failures)
        print(f"shutdown blocks round {number}: {options.workers} workers x {options.modules} modules, {time.monotonic() - started:.1f} s: {verdict}", flush=True)
    print(f"shutdown blocks: {options.rounds - failed} of {options.rounds} rounds ok")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
