"""What stopping costs a short-lived traced process (a job's step, a CLI run): CPU, side by side.

Run: python -m benchmarks.bench_stop [--rounds 7]
Each round runs, in turn, a fresh process per variant: a script whose code under the root imports
a few installed libraries (its dependencies) and ends; tracing stops at exit, writing the shutdown
lines and the report, whose dependencies name their distribution and version. Variants:
``untraced``; ``report, first run`` (no cache file for this environment yet: a fresh
``XDG_CACHE_HOME`` each time); ``report`` (the cache file written by an earlier process);
``no report``. Prints the median CPU time (user + system, ``wait4``) and wall time of the whole
process and their ratio to untraced, and the stop's own CPU: from the script's last line to an
``atexit`` hook, which runs after the tracer's stop (``threading._register_atexit``); untraced,
that is only the interpreter's own exit hooks. Children run with their bytecode cached, as an
installed package is (``PYTHONDONTWRITEBYTECODE`` dropped; the uncounted first round writes the
pycs), else each stop would compile the tracer's modules it imports. A figure to watch, not a
timed test.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import statistics
import sys
import tempfile
from typing import Dict, List, Optional, Sequence

from benchmarks import runner

# Installed with the package's [test] extra; whichever of them is there is imported.
LIBRARIES = ("yaml", "click", "h11", "idna", "anyio", "typing_extensions", "packaging", "google.protobuf", "opentelemetry.trace")
VARIANTS = ("untraced", "report, first run", "report", "no report")


def _write_app(parent: str, libraries: Sequence[str]) -> str:
    root = os.path.join(parent, "src")
    os.makedirs(root)
    with open(os.path.join(root, "__init__.py"), "w") as handle:
        handle.write("".join(f"import {name}\n" for name in libraries))
        handle.write("from src import job\n")
    with open(os.path.join(root, "job.py"), "w") as handle:
        handle.write("RESULT = sum(range(1000))\n")
    return root


def _env(variant: str, root: str, parent: str, round_index: int) -> Dict[str, str]:
    environ = dict(os.environ, OTEL_TRACES_EXPORTER="none", IMPORT_TRACING_ROOT=root)
    environ.pop("PYTHONDONTWRITEBYTECODE", None)
    environ["ENABLE_IMPORT_TRACING"] = "false" if variant == "untraced" else "true"
    environ["XDG_CACHE_HOME"] = os.path.join(parent, "cache")
    environ["TMPDIR"] = os.path.join(parent, "tmp")
    if variant == "report, first run":
        environ["XDG_CACHE_HOME"] = os.path.join(parent, f"cache-{round_index}")
        environ["TMPDIR"] = os.path.join(parent, f"tmp-{round_index}")
    if variant.startswith("report"):
        environ["IMPORT_TRACING_REPORT"] = os.path.join(parent, "report.json")
    return environ


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_stop", description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    options = parser.parse_args(argv)
    libraries = [name for name in LIBRARIES if _installed(name)]
    cpu: Dict[str, List[float]] = {name: [] for name in VARIANTS}
    wall: Dict[str, List[float]] = {name: [] for name in VARIANTS}
    stop: Dict[str, List[float]] = {name: [] for name in VARIANTS}
    with tempfile.TemporaryDirectory() as parent:
        root = _write_app(parent, libraries)
        code = (f"import sys\nsys.path.insert(0, {parent!r})\nimport src\n"
                "import atexit, time\nbegun = time.process_time()\n"
                f"atexit.register(lambda: print('{STOP_CPU}', time.process_time() - begun))\n")
        for round_index in range(options.rounds + 1):  # the first round warms up and is not counted
            for variant in runner.round_order([runner.Variant(name, "", "ours") for name in VARIANTS], round_index):
                environ = _env(variant.name, root, parent, round_index)
                os.makedirs(environ["TMPDIR"], exist_ok=True)
                result = runner.run_child([sys.executable, "-c", code], environ, parent)
                if result.returncode != 0 or (variant.name != "untraced" and "LOADED_MODULE: src.job" not in result.output):
                    print(f"{variant.name} failed:\n{result.output}", file=sys.stderr)
                    return 1
                if round_index:
                    cpu[variant.name].append(result.cpu_s)
                    wall[variant.name].append(result.wall_s)
                    stop[variant.name].append(_stop_cpu(result.output))
    base_cpu, base_wall = statistics.median(cpu["untraced"]), statistics.median(wall["untraced"])
    base_stop = statistics.median(stop["untraced"])
    print(f"stop of a short-lived process importing {len(libraries)} libraries ({', '.join(libraries)}), "
          f"median of {options.rounds} rounds, Python {sys.version.split()[0]}")
    rows = []
    for name in VARIANTS:
        cpu_s, wall_s, stop_s = statistics.median(cpu[name]), statistics.median(wall[name]), statistics.median(stop[name])
        rows.append([name, f"{cpu_s:.3f}", f"{cpu_s / base_cpu:.2f}x", f"{cpu_s - base_cpu:+.3f}",
                     f"{1000 * stop_s:.1f}", f"{1000 * (stop_s - base_stop):+.1f}", f"{wall_s:.3f}", f"{wall_s / base_wall:.2f}x"])
    print(runner.format_table(["variant", "CPU s", "CPU ratio", "extra CPU s", "stop CPU ms", "extra stop ms", "wall s",
                               "wall ratio"], rows))
    return 0


STOP_CPU = "stop-cpu-s:"


def _stop_cpu(output: str) -> float:
    """The CPU seconds from the script's end to its atexit hook, as the child printed them."""
    for line in output.splitlines():
        if line.startswith(STOP_CPU):
            return float(line.split()[1])
    raise RuntimeError(f"no {STOP_CPU} line in:\n{output}")


def _installed(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


if __name__ == "__main__":
    sys.exit(main())
