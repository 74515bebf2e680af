"""Memory: extra peak RSS of tracing an app of 5,000 modules (target: at most 10 MB).

The same child as the startup benchmark (import the app, run its lifespan startup and
shutdown) for untraced and our collectors, alternating; each process's peak RSS comes
from ``wait4`` (``ru_maxrss``), the median over rounds is compared with untraced.

Run alone: ``python -m benchmarks.bench_memory --modules 5000 --rounds 2``.
"""

from __future__ import annotations

import argparse
import tempfile
from typing import List, Optional, Sequence

from benchmarks import runner
from benchmarks.appgen import generate_app
from benchmarks.bench_startup import StartupResult, run_startup
from benchmarks.runner import Variant

MEMORY_VARIANTS = ("untraced", "auto", "importhook", "sdk-import", "sdk-export", "otlp")


def memory_variants(variants: Sequence[Variant]) -> List[Variant]:
    """Untraced, the default collector and the import hook alone (plus the OTLP pair with --otlp).

    The references' memory is not the question here, and a 5,000-module app takes a
    while to start: the other variants are in the startup table's RSS column.
    """
    return [variant for variant in variants if variant.name in MEMORY_VARIANTS]


def extra_mb(result: StartupResult, name: str) -> float:
    runs = result.runs[name]
    base = result.runs[runs.variant.baseline]
    return runs.median_rss_mb - base.median_rss_mb


def misses(result: StartupResult) -> List[str]:
    found = []
    for name, runs in result.runs.items():
        if runs.variant.has_target and runs.rss_kb and extra_mb(result, name) > runner.MEMORY_TARGET_MB:
            found.append(f"memory/{name}: +{extra_mb(result, name):.1f} MB > {runner.MEMORY_TARGET_MB:.0f} MB")
    return found


def otlp_attribution(result: StartupResult) -> str:
    """With --otlp: how much of otlp's memory the SDK itself needs to send the same spans.

    ``otlp - sdk-export`` is what the tracer adds beyond the SDK's own cost of building,
    encoding and sending app.startup (an event per module) and the import spans."""
    runs = result.runs
    needed = runner.OTLP_VARIANTS  # sdk-import, sdk-export, otlp
    if not all(name in runs and runs[name].rss_kb and not runs[name].error for name in needed):
        return ""
    sdk_import, sdk_export, otlp = (runs[name].median_rss_mb for name in needed)
    beyond = otlp - sdk_export
    verdict = "PASS" if beyond <= runner.MEMORY_TARGET_MB else "FAIL"
    return "\n".join([
        f"OTLP memory, {result.app.n_modules} modules: otlp {otlp - sdk_import:+.1f} MB vs sdk-import, of which the SDK "
        f"alone sending the same spans (sdk-export) takes {sdk_export - sdk_import:+.1f} MB;",
        f"the tracer beyond that: {beyond:+.1f} MB (target <= {runner.MEMORY_TARGET_MB:.0f} MB: {verdict}).",
    ])


def table(result: StartupResult) -> str:
    headers = ["variant", "peak RSS MB (median)", "min", "max", "extra MB", "complete", "target", "result"]
    rows = []
    for name, runs in result.runs.items():
        if runs.error or not runs.rss_kb:
            rows.append([name, "error", "", "", "", "", "", (runs.error or "")[:60]])
            continue
        extra = extra_mb(result, name)
        complete = "n/a" if runs.missing is None else ("yes" if not runs.missing else f"NO ({len(runs.missing)} missed)")
        has_target = runs.variant.has_target
        verdict = ("PASS" if extra <= runner.MEMORY_TARGET_MB else "FAIL") if has_target else ""
        if runs.missing and runs.variant.kind == "ours":
            verdict = "FAIL"
        base = ""
        if runs.variant.baseline != "untraced":
            untraced = runs.median_rss_mb - result.runs["untraced"].median_rss_mb
            base = f" vs {runs.variant.baseline} ({untraced:+.1f} vs untraced)"
        rows.append([
            name,
            f"{runs.median_rss_mb:.1f}",
            f"{min(runs.rss_kb) / 1024:.1f}",
            f"{max(runs.rss_kb) / 1024:.1f}",
            "0.0" if name == "untraced" else f"{extra:+.1f}{base}",
            complete,
            f"<= {runner.MEMORY_TARGET_MB:.0f} MB" if has_target else "",
            verdict,
        ])
    return runner.format_table(headers, rows)


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--modules", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=2)
    options = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="otel-bench-memory-") as work:
        app = generate_app(work, options.modules)
        result = run_startup(app, memory_variants(runner.all_variants()), options.rounds, warmup=False)
    print(table(result))
    return 1 if result.failures() else 0


if __name__ == "__main__":
    raise SystemExit(main())
