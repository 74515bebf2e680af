"""How loads are observed, and the one place that picks how.

Every collector runs the import hook, which gives each import its timing, importer,
thread and failures at a cost paid per import only, and times a root file run through a
loader by hand as well (``spec_from_file_location``, ``SourceFileLoader``); runpy and the
script are watched by ``collectors/byhand.py``. The collector named in ``IMPORT_TRACING_COLLECTOR`` decides what
else watches for code of the root that runs in a way nothing can be patched for (a bare
``exec(compile(open(path).read(), path, "exec"))``):

- ``importhook``: nothing else; ``sys.modules`` sweeps at start, startup and stop fill in.
- ``audit``: the interpreter's ``exec`` audit event (``collectors/audit.py``), once per code
  object run by ``exec``; an audit hook stays for the life of the process, and with it a
  cost in the interpreter per audit event (FastAPI raises five per request).
- ``monitoring``: ``sys.monitoring`` ``PY_START``, once per code object (Python 3.12+).
- ``settrace``: the original design's ``sys.settrace``, on every call, for the whole run.

``auto`` is the cheapest for the running Python: ``monitoring`` on 3.12+, ``importhook`` before.
"""

from __future__ import annotations

import sys
TYPE_CHECKING = False  # typing is not imported at run time: the app would find it already paid for

from otel_import_tracer import env, messages
from otel_import_tracer.naming import SourceRoot
from otel_import_tracer.record import FrozenRecord
from otel_import_tracer.registry import Registry

if TYPE_CHECKING:
    from typing import List, Optional, Protocol, Tuple

    from otel_import_tracer.collectors.importhook import OnImport
else:
    Protocol = object  # the contract is for the type checker; at run time a plain base


class Collector(Protocol):
    """Observes loads under a root and writes them to a registry."""

    name: str

    def start(self) -> None: ...

    def stop(self) -> None: ...


class Choice(FrozenRecord):
    __slots__ = ("name", "reason")

    def __init__(self, name: str, reason: str) -> None:
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "reason", reason)


def choose(requested: str) -> Choice:
    """Resolve ``auto`` and impossible requests to a collector that works here, saying why."""
    if requested == "auto":
        if env.HAS_MONITORING:
            return Choice("monitoring", "auto: sys.monitoring is available (Python 3.12+)")
        return Choice("importhook", "auto: no sys.monitoring before Python 3.12, the import hook costs least")
    if requested == "monitoring" and not env.HAS_MONITORING:
        messages.warn(
            "monitoring-unavailable",
            "IMPORT_TRACING_COLLECTOR=monitoring needs Python 3.12 or newer (sys.monitoring); "
            "using importhook. Set IMPORT_TRACING_COLLECTOR=auto to silence this.",
        )
        return Choice("importhook", "monitoring requested but unavailable")
    return Choice(requested, "requested")


def start_collectors(
    choice: Choice, registry: Registry, root: SourceRoot, on_import: Optional["OnImport"] = None, lazy_plan: bool = False
) -> Tuple[str, List[Collector]]:
    """Start the import hook and the chosen collector; return the name actually running.

    ``on_import``: modules to hand to a callback once imported (the server patches). ``lazy_plan``:
    make the root's import statements lazy (Python 3.15+, ``IMPORT_TRACING_LAZY_PLAN``)."""
    from otel_import_tracer.collectors import byhand
    from otel_import_tracer.collectors.byhand import ByHandCollector
    from otel_import_tracer.collectors.importhook import ImportHookCollector

    if byhand.RUNPY_ON_IMPORT and "runpy" not in sys.modules:
        on_import = {**(on_import or {}), "runpy": byhand.patch_runpy}
    hook = ImportHookCollector(registry, root, on_import)
    hook.start()
    started: List[Collector] = [hook]
    name = choice.name
    try:
        by_hand = ByHandCollector(registry, root)
        by_hand.start()
        started.append(by_hand)
        if name == "monitoring":
            from otel_import_tracer.collectors.monitoring import MonitoringCollector, MonitoringUnavailable

            monitor = MonitoringCollector(registry, root)
            try:
                monitor.start()
            except MonitoringUnavailable as exc:
                messages.warn(
                    "monitoring-unavailable",
                    f"{exc}; falling back to the importhook collector (imports are still all recorded).",
                )
                name = "importhook"
            else:
                started.append(monitor)
        if name == "audit":
            _start_exec_audit(registry, root, started)
        elif name == "settrace":
            from otel_import_tracer.collectors.settrace import SettraceCollector

            tracer = SettraceCollector(registry, root)
            tracer.start()
            started.append(tracer)
        if lazy_plan and not env.HAS_LAZY_IMPORTS:
            messages.warn("lazy-plan-unavailable", "IMPORT_TRACING_LAZY_PLAN needs Python 3.15 or newer "
                          "(explicit lazy imports, PEP 810); this run is traced as usual.")
        if env.HAS_LAZY_IMPORTS:  # Python 3.15+: the lazy import statements, whichever collector
            from otel_import_tracer.collectors.lazy import LazyImportCollector

            lazy = LazyImportCollector(registry, root, plan=lazy_plan)
            lazy.start()
            started.append(lazy)
    except BaseException:
        stop_collectors(started)  # nothing of ours stays installed when starting fails
        raise
    return name, started


def _start_exec_audit(registry: Registry, root: SourceRoot, started: List[Collector]) -> None:
    from otel_import_tracer.collectors.audit import ExecAuditCollector

    watcher = ExecAuditCollector(registry, root)
    try:
        watcher.start()
    except Exception as exc:  # another audit hook refused ours
        messages.warn(
            "exec-audit-refused",
            f"the exec audit hook could not be installed ({exc!r}): files run by a bare exec() go "
            "unrecorded (imports, runpy and spec_from_file_location loaders still are all recorded). "
            "Set IMPORT_TRACING_COLLECTOR=settrace to see them, at the cost of a call hook.",
        )
    else:
        started.append(watcher)


def stop_collectors(collectors: List[Collector]) -> None:
    """Stop in reverse order; one failing stop must not keep the others installed."""
    for collector in reversed(collectors):
        try:
            collector.stop()
        except Exception as exc:
            messages.warn("collector-stop", f"stopping the {collector.name} collector failed: {exc!r}")


def after_fork_in_child() -> None:
    """Fresh locks for the collectors a forked child is about to stop and start again."""
    import sys

    for name in ("otel_import_tracer.collectors.monitoring", "otel_import_tracer.collectors.importhook",
                 "otel_import_tracer.collectors.lazy"):
        module = sys.modules.get(name)
        if module is not None:
            module.after_fork_in_child()
