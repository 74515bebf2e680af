"""Merge figure: 100 reports of a 2,000-module app, read, checked and merged, then audited.

Run: python benchmarks/bench_audit_merge.py [--reports 100] [--modules 2000] [--rounds 5]
Prints the median of several rounds. A figure to watch, not a timed test.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
from typing import Any, Dict, List

from otel_import_tracer.reading.audit import audit
from otel_import_tracer.reading.sources import read_inputs
from otel_import_tracer.report import SCHEMA, SCHEMA_VERSION, dumps

RECORDED_ROOT = "/app/src"  # as in a container; the audit remaps it onto the local tree
PACKAGE_SIZE = 40


def module_names(count: int) -> List[str]:
    """``src.pkg007.mod_0283``-style names, ``PACKAGE_SIZE`` modules per package."""
    return [f"src.pkg{index // PACKAGE_SIZE:03d}.mod_{index:04d}" for index in range(count)]


def make_tree(root: str, names: List[str]) -> None:
    """The local copy of the code: one file per module, plus the package ``__init__`` files."""
    for name in names:
        directory = os.path.join(root, *name.split(".")[1:-1])
        os.makedirs(directory, exist_ok=True)
        for path in (os.path.join(directory, "__init__.py"), os.path.join(directory, name.rsplit(".", 1)[1] + ".py")):
            if not os.path.exists(path):
                open(path, "w").close()
    open(os.path.join(root, "__init__.py"), "w").close()


def make_report(names: List[str], pid: int, rng: random.Random) -> Dict[str, Any]:
    """One process's report: about 90% of the modules, a few of them lazy."""
    modules = []
    offset = 0.0
    for name in names:
        if rng.random() < 0.1:
            continue
        duration = round(rng.uniform(0.01, 3.0), 3)
        modules.append(
            {
                "name": name,
                "file": RECORDED_ROOT + "/" + "/".join(name.split(".")[1:]) + ".py",
                "offset_ms": round(offset, 3),
                "duration_ms": duration,
                "importer": name.rsplit(".", 1)[0],
                "thread": "MainThread",
                "preloaded": False,
                "lazy": rng.random() < 0.05,
                "source": "import",
            }
        )
        offset += duration
    return {
        "schema": SCHEMA,
        "schema_version": SCHEMA_VERSION,
        "service": "bench",
        "host": f"replica-{pid % 7}",
        "pid": pid,
        "python": "3.11.7",
        "root": RECORDED_ROOT,
        "collector": "importhook",
        "trace_id": f"{pid:032x}",
        "status": "stopped",
        "started_at": "2025-01-01T00:00:00.000000Z",
        "started_unix_ns": 1735689600000000000,
        "startup_complete_ms": round(offset, 3),
        "modules": modules,
        "failed_imports": [],
    }


def time_round(paths: List[str], root: str) -> Dict[str, float]:
    start = time.perf_counter()
    inputs, problems = read_inputs(paths, None, skip_bad=False)
    assert not problems, problems
    read = time.perf_counter()
    result = audit(inputs, root)
    done = time.perf_counter()
    assert len(result.files) > 0
    return {"read_and_check": read - start, "merge_and_diff": done - read, "total": done - start}


def main(argv: List[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reports", type=int, default=100)
    parser.add_argument("--modules", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    options = parser.parse_args(argv)
    rng = random.Random(42)
    names = module_names(options.modules)
    with tempfile.TemporaryDirectory() as tmp:
        root = os.path.join(tmp, "src")
        make_tree(root, names)
        paths = []
        for pid in range(options.reports):
            path = os.path.join(tmp, f"report-{pid}.json")
            with open(path, "w") as stream:
                stream.write(dumps(make_report(names, 1000 + pid, rng)))
            paths.append(path)
        size_mb = sum(os.path.getsize(path) for path in paths) / 1e6
        rounds = [time_round(paths, root) for _ in range(options.rounds)]
    medians = {key: statistics.median(r[key] for r in rounds) for key in rounds[0]}
    print(
        f"audit of {options.reports} reports x {options.modules} modules ({size_mb:.1f} MB JSON), "
        f"Python {sys.version.split()[0]}, median of {options.rounds} rounds: "
        f"read+check {medians['read_and_check'] * 1000:.0f} ms, merge+inventory+diff "
        f"{medians['merge_and_diff'] * 1000:.0f} ms, total {medians['total'] * 1000:.0f} ms"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
