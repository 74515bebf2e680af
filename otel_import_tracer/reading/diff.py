"""``diff``: what changed in startup between two sets of runs (reports or saved traces).

Each side is one or more startups: a report is one, a saved trace holds one per
``app.startup`` span. Startups are noisy, so each side's figures are medians over its
startups: a module's import time (cumulative, and self: without every import begun inside its own,
modules of the root and dependencies alike, as ``-X importtime`` counts it)
over the startups that timed it, the startup time (to startup complete) over those that
completed; each with its spread (MAD). A difference within the noise of the two sides
(``reading/noise.py``) is not a change: not listed, and no gate fails on it. A module belongs to a side when it loaded during the startup of any of its runs;
lazy loads (after startup) depend on the requests served and are not compared. Dependency loads
(what the root's code imported from outside it) are compared by name, cumulative time, when both
sides recorded some (reports of version 2, dependencies on).

Modules are matched by name, not file: the two sides may come from different machines.
"""

from __future__ import annotations

import dataclasses
import statistics
from typing import Dict, List, Optional, Sequence, Tuple

from otel_import_tracer import semconv
from otel_import_tracer.reading import noise
from otel_import_tracer.reading.lazy_moves import LazyMove, lazy_moves, plan_mode
from otel_import_tracer.reading.records import Failure, Process
from otel_import_tracer.reading.timings import self_times

TOP = 10  # changes in import time shown by default

FailureKey = Tuple[str, Optional[str], str]  # what, imported by, exception type


@dataclasses.dataclass(frozen=True)
class Timing:
    """A module's import time on one side: medians over the startups that timed it (ms)."""

    cumulative_ms: Optional[float]
    self_ms: Optional[float]
    runs: int  # startups of the side in which it loaded
    self_spread_ms: float = 0.0  # the MAD of its self time over those startups
    self_fastest_ms: Optional[float] = None  # its smallest self time: what load cannot inflate

    @property
    def self_summary(self) -> noise.Summary:
        return self.self_ms, self.self_spread_ms, self.self_fastest_ms


NOT_LOADED = Timing(0.0, 0.0, 0, 0.0, 0.0)  # a module the side did not load: it cost nothing there


@dataclasses.dataclass
class Side:
    """One side of the diff: its startups, reduced to medians."""

    label: str
    startups: List[Process]
    modules: Dict[str, Timing]
    startup_ms: Optional[float]  # median time to startup complete; None if no startup completed
    failures: Dict[FailureKey, Failure]
    dependencies: Optional[Dict[str, Optional[float]]] = None  # name -> median ms; None: none recorded
    startup_spread_ms: float = 0.0  # the MAD of the time to startup complete
    dependency_spreads: Dict[str, float] = dataclasses.field(default_factory=dict)  # name -> MAD
    startup_fastest_ms: Optional[float] = None
    dependency_fastest: Dict[str, Optional[float]] = dataclasses.field(default_factory=dict)  # name -> smallest ms

    @property
    def startup_summary(self) -> noise.Summary:
        return self.startup_ms, self.startup_spread_ms, self.startup_fastest_ms

    @property
    def plan_runs(self) -> int:
        """Its startups in lazy plan mode: their laziness was the tracer's, not the code's."""
        return sum(1 for process in self.startups if plan_mode(process))


@dataclasses.dataclass(frozen=True)
class DependencyChange:
    """A dependency loaded at startup on both sides, with its median cumulative time on each."""

    name: str
    base_ms: Optional[float]
    head_ms: Optional[float]
    base_spread_ms: float = 0.0
    head_spread_ms: float = 0.0
    base_fastest_ms: Optional[float] = None
    head_fastest_ms: Optional[float] = None

    @property
    def delta_ms(self) -> Optional[float]:
        return _delta(self.base_ms, self.head_ms)

    @property
    def noise_ms(self) -> float:
        return noise.noise_ms(self._base, self._head)

    @property
    def is_change(self) -> bool:
        return noise.beyond(self._base, self._head)

    @property
    def _base(self) -> noise.Summary:
        return self.base_ms, self.base_spread_ms, self.base_fastest_ms

    @property
    def _head(self) -> noise.Summary:
        return self.head_ms, self.head_spread_ms, self.head_fastest_ms


@dataclasses.dataclass(frozen=True)
class Change:
    """A module loaded on both sides, with its import time on each."""

    name: str
    base: Timing
    head: Timing

    @property
    def self_delta_ms(self) -> Optional[float]:
        return _delta(self.base.self_ms, self.head.self_ms)

    @property
    def cumulative_delta_ms(self) -> Optional[float]:
        return _delta(self.base.cumulative_ms, self.head.cumulative_ms)

    @property
    def noise_ms(self) -> float:
        """How far beyond the faster side's typical self time the other side's fastest run must be."""
        return noise.noise_ms(self.base.self_summary, self.head.self_summary)

    @property
    def is_change(self) -> bool:
        """Self time moved beyond the noise: every run of the slower side (``reading/noise.py``)."""
        return noise.beyond(self.base.self_summary, self.head.self_summary)


@dataclasses.dataclass
class DiffResult:
    base: Side
    head: Side
    added: List[str]
    removed: List[str]
    new_failures: List[Failure]
    fixed_failures: List[Failure]
    changes: List[Change]  # self time changed beyond the noise; biggest change first
    dependencies_added: List[str] = dataclasses.field(default_factory=list)
    dependencies_removed: List[str] = dataclasses.field(default_factory=list)
    dependency_changes: List[DependencyChange] = dataclasses.field(default_factory=list)  # beyond noise, biggest first
    unchanged: List[Change] = dataclasses.field(default_factory=list)  # self time moved within the noise: not changes
    lazy_moves: List[LazyMove] = dataclasses.field(default_factory=list)  # imports gone lazy or back to eager

    @property
    def dependencies_compared(self) -> bool:
        return self.base.dependencies is not None and self.head.dependencies is not None

    @property
    def within_noise(self) -> int:
        return len(self.unchanged)

    @property
    def startup_delta_ms(self) -> Optional[float]:
        return _delta(self.base.startup_ms, self.head.startup_ms)

    @property
    def startup_noise_ms(self) -> float:
        return noise.noise_ms(self.base.startup_summary, self.head.startup_summary)

    @property
    def startup_beyond_noise(self) -> bool:
        return noise.beyond(self.base.startup_summary, self.head.startup_summary)

    @property
    def startup_change_percent(self) -> Optional[float]:
        delta = self.startup_delta_ms
        if delta is None or not self.base.startup_ms:
            return None
        return 100.0 * delta / self.base.startup_ms


@dataclasses.dataclass(frozen=True)
class Gates:
    """The CI gates asked for; each that is set may fail the diff."""

    slower_percent: Optional[float] = None
    new_modules: bool = False
    budget_ms: Optional[float] = None
    module_slower_ms: Optional[float] = None  # a module's self time grew by more, beyond the noise

    def any(self) -> bool:
        return (self.slower_percent is not None or self.new_modules or self.budget_ms is not None
                or self.module_slower_ms is not None)


def startups(reports: Sequence[Process]) -> List[Process]:
    """The reports that hold a server's startup (a trace file may also give processes seen only by
    their lazy loads). A supervisor's (uvicorn's, whose entry point imported code of the root before
    starting workers that import it again) is not one: its time is not an application's startup."""
    return [
        r for r in reports
        if r.role != semconv.ROLE_SUPERVISOR
        and (r.startup_complete_ms is not None or any(not m.lazy for m in r.modules))
    ]


def side(label: str, reports: Sequence[Process]) -> Side:
    """Reduce the startups of one side to medians."""
    cumulative: Dict[str, List[float]] = {}
    own: Dict[str, List[float]] = {}
    runs: Dict[str, int] = {}
    failures: Dict[FailureKey, Failure] = {}
    dependency_times: Dict[str, List[float]] = {}
    recorded = False
    for report in reports:
        for dependency in report.dependencies:
            if not dependency.lazy:
                recorded = True
                times = dependency_times.setdefault(dependency.name, [])
                if dependency.duration_ms is not None:
                    times.append(dependency.duration_ms)
        entries = [entry for entry in report.modules if not entry.lazy]
        timed = [entry for entry in entries if entry.duration_ms is not None]
        startup_dependencies = [dependency for dependency in report.dependencies if not dependency.lazy]
        for name, value in self_times(timed, None, startup_dependencies).items():
            own.setdefault(name, []).append(value)
        for name in {entry.name for entry in entries}:
            runs[name] = runs.get(name, 0) + 1
        for entry in timed:
            cumulative.setdefault(entry.name, []).append(entry.duration_ms)
        for failure in report.failed_imports:
            failures.setdefault((failure.name, failure.importer, failure.exception_type), failure)
    modules = {}
    for name, count in runs.items():
        self_ms, self_spread, self_fastest = noise.summary(own.get(name))
        modules[name] = Timing(_median(cumulative.get(name)), self_ms, count, self_spread, self_fastest)
    complete = [r.startup_complete_ms for r in reports if r.startup_complete_ms is not None]
    startup_ms, startup_spread, startup_fastest = noise.summary(complete)
    spread = {name: noise.summary(times) for name, times in dependency_times.items()}
    dependencies = {name: middle for name, (middle, _, _) in spread.items()} if recorded else None
    return Side(label, list(reports), modules, startup_ms, failures, dependencies, startup_spread,
                {name: mad for name, (_, mad, _) in spread.items()}, startup_fastest,
                {name: fastest for name, (_, _, fastest) in spread.items()})


def diff(base: Sequence[Process], head: Sequence[Process]) -> DiffResult:
    before, after = side("base", base), side("head", head)
    both = sorted(set(before.modules) | set(after.modules))
    # A module on one side only is a change of all its time (from or to nothing): a new module that
    # is slow is the biggest change, not its importer's cumulative nor anybody's noise.
    # A change of self time within the noise of the two sides is none: not listed, no gate fails on it.
    compared = [Change(name, before.modules.get(name, NOT_LOADED), after.modules.get(name, NOT_LOADED)) for name in both]
    compared = [change for change in compared if change.self_delta_ms is not None or change.cumulative_delta_ms is not None]
    changes = [change for change in compared if change.is_change]
    changes.sort(key=lambda change: (-abs(change.self_delta_ms or 0.0), -abs(change.cumulative_delta_ms or 0.0), change.name))
    old, new = before.dependencies or {}, after.dependencies or {}
    both_recorded = before.dependencies is not None and after.dependencies is not None
    dependency_changes = [
        DependencyChange(name, old[name], new[name], before.dependency_spreads.get(name, 0.0), after.dependency_spreads.get(name, 0.0),
                         before.dependency_fastest.get(name), after.dependency_fastest.get(name))
        for name in sorted(set(old) & set(new))
    ] if both_recorded else []
    dependency_changes = [change for change in dependency_changes if change.is_change]
    dependency_changes.sort(key=lambda change: (-abs(change.delta_ms or 0.0), change.name))
    return DiffResult(
        base=before,
        head=after,
        added=sorted(set(after.modules) - set(before.modules)),
        removed=sorted(set(before.modules) - set(after.modules)),
        new_failures=[after.failures[key] for key in sorted(set(after.failures) - set(before.failures), key=_failure_order)],
        fixed_failures=[before.failures[key] for key in sorted(set(before.failures) - set(after.failures), key=_failure_order)],
        changes=changes,
        dependencies_added=sorted(set(new) - set(old)) if both_recorded else [],
        dependencies_removed=sorted(set(old) - set(new)) if both_recorded else [],
        dependency_changes=dependency_changes,
        unchanged=[change for change in compared if not change.is_change],
        lazy_moves=lazy_moves(before.startups, after.startups),
    )


def check(result: DiffResult, gates: Gates) -> Tuple[List[str], List[str]]:
    """``(failed, unknown)``: the gates that failed, and those the inputs cannot answer, each as a sentence."""
    failed: List[str] = []
    unknown: List[str] = []
    head_ms, base_ms = result.head.startup_ms, result.base.startup_ms
    if gates.slower_percent is not None:
        percent = result.startup_change_percent
        if percent is None:
            unknown.append(f"--fail-if-slower: no startup time on {'the base' if not base_ms else 'the head'} side (no startup completed)")
        elif percent > gates.slower_percent and result.startup_beyond_noise:
            failed.append(
                f"--fail-if-slower {gates.slower_percent:g}%: startup is {percent:+.1f}% "
                f"({_ms(base_ms)} -> {_ms(head_ms)}, beyond the noise of ±{result.startup_noise_ms:.1f} ms)"
            )
    if gates.module_slower_ms is not None:
        slower = [change for change in result.changes if (change.self_delta_ms or 0.0) > gates.module_slower_ms]
        if slower:
            failed.append(
                f"--fail-if-module-slower {gates.module_slower_ms:g} ms: {len(slower)} module{'' if len(slower) == 1 else 's'} "
                "slower in self time, beyond the noise (" + ", ".join(
                    f"{change.name} {change.self_delta_ms:+.1f} ms" for change in slower[:5]) + (", ...)" if len(slower) > 5 else ")")
            )
    if gates.new_modules and result.added:
        failed.append(f"--fail-if-new-modules: {len(result.added)} new at startup ({', '.join(result.added[:5])}{', ...' if len(result.added) > 5 else ''})")
    if gates.budget_ms is not None:
        if head_ms is None:
            unknown.append("--budget-ms: no startup time on the head side (no startup completed)")
        elif head_ms > gates.budget_ms:
            failed.append(f"--budget-ms {gates.budget_ms:g}: startup took {_ms(head_ms)}")
    return failed, unknown



# -- helpers ----------------------------------------------------------------------------


def _median(values: Optional[List[float]]) -> Optional[float]:
    return statistics.median(values) if values else None


def _delta(before: Optional[float], after: Optional[float]) -> Optional[float]:
    return None if before is None or after is None else after - before


def _failure_order(key: FailureKey) -> Tuple[str, str, str]:
    return key[0], key[1] or "", key[2]



def _ms(value: Optional[float]) -> str:
    return "?" if value is None else f"{value:.1f} ms"


