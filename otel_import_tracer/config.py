"""Configuration from the environment: one documented constant per variable.

Precedence is argument > environment > default: ``Config.from_environ`` reads the
environment, and tests or callers build a ``Config`` directly to override it.
A bad value never raises: it produces one warning naming the variable and the
accepted values, and the default is used instead.
"""

from __future__ import annotations

import os
TYPE_CHECKING = False  # typing is not imported at run time: the app would find it already paid for
if TYPE_CHECKING:
    from typing import Mapping, Optional, Tuple

from otel_import_tracer import messages
from otel_import_tracer.record import FrozenRecord

ENABLE_IMPORT_TRACING = "ENABLE_IMPORT_TRACING"
"""``true`` (any case) turns tracing on; ``false`` or unset leaves it off."""

IMPORT_TRACING_ROOT = "IMPORT_TRACING_ROOT"
"""Directory whose ``.py`` files are tracked. Default ``/app/src``; where that does not exist,
the working directory if it holds Python code (its virtualenvs, hidden and build folders left
out: ``naming.find_app_root``)."""

IMPORT_TRACING_COLLECTOR = "IMPORT_TRACING_COLLECTOR"
"""How loads are observed: ``auto``, ``importhook``, ``audit``, ``monitoring`` or ``settrace``."""

IMPORT_TRACING_SPANS = "IMPORT_TRACING_SPANS"
"""``true`` (default) adds one child span per module import: the import waterfall."""

IMPORT_TRACING_DEPENDENCIES = "IMPORT_TRACING_DEPENDENCIES"
"""``true`` (default) times each module outside the root that the root's code imports directly
(``import fastapi`` in ``src/main.py``): spans ``import fastapi``, the report's dependencies."""

IMPORT_TRACING_REPORT = "IMPORT_TRACING_REPORT"
"""Path of the JSON report; ``{pid}`` is replaced by the process id. Unset: no report."""

IMPORT_TRACING_SUMMARY = "IMPORT_TRACING_SUMMARY"
"""``true`` (default) ends the run with a few lines on stderr, after the shutdown lines: modules,
startup time, the slowest, lazy and failed imports, where to see more. ``false`` turns them off."""

IMPORT_TRACING_LAZY_PLAN = "IMPORT_TRACING_LAZY_PLAN"
"""``true`` (Python 3.15+, staging only): plan mode for ``otel-import-tracer lazy``. Every module-level
import statement of the root's code is made lazy for the run (the application's lazy-imports filter
still decides; nothing outside the root changes), so the report shows which are used, when, and by what."""

IMPORT_TRACING_STARTUP_COMPLETE_AT = "IMPORT_TRACING_STARTUP_COMPLETE_AT"
"""Where startup ends when nothing else says so: ``module`` (when it has finished importing) or
``module:function`` (when that function is first called). Read by ``process/readiness.py``."""

IMPORT_TRACING_SHUTDOWN_TIMEOUT = "IMPORT_TRACING_SHUTDOWN_TIMEOUT"
"""Seconds ``stop_tracing()`` waits at most for telemetry export. Default 3."""

DEFAULT_ROOT = "/app/src"
DEFAULT_SHUTDOWN_TIMEOUT = 3.0
MAX_SHUTDOWN_TIMEOUT = 3600.0  # an hour: past any orchestrator's grace period
COLLECTOR_CHOICES: Tuple[str, ...] = ("auto", "importhook", "audit", "monitoring", "settrace")

_TRUE = "true"
_FALSE = "false"


class Config(FrozenRecord):
    """Everything the tracer needs to know, decided once."""

    __slots__ = ("enabled", "root", "collector", "spans", "dependencies", "report", "shutdown_timeout", "summary",
                 "root_found", "root_excludes", "lazy_plan")

    def __init__(
        self,
        enabled: bool = False,
        root: str = DEFAULT_ROOT,
        collector: str = "auto",
        spans: bool = True,
        dependencies: bool = True,
        report: Optional[str] = None,
        shutdown_timeout: float = DEFAULT_SHUTDOWN_TIMEOUT,
        summary: bool = True,
        # The root was not configured: found in the working directory, with the names of its
        # folders that are not the application's (naming.find_app_root).
        root_found: bool = False,
        root_excludes: Tuple[str, ...] = (),
        lazy_plan: bool = False,
    ) -> None:
        # A trailing slash or a relative path would break prefix matching of file names.
        root = os.path.abspath(root)
        # Waits beyond threading.TIMEOUT_MAX raise OverflowError: never let one through.
        shutdown_timeout = min(shutdown_timeout, MAX_SHUTDOWN_TIMEOUT)
        values = (enabled, root, collector, spans, dependencies, report, shutdown_timeout, summary, root_found, root_excludes, lazy_plan)
        for field, value in zip(self.__slots__, values):
            object.__setattr__(self, field, value)

    @classmethod
    def from_environ(cls, environ: Optional[Mapping[str, str]] = None) -> "Config":
        """Read the configuration; warn once per bad value and use its default."""
        env = os.environ if environ is None else environ
        enabled = _read_bool(env, ENABLE_IMPORT_TRACING, default=False)
        root = _read_root(env)
        found = None
        if root is None:
            root = DEFAULT_ROOT
            if enabled and not os.path.isdir(DEFAULT_ROOT):
                found = _find_root()
        return cls(
            enabled=enabled,
            root=found[0] if found else root,
            root_found=found is not None,
            root_excludes=found[1] if found else (),
            collector=_read_choice(env, IMPORT_TRACING_COLLECTOR, COLLECTOR_CHOICES),
            spans=_read_bool(env, IMPORT_TRACING_SPANS, default=True),
            dependencies=_read_bool(env, IMPORT_TRACING_DEPENDENCIES, default=True),
            report=env.get(IMPORT_TRACING_REPORT) or None,
            shutdown_timeout=_read_seconds(
                env, IMPORT_TRACING_SHUTDOWN_TIMEOUT, DEFAULT_SHUTDOWN_TIMEOUT
            ),
            summary=_read_bool(env, IMPORT_TRACING_SUMMARY, default=True),
            lazy_plan=_read_bool(env, IMPORT_TRACING_LAZY_PLAN, default=False),
        )

    def report_path(self, pid: Optional[int] = None) -> Optional[str]:
        """The report path with ``{pid}`` filled in, so workers and replicas do not collide."""
        if not self.report:
            return None
        return self.report.replace("{pid}", str(os.getpid() if pid is None else pid))


def is_enabled(environ: Optional[Mapping[str, str]] = None) -> bool:
    """Cheap check of ``ENABLE_IMPORT_TRACING`` alone, for the launcher and the lifespan."""
    env = os.environ if environ is None else environ
    return _read_bool(env, ENABLE_IMPORT_TRACING, default=False)


def _read_bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    value = raw.strip().lower()
    if value == _TRUE:
        return True
    if value == _FALSE:
        return False
    messages.warn(
        f"bad-{name.lower()}",
        f"{name}={raw!r} is not understood; use 'true' or 'false' (any case). "
        f"Using the default, {str(default).lower()}.",
    )
    return default


def _read_choice(env: Mapping[str, str], name: str, choices: Tuple[str, ...]) -> str:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return choices[0]
    value = raw.strip().lower()
    if value in choices:
        return value
    messages.warn(
        f"bad-{name.lower()}",
        f"{name}={raw!r} is not understood; use one of {', '.join(choices)}. "
        f"Using {choices[0]}.",
    )
    return choices[0]


def _read_root(env: Mapping[str, str]) -> Optional[str]:
    """The root as written, or trimmed of surrounding spaces and with ``~`` expanded when that is
    what makes it a directory (a value pasted from a YAML file, a shell that did not expand it);
    None if unset."""
    raw = env.get(IMPORT_TRACING_ROOT)
    if raw is None or raw.strip() == "":
        return None
    if os.path.isdir(raw):
        return raw
    return os.path.expanduser(raw.strip())


def _find_root() -> Optional[Tuple[str, Tuple[str, ...]]]:
    from otel_import_tracer.naming import find_app_root

    try:
        return find_app_root(os.getcwd())
    except OSError:  # the working directory was removed
        return None


def _read_seconds(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if MAX_SHUTDOWN_TIMEOUT < value < float("inf"):
        messages.warn(
            f"bad-{name.lower()}",
            f"{name}={raw!r} is more than {MAX_SHUTDOWN_TIMEOUT:g} seconds; using {MAX_SHUTDOWN_TIMEOUT:g}.",
        )
        return MAX_SHUTDOWN_TIMEOUT
    if 0 <= value < float("inf"):  # also rejects NaN
        return value
    messages.warn(
        f"bad-{name.lower()}",
        f"{name}={raw!r} is not understood; use a number of seconds, 0 or more. "
        f"Using {default:g}.",
    )
    return default
