"""Hostile sizes: time and peak memory of ``audit`` and ``report --html`` on a huge report.

``python -m benchmarks.bench_big_report [--modules 441000]`` writes a report of that many
modules (441,000 make about 100 MB, the size measured in issue 12) with a small local root, runs
each command once in a child process and prints its wall time, peak RSS and output size.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from typing import Dict, List, Tuple

from otel_import_tracer.report import SCHEMA, SCHEMA_VERSION


def write_report(directory: str, modules: int) -> Tuple[str, str]:
    """A report of ``modules`` entries under ``/app/src``, and a local root of a few files."""
    root = os.path.join(directory, "src")
    os.makedirs(os.path.join(root, "pkg"), exist_ok=True)
    for name in ("__init__.py", "main.py", "pkg/__init__.py", "pkg/unused.py"):
        open(os.path.join(root, name), "w").close()
    header = {
        "schema": SCHEMA, "schema_version": SCHEMA_VERSION, "tool_version": "bench", "service": "big", "host": "bench",
        "pid": 1, "python": "3.11", "root": "/app/src", "collector": "importhook", "trace_id": None, "status": "stopped",
        "started_at": "2026-12-01T00:00:00.000000Z", "started_unix_ns": 1_764_547_200_000_000_000,
        "startup_complete_ms": modules * 0.01, "startup_failure": None, "written_at": "2026-12-01T00:01:00.000000Z",
    }
    path = os.path.join(directory, "big.json")
    # Written entry by entry in the layout of report.dumps: a parent holding the whole document
    # would pass its peak RSS on to the children measured (Linux keeps it across fork and exec).
    with open(path, "w", encoding="utf-8") as stream:
        stream.write("{\n")
        for key, value in header.items():
            stream.write(f"  {json.dumps(key)}: {json.dumps(value)},\n")
        stream.write('  "modules": [\n')
        for index in range(modules):
            package, module = divmod(index, 1000)
            entry = {
                "name": f"src.area{package}.module{module}", "file": f"/app/src/area{package}/module{module}.py",
                "offset_ms": round(index * 0.01, 3), "duration_ms": 0.25, "importer": f"src.area{package}",
                "thread": "MainThread", "preloaded": False, "lazy": index % 50 == 0, "source": "import",
            }
            stream.write(("    " if index == 0 else ",\n    ") + json.dumps(entry))
        stream.write('\n  ],\n  "failed_imports": []\n}\n')
    return path, root


def measure(argv: List[str], output: str) -> Dict[str, float]:
    """One run in a child: wall seconds, the child's peak RSS in MB, the output's size in MB."""
    started = time.perf_counter()
    child = subprocess.Popen(argv, stdout=open(output, "wb"), stderr=subprocess.PIPE)
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - started
    child.returncode = os.waitstatus_to_exitcode(status) if hasattr(os, "waitstatus_to_exitcode") else status >> 8
    error = child.stderr.read().decode() if child.stderr else ""
    if child.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed ({child.returncode}): {error[-2000:]}")
    return {"seconds": wall, "peak_rss_mb": usage.ru_maxrss / 1024, "output_mb": os.path.getsize(output) / 1e6}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--modules", type=int, default=441_000)
    parser.add_argument("--only", default="audit,html", help="comma-separated: audit, html")
    args = parser.parse_args()
    cli = [sys.executable, "-m", "otel_import_tracer"]
    with tempfile.TemporaryDirectory(prefix="otel-big-report-") as directory:
        report, root = write_report(directory, args.modules)
        print(f"report: {args.modules:,} modules, {os.path.getsize(report) / 1e6:.1f} MB")
        runs = {
            "audit": [*cli, "audit", report, "--root", root],
            "html": [*cli, "report", report, "--root", root, "--html", os.path.join(directory, "page.html")],
        }
        for name in args.only.split(","):
            figures = measure(runs[name], os.path.join(directory, f"{name}.out"))
            if name == "html":
                figures["output_mb"] = os.path.getsize(os.path.join(directory, "page.html")) / 1e6
            print(f"{name:>5}: {figures['seconds']:.1f} s, peak RSS {figures['peak_rss_mb']:.0f} MB, output {figures['output_mb']:.2f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
