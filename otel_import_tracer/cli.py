"""``otel-import-tracer run | exec | demo | audit | report | diff``."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any, Dict, List, Optional, Sequence, Tuple

from otel_import_tracer.messages import printable
from otel_import_tracer.version import __version__

PROG = "otel-import-tracer"
EXIT_UNUSED = 1  # --fail-if-unused found never-loaded files
EXIT_ERROR = 2  # bad usage or bad input
_PROBLEMS_SHOWN = 20

_AUDIT_EPILOG = """examples:
  docker logs app | otel-import-tracer audit --root ./src
  otel-import-tracer audit reports/*.json --root ./src --exclude 'legacy/*' --fail-if-unused
  otel-import-tracer audit a.json b.log --path-map /srv/app/code=./src --format json
  otel-import-tracer audit --tempo http://tempo:3200 --service api --since 7d --root ./src

exit status: 0 done, 1 --fail-if-unused found never-loaded files, 2 bad usage or input.
"""

_MAIN_EPILOG = """examples:
  ENABLE_IMPORT_TRACING=true otel-import-tracer run src.main:app --port 8000
  ENABLE_IMPORT_TRACING=true otel-import-tracer exec -- gunicorn -k uvicorn.workers.UvicornWorker src.main:app
  otel-import-tracer demo --exercise
  otel-import-tracer audit reports/*.json --root ./src

Tracing itself needs no command: with the package installed, ENABLE_IMPORT_TRACING=true traces
every Python process of the environment (your code: IMPORT_TRACING_ROOT, default /app/src, else
the working directory's own code).
Each command explains itself: otel-import-tracer COMMAND --help.
"""

_DEMO_EPILOG = """examples:
  otel-import-tracer demo                      # serve on 127.0.0.1:8000 until Ctrl+C
  otel-import-tracer demo --exercise           # call every endpoint, stop, print what loaded
  otel-import-tracer demo --port 8001          # when port 8000 is taken

While it runs: curl localhost:8000/reports/1.pdf (a lazy import).
A port already taken is one error naming it (exit 1, nothing overwritten): choose another with --port.
The demo sets ENABLE_IMPORT_TRACING=true, IMPORT_TRACING_ROOT to its own src folder,
IMPORT_TRACING_SUMMARY=true and IMPORT_TRACING_REPORT to imports.json in a folder of yours under
the temporary directory, unless you set them; OTEL_* export settings are used when given.
"""

_REPORT_EPILOG = """examples:
  otel-import-tracer report /var/log/app/imports-4242.json --html imports.html
  otel-import-tracer report imports.json --html out.html --root ./src --exclude 'legacy/*'

The page is self-contained (no network). With the code's directory on this machine (the root
recorded in the report, or --root), it also lists the files that never loaded.

exit status: 0 done, 2 bad usage or input.
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="otel-import-tracer",
        description="Trace which of your own modules a Python service loads: run a server or any command\n"
        "with tracing, try the demo, and read the reports, logs and traces it leaves.",
        epilog=_MAIN_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.add_parser("run", help="run uvicorn with import tracing (options pass to uvicorn)", add_help=False)
    commands.add_parser("exec", help="run any command (gunicorn, fastapi run, hypercorn) with import tracing in every process", add_help=False)

    demo = commands.add_parser(
        "demo",
        help="run the demo service with tracing on, no collector needed",
        description="Run the demo FastAPI service (the one the package carries) under uvicorn with import\n"
        "tracing on; no collector is needed. At its stop (Ctrl+C, or --exercise) it prints the\n"
        "shutdown lines and a summary, writes a JSON report and an HTML page of it, and says where.",
        epilog=_DEMO_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    demo.add_argument("--host", default="127.0.0.1", help="the address to serve on (default: %(default)s)")
    demo.add_argument("--port", type=int, default=8000, help="the port to serve on (default: %(default)s)")
    demo.add_argument(
        "--exercise",
        action="store_true",
        help="call every endpoint once the service is up, then shut it down (prints the shutdown lines); "
        "default: serve until Ctrl+C",
    )
    _add_audit_parser(commands)
    _add_report_parser(commands)
    _add_diff_parser(commands)
    return parser


def _add_audit_parser(commands: Any) -> None:
    audit = commands.add_parser(
        "audit",
        help="list the files under the root that never loaded, over any number of reports and logs",
        description="Merge JSON reports and container logs (LOADED_SRC_FILE lines), walk every .py file\n"
        "under the root, and print the files that never loaded, by package. Loaded is not used:\n"
        "a module that was imported may still hold dead code.",
        epilog=_AUDIT_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    audit.add_argument("inputs", nargs="*", metavar="INPUT", help="JSON reports or logs; '-' or none reads standard input")
    _add_root_options(audit)
    audit.add_argument("--format", choices=("text", "json"), default="text", help="output format (default: text)")
    audit.add_argument("--fail-if-unused", action="store_true", help="exit with status 1 if any file never loaded (for CI)")
    audit.add_argument("--skip-bad", action="store_true", help="warn about bad inputs and lines, and audit the good ones")
    _add_backend_options(audit, "pull every app.startup trace of a window, and the lazy loads after it")


def _add_backend_options(parser: argparse.ArgumentParser, what: str) -> argparse._ArgumentGroup:
    from otel_import_tracer.reading.backends import CONCURRENCY, SEARCH_LIMIT, TIMEOUT_S

    group = parser.add_argument_group("from a trace backend", what)
    where = group.add_mutually_exclusive_group()
    where.add_argument("--tempo", metavar="URL", help="Tempo's HTTP API, e.g. http://tempo:3200")
    where.add_argument("--jaeger", metavar="URL", help="Jaeger's query API, e.g. http://jaeger:16686")
    group.add_argument("--service", metavar="NAME", help="the service.name of the app (required for Jaeger)")
    group.add_argument("--since", metavar="DURATION", help="the window: the last 30m, 12h, 7d, 2w (default 24h)")
    group.add_argument("--start", metavar="TIME", help="the window's start: RFC 3339 (2026-12-01T00:00:00Z) or Unix seconds")
    group.add_argument("--end", metavar="TIME", help="the window's end (default now)")
    group.add_argument("--resource", action="append", default=[], type=_key_value, metavar="KEY=VALUE",
                       help="only processes with this resource attribute, e.g. deployment.environment.name=staging; repeatable")
    group.add_argument("--header", action="append", default=[], metavar="'NAME: VALUE'",
                       help="an HTTP header for the backend, e.g. 'Authorization: Bearer TOKEN' or 'X-Scope-OrgID: TENANT'; "
                       "repeatable (also OTEL_IMPORT_TRACER_HEADERS=name=value,...)")
    group.add_argument("--timeout", type=_seconds, default=TIMEOUT_S, metavar="SECONDS", help=f"per request (default {TIMEOUT_S:g})")
    group.add_argument("--concurrency", type=_count, default=CONCURRENCY, metavar="N", help=f"traces fetched at once (default {CONCURRENCY})")
    group.add_argument("--search-limit", type=_count, default=SEARCH_LIMIT, metavar="N",
                       help=f"traces asked per search (default {SEARCH_LIMIT}); a full answer cuts its window in two")
    return group


def _key_value(text: str) -> Tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise argparse.ArgumentTypeError(f"{text!r} should be KEY=VALUE, e.g. deployment.environment.name=staging")
    return key.strip(), value.strip()


def _seconds(text: str) -> float:
    try:
        number = float(text)
    except ValueError:
        number = -1.0
    if not 0 < number <= 3600:
        raise argparse.ArgumentTypeError(f"{text!r} should be a number of seconds from 0 to 3600, e.g. 30")
    return number


def _add_report_parser(commands: Any) -> None:
    report = commands.add_parser(
        "report",
        help="render one JSON report as a self-contained HTML page",
        description="Render a report (IMPORT_TRACING_REPORT) as one HTML page: the startup waterfall, the slowest\n"
        "imports and dependencies, failed and lazy imports, and the never-loaded files.",
        epilog=_REPORT_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    report.add_argument("report", metavar="REPORT", help="a JSON report (IMPORT_TRACING_REPORT)")
    report.add_argument("--html", required=True, metavar="OUT", help="the HTML file to write")
    _add_root_options(report)


_DIFF_EPILOG = """examples:
  otel-import-tracer diff main.json branch.json
  otel-import-tracer diff reports/main/ reports/branch/ --fail-if-slower 10% --format markdown
  otel-import-tracer diff --base a1.json --base a2.json --head b1.json --head b2.json --budget-ms 2000
  otel-import-tracer diff --tempo http://tempo:3200 --service api --since 7d \\
      --base-resource service.version=1.4.0 --head-resource service.version=1.5.0
  otel-import-tracer diff reports/main/ --jaeger http://jaeger:16686 --service api --since 2h

Each side is one or more startups: a report is one, a saved trace (the Collector's file
exporter, Tempo, Jaeger) one per app.startup span, a directory every *.json and *.jsonl in it.
With --tempo or --jaeger, a side given no file is pulled from the backend.
With several startups a side's figures are medians. Logs have no timings: use the reports.

exit status: 0 done, 1 a gate (--fail-if-slower, --fail-if-new-modules, --budget-ms) failed,
2 bad usage or input, or a gate the inputs cannot answer (no startup completed).
"""


def _add_diff_parser(commands: Any) -> None:
    diff = commands.add_parser(
        "diff",
        help="compare startups: modules added and removed, new failed imports, import time (gates for CI)",
        description="Compare the startups of BASE with those of HEAD: modules added and removed at startup,\n"
        "new failed imports, the biggest changes in import time (self and cumulative), and the\n"
        "startup time; medians when a side has several startups.",
        epilog=_DIFF_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    diff.add_argument("sides", nargs="*", metavar="BASE HEAD", help="a report, a saved trace or a directory of them, for each side")
    diff.add_argument("--base", action="append", default=[], metavar="INPUT", help="one more input for the base side; repeatable")
    diff.add_argument("--head", action="append", default=[], metavar="INPUT", help="one more input for the head side; repeatable")
    diff.add_argument("--format", choices=("text", "json", "markdown"), default="text", help="output format (default: text)")
    diff.add_argument("--top", type=_count, default=10, metavar="N", help="changes in import time shown (default: 10; json lists all)")
    diff.add_argument("--fail-if-slower", type=_percent, metavar="PCT", help="exit 1 if the startup time grew by more than PCT (e.g. 10%%)")
    diff.add_argument("--fail-if-new-modules", action="store_true", help="exit 1 if a module loads at startup that did not before")
    diff.add_argument("--budget-ms", type=_milliseconds, metavar="N", help="exit 1 if head's startup time is over N ms")
    group = _add_backend_options(diff, "a side with no file is pulled from the backend: every app.startup trace of its window;\n"
                                 "--since/--start/--end/--resource apply to both sides, --base-* and --head-* to one")
    for side in ("base", "head"):
        group.add_argument(f"--{side}-since", metavar="DURATION", help=f"the {side} side's window: the last DURATION")
        group.add_argument(f"--{side}-start", metavar="TIME", help=f"the {side} side's window's start")
        group.add_argument(f"--{side}-end", metavar="TIME", help=f"the {side} side's window's end")
        group.add_argument(f"--{side}-resource", action="append", default=[], type=_key_value, metavar="KEY=VALUE",
                           help=f"only the {side} side's processes with this resource attribute, e.g. service.version=1.4.0")


def _percent(text: str) -> float:
    value = text.strip()
    value = value[:-1] if value.endswith("%") else value
    try:
        number = float(value)
    except ValueError:
        number = -1.0
    if not 0 <= number < 1e6:
        raise argparse.ArgumentTypeError(f"{text!r} should be a percentage, e.g. 10% or 2.5")
    return number


def _milliseconds(text: str) -> float:
    try:
        number = float(text)
    except ValueError:
        number = -1.0
    if not 0 < number < 1e12:
        raise argparse.ArgumentTypeError(f"{text!r} should be a number of milliseconds, e.g. 1500")
    return number


def _count(text: str) -> int:
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"{text!r} should be a whole number, e.g. 10")
    return int(text)


def _add_root_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--root", metavar="DIR", help="the local directory of the code (default: the root recorded in the inputs)")
    parser.add_argument(
        "--path-map",
        action="append",
        default=[],
        type=_path_map,
        metavar="RECORDED=LOCAL",
        help="map a directory recorded in the inputs to a local one (the recorded root maps to --root by itself)",
    )
    parser.add_argument("--exclude", action="append", default=[], metavar="GLOB", help="skip files matching GLOB, relative to the root (e.g. 'legacy/*'); repeatable")


def _path_map(text: str) -> Tuple[str, str]:
    recorded, sep, local = text.partition("=")
    if not sep or not recorded or not local:
        raise argparse.ArgumentTypeError(f"{text!r} should be RECORDED=LOCAL, e.g. /app/src=./src")
    return recorded, local


def main(argv: Optional[Sequence[str]] = None) -> int:
    args: List[str] = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] == "run":
        from otel_import_tracer.process import launcher

        # Everything after `run` belongs to uvicorn; --help says what we add, then uvicorn's.
        if len(args) == 1:
            sys.stderr.write(launcher.HELP)
            return 2
        if "--help" in args[1:]:
            sys.stdout.write(launcher.HELP + "\nuvicorn's options:\n\n")
            sys.stdout.flush()
        return launcher.run(args[1:])
    if args and args[0] == "exec":
        from otel_import_tracer.process import wrapper

        return wrapper.run(args[1:])
    parser = build_parser()
    options = parser.parse_args(args)
    if options.command == "demo":
        from otel_import_tracer.demo import run_demo

        return run_demo(options.host, options.port, options.exercise)
    if options.command in ("audit", "report", "diff"):
        if options.command == "diff" and len(options.sides) > 2:
            return _fail("diff takes BASE and HEAD; give a side more inputs with --base and --head (see otel-import-tracer diff --help)")
        return _run_guarded(options)
    parser.print_help(sys.stderr)
    return 2


def _run_guarded(options: argparse.Namespace) -> int:
    """Run ``audit`` or ``report``; a bad input ends in one line on stderr and status 2, never a traceback."""
    from otel_import_tracer.reading.files import InputError

    try:
        if options.command == "diff":
            return _diff(options)
        return _audit(options) if options.command == "audit" else _report(options)
    except InputError as error:
        return _fail(str(error))
    except BrokenPipeError:  # `... | head`: the reader left, nothing more to say
        return 0


def _audit(options: argparse.Namespace) -> int:
    from otel_import_tracer.reading import audit, sources
    from otel_import_tracer.reading.render import audit as render

    backend = options.tempo or options.jaeger
    orphan = _backend_orphan(options, ())
    if orphan:
        return _fail(orphan)
    paths = options.inputs or ([] if backend else [sources.STDIN])
    if sources.STDIN in paths and (sys.stdin is None or sys.stdin.isatty()):
        return _fail("no input: pass report files or logs, or pipe a log in (docker logs app | otel-import-tracer audit --root ./src)")
    inputs, problems = sources.read_inputs(paths, sys.stdin, options.skip_bad)
    if backend:
        pulled, problem = _pull(options, _Query(options.since, options.start, options.end, dict(options.resource)), lazy=True)
        if pulled is None:
            return _fail(problem)
        inputs.append(pulled)
    _print_problems(problems, options.skip_bad)
    if problems and not options.skip_bad:
        return _fail("bad input (above); fix it, or pass --skip-bad to audit the rest")
    if not inputs:
        return _fail("no usable input left to audit")
    root, problem = sources.choose_root(options.root, sources.recorded_roots(inputs))
    if root is None:
        return _fail(problem)
    result = audit.audit(inputs, root, options.exclude, options.path_map)
    if not result.files:
        return _fail(f"no .py files under {result.root} (after --exclude): check --root")
    sys.stdout.write(render.format_json(result) if options.format == "json" else render.format_text(result))
    return EXIT_UNUSED if options.fail_if_unused and result.never_loaded else 0


def _report(options: argparse.Namespace) -> int:
    from otel_import_tracer.reading import audit, sources
    from otel_import_tracer.reading.render import page
    from otel_import_tracer.reading.report import read_report

    report = read_report(options.report)
    if options.root and not os.path.isdir(options.root):
        return _fail(f"--root {options.root}: not a directory")
    root = options.root or report.root
    result, note = None, ""
    if os.path.isdir(root):
        result = audit.audit([sources.of_report(report)], root, options.exclude, options.path_map)
    else:
        note = f"The root {root} is not on this machine: pass --root DIR (the local copy of the code) to list the never-loaded files."
    try:
        page.write(report, options.html, result, note)
    except OSError as exc:
        return _fail(f"cannot write {options.html}: {exc.strerror or exc}")
    sys.stderr.write(printable(f"{PROG}: wrote {options.html} ({len(report.modules)} modules)") + "\n")
    return 0


EXIT_GATE = 1  # diff: a gate failed


class _Query:
    """One backend query's window and resource filters."""

    def __init__(self, since: Optional[str], start: Optional[str], end: Optional[str], resource: Dict[str, str]) -> None:
        self.since, self.start, self.end, self.resource = since, start, end, resource

    def key(self) -> Tuple[Any, ...]:
        return self.since, self.start, self.end, sorted(self.resource.items())


def _backend_orphan(options: argparse.Namespace, sides: Sequence[str]) -> str:
    """A backend option given without --tempo or --jaeger: what to say about it ("" when none)."""
    if options.tempo or options.jaeger:
        return ""
    flags = [("--service", options.service), ("--since", options.since), ("--start", options.start),
             ("--end", options.end), ("--resource", options.resource), ("--header", options.header)]
    for side in sides:
        flags += [(f"--{side}-{name}", getattr(options, f"{side}_{name}")) for name in ("since", "start", "end", "resource")]
    orphans = [flag for flag, given in flags if given]
    return f"{orphans[0]} is for a trace backend: add --tempo URL or --jaeger URL" if orphans else ""


def _pull(options: argparse.Namespace, query: _Query, lazy: bool, label: str = "") -> Tuple[Any, str]:
    """The startups of a backend's window (and with ``lazy`` the lazy loads), as one trace input; or why there are none."""
    from otel_import_tracer.reading import backends

    kind, url = ("tempo", options.tempo) if options.tempo else ("jaeger", options.jaeger)
    return backends.pull_input(kind, url, options.service, (query.since, query.start, query.end), query.resource, options.header,
                               options.timeout, options.concurrency, options.search_limit, lazy, label)


def _diff(options: argparse.Namespace) -> int:
    from otel_import_tracer.reading import diff
    from otel_import_tracer.reading.render import diff as render

    orphan = _backend_orphan(options, ("base", "head"))
    if orphan:
        return _fail(orphan)
    backend = options.tempo or options.jaeger
    paths = {"base": list(options.base), "head": list(options.head)}
    for label, given in zip(("base", "head"), options.sides):
        paths[label].insert(0, given)
    queries = {label: _side_query(options, label) for label in paths if not paths[label]}
    if queries and not backend:
        return _fail("diff needs a base and a head: otel-import-tracer diff BASE HEAD, or --tempo/--jaeger URL for a side "
                     "pulled from the backend (see --help)")
    if backend and not queries:
        return _fail(f"--{'tempo' if options.tempo else 'jaeger'} is for a side with no file, but both sides have inputs: "
                     "drop it, or the side's files")
    for label in paths:
        stray = [name for name in ("since", "start", "end", "resource") if paths[label] and getattr(options, f"{label}_{name}")]
        if stray:
            return _fail(f"--{label}-{stray[0]} is for a {label} side pulled from the backend, but {label} is read from files")
    if len(queries) == 2 and queries["base"].key() == queries["head"].key():
        return _fail("both sides would be the same backend query: tell them apart with --base-resource/--head-resource "
                     "(e.g. service.version=1.4.0) or --base-since/--head-since, --base-start/--head-start ...")
    sides = []
    for label in ("base", "head"):
        pulled = None
        if label in queries:
            pulled, problem = _pull(options, queries[label], lazy=False, label=label)
            if pulled is None:
                return _fail(f"{label}: {problem}")
        startups, problem = _startups(paths[label], pulled)
        if problem:
            return _fail(f"{label}: {problem}")
        sides.append(startups)
    result = diff.diff(*sides)
    gates = diff.Gates(options.fail_if_slower, options.fail_if_new_modules, options.budget_ms)
    failed, unknown = diff.check(result, gates)
    verdicts = [f"FAILED {reason}" for reason in failed] + [f"CANNOT TELL {reason}" for reason in unknown]
    if gates.any() and not verdicts:
        verdicts = ["Gates passed."]
    if options.format == "json":
        sys.stdout.write(render.format_json(result, failed, unknown))
    elif options.format == "markdown":
        sys.stdout.write(render.format_markdown(result, options.top, verdicts))
    else:
        sys.stdout.write(render.format_text(result, options.top, verdicts))
    if unknown:
        return EXIT_ERROR
    return EXIT_GATE if failed else 0


def _side_query(options: argparse.Namespace, label: str) -> _Query:
    """A side's backend query: its own window if given (else the shared one), the shared resource filters and its own."""
    own = [getattr(options, f"{label}_{name}") for name in ("since", "start", "end")]
    since, start, end = own if any(own) else (options.since, options.start, options.end)
    return _Query(since, start, end, {**dict(options.resource), **dict(getattr(options, f"{label}_resource"))})


def _startups(paths: Sequence[str], pulled: Any = None) -> Tuple[List[Any], str]:
    """The startups in reports and saved traces (directories expanded) and what was ``pulled`` from a backend;
    or what is wrong with them."""
    from otel_import_tracer.reading import diff, sources

    files, problem = sources.expand_directories(paths)
    if problem:
        return [], problem
    inputs, problems = sources.read_inputs(files, sys.stdin, skip_bad=False)
    if problems:
        _print_problems(problems, False)
        return [], "bad input (above)"
    reports: List[Any] = []
    for item in inputs + ([pulled] if pulled is not None else []):
        if item.kind == sources.LOG:
            return [], f"{item.path}: a log has no import timings; diff the JSON reports (IMPORT_TRACING_REPORT) or saved traces"
        reports += item.processes
    found = diff.startups(reports)
    if not found:
        return [], f"no startup in {', '.join(files + ([pulled.path] if pulled is not None else []))}"
    return found, ""


def _print_problems(problems: Sequence[Any], skipped: bool) -> None:
    kind, suffix = ("warning", " (skipped)") if skipped else ("error", "")
    lines = [printable(f"{PROG}: {kind}: {problem}{suffix}") + "\n" for problem in problems[:_PROBLEMS_SHOWN]]
    if len(problems) > _PROBLEMS_SHOWN:
        lines.append(f"{PROG}: {kind}: ... and {len(problems) - _PROBLEMS_SHOWN} more\n")
    sys.stderr.write("".join(lines))


def _fail(message: str) -> int:
    """One line on stderr; ``printable``, as the message may quote input values and paths."""
    sys.stderr.write(printable(f"{PROG}: error: {message}") + "\n")
    return EXIT_ERROR
