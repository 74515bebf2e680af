"""Page figure: ``report --html`` on a huge report (441,000 modules, about 100 MB), in a child process.

Run: python benchmarks/bench_page.py [--modules 441000] [--keep DIR]
Prints the wall time, the child's peak RSS and the page's size. A figure to watch, not a timed test.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from typing import Any, Dict, Iterator

from otel_import_tracer.report import SCHEMA, SCHEMA_VERSION, dumps

RECORDED_ROOT = "/app/src"  # not on this machine: the never-loaded section is skipped, as in CI
PACKAGE_SIZE = 40
THREADS = ("MainThread", "MainThread", "MainThread", "AnyIO worker thread")


def modules(count: int) -> Iterator[Dict[str, Any]]:
    """A deep-enough tree: each module imported by the first module of its package."""
    for index in range(count):
        package = index // PACKAGE_SIZE
        name = f"src.pkg{package:05d}.mod_{index:06d}"
        importer = f"src.pkg{package:05d}.mod_{package * PACKAGE_SIZE:06d}" if index % PACKAGE_SIZE else "src"
        yield {
            "name": name,
            "file": f"{RECORDED_ROOT}/pkg{package:05d}/mod_{index:06d}.py",
            "offset_ms": index * 0.01,
            "duration_ms": (index % 97) * 0.05 + (PACKAGE_SIZE * 0.05 if not index % PACKAGE_SIZE else 0.0),
            "importer": importer,
            "thread": THREADS[index % len(THREADS)],
            "preloaded": False,
            "lazy": index > count * 0.9,
            "source": "import",
        }


def report(count: int) -> Dict[str, Any]:
    return {
        "schema": SCHEMA,
        "schema_version": SCHEMA_VERSION,
        "service": "huge",
        "host": "bench",
        "pid": 1,
        "python": sys.version.split()[0],
        "root": RECORDED_ROOT,
        "collector": "monitoring",
        "trace_id": None,
        "status": "stopped",
        "started_at": "2025-01-01T00:00:00.000000Z",
        "started_unix_ns": 1735689600000000000,
        "startup_complete_ms": count * 0.009,
        "modules": list(modules(count)),
        "failed_imports": [
            {"name": f"missing_{index}", "importer": "src", "importer_file": f"{RECORDED_ROOT}/__init__.py", "line": 1,
             "exception_type": "ModuleNotFoundError", "message": f"No module named 'missing_{index}'",
             "offset_ms": index * 0.1, "thread": "MainThread", "lazy": False}
            for index in range(count // 100)
        ],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--modules", type=int, default=441_000)
    parser.add_argument("--keep", metavar="DIR", help="write the report and page here and keep them")
    args = parser.parse_args()
    directory = args.keep or tempfile.mkdtemp(prefix="bench-page-")
    os.makedirs(directory, exist_ok=True)
    source, page = os.path.join(directory, "report.json"), os.path.join(directory, "page.html")
    with open(source, "w", encoding="utf-8") as stream:
        stream.write(dumps(report(args.modules)))
    started = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "otel_import_tracer", "report", source, "--html", page], capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024  # KiB on Linux
    print(f"report: {args.modules:,} modules, {os.path.getsize(source) / 1e6:.1f} MB")
    print(f"report --html: rc {proc.returncode}, {elapsed:.1f} s, peak RSS {peak_mb:.0f} MB, page {os.path.getsize(page) / 1e6:.2f} MB" if os.path.exists(page)
          else f"report --html: rc {proc.returncode}, {elapsed:.1f} s, peak RSS {peak_mb:.0f} MB, no page\n{proc.stderr}")


if __name__ == "__main__":
    main()
