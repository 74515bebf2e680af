"""Span and event attributes of one load or failure.

No OpenTelemetry import here: the import hook's listener builds attributes in the
importing thread, where importing anything new must be avoided.
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing is not imported at run time: the app would find it already paid for
if TYPE_CHECKING:
    from typing import Any, Dict

    from otel_import_tracer.importstack import Stacked

from otel_import_tracer import semconv
from otel_import_tracer.registry import LAZY_DECLARED, LAZY_REIFIED, DependencyLoad, FailedImport, LazyImport, ModuleLoad, ns_to_ms


def load_attributes(load: ModuleLoad) -> Dict[str, Any]:
    """Attributes of one module load; unknown values are left out rather than faked."""
    attributes: Dict[str, Any] = {
        semconv.ATTR_MODULE_NAME: load.name,
        semconv.ATTR_FILE_PATH: load.file,
        semconv.ATTR_PRELOADED: load.preloaded,
    }
    if load.parent:
        attributes[semconv.ATTR_MODULE_PARENT] = load.parent
    if load.thread:
        attributes[semconv.ATTR_THREAD_NAME] = load.thread
    _add_timing(attributes, load)
    if load.lazy:
        attributes[semconv.ATTR_LAZY] = True
    if load.reified is not None:
        _add_reified(attributes, load.reified)
    return attributes


def _add_timing(attributes: Dict[str, Any], load: Stacked) -> None:
    """Cumulative and self duration, and the import whose stack it ran in."""
    if load.stack_parent is not None:
        attributes[semconv.ATTR_STACK_PARENT] = load.stack_parent.name
    duration_ns = load.duration_ns
    if duration_ns is not None:
        attributes[semconv.ATTR_IMPORT_DURATION_MS] = ns_to_ms(duration_ns)
        attributes[semconv.ATTR_SELF_DURATION_MS] = ns_to_ms(max(duration_ns - load.children_ns, 0))


def _add_reified(attributes: Dict[str, Any], lazy: LazyImport) -> None:
    """A load that a lazy import statement's first use caused."""
    attributes[semconv.ATTR_IMPORT_LAZY] = LAZY_REIFIED
    attributes[semconv.ATTR_LAZY_DECLARED_AT] = lazy.declared_at
    if lazy.forced_at is not None:
        attributes[semconv.ATTR_LAZY_FORCED_AT] = lazy.forced_at


def lazy_attributes(lazy: LazyImport, state: str) -> Dict[str, Any]:
    """One lazy import statement, as it stood (``state``) when described."""
    attributes: Dict[str, Any] = {
        semconv.ATTR_MODULE_NAME: lazy.name,
        semconv.ATTR_IMPORT_LAZY: state,
        semconv.ATTR_FILE_PATH: lazy.file,
        semconv.ATTR_MODULE_PARENT: lazy.importer,
        semconv.ATTR_LAZY_DECLARED_AT: lazy.declared_at,
    }
    if lazy.line is not None:
        attributes[semconv.ATTR_LINE_NUMBER] = lazy.line
    if lazy.fromlist:  # so a saved trace gives the lazy plan the statement a report gives it
        attributes[semconv.ATTR_LAZY_FROMLIST] = list(lazy.fromlist)
    if lazy.thread:
        attributes[semconv.ATTR_THREAD_NAME] = lazy.thread
    if state == LAZY_REIFIED and lazy.forced_at is not None:
        attributes[semconv.ATTR_LAZY_FORCED_AT] = lazy.forced_at
    if state == LAZY_REIFIED and lazy.duration_ns is not None:
        attributes[semconv.ATTR_IMPORT_DURATION_MS] = ns_to_ms(lazy.duration_ns)
    return attributes


def state_at_startup(lazy: LazyImport) -> str:
    """``reified`` if startup reified it, else ``declared`` (whatever happened after)."""
    return LAZY_REIFIED if lazy.state == LAZY_REIFIED and lazy.after_startup is False else LAZY_DECLARED


def failure_attributes(failure: FailedImport) -> Dict[str, Any]:
    attributes: Dict[str, Any] = {
        semconv.ATTR_MODULE_NAME: failure.name,
        semconv.ATTR_EXCEPTION_TYPE: failure.exception_type,
        semconv.ATTR_EXCEPTION_MESSAGE: failure.message,
    }
    if failure.importer_file:
        attributes[semconv.ATTR_FILE_PATH] = failure.importer_file
    if failure.line is not None:
        attributes[semconv.ATTR_LINE_NUMBER] = failure.line
    if failure.importer:
        attributes[semconv.ATTR_MODULE_PARENT] = failure.importer
    if failure.thread:
        attributes[semconv.ATTR_THREAD_NAME] = failure.thread
    if failure.lazy:
        attributes[semconv.ATTR_LAZY] = True
    return attributes


def dependency_attributes(dependency: DependencyLoad) -> Dict[str, Any]:
    """Attributes of one dependency load: what was imported, and where in the root's code."""
    attributes: Dict[str, Any] = {
        semconv.ATTR_MODULE_NAME: dependency.name,
        semconv.ATTR_MODULE_DEPENDENCY: True,
        semconv.ATTR_FILE_PATH: dependency.importer_file,
    }
    if dependency.importer:
        attributes[semconv.ATTR_MODULE_PARENT] = dependency.importer
    if dependency.line is not None:
        attributes[semconv.ATTR_LINE_NUMBER] = dependency.line
    if dependency.thread:
        attributes[semconv.ATTR_THREAD_NAME] = dependency.thread
    _add_timing(attributes, dependency)
    if dependency.lazy:
        attributes[semconv.ATTR_LAZY] = True
    if dependency.reified is not None:
        _add_reified(attributes, dependency.reified)
    return attributes
