"""``otel-import-tracer run | demo | audit | report``."""

from __future__ import annotations

import argparse
import sys
from typing import List, Optional, Sequence

from otel_import_tracer.version import __version__

_RUN_HELP = """\
usage: otel-import-tracer run APP [uvicorn options]

Run uvicorn with import tracing started before APP (e.g. src.main:app) is imported.
Every option is passed to uvicorn; see `otel-import-tracer run --help`.
With ENABLE_IMPORT_TRACING=true, --reload is turned off.
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="otel-import-tracer",
        description="Trace which of your own modules a Python service loads.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.add_parser("run", help="run uvicorn with import tracing (options pass to uvicorn)", add_help=False)

    demo = commands.add_parser("demo", help="run the demo service with tracing on, no collector needed")
    demo.add_argument("--host", default="127.0.0.1")
    demo.add_argument("--port", type=int, default=8000)
    demo.add_argument(
        "--exercise",
        action="store_true",
        help="call every endpoint once the service is up, then shut it down (prints the shutdown lines)",
    )
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    args: List[str] = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] == "run":
        # Everything after `run` belongs to uvicorn, --help included.
        if len(args) == 1:
            sys.stderr.write(_RUN_HELP)
            return 2
        from otel_import_tracer.launcher import run

        return run(args[1:])
    parser = build_parser()
    options = parser.parse_args(args)
    if options.command == "demo":
        from otel_import_tracer.demo import run_demo

        return run_demo(options.host, options.port, options.exercise)
    parser.print_help(sys.stderr)
    return 2
