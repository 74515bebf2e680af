"""The container log reader: the tracer's own shutdown blocks in a log, one process record each.

The tracer prints them on stdout at stop (``otel_import_tracer.logs`` writes them); a log holds
them among the application's lines, perhaps interleaved with other workers' blocks. Each block is
one process: its pid and root, and a ``records.Module`` per file and module name its lines carry
(a file paired with the module line naming it; no times: the lines carry none)."""

from __future__ import annotations

import dataclasses
import re
from typing import Iterable, List, Optional, Sequence, Set, Tuple

from otel_import_tracer.logs import FILE_PREFIX, MODULE_PREFIX, unescape
from otel_import_tracer.naming import SOURCE_SUFFIX, module_name_for
from otel_import_tracer.reading.files import InputError
from otel_import_tracer.reading.records import Module, Process

# "Stopping runtime file tracing... (pid 42)" starts a block (no pid before 0.2);
# "Total unique /app/src/*.py files loaded: 12" opens its LOADED_SRC_FILE lines and
# "Total unique src.* modules loaded: 12" its LOADED_MODULE lines.
_STOPPING = re.compile(r"Stopping runtime file tracing\.\.\.(?: \(pid (?P<pid>\d{1,12})\))?\s*$")
_TOTAL = "Total unique "
_FILES_TOTAL = re.compile(r"(?P<root>.+)/\*\.py files loaded: (?P<count>\d{1,9})\s*$")  # after _TOTAL, see _total
_MODULES_TOTAL = re.compile(r"(?P<package>.+)\.\* modules loaded: (?P<count>\d{1,9})\s*$")  # after _TOTAL, see _total


@dataclasses.dataclass
class LogInput:
    """What one container log says loaded: a process record per block (``processes``), and over
    all of them, the files, module names and roots its lines printed."""

    path: str
    files: List[str] = dataclasses.field(default_factory=list)
    modules: List[str] = dataclasses.field(default_factory=list)
    roots: List[str] = dataclasses.field(default_factory=list)
    processes: List[Process] = dataclasses.field(default_factory=list)



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
        if not self.headers_seen and self.loose:
            lines = _Group(0)  # one process of unknown pid and root: the lines were grepped out of their blocks
            for number, prefix, value in self.loose:
                self._take(number, prefix, value, lines)
            self._emit(lines)
        if not self.result.files and not self.result.modules:
            raise InputError(self.result.path, None, _NO_LINES)
        return self.result

    def _loaded(self, number: int, prefix: str, decoration: str, value: str) -> None:
        group = self.group
        if group is None or decoration not in group.decorations:
            if not self.headers_seen:
                self.loose.append((number, prefix, value))
            return  # someone else's line, or one between blocks
        if self._take(number, prefix, value, group):
            self._count(number, group, "files" if prefix == FILE_PREFIX else "modules", prefix)

    def _take(self, number: int, prefix: str, value: str, group: "_Group") -> bool:
        """Record a file or module; False (and a problem) if the value is not one (a cut line).

        A module is any name (``0000_squashed``, ``seed-db``, ``café``: Python loads them all
        from files); a line cut short is told by the block's totals, not by its name."""
        if prefix == FILE_PREFIX:
            if value.endswith(SOURCE_SUFFIX) and value.startswith("/"):
                self.result.files.append(value)
                group.file_lines.append(value)
                return True
            self._bad(number, f"{FILE_PREFIX.strip()} should be followed by an absolute .py path, not {value[:60]!r} (a cut line?)")
            return False
        if value:
            self.result.modules.append(value)
            group.module_lines.append(value)
            return True
        self._bad(number, f"{MODULE_PREFIX.strip()} should be followed by a module name (a cut line?)")
        return False

    def _count(self, number: int, group: "_Group", kind: str, prefix: str) -> None:
        if getattr(group, kind).expect():
            if group.complete():
                self._end_group()
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
            root = unescape(files.group("root"))
            self.result.roots.append(root)
            self._join(number).open_block(int(files.group("count")), announcer[1], decoration, root)
            return
        modules, start = _total(_MODULES_TOTAL, line)
        if modules is not None:
            group = self.group
            if group is None or _decoration(line, start) not in group.decorations:
                return
            group.modules_announced(int(modules.group("count")))
            if group.complete():  # a block of no modules ends at its total
                self._end_group()

    def _join(self, number: int) -> "_Group":
        if self.group is None:
            self.group = _Group(number)
        return self.group

    def _end_group(self) -> None:
        if self.group is not None:
            self._emit(self.group)
        self.group = None

    def _emit(self, group: "_Group") -> None:
        """The process of a block (of overlapping blocks: one for them all, their lines being mixed)."""
        if group.file_lines or group.module_lines:
            self.result.processes.append(block_process(self.result.path, group.roots, group.blocks, group.file_lines, group.module_lines))

    def _close_group(self) -> None:
        group, self.group = self.group, None
        if group is None:
            return
        self._emit(group)  # a cut block: its good lines still count
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
        self.roots: List[str] = []
        self.file_lines: List[str] = []
        self.module_lines: List[str] = []

    def open_block(self, files: int, pid: Optional[str], decoration: str, root: str) -> None:
        self.blocks.append(pid)
        self.roots.append(root)
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


def block_process(path: str, roots: Sequence[str], pids: Sequence[Optional[str]], files: Sequence[str],
                  modules: Sequence[str]) -> Process:
    """A block's lines as a process record: each file with the module line that names it (the
    module name its path has under the block's root), then the module lines no file line named.
    A file without its module line has no name, a module without its file line no file: the audit
    places each by what it has. No times: the lines carry none."""
    root = roots[0] if roots and len(set(roots)) == 1 else ""
    names = set(modules)
    paired: Set[str] = set()
    records: List[Module] = []
    prefix = root.rstrip("/") + "/"
    for file in dict.fromkeys(files):
        name = module_name_for(file, root.rstrip("/")) if root and file.startswith(prefix) else ""
        if name not in names:
            name = ""
        paired.add(name)
        records.append(_loaded(name, file))
    records.extend(_loaded(name, "") for name in dict.fromkeys(modules) if name not in paired)
    printed = [int(pid) for pid in pids if pid]
    header = {"root": root, "pid": printed[0] if len(pids) == 1 and printed else None, "pids": printed}
    return Process(path, header, records, [], [])


def _loaded(name: str, file: str) -> Module:
    return Module(name, file, None, None, None, "", False, False, "log")  # type: ignore[arg-type]  # no time in a log
