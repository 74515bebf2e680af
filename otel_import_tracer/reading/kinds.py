"""Kinds of process, so that ``diff`` compares like with like and ``audit`` and the page say what
each process was.

A process's kind is its role and entry (``records.Process.kind``: ``("server", "uvicorn")``,
``("script", "pkg")``). A folder of reports from a deployment holds several kinds (a web server,
a code server, a job's steps): ``compare`` diffs each kind of one side with the same kind of the
other, and lists the kinds found on one side only. Processes that say no kind (reports and
traces written before kinds existed) are compared as before: when a side says no kind at all,
both sides are one group each.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Dict, List, Optional, Sequence, Tuple

from otel_import_tracer import semconv
from otel_import_tracer.reading.records import Process

if TYPE_CHECKING:
    from otel_import_tracer.reading.diff import DiffResult

Kind = Optional[Tuple[str, Optional[str]]]


def label(kind: Kind) -> str:
    """``server: uvicorn``, ``script: pkg``, ``worker``; ``any`` for processes that said none."""
    if kind is None:
        return "any"
    role, entry = kind
    return role if entry is None else f"{role}: {entry}"


def grouped(processes: Sequence[Process]) -> Dict[Kind, List[Process]]:
    """The processes by kind, kinds in a fixed order (``_rank``): servers first, whatever order
    the inputs came in (a folder's reports are listed by name, and a name says nothing of kind)."""
    groups: Dict[Kind, List[Process]] = {}
    for process in processes:
        groups.setdefault(process.kind, []).append(process)
    return {kind: groups[kind] for kind in sorted(groups, key=_rank)}


_ROLES = (semconv.ROLE_SERVER, semconv.ROLE_WORKER, semconv.ROLE_SUPERVISOR, semconv.ROLE_SCRIPT)


def _rank(kind: Kind) -> Tuple[int, str, str]:
    if kind is None:
        return (len(_ROLES) + 1, "", "")
    role, entry = kind
    return (_ROLES.index(role) if role in _ROLES else len(_ROLES), role, entry or "")


def counts(processes: Sequence[Process]) -> List[Tuple[str, int]]:
    """``(label, processes)`` per kind, most first; empty when no process said its kind."""
    groups = grouped(processes)
    if set(groups) == {None}:
        return []
    return sorted(((label(kind), len(found)) for kind, found in groups.items()), key=lambda item: (-item[1], item[0]))


@dataclasses.dataclass
class Comparison:
    """Each kind on both sides, diffed with itself; the kinds on one side only, with their startups."""

    groups: List[Tuple[Kind, "DiffResult"]]
    base_only: List[Tuple[Kind, int]]
    head_only: List[Tuple[Kind, int]]

    @property
    def single(self) -> bool:
        """One kind on each side, the same (or unsaid): the diff is the plain one, as before kinds."""
        return len(self.groups) == 1 and not self.base_only and not self.head_only


def compare(base: Sequence[Process], head: Sequence[Process]) -> Comparison:
    from otel_import_tracer.reading.diff import diff  # audit and the page need only the labels

    before, after = grouped(base), grouped(head)
    if set(before) == {None} or set(after) == {None}:  # a side that says no kind: all of it, as before
        return Comparison([(None, diff(base, head))], [], [])
    return Comparison(
        [(kind, diff(before[kind], after[kind])) for kind in before if kind in after],
        [(kind, len(found)) for kind, found in before.items() if kind not in after],
        [(kind, len(found)) for kind, found in after.items() if kind not in before],
    )
