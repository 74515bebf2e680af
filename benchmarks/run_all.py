"""Run every benchmark and print the tables: ``python -m benchmarks.run_all [--quick]``.

Defaults (about 10 minutes on 2 cores): startup on a 1,000-module app, 12 rounds;
requests on the same app, 6 rounds of 2 s per endpoint (after 1 s of warm-up); memory
on a 5,000-module app, 2 rounds. ``--quick`` (CI smoke: small apps, one round, short loads) checks that
everything still runs and records every module; its figures mean nothing.

Exit status: 1 if a variant failed to run, a traced run missed a ground-truth module,
or a request failed; with ``--strict``, also if the default collector misses a target.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from typing import Any, Dict, Iterator, List, Optional, Sequence

from benchmarks import bench_memory, bench_requests, bench_startup, runner
from benchmarks.appgen import generate_app

PARTS = ("startup", "requests", "memory")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run_all", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="CI smoke: small N, 1 round, short loads")
    parser.add_argument("--modules", type=int, help="modules of the startup/requests app (default 1000; quick 30)")
    parser.add_argument("--rounds", type=int, help="startup rounds (default 12; quick 1)")
    parser.add_argument("--request-rounds", type=int, help="request rounds (default 6; quick 1)")
    parser.add_argument("--duration", type=int, help="seconds of load per measurement (default 2; quick 1)")
    parser.add_argument("--warmup", type=int, help="seconds of load before each measurement (default 1; quick 0)")
    parser.add_argument("--connections", type=int, default=10, help="concurrent keep-alive connections (default 10)")
    parser.add_argument("--memory-modules", type=int, help="modules of the memory app (default 5000; quick 200)")
    parser.add_argument("--memory-rounds", type=int, help="memory rounds (default 2; quick 1)")
    parser.add_argument("--only", help=f"comma-separated subset of {','.join(PARTS)}")
    parser.add_argument("--variants", help="comma-separated subset of variants (untraced always runs)")
    parser.add_argument("--otlp", action="store_true", help="add the otlp, sdk-import and sdk-export variants (local OTLP receiver)")
    parser.add_argument("--instructions", action="store_true",
                        help="also count the startup's instructions under valgrind (untraced and ours; deterministic)")
    parser.add_argument("--strict", action="store_true", help="exit 1 when the default collector misses a target")
    parser.add_argument("--json", metavar="PATH", help="also write the raw figures as JSON")
    parser.add_argument("--keep", metavar="DIR", help="generate the apps under DIR and keep them")
    return parser


def _defaults(options: argparse.Namespace) -> None:
    quick = options.quick
    for name, full, small in (
        ("modules", 1000, 30),
        ("rounds", 12, 1),
        ("request_rounds", 6, 1),
        ("duration", 2, 1),
        ("warmup", 1, 0),
        ("memory_modules", 5000, 200),
        ("memory_rounds", 2, 1),
    ):
        if getattr(options, name) is None:
            setattr(options, name, small if quick else full)


@contextlib.contextmanager
def _receiver(enabled: bool) -> Iterator[Optional[Dict[str, str]]]:
    if not enabled:
        yield None
        return
    receiver, description = runner.otlp_receiver()
    if receiver is None:
        runner.log(f"--otlp: {description}; the otlp variants are skipped")
        yield None
        return
    with receiver as running:  # type: ignore[attr-defined]
        runner.log(f"--otlp: exporting to {description}")
        yield running.env("grpc")
        spans = running.spans()
        print(f"\nOTLP receiver: {running.request_count()} export requests, {len(spans)} spans "
              f"({sum(1 for span in spans if span.name == 'app.startup')} app.startup)", flush=True)


def header(options: argparse.Namespace, argv: Sequence[str]) -> str:
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return "\n".join([
        f"date: {datetime.date.today().isoformat()}",
        f"python: {platform.python_implementation()} {platform.python_version()} ({sys.executable})",
        f"machine: {platform.machine()}, {cpus} CPUs, {platform.system()} {platform.release()}",
        f"default collector: {runner.default_collector()}; load generator: {bench_requests.load_generator()}",
        "command: python -m benchmarks.run_all " + " ".join(argv),
    ])


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    options = build_parser().parse_args(args)
    _defaults(options)
    parts = options.only.split(",") if options.only else list(PARTS)
    unknown = set(parts) - set(PARTS)
    if unknown:
        raise SystemExit(f"--only: unknown part(s) {', '.join(sorted(unknown))}; choose from {', '.join(PARTS)}")
    wanted = options.variants.split(",") if options.variants else None
    print(header(options, args), flush=True)
    started = time.monotonic()
    failures: List[str] = []
    misses: List[str] = []
    figures: Dict[str, Any] = {}
    work = options.keep or tempfile.mkdtemp(prefix="otel-bench-")
    try:
        with _receiver(options.otlp) as otlp_env:
            if wanted and otlp_env is None and set(runner.OTLP_VARIANTS) & set(wanted):
                runner.log("the otlp and sdk-* variants need --otlp and the receiver; skipped")
                wanted = [name for name in wanted if name not in runner.OTLP_VARIANTS] or ["untraced"]
            variants = runner.select(runner.all_variants(otlp_env), wanted)
            if "startup" in parts or "requests" in parts:
                app = generate_app(os.path.join(work, f"app-{options.modules}"), options.modules)
            if "startup" in parts:
                result = bench_startup.run_startup(app, variants, options.rounds)
                print(f"\n## Startup: import + lifespan startup/shutdown, whole process "
                      f"({app.n_modules} modules, {options.rounds} rounds)\n", flush=True)
                print(bench_startup.table(result), flush=True)
                failures += result.failures() + result.incomplete_references()
                misses += result.target_misses()
                figures["startup"] = _startup_figures(result)
            result_i = None
            if options.instructions and "startup" in parts:
                result_i = bench_startup.run_instructions(app, variants)
                print(f"\n## Startup instructions: the same process under valgrind (cachegrind), "
                      f"{app.n_modules} modules\n", flush=True)
                print(bench_startup.instruction_table(result_i), flush=True)
                figures["instructions"] = result_i.counts
            if "startup" in parts:
                attribution = bench_startup.otlp_attribution(result, result_i)
                if attribution:
                    print("\n" + attribution, flush=True)
            if "requests" in parts:
                result_r = bench_requests.run_requests(app, variants, options.request_rounds, options.duration,
                                                       options.warmup, options.connections)
                print(f"\n## Requests: uvicorn, 1 worker, load from {result_r.load_generator} in its own process "
                      f"({app.n_modules} modules, {options.request_rounds} rounds x {options.duration} s, "
                      f"{options.connections} connections, /work = ~{app.work_calls} Python calls)\n", flush=True)
                print(bench_requests.tables(result_r), flush=True)
                failures += result_r.failures()
                misses += result_r.target_misses()
                figures["requests"] = {name: {e: r.rps for e, r in s.endpoints.items()} for name, s in result_r.runs.items()}
            if "memory" in parts:
                memory_app = generate_app(os.path.join(work, f"app-{options.memory_modules}"), options.memory_modules)
                result_m = bench_startup.run_startup(memory_app, bench_memory.memory_variants(variants),
                                                     options.memory_rounds, warmup=False)
                print(f"\n## Memory: peak RSS, import + lifespan ({memory_app.n_modules} modules, "
                      f"{options.memory_rounds} rounds)\n", flush=True)
                print(bench_memory.table(result_m), flush=True)
                attribution = bench_memory.otlp_attribution(result_m)
                if attribution:
                    print("\n" + attribution, flush=True)
                failures += result_m.failures()
                misses += bench_memory.misses(result_m)
                figures["memory"] = _startup_figures(result_m)
    finally:
        if not options.keep:
            shutil.rmtree(work, ignore_errors=True)
    print(f"\ntotal time: {time.monotonic() - started:.0f} s")
    for line in failures:
        print(f"FAILED: {line}")
    for line in misses:
        print(f"TARGET MISSED: {line}")
    if options.json:
        with open(options.json, "w", encoding="utf-8") as handle:
            json.dump({"header": header(options, args), "figures": figures, "failures": failures, "misses": misses},
                      handle, indent=2)
    if failures:
        return 1
    return 1 if (options.strict and misses) else 0


def _startup_figures(result: bench_startup.StartupResult) -> Dict[str, Any]:
    return {name: {"wall_s": runs.wall_s, "peak_rss_kb": runs.rss_kb, "missing": runs.missing, "error": runs.error}
            for name, runs in result.runs.items()}


if __name__ == "__main__":
    raise SystemExit(main())
