"""The tracer's import times beside ``python -X importtime``'s, module by module: do they agree?

Run: python -m benchmarks.bench_importtime [--rounds 5] [--modules 300]
Two apps, each imported (``python -c "import src.main"``) ``--rounds`` times per side, the sides
interleaved (traced, then ``-X importtime`` untraced, then traced...), medians per module:

- a generated FastAPI app (``benchmarks/appgen.py``, ``--modules`` modules);
- an app with the Airflow pattern: ``src.main``'s body calls functions of modules it already
  imported (``src.registry.load_all()``), which import the routes, a plugin through
  ``importlib.import_module``, a file by hand (``spec_from_file_location``), and one module in a
  thread that ``src.main`` waits for.

Prints, per module, cumulative and self time from the tracer's report (self = cumulative minus
every import begun inside it on its thread, the import stack's accounting) and from
``-X importtime``, side by side, and marks the rows where the two differ by design. A figure to
watch, not a timed test: differences of a few tenths of a millisecond are noise (each side pays
for its own bookkeeping, and the machine is shared).
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
from typing import Dict, List, Optional, Sequence, Tuple

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if REPO not in sys.path:  # run as a file, not only as ``-m benchmarks.bench_importtime``
    sys.path.insert(0, REPO)

from benchmarks.appgen import generate_app  # noqa: E402
from otel_import_tracer.reading.report import read_report  # noqa: E402
from otel_import_tracer.reading.timings import self_times  # noqa: E402

SHOWN = 20  # rows per app: the modules with the largest cumulative time

AIRFLOW_PATTERN = {
    "src/__init__.py": "",
    "src/work.py": (
        "def spin(n):\n"
        "    total = 0\n"
        "    for i in range(n):\n"
        "        total += i * i % 7\n"
        "    return total\n"
    ),
    "src/registry.py": (
        "import importlib, importlib.util, os\n\n"
        "def load_all():\n"
        "    # Called by src.main's body: the imports below are issued here, run inside main's import.\n"
        + "".join(f"    import src.routes.r{index}\n" for index in range(6)) +
        "    importlib.import_module('src.plugins.dynamic')  # a node for us; not listed by -X importtime\n"
        "    path = os.path.join(os.path.dirname(__file__), 'plugins', 'by_hand.py')\n"
        "    spec = importlib.util.spec_from_file_location('src.plugins.by_hand', path)\n"
        "    spec.loader.exec_module(importlib.util.module_from_spec(spec))  # by hand: a node for us too\n"
    ),
    "src/routes/__init__.py": "",
    "src/plugins/__init__.py": "",
    "src/plugins/dynamic.py": "from src.work import spin\nspin(150_000)\n",
    "src/plugins/by_hand.py": "from src.work import spin\nspin(150_000)\n",
    "src/threaded.py": "from src.work import spin\nspin(200_000)\n",
    "src/main.py": (
        "import threading\n"
        "import src.work, src.registry\n"
        "src.work.spin(50_000)\n"
        "src.registry.load_all()\n"
        "worker = threading.Thread(target=__import__, args=('src.threaded',), name='loader')\n"
        "worker.start()\n"
        "worker.join()  # main waits: its own time (per thread); -X importtime subtracts the thread's import\n"
    ),
}
for _index in range(6):
    AIRFLOW_PATTERN[f"src/routes/r{_index}.py"] = f"from src.work import spin\nspin({(_index + 1) * 40_000})\n"


def write_airflow_app(where: str) -> str:
    for relative, text in AIRFLOW_PATTERN.items():
        path = os.path.join(where, relative)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(text)
    return where


def _env(**extra: str) -> Dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("IMPORT_TRACING_", "OTEL_", "ENABLE_IMPORT"))}
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # both sides read the same .pyc files
    env.update(extra)
    return env


def traced_once(app: str, report: str) -> Tuple[Dict[str, float], Dict[str, float], Dict[str, Optional[str]]]:
    """One traced import of the app: (cumulative, self, stack parent) per module of the root."""
    env = _env(ENABLE_IMPORT_TRACING="true", IMPORT_TRACING_ROOT=os.path.join(app, "src"), IMPORT_TRACING_REPORT=report,
               OTEL_TRACES_EXPORTER="none")
    result = subprocess.run([sys.executable, "-c", "import src.main"], cwd=app, env=env, capture_output=True, timeout=600)
    if result.returncode != 0:
        raise RuntimeError(f"traced run failed:\n{result.stderr.decode()[-2000:]}")
    data = read_report(report)
    modules = [entry for entry in data.modules if entry.duration_ms is not None]
    own = self_times(modules, None, data.dependencies)
    return ({entry.name: entry.duration_ms for entry in modules}, own,  # type: ignore[misc]
            {entry.name: entry.stack_parent for entry in modules})


_LINE = re.compile(r"import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)")


def importtime_once(app: str) -> Tuple[Dict[str, float], Dict[str, float], Dict[str, Optional[str]]]:
    """One ``-X importtime`` import of the app: (cumulative, self, parent in its nesting) per module."""
    result = subprocess.run([sys.executable, "-X", "importtime", "-c", "import src.main"], cwd=app, env=_env(),
                            capture_output=True, timeout=600)
    if result.returncode != 0:
        raise RuntimeError(f"-X importtime run failed:\n{result.stderr.decode()[-2000:]}")
    cumulative: Dict[str, float] = {}
    own: Dict[str, float] = {}
    parents: Dict[str, Optional[str]] = {}
    pending: List[Tuple[int, str]] = []  # lines come innermost first: a line's children precede it
    for line in result.stderr.decode().splitlines():
        match = _LINE.match(line)
        if not match:
            continue
        depth, name = len(match.group(3)) // 2, match.group(4)
        for child_depth, child in pending:
            if child_depth == depth + 1:
                parents.setdefault(child, name)
        pending = [(d, n) for d, n in pending if d <= depth]
        if name in own:  # ``import a.b.c`` that imported package a.b first, whose __init__ imported c:
            continue  # this outer line times the statement; the first one, inner, the module's execution
        own[name], cumulative[name] = int(match.group(1)) / 1000, int(match.group(2)) / 1000
        pending.append((depth, name))
    for name in own:
        parents.setdefault(name, None)
    return cumulative, own, parents


def compare(app: str, rounds: int) -> Dict[str, Dict[str, object]]:
    """Interleaved rounds; per module, the medians of each side and the parents each saw."""
    ours: List[Tuple[Dict[str, float], Dict[str, float], Dict[str, Optional[str]]]] = []
    theirs: List[Tuple[Dict[str, float], Dict[str, float], Dict[str, Optional[str]]]] = []
    with tempfile.TemporaryDirectory(prefix="bench-importtime-") as work:
        importtime_once(app)  # warm: compile the .pyc files once, outside the figures
        for index in range(rounds):
            sides = [lambda: ours.append(traced_once(app, os.path.join(work, f"r{index}.json"))),
                     lambda: theirs.append(importtime_once(app))]
            for run in sides if index % 2 == 0 else reversed(sides):
                run()
    names = set().union(*(one[0] for one in ours))
    rows: Dict[str, Dict[str, object]] = {}
    for name in names:
        rows[name] = {
            "ours_cumulative": _median([one[0].get(name) for one in ours]),
            "ours_self": _median([one[1].get(name) for one in ours]),
            "theirs_cumulative": _median([one[0].get(name) for one in theirs]),
            "theirs_self": _median([one[1].get(name) for one in theirs]),
            "ours_parent": ours[-1][2].get(name),
            "theirs_parent": theirs[-1][2].get(name, "(not listed)"),
        }
    return rows


def _median(values: Sequence[Optional[float]]) -> Optional[float]:
    present = [value for value in values if value is not None]
    return statistics.median(present) if present else None


def why(name: str, row: Dict[str, object]) -> str:
    """Where the two differ by design, for this module."""
    if row["theirs_parent"] == "(not listed)":
        return "by design: a load -X importtime does not list (import_module or by hand): a node for us"
    ours, theirs = row["ours_parent"], row["theirs_parent"]
    if theirs is not None and str(theirs).startswith(f"{name}."):
        return f"by design: -X importtime times {name} inside its submodule's import ({theirs}); we time each file's execution"
    if ours is None and theirs is not None:
        return f"by design: imported in another thread; -X importtime nests it under {theirs} (one depth per interpreter)"
    if ours is not None and ours != theirs and theirs is not None:
        return f"stack parent: ours {ours}, -X importtime {theirs}"
    return ""


def table(title: str, rows: Dict[str, Dict[str, object]], shown: int = SHOWN) -> str:
    order = sorted(rows, key=lambda name: -(rows[name]["ours_cumulative"] or 0.0))  # type: ignore[operator]
    marked = [name for name in order if why(name, rows[name])]
    picked = order[:shown] + [name for name in marked if name not in order[:shown]]
    lines = [title, f"{'module':34} {'cumulative: ours':>16} {'-X importtime':>13} {'self: ours':>10} {'-X importtime':>13}  note"]
    for name in picked:
        row = rows[name]
        lines.append(f"{name[:34]:34} {_ms(row['ours_cumulative']):>16} {_ms(row['theirs_cumulative']):>13} "
                     f"{_ms(row['ours_self']):>10} {_ms(row['theirs_self']):>13}  {why(name, row)}")
    plain = [name for name in rows if not why(name, rows[name]) and rows[name]["theirs_self"] is not None]
    gaps = sorted(abs(rows[n]["ours_self"] - rows[n]["theirs_self"]) for n in plain)  # type: ignore[operator]
    if gaps:
        lines.append(f"self time, ours minus -X importtime, over the {len(plain)} modules not marked: median |gap| "
                     f"{statistics.median(gaps):.2f} ms, largest {gaps[-1]:.2f} ms; "
                     f"{sum(gap < 1.0 for gap in gaps)} of {len(gaps)} within 1 ms")
    if len(rows) > len(picked):
        lines.append(f"({len(rows) - len(picked)} more modules not shown)")
    return "\n".join(lines)


def _ms(value: object) -> str:
    return "-" if value is None else f"{value:.2f} ms"


NOTES = """\
Where the two differ by design:
- per-thread stacks: -X importtime keeps one import depth per interpreter, so an import made in
  another thread while the main thread is inside src.main's import is subtracted from src.main's
  self time (and listed under it); ours nests it in its own thread, and src.main keeps the time it
  spent waiting for it as its own;
- every load is a node: importlib.import_module, spec_from_file_location + exec_module and runpy
  are not listed by -X importtime (their time lands in the caller's self); ours records them, and
  takes them off the caller's self;
- a package imported for its submodule (import src.main imports src first) nests inside the
  submodule's import in -X importtime; ours times each file's execution, so the package is a node
  of its own;
- the same since issue 25: a module outside the root imported by library code (not by the root's
  own statements) while a module of the root executes, e.g. what FastAPI() imports when src.main
  calls it, is a child for both: ours records it as a dependency load under that module (its
  importer the library that issued it), so its time is off the module's self as with -X importtime;
- what a dependency imports in turn is part of its time for us (one node per dependency load);
  -X importtime lists each of those imports as a row of its own;
- modules the tracer itself imported before the app (see the report's notes) cost the app
  nothing traced: a module of the app importing them shows a smaller self time traced."""


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--modules", type=int, default=300)
    options = parser.parse_args(argv)
    print(f"Python {sys.version.split()[0]}, {options.rounds} interleaved rounds a side, medians")
    with tempfile.TemporaryDirectory(prefix="bench-importtime-app-") as work:
        generated = generate_app(os.path.join(work, "generated"), options.modules)
        print()
        print(table(f"Generated app ({options.modules} modules):", compare(generated.dest_dir, options.rounds)))
        airflow = write_airflow_app(os.path.join(work, "airflow"))
        print()
        print(table("Airflow pattern (module bodies call functions that import):", compare(airflow, options.rounds),
                    shown=len(AIRFLOW_PATTERN)))
    print()
    print(NOTES)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
