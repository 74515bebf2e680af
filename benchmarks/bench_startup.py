"""Startup: whole-process time to import the app and run its lifespan startup and shutdown.

Each variant runs as a fresh interpreter (``runner.CHILD_SOURCE``) that imports
``src.main`` and drives the ASGI lifespan directly, no server. Variants alternate
in rounds (each round in a different shuffled order), the parent times each process
from spawn to exit and reads its peak RSS; the table gives medians and the ratio of
each median to the untraced one. Every run of a variant that records modules is
checked against the ground truth: a variant that missed a module fails, however fast.

A first, uncounted round compiles the ``.pyc`` files and warms the page cache, and
checks that the untraced app really imports exactly the ground-truth modules.

Run alone: ``python -m benchmarks.bench_startup --modules 1000 --rounds 15``.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import re
import tempfile
from typing import Dict, List, Optional, Sequence, Set, Tuple

from benchmarks import runner
from benchmarks.appgen import PROFILES, GeneratedApp, generate_app
from benchmarks.runner import Variant


@dataclasses.dataclass
class VariantRuns:
    variant: Variant
    wall_s: List[float] = dataclasses.field(default_factory=list)
    cpu_s: List[float] = dataclasses.field(default_factory=list)
    rss_kb: List[int] = dataclasses.field(default_factory=list)
    missing: Optional[List[str]] = None  # None: not checkable; []: complete
    error: Optional[str] = None

    @property
    def median_s(self) -> float:
        return runner.median(self.wall_s)

    @property
    def median_cpu_s(self) -> float:
        return runner.median(self.cpu_s)

    @property
    def median_rss_mb(self) -> float:
        return runner.median([kb / 1024.0 for kb in self.rss_kb])


@dataclasses.dataclass
class StartupResult:
    app: GeneratedApp
    rounds: int
    runs: Dict[str, VariantRuns]

    def ratio(self, name: str) -> float:
        runs = self.runs[name]
        base = self.runs.get(runs.variant.baseline)
        if base is None or not base.wall_s or not runs.wall_s:
            return float("nan")
        return runs.median_s / base.median_s

    def cpu_ratio(self, name: str) -> float:
        runs = self.runs[name]
        base = self.runs.get(runs.variant.baseline)
        if base is None or not base.cpu_s or not runs.cpu_s:
            return float("nan")
        return runs.median_cpu_s / base.median_cpu_s

    def failures(self) -> List[str]:
        problems = []
        for name, runs in self.runs.items():
            if runs.error:
                problems.append(f"startup/{name}: {runs.error}")
            elif runs.missing and runs.variant.kind == "ours":
                problems.append(f"startup/{name}: missed {len(runs.missing)} module(s), e.g. {runs.missing[:3]}")
        return problems

    def incomplete_references(self) -> List[str]:
        """References (naive, coverage, importtime) that did not record every ground-truth module: their
        figures are then not those of the whole app. A failure of the startup part only: in the
        requests part ``importtime`` misses what uvicorn imports by hand (see the README)."""
        return [f"startup/{name}: the reference missed {len(runs.missing)} module(s), e.g. {runs.missing[:3]}"
                for name, runs in self.runs.items()
                if runs.missing and runs.variant.kind == "reference" and not runs.error]

    def target_misses(self) -> List[str]:
        misses = []
        for name, runs in self.runs.items():
            if runs.variant.has_target and self.ratio(name) > runner.STARTUP_TARGET:
                misses.append(f"startup/{name}: {self.ratio(name):.3f}x > {runner.STARTUP_TARGET:.2f}x")
        return misses


def run_startup(
    app: GeneratedApp,
    variants: Sequence[Variant],
    rounds: int,
    warmup: bool = True,
) -> StartupResult:
    child = runner.write_child(app)
    runs = {variant.name: VariantRuns(variant) for variant in variants}
    _check_ground_truth(app, child)
    lazy_truth = _lazy_ground_truth(app, child) if any(variant.lazy_all for variant in variants) else None
    if warmup:
        runner.log(f"startup: warm-up round ({len(variants)} variants)")
        for variant in variants:
            _run_once(app, child, runs[variant.name], record=False, lazy_truth=lazy_truth)
    for round_index in range(rounds):
        order = runner.round_order(variants, round_index)
        for variant in order:
            _run_once(app, child, runs[variant.name], record=True, lazy_truth=lazy_truth)
        summary = "  ".join(f"{v.name}={runs[v.name].wall_s[-1]:.2f}" for v in variants if runs[v.name].wall_s)
        runner.log(f"startup: round {round_index + 1}/{rounds}: {summary}")
    return StartupResult(app, rounds, runs)


def _check_ground_truth(app: GeneratedApp, child: str) -> None:
    """The untraced app imports exactly ``app.module_names`` (this also compiles the .pyc files)."""
    untraced = runner.all_variants()[0]
    result = runner.run_child(runner.startup_argv(untraced, app, child, dump_modules=True),
                              runner.child_env(untraced, app), app.dest_dir)
    if result.returncode != 0:
        raise SystemExit(f"the generated app does not start:\n{result.output[-4000:]}")
    imported = runner.sys_modules_of(result.output)
    if imported != set(app.module_names):
        raise SystemExit(
            "generator bug: the app's imports differ from its ground truth; "
            f"missing {sorted(set(app.module_names) - imported)[:5]}, extra {sorted(imported - set(app.module_names))[:5]}"
        )


def _lazy_ground_truth(app: GeneratedApp, child: str) -> Set[str]:
    """What the untraced app imports with every import lazy: the modules something uses by name."""
    variant = next(variant for variant in runner.all_variants() if variant.name == "untraced-lazy")
    result = runner.run_child(runner.startup_argv(variant, app, child, dump_modules=True),
                              runner.child_env(variant, app), app.dest_dir)
    if result.returncode != 0:
        raise SystemExit(f"the generated app does not start with PYTHON_LAZY_IMPORTS=all:\n{result.output[-4000:]}")
    return runner.sys_modules_of(result.output)


def _run_once(app: GeneratedApp, child: str, runs: VariantRuns, record: bool,
              lazy_truth: Optional[Set[str]] = None) -> None:
    if runs.error:
        return
    variant = runs.variant
    coverage_file = os.path.join(app.dest_dir, f".coverage.{variant.name}")
    if variant.coverage:
        _remove(coverage_file)
    result = runner.run_child(runner.startup_argv(variant, app, child), runner.child_env(variant, app, coverage_file), app.dest_dir)
    if result.returncode != 0:
        runs.error = f"exit {result.returncode}: {result.output.strip().splitlines()[-1:] or ''}"
        runner.log(f"startup: {variant.name} failed:\n{result.output[-3000:]}")
        return
    missing = runner.missing_modules(variant, app, result.output, coverage_file, lazy_truth if variant.lazy_all else None)
    if missing is not None and (runs.missing is None or len(missing) > len(runs.missing)):
        runs.missing = missing  # keep the worst run
    if record:
        runs.wall_s.append(result.wall_s)
        runs.cpu_s.append(result.cpu_s)
        runs.rss_kb.append(result.peak_rss_kb)


def _remove(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


# -- instruction counts ------------------------------------------------------------------------

INSTRUCTION_VARIANTS = ("untraced", "auto", "auto-nodeps", "importhook", "monitoring", "untraced-lazy", "auto-lazy",
                        "sdk-import", "sdk-export", "otlp")


@dataclasses.dataclass
class InstructionResult:
    app: GeneratedApp
    counts: Dict[str, int]
    variants: Dict[str, Variant]

    def ratio(self, name: str) -> float:
        base = self.counts.get(self.variants[name].baseline)
        return self.counts[name] / base if base else float("nan")


def run_instructions(app: GeneratedApp, variants: Sequence[Variant], jobs: int = 2) -> InstructionResult:
    """Each variant once under ``valgrind --tool=cachegrind --cache-sim=no``: instructions executed.

    Deterministic where wall and CPU time are not: on a shared virtual machine a process's
    CPU time moves with whatever else runs on the host. Instructions are not time (cache
    misses and the like are not counted), but a difference between variants of the same
    program is work that one of them does and the other does not. About 30x slower than a
    plain run, so only untraced and ours (``INSTRUCTION_VARIANTS``) are counted.
    """
    import concurrent.futures
    import shutil

    if shutil.which("valgrind") is None:
        raise RuntimeError("--instructions needs valgrind (apt-get install -y valgrind)")
    child = runner.write_child(app)
    chosen = [variant for variant in variants if variant.name in INSTRUCTION_VARIANTS]

    def count(variant: Variant) -> Tuple[str, int]:
        with tempfile.NamedTemporaryFile(prefix="cachegrind-", suffix=".out") as out:
            argv = ["valgrind", "--tool=cachegrind", "--cache-sim=no", f"--cachegrind-out-file={out.name}",
                    *runner.startup_argv(variant, app, child)]
            result = runner.run_child(argv, runner.child_env(variant, app), app.dest_dir, timeout=1800)
        match = re.search(r"I\s+refs:\s+([\d,]+)", result.output)
        if result.returncode != 0 or match is None:
            raise RuntimeError(f"{variant.name} under valgrind failed ({result.returncode}):\n{result.output[-2000:]}")
        runner.log(f"instructions: {variant.name}: {match.group(1)}")
        return variant.name, int(match.group(1).replace(",", ""))

    with concurrent.futures.ThreadPoolExecutor(max_workers=jobs) as pool:
        counts = dict(pool.map(count, chosen))
    return InstructionResult(app, {v.name: counts[v.name] for v in chosen}, {v.name: v for v in chosen})


def instruction_table(result: InstructionResult) -> str:
    headers = ["variant", "instructions (G)", "ratio", "target", "result"]
    rows = []
    for name, count in result.counts.items():
        variant = result.variants[name]
        ratio = result.ratio(name)
        ratio_text = f"{ratio:.3f}x" + ("" if variant.baseline == "untraced" else f" vs {variant.baseline}")
        target = f"<= {runner.STARTUP_TARGET:.2f}x" if variant.has_target else ""
        verdict = ("PASS" if ratio <= runner.STARTUP_TARGET else "FAIL") if variant.has_target else ""
        rows.append([name, f"{count / 1e9:.3f}", "1.000x" if name == "untraced" else ratio_text, target, verdict])
    return runner.format_table(headers, rows)


def otlp_attribution(result: StartupResult, instructions: Optional["InstructionResult"] = None) -> str:
    """With --otlp: otlp against sdk-export, the SDK alone sending the same spans, so the
    SDK's own cost of building, encoding and sending them is told apart from the tracer's."""
    runs = result.runs
    needed = runner.OTLP_VARIANTS  # sdk-import, sdk-export, otlp
    if not all(name in runs and runs[name].wall_s and not runs[name].error for name in needed):
        return ""
    sdk_import, sdk_export, otlp = (runs[name].median_s for name in needed)
    beyond = otlp / sdk_export
    parts = [f"OTLP startup: otlp {otlp / sdk_import:.3f}x vs sdk-import; the SDK alone sending the same spans "
             f"(sdk-export) {sdk_export / sdk_import:.3f}x vs sdk-import;",
             f"the tracer beyond that: wall {beyond:.3f}x"]
    counts = instructions.counts if instructions is not None else {}
    if all(name in counts for name in needed):
        beyond = counts["otlp"] / counts["sdk-export"]
        parts[-1] += f", instructions {beyond:.3f}x"
    parts[-1] += f" (target <= {runner.STARTUP_TARGET:.2f}x: {'PASS' if beyond <= runner.STARTUP_TARGET else 'FAIL'})."
    return "\n".join(parts)


def table(result: StartupResult) -> str:
    headers = ["variant", "median s", "min s", "max s", "ratio", "CPU s", "CPU ratio", "peak RSS MB", "complete",
               "target", "result"]
    rows = []
    for name, runs in result.runs.items():
        variant = runs.variant
        if runs.error:
            rows.append([name, "error", "", "", "", "", "", "", "", "", runs.error[:60]])
            continue
        ratio = result.ratio(name)
        ratio_text = f"{ratio:.3f}x"
        if variant.baseline != "untraced":
            ratio_text += f" vs {variant.baseline} ({runs.median_s / result.runs['untraced'].median_s:.2f}x vs untraced)"
        complete = "n/a" if runs.missing is None else ("yes" if not runs.missing else f"NO ({len(runs.missing)} missed)")
        target = f"<= {runner.STARTUP_TARGET:.2f}x" if variant.has_target else ""
        verdict = ("PASS" if ratio <= runner.STARTUP_TARGET else "FAIL") if variant.has_target else ""
        if runs.missing and variant.kind == "ours":
            verdict = "FAIL"
        rows.append([
            name,
            f"{runs.median_s:.3f}",
            f"{min(runs.wall_s):.3f}",
            f"{max(runs.wall_s):.3f}",
            "1.000x" if name == "untraced" else ratio_text,
            f"{runs.median_cpu_s:.3f}",
            f"{result.cpu_ratio(name):.3f}x",
            f"{runs.median_rss_mb:.1f}",
            complete,
            target,
            verdict,
        ])
    return runner.format_table(headers, rows)


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--modules", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--variants", help="comma-separated subset (untraced is always run)")
    parser.add_argument("--profile", choices=PROFILES, default="default",
                        help="wide: small modules, a plugin loader, a thread importing, many dependencies; "
                             "libraries: twice the modules again in libraries outside the root (appgen.py)")
    parser.add_argument("--instructions", action="store_true", help="also count instructions under valgrind")
    options = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="otel-bench-startup-") as work:
        app = generate_app(work, options.modules, profile=options.profile)
        variants = runner.select(runner.all_variants(), options.variants.split(",") if options.variants else None)
        result = run_startup(app, variants, options.rounds)
        instructions = run_instructions(app, variants) if options.instructions else None
    print(table(result))
    if instructions is not None:
        print(instruction_table(instructions))
    return 1 if result.failures() else 0


if __name__ == "__main__":
    raise SystemExit(main())
