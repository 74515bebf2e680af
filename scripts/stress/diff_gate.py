"""The CI recipe's diff gates on a loaded machine: a build against itself passes, a 50 ms
regression planted in one module fails, every time.

Two CPU-bound jobs run beside it the whole time (started here, stopped at the end). A small app
is generated (30 modules importing each other and a few standard-library packages), and a copy of
it with one module made 50 ms slower. Each try takes a fresh sample, as CI would: RUNS real traced
startups of the build, RUNS of the same build again and RUNS of the slow copy, interleaved
(build, same, slow, build, ...) so a busy moment of the machine falls on all three. Then, with the
gates the README's recipe sets (``GATES``):

- same build: ``diff build/ same/`` passes (exit 0);
- regression: ``diff build/ slow/`` fails (exit 1) on the module gate, and the slow module is first
  in "Biggest changes".

One line per check and try; exit status 1 if any failed (the failed try's reports are kept, and
their folder named, to read with ``otel-import-tracer diff``).

    python scripts/stress/diff_gate.py [--tries 20] [--runs 10]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, List, Tuple

GATES = ["--fail-if-module-slower", "20", "--fail-if-slower", "10%"]  # as README.md's CI recipe sets them
MODULES = 30
SLOW = "src.mod10"
SLOW_S = 0.05
DEPENDENCIES = {0: "json", 4: "decimal", 8: "email.message", 15: "logging", 22: "dataclasses"}  # module index -> what it imports


def write_app(where: Path, slow: bool) -> None:
    package = where / "src"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    for index in range(MODULES):
        lines = [f"from src import mod{dep}" for dep in range(max(0, index - 2), index)]
        if index in DEPENDENCIES:
            lines.append(f"import {DEPENDENCIES[index]}")
        if slow and f"src.mod{index}" == SLOW:
            lines += ["import time", f"time.sleep({SLOW_S})"]
        lines += ["", f"VALUE = {index}", "", "", "def compute(x):", "    return x + VALUE", ""]
        (package / f"mod{index}.py").write_text("\n".join(lines))


def traced_run(app: Path, reports: Path) -> str:
    """One startup of ``app`` with tracing on and a report written; what went wrong, if anything."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(("OTEL_", "IMPORT_TRACING_"))}
    env.update({
        "ENABLE_IMPORT_TRACING": "true", "IMPORT_TRACING_ROOT": str(app / "src"), "IMPORT_TRACING_SUMMARY": "false",
        "IMPORT_TRACING_REPORT": str(reports / "imports-{pid}.json"), "PYTHONDONTWRITEBYTECODE": "1",
    })
    result = subprocess.run([sys.executable, "-c", f"import src.mod{MODULES - 1}"], cwd=str(app), env=env,
                            capture_output=True, timeout=120)
    return "" if result.returncode == 0 else f"a run exited {result.returncode}: {result.stderr.decode(errors='replace')[-300:]}"


def diff(base: Path, head: Path) -> Tuple[int, Dict, str]:
    result = subprocess.run([sys.executable, "-m", "otel_import_tracer", "diff", str(base), str(head), *GATES, "--format", "json"],
                            capture_output=True, timeout=120)
    try:
        found = json.loads(result.stdout)
    except ValueError:
        found = {}
    return result.returncode, found, result.stderr.decode(errors="replace")[-300:]


def one_try(where: Path, runs: int, number: int) -> List[Tuple[str, List[str]]]:
    """``[(check, what went wrong)]`` for one fresh sample."""
    sides = {name: where / "reports" / name for name in ("build", "same", "slow")}
    for folder in sides.values():
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
    problems = []
    for _ in range(runs):
        for name, app in (("build", "app"), ("same", "app"), ("slow", "slow-app")):
            problems.append(traced_run(where / app, sides[name]))
    problems = [problem for problem in problems if problem]
    if problems:
        return [("runs", problems[:2])]
    checks = []
    status, found, stderr = diff(sides["build"], sides["same"])
    wrong = [] if status == 0 else [f"exit {status}: {found.get('gates_failed') or stderr}"]
    checks.append(("same build passes", wrong))
    status, found, stderr = diff(sides["build"], sides["slow"])
    changes = found.get("changes") or [{}]
    wrong = []
    if status != 1 or not any("--fail-if-module-slower" in reason for reason in found.get("gates_failed", [])):
        wrong.append(f"exit {status}, gates failed: {found.get('gates_failed')} {stderr}")
    if changes[0].get("name") != SLOW:
        wrong.append(f"first change {changes[0].get('name')} {changes[0].get('self_delta_ms')}, not {SLOW}")
    checks.append((f"50 ms in {SLOW} caught, first", wrong))
    if any(wrong for _, wrong in checks):
        kept = Path(tempfile.gettempdir()) / f"diff-gate-try-{number}-{os.getpid()}"
        shutil.copytree(where / "reports", kept)
        checks = [(check, wrong + ([f"reports kept in {kept}"] if wrong else [])) for check, wrong in checks]
    return checks


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tries", type=int, default=20)
    parser.add_argument("--runs", type=int, default=10, help="startups a side per try")
    options = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # a timeout's TERM still stops the CPU-bound jobs
    load = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(2)]  # two CPU-bound jobs beside it
    failed = 0
    counts: Dict[str, int] = {}
    try:
        with tempfile.TemporaryDirectory() as temp:
            where = Path(temp)
            write_app(where / "app", slow=False)
            write_app(where / "slow-app", slow=True)
            for number in range(1, options.tries + 1):
                started = time.monotonic()
                for check, wrong in one_try(where, options.runs, number):
                    failed += bool(wrong)
                    counts[check] = counts.get(check, 0) + (not wrong)
                    verdict = "ok" if not wrong else "FAILED: " + "; ".join(wrong)
                    print(f"diff gate try {number}, {check} ({options.runs} runs a side, 2 CPU-bound jobs beside, "
                          f"{time.monotonic() - started:.1f} s): {verdict}", flush=True)
    finally:
        for job in load:
            job.kill()
            job.wait()
    print("diff gate: " + ", ".join(f"{check} {count} of {options.tries}" for check, count in counts.items()))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
