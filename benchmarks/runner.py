"""The variants the benchmarks compare, and how to run one of them in a child process.

Every variant runs the same generated application in a fresh interpreter; only how
tracing is started differs:

========================  ===========================================================
``untraced``              the app as shipped (nothing of the tracer in it), tracing off
``auto``                  ours, the default collector (``monitoring`` on 3.12+, else ``importhook``)
``importhook``            ours, the import hook alone
``monitoring``            ours, import hook + ``sys.monitoring`` PY_START (3.12+ only)
``settrace``              ours, import hook + ``sys.settrace`` on every call
``naive``                 the original design's tracer (``benchmarks/naive_settrace.py``)
``coverage``              ``coverage run --source=<root>`` (its default core)
``coverage-sysmon``       the same with ``COVERAGE_CORE=sysmon`` (3.12+ only)
``importtime``            ``python -X importtime``
``untraced-lazy``         the app as shipped with ``PYTHON_LAZY_IMPORTS=all`` (3.15+: every import lazy)
``auto-lazy``             ``auto`` with ``PYTHON_LAZY_IMPORTS=all``, its ratio taken against ``untraced-lazy``
``sdk-import``            untraced, but importing the OpenTelemetry SDK and OTLP exporter first
                          (``--otlp``: the cost of the SDK itself, the baseline of ``otlp``)
``sdk-export``            untraced, then the SDK alone sends what ``otlp`` sends, with no tracer:
                          ``app.startup`` with an event per loaded module and an import span
                          per module (``--otlp``): what the SDK itself costs to send it
``otlp``                  ``auto`` exporting over OTLP/gRPC to a local receiver (``--otlp``)
========================  ===========================================================

Our variants start tracing before the application is imported: in the startup
benchmark through ``start_tracing()`` at the top of the child (what the launcher does),
in the request benchmark through the real launcher, ``otel-import-tracer run``.

The startup child is a small script written next to the generated ``src/`` (outside the
root): it starts the variant's tracer, imports ``src.main`` and drives the ASGI lifespan
(startup, then shutdown) through uvicorn's own ``LifespanOn``, without a server, so the
tracer learns that startup is complete as it does under uvicorn. The parent times the whole
process and reads its peak RSS from ``wait4``.
"""

from __future__ import annotations

import dataclasses
import os
import random
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from typing import Dict, Iterable, List, Mapping, Optional, Sequence, Set, Tuple

from benchmarks.appgen import GeneratedApp

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CHILD_NAME = "_bench_child.py"
HAS_MONITORING = sys.version_info >= (3, 12)
HAS_LAZY_IMPORTS = sys.version_info >= (3, 15)  # PEP 810: PYTHON_LAZY_IMPORTS=all makes every import lazy

# The targets for the default collector.
STARTUP_TARGET = 1.05 if HAS_MONITORING else 1.10
REQUEST_TARGET = 0.97
MEMORY_TARGET_MB = 10.0
# The variants that need --otlp (a local receiver).
OTLP_VARIANTS = ("sdk-import", "sdk-export", "otlp")

# Variables of the benchmark's own environment that would change a child's behaviour.
_SCRUBBED_PREFIXES = ("OTEL_", "IMPORT_TRACING_", "ENABLE_IMPORT_TRACING", "UVICORN_", "COVERAGE_", "PYTHONPROFILEIMPORTTIME")

CHILD_SOURCE = '''\
"""Benchmark child, written by benchmarks/runner.py: start a tracer, then import and run the app.

usage: python _bench_child.py startup|serve none|ours|naive|sdk|sdk-export [--dump-modules] [uvicorn args for serve]
"""
import os
import sys

mode, starter = sys.argv[1], sys.argv[2]
if starter == "ours":
    from otel_import_tracer import start_tracing

    start_tracing()  # what `otel-import-tracer run` does before uvicorn imports the app
elif starter == "naive":
    sys.path.append(os.environ["BENCH_REPO"])
    from benchmarks.naive_settrace import start_tracing, stop_tracing

    start_tracing(os.environ["IMPORT_TRACING_ROOT"])
elif starter in ("sdk", "sdk-export"):
    import opentelemetry.sdk.resources  # noqa: F401
    import opentelemetry.sdk.trace  # noqa: F401
    import opentelemetry.sdk.trace.export  # noqa: F401
    import opentelemetry.exporter.otlp.proto.grpc.trace_exporter  # noqa: F401

if mode == "serve":
    import signal

    from uvicorn.main import main

    # uvicorn re-raises the SIGTERM it shut down on; exit normally instead, so atexit
    # handlers (the naive tracer's shutdown lines) run, as they would under the original
    # design's lifespan stop.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(0))
    main(args=sys.argv[3:], prog_name="uvicorn")
else:
    import asyncio

    import src.main

    from uvicorn.config import Config
    from uvicorn.lifespan.on import LifespanOn

    async def lifespan(app):
        # uvicorn's own lifespan driver (what Server.serve runs), without sockets.
        driver = LifespanOn(Config(app, lifespan="on", log_config=None))
        await driver.startup()
        if driver.should_exit:
            raise SystemExit("the application's startup failed")
        await driver.shutdown()
        if driver.should_exit:
            raise SystemExit("the application's shutdown failed")

    asyncio.run(lifespan(src.main.app))
    if starter == "naive":
        stop_tracing()
    elif starter == "sdk-export":
        # The SDK alone sending what ours sends, with no tracer: app.startup with a
        # module.loaded event per loaded module, then an import span per module, the same
        # six attributes on each, flushed every 512 spans, over OTLP (endpoint from OTEL_*).
        import time

        from opentelemetry import trace
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.trace import SpanLimits, TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor

        provider = TracerProvider(span_limits=SpanLimits(max_events=SpanLimits.UNSET), shutdown_on_exit=False)
        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
        tracer = provider.get_tracer("benchmark")
        root = os.environ["IMPORT_TRACING_ROOT"] + os.sep
        loaded = [(name, module.__file__) for name, module in sorted(sys.modules.items())
                  if (getattr(module, "__file__", None) or "").startswith(root)]

        def attributes(name, path):
            return {"python.module.name": name, "code.file.path": path,
                    "python.module.parent": name.rpartition(".")[0] or "__main__",
                    "python.module.import_duration_ms": 0.25, "thread.name": "MainThread",
                    "python.module.preloaded": False}

        startup = tracer.start_span("sdk-export.startup")
        for name, path in loaded:
            startup.add_event("module.loaded", attributes(name, path), timestamp=time.time_ns())
        startup.end()
        flushed = provider.force_flush(30_000)
        parent = trace.set_span_in_context(trace.NonRecordingSpan(startup.get_span_context()))
        del startup
        for count, (name, path) in enumerate(loaded, 1):
            tracer.start_span("import " + name, context=parent, attributes=attributes(name, path)).end()
            if count % 512 == 0:
                flushed = provider.force_flush(30_000) and flushed
        if not (provider.force_flush(30_000) and flushed):
            raise SystemExit("sdk-export: the spans were not flushed within 30 s")
        provider.shutdown()
    if "--dump-modules" in sys.argv:
        for name in sorted(sys.modules):
            if name == "src" or name.startswith("src."):
                print("BENCH_SYS_MODULE: " + name)
'''


@dataclasses.dataclass(frozen=True)
class Variant:
    """One way of running the application."""

    name: str
    description: str
    kind: str  # "baseline", "ours" or "reference"
    starter: str = "none"  # what the startup child starts: none, ours, naive, sdk, sdk-export
    env: Tuple[Tuple[str, str], ...] = ()
    python_flags: Tuple[str, ...] = ()
    coverage: bool = False  # run under `coverage run --source=<root>`
    has_target: bool = False  # the targets apply to it
    baseline: str = "untraced"  # what its ratio is taken against

    @property
    def lazy_all(self) -> bool:
        """Runs with every import lazy (``PYTHON_LAZY_IMPORTS=all``, 3.15+)."""
        return ("PYTHON_LAZY_IMPORTS", "all") in self.env

    @property
    def records_lines(self) -> bool:
        """Prints the LOADED_MODULE shutdown lines, from which completeness is checked."""
        return self.starter in ("ours", "naive")


def _ours(name: str, collector: str, description: str, has_target: bool) -> Variant:
    env = (("ENABLE_IMPORT_TRACING", "true"), ("IMPORT_TRACING_COLLECTOR", collector))
    return Variant(name, description, "ours", starter="ours", env=env, has_target=has_target)


def default_collector() -> str:
    return "monitoring" if HAS_MONITORING else "importhook"


def all_variants(otlp_env: Optional[Mapping[str, str]] = None) -> List[Variant]:
    """Every variant that runs on this Python, in table order; the OTLP pair only with ``otlp_env``."""
    variants = [
        Variant("untraced", "the app as shipped, tracing off", "baseline"),
        _ours("auto", "auto", f"ours, default collector (= {default_collector()} here)", True),
        _ours("importhook", "importhook", "ours, import hook only", True),
        Variant("auto-nodeps", "auto with IMPORT_TRACING_DEPENDENCIES=false (no dependency loads)", "ours", starter="ours",
                env=(("ENABLE_IMPORT_TRACING", "true"), ("IMPORT_TRACING_COLLECTOR", "auto"), ("IMPORT_TRACING_DEPENDENCIES", "false"))),
    ]
    if HAS_MONITORING:
        variants.append(_ours("monitoring", "monitoring", "ours, import hook + sys.monitoring", True))
    if HAS_LAZY_IMPORTS:
        # Every import lazy (the filter runs at each declaration): traced against untraced, both lazy.
        lazy_all = (("PYTHON_LAZY_IMPORTS", "all"),)
        variants.append(Variant("untraced-lazy", "untraced, PYTHON_LAZY_IMPORTS=all", "baseline", env=lazy_all))
        variants.append(Variant("auto-lazy", "auto with PYTHON_LAZY_IMPORTS=all (ratio to untraced-lazy)", "ours",
                                starter="ours", env=(("ENABLE_IMPORT_TRACING", "true"), ("IMPORT_TRACING_COLLECTOR", "auto")) + lazy_all,
                                baseline="untraced-lazy"))
    variants += [
        _ours("settrace", "settrace", "ours, import hook + sys.settrace (opt-in)", False),
        Variant("naive", "original design: settrace+threading.settrace, every event", "reference", starter="naive"),
        Variant("coverage", "coverage run --source=<root>", "reference", coverage=True),
    ]
    if HAS_MONITORING:
        variants.append(
            Variant("coverage-sysmon", "coverage run, COVERAGE_CORE=sysmon", "reference", coverage=True,
                    env=(("COVERAGE_CORE", "sysmon"),))
        )
    variants.append(Variant("importtime", "python -X importtime", "reference", python_flags=("-X", "importtime")))
    if otlp_env is not None:
        variants.append(Variant("sdk-import", "untraced + import OTel SDK and OTLP exporter", "baseline", starter="sdk"))
        variants.append(Variant("sdk-export", "untraced + the SDK alone sending the spans otlp sends", "baseline",
                                starter="sdk-export", env=tuple(sorted(otlp_env.items())), baseline="sdk-import"))
        otlp = tuple(sorted(otlp_env.items())) + (("ENABLE_IMPORT_TRACING", "true"), ("IMPORT_TRACING_COLLECTOR", "auto"))
        variants.append(Variant("otlp", "auto + OTLP/gRPC export to a local receiver", "ours", starter="ours",
                                env=otlp, has_target=True, baseline="sdk-import"))
    return variants


def select(variants: Sequence[Variant], names: Optional[Iterable[str]]) -> List[Variant]:
    """``variants`` restricted to ``names`` (always keeping ``untraced`` and the baselines asked for)."""
    if not names:
        return list(variants)
    wanted = set(names) | {"untraced"}
    for variant in variants:
        if variant.name in wanted:
            wanted.add(variant.baseline)
    unknown = set(names) - {variant.name for variant in variants}
    if unknown:
        raise SystemExit(f"unknown or unavailable variant(s) here: {', '.join(sorted(unknown))}; "
                         f"choose from {', '.join(v.name for v in variants)}")
    return [variant for variant in variants if variant.name in wanted]


# -- building a child's command line and environment ----------------------------------------


def write_child(app: GeneratedApp) -> str:
    path = os.path.join(app.dest_dir, CHILD_NAME)
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(CHILD_SOURCE)
    return path


def child_env(variant: Variant, app: GeneratedApp, coverage_file: Optional[str] = None) -> Dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith(_SCRUBBED_PREFIXES)}
    env.update(
        {
            "PYTHONUNBUFFERED": "1",
            "IMPORT_TRACING_ROOT": app.root,  # read by ours and naive only
            "BENCH_REPO": REPO,
        }
    )
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env.update(dict(variant.env))
    if variant.coverage:
        env["COVERAGE_FILE"] = coverage_file or os.path.join(app.dest_dir, f".coverage.{variant.name}")
    return env


COVERAGE_RC = "_bench_coveragerc"
_COVERAGE_RC_SOURCE = """\
# Written by benchmarks/runner.py. sigterm: save the data when uvicorn ends on SIGTERM
# (it re-raises the signal after a graceful shutdown, so atexit never runs).
[run]
sigterm = true
"""


def _python(variant: Variant, app: GeneratedApp) -> List[str]:
    argv = [sys.executable, *variant.python_flags]
    if variant.coverage:
        rcfile = os.path.join(app.dest_dir, COVERAGE_RC)
        if not os.path.exists(rcfile):
            with open(rcfile, "w", encoding="utf-8") as handle:
                handle.write(_COVERAGE_RC_SOURCE)
        argv += ["-m", "coverage", "run", f"--rcfile={rcfile}", f"--source={app.root}"]
    return argv


def startup_argv(variant: Variant, app: GeneratedApp, child: str, dump_modules: bool = False) -> List[str]:
    argv = _python(variant, app) + [child, "startup", variant.starter]
    return argv + (["--dump-modules"] if dump_modules else [])


def serve_argv(variant: Variant, app: GeneratedApp, child: str, port: int) -> List[str]:
    uvicorn_args = [app.app_spec, "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning", "--no-access-log"]
    if variant.starter == "ours":
        # The real launcher: `otel-import-tracer run`, tracing started before the app import.
        launcher = ["-m", "otel_import_tracer", "run"]
        if variant.coverage:
            raise ValueError("ours under coverage is not a variant")
        return [sys.executable, *variant.python_flags, *launcher, *uvicorn_args]
    if variant.starter in ("naive", "sdk"):
        return _python(variant, app) + [child, "serve", variant.starter, *uvicorn_args]
    return _python(variant, app) + ["-m", "uvicorn", *uvicorn_args]


# -- running a child ---------------------------------------------------------------------------


@dataclasses.dataclass
class ChildResult:
    wall_s: float
    cpu_s: float  # user + system time of the process (less sensitive to a busy machine)
    peak_rss_kb: int
    returncode: int
    output: str


def run_child(argv: Sequence[str], env: Mapping[str, str], cwd: str, timeout: float = 600.0) -> ChildResult:
    """Run to completion; wall time of the whole process and its peak RSS (``wait4``)."""
    with tempfile.TemporaryFile() as log:
        start = time.perf_counter()
        proc = subprocess.Popen(list(argv), env=dict(env), cwd=cwd, stdout=log, stderr=subprocess.STDOUT)
        timer = threading.Timer(timeout, proc.kill)
        timer.start()
        try:
            _, status, rusage = os.wait4(proc.pid, 0)
        finally:
            timer.cancel()
        wall = time.perf_counter() - start
        proc.returncode = _exit_code(status)
        log.seek(0)
        output = log.read().decode("utf-8", "replace")
    return ChildResult(wall, rusage.ru_utime + rusage.ru_stime, int(rusage.ru_maxrss), proc.returncode, output)


def _exit_code(status: int) -> int:
    if os.WIFSIGNALED(status):
        return -os.WTERMSIG(status)
    return os.WEXITSTATUS(status)


def pin(pid: int, cpu: int) -> bool:
    """Pin a process to one CPU when there are at least two (server and load generator apart)."""
    if not hasattr(os, "sched_setaffinity"):
        return False
    try:
        cpus = sorted(os.sched_getaffinity(0))
        if len(cpus) < 2:
            return False
        os.sched_setaffinity(pid, {cpus[cpu % len(cpus)]})
        return True
    except OSError:
        return False


def terminate(proc: "subprocess.Popen[bytes]", timeout: float = 60.0) -> int:
    """SIGTERM (like ``docker stop``), then SIGKILL if it does not exit in time."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return proc.returncode


# -- completeness ------------------------------------------------------------------------------

_IMPORTTIME = re.compile(r"^import time:\s+\d+\s+\|\s+\d+\s+\|\s+(\S.*)$")


def recorded_modules(variant: Variant, app: GeneratedApp, output: str, coverage_file: Optional[str] = None) -> Optional[Set[str]]:
    """The app modules this run recorded, or None when the variant records nothing we can read."""
    package = os.path.basename(app.root)
    if variant.records_lines:
        return {line[len("LOADED_MODULE: "):].strip() for line in output.splitlines() if line.startswith("LOADED_MODULE: ")}
    if "importtime" in variant.python_flags:
        found = set()
        for line in output.splitlines():
            match = _IMPORTTIME.match(line)
            if match:
                name = match.group(1).strip()
                if name == package or name.startswith(package + "."):
                    found.add(name)
        return found
    if variant.coverage:
        return _coverage_modules(coverage_file or os.path.join(app.dest_dir, f".coverage.{variant.name}"), app)
    return None


def _coverage_modules(data_file: str, app: GeneratedApp) -> Set[str]:
    from coverage import CoverageData  # the parent's coverage reads the child's data

    if not os.path.exists(data_file):
        return set()
    data = CoverageData(basename=data_file)
    data.read()
    parent = os.path.dirname(app.root)
    names = set()
    for path in data.measured_files():
        relative = os.path.relpath(path, parent)[: -len(".py")].split(os.sep)
        if relative[-1] == "__init__":
            relative.pop()
        names.add(".".join(relative))
    return names


def missing_modules(variant: Variant, app: GeneratedApp, output: str, coverage_file: Optional[str] = None,
                    expected: Optional[Iterable[str]] = None) -> Optional[List[str]]:
    """Ground-truth modules the run did not record (empty: complete), or None if not checkable.
    ``expected`` replaces ``app.module_names``: with every import lazy, a module nothing uses by
    name is never imported, so a lazy variant is checked against what the untraced lazy run imports
    (not checkable without it)."""
    recorded = recorded_modules(variant, app, output, coverage_file)
    if recorded is None or (variant.lazy_all and expected is None):
        return None
    return sorted(set(app.module_names if expected is None else expected) - recorded)


def sys_modules_of(output: str) -> Set[str]:
    prefix = "BENCH_SYS_MODULE: "
    return {line[len(prefix):].strip() for line in output.splitlines() if line.startswith(prefix)}


# -- statistics and tables ---------------------------------------------------------------------


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def round_order(items: Sequence[Variant], round_index: int) -> List[Variant]:
    """The order of round ``r``: a different (seeded, reproducible) shuffle each round.

    Not a rotation: with a rotation each variant always follows the same one, and what
    ran just before (a heavy settrace run, say) leaves the machine in a state that
    favours or penalises the next process. Round 0 keeps the table order.
    """
    order = list(items)
    if round_index:
        random.Random(round_index).shuffle(order)
    return order


def format_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(str(cell)) for cell in column) for column in zip(headers, *rows)]
    lines = ["| " + " | ".join(str(h).ljust(w) for h, w in zip(headers, widths)) + " |",
             "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    for row in rows:
        lines.append("| " + " | ".join(str(c).ljust(w) for c, w in zip(row, widths)) + " |")
    return "\n".join(lines)


def log(message: str) -> None:
    sys.stderr.write(message + "\n")
    sys.stderr.flush()


def otlp_receiver() -> Tuple[Optional[object], str]:
    """The test suite's in-process OTLP receiver (``tests/support/otlp_receiver.py``), if importable."""
    if REPO not in sys.path:
        sys.path.insert(0, REPO)
    try:
        from tests.support.otlp_receiver import OtlpReceiver  # type: ignore[import-not-found]
    except Exception as exc:  # not written yet, or grpc/opentelemetry-proto missing
        return None, f"no OTLP receiver ({type(exc).__name__}: {exc})"
    return OtlpReceiver(), "tests/support/otlp_receiver.py, gRPC"
