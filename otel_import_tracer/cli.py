"""``otel-import-tracer run | exec | demo | audit | report | diff | lazy``."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any, Dict, List, Optional, Sequence, Tuple

from otel_import_tracer.messages import printable

PROG = "otel-import-tracer"
EXIT_UNUSED = 1  # --fail-if-unused found never-loaded files
EXIT_ERROR = 2  # bad usage or bad input
_PROBLEMS_SHOWN = 20

from otel_import_tracer.cli_parser import build_parser  # noqa: E402  (the parser, with its help texts)


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
    if options.command in ("audit", "report", "diff", "lazy"):
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
        if options.command == "lazy":
            return _lazy(options)
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
    from otel_import_tracer.reading import diff, kinds
    from otel_import_tracer.reading.render import diff as render
    from otel_import_tracer.reading.render import kinds as render_kinds

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
    gates = diff.Gates(options.fail_if_slower, options.fail_if_new_modules, options.budget_ms, options.fail_if_module_slower)
    comparison = kinds.compare(*sides)
    if not comparison.single:  # several kinds of process: each compared with its own kind
        text, failed_any, unknown_any = render_kinds.output(comparison, gates, options.format, options.top)
        sys.stdout.write(text)
        return EXIT_ERROR if unknown_any else EXIT_GATE if failed_any else 0
    result = comparison.groups[0][1]
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


def _lazy(options: argparse.Namespace) -> int:
    """The lazy plan of the inputs (reports and traces of Python 3.15+ runs, or a backend's) on stdout."""
    from otel_import_tracer.reading import lazy_plan, sources
    from otel_import_tracer.reading.render import lazy_plan as lazy_plan_render

    orphan = _backend_orphan(options, ())
    if orphan:
        return _fail(orphan)
    if not options.inputs and not (options.tempo or options.jaeger):
        return _fail("pass the reports or saved traces of a 3.15 run (files or directories), or --tempo/--jaeger URL")
    files, problem = sources.expand_directories(options.inputs)
    if problem:
        return _fail(problem)
    inputs, problems = sources.read_inputs(files, sys.stdin, skip_bad=False)
    if problems:
        _print_problems(problems, False)
        return _fail("bad input (above)")
    if options.tempo or options.jaeger:
        pulled, problem = _pull(options, _Query(options.since, options.start, options.end, dict(options.resource)), lazy=True)
        if pulled is None:
            return _fail(problem)
        inputs.append(pulled)
    processes: List[Any] = []
    for item in inputs:
        if item.kind == sources.LOG:
            return _fail(f"{item.path}: a log has no lazy imports; pass the JSON reports (IMPORT_TRACING_REPORT)")
        processes += item.processes
    try:
        plan = lazy_plan.make_plan(processes, options.exclude)
    except lazy_plan.NoPlan as why:
        return _fail(str(why))
    sys.stdout.write(lazy_plan_render.render(plan, options.format))
    return 0


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
