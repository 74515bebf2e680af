"""A failing import on every request: what a handler's ``try: import missing`` costs, traced or not.

Run: python -m benchmarks.bench_failing_import [--calls 20000] [--rounds 5]
Each round runs a fresh process per variant (alternating): untraced, then each collector of
this Python, the handler called ``--calls`` times after startup completion. Prints the median
microseconds per call and the ratio to untraced, and the spans made (there must be one
failure, counted, and no span per repeat). A figure to watch, not a timed test.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from typing import Dict, List

from otel_import_tracer import env

CHILD = r"""
import json, os, sys, time
sys.path.insert(0, sys.argv[1])
calls = int(sys.argv[2])
import otel_import_tracer as tracer
traced = tracer.start_tracing()
import src.handler
tracer.mark_startup_complete()
start = time.perf_counter()
for _ in range(calls):
    src.handler.handle()
elapsed = time.perf_counter() - start
count = None
if traced:
    session = tracer.tracing._session
    (failure,) = session.registry.failures()
    count = session.registry.failure_count(failure)
    tracer.stop_tracing()
print(json.dumps({"us_per_call": elapsed / calls * 1e6, "count": count}))
"""

HANDLER = """def handle():
    try:
        import orjson_not_installed_for_this_benchmark  # noqa: F401
    except ImportError:
        return None
"""


def main(argv: List[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=5)
    options = parser.parse_args(argv)
    collectors = ["importhook", "audit", "settrace"] + (["monitoring"] if env.HAS_MONITORING else [])
    variants = ["untraced"] + collectors
    with tempfile.TemporaryDirectory() as parent:
        root = os.path.join(parent, "src")
        os.makedirs(root)
        open(os.path.join(root, "__init__.py"), "w").close()
        with open(os.path.join(root, "handler.py"), "w") as handle:
            handle.write(HANDLER)
        figures: Dict[str, List[float]] = {name: [] for name in variants}
        counts: Dict[str, object] = {}
        for _ in range(options.rounds):
            for name in variants:
                environ = dict(os.environ, OTEL_TRACES_EXPORTER="none", IMPORT_TRACING_ROOT=root)
                environ["ENABLE_IMPORT_TRACING"] = "false" if name == "untraced" else "true"
                environ["IMPORT_TRACING_COLLECTOR"] = "auto" if name == "untraced" else name
                result = subprocess.run(
                    [sys.executable, "-c", CHILD, parent, str(options.calls)],
                    env=environ, capture_output=True, text=True, timeout=600, check=True,
                )
                data = json.loads(result.stdout.strip().splitlines()[-1])
                figures[name].append(data["us_per_call"])
                counts[name] = data["count"]
    base = statistics.median(figures["untraced"])
    print(f"failing import in a handler, {options.calls} calls, median of {options.rounds} rounds, Python {sys.version.split()[0]}")
    print("| variant | us per call | ratio | failures recorded (count) |")
    print("|---|---|---|---|")
    for name in variants:
        median = statistics.median(figures[name])
        recorded = "n/a" if counts[name] is None else f"1 ({counts[name]})"
        print(f"| {name} | {median:.1f} | {median / base:.2f}x | {recorded} |")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
