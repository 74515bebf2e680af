"""The command line's parser: every subcommand, its options with their defaults, and an example
(``cli`` runs what it parses)."""

from __future__ import annotations

import argparse
from typing import Any, Tuple

from otel_import_tracer.version import __version__

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
    _add_lazy_parser(commands)
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
  otel-import-tracer diff reports/main/ reports/branch/ --fail-if-module-slower 20 --fail-if-slower 10% --format markdown
  otel-import-tracer diff --base a1.json --base a2.json --head b1.json --head b2.json --budget-ms 2000
  otel-import-tracer diff --tempo http://tempo:3200 --service api --since 7d \\
      --base-resource service.version=1.4.0 --head-resource service.version=1.5.0
  otel-import-tracer diff reports/main/ --jaeger http://jaeger:16686 --service api --since 2h

Each side is one or more startups: a report is one, a saved trace (the Collector's file
exporter, Tempo, Jaeger) one per app.startup span, a directory every *.json and *.jsonl in it.
With --tempo or --jaeger, a side given no file is pulled from the backend.
With several startups a side's figures are medians, with their spread (MAD); a difference within
3 x (MAD base + MAD head), or under 1 ms, is noise: not a change, and no gate fails on it. Give
each side 5 startups, base and head interleaved. Logs have no timings: use the reports.

exit status: 0 done, 1 a gate (--fail-if-module-slower, --fail-if-slower, --fail-if-new-modules,
--budget-ms) failed, 2 bad usage or input, or a gate the inputs cannot answer (no startup completed).
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
    diff.add_argument("--fail-if-module-slower", type=_milliseconds, metavar="MS",
                      help="exit 1 if a module's self time grew by more than MS, beyond the noise (e.g. 20)")
    diff.add_argument("--fail-if-slower", type=_percent, metavar="PCT",
                      help="exit 1 if the startup time grew by more than PCT (e.g. 10%%), beyond the noise")
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


_LAZY_EPILOG = """examples:
  IMPORT_TRACING_LAZY_PLAN=true IMPORT_TRACING_REPORT=/tmp/imports-{pid}.json uvicorn src.main:app   # on 3.15
  otel-import-tracer lazy /tmp/
  otel-import-tracer lazy reports/*.json --format markdown --exclude src.plugins
  otel-import-tracer lazy --tempo http://tempo:3200 --service shop --since 2h

exit status: 0 done, 2 bad usage or input, or reports of Python before 3.15 (no lazy imports).
"""


def _add_lazy_parser(commands: Any) -> None:
    lazy = commands.add_parser(
        "lazy",
        help="say which import statements of your code could be lazy (Python 3.15+ runs)",
        description="From the reports or traces of a run on Python 3.15+ (best in plan mode, IMPORT_TRACING_LAZY_PLAN=true,\n"
        "where every import statement of the root's code is made lazy for the run), merged over processes:\n"
        "each statement as never (never used), after_startup (first used by a request) or during_startup\n"
        "(startup needs it), with the startup milliseconds at stake, biggest first, and the line to paste.",
        epilog=_LAZY_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    lazy.add_argument("inputs", nargs="*", metavar="INPUT", help="JSON reports, saved traces (OTLP JSON), or directories of them")
    lazy.add_argument("--format", choices=("text", "json", "markdown"), default="text", help="output format (default: %(default)s)")
    lazy.add_argument("--exclude", action="append", default=[], metavar="MODULE",
                      help="leave a module (or pattern) out: one imported for its side effects must stay eager; "
                      "repeatable (default: none)")
    _add_backend_options(lazy, "pull every app.startup trace of a window, and what came after it (lazy loads, imports never used)")
