"""The lazy plan applied to the demo (issue 26, Python 3.15+): startup before and after, side by side.

1. *Staging*: a copy of the demo (``deploy/demo``) runs under ``otel-import-tracer run`` in plan
   mode (``IMPORT_TRACING_LAZY_PLAN=true``), each demo endpoint is called once, and it stops.
2. ``otel-import-tracer lazy REPORT --format json``: the plan.
3. A second copy gets the plan's lines: each ``never`` and ``after_startup`` statement's line is
   replaced by its ``paste`` (``lazy import ...``), as a team would paste them.
4. Check: the untraced startup of the two copies imports the same modules but for the ones that
   went lazy (printed); with ``--diff``, ``otel-import-tracer diff`` of their reports is printed.
5. Startup (import + lifespan startup/shutdown, the benchmarks' child, no server) of before and
   after, untraced and traced (``auto``), interleaved in rounds, each round in a different order:
   medians and after/before ratios; ``--instructions`` also counts each once under valgrind.

Run: ``python -m benchmarks.bench_lazy_plan [--rounds 15] [--instructions] [--keep DIR]``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from typing import Any, Dict, List, Optional, Sequence, Set, Tuple

from benchmarks import runner
from benchmarks.appgen import GeneratedApp
from benchmarks.bench_startup import run_instructions

DEMO = os.path.join(runner.REPO, "deploy", "demo")
APPLIED_KINDS = ("never", "after_startup")
_MODULES_CODE = ("import runpy, sys\nsys.argv = ['child', 'startup', 'none']\n"
                 f"runpy.run_path({runner.CHILD_NAME!r}, run_name='__main__')\nprint('\\n'.join(sorted(sys.modules)))")


def copy_demo(dest: str) -> GeneratedApp:
    shutil.copytree(os.path.join(DEMO, "src"), os.path.join(dest, "src"), ignore=shutil.ignore_patterns("__pycache__"))
    app = GeneratedApp(dest, os.path.join(dest, "src"), (), 0)
    runner.write_child(app)
    return app


def staging_report(app: GeneratedApp, report: str) -> str:
    """The demo copy under the real launcher in plan mode, every endpoint called once, then SIGTERM."""
    from otel_import_tracer.demo import DEMO_ENDPOINTS
    from tests.support.servers import free_port  # type: ignore[import-not-found]

    port = free_port()
    env = runner.child_env(runner.all_variants()[0], app)
    env.update({"ENABLE_IMPORT_TRACING": "true", "IMPORT_TRACING_LAZY_PLAN": "true", "IMPORT_TRACING_REPORT": report})
    log_path = os.path.join(app.dest_dir, "staging.log")
    with open(log_path, "wb") as log:
        proc = subprocess.Popen([sys.executable, "-m", "otel_import_tracer", "run", "src.main:app", "--host", "127.0.0.1",
                                 "--port", str(port)], cwd=app.dest_dir, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            _wait_ready(f"http://127.0.0.1:{port}/health", proc)
            for path in DEMO_ENDPOINTS:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=30) as response:
                    response.read()
        finally:
            runner.terminate(proc)
    with open(log_path, encoding="utf-8", errors="replace") as handle:
        output = handle.read()
    if not os.path.isfile(report):
        raise SystemExit(f"the staging run wrote no report:\n{output[-3000:]}")
    return output


def _wait_ready(url: str, proc: "subprocess.Popen[bytes]", timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"the staging service exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"the staging service did not answer {url} within {timeout:.0f} s")


def lazy_plan(report: str) -> Dict[str, Any]:
    result = subprocess.run([sys.executable, "-m", "otel_import_tracer", "lazy", report, "--format", "json"],
                            capture_output=True, text=True, timeout=120)
    if result.returncode != 0:
        raise SystemExit(f"otel-import-tracer lazy failed ({result.returncode}):\n{result.stdout}{result.stderr}")
    return json.loads(result.stdout)


def apply_plan(plan: Dict[str, Any], before: GeneratedApp, after: GeneratedApp) -> List[Dict[str, Any]]:
    """Paste the plan's lines into ``after`` (a copy of ``before``): each statement that could be lazy
    has its line replaced by the plan's ``paste``, indentation kept. The statements applied."""
    applied = []
    for statement in plan["statements"]:
        if statement["kind"] not in APPLIED_KINDS or not statement["paste"].startswith("lazy "):
            continue
        relative = os.path.relpath(statement["file"], before.dest_dir)
        path = os.path.join(after.dest_dir, relative)
        with open(path, encoding="utf-8") as handle:
            lines = handle.read().splitlines(keepends=True)
        index = statement["line"] - 1
        original = lines[index]
        if original.strip() != statement["paste"][len("lazy "):]:
            raise SystemExit(f"{relative}:{statement['line']} is {original.strip()!r}, not what the plan pastes over")
        lines[index] = original[: len(original) - len(original.lstrip())] + statement["paste"] + "\n"
        with open(path, "w", encoding="utf-8") as handle:
            handle.writelines(lines)
        applied.append({**statement, "file": relative})
    return applied


def modules_at_exit(app: GeneratedApp) -> Set[str]:
    """Every module in ``sys.modules`` after the app's untraced startup and shutdown."""
    result = subprocess.run([sys.executable, "-c", _MODULES_CODE], cwd=app.dest_dir, capture_output=True, text=True,
                            env=runner.child_env(runner.all_variants()[0], app), timeout=300)
    if result.returncode != 0:
        raise SystemExit(f"{app.dest_dir} does not start:\n{result.stdout}{result.stderr}")
    return set(result.stdout.split())


def variants() -> List[Tuple[str, runner.Variant]]:
    untraced, auto = (next(v for v in runner.all_variants() if v.name == name) for name in ("untraced", "auto"))
    return [("untraced", untraced), ("auto", auto)]


def run_rounds(apps: Dict[str, GeneratedApp], rounds: int) -> Dict[Tuple[str, str], List[float]]:
    """Wall seconds of each (app, variant), a first uncounted round, then ``rounds`` in shuffled orders."""
    combos = [(app_name, name, variant) for app_name in apps for name, variant in variants()]
    walls: Dict[Tuple[str, str], List[float]] = {(app_name, name): [] for app_name, name, _ in combos}
    for round_index in range(-1, rounds):
        order = list(combos)
        if round_index > 0:
            __import__("random").Random(round_index).shuffle(order)
        for app_name, name, variant in order:
            app = apps[app_name]
            child = os.path.join(app.dest_dir, runner.CHILD_NAME)
            result = runner.run_child(runner.startup_argv(variant, app, child), runner.child_env(variant, app), app.dest_dir)
            if result.returncode != 0:
                raise SystemExit(f"{app_name}/{name} failed:\n{result.output[-3000:]}")
            if round_index >= 0:
                walls[(app_name, name)].append(result.wall_s)
        if round_index >= 0:
            runner.log(f"lazy plan: round {round_index + 1}/{rounds}: " + "  ".join(
                f"{a}/{n}={walls[(a, n)][-1]:.3f}" for a, n, _ in combos))
    return walls


def instruction_counts(apps: Dict[str, GeneratedApp]) -> Dict[Tuple[str, str], int]:
    counts = {}
    for app_name, app in apps.items():
        result = run_instructions(app, [variant for _, variant in variants()])
        counts.update({(app_name, name): count for name, count in result.counts.items()})
    return counts


def table(walls: Dict[Tuple[str, str], List[float]], counts: Dict[Tuple[str, str], int]) -> str:
    headers = ["variant", "before: median s", "after: median s", "after / before", "before: instructions (G)",
               "after: instructions (G)", "after / before (instructions)"]
    rows = []
    for name, _ in variants():
        before, after = runner.median(walls[("before", name)]), runner.median(walls[("after", name)])
        row = [name, f"{before:.3f}", f"{after:.3f}", f"{after / before:.3f}x"]
        if ("before", name) in counts:
            count_before, count_after = counts[("before", name)], counts[("after", name)]
            row += [f"{count_before / 1e9:.4f}", f"{count_after / 1e9:.4f}",
                    f"{count_after / count_before:.4f}x ({(count_after - count_before) / 1e6:+.1f} M)"]
        else:
            row += ["", "", ""]
        rows.append(row)
    return runner.format_table(headers, rows)


def diff_reports(apps: Dict[str, GeneratedApp], work: str) -> str:
    """``otel-import-tracer diff`` of a traced startup of before and of after."""
    auto = variants()[1][1]
    reports = []
    for app_name, app in apps.items():
        report = os.path.join(work, f"{app_name}.json")
        env = {**runner.child_env(auto, app), "IMPORT_TRACING_REPORT": report}
        result = runner.run_child(runner.startup_argv(auto, app, os.path.join(app.dest_dir, runner.CHILD_NAME)), env,
                                  app.dest_dir)
        if result.returncode != 0 or not os.path.isfile(report):
            raise SystemExit(f"{app_name}, traced with a report, failed:\n{result.output[-3000:]}")
        reports.append(report)
    result = subprocess.run([sys.executable, "-m", "otel_import_tracer", "diff", *reports], capture_output=True, text=True,
                            timeout=120)
    return result.stdout + result.stderr


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_lazy_plan", description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15, help="startup rounds (default 15; 0: apply and check only)")
    parser.add_argument("--instructions", action="store_true", help="also count instructions under valgrind")
    parser.add_argument("--diff", action="store_true", help="also print otel-import-tracer diff of before and after")
    parser.add_argument("--keep", metavar="DIR", help="make the copies under DIR and keep them")
    options = parser.parse_args(argv)
    if sys.version_info < (3, 15):
        print(f"the lazy plan needs Python 3.15+ (PEP 810 lazy imports); this is {sys.version.split()[0]}")
        return 2
    if runner.REPO not in sys.path:
        sys.path.insert(0, runner.REPO)
    work = options.keep or tempfile.mkdtemp(prefix="otel-bench-lazy-")
    try:
        apps = {"before": copy_demo(os.path.join(work, "before"))}
        runner.log("lazy plan: staging run of the demo in plan mode")
        staging_report(apps["before"], os.path.join(work, "staging.json"))
        plan = lazy_plan(os.path.join(work, "staging.json"))
        apps["after"] = copy_demo(os.path.join(work, "after"))
        applied = apply_plan(plan, apps["before"], apps["after"])
        kinds = {kind: sum(1 for s in plan["statements"] if s["kind"] == kind) for kind in ("never", "after_startup", "during_startup")}
        print(f"plan: {len(plan['statements'])} import statements of the demo's code: " + ", ".join(f"{n} {k}" for k, n in kinds.items()))
        for statement in applied:
            print(f"applied: {statement['file']}:{statement['line']}: {statement['paste']}  ({statement['kind']}, "
                  f"{statement['startup_ms']} ms at stake in the staging run)")
        if not applied:
            print("the plan has no line to paste: the demo's startup uses every import statement of its code")
            return 1
        before, after = modules_at_exit(apps["before"]), modules_at_exit(apps["after"])
        went_lazy = sorted(before - after)
        print(f"modules no longer imported by startup (untraced, before - after): {', '.join(went_lazy) or 'none'}")
        if after - before or not went_lazy:
            print(f"FAILED: after imports {sorted(after - before)} that before did not, or nothing went lazy")
            return 1
        if options.rounds <= 0:
            return 0  # the plan applied and checked, nothing timed (the test suite's smoke run)
        walls = run_rounds(apps, options.rounds)
        counts = instruction_counts(apps) if options.instructions else {}
        print(f"\nStartup of the demo (import + lifespan, no server), before and after the plan's lines, "
              f"{options.rounds} rounds, medians:\n")
        print(table(walls, counts))
        if options.diff:
            print("\notel-import-tracer diff before.json after.json (traced startups):\n")
            print(diff_reports(apps, work))
    finally:
        if not options.keep:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
