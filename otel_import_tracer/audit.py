"""Never-loaded files: what many processes loaded (reports, container logs) against every ``.py`` under the root.

As coverage.py combines per-process data files with path remapping, the audit merges any
number of reports and logs, maps the paths they recorded (``/app/src`` in the container)
onto the local root (``./src``), and diffs that against a walk of the root. Loaded is not
used: a module that was imported may still hold dead code (coveragepy#643).
"""

from __future__ import annotations

import dataclasses
import fnmatch
import json
import os
import re
from typing import Any, Dict, Iterable, List, Optional, Sequence, Set, Tuple, Union

from otel_import_tracer.logs import FILE_PREFIX, MODULE_PREFIX, unescape
from otel_import_tracer.messages import printable
from otel_import_tracer.naming import SOURCE_SUFFIX, module_name_for, path_for
from otel_import_tracer.readers import otlp
from otel_import_tracer.report import InputError, Merge, Report, decode_report, parse_report, parse_report_text, read_bytes

AUDIT_SCHEMA = "otel-import-tracer/audit"
AUDIT_SCHEMA_VERSION = 1
STDIN = "-"
STDIN_NAME = "<stdin>"

# "Stopping runtime file tracing... (pid 42)" starts a block (no pid before 0.2);
# "Total unique /app/src/*.py files loaded: 12" opens its LOADED_SRC_FILE lines and
# "Total unique src.* modules loaded: 12" its LOADED_MODULE lines.
_STOPPING = re.compile(r"Stopping runtime file tracing\.\.\.(?: \(pid (?P<pid>\d{1,12})\))?\s*$")
_TOTAL = "Total unique "
_FILES_TOTAL = re.compile(r"(?P<root>.+)/\*\.py files loaded: (?P<count>\d{1,9})\s*$")  # after _TOTAL, see _total
_MODULES_TOTAL = re.compile(r"(?P<package>.+)\.\* modules loaded: (?P<count>\d{1,9})\s*$")  # after _TOTAL, see _total
_SKIPPED_DIRS = ("__pycache__",)


# -- inputs -----------------------------------------------------------------------------


@dataclasses.dataclass
class LogInput:
    """What one container log says loaded: files and module names, and the root it printed."""

    path: str
    files: List[str] = dataclasses.field(default_factory=list)
    modules: List[str] = dataclasses.field(default_factory=list)
    roots: List[str] = dataclasses.field(default_factory=list)


@dataclasses.dataclass
class TraceInput:
    """The processes of a saved trace (OTLP JSON), each as the report it would have written."""

    path: str
    reports: List[Report]


Input = Union[Report, LogInput, TraceInput]


def load_input(path: str, raw: bytes, problems: Optional[List[InputError]] = None) -> Input:
    """A trace (OTLP JSON), a report (``.json``, or JSON content) or a log. Bad log lines go to
    ``problems`` when given, else raise."""
    if otlp.looks_like_otlp(raw):
        return TraceInput(path, otlp.parse_otlp(decode_report(raw, path), path))
    if path.endswith(".json") or _looks_like_report(raw):
        return parse_report(raw, path)
    return parse_log(raw.decode("utf-8", errors="replace").splitlines(), path, problems)


def read_input(path: str, stdin: Any = None, problems: Optional[List[InputError]] = None) -> Input:
    """``load_input`` for a file name, or standard input for ``-``."""
    if path == STDIN:
        raw = read_bytes(STDIN_NAME, stdin.buffer) if hasattr(stdin, "buffer") else stdin.read().encode("utf-8", "surrogateescape")
        return load_input(STDIN_NAME, raw, problems)
    raw = read_bytes(path)
    if not otlp.looks_like_otlp(raw) and (path.endswith(".json") or _looks_like_report(raw)):
        text = decode_report(raw, path)
        del raw  # one copy of the input at a time
        return parse_report_text(text, path)
    return load_input(path, raw, problems)


def _looks_like_report(raw: bytes) -> bool:
    """JSON that is not a log of one JSON object per line (a truncated report counts as a report)."""
    text = raw.lstrip()
    if not text.startswith(b"{"):
        return False
    first_line = text.split(b"\n", 1)[0]
    try:
        head = json.loads(first_line)
    except (ValueError, RecursionError):  # nesting too deep is the report reader's to refuse, at its line
        return True
    return isinstance(head, dict) and "schema" in head


def parse_log(lines: Iterable[str], path: str, problems: Optional[List[InputError]] = None) -> LogInput:
    """The files and modules of the tracer's own blocks in a log; see ``_LogReader``."""
    reader = _LogReader(path, problems)
    for number, line in enumerate(lines, 1):
        reader.feed(number, line)
    return reader.finish()


_NO_LINES = (
    f"no {FILE_PREFIX.strip()} or {MODULE_PREFIX.strip()} lines: the tracer prints them on stdout when the "
    "service stops (SIGTERM, e.g. `docker stop`) with ENABLE_IMPORT_TRACING=true; pipe the log of a "
    "stopped container: docker logs app | otel-import-tracer audit --root ./src"
)
_MAX_PENDING = 1000  # "Stopping..." lines still waiting for their totals
_DIGITS = re.compile(r"\d+")


def _total(pattern: "re.Pattern[str]", line: str) -> Tuple[Optional["re.Match[str]"], int]:
    """The ``Total unique <root>/*.py files loaded: N`` (or ``<package>.* modules``) of a line, and
    where it starts. Only the first ``Total unique`` is tried: the root's ``.+`` spans any later
    one, so a later one matches only where the first does, and searching from each would take
    quadratic time (a line of 16,000 of them: 50 s)."""
    start = line.find(_TOTAL)
    if start < 0:
        return None, start
    return pattern.match(line, start + len(_TOTAL)), start


def _decoration(line: str, end: int) -> str:
    """What the log's transport put before our text (``docker logs -t``'s timestamp, compose's
    ``app-1  | ``, ``kubectl --prefix``'s ``[pod/...] ``), its numbers blurred: the timestamp
    changes from line to line, the rest of it does not."""
    return _DIGITS.sub("0", line[:end])


class _LogReader:
    """Line by line: the loaded files and modules of the tracer's own blocks, each checked
    against the totals its header announced.

    A block starts with ``Stopping runtime file tracing...``; its ``Total unique`` lines and its
    ``LOADED_*`` lines carry the same decoration before our text (see ``_decoration``). A
    ``LOADED_SRC_FILE:`` anywhere else (an application's message, a URL in an access log) is
    someone else's line and is not counted; nor are lines between blocks.

    Several workers of a service share one stdout and may stop at once: without the writer's
    lock (an older version, a log merged from several files) their blocks interleave line by
    line. So announced counts are pooled over the blocks that overlap, and checked when the
    overlap ends: every line is still counted, and a cut log is still told apart from
    interleaved ones. A log with no block at all (``grep LOADED_`` output) is taken as it is:
    every ``LOADED_*`` line counts."""

    def __init__(self, path: str, problems: Optional[List[InputError]]) -> None:
        self.result = LogInput(path)
        self.problems = problems
        self.headers_seen = False
        self.group: Optional[_Group] = None  # blocks whose lines are still coming
        self.pending: List[Tuple[str, Optional[str]]] = []  # (decoration, pid) of "Stopping..." lines awaiting their totals
        self.loose: List[Tuple[int, str, str]] = []  # LOADED_* lines before any block: counted if no block ever comes

    def feed(self, number: int, line: str) -> None:
        line = line.rstrip("\r\n")
        # The first prefix of the line is ours; a name may hold the other's text after it.
        at = line.find(FILE_PREFIX)
        module_at = line.find(MODULE_PREFIX, 0, len(line) if at < 0 else at + len(MODULE_PREFIX) - 1)
        prefix = FILE_PREFIX
        if module_at >= 0:
            at, prefix = module_at, MODULE_PREFIX
        if at >= 0:
            self._loaded(number, prefix, _decoration(line, at), unescape(line[at + len(prefix) :].strip()))
        else:
            self._other(number, line)

    def finish(self) -> LogInput:
        self._close_group()
        if not self.headers_seen:
            for number, prefix, value in self.loose:
                self._take(number, prefix, value)
        if not self.result.files and not self.result.modules:
            raise InputError(self.result.path, None, _NO_LINES)
        return self.result

    def _loaded(self, number: int, prefix: str, decoration: str, value: str) -> None:
        group = self.group
        if group is None or decoration not in group.decorations:
            if not self.headers_seen:
                self.loose.append((number, prefix, value))
            return  # someone else's line, or one between blocks
        if self._take(number, prefix, value):
            self._count(number, group, "files" if prefix == FILE_PREFIX else "modules", prefix)

    def _take(self, number: int, prefix: str, value: str) -> bool:
        """Record a file or module; False (and a problem) if the value is not one (a cut line).

        A module is any name (``0000_squashed``, ``seed-db``, ``café``: Python loads them all
        from files); a line cut short is told by the block's totals, not by its name."""
        if prefix == FILE_PREFIX:
            if value.endswith(SOURCE_SUFFIX) and value.startswith("/"):
                self.result.files.append(value)
                return True
            self._bad(number, f"{FILE_PREFIX.strip()} should be followed by an absolute .py path, not {value[:60]!r} (a cut line?)")
            return False
        if value:
            self.result.modules.append(value)
            return True
        self._bad(number, f"{MODULE_PREFIX.strip()} should be followed by a module name (a cut line?)")
        return False

    def _count(self, number: int, group: "_Group", kind: str, prefix: str) -> None:
        if getattr(group, kind).expect():
            if group.complete():
                self.group = None
        else:
            self._bad(number, f"more {prefix.strip()} lines than the block{'s' if len(group.blocks) > 1 else ''} from line {group.line} announced")

    def _other(self, number: int, line: str) -> None:
        stopping = _STOPPING.search(line)
        if stopping is not None:
            self.pending.append((_decoration(line, stopping.start()), stopping.group("pid")))
            del self.pending[:-_MAX_PENDING]
            return
        files, start = _total(_FILES_TOTAL, line)
        if files is not None:
            decoration = _decoration(line, start)
            announcer = next((entry for entry in self.pending if entry[0] == decoration), None)
            if announcer is None:
                return  # no "Stopping..." of ours before it: someone else's line
            self.pending.remove(announcer)
            self.headers_seen = True
            self.result.roots.append(unescape(files.group("root")))
            self._join(number).open_block(int(files.group("count")), announcer[1], decoration)
            return
        modules, start = _total(_MODULES_TOTAL, line)
        if modules is not None:
            group = self.group
            if group is None or _decoration(line, start) not in group.decorations:
                return
            group.modules_announced(int(modules.group("count")))
            if group.complete():  # a block of no modules ends at its total
                self.group = None

    def _join(self, number: int) -> "_Group":
        if self.group is None:
            self.group = _Group(number)
        return self.group

    def _close_group(self) -> None:
        group, self.group = self.group, None
        if group is None:
            return
        which = f"the blocks of pids {', '.join(group.pids())}" if len(group.blocks) > 1 else "it"
        self._bad(
            group.line,
            f"announces {group.files.announced} files but {group.files.seen} {FILE_PREFIX.strip()} lines follow, and "
            f"{group.modules.announced} modules but {group.modules.seen} {MODULE_PREFIX.strip()} lines "
            f"({which}; a cut log)",
        )

    def _bad(self, number: int, message: str) -> None:
        error = InputError(self.result.path, number, message)
        if self.problems is None:
            raise error
        self.problems.append(error)


class _Tally:
    def __init__(self) -> None:
        self.announced = 0
        self.seen = 0

    def expect(self) -> bool:
        """One more line; False if none was announced for it."""
        if self.seen >= self.announced:
            return False
        self.seen += 1
        return True

    def done(self) -> bool:
        return self.seen == self.announced


class _Group:
    """Blocks that overlap in the log (one, unless several processes printed at once)."""

    def __init__(self, line: int) -> None:
        self.line = line
        self.files = _Tally()
        self.modules = _Tally()
        self.blocks: List[Optional[str]] = []  # their pids, where printed
        self.waiting_for_modules = 0  # blocks whose modules total has not come yet
        self.decorations: Set[str] = set()  # what precedes our text on the blocks' lines

    def open_block(self, files: int, pid: Optional[str], decoration: str) -> None:
        self.blocks.append(pid)
        self.decorations.add(decoration)
        self.files.announced += files
        self.waiting_for_modules += 1

    def modules_announced(self, count: int) -> None:
        self.waiting_for_modules = max(0, self.waiting_for_modules - 1)
        self.modules.announced += count

    def complete(self) -> bool:
        return self.files.done() and self.modules.done() and self.waiting_for_modules == 0

    def pids(self) -> List[str]:
        return [pid or "?" for pid in self.blocks]


def read_inputs(paths: Sequence[str], stdin: Any, skip_bad: bool) -> Tuple[List[Input], List[InputError]]:
    """Every input that could be read, and the problems found. Without ``skip_bad`` a bad input is dropped whole."""
    inputs: List[Input] = []
    problems: List[InputError] = []
    for path in paths:
        found: List[InputError] = []
        try:
            loaded = read_input(path, stdin, found)
        except InputError as error:
            problems.append(error)
            continue
        problems.extend(found)
        if skip_bad or not found:
            inputs.append(loaded)
    return inputs, problems


# -- mapping recorded paths onto the local root -----------------------------------------


class PathMapper:
    """Recorded file (container path) -> the same file under the local root, or None."""

    # A fleet's reports repeat the same few thousand files; one huge report repeats none, and
    # caching all of its files would hold a second copy of every name.
    MAX_CACHED = 100_000

    def __init__(self, root: str, path_maps: Sequence[Tuple[str, str]] = ()) -> None:
        self.root = os.path.abspath(root)
        self.package = os.path.basename(self.root)
        # Longest prefix first, so /app/src/vendor=... wins over /app/src=...
        self._maps = sorted(((_strip_sep(old), os.path.abspath(new)) for old, new in path_maps), key=lambda item: -len(item[0]))
        # The same files recur in every report of a fleet: map each once.
        self._cache: Dict[Tuple[str, Optional[str], Optional[str]], Optional[str]] = {}

    def relocate(self, file: str, module: Optional[str], recorded_root: Optional[str]) -> Optional[str]:
        """By explicit map, by the input's recorded root, as is, or by the module name."""
        key = (file, module, recorded_root)
        try:
            return self._cache[key]
        except KeyError:
            local = self._relocate(file, module, recorded_root)
            if len(self._cache) < self.MAX_CACHED:
                self._cache[key] = local
            return local

    def _relocate(self, file: str, module: Optional[str], recorded_root: Optional[str]) -> Optional[str]:
        for old, new in self._maps:
            if file.startswith(old + "/"):
                return self._inside(_join(new, file[len(old) + 1 :]))
        if recorded_root and file.startswith(_strip_sep(recorded_root) + "/"):
            rest = file[len(_strip_sep(recorded_root)) + 1 :]
            return self._inside(_join(self.root, rest))
        if self._inside(file):
            return os.path.normpath(file)
        guess = self._by_ancestor(file)
        if guess is None and module:
            guess = self.file_for_module(module)
        return guess

    def file_for_module(self, module: str) -> Optional[str]:
        """The local file of a module name whose first part names the recorded root."""
        local_name = ".".join([self.package] + module.split(".")[1:])
        for candidate in path_for(local_name, self.root):
            if os.path.isfile(candidate):
                return candidate
        return None

    def _by_ancestor(self, file: str) -> Optional[str]:
        """``/somewhere/src/x.py`` with local root ``./src``: the shortest ancestor named like the root."""
        parts = file.split("/")
        for index, part in enumerate(parts[:-1]):
            if part == self.package:
                return self._inside(_join(self.root, "/".join(parts[index + 1 :])))
        return None

    def _inside(self, path: str) -> Optional[str]:
        if _UNNORMALIZED in path or _DOUBLE_SEP in path or path.endswith(os.sep):
            path = os.path.normpath(path)  # only where needed: this runs once per loaded file
        return path if path.startswith(self.root + os.sep) else None


def _join(directory: str, recorded_rest: str) -> str:
    """``directory`` and a recorded ``a/b.py`` (always ``/``-separated) as a local path."""
    return directory + os.sep + (recorded_rest if os.sep == "/" else recorded_rest.replace("/", os.sep))


_UNNORMALIZED = os.sep + "."
_DOUBLE_SEP = os.sep + os.sep


def _strip_sep(path: str) -> str:
    return path.rstrip("/") or "/"


def merge_inputs(inputs: Sequence[Input], mapper: PathMapper) -> Tuple[Merge, List[str]]:
    """Loaded files under the local root over all inputs, and the recorded files that map nowhere."""
    merged = Merge()
    outside: List[str] = []
    for item in inputs:
        if isinstance(item, (Report, TraceInput)):
            for report in item.reports if isinstance(item, TraceInput) else [item]:
                root = report.root or None  # a process seen only by its lazy loads recorded none
                outside.extend(merged.add_report(report, lambda file, module: mapper.relocate(file, module, root)))
        else:
            outside.extend(_add_log(merged, item, mapper))
    return merged, sorted(set(outside))


def _add_log(merged: Merge, log: LogInput, mapper: PathMapper) -> List[str]:
    merged.inputs += 1
    recorded_root = log.roots[0] if len(set(log.roots)) == 1 else None
    found: Dict[str, str] = {}
    outside = []
    for file in log.files:
        local = mapper.relocate(file, None, recorded_root)
        if local is None:
            outside.append(file)
        else:
            found[local] = module_name_for(local, mapper.root)
    for module in log.modules:
        local = mapper.file_for_module(module)
        if local is not None:
            found[local] = module_name_for(local, mapper.root)
    for local, module in found.items():  # once per log, however many lines named it
        merged.add(local, module)
    return outside


# -- the codebase -----------------------------------------------------------------------


def inventory(root: str, excludes: Sequence[str] = ()) -> Dict[str, str]:
    """Every ``.py`` file under ``root`` not excluded, with its module name."""
    root = os.path.abspath(root)
    files: Dict[str, str] = {}
    # A directory linked into the root is imported through the link, so its files are recorded
    # under the root: follow links, once per real directory (a link to an ancestor loops).
    visited = {os.path.realpath(root)}
    for directory, subdirs, names in os.walk(root, followlinks=True):
        kept = []
        for sub in sorted(subdirs):
            if sub in _SKIPPED_DIRS or sub.startswith("."):
                continue
            real = os.path.realpath(os.path.join(directory, sub))
            if real not in visited:
                visited.add(real)
                kept.append(sub)
        subdirs[:] = kept
        for name in names:
            path = os.path.join(directory, name)
            if name.endswith(SOURCE_SUFFIX) and not is_excluded(path, root, excludes):
                files[path] = module_name_for(path, root)
    return files


def is_excluded(path: str, root: str, excludes: Sequence[str]) -> bool:
    """Globs match the path relative to the root (``legacy/*``), or the absolute path."""
    if not excludes:
        return False  # the common case, asked once per loaded file: no relpath
    relative = os.path.relpath(path, root).replace(os.sep, "/")
    return any(fnmatch.fnmatchcase(relative, glob) or fnmatch.fnmatchcase(path, glob) for glob in excludes)


# -- the audit --------------------------------------------------------------------------


@dataclasses.dataclass
class AuditResult:
    """The inventory of the root against what the inputs loaded there."""

    root: str
    files: Dict[str, str]  # every file of the inventory -> module
    merged: Merge
    outside_root: List[str]  # recorded files that map to nothing under the root
    missing_locally: List[str]  # mapped under the root, but no such file here (code changed?)
    reports: int
    logs: int
    traces: int = 0  # trace files (OTLP JSON)
    traced_processes: int = 0  # the processes in them

    @property
    def never_loaded(self) -> List[str]:
        return sorted(file for file in self.files if file not in self.merged.files)

    @property
    def loaded_count(self) -> int:
        return len(self.files) - len(self.never_loaded)

    @property
    def loaded_percent(self) -> float:
        return round(100.0 * self.loaded_count / len(self.files), 1) if self.files else 0.0


def audit(inputs: Sequence[Input], root: str, excludes: Sequence[str] = (), path_maps: Sequence[Tuple[str, str]] = ()) -> AuditResult:
    """Merge the inputs onto ``root`` and compare with its files."""
    mapper = PathMapper(root, path_maps)
    files = inventory(mapper.root, excludes)
    merged, outside = merge_inputs(inputs, mapper)
    missing = sorted(
        file for file in merged.files if file not in files and not is_excluded(file, mapper.root, excludes) and not os.path.isfile(file)
    )
    reports = sum(isinstance(item, Report) for item in inputs)
    traces = [item for item in inputs if isinstance(item, TraceInput)]
    logs = len(inputs) - reports - len(traces)
    return AuditResult(mapper.root, files, merged, outside, missing, reports, logs, len(traces), sum(len(item.reports) for item in traces))


def recorded_roots(inputs: Sequence[Input]) -> List[str]:
    """The roots the inputs say they were taken under, to default ``--root``."""
    roots = set()
    for item in inputs:
        if isinstance(item, TraceInput):
            roots.update(report.root for report in item.reports if report.root)
        else:
            roots.update([item.root] if isinstance(item, Report) else item.roots)
    return sorted(roots)


def package_of(file: str, root: str) -> str:
    """The dotted name of the directory holding ``file``: files are grouped by it."""
    relative = os.path.relpath(os.path.dirname(file), os.path.dirname(root))
    return ".".join(relative.split(os.sep))


def never_loaded_by_package(result: AuditResult) -> List[Tuple[str, int, List[str]]]:
    """``(package, files in the package, never-loaded files)`` for each package with any."""
    sizes: Dict[str, int] = {}
    for file in result.files:
        package = package_of(file, result.root)
        sizes[package] = sizes.get(package, 0) + 1
    groups: Dict[str, List[str]] = {}
    for file in result.never_loaded:
        groups.setdefault(package_of(file, result.root), []).append(file)
    return [(package, sizes[package], groups[package]) for package in sorted(groups)]


# -- output -----------------------------------------------------------------------------


def format_text(result: AuditResult) -> str:
    """The never-loaded files by package, then totals.

    Names come from the disk and the inputs: each line goes through ``printable``, so an
    escape sequence or a newline in a file name shows as ``\\x1b`` or ``\\n``, never acts."""
    base = os.path.dirname(result.root)
    lines = [f"Never-loaded files under {result.root} ({_inputs_phrase(result)}):", ""]
    for package, size, files in never_loaded_by_package(result):
        lines.append(f"{package}  ({len(files)} of {size} files never loaded)")
        shown = [printable(os.path.relpath(file, base)) for file in files]
        width = max(len(name) for name in shown)
        for file, name in zip(files, shown):
            lines.append(f"  {name:<{width}}  {result.files[file]}")
        lines.append("")
    if not result.never_loaded:
        lines += ["(none: every file loaded at least once)", ""]
    lines.append(
        f"Total: {len(result.files)} files, {result.loaded_count} loaded ({result.loaded_percent}%), "
        f"{len(result.never_loaded)} never loaded."
    )
    lines.extend(_caveats(result))
    lines.append("Loaded means imported at least once in these runs, not that its code is used.")
    return "".join(printable(line) + "\n" for line in lines)


def _inputs_phrase(result: AuditResult) -> str:
    phrase = f"{_plural(result.reports, 'report')}, {_plural(result.logs, 'log')}"
    if result.traces:
        phrase += f", {_plural(result.traces, 'trace file')} of {result.traced_processes} process{'' if result.traced_processes == 1 else 'es'}"
    return phrase


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def _caveats(result: AuditResult) -> List[str]:
    lines = []
    if result.outside_root:
        lines.append(
            f"Could not place {_plural(len(result.outside_root), 'loaded file')} under {result.root} "
            f"(e.g. {result.outside_root[0]}): check --root, or add --path-map RECORDED=LOCAL."
        )
    if result.missing_locally:
        lines.append(
            f"Not found here: {_plural(len(result.missing_locally), 'loaded file')} "
            f"(e.g. {result.missing_locally[0]}); the code changed since these runs?"
        )
    return lines


def to_json(result: AuditResult) -> Dict[str, Any]:
    """The audit as a JSON document (``--format json``)."""
    never = result.never_loaded
    return {
        "schema": AUDIT_SCHEMA,
        "schema_version": AUDIT_SCHEMA_VERSION,
        "root": result.root,
        "inputs": {"reports": result.reports, "logs": result.logs, "traces": result.traces, "traced_processes": result.traced_processes},
        "totals": {
            "files": len(result.files),
            "loaded": result.loaded_count,
            "never_loaded": len(never),
            "loaded_percent": result.loaded_percent,
        },
        "never_loaded": [
            {"package": package, "files_in_package": size, "files": [{"file": f, "module": result.files[f]} for f in files]}
            for package, size, files in never_loaded_by_package(result)
        ],
        "never_loaded_files": never,
        "never_loaded_modules": sorted(result.files[file] for file in never),
        "loaded": [
            {"file": file, "module": merged.module, "processes": merged.processes, "lazy_in": merged.lazy, "preloaded_in": merged.preloaded}
            for file, merged in sorted(result.merged.files.items())
            if file in result.files
        ],
        "outside_root": result.outside_root,
        "missing_locally": result.missing_locally,
    }


def format_json(result: AuditResult) -> str:
    return json.dumps(to_json(result), indent=2) + "\n"
